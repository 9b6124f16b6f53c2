/*
 * inode.c — the in-memory inode table.
 *
 * Every inode the kernel knows (lookup count > 0) or an operation or open
 * file uses (refs > 0) has one struct fs_inode here, holding its
 * attributes, symlink target and write buffer.  The copy in memory is the
 * authority: operations change it under ip->mu and write the record in
 * the same batch as the rest of their change, and only install the new
 * attributes once the batch is committed.
 *
 * The table is a chained hash under fs->table_mu (which also guards
 * nlookup and refs).  No store call is made under fs->table_mu: loading
 * a record happens outside it and the loser of an insertion race frees
 * its copy.  An inode whose nlink reached 0 is purged from the store when
 * it leaves the table; an orphan record made that durable in the batch
 * that dropped its last name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"

void fs_now(int64_t *sec, uint32_t *nsec)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = ts.tv_sec;
	*nsec = (uint32_t)ts.tv_nsec;
}

void fs_attr_to_stat(const struct fs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blksize = 4096;
	if (S_ISREG(a->mode))
		st->st_blocks = (blkcnt_t)((a->stored + 4095) / 4096 * 8);
	else if (S_ISLNK(a->mode) || S_ISDIR(a->mode))
		st->st_blocks = 0;
	st->st_atim.tv_sec = a->atime;
	st->st_atim.tv_nsec = a->atime_ns;
	st->st_mtim.tv_sec = a->mtime;
	st->st_mtim.tv_nsec = a->mtime_ns;
	st->st_ctim.tv_sec = a->ctime;
	st->st_ctim.tv_nsec = a->ctime_ns;
}

void fs_inode_stat_locked(const struct fs_inode *ip, struct stat *st)
{
	struct fs_attr a = ip->a;

	/* a.stored counts what reached the store; buffered bytes count too,
	 * or a file being written shows st_blocks 0 with a size, which
	 * tools take for a file of holes. */
	for (uint32_t i = 0; i < ip->nwb; i++)
		if (ip->wb[i].len > ip->wb[i].oldlen)
			a.stored += ip->wb[i].len - ip->wb[i].oldlen;
	fs_attr_to_stat(&a, st);
}

void fs_inode_stat(struct fs_inode *ip, struct stat *st)
{
	pthread_mutex_lock(&ip->mu);
	fs_inode_stat_locked(ip, st);
	pthread_mutex_unlock(&ip->mu);
}

struct fs_inode *fs_inode_new(uint64_t ino)
{
	struct fs_inode *ip = calloc(1, sizeof(*ip));

	if (!ip)
		return NULL;
	ip->ino = ino;
	ip->a.ino = ino;
	pthread_mutex_init(&ip->mu, NULL);
	return ip;
}

void fs_inode_free(struct fs_inode *ip)
{
	if (!ip)
		return;
	fs_wbuf_free(ip);
	free(ip->target);
	pthread_mutex_destroy(&ip->mu);
	free(ip);
}

static size_t bucket_of(const struct fs *fs, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 20) & (fs->nbuckets - 1);
}

/* fs->table_mu held. */
static struct fs_inode *table_find(struct fs *fs, uint64_t ino)
{
	struct fs_inode *ip = fs->buckets[bucket_of(fs, ino)];

	while (ip && ip->ino != ino)
		ip = ip->hnext;
	return ip;
}

/* fs->table_mu held.  Doubles the bucket array past a load of 1; on
 * allocation failure the table just gets slower. */
static void table_grow(struct fs *fs)
{
	size_t n = fs->nbuckets * 2;
	struct fs_inode **b;

	if (fs->ninodes < fs->nbuckets)
		return;
	if (!(b = calloc(n, sizeof(*b))))
		return;
	for (size_t i = 0; i < fs->nbuckets; i++) {
		struct fs_inode *ip = fs->buckets[i], *next;

		for (; ip; ip = next) {
			size_t h = (size_t)((ip->ino * 0x9E3779B97F4A7C15ull) >> 20) &
				   (n - 1);

			next = ip->hnext;
			ip->hnext = b[h];
			b[h] = ip;
		}
	}
	free(fs->buckets);
	fs->buckets = b;
	fs->nbuckets = n;
}

/* fs->table_mu held. */
static void table_add(struct fs *fs, struct fs_inode *ip)
{
	size_t h;

	table_grow(fs);
	h = bucket_of(fs, ip->ino);
	ip->hnext = fs->buckets[h];
	fs->buckets[h] = ip;
	fs->ninodes++;
}

/* fs->table_mu held. */
static void table_remove(struct fs *fs, struct fs_inode *ip)
{
	struct fs_inode **pp = &fs->buckets[bucket_of(fs, ip->ino)];

	while (*pp != ip)
		pp = &(*pp)->hnext;
	*pp = ip->hnext;
	fs->ninodes--;
}

/* Reads inode ino's record into a new unlinked-from-table fs_inode. */
static int inode_load(struct fs *fs, uint64_t ino, struct fs_inode **out)
{
	uint8_t k[FS_KEY_MAX];
	struct fs_inode_rec r;
	struct fs_inode *ip = NULL;
	void *val = NULL;
	size_t vlen = 0;
	int rc;

	*out = NULL;
	rc = lsm_get(fs->db, NULL, k, fs_key_inode(k, ino), &val, &vlen);
	if (rc) {
		rc = fs_errno(rc);
		goto out;
	}
	if ((rc = fs_inode_decode(val, vlen, &r)))
		goto out;
	if (!(ip = fs_inode_new(ino))) {
		rc = ENOMEM;
		goto out;
	}
	ip->a = r.a;
	ip->a.ino = ino;
	if (r.target_len) {
		if (!(ip->target = malloc(r.target_len + 1))) {
			rc = ENOMEM;
			goto out;
		}
		memcpy(ip->target, r.target, r.target_len);
		ip->target[r.target_len] = 0;
		ip->target_len = r.target_len;
	}
	*out = ip;
	ip = NULL;
out:
	fs_inode_free(ip);
	free(val);
	return rc;
}

int fs_inode_get(struct fs *fs, uint64_t ino, struct fs_inode **out)
{
	struct fs_inode *ip, *loaded = NULL;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&fs->table_mu);
	if ((ip = table_find(fs, ino)))
		ip->refs++;
	pthread_mutex_unlock(&fs->table_mu);
	if (ip) {
		*out = ip;
		return 0;
	}
	if ((rc = inode_load(fs, ino, &loaded)))
		return rc;
	pthread_mutex_lock(&fs->table_mu);
	if ((ip = table_find(fs, ino))) {
		ip->refs++;
	} else {
		ip = loaded;
		loaded = NULL;
		ip->refs = 1;
		table_add(fs, ip);
	}
	pthread_mutex_unlock(&fs->table_mu);
	fs_inode_free(loaded);
	*out = ip;
	return 0;
}

void fs_inode_ref(struct fs *fs, struct fs_inode *ip)
{
	pthread_mutex_lock(&fs->table_mu);
	ip->refs++;
	pthread_mutex_unlock(&fs->table_mu);
}

void fs_inode_insert(struct fs *fs, struct fs_inode *ip)
{
	pthread_mutex_lock(&fs->table_mu);
	ip->refs = 1;
	table_add(fs, ip);
	pthread_mutex_unlock(&fs->table_mu);
}

static int inode_purge_known(struct fs *fs, const struct fs_inode *ip);

/* ip has left the table: nobody else can reach it. */
static void inode_evict(struct fs *fs, struct fs_inode *ip)
{
	if (ip->a.nlink == 0) {
		fs_wbuf_free(ip);
		/* On failure the orphan record stays for the next mount. */
		(void)inode_purge_known(fs, ip);
	} else if (ip->nwb) {
		(void)fs_wbuf_flush_locked(fs, ip);
	}
	fs_inode_free(ip);
}

/* fs->table_mu held; returns ip if it must be evicted (removed). */
static struct fs_inode *inode_check_evict(struct fs *fs, struct fs_inode *ip)
{
	if (ip->refs || ip->nlookup)
		return NULL;
	/* The root stays while mounted. */
	if (ip->ino == FS_ROOT_INO)
		return NULL;
	table_remove(fs, ip);
	return ip;
}

void fs_inode_put(struct fs *fs, struct fs_inode *ip)
{
	struct fs_inode *ev;

	if (!ip)
		return;
	pthread_mutex_lock(&fs->table_mu);
	ip->refs--;
	ev = inode_check_evict(fs, ip);
	pthread_mutex_unlock(&fs->table_mu);
	if (ev)
		inode_evict(fs, ev);
}

void fs_inode_lookup_inc(struct fs *fs, struct fs_inode *ip)
{
	pthread_mutex_lock(&fs->table_mu);
	ip->nlookup++;
	pthread_mutex_unlock(&fs->table_mu);
}

void fs_inode_forget(struct fs *fs, uint64_t ino, uint64_t nlookup)
{
	struct fs_inode *ip, *ev = NULL;

	pthread_mutex_lock(&fs->table_mu);
	if ((ip = table_find(fs, ino))) {
		ip->nlookup = nlookup > ip->nlookup ? 0 : ip->nlookup - nlookup;
		ev = inode_check_evict(fs, ip);
	}
	pthread_mutex_unlock(&fs->table_mu);
	if (ev)
		inode_evict(fs, ev);
}

size_t fs_inode_count(struct fs *fs)
{
	size_t n;

	pthread_mutex_lock(&fs->table_mu);
	n = fs->ninodes;
	pthread_mutex_unlock(&fs->table_mu);
	return n;
}

void fs_inode_foreach(struct fs *fs, void (*fn)(struct fs *, struct fs_inode *))
{
	/* Collect referenced pointers first: fn may call the store. */
	struct fs_inode **v = NULL;
	size_t n = 0;

	pthread_mutex_lock(&fs->table_mu);
	v = calloc(fs->ninodes + 1, sizeof(*v));
	for (size_t i = 0; v && i < fs->nbuckets; i++)
		for (struct fs_inode *ip = fs->buckets[i]; ip; ip = ip->hnext) {
			ip->refs++;
			v[n++] = ip;
		}
	pthread_mutex_unlock(&fs->table_mu);
	for (size_t i = 0; i < n; i++) {
		fn(fs, v[i]);
		fs_inode_put(fs, v[i]);
	}
	free(v);
}

int fs_inode_put_rec(lsm_batch *b, const struct fs_attr *a,
		     const struct fs_inode *ip)
{
	uint8_t k[FS_KEY_MAX];
	uint8_t v[FS_INODE_REC_MAX];
	size_t vlen = fs_inode_encode(a, ip ? ip->target : NULL,
				      ip ? ip->target_len : 0, v, sizeof(v));

	if (!vlen)
		return EIO;
	return fs_errno(lsm_batch_put(b, k, fs_key_inode(k, a->ino), v, vlen));
}

/* Adds deletes of every key with the 9-byte prefix tag+ino to batches of
 * at most 4096 keys, writing each full batch. */
/* Adds a delete of every key of inode ino under tag to b (committing
 * every 4,096); *ndel counts them. */
static int purge_prefix(struct fs *fs, lsm_batch *b, uint8_t tag, uint64_t ino,
			uint64_t *ndel)
{
	uint8_t pre[FS_KEY_MAX];
	lsm_iter *it = NULL;
	size_t plen = fs_key_prefix(pre, tag, ino);
	int rc;

	if ((rc = fs_errno(lsm_iter_open(fs->db, NULL, &it))))
		return rc;
	for (lsm_iter_seek(it, pre, plen); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t klen;
		const void *k = lsm_iter_key(it, &klen);

		if (klen < plen || memcmp(k, pre, plen))
			break;
		if ((rc = fs_errno(lsm_batch_delete(b, k, klen))))
			goto out;
		++*ndel;
		if (lsm_batch_count(b) >= 4096) {
			if ((rc = fs_commit_freeing(fs, b)))
				goto out;
			lsm_batch_clear(b);
		}
	}
	rc = fs_errno(lsm_iter_status(it));
out:
	lsm_iter_close(it);
	return rc;
}

/* Files up to this many chunks are purged by deleting each chunk key
 * below the size (a chunk past the size never exists: schema.c) instead
 * of scanning the inode's key range. */
#define PURGE_POINT_CHUNKS 16

/* What a purge must delete besides the record: chunks by a scan
 * (nchunks UINT64_MAX) or keys 0..nchunks-1, xattrs unless xnone;
 * bytes: the data it frees (UINT64_MAX: a chunk size per chunk found). */
struct purge_plan {
	uint64_t nchunks;
	bool xnone;
	uint64_t bytes;
};

static int inode_purge_plan(struct fs *fs, uint64_t ino,
			    const struct purge_plan *p)
{
	uint8_t k[FS_KEY_MAX];
	lsm_batch *b = NULL;
	uint64_t nchunks = 0, nx = 0;
	int rc;

	if ((rc = fs_errno(lsm_batch_create(&b))))
		return rc;
	if (p->nchunks == UINT64_MAX)
		rc = purge_prefix(fs, b, FS_K_CHUNK, ino, &nchunks);
	for (uint64_t i = 0; !rc && p->nchunks != UINT64_MAX && i < p->nchunks; i++)
		rc = fs_errno(lsm_batch_delete(b, k, fs_key_chunk(k, ino, i)));
	if (rc)
		goto out;
	if (!p->xnone && (rc = purge_prefix(fs, b, FS_K_XATTR, ino, &nx)))
		goto out;
	if ((rc = fs_errno(lsm_batch_delete(b, k, fs_key_inode(k, ino)))))
		goto out;
	if ((rc = fs_errno(lsm_batch_delete(b, k, fs_key_orphan(k, ino)))))
		goto out;
	if (!(rc = fs_commit_freeing(fs, b)))
		fs_freed(fs, p->bytes != UINT64_MAX ? p->bytes :
						      nchunks * fs->chunk_size);
out:
	lsm_batch_destroy(b);
	return rc;
}

int fs_inode_purge(struct fs *fs, uint64_t ino)
{
	struct purge_plan p = {UINT64_MAX, false, UINT64_MAX};

	return inode_purge_plan(fs, ino, &p);
}

/* The purge of an evicted inode: what memory knows spares the scans of
 * its key ranges (rm of a small file: one batch, no iterator). */
static int inode_purge_known(struct fs *fs, const struct fs_inode *ip)
{
	struct purge_plan p = {UINT64_MAX, ip->xnone, UINT64_MAX};
	uint64_t n = S_ISREG(ip->a.mode) ?
		(ip->a.size + fs->chunk_size - 1) / fs->chunk_size : 0;

	if (S_ISREG(ip->a.mode))
		p.bytes = ip->a.stored;
	if (n <= PURGE_POINT_CHUNKS)
		p.nchunks = n;
	return inode_purge_plan(fs, ip->ino, &p);
}

static int cmp_ino(const void *x, const void *y)
{
	const struct fs_inode *a = *(struct fs_inode *const *)x;
	const struct fs_inode *b = *(struct fs_inode *const *)y;

	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return (a->ino > b->ino) - (a->ino < b->ino);
}

void fs_inode_lock_n(struct fs_inode **ips, int n)
{
	struct fs_inode *v[8];

	memcpy(v, ips, (size_t)n * sizeof(*v));
	qsort(v, (size_t)n, sizeof(*v), cmp_ino);
	for (int i = 0; i < n; i++)
		if (v[i] && (i == 0 || v[i] != v[i - 1]))
			pthread_mutex_lock(&v[i]->mu);
}

void fs_inode_unlock_n(struct fs_inode **ips, int n)
{
	for (int i = 0; i < n; i++) {
		bool dup = false;

		if (!ips[i])
			continue;
		for (int j = 0; j < i; j++)
			dup |= ips[j] == ips[i];
		if (!dup)
			pthread_mutex_unlock(&ips[i]->mu);
	}
}
