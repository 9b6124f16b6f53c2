/*
 * super.c — a store as a filesystem: open or create it, the superblock,
 * inode-number allocation, orphans left by a crash, statfs, close.
 *
 * Creating writes the superblock and the root directory (inode 1) in one
 * batch, so a store holding no keys at all is a store that was never
 * formatted.  Inode numbers come from fs->next_ino; the superblock's
 * next_ino is kept FS_INO_RESERVE ahead, so that a create writes the
 * superblock only once per FS_INO_RESERVE inodes and a crash merely
 * skips the unused rest of a range.
 */
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs.h"

int fs_commit(struct fs *fs, lsm_batch *b)
{
	return fs_errno(lsm_write(fs->db, b, fs->wflags));
}

/* For changes that free space (unlink, rmdir, rename, truncation, purge):
 * they may use the space the store keeps free, so that a full disk can be
 * emptied. */
int fs_commit_freeing(struct fs *fs, lsm_batch *b)
{
	return fs_errno(lsm_write(fs->db, b, fs->wflags | LSM_RESERVE));
}

void fs_freed(struct fs *fs, uint64_t n)
{
	uint64_t sum = atomic_fetch_add(&fs->freed, n) + n;

	if (sum < fs->reclaim_bytes)
		return;
	atomic_store(&fs->freed, 0);
	(void)lsm_flush_start(fs->db);
}

int fs_batch_get(struct fs *fs, lsm_batch **out)
{
	*out = NULL;
	pthread_mutex_lock(&fs->batch_mu);
	if (fs->nbatches)
		*out = fs->batches[--fs->nbatches];
	pthread_mutex_unlock(&fs->batch_mu);
	return *out ? 0 : fs_errno(lsm_batch_create(out));
}

void fs_batch_put(struct fs *fs, lsm_batch *b)
{
	if (!b)
		return;
	lsm_batch_clear(b);
	pthread_mutex_lock(&fs->batch_mu);
	if (fs->nbatches < FS_BATCH_POOL) {
		fs->batches[fs->nbatches++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&fs->batch_mu);
	lsm_batch_destroy(b);
}

int fs_sync(struct fs *fs)
{
	if (fs->cfg.sync == FS_SYNC_NONE)
		return 0;
	return fs_errno(lsm_sync(fs->db));
}

static int super_write(struct fs *fs, uint64_t next_ino, lsm_batch *b)
{
	struct fs_super_rec s = {FS_FORMAT_VERSION, {0}, fs->chunk_size, next_ino};
	uint8_t k[FS_KEY_MAX], v[128];
	size_t vlen;

	memcpy(s.uuid, fs->uuid, sizeof(s.uuid));
	if (!(vlen = fs_super_encode(&s, v, sizeof(v))))
		return EIO;
	if (b)
		return fs_errno(lsm_batch_put(b, k, fs_key_super(k), v, vlen));
	return fs_errno(lsm_put(fs->db, k, fs_key_super(k), v, vlen, fs->wflags));
}

int fs_ino_alloc(struct fs *fs, uint64_t *ino)
{
	int rc = 0;

	pthread_mutex_lock(&fs->ino_mu);
	if (fs->next_ino >= fs->ino_limit) {
		if ((rc = super_write(fs, fs->ino_limit + FS_INO_RESERVE, NULL)))
			goto out;
		fs->ino_limit += FS_INO_RESERVE;
	}
	*ino = fs->next_ino++;
out:
	pthread_mutex_unlock(&fs->ino_mu);
	return rc;
}

static void make_uuid(uint8_t *u)
{
	FILE *f = fopen("/dev/urandom", "rb");

	if (!f || fread(u, 1, 16, f) != 16) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		for (int i = 0; i < 16; i++)
			u[i] = (uint8_t)((uint64_t)ts.tv_nsec >> (i % 4 * 8) ^ (uint64_t)getpid() >> i);
	}
	if (f)
		fclose(f);
	u[6] = (u[6] & 0x0f) | 0x40; /* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;
}

/* Formats an empty store: superblock and root directory, one batch. */
static int fs_format(struct fs *fs)
{
	struct fs_attr a = {0};
	lsm_batch *b = NULL;
	int rc;

	fs->chunk_size = fs->cfg.chunk_size ? fs->cfg.chunk_size : FS_CHUNK_DEFAULT;
	make_uuid(fs->uuid);
	a.ino = FS_ROOT_INO;
	a.mode = S_IFDIR | 0755;
	a.uid = (uint32_t)getuid();
	a.gid = (uint32_t)getgid();
	a.nlink = 2;
	a.gen = 1;
	a.parent = FS_ROOT_INO;
	fs_now(&a.mtime, &a.mtime_ns);
	a.atime = a.ctime = a.mtime;
	a.atime_ns = a.ctime_ns = a.mtime_ns;
	if ((rc = fs_errno(lsm_batch_create(&b))))
		return rc;
	if ((rc = super_write(fs, FS_ROOT_INO + 1 + FS_INO_RESERVE, b)))
		goto out;
	if ((rc = fs_inode_put_rec(b, &a, NULL)))
		goto out;
	if ((rc = fs_errno(lsm_write(fs->db, b, LSM_SYNC))))
		goto out;
	fs->next_ino = FS_ROOT_INO + 1;
	fs->ino_limit = FS_ROOT_INO + 1 + FS_INO_RESERVE;
out:
	lsm_batch_destroy(b);
	return rc;
}

/* 1 if the store holds at least one key, 0 if none, or -errno. */
static int store_nonempty(lsm_db *db)
{
	lsm_iter *it = NULL;
	int rc;

	if ((rc = lsm_iter_open(db, NULL, &it)))
		return -fs_errno(rc);
	lsm_iter_first(it);
	rc = lsm_iter_valid(it) ? 1 : -fs_errno(lsm_iter_status(it));
	lsm_iter_close(it);
	return rc;
}

/* Deletes the data of every inode an orphan record names. */
static int purge_orphans(struct fs *fs)
{
	uint8_t pre[1] = {FS_K_ORPHAN};
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	lsm_iter *it = NULL;
	int rc;

	if ((rc = fs_errno(lsm_iter_open(fs->db, NULL, &it))))
		return rc;
	for (lsm_iter_seek(it, pre, 1); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t klen;
		const uint8_t *k = lsm_iter_key(it, &klen);

		if (klen != 9 || k[0] != FS_K_ORPHAN)
			break;
		if (n == cap) {
			uint64_t *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv) {
				rc = ENOMEM;
				goto out;
			}
			v = nv;
		}
		v[n++] = fs_get_u64be(k + 1);
	}
	if ((rc = fs_errno(lsm_iter_status(it))))
		goto out;
	lsm_iter_close(it);
	it = NULL;
	for (size_t i = 0; i < n && !rc; i++)
		rc = fs_inode_purge(fs, v[i]);
out:
	lsm_iter_close(it);
	free(v);
	return rc;
}

/* 0 missing/empty directory, 1 non-empty, -1 exists but not a directory,
 * -2 cannot be read. */
static int dir_state(const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (stat(path, &st))
		return errno == ENOENT ? 0 : -2;
	if (!S_ISDIR(st.st_mode))
		return -1;
	if (!(d = opendir(path)))
		return -2;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			r = 1;
			break;
		}
	closedir(d);
	return r;
}

/* Every lsm store has a CURRENT file (lsm/db.c); a non-empty directory
 * without one is somebody else's, and lsm_open (which takes its LOCK
 * file before looking) must not leave anything in it. */
static bool has_current(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/CURRENT", dir);
	return stat(path, &st) == 0;
}

static int load_super(struct fs *fs, char *msg, size_t msglen)
{
	struct fs_super_rec s;
	uint8_t k[FS_KEY_MAX];
	void *val = NULL;
	size_t vlen;
	int rc;

	rc = lsm_get(fs->db, NULL, k, fs_key_super(k), &val, &vlen);
	if (rc == LSM_ENOTFOUND) {
		rc = store_nonempty(fs->db);
		if (rc == 0) {
			if ((rc = fs_format(fs))) {
				snprintf(msg, msglen, "cannot format %s: %s",
					 fs->cfg.store, strerror(rc));
				rc = FS_OPEN_SYS;
			}
			goto out;
		}
		snprintf(msg, msglen, "%s is not an lsmfs store", fs->cfg.store);
		rc = FS_OPEN_NOTSTORE;
		goto out;
	}
	if (rc) {
		snprintf(msg, msglen, "cannot read %s: %s", fs->cfg.store,
			 lsm_strerror(rc));
		rc = FS_OPEN_CORRUPT;
		goto out;
	}
	rc = fs_super_decode(val, vlen, &s);
	if (rc == EPROTONOSUPPORT) {
		snprintf(msg, msglen,
			 "%s has a newer format version than this lsmfs "
			 "supports (%u > %u)", fs->cfg.store, s.version,
			 FS_FORMAT_VERSION);
		rc = FS_OPEN_NEWER;
		goto out;
	}
	if (rc) {
		snprintf(msg, msglen, "%s: the superblock is corrupt",
			 fs->cfg.store);
		rc = FS_OPEN_CORRUPT;
		goto out;
	}
	fs->chunk_size = s.chunk_size;
	memcpy(fs->uuid, s.uuid, sizeof(fs->uuid));
	fs->next_ino = fs->ino_limit = s.next_ino;
out:
	free(val);
	return rc;
}

static struct fs *fs_alloc(const struct fs_config *cfg)
{
	struct fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->cfg = *cfg;
	fs->cfg.store = strdup(cfg->store);
	fs->nbuckets = 1024;
	fs->buckets = calloc(fs->nbuckets, sizeof(*fs->buckets));
	if (!fs->cfg.store || !fs->buckets) {
		free((char *)fs->cfg.store);
		free(fs->buckets);
		free(fs);
		return NULL;
	}
	pthread_mutex_init(&fs->ino_mu, NULL);
	pthread_mutex_init(&fs->batch_mu, NULL);
	pthread_mutex_init(&fs->table_mu, NULL);
	fs->wflags = cfg->sync == FS_SYNC_ALWAYS ? LSM_SYNC : 0;
	return fs;
}

static void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	for (size_t i = 0; i < fs->nbuckets; i++) {
		struct fs_inode *ip = fs->buckets[i], *next;

		for (; ip; ip = next) {
			next = ip->hnext;
			fs_inode_free(ip);
		}
	}
	free(fs->buckets);
	for (int i = 0; i < fs->nbatches; i++)
		lsm_batch_destroy(fs->batches[i]);
	pthread_mutex_destroy(&fs->ino_mu);
	pthread_mutex_destroy(&fs->batch_mu);
	pthread_mutex_destroy(&fs->table_mu);
	free((char *)fs->cfg.store);
	free(fs);
}

/*
 * The memtable size when none is given: FS_WRITE_BUFFER_DEFAULT, but at
 * most 1/16 of the size of the disk holding the store (the store keeps
 * free space for several memtables' flushes: lsm_options.reserve_bytes)
 * and 1/32 of the machine's memory (two memtables may be in memory),
 * never below FS_WRITE_BUFFER_MIN.
 */
static size_t default_write_buffer(const char *store)
{
	uint64_t wb = FS_WRITE_BUFFER_DEFAULT;
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	struct statvfs d;

	if (!statvfs(store, &d) && (uint64_t)d.f_blocks * d.f_frsize / 16 < wb)
		wb = (uint64_t)d.f_blocks * d.f_frsize / 16;
	if (pages > 0 && psize > 0 && (uint64_t)pages * (uint64_t)psize / 32 < wb)
		wb = (uint64_t)pages * (uint64_t)psize / 32;
	return wb < FS_WRITE_BUFFER_MIN ? FS_WRITE_BUFFER_MIN : (size_t)wb;
}

static int open_store(struct fs *fs, bool fresh, char *msg, size_t msglen)
{
	struct lsm_options opt;
	int rc;

	lsm_options_init(&opt);
	opt.create_if_missing = fresh;
	opt.write_buffer_size = fs->cfg.write_buffer_size ?
				fs->cfg.write_buffer_size :
				default_write_buffer(fs->cfg.store);
	/* A quarter of the memtable deleted: flush (fs_freed). */
	fs->reclaim_bytes = opt.write_buffer_size / 4;
	opt.block_cache_size = FS_BLOCK_CACHE_DEFAULT;
	/* Chunk tables apart from metadata, moved down instead of
	 * rewritten. */
	opt.partition_prefix_len = 1;
	opt.sync_writes = fs->cfg.sync == FS_SYNC_ALWAYS;
	opt.salvage = fs->cfg.salvage;
	opt.env = fs->cfg.env;
	if (!opt.env) {
		/* Tables are read with pread through the block cache, not
		 * mapped: every mapped page of a table that compaction reads
		 * counts in the daemon's RSS (a 4 GiB copy peaked at 767 MiB
		 * against a budget of 200).  The log keeps its window. */
		fs->read_env = *lsm_env_posix();
		fs->read_env.map = NULL;
		fs->read_env.unmap = NULL;
		opt.env = &fs->read_env;
	}
	/* A daemon that was just unmounted may still be closing the store. */
	for (int tries = 0; tries < 30; tries++) {
		rc = lsm_open(fs->cfg.store, &opt, &fs->db);
		if (rc != LSM_EBUSY)
			break;
		usleep(100 * 1000);
	}
	switch (rc) {
	case LSM_OK:
		return FS_OPEN_OK;
	case LSM_EBUSY:
		snprintf(msg, msglen, "%s is in use by another lsmfs",
			 fs->cfg.store);
		return FS_OPEN_BUSY;
	case LSM_ENOTFOUND:
		snprintf(msg, msglen, "%s is not an lsmfs store", fs->cfg.store);
		return FS_OPEN_NOTSTORE;
	case LSM_EVERSION:
		snprintf(msg, msglen, "%s has a newer format version than this "
			 "lsmfs supports", fs->cfg.store);
		return FS_OPEN_NEWER;
	case LSM_ECORRUPT:
		snprintf(msg, msglen, "%s is corrupt: %s", fs->cfg.store,
			 lsm_last_error());
		return FS_OPEN_CORRUPT;
	default:
		snprintf(msg, msglen, "cannot open %s: %s (%s)", fs->cfg.store,
			 lsm_strerror(rc), lsm_last_error());
		return FS_OPEN_SYS;
	}
}

int fs_open(const struct fs_config *cfg, struct fs **out, char *msg,
	    size_t msglen)
{
	struct fs *fs = NULL;
	struct fs_inode *root = NULL;
	int rc, state;

	*out = NULL;
	msg[0] = 0;
	state = dir_state(cfg->store);
	if (state == -1) {
		snprintf(msg, msglen, "%s is not an lsmfs store (not a directory)",
			 cfg->store);
		return FS_OPEN_NOTSTORE;
	}
	if (state == -2) {
		snprintf(msg, msglen, "cannot read %s: %s", cfg->store,
			 strerror(errno));
		return FS_OPEN_SYS;
	}
	if (state == 0 && mkdir(cfg->store, 0755) && errno != EEXIST) {
		snprintf(msg, msglen, "cannot create %s: %s", cfg->store,
			 strerror(errno));
		return FS_OPEN_SYS;
	}
	if (state == 1 && !has_current(cfg->store)) {
		snprintf(msg, msglen, "%s is not an lsmfs store", cfg->store);
		return FS_OPEN_NOTSTORE;
	}
	if (!(fs = fs_alloc(cfg))) {
		snprintf(msg, msglen, "out of memory");
		return FS_OPEN_SYS;
	}
	if ((rc = open_store(fs, state == 0, msg, msglen)))
		goto out;
	if ((rc = load_super(fs, msg, msglen)))
		goto out;
	if (fs->chunk_size < FS_CHUNK_MIN || fs->chunk_size > FS_CHUNK_MAX) {
		snprintf(msg, msglen, "%s: bad chunk size %u", cfg->store,
			 fs->chunk_size);
		rc = FS_OPEN_CORRUPT;
		goto out;
	}
	fs->wbuf_chunks = (2u << 20) / fs->chunk_size;
	if (fs->wbuf_chunks < 4)
		fs->wbuf_chunks = 4;
	if (!cfg->ro && (rc = purge_orphans(fs))) {
		snprintf(msg, msglen, "%s: cannot delete orphans: %s", cfg->store,
			 strerror(rc));
		rc = FS_OPEN_SYS;
		goto out;
	}
	/* The root stays in the table (and referenced) while mounted. */
	if ((rc = fs_inode_get(fs, FS_ROOT_INO, &root))) {
		snprintf(msg, msglen, "%s: cannot read the root directory: %s",
			 cfg->store, strerror(rc));
		rc = FS_OPEN_CORRUPT;
		goto out;
	}
	*out = fs;
	fs = NULL;
out:
	if (fs) {
		if (fs->db)
			lsm_close(fs->db);
		fs_free(fs);
	}
	return rc;
}

static void close_one(struct fs *fs, struct fs_inode *ip)
{
	pthread_mutex_lock(&ip->mu);
	if (ip->a.nlink)
		(void)fs_wbuf_flush_locked(fs, ip);
	pthread_mutex_unlock(&ip->mu);
}

int fs_close(struct fs *fs)
{
	int rc = 0, rc2;

	if (!fs)
		return 0;
	fs_inode_foreach(fs, close_one);
	/* Unlinked inodes the kernel never forgot: purge them now. */
	for (size_t i = 0; i < fs->nbuckets; i++)
		for (struct fs_inode *ip = fs->buckets[i]; ip; ip = ip->hnext)
			if (ip->a.nlink == 0 && !fs->cfg.ro)
				(void)fs_inode_purge(fs, ip->ino);
	rc2 = lsm_close(fs->db);
	if (rc2 && !rc)
		rc = fs_errno(rc2);
	fs_free(fs);
	return rc;
}

int fs_statfs(struct fs *fs, struct statvfs *st)
{
	struct statvfs d;
	uint64_t used = lsm_disk_usage(fs->db);
	const uint64_t bs = 4096;

	memset(st, 0, sizeof(*st));
	if (statvfs(fs->cfg.store, &d))
		return errno;
	uint64_t bfree = (uint64_t)d.f_bavail * d.f_frsize / bs;
	st->f_bsize = bs;
	st->f_frsize = bs;
	st->f_blocks = (used + bs - 1) / bs + bfree;
	st->f_bfree = bfree;
	st->f_bavail = bfree;
	pthread_mutex_lock(&fs->ino_mu);
	st->f_files = fs->next_ino + bfree;
	pthread_mutex_unlock(&fs->ino_mu);
	st->f_ffree = bfree;
	st->f_favail = bfree;
	st->f_namemax = FS_NAME_MAX;
	memcpy(&st->f_fsid, fs->uuid, sizeof(st->f_fsid));
	return 0;
}
