/*
 * lsm.h — the public API of the lsm store.
 *
 * An embedded, ordered key-value store built as a log-structured merge
 * tree: writes go to a write-ahead log (one CBOR record per batch in a
 * CRC32C frame) and an arena-allocated skiplist memtable; full memtables
 * are flushed to immutable sorted tables (SSTables) that a background
 * thread compacts level by level.  The store knows nothing of files or
 * FUSE; lsmfs (fs/) is its first user.
 *
 * Conventions
 *   - Every call returns LSM_OK (0) or a negative LSM_E* code;
 *     lsm_strerror() names each code and lsm_last_error() gives the
 *     detailed message (file, offset) of the last error raised on the
 *     calling thread.
 *   - Keys are byte strings of 1..LSM_MAX_KEY bytes, values of
 *     0..LSM_MAX_VALUE bytes, compared with memcmp (shorter first on a tie).
 *   - Pointers that a call hands out say whether they are borrowed (valid
 *     until some later event) or owned by the caller (freed how).
 *
 * Durability (what each mode promises)
 *   - Default (flags 0): when lsm_put/lsm_delete/lsm_write returns LSM_OK
 *     the batch is in the write-ahead log in the operating system's page
 *     cache.  It survives a crash or kill -9 of the process, not a power
 *     cut or kernel crash.
 *   - LSM_SYNC on a write, or lsm_sync(): when it returns LSM_OK, that
 *     write and every write acknowledged before it are on stable storage
 *     (fdatasync of the log) and survive a power cut.
 *   - Batches are atomic in every mode: after any crash a batch is either
 *     wholly present or wholly absent, and the writes present are a prefix
 *     of the acknowledged order.
 *
 * Threads: an lsm_db may be used by any number of threads at once.  An
 * lsm_batch, lsm_iter or lsm_snapshot belongs to one thread at a time.
 */
#ifndef LSM_H
#define LSM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
enum {
	LSM_OK = 0,
	LSM_ENOMEM = -1,    /* out of memory */
	LSM_EIO = -2,       /* an I/O call failed */
	LSM_ECORRUPT = -3,  /* a checksum or format check failed */
	LSM_ENOTFOUND = -4, /* no such key (or no such file, from an env) */
	LSM_EBUSY = -5,     /* the store is locked by another process */
	LSM_EINVAL = -6,    /* bad argument */
	LSM_ENOSPC = -7,    /* no space left on the device */
	LSM_EVERSION = -8,  /* a file has a newer format version */
	LSM_EREADONLY = -9, /* an earlier background or I/O error stopped writes */
	LSM_EEXIST = -10,   /* the store exists and error_if_exists was set */
};

#define LSM_MAX_KEY (16 * 1024)
#define LSM_MAX_VALUE (64u * 1024 * 1024)
#define LSM_MAX_LEVELS 7

/* Write flags. */
#define LSM_SYNC 1 /* make this write (and all before it) durable */
/* The write frees space (deletions): it may use the space the store keeps
 * free for flushes and compaction (lsm_options.reserve_bytes), which other
 * writes meet as LSM_ENOSPC. */
#define LSM_RESERVE 2

typedef struct lsm_db lsm_db;
typedef struct lsm_batch lsm_batch;
typedef struct lsm_iter lsm_iter;
typedef struct lsm_snapshot lsm_snapshot;
typedef struct lsm_env lsm_env;
typedef struct lsm_file lsm_file;

/* ---------------------------------------------------------------------
 * The I/O interface.  Every file operation of the store goes through an
 * lsm_env: the POSIX one, or a fault-injecting one in tests.  Each call
 * returns LSM_OK or a code (ENOSPC maps to LSM_ENOSPC, ENOENT to
 * LSM_ENOTFOUND, anything else to LSM_EIO) and sets lsm_last_error().
 */
#define LSM_O_READ 1   /* open an existing file for reading */
#define LSM_O_CREATE 2 /* create or truncate a file for appending */
#define LSM_O_APPEND 4 /* open an existing file, append at its end */

struct lsm_env {
	int (*open)(lsm_env *env, const char *path, int flags, lsm_file **out);
	/* Reads up to n bytes at off; *nread < n only at end of file. */
	int (*read)(lsm_env *env, lsm_file *f, uint64_t off, void *buf,
		    size_t n, size_t *nread);
	/* Optional: NULL when the env cannot map files (the store then reads
	 * them).  Maps the first size bytes of f, a file opened with
	 * LSM_O_READ, read-only into memory: *addr is valid until unmap and
	 * shows the file's bytes as they are, so only files that never change
	 * may be mapped (the store maps finished tables), and a file cut
	 * short underneath makes a read of the lost pages fault (SIGBUS).
	 * Any error leaves nothing mapped and the caller reads instead. */
	int (*map)(lsm_env *env, lsm_file *f, uint64_t size,
		   const void **addr);
	/* Undoes map(f, size) before f is closed. */
	int (*unmap)(lsm_env *env, lsm_file *f, const void *addr,
		     uint64_t size);
	/* Writes n bytes at the end of f (opened with LSM_O_CREATE or
	 * LSM_O_APPEND); ends f's append window, if any.  On failure the
	 * file is cut back to its old end when possible. */
	int (*append)(lsm_env *env, lsm_file *f, const void *buf, size_t n);
	/* Optional, in pairs: NULL when the env cannot write files through a
	 * mapping (the store then appends).  map_append opens an append
	 * window: it preallocates the size bytes after the end of f (a file
	 * opened for writing), so that writing them cannot meet a full
	 * disk, and maps them writable at *addr, shared with the file.  The
	 * bytes written there join the file, after its end, only as commit
	 * says: commit(f, n) appends the next n bytes of the window (the
	 * first commit starts at *addr, each next one where the previous
	 * ended; at most size in all).  Committed bytes are in the page
	 * cache at once (they survive the death of the process) and durable
	 * after sync, as appended ones.  A new map_append, an append, a
	 * truncate or the close of f ends the window (the caller must not
	 * touch *addr after that); close also cuts the preallocated bytes
	 * that nothing committed, so a closed file ends at its end.  Until
	 * then, and after a crash, the file may have zeros after its end.
	 * map_append fails with LSM_ENOSPC when the disk cannot hold size
	 * bytes, leaving the file as it was and no window; on any error
	 * the caller may append instead. */
	int (*map_append)(lsm_env *env, lsm_file *f, size_t size, void **addr);
	int (*commit)(lsm_env *env, lsm_file *f, size_t n);
	int (*sync)(lsm_env *env, lsm_file *f); /* fdatasync */
	/* A reader: the size on disk.  A writer: its end (where the next
	 * append goes), without the zeros of an append window. */
	int (*size)(lsm_env *env, lsm_file *f, uint64_t *size);
	/* Cuts (or extends) f, opened for writing, to size; ends its append
	 * window. */
	int (*truncate)(lsm_env *env, lsm_file *f, uint64_t size);
	int (*close)(lsm_env *env, lsm_file *f);
	int (*rename)(lsm_env *env, const char *from, const char *to);
	int (*remove)(lsm_env *env, const char *path);
	/* Names in dir (no "." or ".."); *names owned: lsm_env_list_free. */
	int (*list)(lsm_env *env, const char *dir, char ***names, size_t *n);
	int (*mkdir)(lsm_env *env, const char *dir); /* LSM_OK if it exists */
	int (*sync_dir)(lsm_env *env, const char *dir);
	/* Exclusive advisory lock on path (created if missing); LSM_EBUSY if
	 * another process holds it.  Released by unlock. */
	int (*lock)(lsm_env *env, const char *path, lsm_file **out);
	int (*unlock)(lsm_env *env, lsm_file *lock);
	/* Free space of the file system holding dir, in bytes. */
	int (*disk_free)(lsm_env *env, const char *dir, uint64_t *nbytes);
	void (*destroy)(lsm_env *env); /* NULL for the static POSIX env */
};

/* The POSIX env: a static object, never destroyed.  It maps tables with
 * mmap, and writes logs through append windows (posix_fallocate, then
 * mmap), unless the environment variable LSM_NO_MMAP is set (then every
 * read is a pread and every write a pwrite). */
lsm_env *lsm_env_posix(void);
void lsm_env_list_free(char **names, size_t n);

/*
 * The fault-injecting env wraps another env (tests and the daemon's
 * crash-test mode).  It counts appends and syncs, can fail the n-th one,
 * and can simulate a power cut: every file keeps only the bytes that a
 * sync made durable (plus, to model torn writes, a random prefix of the
 * rest), and a file created since its directory was last synced vanishes.
 * Renames and removals are taken as durable at once.  Append windows
 * pass through to the base env (when it has them); map_append and commit
 * count as appends (they fail as appends do), committed bytes count as
 * appended ones, and a cut file that had a window may also keep zeros
 * after what survives (the preallocation).
 */
int lsm_fault_env_create(lsm_env *base, lsm_env **out);
/* The n-th append from now (1 = the next) fails with rc (LSM_EIO or
 * LSM_ENOSPC); with sticky set every later append fails too.  n=0 off. */
void lsm_fault_fail_append(lsm_env *env, uint64_t n, int rc, int sticky);
void lsm_fault_fail_sync(lsm_env *env, uint64_t n, int rc, int sticky);
/* Power cut when the n-th sync from now is called (that sync does not
 * happen), or at once when n == 0.  From the cut on, every call fails
 * with LSM_EIO, as if the machine had stopped. */
void lsm_fault_crash_at_sync(lsm_env *env, uint64_t n);
void lsm_fault_crash(lsm_env *env);
int lsm_fault_crashed(lsm_env *env);
/* After the store is closed: cut every file to what survives the power
 * cut (seed picks the torn prefix kept of unsynced bytes) and let the env
 * work again. */
int lsm_fault_apply_crash(lsm_env *env, uint64_t seed);
/* The same cut at once, with the store's files still open (for a process
 * about to _exit: the daemon's test-only power-cut mode).  Cuts the power
 * first if needed; the env stays crashed (every call fails but close and
 * unlock).  Returns the first error of the base env. */
int lsm_fault_apply_crash_now(lsm_env *env, uint64_t seed);
void lsm_fault_counts(lsm_env *env, uint64_t *appends, uint64_t *syncs);

/* ---------------------------------------------------------------------
 * Opening and closing.
 */
struct lsm_options {
	lsm_env *env;             /* NULL: lsm_env_posix() */
	int create_if_missing;    /* default 1 */
	int error_if_exists;      /* default 0 */
	int salvage;              /* open past a corrupt WAL record, keeping
				     what precedes it (default 0: fail) */
	size_t write_buffer_size; /* memtable size, default 4 MiB */
	size_t block_size;        /* SSTable data block, default 4 KiB */
	size_t block_cache_size;  /* default 8 MiB */
	int max_open_tables;      /* table cache, default 500 */
	int bloom_bits_per_key;   /* default 10; 0 = no filter */
	size_t target_file_size;  /* SSTable size goal, default 2 MiB */
	uint64_t level1_max_bytes; /* default 10 MiB, x10 per level */
	int l0_compact_trigger;   /* default 4 */
	int l0_slowdown_trigger;  /* default 12 (LevelDB 8, RocksDB 20) */
	int l0_stop_trigger;      /* default 20 (LevelDB 12, RocksDB 36) */
	int sync_writes;          /* every write as if LSM_SYNC (default 0) */
	int no_background;        /* tests: flush/compact only on demand */
	/* Free disk space kept for flushes, compaction and LSM_RESERVE
	 * writes: once the disk's free space falls below it, other writes
	 * fail with LSM_ENOSPC.  0: max(16 MiB, 4 write buffers). */
	uint64_t reserve_bytes;
	/* SST partitioning (RocksDB's SstPartitioner), 0 = off (default).
	 * With n > 0, flushes and compactions cut their output tables where
	 * the first n bytes of the user key change (keys shorter than n
	 * count whole), so keys of different prefixes never share a table.
	 * A sequential load under one prefix (lsmfs's chunk keys, 'C',
	 * with n = 1) then makes tables that overlap nothing: flushes place
	 * them below level 0 and compaction moves them down a level without
	 * rewriting them, while updates under other prefixes (metadata)
	 * compact among themselves.  More, smaller tables when prefixes
	 * interleave finely: choose n so that partitions are large.  May
	 * change between opens (tables written before are cut from then
	 * on, by the compactions that rewrite them). */
	int partition_prefix_len;
};

void lsm_options_init(struct lsm_options *opt);

/* Opens (or creates) the store in directory dir.  *out is owned: close it
 * with lsm_close.  Errors: LSM_EBUSY (another process has it open),
 * LSM_ECORRUPT (lsm_last_error() names the file and offset),
 * LSM_EVERSION, LSM_ENOTFOUND (missing and !create_if_missing),
 * LSM_EEXIST, LSM_EIO, LSM_ENOMEM. */
int lsm_open(const char *dir, const struct lsm_options *opt, lsm_db **out);

/* Waits for background work, syncs the log and frees the store.  Returns
 * the first error that stopped the store, if any; db is freed anyway. */
int lsm_close(lsm_db *db);

/* ---------------------------------------------------------------------
 * Writes.
 */
int lsm_put(lsm_db *db, const void *key, size_t klen, const void *val,
	    size_t vlen, int flags);
int lsm_delete(lsm_db *db, const void *key, size_t klen, int flags);

/* A batch of puts and deletes applied all-or-nothing, in order. */
int lsm_batch_create(lsm_batch **out);
void lsm_batch_destroy(lsm_batch *b);
void lsm_batch_clear(lsm_batch *b); /* keeps its buffer for reuse */
int lsm_batch_put(lsm_batch *b, const void *key, size_t klen,
		  const void *val, size_t vlen);
int lsm_batch_delete(lsm_batch *b, const void *key, size_t klen);
uint32_t lsm_batch_count(const lsm_batch *b);
/* Applies b atomically; b is left as it was (clear it to reuse it). */
int lsm_write(lsm_db *db, lsm_batch *b, int flags);

/* Makes every write acknowledged so far durable. */
int lsm_sync(lsm_db *db);

/* ---------------------------------------------------------------------
 * Reads.
 */

/* A read view pinned at the current sequence number.  Owned: release it
 * with lsm_snapshot_release before lsm_close. */
int lsm_snapshot_get(lsm_db *db, lsm_snapshot **out);
void lsm_snapshot_release(lsm_db *db, lsm_snapshot *snap);

/* Looks key up in snap (NULL: the latest).  On LSM_OK *val is owned by
 * the caller (free() it; NULL when *vlen is 0 is allowed).  LSM_ENOTFOUND
 * when there is no such key. */
int lsm_get(lsm_db *db, const lsm_snapshot *snap, const void *key,
	    size_t klen, void **val, size_t *vlen);

/* An iterator over a consistent view (snap, or the latest when NULL).
 * Owned: lsm_iter_close before lsm_close.  Key and value pointers are
 * borrowed until the next move or close. */
int lsm_iter_open(lsm_db *db, const lsm_snapshot *snap, lsm_iter **out);
void lsm_iter_close(lsm_iter *it);
void lsm_iter_first(lsm_iter *it);
void lsm_iter_last(lsm_iter *it);
void lsm_iter_seek(lsm_iter *it, const void *key, size_t klen); /* >= */
void lsm_iter_next(lsm_iter *it);
void lsm_iter_prev(lsm_iter *it);
int lsm_iter_valid(const lsm_iter *it);
const void *lsm_iter_key(const lsm_iter *it, size_t *klen);
const void *lsm_iter_value(const lsm_iter *it, size_t *vlen);
/* LSM_OK, or the error that made the iterator stop early. */
int lsm_iter_status(const lsm_iter *it);

/* ---------------------------------------------------------------------
 * Maintenance and statistics.
 */

/* Writes the memtable to an SSTable and waits until it is installed. */
int lsm_flush(lsm_db *db);
/* Starts the memtable's flush and returns without waiting for it (it may
 * wait for an earlier flush still running).  Deletions free space only
 * once flushed and compacted with what they hide: a caller that deleted
 * much (a big file) calls this to get the space back soon. */
int lsm_flush_start(lsm_db *db);
/* Compacts every level holding keys in [start, end] (NULL = unbounded)
 * down until they sit in one level; waits. */
int lsm_compact_range(lsm_db *db, const void *start, size_t slen,
		      const void *end, size_t elen);

struct lsm_stats {
	uint64_t user_bytes;       /* key + value bytes given to writes */
	uint64_t writes;           /* batches written */
	uint64_t wal_bytes;        /* bytes appended to logs */
	uint64_t wal_records;      /* log records (one per group commit) */
	uint64_t wal_syncs;
	uint64_t flush_bytes;      /* SSTable bytes written by flushes */
	uint64_t compact_bytes_read;
	uint64_t compact_bytes_written;
	uint64_t flushes;
	uint64_t compactions;
	uint64_t slowdowns;        /* writes delayed 1 ms for level 0 */
	uint64_t stalls;           /* writes that waited for a flush or
				      for level 0 to drain */
	uint64_t stall_us;         /* time spent in those waits */
	uint64_t cache_hits, cache_misses;
	uint64_t bloom_skips;      /* table reads a bloom filter avoided */
	uint64_t mem_bytes;        /* arena bytes of live memtables */
	int files[LSM_MAX_LEVELS];
	uint64_t level_bytes[LSM_MAX_LEVELS];
	uint64_t last_seq;
};
int lsm_stats_get(lsm_db *db, struct lsm_stats *st);

/* Total size of the store's live files (SSTables and logs), in bytes. */
uint64_t lsm_disk_usage(lsm_db *db);

/* ---------------------------------------------------------------------
 * Errors.
 */
const char *lsm_strerror(int rc);
/* The detailed message of the last error raised on this thread (a
 * thread-local buffer: borrowed until the next error on this thread). */
const char *lsm_last_error(void);

/* ---------------------------------------------------------------------
 * Verification (check.c).
 *
 * lsm_check reads CURRENT and the manifest it names, every block of every
 * live SSTable (from disk, no cache) and every frame of every log still
 * needed (decoded, not applied), and checks every checksum and format
 * rule.  It only reads: it takes no lock and changes nothing, so it may
 * run on a store that another process has open (files that a compaction
 * removes meanwhile are skipped, not reported).
 *
 * Each problem is one line "FILE: what at offset N" given to problem():
 * error 1 for damage, 0 for a note (a torn log tail, which the next open
 * drops as a crash leaves it).  progress() gets the bytes read so far and
 * the total to read (the total may grow), after each file and every MiB.
 * The line is borrowed for the call only.
 */
struct lsm_check_opts {
	lsm_env *env; /* NULL: lsm_env_posix() */
	void (*problem)(void *ctx, int error, const char *line);
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};
struct lsm_check_report {
	uint64_t files;       /* files read: the manifest, tables, logs */
	uint64_t tables, logs;
	uint64_t log_records; /* good log records */
	uint64_t bytes;       /* bytes checked */
	uint64_t errors;      /* damage found (lines given with error 1) */
	uint64_t log_errors;  /* of which in logs (lsm_options.salvage
				 opens past them, dropping the rest) */
	uint64_t notes;       /* lines given with error 0 */
	uint64_t vanished;    /* live files removed by the store meanwhile */
};
/* Returns LSM_OK when the check ran (whatever it found: see rep->errors;
 * a bad CURRENT or manifest is an error found, after which nothing else
 * can be checked), LSM_ENOTFOUND when dir holds no store (no CURRENT),
 * LSM_ENOMEM, or LSM_EIO when dir cannot be listed. */
int lsm_check(const char *dir, const struct lsm_check_opts *o,
	      struct lsm_check_report *rep);

#ifdef __cplusplus
}
#endif
#endif /* LSM_H */
