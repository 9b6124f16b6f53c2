/*
 * lsm_int.h — the store's private header, one banner per source file, so
 * that it reads as the table of contents of lsm/.
 *
 *   util.c       CRC32C, integer coding, growable buffers, errors, paths,
 *                internal keys
 *   arena.c      bump allocator behind each memtable
 *   memtable.c   lock-free-read skiplist of internal keys in an arena
 *   batch.c      write batches and the WAL record, encoded as CBOR
 *   wal.c        the write-ahead log file: append, sync, replay
 *   env_posix.c  the POSIX I/O env
 *   env_fault.c  the fault-injecting env
 *   sst.c        SSTable builder and reader, bloom filter
 *   cache.c      LRU block cache and the table cache
 *   iter.c       internal iterators: merging, and the user-facing one
 *   version.c    versions, the manifest, level iterators, compaction picking
 *   db.c         open/recover, write path, reads, flush, compaction, close
 *
 * Internal key: user key followed by an 8-byte little-endian trailer
 * (seq << 8 | kind).  Internal order is user key ascending (memcmp, shorter
 * first), then trailer descending, so the newest version of a key comes
 * first.  A lookup of user key k as of sequence s seeks to k + (s, VAL).
 */
#ifndef LSM_INT_H
#define LSM_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lsm.h"

/* ======================================================================
 * util.c
 */

/* CRC32C (Castagnoli) of buf, continuing from crc (0 to start). */
uint32_t lsm_crc32c(uint32_t crc, const void *buf, size_t n);
/* The same in portable C (lsm_crc32c uses the SSE4.2 instruction when the
 * processor has it and LSM_CRC_SOFTWARE is not set). */
uint32_t lsm_crc32c_sw(uint32_t crc, const void *buf, size_t n);

static inline void lsm_put_u32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t lsm_get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline void lsm_put_u64le(uint8_t *p, uint64_t v)
{
	lsm_put_u32le(p, (uint32_t)v);
	lsm_put_u32le(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t lsm_get_u64le(const uint8_t *p)
{
	return (uint64_t)lsm_get_u32le(p) | (uint64_t)lsm_get_u32le(p + 4) << 32;
}

/* LEB128 varints.  put returns bytes written (at most 10); get returns 0
 * and advances *p, or -1 if the varint is truncated or over 64 bits. */
size_t lsm_varint_put(uint8_t *p, uint64_t v);
int lsm_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* A growable byte buffer owned by whoever embeds it.  Zero-initialised is
 * empty.  reserve/append return LSM_OK or LSM_ENOMEM. */
struct lsm_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};
int lsm_buf_reserve(struct lsm_buf *b, size_t extra);
int lsm_buf_append(struct lsm_buf *b, const void *p, size_t n);
int lsm_buf_set(struct lsm_buf *b, const void *p, size_t n);
void lsm_buf_free(struct lsm_buf *b);
static inline void lsm_buf_clear(struct lsm_buf *b) { b->len = 0; }

/* Raises an error: formats a message into the thread's error buffer
 * (lsm_last_error) and returns rc, so "return LSM_ERR(LSM_ECORRUPT,
 * "%s: bad crc at offset %llu", path, off)" reports and returns at once.
 * One function, so one breakpoint finds every error's origin. */
int lsm_error_set(int rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define LSM_ERR(rc, ...) lsm_error_set((rc), __VA_ARGS__)
/* Maps an errno to LSM_ENOSPC / LSM_ENOTFOUND / LSM_ENOMEM / LSM_EIO. */
int lsm_errno_rc(int err);

/* "dir/000123.suffix" into out (at least LSM_PATH_MAX bytes). */
#define LSM_PATH_MAX 4096
void lsm_file_path(char *out, const char *dir, uint64_t num,
		   const char *suffix);

/* Internal keys. */
enum { LSM_KIND_DEL = 0, LSM_KIND_VAL = 1 };
#define LSM_SEQ_MAX ((UINT64_C(1) << 56) - 1)
#define LSM_TRAILER 8

static inline uint64_t lsm_ikey_trailer(const uint8_t *ik, size_t iklen)
{
	return lsm_get_u64le(ik + iklen - LSM_TRAILER);
}
static inline uint64_t lsm_ikey_seq(const uint8_t *ik, size_t iklen)
{
	return lsm_ikey_trailer(ik, iklen) >> 8;
}
static inline int lsm_ikey_kind(const uint8_t *ik, size_t iklen)
{
	return (int)(lsm_ikey_trailer(ik, iklen) & 0xff);
}
/* Compares user keys (memcmp, shorter first on a tie): <0, 0, >0.
 * Inline, eight bytes at a time as big-endian words: keys are short, and
 * a call to memcmp costs more than the comparison on the hot paths
 * (memtable search, merging). */
static inline int lsm_ukey_cmp(const uint8_t *a, size_t alen,
			       const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;

	for (; n >= 8; n -= 8, a += 8, b += 8) {
		uint64_t x, y;
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			x = __builtin_bswap64(x);
			y = __builtin_bswap64(y);
#endif
			return x < y ? -1 : 1;
		}
	}
	for (; n; n--, a++, b++)
		if (*a != *b)
			return *a < *b ? -1 : 1;
	return alen < blen ? -1 : alen > blen;
}
/* Compares internal keys a and b (each with trailer): <0, 0, >0. */
static inline int lsm_ikey_cmp(const uint8_t *a, size_t alen,
			       const uint8_t *b, size_t blen)
{
	int c = lsm_ukey_cmp(a, alen - LSM_TRAILER, b, blen - LSM_TRAILER);
	uint64_t ta, tb;

	if (c)
		return c;
	ta = lsm_ikey_trailer(a, alen);
	tb = lsm_ikey_trailer(b, blen);
	return ta > tb ? -1 : ta < tb;
}
/* Sets b to key + trailer(seq, kind). */
int lsm_ikey_make(struct lsm_buf *b, const void *key, size_t klen,
		  uint64_t seq, int kind);

/* Microseconds of CLOCK_MONOTONIC. */
uint64_t lsm_now_us(void);

/* ======================================================================
 * arena.c — bump allocation in large blocks, freed in one step.
 * Not thread-safe: the memtable's single writer is its only caller.
 */
struct lsm_arena_block;
struct lsm_arena {
	struct lsm_arena_block *blocks; /* owned list, newest first */
	uint8_t *ptr;                   /* free space in the newest block */
	size_t left;
	size_t usage;                   /* bytes of all blocks */
};
#define LSM_ARENA_BLOCK (256 * 1024)
void lsm_arena_init(struct lsm_arena *a);
/* n bytes aligned to 8, valid until lsm_arena_free; NULL on ENOMEM. */
void *lsm_arena_alloc(struct lsm_arena *a, size_t n);
void lsm_arena_free(struct lsm_arena *a);
/* Bytes in use: all blocks but the unused tail of the newest, so that a
 * memtable smaller than one block still fills up gradually. */
static inline size_t lsm_arena_usage(const struct lsm_arena *a)
{
	return a->usage - a->left;
}

/* ======================================================================
 * Internal iterators: the common interface of memtable, table, level,
 * merging iterators.  Keys are internal keys; key/value pointers are
 * borrowed until the next move or destroy.  seek(ik) lands on the first
 * entry >= ik.  A child that meets an error becomes invalid and reports
 * it through status.
 */
struct lsm_iiter;
struct lsm_iiter_ops {
	bool (*valid)(struct lsm_iiter *it);
	void (*first)(struct lsm_iiter *it);
	void (*last)(struct lsm_iiter *it);
	void (*seek)(struct lsm_iiter *it, const uint8_t *ik, size_t iklen);
	void (*next)(struct lsm_iiter *it);
	void (*prev)(struct lsm_iiter *it);
	const uint8_t *(*key)(struct lsm_iiter *it, size_t *len);
	const uint8_t *(*value)(struct lsm_iiter *it, size_t *len);
	int (*status)(struct lsm_iiter *it);
	void (*destroy)(struct lsm_iiter *it);
	/* Optional (NULL: none).  Announces seek(ik), which must be the
	 * next call (or destroy): the iterator may do the first part of
	 * that seek now and ask the memory system for what the rest will
	 * read (prefetch), so that a merge that prepares every child before
	 * seeking any waits for their cache misses together rather than one
	 * after another.  Changes nothing that valid/key/value show. */
	void (*prepare)(struct lsm_iiter *it, const uint8_t *ik, size_t iklen);
};
struct lsm_iiter {
	const struct lsm_iiter_ops *ops;
};

/* ======================================================================
 * memtable.c — a skiplist of (internal key, value) entries in an arena.
 * One writer at a time (the caller serialises adds: db.c's write-queue
 * leader); any number of readers concurrently, without locks (nodes are
 * published with release stores).  Reference counted: the arena is freed
 * in one step when the last reference goes.
 */
typedef struct lsm_memtable lsm_memtable;
int lsm_mem_create(lsm_memtable **out);
void lsm_mem_ref(lsm_memtable *m);
void lsm_mem_unref(lsm_memtable *m);
/* Copies key and value into the arena.  LSM_ENOMEM on allocation failure. */
int lsm_mem_add(lsm_memtable *m, uint64_t seq, int kind, const void *key,
		size_t klen, const void *val, size_t vlen);
/* Newest entry for key with sequence <= seq.  Returns true if one exists,
 * with *kind set and (for LSM_KIND_VAL) *val and *vlen borrowed from the
 * arena, valid while the caller holds a reference. */
bool lsm_mem_get(lsm_memtable *m, const void *key, size_t klen,
		 uint64_t seq, int *kind, const uint8_t **val, size_t *vlen);
size_t lsm_mem_usage(const lsm_memtable *m); /* arena bytes */
uint64_t lsm_mem_count(const lsm_memtable *m); /* entries */
/* An iterator over all entries; it holds a reference on m. */
int lsm_mem_iter(lsm_memtable *m, struct lsm_iiter **out);

/* ======================================================================
 * batch.c — a write batch is its operations already encoded as CBOR
 * items, so that a WAL record is a few heads plus the batches' bytes:
 *   op      := CBOR [1, key:bstr, value:bstr]   put
 *            | CBOR [0, key:bstr]               delete
 *   payload := CBOR [seq:uint, [op, ...]]        (the WAL record body)
 *   frame   := len:u32le crc:u32le payload[len]  crc = crc32c(payload)
 * Encoding uses libcbor's allocation-free encoders into buffers that are
 * reused; decoding uses cbor_stream_decode with callbacks.
 */
struct lsm_batch {
	struct lsm_buf ops; /* concatenated CBOR op items */
	uint32_t count;
	uint64_t user_bytes; /* sum of key + value lengths */
};
#define LSM_FRAME_HDR 8
/* Largest payload a frame may carry; lsm_batch_put/append refuse
 * (LSM_EINVAL) to grow a batch whose record would exceed it. */
#define LSM_WAL_MAX_PAYLOAD ((size_t)LSM_MAX_VALUE * 2)
/* Appends src's operations to dst (group commit). */
int lsm_batch_append(struct lsm_batch *dst, const struct lsm_batch *src);
/* Calls fn for each op of an encoded op list, in order; stops at the
 * first non-zero return and returns it.  LSM_ECORRUPT if malformed.
 * Pointers passed to fn point into ops. */
typedef int (*lsm_batch_fn)(void *ctx, int kind, const uint8_t *key,
			    size_t klen, const uint8_t *val, size_t vlen);
int lsm_batch_foreach(const uint8_t *ops, size_t len, uint32_t count,
		      lsm_batch_fn fn, void *ctx);
/* The same walk without checks, for ops known good: encoded by this
 * process (lsm_batch_put/delete/append) or accepted by lsm_wal_decode.
 * Malformed input is undefined behaviour. */
int lsm_batch_walk(const uint8_t *ops, size_t len, lsm_batch_fn fn,
		   void *ctx);
/* Clears out and fills it with one whole frame for (seq, b). */
int lsm_wal_encode(struct lsm_buf *out, uint64_t seq, const struct lsm_batch *b);
/* The same frame without a copy of the ops: head[0..*n) (at most
 * LSM_WAL_HEAD_MAX bytes) followed by b->ops.data[0..b->ops.len). */
#define LSM_WAL_HEAD_MAX 32
int lsm_wal_encode_head(uint8_t *head, size_t *n, uint64_t seq,
			const struct lsm_batch *b);
/* Parses a frame's payload (CRC already checked): *ops points into payload. */
int lsm_wal_decode(const uint8_t *payload, size_t len, uint64_t *seq,
		   const uint8_t **ops, size_t *opslen, uint32_t *count);

/* ======================================================================
 * wal.c — log files named NNNNNN.log.
 */
typedef struct lsm_wal lsm_wal;
/* Creates (truncating) path for appending.  *out owned: lsm_wal_close. */
int lsm_wal_create(lsm_env *env, const char *path, lsm_wal **out);
/* Writes through the env's append windows when it has them. */
int lsm_wal_append(lsm_wal *w, const void *frame, size_t n);
/* Appends the frame head[0..hn) + body[0..bn) (lsm_wal_encode_head) as
 * lsm_wal_append would append the two joined. */
int lsm_wal_append2(lsm_wal *w, const void *head, size_t hn,
		    const void *body, size_t bn);
int lsm_wal_sync(lsm_wal *w);
int lsm_wal_close(lsm_wal *w);
uint64_t lsm_wal_size(const lsm_wal *w);

struct lsm_wal_report {
	uint64_t records;       /* good records replayed */
	uint64_t good_bytes;    /* offset after the last good record */
	uint64_t dropped_bytes; /* torn or salvaged-away bytes */
	bool torn;              /* the tail was torn (and truncated) */
};
/* Called for each good record; a non-zero return stops replay with it. */
typedef int (*lsm_wal_fn)(void *ctx, uint64_t seq, const uint8_t *ops,
			  size_t opslen, uint32_t count);
/* Replays path.  A bad frame that reaches the end of the file (short
 * header, short payload, or bad CRC followed only by zero bytes) or that
 * holds a page write-back never wrote (wal.c's essay) is a torn tail:
 * replay stops there and the file is truncated to the last good
 * record.  A bad frame anywhere else is LSM_ECORRUPT naming path and
 * offset, unless salvage is set, in which case replay stops there too and
 * reports the bytes dropped. */
int lsm_wal_replay(lsm_env *env, const char *path, bool salvage,
		   lsm_wal_fn fn, void *ctx, struct lsm_wal_report *rep);

/* ======================================================================
 * env_posix.c / env_fault.c — declared in lsm.h.
 */

/* ======================================================================
 * cache.c — a bounded LRU cache of decoded blocks, keyed by (table
 * number, block offset), and the cache of open tables.  Both are
 * thread-safe (an internal mutex each); entries are reference counted so
 * that an evicted block stays valid while a reader holds it.
 */
struct lsm_block {
	atomic_int refs;
	uint8_t *data;   /* owned, block contents without trailer */
	size_t size;
	/* cache bookkeeping follows in cache.c's own struct */
};
struct lsm_cache;
int lsm_cache_create(size_t capacity, struct lsm_cache **out);
void lsm_cache_destroy(struct lsm_cache *c);
/* A referenced block, or NULL.  Release with lsm_block_unref. */
struct lsm_block *lsm_cache_lookup(struct lsm_cache *c, uint64_t table,
				   uint64_t off);
/* Takes ownership of data (malloc'd, size bytes), returns the block with
 * one reference for the caller (even if the cache is full).  NULL only on
 * ENOMEM, in which case data has been freed.  c may be NULL: the block is
 * then standalone (uncached), freed at its last lsm_block_unref. */
struct lsm_block *lsm_cache_insert(struct lsm_cache *c, uint64_t table,
				   uint64_t off, uint8_t *data, size_t size);
void lsm_block_unref(struct lsm_block *b);
/* Counts a read of a mapped table's block, which bypasses the cache: hit
 * if the block was verified before, miss if this read verified it.  c may
 * be NULL (nothing counted).  Lock-free. */
void lsm_cache_note(struct lsm_cache *c, bool hit);
/* Hits and misses of lookups plus those noted. */
void lsm_cache_counts(struct lsm_cache *c, uint64_t *hits, uint64_t *misses);

typedef struct lsm_sst lsm_sst;
struct lsm_tcache;
/* Keeps up to max_open tables of dir open (NNNNNN.sst). */
int lsm_tcache_create(lsm_env *env, const char *dir, int max_open,
		      struct lsm_cache *blocks, int bloom_bits_per_key,
		      struct lsm_tcache **out);
void lsm_tcache_destroy(struct lsm_tcache *tc);
/* A referenced open table (release with lsm_sst_unref). */
int lsm_tcache_get(struct lsm_tcache *tc, uint64_t num, uint64_t file_size,
		   lsm_sst **out);
/* Forgets table num (its file is being removed). */
void lsm_tcache_evict(struct lsm_tcache *tc, uint64_t num);

/* ======================================================================
 * sst.c — sorted tables NNNNNN.sst; format essay at the top of sst.c.
 */
struct lsm_sst_opts {
	size_t block_size;      /* data block goal */
	int restart_interval;   /* keys between restart points (16) */
	int bloom_bits_per_key; /* 0: no filter */
};
struct lsm_sst_builder;
int lsm_sst_builder_create(lsm_env *env, const char *path,
			   const struct lsm_sst_opts *o,
			   struct lsm_sst_builder **out);
/* Adds an entry; internal keys must come in strictly increasing order. */
int lsm_sst_builder_add(struct lsm_sst_builder *b, const uint8_t *ik,
			size_t iklen, const uint8_t *val, size_t vlen);
uint64_t lsm_sst_builder_entries(const struct lsm_sst_builder *b);
uint64_t lsm_sst_builder_size(const struct lsm_sst_builder *b); /* so far */
/* The last internal key added (NULL, *len 0 before the first), borrowed
 * until the next add, finish or abandon. */
const uint8_t *lsm_sst_builder_last(const struct lsm_sst_builder *b,
				    size_t *len);
/* Writes the filter, index and footer, syncs and closes the file, and
 * frees b (also on error).  *size: the file's size. */
int lsm_sst_builder_finish(struct lsm_sst_builder *b, uint64_t *size);
/* Closes and removes the file, frees b. */
void lsm_sst_builder_abandon(struct lsm_sst_builder *b);

/* Opens a table: reads and checks footer, index and filter.  blocks may
 * be NULL (no caching).  *out has one reference. */
int lsm_sst_open(lsm_env *env, const char *path, uint64_t num,
		 uint64_t file_size, struct lsm_cache *blocks, lsm_sst **out);
void lsm_sst_ref(lsm_sst *t);
void lsm_sst_unref(lsm_sst *t);
/* Newest entry for ik's user key with sequence <= ik's sequence.  Returns
 * LSM_OK with *found false if none (bloom skips count in *bloom_skip when
 * it is non-NULL), or *found true, *kind, and the value copied into val. */
int lsm_sst_get(lsm_sst *t, const uint8_t *ik, size_t iklen, bool *found,
		int *kind, struct lsm_buf *val, uint64_t *bloom_skip);
/* An iterator over the table; it holds a reference on t. */
int lsm_sst_iter(lsm_sst *t, struct lsm_iiter **out);
/* The same, placed in caller's memory mem (lsm_sst_iter_size() bytes,
 * aligned as malloc's): no allocation; its destroy releases t and leaves
 * mem to the caller, who may place another there. */
size_t lsm_sst_iter_size(void);
struct lsm_iiter *lsm_sst_iter_at(lsm_sst *t, void *mem);
/* Tells a table iterator (lsm_sst_iter or _at) its table's first internal
 * key k[klen] (the manifest's smallest; borrowed for the iterator's life)
 * so that a seek at or before it reads no block until the entry's value
 * or a move is needed (sst.c).  A table whose first key is not k then
 * fails with LSM_ECORRUPT.  NULL or a short key: unknown. */
void lsm_sst_iter_first_key(struct lsm_iiter *it, const uint8_t *k,
			    size_t klen);
/* Reads and checks every block (scrub, fsck). */
int lsm_sst_verify(lsm_sst *t);

/* ======================================================================
 * iter.c
 */
/* lsm_ikey_cmp inlined, for the read path's inner loops (block seeks,
 * the merging iterator).  Both keys have their trailers.  The user keys
 * are compared eight bytes at a time (lsm_ukey_cmp), with no call. */
static inline int lsm_ikey_cmp_inline(const uint8_t *a, size_t alen,
				      const uint8_t *b, size_t blen)
{
	size_t au = alen - LSM_TRAILER, bu = blen - LSM_TRAILER;
	int c = lsm_ukey_cmp(a, au, b, bu);
	uint64_t ta, tb;

	if (c)
		return c;
	ta = lsm_get_u64le(a + au);
	tb = lsm_get_u64le(b + bu);
	return ta > tb ? -1 : ta < tb;
}

/* Merges n children (ownership of the array's iterators is taken; the
 * array itself is copied) into one iterator in internal-key order,
 * forward and backward. */
int lsm_merge_iter(struct lsm_iiter **children, int n, struct lsm_iiter **out);
/* The user iterator: over an internal iterator (taken), shows for each
 * user key its newest version with sequence <= seq, hiding deletions.
 * on_close(ctx) runs at lsm_iter_close (db.c releases its references).
 * On failure (LSM_ENOMEM) both functions have destroyed what they took;
 * on_close is not called, so the caller releases its references itself. */
int lsm_user_iter(struct lsm_iiter *internal, uint64_t seq,
		  void (*on_close)(void *ctx), void *ctx, lsm_iter **out);
/* lsm_user_iter(lsm_merge_iter(children, n)) in one allocation that also
 * holds ctx_size bytes of the caller's context: *ctx points at them
 * (zeroed; fill them before using the iterator) and on_close(*ctx) runs
 * at lsm_iter_close, before they are freed.  Same failure contract. */
int lsm_user_iter_merge(struct lsm_iiter **children, int n, uint64_t seq,
			void (*on_close)(void *ctx), size_t ctx_size,
			void **ctx, lsm_iter **out);

/* ======================================================================
 * version.c — a version is the set of live tables per level; the version
 * set owns the current version, every version still referenced by a
 * reader, and the manifest (format essay at the top of version.c).
 * Locking: all vset functions are called with db.c's mutex held, except
 * reads through a referenced version (get, iterators), which need none.
 */
struct lsm_fmeta {
	atomic_int refs;
	uint64_t num;          /* file number: NNNNNN.sst */
	uint64_t size;         /* bytes */
	struct lsm_buf smallest; /* internal keys, owned */
	struct lsm_buf largest;
	/* Gets that may still look in this table first and then in another
	 * before it is compacted (LevelDB's allowed_seeks: a table many gets
	 * pass through costs a seek each; compacting it saves them).  Set by
	 * lsm_fmeta_new; counted down by db.c without a lock. */
	atomic_int allowed_seeks;
};
struct lsm_fmeta *lsm_fmeta_new(uint64_t num, uint64_t size,
				const uint8_t *smallest, size_t slen,
				const uint8_t *largest, size_t llen);
void lsm_fmeta_ref(struct lsm_fmeta *f);
void lsm_fmeta_unref(struct lsm_fmeta *f);

struct lsm_vset;
struct lsm_version {
	atomic_int refs;
	struct lsm_vset *vs;
	/* Level 0: newest file first, ranges may overlap.  Levels 1..: sorted
	 * by smallest key, disjoint.  Arrays owned, fmetas referenced. */
	struct lsm_fmeta **files[LSM_MAX_LEVELS];
	int nfiles[LSM_MAX_LEVELS];
	struct lsm_version *prev, *next; /* vset's list of live versions */
	/* Filled by lsm_vset_apply: the level most in need of compaction and
	 * its score (>= 1 means compaction is needed). */
	int compact_level;
	double compact_score;
};
void lsm_version_ref(struct lsm_version *v);
/* The last unref of a non-current version unlinks it from the vset's list:
 * call with db.c's mutex held. */
void lsm_version_unref(struct lsm_version *v); /* may take vset's list */
/* Drops a reference without any lock when it is not the last one (true);
 * false, having done nothing, when it is: the caller then drops it with
 * lsm_version_unref under db.c's mutex.  Readers use it so that a read
 * takes the mutex once, not twice. */
bool lsm_version_unref_unless_last(struct lsm_version *v);

/* A change to the current version, built by a flush or compaction. */
struct lsm_edit {
	bool has_log_num;
	uint64_t log_num;     /* logs < log_num are no longer needed */
	struct { int level; uint64_t num; } *deleted;
	int ndeleted, cap_deleted;
	struct { int level; struct lsm_fmeta *f; } *added; /* referenced */
	int nadded, cap_added;
};
void lsm_edit_init(struct lsm_edit *e);
int lsm_edit_delete(struct lsm_edit *e, int level, uint64_t num);
/* The edit takes a reference of its own on f; the caller keeps its own. */
int lsm_edit_add(struct lsm_edit *e, int level, struct lsm_fmeta *f);
void lsm_edit_free(struct lsm_edit *e);

struct lsm_vset_opts {
	uint64_t level1_max_bytes;
	int l0_compact_trigger;
	size_t target_file_size;
};
/* Reads CURRENT and the manifest it names in dir, or, when there is no
 * CURRENT and create is set, starts an empty set and writes its first
 * manifest.  LSM_ENOTFOUND if there is none and !create; LSM_ECORRUPT or
 * LSM_EVERSION for a bad manifest (lsm_last_error names it). */
int lsm_vset_open(lsm_env *env, const char *dir,
		  const struct lsm_vset_opts *o, bool create,
		  struct lsm_vset **out);
void lsm_vset_close(struct lsm_vset *vs);
/* The current version (borrowed; lsm_version_ref to keep it). */
struct lsm_version *lsm_vset_current(struct lsm_vset *vs);
uint64_t lsm_vset_new_file_num(struct lsm_vset *vs);
/* Makes later numbers exceed num: a file the manifest does not know yet
 * (a log written after the last manifest) is never reused.  Recovery
 * calls it for every numbered file in the directory. */
void lsm_vset_mark_file_num_used(struct lsm_vset *vs, uint64_t num);
uint64_t lsm_vset_last_seq(struct lsm_vset *vs);
void lsm_vset_set_last_seq(struct lsm_vset *vs, uint64_t seq);
uint64_t lsm_vset_log_num(struct lsm_vset *vs);
/* Applies e to the current version: writes a new manifest holding the
 * whole new state (file + fsync, CURRENT by write + fsync + rename +
 * fsync of dir), then installs the new version.  On error nothing
 * changes.  Does not free e. */
int lsm_vset_apply(struct lsm_vset *vs, struct lsm_edit *e);
/* Adds every file number referenced by a live version, and the current
 * manifest's number, to the set (calls add(ctx, num)). */
void lsm_vset_live_files(struct lsm_vset *vs,
			 void (*add)(void *ctx, uint64_t num), void *ctx);
uint64_t lsm_vset_manifest_num(struct lsm_vset *vs);

/* Looks up ik in v's tables (level 0 newest first, then each level).
 * Same contract as lsm_sst_get. */
/* The table a get looked in first when it had to look in another too
 * (f NULL: it did not); the caller charges it a seek (allowed_seeks). */
struct lsm_seek_charge {
	struct lsm_fmeta *f; /* borrowed from the version */
	int level;
};
int lsm_version_get(struct lsm_version *v, struct lsm_tcache *tc,
		    const uint8_t *ik, size_t iklen, bool *found, int *kind,
		    struct lsm_buf *val, uint64_t *bloom_skip,
		    struct lsm_seek_charge *ch);
/* Appends to arr (count in *n; room for lsm_version_iter_count(v) more)
 * one iterator per level-0 table and one concatenating iterator per
 * non-empty deeper level.  Iterators hold references on the tables they
 * read but borrow v's file arrays: keep v referenced until they are
 * destroyed.  On error none is appended. */
int lsm_version_iter_count(const struct lsm_version *v);
int lsm_version_iters(struct lsm_version *v, struct lsm_tcache *tc,
		      struct lsm_iiter **arr, int *n);
/* Does any file of level overlap user keys [smallest, largest]? */
bool lsm_version_overlaps(struct lsm_version *v, int level,
			  const uint8_t *smallest, size_t slen,
			  const uint8_t *largest, size_t llen);
/* The level a flushed table of user key range [s, l] goes to: 0, or
 * deeper (at most 2) when it overlaps nothing there, as LevelDB does. */
int lsm_version_pick_level(struct lsm_version *v, const uint8_t *s,
			   size_t slen, const uint8_t *l, size_t llen);

/* A compaction: inputs[0] from level, inputs[1] from level + 1. */
struct lsm_compaction {
	int level;
	struct lsm_version *v;             /* referenced */
	struct lsm_fmeta **inputs[2];      /* arrays owned, fmetas ref'd */
	int ninputs[2];
	uint64_t max_output_size;
	/* Files of level + 2 (grandparents), to cut outputs that would
	 * overlap too many of them; and the cursor for base-level checks. */
	struct lsm_fmeta **grandparents;
	int ngrandparents;
	int level_ptrs[LSM_MAX_LEVELS];
	int gp_index;              /* should_stop_before's cursor */
	bool seen_key;
	uint64_t overlapped_bytes;
};
/* The next compaction that the current version needs (by score), or NULL. */
struct lsm_compaction *lsm_vset_pick_compaction(struct lsm_vset *vs);
/* A compaction of level's files overlapping [start, end] user keys (NULL
 * bounds are open), or NULL if there are none. */
struct lsm_compaction *lsm_vset_compact_range(struct lsm_vset *vs, int level,
					      const uint8_t *start, size_t slen,
					      const uint8_t *end, size_t elen);
/* True if the compaction is a single file that can move down a level. */
bool lsm_compaction_is_trivial(struct lsm_compaction *c);
/* True if no level below the output level holds ukey (so a tombstone for
 * it can be dropped).  Keys must be asked in increasing order. */
bool lsm_compaction_is_base_level(struct lsm_compaction *c,
				  const uint8_t *ukey, size_t klen);
/* Whether the output built so far should end before ik (grandparent
 * overlap too large).  Keys in increasing order. */
bool lsm_compaction_should_stop_before(struct lsm_compaction *c,
				       const uint8_t *ik, size_t iklen);
/* The inputs as one merging iterator; it borrows c's input arrays, so
 * destroy it before lsm_compaction_free(c). */
int lsm_compaction_iter(struct lsm_compaction *c, struct lsm_tcache *tc,
			struct lsm_iiter **out);
/* Adds the deletion of every input to e. */
int lsm_compaction_edit(struct lsm_compaction *c, struct lsm_edit *e);
/* Unrefs c->v: call with db.c's mutex held. */
void lsm_compaction_free(struct lsm_compaction *c);

#endif /* LSM_INT_H */
