/*
 * sst.c — sorted string tables (NNNNNN.sst): the builder that a flush or a
 * compaction feeds with internal keys in increasing order, and the reader
 * behind lookups and iterators.  Tables are immutable once finished; a
 * reader is shared by every thread through the table cache (cache.c).
 *
 * SSTable format, version 1 (bump LSM_SST_VERSION on any change)
 *
 *   file    := data_block* filter_block? index_block footer
 *   stored block := contents[size] type:u8 crc:u32le
 *            type 0 = plain contents (the only type of version 1);
 *            crc  = crc32c(contents || type).
 *            A block handle (offset, size) names contents only; the
 *            5-byte trailer follows at offset + size.
 *
 *   block contents (data and index blocks), LevelDB's layout:
 *     entry*  restart:u32le[nrestarts]  nrestarts:u32le
 *     entry := shared:varint unshared:varint vlen:varint
 *              key_delta[unshared] value[vlen]
 *     An entry's key is the first `shared` bytes of the previous entry's
 *     key followed by key_delta.  Every restart_interval entries (and at
 *     the first one) an entry is a restart point: shared = 0, and its
 *     offset within the block is listed in the restart array, in
 *     increasing order.  Keys are internal keys (user key + 8-byte
 *     trailer), strictly increasing in internal order.
 *
 *   data block: entries (internal key -> value) of about block_size
 *     bytes; an entry is never split, so a large value makes a large block.
 *
 *   index block: one entry per data block, in order, restart interval 1:
 *     key   = the last internal key of the data block
 *     value = offset:varint size:varint   (the block's handle)
 *     A table with no entries has an empty index block (no entries, one
 *     restart at offset 0).
 *
 *   filter block (absent when bloom_bits_per_key is 0): one bloom filter
 *     over the distinct user keys of the table:
 *       bits[m/8] k:u8
 *     m = max(64, n * bits_per_key) rounded up to whole bytes; k =
 *     bits_per_key * 0.69 clamped to [1, 30].  Probes use double hashing
 *     of h = sst_hash(user key): probe j (0 <= j < k) tests bit
 *     (h + j * delta) mod 2^32 mod m, delta = bloom_delta(h), all in u32
 *     arithmetic; bit b is bits[b / 8] & (1 << b % 8).  A k of 0 or above
 *     30 is reserved: such a filter matches every key.  sst_hash is
 *     MurmurHash3's x86 32-bit function with seed LSM_SST_HASH_SEED;
 *     bloom_delta is its finaliser applied to h + 0x9e3779b9.
 *
 *   footer (LSM_SST_FOOTER = 56 bytes, the end of the file):
 *      0 index_off:u64le   8 index_size:u64le
 *     16 filter_off:u64le 24 filter_size:u64le  (0, 0 without a filter)
 *     32 entries:u64le
 *     40 version:u32le    44 magic:u64le (LSM_SST_MAGIC)
 *     52 crc:u32le = crc32c(footer bytes 0..51)
 *   Every later version keeps its last 16 bytes as version, magic, crc, so
 *   that a reader can tell "newer version" (LSM_EVERSION) from garbage
 *   (LSM_ECORRUPT) before it knows the rest of the layout.
 *
 * Everything read from disk is checked before use: block handles must lie
 * inside the file before the footer, every block's checksum is verified
 * before its contents are used, and entries are decoded with bounds
 * checks, so that a corrupt file yields LSM_ECORRUPT naming the file and
 * offset, never a crash.
 *
 * Reading (not a format matter): when the env can map files (lsm_env.map)
 * an open table maps its whole file and reads data blocks in place, as
 * LevelDB does, with no copy and no block cache; each block's checksum is
 * verified the first time the open table uses it and remembered in a
 * bitmap, so a corrupt block fails every read, and lsm_sst_verify always
 * reads the disk again.  Otherwise (an env without map, or mmap refused)
 * blocks are read with the env's read into the block cache, checked on
 * every read from disk.  A mapping trusts what LevelDB's does: tables are
 * immutable once finished and their size is checked against the manifest
 * at open, so a table is never cut short while mapped; if something
 * outside the store truncated one anyway, touching the lost pages would
 * raise SIGBUS rather than return an error (set LSM_NO_MMAP in the
 * environment to read with pread instead).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "lsm_int.h"

#define LSM_SST_MAGIC UINT64_C(0x31747373666d736c) /* "lsmfsst1" on disk */
#define LSM_SST_VERSION 1
#define LSM_SST_FOOTER 56
#define LSM_SST_TRAILER 5 /* type:u8 crc:u32le after each block */
#define LSM_SST_HASH_SEED 0xbc9f1d34u
#define SST_BLOCK_PLAIN 0

/* ---- bloom filter ---------------------------------------------------- */

static inline uint32_t rotl32(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* MurmurHash3's 32-bit finaliser: every input bit affects every output bit. */
static uint32_t fmix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* MurmurHash3 x86_32 of p[n] with seed. */
static uint32_t sst_hash(const uint8_t *p, size_t n)
{
	const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
	uint32_t h = LSM_SST_HASH_SEED, k;
	size_t i, nblocks = n / 4;

	for (i = 0; i < nblocks; i++) {
		k = lsm_get_u32le(p + 4 * i) * c1;
		k = rotl32(k, 15) * c2;
		h ^= k;
		h = rotl32(h, 13) * 5 + 0xe6546b64u;
	}
	k = 0;
	switch (n & 3) {
	case 3:
		k ^= (uint32_t)p[4 * i + 2] << 16;
		/* fallthrough */
	case 2:
		k ^= (uint32_t)p[4 * i + 1] << 8;
		/* fallthrough */
	case 1:
		k ^= p[4 * i];
		k = rotl32(k * c1, 15) * c2;
		h ^= k;
	}
	return fmix32(h ^ (uint32_t)n);
}

/* The probe stride: h remixed (MurmurHash3's finaliser of h + a
 * constant), so that stride and start are uncorrelated; LevelDB's rotation
 * of h measured about 1.7x the theoretical false-positive rate here. */
static uint32_t bloom_delta(uint32_t h)
{
	return fmix32(h + 0x9e3779b9u);
}

static int bloom_k(int bits_per_key)
{
	int k = (int)(bits_per_key * 0.69);

	return k < 1 ? 1 : k > 30 ? 30 : k;
}

/* Builds the filter contents for n key hashes into out.  Positions are
 * reduced in 32 bits (a filter has under 2^32 bits): cheaper than a
 * 64-bit division, and measured faster here than stepping the position
 * incrementally (whose wrap tests mispredict). */
static int bloom_build(struct lsm_buf *out, const uint32_t *hashes, size_t n,
		       int bits_per_key)
{
	size_t bits = n * (size_t)bits_per_key, bytes;
	int k = bloom_k(bits_per_key), rc;
	uint32_t m;

	if (bits < 64)
		bits = 64;
	bytes = (bits + 7) / 8;
	if (bytes > UINT32_MAX / 8)
		return LSM_ERR(LSM_EINVAL, "sst: bloom filter over 4 Gbit");
	m = (uint32_t)(bytes * 8);
	lsm_buf_clear(out);
	if ((rc = lsm_buf_reserve(out, bytes + 1)))
		return rc;
	memset(out->data, 0, bytes);
	for (size_t i = 0; i < n; i++) {
		uint32_t h = hashes[i], delta = bloom_delta(h);
		for (int j = 0; j < k; j++) {
			uint32_t pos = h % m;
			out->data[pos / 8] |= (uint8_t)(1u << (pos % 8));
			h += delta;
		}
	}
	out->data[bytes] = (uint8_t)k;
	out->len = bytes + 1;
	return LSM_OK;
}

/* May the filter f[n] (bits then k) hold ukey?  A filter too short or
 * with a reserved k matches everything. */
static bool bloom_may_match(const uint8_t *f, size_t n, const uint8_t *ukey,
			    size_t klen)
{
	size_t bits;
	uint32_t h, delta;
	int k;

	if (n < 2)
		return true;
	bits = (n - 1) * 8;
	k = f[n - 1];
	if (k < 1 || k > 30)
		return true;
	h = sst_hash(ukey, klen);
	delta = bloom_delta(h);
	for (int j = 0; j < k; j++) {
		/* h mod bits is h itself when bits is 2^32 or more. */
		uint32_t pos = bits > UINT32_MAX ? h : h % (uint32_t)bits;
		if (!(f[pos / 8] & (1u << (pos % 8))))
			return false;
		h += delta;
	}
	return true;
}

/* ---- block building -------------------------------------------------- */

/* Accumulates one block's contents.  Owned by the builder. */
struct blk_builder {
	struct lsm_buf buf;     /* entries so far */
	struct lsm_buf last;    /* last key added (kept by blkb_reset) */
	uint32_t *restarts;
	size_t nrestarts, cap_restarts;
	int counter;            /* entries since the last restart */
	int interval;
	size_t entries;
};

/* Starts a new block.  last stays: the builder's last key. */
static void blkb_reset(struct blk_builder *bb)
{
	lsm_buf_clear(&bb->buf);
	bb->nrestarts = 0;
	bb->counter = 0;
	bb->entries = 0;
}

static void blkb_free(struct blk_builder *bb)
{
	lsm_buf_free(&bb->buf);
	lsm_buf_free(&bb->last);
	free(bb->restarts);
	bb->restarts = NULL;
}

static int blkb_push_restart(struct blk_builder *bb, uint32_t off)
{
	if (bb->nrestarts == bb->cap_restarts) {
		size_t cap = bb->cap_restarts ? bb->cap_restarts * 2 : 64;
		uint32_t *r = realloc(bb->restarts, cap * sizeof(*r));
		if (!r)
			return LSM_ERR(LSM_ENOMEM, "out of memory");
		bb->restarts = r;
		bb->cap_restarts = cap;
	}
	bb->restarts[bb->nrestarts++] = off;
	return LSM_OK;
}

/* Size the block would have if finished now. */
static size_t blkb_estimate(const struct blk_builder *bb)
{
	return bb->buf.len + 4 * bb->nrestarts + 4;
}

/* Length of the common prefix of a[n] and b[n], eight bytes at a time. */
static inline size_t common_prefix(const uint8_t *a, const uint8_t *b,
				   size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x, y;
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + (size_t)__builtin_ctzll(x ^ y) / 8;
#else
			return i + (size_t)__builtin_clzll(x ^ y) / 8;
#endif
		}
	}
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* Makes room for n more bytes in b (the fast path inline). */
static inline int buf_room(struct lsm_buf *b, size_t n)
{
	return b->cap - b->len >= n ? LSM_OK : lsm_buf_reserve(b, n);
}

/* Adds an entry: the header, the key's unshared bytes and the value are
 * written straight into the block, and only the unshared bytes of the
 * last key are replaced. */
static int blkb_add(struct blk_builder *bb, const uint8_t *key, size_t klen,
		    const uint8_t *val, size_t vlen)
{
	size_t shared = 0, unshared;
	uint8_t *p;
	int rc;

	if (bb->nrestarts == 0 || bb->counter >= bb->interval) {
		if (bb->buf.len > UINT32_MAX)
			return LSM_ERR(LSM_EINVAL, "sst block over 4 GiB");
		if ((rc = blkb_push_restart(bb, (uint32_t)bb->buf.len)))
			return rc;
		bb->counter = 0;
	} else {
		shared = common_prefix(key, bb->last.data,
				       klen < bb->last.len ? klen
							   : bb->last.len);
	}
	unshared = klen - shared;
	if ((rc = buf_room(&bb->buf, 30 + unshared + vlen)))
		return rc;
	if (klen > bb->last.cap) {
		size_t keep = bb->last.len;
		bb->last.len = 0;
		rc = lsm_buf_reserve(&bb->last, klen);
		bb->last.len = keep;
		if (rc)
			return rc;
	}
	p = bb->buf.data + bb->buf.len;
	if ((shared | unshared | vlen) < 0x80) {
		p[0] = (uint8_t)shared;
		p[1] = (uint8_t)unshared;
		p[2] = (uint8_t)vlen;
		p += 3;
	} else {
		p += lsm_varint_put(p, shared);
		p += lsm_varint_put(p, unshared);
		p += lsm_varint_put(p, vlen);
	}
	memcpy(p, key + shared, unshared);
	p += unshared;
	if (vlen)
		memcpy(p, val, vlen);
	bb->buf.len = (size_t)(p + vlen - bb->buf.data);
	memcpy(bb->last.data + shared, key + shared, unshared);
	bb->last.len = klen;
	bb->counter++;
	bb->entries++;
	return LSM_OK;
}

/* Appends the restart array to buf: the contents are then bb->buf. */
static int blkb_finish(struct blk_builder *bb)
{
	uint8_t w[4];
	int rc;

	if (bb->nrestarts == 0 && (rc = blkb_push_restart(bb, 0)))
		return rc;
	if ((rc = lsm_buf_reserve(&bb->buf, 4 * bb->nrestarts + 4)))
		return rc;
	for (size_t i = 0; i < bb->nrestarts; i++) {
		lsm_put_u32le(w, bb->restarts[i]);
		lsm_buf_append(&bb->buf, w, 4);
	}
	lsm_put_u32le(w, (uint32_t)bb->nrestarts);
	lsm_buf_append(&bb->buf, w, 4);
	return LSM_OK;
}

/* ---- the builder ----------------------------------------------------- */

/* One table being written.  Single-threaded: owned by the flush or
 * compaction that created it. */
struct lsm_sst_builder {
	lsm_env *env;
	lsm_file *f;
	char *path;                 /* owned */
	struct lsm_sst_opts o;
	struct blk_builder data, index; /* data.last: last key added */
	struct lsm_buf tmp;
	struct lsm_buf out;         /* written, not yet appended to f */
	uint32_t *hashes;           /* user-key hashes for the filter */
	size_t nhashes, cap_hashes;
	uint64_t off;               /* bytes written (appended or in out) */
	uint64_t entries;
	int err;                    /* latched first error */
};

int lsm_sst_builder_create(lsm_env *env, const char *path,
			   const struct lsm_sst_opts *o,
			   struct lsm_sst_builder **out)
{
	struct lsm_sst_builder *b = NULL;
	int rc;

	*out = NULL;
	if (!(b = calloc(1, sizeof(*b))) || !(b->path = strdup(path))) {
		rc = LSM_ERR(LSM_ENOMEM, "out of memory");
		goto out;
	}
	b->env = env;
	b->o = *o;
	if (b->o.block_size == 0)
		b->o.block_size = 4096;
	if (b->o.block_size > (1u << 30))
		b->o.block_size = 1u << 30;
	if (b->o.restart_interval < 1)
		b->o.restart_interval = 16;
	if (b->o.bloom_bits_per_key < 0)
		b->o.bloom_bits_per_key = 0;
	b->data.interval = b->o.restart_interval;
	b->index.interval = 1;
	if ((rc = env->open(env, path, LSM_O_CREATE, &b->f)))
		goto out;
	*out = b;
	b = NULL;
out:
	if (b)
		free(b->path);
	free(b);
	return rc;
}

static void builder_free(struct lsm_sst_builder *b)
{
	blkb_free(&b->data);
	blkb_free(&b->index);
	lsm_buf_free(&b->tmp);
	lsm_buf_free(&b->out);
	free(b->hashes);
	free(b->path);
	free(b);
}

/* The builder's output goes to the file in pieces of about this size
 * (LevelDB's WritableFile buffers 64 KiB): one append per 16 blocks of
 * 4 KiB instead of two. */
#define SST_OUT_BUF (64 * 1024)

/* Appends what out holds to the file. */
static int builder_out_flush(struct lsm_sst_builder *b)
{
	int rc;

	if (!b->out.len)
		return LSM_OK;
	if ((rc = b->env->append(b->env, b->f, b->out.data, b->out.len)))
		return rc;
	lsm_buf_clear(&b->out);
	return LSM_OK;
}

/* Writes p[n] at the end of the file (b->off), through out: a piece that
 * would overflow it flushes it first, and one at least as large as the
 * buffer goes to the file directly. */
static int builder_out(struct lsm_sst_builder *b, const uint8_t *p, size_t n)
{
	int rc;

	if (b->out.len + n > SST_OUT_BUF && (rc = builder_out_flush(b)))
		return rc;
	if (n >= SST_OUT_BUF) {
		if ((rc = b->env->append(b->env, b->f, p, n)))
			return rc;
	} else if ((rc = lsm_buf_append(&b->out, p, n))) {
		return rc;
	}
	b->off += n;
	return LSM_OK;
}

/* Writes contents[n] and its trailer; *off gets where they start. */
static int builder_write_block(struct lsm_sst_builder *b, const uint8_t *p,
			       size_t n, uint64_t *off)
{
	uint8_t tr[LSM_SST_TRAILER];
	uint64_t start = b->off;
	int rc;

	tr[0] = SST_BLOCK_PLAIN;
	lsm_put_u32le(tr + 1, lsm_crc32c(lsm_crc32c(0, p, n), tr, 1));
	if ((rc = builder_out(b, p, n)) ||
	    (rc = builder_out(b, tr, sizeof(tr))))
		return rc;
	*off = start;
	return LSM_OK;
}

/* Writes the pending data block and its index entry. */
static int builder_flush_data(struct lsm_sst_builder *b)
{
	uint8_t hv[20];
	uint64_t off;
	size_t n = 0, size;
	int rc;

	if (b->data.entries == 0)
		return LSM_OK;
	if ((rc = blkb_finish(&b->data)))
		return rc;
	size = b->data.buf.len;
	if ((rc = builder_write_block(b, b->data.buf.data, size, &off)))
		return rc;
	n += lsm_varint_put(hv + n, off);
	n += lsm_varint_put(hv + n, size);
	if ((rc = blkb_add(&b->index, b->data.last.data, b->data.last.len, hv,
			   n)))
		return rc;
	blkb_reset(&b->data);
	return LSM_OK;
}

/* Notes the hash of ik's user key for the filter. */
static int builder_add_hash(struct lsm_sst_builder *b, const uint8_t *ik,
			    size_t iklen)
{
	if (b->nhashes == b->cap_hashes) {
		size_t cap = b->cap_hashes ? b->cap_hashes * 2 : 1024;
		uint32_t *h = realloc(b->hashes, cap * sizeof(*h));
		if (!h)
			return LSM_ERR(LSM_ENOMEM, "out of memory");
		b->hashes = h;
		b->cap_hashes = cap;
	}
	b->hashes[b->nhashes++] = sst_hash(ik, iklen - LSM_TRAILER);
	return LSM_OK;
}

int lsm_sst_builder_add(struct lsm_sst_builder *b, const uint8_t *ik,
			size_t iklen, const uint8_t *val, size_t vlen)
{
	const struct lsm_buf *last = &b->data.last;
	bool same_ukey = false;
	int rc, c;

	if (b->err)
		return b->err;
	if (iklen < LSM_TRAILER || iklen - LSM_TRAILER > LSM_MAX_KEY ||
	    vlen > LSM_MAX_VALUE) {
		rc = LSM_ERR(LSM_EINVAL, "%s: bad key or value length",
			     b->path);
		goto out;
	}
	if (b->entries > 0) {
		/* One comparison checks the order and finds a new version
		 * of the last user key (whose hash the filter has). */
		c = lsm_ukey_cmp(ik, iklen - LSM_TRAILER, last->data,
				 last->len - LSM_TRAILER);
		same_ukey = c == 0;
		if (same_ukey && lsm_ikey_trailer(ik, iklen) <
				     lsm_ikey_trailer(last->data, last->len))
			c = 1;
		if (c <= 0) {
			rc = LSM_ERR(LSM_EINVAL, "%s: keys added out of order",
				     b->path);
			goto out;
		}
	}
	if (b->o.bloom_bits_per_key > 0 && !same_ukey &&
	    (rc = builder_add_hash(b, ik, iklen)))
		goto out;
	if ((rc = blkb_add(&b->data, ik, iklen, val, vlen)))
		goto out;
	b->entries++;
	if (blkb_estimate(&b->data) >= b->o.block_size)
		rc = builder_flush_data(b);
out:
	if (rc)
		b->err = rc;
	return rc;
}

const uint8_t *lsm_sst_builder_last(const struct lsm_sst_builder *b,
				    size_t *len)
{
	*len = b->entries ? b->data.last.len : 0;
	return b->entries ? b->data.last.data : NULL;
}

uint64_t lsm_sst_builder_entries(const struct lsm_sst_builder *b)
{
	return b->entries;
}

/* Bytes appended so far plus the data block being filled. */
uint64_t lsm_sst_builder_size(const struct lsm_sst_builder *b)
{
	return b->off + b->data.buf.len;
}

static void footer_encode(uint8_t *p, uint64_t index_off, uint64_t index_size,
			  uint64_t filter_off, uint64_t filter_size,
			  uint64_t entries)
{
	lsm_put_u64le(p, index_off);
	lsm_put_u64le(p + 8, index_size);
	lsm_put_u64le(p + 16, filter_off);
	lsm_put_u64le(p + 24, filter_size);
	lsm_put_u64le(p + 32, entries);
	lsm_put_u32le(p + 40, LSM_SST_VERSION);
	lsm_put_u64le(p + 44, LSM_SST_MAGIC);
	lsm_put_u32le(p + 52, lsm_crc32c(0, p, 52));
}

static int builder_write_tail(struct lsm_sst_builder *b)
{
	uint8_t foot[LSM_SST_FOOTER];
	uint64_t filter_off = 0, filter_size = 0, index_off;
	int rc;

	if ((rc = builder_flush_data(b)))
		return rc;
	if (b->o.bloom_bits_per_key > 0) {
		if ((rc = bloom_build(&b->tmp, b->hashes, b->nhashes,
				      b->o.bloom_bits_per_key)) ||
		    (rc = builder_write_block(b, b->tmp.data, b->tmp.len,
					      &filter_off)))
			return rc;
		filter_size = b->tmp.len;
	}
	if ((rc = blkb_finish(&b->index)) ||
	    (rc = builder_write_block(b, b->index.buf.data, b->index.buf.len,
				      &index_off)))
		return rc;
	footer_encode(foot, index_off, b->index.buf.len, filter_off,
		      filter_size, b->entries);
	if ((rc = builder_out(b, foot, sizeof(foot))) ||
	    (rc = builder_out_flush(b)))
		return rc;
	return b->env->sync(b->env, b->f);
}

/* On error the partial file is also removed: nobody can use it. */
int lsm_sst_builder_finish(struct lsm_sst_builder *b, uint64_t *size)
{
	int rc = b->err, rc2;

	if (!rc)
		rc = builder_write_tail(b);
	rc2 = b->env->close(b->env, b->f);
	if (!rc)
		rc = rc2;
	if (rc)
		b->env->remove(b->env, b->path);
	else if (size)
		*size = b->off;
	builder_free(b);
	return rc;
}

void lsm_sst_builder_abandon(struct lsm_sst_builder *b)
{
	b->env->close(b->env, b->f);
	b->env->remove(b->env, b->path);
	builder_free(b);
}

/* ---- the reader ------------------------------------------------------ */

/* An open table.  Immutable after lsm_sst_open except refs and the bits
 * of verified, so any number of threads read it without locks (env reads
 * are positional, the bitmap's words atomic).
 *
 * Two ways to reach a data block:
 *   - mapped (map != NULL, the env could map the file): the block is used
 *     in place, neither copied nor cached.  Its checksum is verified the
 *     first time any reader of this open table uses it, and a bit in
 *     verified remembers that, so later reads skip it; a block that fails
 *     is never marked and fails every read.  The bit of a block is its
 *     ordinal in the index (the index cursor's restart region, which is
 *     the ordinal when every index entry is a restart point: checked at
 *     open, else verified stays NULL and every read checks the CRC).
 *   - read (map == NULL): pread into a malloc'd block, CRC checked, kept
 *     in the block cache when there is one.
 * The footer, index and filter are read and checked at open either way. */
struct lsm_sst {
	atomic_int refs;
	lsm_env *env;
	lsm_file *f;
	char *path;               /* owned */
	uint64_t num;
	uint64_t size;            /* file bytes */
	uint64_t data_end;        /* where the footer starts */
	struct lsm_cache *cache;  /* borrowed, may be NULL */
	uint64_t index_off;
	struct lsm_block *index;  /* owned reference, never cached */
	struct lsm_block *filter; /* owned reference or NULL */
	uint64_t entries;
	const uint8_t *map;       /* the whole file (env->map), or NULL */
	_Atomic uint64_t *verified; /* owned bitmap, nblocks bits, or NULL */
	uint32_t nblocks;         /* index entries */
	/* Index summary (memory only, built at open when nblocks > 0): every
	 * index key's user key shares its first ipre_len bytes (ipre, in the
	 * index block); isum[i] holds the 8 bytes after them of entry i's
	 * user key, big-endian, zero-padded.  isum is non-decreasing, so a
	 * seek finds its index entry by a binary search over nblocks words
	 * (a few cache lines) instead of over the index's restart array and
	 * entries, and compares whole keys only among equal words. */
	uint64_t *isum;           /* owned, nblocks words, or NULL */
	const uint8_t *ipre;
	size_t ipre_len;
};

/* A data block in use: contents data[size], and the block that owns them
 * (referenced) when the table is read rather than mapped. */
struct blk_ref {
	const uint8_t *data;
	size_t size;
	struct lsm_block *b;
};

static void blk_ref_drop(struct blk_ref *r)
{
	if (r->b)
		lsm_block_unref(r->b);
	r->b = NULL;
	r->data = NULL;
	r->size = 0;
}

/* Is the handle (off, size) and its trailer inside the data area? */
static int sst_check_handle(lsm_sst *t, uint64_t off, uint64_t size)
{
	if (off > t->data_end || size > t->data_end - off ||
	    t->data_end - off - size < LSM_SST_TRAILER)
		return LSM_ERR(LSM_ECORRUPT,
			       "%s: bad block handle (offset %llu, size %llu)",
			       t->path, (unsigned long long)off,
			       (unsigned long long)size);
	return LSM_OK;
}

/* Checks the trailer after contents p[size] (the block at off). */
static int sst_check_trailer(lsm_sst *t, uint64_t off, const uint8_t *p,
			     uint64_t size)
{
	if (lsm_get_u32le(p + size + 1) !=
	    lsm_crc32c(lsm_crc32c(0, p, size), p + size, 1))
		return LSM_ERR(LSM_ECORRUPT,
			       "%s: bad block checksum at offset %llu", t->path,
			       (unsigned long long)off);
	if (p[size] != SST_BLOCK_PLAIN)
		return LSM_ERR(LSM_ECORRUPT,
			       "%s: unknown block type %u at offset %llu",
			       t->path, p[size], (unsigned long long)off);
	return LSM_OK;
}

/* Reads the block with handle (off, size) from disk, checking bounds,
 * type and checksum.  *out: a new uncached block (lsm_block_unref). */
static int sst_read_raw(lsm_sst *t, uint64_t off, uint64_t size,
			struct lsm_block **out)
{
	uint8_t *p = NULL;
	size_t nread = 0;
	int rc;

	*out = NULL;
	if ((rc = sst_check_handle(t, off, size)))
		return rc;
	if (!(p = malloc(size + LSM_SST_TRAILER)))
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	if ((rc = t->env->read(t->env, t->f, off, p, size + LSM_SST_TRAILER,
			       &nread)))
		goto out;
	if (nread != size + LSM_SST_TRAILER) {
		rc = LSM_ERR(LSM_ECORRUPT, "%s: short read at offset %llu",
			     t->path, (unsigned long long)off);
		goto out;
	}
	if ((rc = sst_check_trailer(t, off, p, size)))
		goto out;
	*out = lsm_cache_insert(NULL, t->num, off, p, size);
	p = NULL;
	if (!*out)
		rc = LSM_ERR(LSM_ENOMEM, "out of memory");
out:
	free(p);
	return rc;
}

/* A data block through the block cache (if any).  *out referenced. */
static int sst_read_cached(lsm_sst *t, uint64_t off, uint64_t size,
			   struct lsm_block **out)
{
	struct lsm_block *b;
	int rc;

	*out = NULL;
	if (!t->cache)
		return sst_read_raw(t, off, size, out);
	if ((b = lsm_cache_lookup(t->cache, t->num, off))) {
		if (b->size != size) {
			lsm_block_unref(b);
			return LSM_ERR(LSM_ECORRUPT,
				       "%s: bad block handle at offset %llu",
				       t->path, (unsigned long long)off);
		}
		*out = b;
		return LSM_OK;
	}
	if ((rc = sst_read_raw(t, off, size, &b)))
		return rc;
	/* Move the contents into a cached block: the raw one is a shell. */
	*out = lsm_cache_insert(t->cache, t->num, off, b->data, b->size);
	b->data = NULL;
	lsm_block_unref(b);
	if (!*out)
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	return LSM_OK;
}

/* The mapped block (off, size), ordinal ord in the index (or UINT32_MAX:
 * unknown), its checksum verified unless ord's bit says it was. */
static int sst_map_block(lsm_sst *t, uint32_t ord, uint64_t off,
			 uint64_t size, struct blk_ref *out)
{
	const uint8_t *p = t->map + off;
	_Atomic uint64_t *w = NULL;
	uint64_t bit = 0;
	int rc;

	if ((rc = sst_check_handle(t, off, size)))
		return rc;
	if (t->verified && ord < t->nblocks) {
		w = &t->verified[ord / 64];
		bit = UINT64_C(1) << (ord % 64);
	}
	if (w && (atomic_load_explicit(w, memory_order_relaxed) & bit)) {
		lsm_cache_note(t->cache, true);
	} else {
		if ((rc = sst_check_trailer(t, off, p, size)))
			return rc;
		lsm_cache_note(t->cache, false);
		if (w)
			atomic_fetch_or_explicit(w, bit, memory_order_relaxed);
	}
	out->data = p;
	out->size = (size_t)size;
	return LSM_OK;
}

/* The data block with handle (off, size), ordinal ord in the index (or
 * UINT32_MAX), mapped or read.  *out must be empty; on success it holds
 * the contents (and a reference when read). */
static int sst_read_block(lsm_sst *t, uint32_t ord, uint64_t off,
			  uint64_t size, struct blk_ref *out)
{
	int rc;

	if (t->map)
		return sst_map_block(t, ord, off, size, out);
	if ((rc = sst_read_cached(t, off, size, &out->b)))
		return rc;
	out->data = out->b->data;
	out->size = out->b->size;
	return LSM_OK;
}

/* ---- block iteration ------------------------------------------------- */

/* Keys up to this long are rebuilt inside the cursor, with no heap. */
#define BLK_KEY_INLINE 64

/* A cursor over one block's contents (borrowed: the caller keeps the
 * block referenced).  Errors latch in err (already raised via LSM_ERR).
 * Zero-initialised, then blk_init; blk_key_free at the end.  The current
 * key is rebuilt (prefix compression) in kin, or in kheap once a key is
 * longer than kin: read it with blk_key. */
struct blk_iter {
	lsm_sst *t;             /* for error messages */
	uint64_t blk_off;
	const uint8_t *data;
	size_t limit;           /* start of the restart array */
	uint32_t nrestarts;
	size_t cur;             /* offset of the current entry */
	size_t next;            /* offset just after it */
	uint32_t ridx;          /* restart region holding cur */
	size_t klen;            /* current key's length */
	uint8_t *kheap;         /* owned, kcap bytes, or NULL: key in kin */
	size_t kcap;
	const uint8_t *val;
	size_t vlen;
	bool valid;
	int err;
	uint8_t kin[BLK_KEY_INLINE];
};

static inline const uint8_t *blk_key(const struct blk_iter *bi)
{
	return bi->kheap ? bi->kheap : bi->kin;
}

static void blk_key_free(struct blk_iter *bi)
{
	free(bi->kheap);
	bi->kheap = NULL;
	bi->kcap = 0;
	bi->klen = 0;
}

/* Makes room for a key of need bytes keeping its first keep bytes. */
static int blk_key_grow(struct blk_iter *bi, size_t need, size_t keep)
{
	size_t cap = bi->kcap > BLK_KEY_INLINE ? bi->kcap : BLK_KEY_INLINE;
	uint8_t *p;

	while (cap < need)
		cap *= 2;
	if (!(p = malloc(cap)))
		return LSM_ENOMEM;
	memcpy(p, blk_key(bi), keep);
	free(bi->kheap);
	bi->kheap = p;
	bi->kcap = cap;
	return LSM_OK;
}

static int blk_corrupt(struct blk_iter *bi, const char *what)
{
	bi->valid = false;
	if (!bi->err)
		bi->err = LSM_ERR(LSM_ECORRUPT,
				  "%s: bad block at offset %llu: %s",
				  bi->t->path,
				  (unsigned long long)bi->blk_off, what);
	return bi->err;
}

/* Points bi at contents data[n].  LSM_ECORRUPT if the restart array does
 * not fit. */
static int blk_init(struct blk_iter *bi, lsm_sst *t, uint64_t off,
		    const uint8_t *data, size_t n)
{
	uint32_t nr;

	bi->t = t;
	bi->blk_off = off;
	bi->data = data;
	bi->valid = false;
	bi->err = 0;
	bi->limit = 0;
	bi->nrestarts = 0;
	bi->cur = bi->next = 0;
	bi->klen = 0;
	if (n < 4)
		return blk_corrupt(bi, "too short");
	nr = lsm_get_u32le(data + n - 4);
	if (nr == 0 || nr > (n - 4) / 4)
		return blk_corrupt(bi, "bad restart count");
	bi->nrestarts = nr;
	bi->limit = n - 4 - 4 * (size_t)nr;
	return LSM_OK;
}

static size_t blk_restart(const struct blk_iter *bi, uint32_t i)
{
	return lsm_get_u32le(bi->data + bi->limit + 4 * (size_t)i);
}

/* Decodes an entry's header (shared, unshared, vlen) at p, before end:
 * the pointer after it, or NULL if a varint is malformed.  The common case
 * of three one-byte varints takes one test (LevelDB's DecodeEntry). */
static inline const uint8_t *blk_entry_hdr(const uint8_t *p,
					   const uint8_t *end,
					   uint64_t *shared, uint64_t *unshared,
					   uint64_t *vlen)
{
	if (end - p >= 3 && (p[0] | p[1] | p[2]) < 0x80) {
		*shared = p[0];
		*unshared = p[1];
		*vlen = p[2];
		return p + 3;
	}
	if (lsm_varint_get(&p, end, shared) ||
	    lsm_varint_get(&p, end, unshared) || lsm_varint_get(&p, end, vlen))
		return NULL;
	return p;
}

/* Decodes the entry at bi->next into key/val and advances.  Leaves bi
 * invalid at the end of the block or on corruption. */
static void blk_parse_next(struct blk_iter *bi)
{
	const uint8_t *p = bi->data + bi->next, *end = bi->data + bi->limit;
	uint64_t shared, unshared, vlen;

	if (bi->err)
		return;
	if (bi->next >= bi->limit) {
		bi->valid = false;
		return;
	}
	if (!(p = blk_entry_hdr(p, end, &shared, &unshared, &vlen)) ||
	    shared > bi->klen || unshared > (uint64_t)(end - p) ||
	    vlen > (uint64_t)(end - p) - unshared) {
		blk_corrupt(bi, "bad entry");
		return;
	}
	if (shared + unshared < LSM_TRAILER) {
		blk_corrupt(bi, "short key");
		return;
	}
	if (shared + unshared > (bi->kheap ? bi->kcap : BLK_KEY_INLINE) &&
	    blk_key_grow(bi, shared + unshared, shared)) {
		bi->valid = false;
		bi->err = LSM_ERR(LSM_ENOMEM, "out of memory");
		return;
	}
	if (!bi->kheap && unshared <= 32 && shared + 32 <= BLK_KEY_INLINE &&
	    (size_t)(bi->data + bi->limit - p) >= 32) {
		/* The common short key: a fixed-size copy (inlined, no call);
		 * the bytes past the key land unused in kin. */
		memcpy(bi->kin + shared, p, 32);
	} else {
		memcpy((bi->kheap ? bi->kheap : bi->kin) + shared, p,
		       unshared);
	}
	bi->klen = shared + unshared;
	bi->val = p + unshared;
	bi->vlen = vlen;
	bi->cur = bi->next;
	bi->next = (size_t)(bi->val + vlen - bi->data);
	while (bi->ridx + 1 < bi->nrestarts &&
	       blk_restart(bi, bi->ridx + 1) <= bi->cur)
		bi->ridx++;
	bi->valid = true;
}

/* The key of the entry at restart point i, in place (a restart entry
 * shares nothing, so its key is whole in the block): LSM_OK with *k and
 * *klen, or LSM_ECORRUPT (latched in bi) for a bad offset or entry. */
static int blk_restart_key(struct blk_iter *bi, uint32_t i, const uint8_t **k,
			   size_t *klen)
{
	size_t off = blk_restart(bi, i);
	const uint8_t *p, *end = bi->data + bi->limit;
	uint64_t shared, unshared, vlen;

	if (off > bi->limit)
		return blk_corrupt(bi, "bad restart offset");
	if (off == bi->limit)
		return blk_corrupt(bi, "bad restart entry");
	p = bi->data + off;
	if (!(p = blk_entry_hdr(p, end, &shared, &unshared, &vlen)) ||
	    shared != 0 || unshared > (uint64_t)(end - p) ||
	    vlen > (uint64_t)(end - p) - unshared)
		return blk_corrupt(bi, "bad entry");
	if (unshared < LSM_TRAILER)
		return blk_corrupt(bi, "short key");
	*k = p;
	*klen = (size_t)unshared;
	return LSM_OK;
}

/* Positions before the entry at restart point i. */
static void blk_seek_restart(struct blk_iter *bi, uint32_t i)
{
	size_t off = blk_restart(bi, i);

	bi->klen = 0;
	bi->ridx = i;
	if (off > bi->limit) {
		blk_corrupt(bi, "bad restart offset");
		return;
	}
	bi->next = off;
}

static void blk_first(struct blk_iter *bi)
{
	if (bi->err)
		return;
	blk_seek_restart(bi, 0);
	blk_parse_next(bi);
}

static void blk_last(struct blk_iter *bi)
{
	if (bi->err)
		return;
	blk_seek_restart(bi, bi->nrestarts - 1);
	blk_parse_next(bi);
	while (bi->valid && bi->next < bi->limit)
		blk_parse_next(bi);
}

static void blk_next(struct blk_iter *bi)
{
	if (bi->valid)
		blk_parse_next(bi);
}

/* Steps back: rescans from the restart point before the current entry. */
static void blk_prev(struct blk_iter *bi)
{
	size_t orig = bi->cur;
	uint32_t ri = bi->ridx;

	if (bi->err || !bi->valid)
		return;
	while (blk_restart(bi, ri) >= orig) {
		if (ri == 0) {
			bi->valid = false;
			return;
		}
		ri--;
	}
	blk_seek_restart(bi, ri);
	do {
		blk_parse_next(bi);
	} while (bi->valid && bi->next < orig);
	if (bi->valid && bi->next != orig)
		blk_corrupt(bi, "entries overlap");
}

/* Lands on the first entry >= ik (internal order), or invalid. */
static void blk_seek(struct blk_iter *bi, const uint8_t *ik, size_t iklen)
{
	uint32_t left = 0, right = bi->nrestarts - 1;

	if (bi->err)
		return;
	bi->valid = false;
	while (left < right) {
		uint32_t mid = left + (right - left + 1) / 2;
		const uint8_t *k = NULL;
		size_t klen = 0;
		/* Compared in place: no copy of the probe's key. */
		if (blk_restart_key(bi, mid, &k, &klen))
			return;
		if (lsm_ikey_cmp_inline(k, klen, ik, iklen) < 0)
			left = mid;
		else
			right = mid - 1;
	}
	blk_seek_restart(bi, left);
	do {
		blk_parse_next(bi);
	} while (bi->valid &&
		 lsm_ikey_cmp_inline(blk_key(bi), bi->klen, ik, iklen) < 0);
}

/* ---- opening --------------------------------------------------------- */

static int footer_decode(lsm_sst *t, const uint8_t *p, uint64_t *index_off,
			 uint64_t *index_size, uint64_t *filter_off,
			 uint64_t *filter_size)
{
	uint32_t version = lsm_get_u32le(p + 40);

	if (lsm_get_u64le(p + 44) != LSM_SST_MAGIC)
		return LSM_ERR(LSM_ECORRUPT, "%s: bad footer magic", t->path);
	if (version > LSM_SST_VERSION)
		return LSM_ERR(LSM_EVERSION,
			       "%s: bad footer: format version %u is newer "
			       "than %u",
			       t->path, version, LSM_SST_VERSION);
	if (version != LSM_SST_VERSION)
		return LSM_ERR(LSM_ECORRUPT, "%s: bad footer version %u",
			       t->path, version);
	if (lsm_get_u32le(p + 52) != lsm_crc32c(0, p, 52))
		return LSM_ERR(LSM_ECORRUPT, "%s: bad footer checksum",
			       t->path);
	*index_off = lsm_get_u64le(p);
	*index_size = lsm_get_u64le(p + 8);
	*filter_off = lsm_get_u64le(p + 16);
	*filter_size = lsm_get_u64le(p + 24);
	t->entries = lsm_get_u64le(p + 32);
	return LSM_OK;
}

static bool sst_index_ordinals(struct blk_iter *bi);

/* The summary word of user key u[n] after its first pre bytes. */
static inline uint64_t sum_word(const uint8_t *u, size_t n, size_t pre)
{
	uint8_t b[8] = {0};
	uint64_t w;

	if (n > pre)
		memcpy(b, u + pre, n - pre < 8 ? n - pre : 8);
	memcpy(&w, b, 8);
	return __builtin_bswap64(w); /* big-endian: compares as the bytes */
}

/* Builds t's index summary (struct lsm_sst) from the index bi, whose
 * entries are each at their own restart point (sst_index_ordinals).
 * Without memory, or on a bad entry, the table simply has none. */
static void sst_summary_build(lsm_sst *t, struct blk_iter *bi)
{
	const uint8_t *a, *b, *k;
	size_t alen, blen, klen, pre = 0;
	uint32_t n = bi->nrestarts;
	uint64_t *w;

	if (blk_restart_key(bi, 0, &a, &alen) ||
	    blk_restart_key(bi, n - 1, &b, &blen))
		return;
	alen -= LSM_TRAILER;
	blen -= LSM_TRAILER;
	while (pre < alen && pre < blen && a[pre] == b[pre])
		pre++;
	if (!(w = malloc((size_t)n * sizeof(*w))))
		return;
	for (uint32_t i = 0; i < n; i++) {
		if (blk_restart_key(bi, i, &k, &klen) ||
		    klen - LSM_TRAILER < pre || memcmp(k, a, pre) ||
		    (i && sum_word(k, klen - LSM_TRAILER, pre) < w[i - 1])) {
			free(w);
			return;
		}
		w[i] = sum_word(k, klen - LSM_TRAILER, pre);
	}
	t->isum = w;
	t->ipre = a;
	t->ipre_len = pre;
}

/* Reads the footer, then the index and filter blocks. */
static int sst_load(lsm_sst *t)
{
	uint8_t foot[LSM_SST_FOOTER];
	uint64_t ioff = 0, isize = 0, foff = 0, fsize = 0;
	size_t nread = 0;
	struct blk_iter bi = {0};
	int rc;

	if (t->size < LSM_SST_FOOTER)
		return LSM_ERR(LSM_ECORRUPT,
			       "%s: bad footer: file too short (%llu bytes)",
			       t->path, (unsigned long long)t->size);
	t->data_end = t->size - LSM_SST_FOOTER;
	if ((rc = t->env->read(t->env, t->f, t->data_end, foot, sizeof(foot),
			       &nread)))
		return rc;
	if (nread != sizeof(foot))
		return LSM_ERR(LSM_ECORRUPT, "%s: bad footer: short read",
			       t->path);
	if ((rc = footer_decode(t, foot, &ioff, &isize, &foff, &fsize)))
		return rc;
	t->index_off = ioff;
	if ((rc = sst_read_raw(t, ioff, isize, &t->index)))
		return rc;
	if ((rc = blk_init(&bi, t, ioff, t->index->data, t->index->size)))
		goto out;
	if (fsize && (rc = sst_read_raw(t, foff, fsize, &t->filter)))
		goto out;
	t->nblocks = sst_index_ordinals(&bi) ? bi.nrestarts : 0;
	if (t->nblocks)
		sst_summary_build(t, &bi);
out:
	blk_key_free(&bi);
	return rc;
}

/* Does every entry of the index (bi, fresh from blk_init) sit at its own
 * restart point, in order, so that the cursor's restart region is the
 * entry's ordinal?  (The builder writes it so; a damaged index that does
 * not only loses the verified bitmap: its errors surface on reads.) */
static bool sst_index_ordinals(struct blk_iter *bi)
{
	uint32_t n = 0;

	for (blk_first(bi); bi->valid; blk_next(bi)) {
		if (n >= bi->nrestarts || blk_restart(bi, n) != bi->cur ||
		    bi->ridx != n)
			return false;
		n++;
	}
	return !bi->err && n == bi->nrestarts && n > 0;
}

/* Maps the file when the env can; any failure leaves the table read with
 * the env's read (the error is not the caller's). */
static void sst_try_map(lsm_sst *t)
{
	const void *addr = NULL;
	size_t words = ((size_t)t->nblocks + 63) / 64;

	if (!t->env->map || !t->env->unmap)
		return;
	if (t->nblocks && !(t->verified = calloc(words, sizeof(uint64_t))))
		return;
	if (t->env->map(t->env, t->f, t->size, &addr)) {
		free(t->verified);
		t->verified = NULL;
		return;
	}
	t->map = addr;
}

int lsm_sst_open(lsm_env *env, const char *path, uint64_t num,
		 uint64_t file_size, struct lsm_cache *blocks, lsm_sst **out)
{
	lsm_sst *t = NULL;
	uint64_t size = 0;
	int rc;

	*out = NULL;
	if (!(t = calloc(1, sizeof(*t))) || !(t->path = strdup(path))) {
		rc = LSM_ERR(LSM_ENOMEM, "out of memory");
		goto out;
	}
	atomic_init(&t->refs, 1);
	t->env = env;
	t->num = num;
	t->cache = blocks;
	if ((rc = env->open(env, path, LSM_O_READ, &t->f)) ||
	    (rc = env->size(env, t->f, &size)))
		goto out;
	if (file_size && size != file_size) {
		rc = LSM_ERR(LSM_ECORRUPT,
			     "%s: bad footer: file has %llu bytes, expected "
			     "%llu",
			     path, (unsigned long long)size,
			     (unsigned long long)file_size);
		goto out;
	}
	t->size = size;
	if ((rc = sst_load(t)))
		goto out;
	sst_try_map(t);
	*out = t;
	t = NULL;
out:
	if (t)
		lsm_sst_unref(t);
	return rc;
}

void lsm_sst_ref(lsm_sst *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void lsm_sst_unref(lsm_sst *t)
{
	if (!t || atomic_fetch_sub_explicit(&t->refs, 1,
					    memory_order_acq_rel) != 1)
		return;
	if (t->map)
		t->env->unmap(t->env, t->f, t->map, t->size);
	free(t->verified);
	free(t->isum);
	if (t->f)
		t->env->close(t->env, t->f);
	if (t->index)
		lsm_block_unref(t->index);
	if (t->filter)
		lsm_block_unref(t->filter);
	free(t->path);
	free(t);
}

/* ---- the table iterator ---------------------------------------------- */

/* Two levels: an index cursor picks the data block, a block cursor walks
 * it.  Holds a reference on the table and, when the table is read rather
 * than mapped, on the current block.
 *
 * Lazy first entry: when the caller told the iterator the table's first
 * key (lsm_sst_iter_first_key: the manifest's smallest key, known without
 * reading the table), a seek at or before that key lands on the first
 * entry without reading any block: the iterator is valid, its key is
 * `first`, and the first block is read only when something needs more
 * (value, next, prev), and then its first key must equal `first`
 * (LSM_ECORRUPT otherwise).  A seek merges every level, and for most
 * levels the target falls between the level's tables (a sparse deeper
 * level) or before a level-0 table's range: their blocks, the seek's cost
 * (cache misses), are then not touched unless the merge reaches them. */
struct sst_iter {
	struct lsm_iiter base;
	lsm_sst *t;
	struct blk_iter index;
	struct blk_iter data;
	struct blk_ref blk; /* blk.data NULL: no block */
	uint64_t blk_off;
	int err;
	const uint8_t *first; /* the table's first key (borrowed), or NULL */
	size_t first_len;
	bool lazy;            /* at the first entry, its block not read */
	bool prepared;        /* si_prepare placed index for the next seek */
};

static void si_drop_block(struct sst_iter *si)
{
	blk_ref_drop(&si->blk);
	si->data.valid = false;
}

/* Loads the data block the index cursor points at into si->data. */
static void si_load_block(struct sst_iter *si)
{
	const uint8_t *p, *end;
	uint64_t off, size;
	int rc;

	if (!si->index.valid) {
		si_drop_block(si);
		if (si->index.err && !si->err)
			si->err = si->index.err;
		return;
	}
	/* Only now: an invalid cursor's val may be NULL, and NULL + 0 is
	 * undefined behaviour. */
	p = si->index.val;
	end = p + si->index.vlen;
	if (lsm_varint_get(&p, end, &off) || lsm_varint_get(&p, end, &size) ||
	    p != end) {
		si_drop_block(si);
		si->err = blk_corrupt(&si->index, "bad block handle");
		return;
	}
	if (si->blk.data && si->blk_off == off)
		return;
	si_drop_block(si);
	if ((rc = sst_read_block(si->t, si->index.ridx, off, size,
				 &si->blk))) {
		si->err = rc;
		return;
	}
	si->blk_off = off;
	if ((rc = blk_init(&si->data, si->t, off, si->blk.data,
			   si->blk.size))) {
		si->err = rc;
		si_drop_block(si);
	}
}

static bool si_ok(struct sst_iter *si)
{
	if (!si->err && si->data.err)
		si->err = si->data.err;
	if (!si->err && si->index.err)
		si->err = si->index.err;
	return !si->err;
}

/* Moves past empty blocks, forward or backward, until an entry or the
 * end. */
static void si_skip(struct sst_iter *si, bool forward)
{
	while (si_ok(si) && !si->data.valid) {
		if (!si->index.valid) {
			si_drop_block(si);
			return;
		}
		if (forward)
			blk_next(&si->index);
		else
			blk_prev(&si->index);
		si_load_block(si);
		if (!si->blk.data)
			return;
		if (forward)
			blk_first(&si->data);
		else
			blk_last(&si->data);
	}
}

static bool si_valid(struct lsm_iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	return !si->err && (si->lazy || (si->blk.data && si->data.valid));
}

static void si_first(struct lsm_iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	si->lazy = si->prepared = false;
	if (si->err)
		return;
	blk_first(&si->index);
	si_load_block(si);
	if (si->blk.data && !si->err)
		blk_first(&si->data);
	si_skip(si, true);
}

static void si_last(struct lsm_iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	si->lazy = si->prepared = false;
	if (si->err)
		return;
	blk_last(&si->index);
	si_load_block(si);
	if (si->blk.data && !si->err)
		blk_last(&si->data);
	si_skip(si, false);
}

/* Reads the first block of a lazy iterator (see struct sst_iter): it
 * stays at the same entry, or fails with LSM_ECORRUPT when that entry's
 * key is not the `first` it was shown as.  False if it is not valid. */
static bool si_unlazy(struct sst_iter *si)
{
	if (!si->lazy)
		return si_valid(&si->base);
	si_first(&si->base);
	if (!si_valid(&si->base)) {
		if (!si->err)
			si->err = LSM_ERR(LSM_ECORRUPT,
					  "%s: no entries, yet a first key",
					  si->t->path);
		return false;
	}
	if (si->data.klen != si->first_len ||
	    memcmp(blk_key(&si->data), si->first, si->first_len)) {
		si->err = LSM_ERR(LSM_ECORRUPT,
				  "%s: first key differs from the manifest's "
				  "smallest key", si->t->path);
		return false;
	}
	return true;
}

/* Places the index cursor bi of table t at its first entry >= ik, as
 * blk_seek does, through the table's summary when it has one. */
static void sst_index_seek(lsm_sst *t, struct blk_iter *bi,
			   const uint8_t *ik, size_t iklen)
{
	size_t ulen = iklen - LSM_TRAILER, pre = t->ipre_len;
	uint32_t lo = 0, hi = t->nblocks, mid, r;
	uint64_t tw;
	int c;

	if (!t->isum || iklen < LSM_TRAILER || bi->err)
		goto slow;
	c = memcmp(ik, t->ipre, ulen < pre ? ulen : pre);
	if (c > 0)
		goto slow; /* after every key: rare, let blk_seek end it */
	if (c == 0 && ulen >= pre) {
		tw = sum_word(ik, ulen, pre);
		while (lo < hi) { /* lo := first word >= tw */
			mid = lo + (hi - lo) / 2;
			if (t->isum[mid] < tw)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (hi = lo; hi < t->nblocks && t->isum[hi] == tw; hi++)
			;
		while (lo < hi) { /* among equal words: whole keys */
			const uint8_t *k;
			size_t klen;

			mid = lo + (hi - lo) / 2;
			if (blk_restart_key(bi, mid, &k, &klen))
				return;
			if (lsm_ikey_cmp_inline(k, klen, ik, iklen) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	} /* else before every key: lo = 0 */
	r = lo;
	if (r >= t->nblocks)
		goto slow;
	bi->valid = false;
	blk_seek_restart(bi, r);
	blk_parse_next(bi);
	return;
slow:
	blk_seek(bi, ik, iklen);
}

/* Would a seek to ik land lazily on the first entry? */
static inline bool si_before_first(const struct sst_iter *si,
				   const uint8_t *ik, size_t iklen)
{
	return si->first &&
	       lsm_ikey_cmp_inline(ik, iklen, si->first, si->first_len) <= 0;
}

/* Asks for every line of mapped block contents p[size]: the restart
 * array at the end first (the seek reads it first), then the entries.
 * Measured (seekrandom after fillrandom+overwrite, 1M keys, 4 KiB
 * blocks): the whole block beat the end alone, the end with the first
 * and middle lines, and every other line, by 10-20%. */
static void sst_prefetch_block(const uint8_t *p, size_t size)
{
	/* a block made large by one large value: its first lines only */
	size_t n = size < 16384 ? size : 16384;

	__builtin_prefetch(p + size - 1);
	for (size_t o = 0; o < n; o += 64)
		__builtin_prefetch(p + o);
}

/* The index search of the seek to ik that follows, and a prefetch of the
 * data block it names when the table is mapped (lsm_iiter_ops.prepare). */
static void si_prepare(struct lsm_iiter *it, const uint8_t *ik, size_t iklen)
{
	struct sst_iter *si = (struct sst_iter *)it;
	const uint8_t *p, *end;
	uint64_t off, size;

	si->lazy = si->prepared = false;
	if (si->err || si_before_first(si, ik, iklen))
		return;
	sst_index_seek(si->t, &si->index, ik, iklen);
	si->prepared = true;
	if (!si->t->map || !si->index.valid)
		return;
	p = si->index.val;
	end = p + si->index.vlen;
	/* a bad handle is reported by the seek (si_load_block) */
	if (!lsm_varint_get(&p, end, &off) && !lsm_varint_get(&p, end, &size) &&
	    !sst_check_handle(si->t, off, size))
		sst_prefetch_block(si->t->map + off, (size_t)size);
}

static void si_seek(struct lsm_iiter *it, const uint8_t *ik, size_t iklen)
{
	struct sst_iter *si = (struct sst_iter *)it;
	bool prepared = si->prepared;

	si->lazy = si->prepared = false;
	if (si->err)
		return;
	if (si_before_first(si, ik, iklen)) {
		si->lazy = true;
		return;
	}
	if (!prepared)
		sst_index_seek(si->t, &si->index, ik, iklen);
	si_load_block(si);
	if (si->blk.data && !si->err)
		blk_seek(&si->data, ik, iklen);
	si_skip(si, true);
}

static void si_next(struct lsm_iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	if (!si_unlazy(si))
		return;
	blk_next(&si->data);
	si_skip(si, true);
}

static void si_prev(struct lsm_iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	if (!si_unlazy(si))
		return;
	blk_prev(&si->data);
	si_skip(si, false);
}

static const uint8_t *si_key(struct lsm_iiter *it, size_t *len)
{
	struct sst_iter *si = (struct sst_iter *)it;

	if (si->lazy) {
		*len = si->first_len;
		return si->first;
	}
	*len = si->data.klen;
	return blk_key(&si->data);
}

/* A lazy iterator reads its block here; if that fails, the iterator is no
 * longer valid (status tells why) and the value is empty. */
static const uint8_t *si_value(struct lsm_iiter *it, size_t *len)
{
	struct sst_iter *si = (struct sst_iter *)it;

	if (!si_unlazy(si)) {
		*len = 0;
		return (const uint8_t *)"";
	}
	*len = si->data.vlen;
	return si->data.val;
}

static int si_status(struct lsm_iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	si_ok(si);
	return si->err;
}

static void si_fini(struct sst_iter *si)
{
	si_drop_block(si);
	blk_key_free(&si->index);
	blk_key_free(&si->data);
	lsm_sst_unref(si->t);
}

static void si_destroy(struct lsm_iiter *it)
{
	struct sst_iter *si = (struct sst_iter *)it;

	si_fini(si);
	free(si);
}

/* The destroy of an iterator placed by lsm_sst_iter_at: its memory is
 * the caller's. */
static void si_destroy_at(struct lsm_iiter *it)
{
	si_fini((struct sst_iter *)it);
}

/* The two kinds differ only in who owns the iterator's memory. */
#define SST_ITER_OPS(destroy_fn)                                          \
	{                                                                 \
		.valid = si_valid, .first = si_first, .last = si_last,    \
		.seek = si_seek, .next = si_next, .prev = si_prev,        \
		.key = si_key, .value = si_value, .status = si_status,    \
		.destroy = (destroy_fn), .prepare = si_prepare,           \
	}
static const struct lsm_iiter_ops sst_iter_ops = SST_ITER_OPS(si_destroy);
static const struct lsm_iiter_ops sst_iter_at_ops = SST_ITER_OPS(si_destroy_at);

/* Sets up si over t (taking a new reference on t). */
static void si_init(struct sst_iter *si, lsm_sst *t)
{
	memset(si, 0, sizeof(*si));
	si->base.ops = &sst_iter_ops;
	lsm_sst_ref(t);
	si->t = t;
	/* The index was checked at open; blk_init cannot fail here. */
	si->err = blk_init(&si->index, t, t->index_off, t->index->data,
			   t->index->size);
}

int lsm_sst_iter(lsm_sst *t, struct lsm_iiter **out)
{
	struct sst_iter *si;

	*out = NULL;
	if (!(si = malloc(sizeof(*si))))
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	si_init(si, t);
	*out = &si->base;
	return LSM_OK;
}

size_t lsm_sst_iter_size(void)
{
	return sizeof(struct sst_iter);
}

struct lsm_iiter *lsm_sst_iter_at(lsm_sst *t, void *mem)
{
	struct sst_iter *si = mem;

	si_init(si, t);
	si->base.ops = &sst_iter_at_ops;
	return &si->base;
}

void lsm_sst_iter_first_key(struct lsm_iiter *it, const uint8_t *k,
			    size_t klen)
{
	struct sst_iter *si = (struct sst_iter *)it;

	assert(it->ops == &sst_iter_ops || it->ops == &sst_iter_at_ops);
	si->lazy = false;
	si->first = klen >= LSM_TRAILER ? k : NULL;
	si->first_len = si->first ? klen : 0;
}

/* ---- point lookups and verification ---------------------------------- */

int lsm_sst_get(lsm_sst *t, const uint8_t *ik, size_t iklen, bool *found,
		int *kind, struct lsm_buf *val, uint64_t *bloom_skip)
{
	struct sst_iter si;
	size_t ulen = iklen - LSM_TRAILER, klen;
	const uint8_t *k;
	int rc = LSM_OK;

	*found = false;
	if (iklen < LSM_TRAILER)
		return LSM_ERR(LSM_EINVAL, "short internal key");
	if (t->filter && !bloom_may_match(t->filter->data, t->filter->size,
					  ik, ulen)) {
		if (bloom_skip)
			(*bloom_skip)++;
		return LSM_OK;
	}
	si_init(&si, t);
	si_seek(&si.base, ik, iklen);
	if ((rc = si_status(&si.base)) || !si_valid(&si.base))
		goto out;
	k = si_key(&si.base, &klen);
	if (lsm_ukey_cmp(k, klen - LSM_TRAILER, ik, ulen) != 0)
		goto out;
	*kind = lsm_ikey_kind(k, klen);
	if (*kind == LSM_KIND_VAL)
		rc = lsm_buf_set(val, si.data.val, si.data.vlen);
	else
		lsm_buf_clear(val);
	if (!rc)
		*found = true;
out:
	si_fini(&si);
	return rc;
}

/* Called by verify for each entry of a walk from blk_first: the restart
 * array must list exactly the entries that share nothing with the one
 * before, the first at offset 0, in order (*ri counts those met), since
 * seeks and backward steps trust it.  A bad array is LSM_ECORRUPT. */
static int blk_check_restart(struct blk_iter *bi, uint32_t *ri)
{
	const uint8_t *p = bi->data + bi->cur;
	uint64_t shared;

	if (blk_restart(bi, 0) != 0)
		return blk_corrupt(bi, "first restart point not at 0");
	if (*ri >= bi->nrestarts || blk_restart(bi, *ri) > bi->cur)
		return LSM_OK;
	if (blk_restart(bi, *ri) < bi->cur)
		return blk_corrupt(bi, "restart point inside an entry");
	if (lsm_varint_get(&p, bi->data + bi->limit, &shared) || shared)
		return blk_corrupt(bi, "restart entry shares a key prefix");
	(*ri)++;
	return LSM_OK;
}

/* After the walk: every restart point was met (an empty block has the
 * one at 0). */
static int blk_check_restarts_done(struct blk_iter *bi, uint32_t ri)
{
	if (bi->err)
		return bi->err;
	if (ri == bi->nrestarts ||
	    (ri == 0 && bi->limit == 0 && bi->nrestarts == 1 &&
	     blk_restart(bi, 0) == 0))
		return LSM_OK;
	return blk_corrupt(bi, "restart point past the last entry");
}

/* Walks every entry of one data block, checking key order across the
 * table (prev holds the last key seen), the restart array, and that the
 * block ends with its index key; counts entries into *entries. */
static int verify_block(lsm_sst *t, uint64_t off, uint64_t size,
			const struct blk_iter *ix, struct lsm_buf *prev,
			uint64_t *entries)
{
	struct lsm_block *b = NULL;
	struct blk_iter bi = {0};
	uint32_t ri = 0;
	int rc;

	if ((rc = sst_read_raw(t, off, size, &b)) ||
	    (rc = blk_init(&bi, t, off, b->data, b->size)))
		goto out;
	for (blk_first(&bi); bi.valid; blk_next(&bi)) {
		if (prev->len && lsm_ikey_cmp(prev->data, prev->len,
					      blk_key(&bi), bi.klen) >= 0) {
			rc = blk_corrupt(&bi, "keys out of order");
			goto out;
		}
		if ((rc = blk_check_restart(&bi, &ri)) ||
		    (rc = lsm_buf_set(prev, blk_key(&bi), bi.klen)))
			goto out;
		(*entries)++;
	}
	if ((rc = blk_check_restarts_done(&bi, ri)))
		goto out;
	if (!prev->len || lsm_ikey_cmp(prev->data, prev->len, blk_key(ix),
				       ix->klen) != 0)
		rc = blk_corrupt(&bi, "last key differs from the index");
out:
	blk_key_free(&bi);
	if (b)
		lsm_block_unref(b);
	return rc;
}

/* Reads every block from disk (bypassing the cache, which may hold a good
 * copy of a block that has since gone bad) and checks it. */
int lsm_sst_verify(lsm_sst *t)
{
	struct blk_iter ix = {0};
	struct lsm_buf prev = {0};
	uint64_t entries = 0;
	uint32_t ri = 0;
	int rc;

	if ((rc = blk_init(&ix, t, t->index_off, t->index->data,
			   t->index->size)))
		goto out;
	for (blk_first(&ix); ix.valid; blk_next(&ix)) {
		const uint8_t *p = ix.val, *end = p + ix.vlen;
		uint64_t off, size;
		if ((rc = blk_check_restart(&ix, &ri)))
			goto out;
		if (lsm_varint_get(&p, end, &off) ||
		    lsm_varint_get(&p, end, &size) || p != end) {
			rc = blk_corrupt(&ix, "bad block handle");
			goto out;
		}
		if ((rc = verify_block(t, off, size, &ix, &prev,
				       &entries)))
			goto out;
	}
	if ((rc = blk_check_restarts_done(&ix, ri)))
		goto out;
	if (entries != t->entries)
		rc = LSM_ERR(LSM_ECORRUPT,
			     "%s: %llu entries, the footer says %llu",
			     t->path, (unsigned long long)entries,
			     (unsigned long long)t->entries);
out:
	blk_key_free(&ix);
	lsm_buf_free(&prev);
	return rc;
}
