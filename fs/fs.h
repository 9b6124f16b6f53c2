/*
 * fs.h — the filesystem's private header, one banner per source file, so
 * that it reads as the table of contents of fs/.
 *
 *   schema.c  keys and records: key builders, CBOR encoders/decoders of
 *             the superblock, inode and directory-entry records, and the
 *             one map from store codes to errnos
 *   super.c   opening/creating a store as a filesystem, the superblock,
 *             inode-number allocation, orphan clean-up, statfs, close
 *   inode.c   the in-memory inode table: lookup counts, references,
 *             per-inode lock, attributes, eviction of unlinked inodes
 *   dir.c     namespace operations: lookup, create (mknod, mkdir,
 *             symlink), link, unlink, rmdir, rename, readdir
 *   file.c    data: open, read, write buffer, flush, truncate/setattr,
 *             fallocate, lseek, fsync
 *   xattr.c   extended attributes
 *   ops.c     the fuse_lowlevel_ops table: thin handlers replying once
 *   main.c    the lsmfs command
 *   faultmode.c  test-only power-cut mode (LSMFS_TEST_POWERCUT)
 *
 * Every helper outside ops.c and main.c returns 0 or a positive errno and
 * knows nothing of fuse_req_t, so that unit tests call them without a
 * mount.  fs/ includes only "lsm.h" of the store.
 *
 * Locks: several fs_inode.mu are taken in ascending inode-number order;
 * fs->table_mu, fs->ino_mu and fs->batch_mu are leaves (nothing is locked while they
 * are held, so taking them with inode locks held cannot deadlock); a
 * directory handle's mu is taken before inode locks.  No store call is
 * made under fs->table_mu (fs->ino_mu covers one superblock put per
 * FS_INO_RESERVE creates).  Directory entries are not
 * locked here: the kernel serializes create/unlink/rename in a directory
 * (the directory's i_rwsem, and s_vfs_rename_mutex across directories),
 * so an entry read under the inode locks of the parent does not change
 * until they are released.
 */
#ifndef FS_H
#define FS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "lsm.h"

#define FS_NAME_MAX 255          /* bytes of one file name */
#define FS_XATTR_NAME_MAX 255    /* bytes of one xattr name */
#define FS_XATTR_SIZE_MAX 65536  /* bytes of one xattr value */
#define FS_SYMLINK_MAX 4095      /* bytes of a symlink target */
#define FS_CHUNK_DEFAULT (64u * 1024)
#define FS_CHUNK_MIN 4096u
#define FS_CHUNK_MAX (4u * 1024 * 1024)
#define FS_ROOT_INO 1            /* FUSE_ROOT_ID */
#define FS_INO_RESERVE 1024      /* inode numbers reserved per superblock write */
/* The store's memory when mounted (scripts/bench.sh reads these two lines
 * for its memory budget): the memtable size (-o write_buffer= overrides;
 * up to two memtables are in memory, one filling and one being flushed)
 * and the block cache.  A large memtable means few flushes, few level-0
 * tables and long runs of chunks per table; the default shrinks on a
 * small disk or machine (super.c: default_write_buffer), never below
 * FS_WRITE_BUFFER_MIN. */
#define FS_WRITE_BUFFER_DEFAULT (64u << 20)
#define FS_WRITE_BUFFER_MIN (4u << 20)
#define FS_BLOCK_CACHE_DEFAULT (8u << 20)

/* Durability modes (-o sync=). */
enum fs_sync_mode {
	FS_SYNC_NONE = 0,   /* fsync does not sync the store */
	FS_SYNC_FSYNC = 1,  /* fsync/fsyncdir call lsm_sync (default) */
	FS_SYNC_ALWAYS = 2, /* every write batch is LSM_SYNC */
};

/* ======================================================================
 * schema.c
 *
 * Keys (integers big-endian, so key order is numeric order):
 *   "S"                         superblock
 *   "I" ino:u64                 inode record
 *   "D" parent:u64 name         directory entry
 *   "C" ino:u64 index:u64       data chunk (absent = hole)
 *   "X" ino:u64 name            extended attribute value (raw bytes)
 *   "O" ino:u64                 orphan (empty value)
 * The records are described byte by byte at the top of schema.c and in
 * docs/FORMAT-fs.md.
 */
#define FS_FORMAT_VERSION 1
#define FS_KEY_MAX (1 + 8 + 8 + FS_NAME_MAX + 1)
#define FS_INODE_REC_MAX (160 + FS_SYMLINK_MAX)

#define FS_K_SUPER 'S'
#define FS_K_INODE 'I'
#define FS_K_DIRENT 'D'
#define FS_K_CHUNK 'C'
#define FS_K_XATTR 'X'
#define FS_K_ORPHAN 'O'

/* The attributes of an inode, as stored and as kept in memory. */
struct fs_attr {
	uint64_t ino;
	uint32_t mode, uid, gid, nlink;
	uint64_t size;
	uint64_t rdev;
	uint64_t gen;
	uint64_t parent;  /* directories: the containing directory */
	uint64_t stored;  /* regular files: bytes held in chunk values */
	int64_t atime, mtime, ctime;
	uint32_t atime_ns, mtime_ns, ctime_ns;
};

/* A decoded inode record; target borrows from the decoded buffer. */
struct fs_inode_rec {
	struct fs_attr a;
	const uint8_t *target;
	size_t target_len;
};

struct fs_super_rec {
	uint32_t version;
	uint8_t uuid[16];
	uint32_t chunk_size;
	uint64_t next_ino; /* every inode number below it may be in use */
};

/* Key builders: write into k (FS_KEY_MAX bytes) and return the length. */
size_t fs_key_super(uint8_t *k);
size_t fs_key_inode(uint8_t *k, uint64_t ino);
size_t fs_key_dirent(uint8_t *k, uint64_t parent, const char *name, size_t nlen);
size_t fs_key_chunk(uint8_t *k, uint64_t ino, uint64_t idx);
size_t fs_key_xattr(uint8_t *k, uint64_t ino, const char *name, size_t nlen);
size_t fs_key_orphan(uint8_t *k, uint64_t ino);
/* The 9-byte prefix tag:u8 ino:u64 of an inode's dirents/chunks/xattrs. */
size_t fs_key_prefix(uint8_t *k, uint8_t tag, uint64_t ino);
uint64_t fs_get_u64be(const uint8_t *p);
void fs_put_u64be(uint8_t *p, uint64_t v);

/* Encoders write into buf (cap bytes) and return the length, or 0 when
 * cap is too small (a bug: callers size buffers with the _MAX above). */
size_t fs_super_encode(const struct fs_super_rec *s, uint8_t *buf, size_t cap);
size_t fs_inode_encode(const struct fs_attr *a, const char *target,
		       size_t target_len, uint8_t *buf, size_t cap);
size_t fs_dirent_encode(uint64_t ino, uint32_t type, uint8_t *buf, size_t cap);

/* Decoders return 0 or EIO for any malformed record (never crash, never
 * allocate).  A superblock of a newer format version gives
 * EPROTONOSUPPORT so that the command can say so. */
int fs_super_decode(const void *buf, size_t n, struct fs_super_rec *s);
int fs_inode_decode(const void *buf, size_t n, struct fs_inode_rec *r);
int fs_dirent_decode(const void *buf, size_t n, uint64_t *ino, uint32_t *type);

/* LSM_* code -> errno: LSM_ENOSPC ENOSPC, LSM_ENOMEM ENOMEM,
 * LSM_ENOTFOUND ENOENT, LSM_EREADONLY EROFS, anything else EIO. */
int fs_errno(int lsm_rc);

/* ======================================================================
 * super.c
 */
struct fs_config {
	const char *store;        /* directory of the store (absolute path) */
	size_t write_buffer_size; /* store memtable, 0: super.c picks */
	uint32_t chunk_size;      /* at creation, 0 = FS_CHUNK_DEFAULT */
	enum fs_sync_mode sync;
	bool ro;
	bool salvage;             /* open past a corrupt log record (-o ro) */
	double entry_timeout, attr_timeout;
	lsm_env *env;             /* NULL: POSIX; the test-only fault env */
};

struct fs_inode;
struct fs_workq;
struct fuse_session;

/* Cleared batches kept for the data path (fs_batch_get). */
#define FS_BATCH_POOL 2

struct fs {
	lsm_db *db;
	struct fs_config cfg;    /* const after fs_open; cfg.store owned */
	uint32_t chunk_size;     /* const: from the superblock */
	uint8_t uuid[16];        /* const */
	int wflags;              /* const: LSM_SYNC with sync=always */
	uint32_t wbuf_chunks;    /* const: chunks an inode may buffer */

	pthread_mutex_t ino_mu;  /* guards next_ino, ino_limit */
	uint64_t next_ino;
	uint64_t ino_limit;      /* next_ino < ino_limit is reserved on disk */

	pthread_mutex_t batch_mu; /* guards the pool of data batches */
	lsm_batch *batches[FS_BATCH_POOL];
	int nbatches;

	pthread_mutex_t table_mu; /* guards the table below, every
				     fs_inode.hnext/nlookup/refs */
	struct fs_inode **buckets;
	size_t nbuckets;
	size_t ninodes;

	/* Bytes of file data deleted since the last flush fs_freed started;
	 * reclaim_bytes (const) is how many start one. */
	_Atomic uint64_t freed;
	uint64_t reclaim_bytes;

	struct fs_workq *wq;     /* ops.c: workers for slow requests; NULL:
				    every request runs inline */
	lsm_env read_env;        /* super.c: the POSIX env without table
				    mappings, when cfg.env is NULL */
	struct fuse_session *se; /* main.c, while mounted: for ops.c's
				    notifications; NULL in unit tests */
};

/* Errors of fs_open, for the command's messages. */
enum fs_open_err {
	FS_OPEN_OK = 0,
	FS_OPEN_BUSY,      /* another process holds the store */
	FS_OPEN_NOTSTORE,  /* not an lsmfs store */
	FS_OPEN_NEWER,     /* newer format version */
	FS_OPEN_CORRUPT,   /* the superblock or the root is unreadable */
	FS_OPEN_SYS,       /* errno-style failure */
};

/* Opens cfg->store, creating the store and the root directory when the
 * directory is missing or empty; deletes leftover orphans.  *out owned:
 * fs_close.  On failure returns an fs_open_err and writes a one-line
 * reason into msg (msglen bytes). */
int fs_open(const struct fs_config *cfg, struct fs **out, char *msg,
	    size_t msglen);
/* Writes out every buffer, purges in-memory orphans, frees the table and
 * closes the store (lsm_close: synced).  Returns 0 or an errno. */
int fs_close(struct fs *fs);
/* Allocates a fresh inode number (never reused). */
int fs_ino_alloc(struct fs *fs, uint64_t *ino);
int fs_statfs(struct fs *fs, struct statvfs *st);
/* fsync/fsyncdir: lsm_sync unless sync=none. */
int fs_sync(struct fs *fs);
/* lsm_write of b with fs->wflags, mapped to an errno. */
int fs_commit(struct fs *fs, lsm_batch *b);
int fs_commit_freeing(struct fs *fs, lsm_batch *b);
/* Notes that n bytes of file data were deleted (committed); once
 * fs->reclaim_bytes add up, starts a flush of the store's memtable, so
 * that the space comes back within seconds, not after the memtable
 * fills with other writes (df after rm).  Errors are ignored: the
 * deletions are committed, the flush is only sooner. */
void fs_freed(struct fs *fs, uint64_t n);
/* An empty batch for the data path, owned until fs_batch_put: from a
 * pool of FS_BATCH_POOL, so that its buffer has grown already (a new
 * batch grows by doubling, copying its contents each time). */
int fs_batch_get(struct fs *fs, lsm_batch **out);
/* Gives b back (NULL is fine): cleared into the pool, or destroyed. */
void fs_batch_put(struct fs *fs, lsm_batch *b);

/* ======================================================================
 * inode.c
 */

/* One dirty chunk of a write buffer. */
struct fs_chunkbuf {
	uint64_t idx;
	uint32_t len;     /* valid bytes from the chunk start */
	uint32_t oldlen;  /* length of the value in the store (0: none) */
	uint8_t *data;    /* chunk_size bytes, owned; zero past len */
};

/*
 * An inode in memory.  It stays in the table while the kernel holds a
 * lookup count or anyone holds a reference (an operation in progress or
 * an open file).  When both reach 0 it is evicted; if its nlink is 0 by
 * then its data, xattrs, record and orphan record are deleted.
 */
struct fs_inode {
	uint64_t ino;              /* const */
	struct fs_inode *hnext;    /* fs->table_mu */
	uint64_t nlookup;          /* fs->table_mu: kernel lookup count */
	uint64_t refs;             /* fs->table_mu: references */
	pthread_mutex_t mu;        /* guards everything below */
	struct fs_attr a;
	char *target;              /* symlink target, owned, NUL-terminated */
	size_t target_len;
	struct fs_chunkbuf *wb;    /* dirty chunks, sorted by idx */
	uint32_t nwb, capwb;
	/* Known to have no "X" key in the store: set for an inode created
	 * by this mount (inode numbers are never reused), cleared when an
	 * xattr is stored.  Lets getxattr (the kernel asks for
	 * security.capability on every write, ls -l for ACLs), listxattr
	 * and the purge skip the store.  false: unknown, ask the store. */
	bool xnone;
};

/* Returns in *out a referenced inode, loading it from the store when it
 * is not in the table.  ENOENT when there is no record.  Release with
 * fs_inode_put. */
int fs_inode_get(struct fs *fs, uint64_t ino, struct fs_inode **out);
/* Takes one more reference on an inode already referenced. */
void fs_inode_ref(struct fs *fs, struct fs_inode *ip);
/* Drops a reference; may evict (and purge an unlinked inode).  No locks
 * held by the caller. */
void fs_inode_put(struct fs *fs, struct fs_inode *ip);
/* Adds a freshly created inode (not yet in the table) with one
 * reference; takes ownership of ip. */
void fs_inode_insert(struct fs *fs, struct fs_inode *ip);
struct fs_inode *fs_inode_new(uint64_t ino);
void fs_inode_free(struct fs_inode *ip);
/* Kernel lookup counts: +1 for every entry replied; forget subtracts. */
void fs_inode_lookup_inc(struct fs *fs, struct fs_inode *ip);
void fs_inode_forget(struct fs *fs, uint64_t ino, uint64_t nlookup);
/* Appends a put of ip's record (ip->mu held) with attributes a. */
int fs_inode_put_rec(lsm_batch *b, const struct fs_attr *a,
		     const struct fs_inode *ip);
/* Deletes every key of an unlinked inode (chunks, xattrs, record,
 * orphan record), in several batches if needed. */
int fs_inode_purge(struct fs *fs, uint64_t ino);
void fs_attr_to_stat(const struct fs_attr *a, struct stat *st);
/* Copies ip's attributes into st (takes ip->mu); st_blocks includes
 * the write buffer. */
void fs_inode_stat(struct fs_inode *ip, struct stat *st);
/* The same with ip->mu held. */
void fs_inode_stat_locked(const struct fs_inode *ip, struct stat *st);
void fs_now(int64_t *sec, uint32_t *nsec);
/* Locks up to n distinct inodes in ascending inode order (NULLs and
 * duplicates skipped); unlock in any order with fs_inode_unlock_n. */
void fs_inode_lock_n(struct fs_inode **ips, int n);
void fs_inode_unlock_n(struct fs_inode **ips, int n);
/* The number of inodes in the table.  The kernel's forget removes an
 * inode nobody uses, so this stays bounded by the inodes the kernel
 * holds (plus open files and operations in progress). */
size_t fs_inode_count(struct fs *fs);
/* Calls fn on every inode in the table with a reference held and no
 * lock (for fs_close). */
void fs_inode_foreach(struct fs *fs, void (*fn)(struct fs *, struct fs_inode *));

/* ======================================================================
 * dir.c
 */
struct fs_ctx {
	uint32_t uid, gid;
};

/* Lookup of name in parent: on success *st is the child's attributes and
 * its lookup count was raised by one. */
int fs_dir_lookup(struct fs *fs, uint64_t parent, const char *name,
		  struct stat *st);
/* Creates name in parent: a regular file, FIFO, device, socket (mknod),
 * directory (S_IFDIR) or symlink (S_IFLNK with target).  Raises the new
 * inode's lookup count; with out non-NULL also returns a reference. */
int fs_dir_create(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent,
		  const char *name, mode_t mode, dev_t rdev,
		  const char *target, struct stat *st, struct fs_inode **out);
int fs_dir_link(struct fs *fs, uint64_t ino, uint64_t newparent,
		const char *newname, struct stat *st);
int fs_dir_unlink(struct fs *fs, uint64_t parent, const char *name);
int fs_dir_rmdir(struct fs *fs, uint64_t parent, const char *name);
/* flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE. */
int fs_dir_rename(struct fs *fs, uint64_t parent, const char *name,
		  uint64_t newparent, const char *newname, unsigned flags);
int fs_dir_readlink(struct fs *fs, uint64_t ino, char *buf, size_t cap);

/*
 * Per-open-directory state.  Entry number pos (0 = the first name after
 * . and ..) is given offset pos + 3, and offset k >= 3 resumes after entry
 * k - 3.  The names of the last FS_DIRH_RING entries given are kept, so
 * that reading on resumes after the right name even while the directory
 * changes (find -delete): the kernel resumes at an entry of its last
 * reply, and a reply sized by a 32 KiB getdents holds about 1,000 short
 * names.  An older offset (seekdir far back) counts k - 2 entries from
 * the start instead.  Memory per open directory is bounded, whatever its
 * size.
 */
#define FS_DIRH_RING 1024
struct fs_dirh {
	pthread_mutex_t mu;
	uint64_t next;                 /* entries given: pos < next */
	char *ring[FS_DIRH_RING];      /* entry pos's name at pos % RING */
	uint64_t ringpos[FS_DIRH_RING];
};
int fs_dir_open(struct fs *fs, uint64_t ino, struct fs_dirh **out);
void fs_dir_close(struct fs_dirh *dh);
/* Called per entry with the offset of the next entry; returns nonzero
 * when the reply buffer is full (the entry was not taken). */
typedef int (*fs_dir_emit)(void *arg, const char *name, const struct stat *st,
			   off_t next_off);
/* Lists ino from off.  plus: st is complete and the lookup count of every
 * entry taken (but . and ..) is raised. */
int fs_dir_read(struct fs *fs, struct fs_dirh *dh, uint64_t ino, off_t off,
		bool plus, fs_dir_emit emit, void *arg);

/* ======================================================================
 * file.c
 */
struct fs_file {
	struct fs_inode *ip; /* referenced while open */
	int flags;
};
int fs_file_open(struct fs *fs, uint64_t ino, int flags, struct fs_file **out);
/* Wraps an inode reference from fs_dir_create (taken). */
int fs_file_wrap(struct fs_inode *ip, int flags, struct fs_file **out);
/* Flushes and drops the reference. */
int fs_file_release(struct fs *fs, struct fs_file *f);
int fs_file_read(struct fs *fs, struct fs_inode *ip, uint64_t off,
		 size_t size, uint8_t *buf, size_t *nread);
/* *nwritten < size only when an error stopped a write midway (then 0
 * is returned for the part written).  killpriv: the writer is not root,
 * so set-user-ID (and set-group-ID if group-executable) is dropped. */
int fs_file_write(struct fs *fs, struct fs_inode *ip, uint64_t off,
		  const uint8_t *buf, size_t size, bool killpriv,
		  size_t *nwritten);
/* Writes ip's buffered chunks out (one batch). */
int fs_file_flush(struct fs *fs, struct fs_inode *ip);
int fs_file_fsync(struct fs *fs, struct fs_inode *ip);
/* to_set: FUSE_SET_ATTR_* bits (fs.h mirrors them as FS_SET_*).  As
 * Linux does, a chown of a non-directory drops set-user-ID (and
 * set-group-ID if group-executable), and so does a truncation by a
 * caller other than root. */
int fs_file_setattr(struct fs *fs, const struct fs_ctx *ctx, uint64_t ino,
		    const struct stat *attr, int to_set, struct stat *out);
int fs_file_fallocate(struct fs *fs, struct fs_inode *ip, int mode,
		      uint64_t off, uint64_t len);
int fs_file_lseek(struct fs *fs, struct fs_inode *ip, uint64_t off,
		  int whence, uint64_t *out);
/* Flush of ip's buffer with ip->mu held. */
int fs_wbuf_flush_locked(struct fs *fs, struct fs_inode *ip);
void fs_wbuf_free(struct fs_inode *ip);

#define FS_SET_MODE (1 << 0)
#define FS_SET_UID (1 << 1)
#define FS_SET_GID (1 << 2)
#define FS_SET_SIZE (1 << 3)
#define FS_SET_ATIME (1 << 4)
#define FS_SET_MTIME (1 << 5)
#define FS_SET_ATIME_NOW (1 << 7)
#define FS_SET_MTIME_NOW (1 << 8)
#define FS_SET_CTIME (1 << 10)

/* ======================================================================
 * xattr.c
 */
/* flags: 0, XATTR_CREATE or XATTR_REPLACE. */
int fs_xattr_set(struct fs *fs, uint64_t ino, const char *name,
		 const void *val, size_t size, int flags);
/* size 0: *len is the value's size.  ERANGE if size is too small. */
int fs_xattr_get(struct fs *fs, uint64_t ino, const char *name, void *buf,
		 size_t size, size_t *len);
int fs_xattr_list(struct fs *fs, uint64_t ino, char *buf, size_t size,
		  size_t *len);
/* The same for the caller ctx (NULL: everything): trusted.* names are
 * left out for callers other than root. */
int fs_xattr_list_for(struct fs *fs, const struct fs_ctx *ctx, uint64_t ino,
		      char *buf, size_t size, size_t *len);
int fs_xattr_remove(struct fs *fs, uint64_t ino, const char *name);
/* The same, telling in *mode_changed whether the inode's mode changed
 * (setting system.posix_acl_access sets the mode): the kernel must then
 * be told (ops.c). */
int fs_xattr_set_m(struct fs *fs, uint64_t ino, const char *name,
		   const void *val, size_t size, int flags, bool *mode_changed);
int fs_xattr_remove_m(struct fs *fs, uint64_t ino, const char *name,
		      bool *mode_changed);
/* chmod of an inode with a stored access ACL: adds to b the ACL with its
 * owner, mask (or group) and other entries set from mode. */
int fs_acl_chmod(struct fs *fs, uint64_t ino, uint32_t mode, lsm_batch *b);

/* ======================================================================
 * fsck.c — lsmfs fsck and lsmfs scrub (what they check: the top of fsck.c)
 */
struct fs_fsck_opts {
	bool repair;
	FILE *out; /* problem lines and the summary; NULL: stdout */
};
struct fs_fsck_result {
	uint64_t found, fixed, left; /* errors: store files and filesystem */
	uint64_t notes;              /* torn log tails, orphans to purge */
	uint64_t inodes, entries, chunks, xattrs;
};
/* Checks (and with o->repair fixes) the unmounted store in directory
 * store.  Returns the exit code: 0 clean, 1 all errors fixed, 4 errors
 * left, 8 operational error (no store, store in use, out of memory; a
 * line on stderr says which). */
int fs_fsck(const char *store, const struct fs_fsck_opts *o,
	    struct fs_fsck_result *res);
/* Verifies every checksum of store's live files without its lock (works
 * while mounted): 0 clean, 4 damage found, 8 operational error.  A
 * progress line goes to stderr when it is a terminal. */
int fs_scrub(const char *store, FILE *out, struct lsm_check_report *rep);
/* `lsmfs fsck ...` / `lsmfs scrub ...`: argv[0] is "fsck" or "scrub".
 * Returns the exit status. */
int fs_fsck_main(int argc, char **argv);

/* ======================================================================
 * ops.c
 */
struct fuse_lowlevel_ops;
extern const struct fuse_lowlevel_ops fs_ops;
/* Starts nworkers threads for the requests that may wait for the disk
 * (fsync, fsyncdir, reads over 64 KiB); libfuse's threads run every
 * other handler.  0 (also for nworkers 0: all inline) or an
 * errno. */
int fs_ops_start(struct fs *fs, int nworkers);
/* Runs what is queued, joins the workers (after the session loop). */
void fs_ops_stop(struct fs *fs);

/* ======================================================================
 * faultmode.c (tests only)
 */
/* With LSMFS_TEST_POWERCUT=SEED in the environment: sets cfg->env to a
 * fault env and starts a thread on which SIGUSR1 cuts the power (every
 * byte not synced is dropped) and _exits.  Call in the daemon's process
 * before any thread starts.  Without the variable does nothing.  0 or an
 * errno (a message printed). */
int fs_faultmode_start(struct fs_config *cfg);

#endif /* FS_H */
