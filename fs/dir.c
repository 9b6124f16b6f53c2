/*
 * dir.c — namespace operations on directory entries and inode records.
 *
 * Each operation takes references on the inodes it touches, locks them
 * (ascending inode order), computes the new attributes in locals, writes
 * every record it changes in ONE batch, and installs the new attributes
 * in memory only after the batch committed, so a failed write leaves
 * memory and store as they were.  A name's last link going away writes
 * an orphan record in the same batch; the data goes when the inode
 * leaves the table (inode.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int check_name(const char *name, size_t *nlen)
{
	*nlen = strlen(name);
	if (*nlen == 0)
		return ENOENT;
	if (*nlen > FS_NAME_MAX)
		return ENAMETOOLONG;
	return 0;
}

static bool is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

static uint32_t dtype_of(uint32_t mode)
{
	return (mode & S_IFMT) >> 12;
}

/* Reads the entry name of parent: ENOENT when absent. */
static int dirent_get(struct fs *fs, uint64_t parent, const char *name,
		      size_t nlen, uint64_t *ino, uint32_t *type)
{
	uint8_t k[FS_KEY_MAX];
	void *val = NULL;
	size_t vlen = 0;
	int rc;

	rc = lsm_get(fs->db, NULL, k, fs_key_dirent(k, parent, name, nlen),
		     &val, &vlen);
	if (!rc)
		rc = fs_dirent_decode(val, vlen, ino, type);
	else
		rc = fs_errno(rc);
	free(val);
	return rc;
}

static int dirent_put(lsm_batch *b, uint64_t parent, const char *name,
		      size_t nlen, uint64_t ino, uint32_t mode)
{
	uint8_t k[FS_KEY_MAX], v[32];
	size_t vlen = fs_dirent_encode(ino, dtype_of(mode), v, sizeof(v));

	return fs_errno(lsm_batch_put(b, k, fs_key_dirent(k, parent, name, nlen),
				      v, vlen));
}

static int dirent_del(lsm_batch *b, uint64_t parent, const char *name,
		      size_t nlen)
{
	uint8_t k[FS_KEY_MAX];

	return fs_errno(lsm_batch_delete(b, k, fs_key_dirent(k, parent, name, nlen)));
}

static int orphan_put(lsm_batch *b, uint64_t ino)
{
	uint8_t k[FS_KEY_MAX];

	return fs_errno(lsm_batch_put(b, k, fs_key_orphan(k, ino), "", 0));
}

/* 0 if directory ino has no entries, ENOTEMPTY, or an error. */
static int dir_empty(struct fs *fs, uint64_t ino)
{
	uint8_t pre[FS_KEY_MAX];
	size_t plen = fs_key_prefix(pre, FS_K_DIRENT, ino), klen;
	lsm_iter *it = NULL;
	int rc;

	if ((rc = fs_errno(lsm_iter_open(fs->db, NULL, &it))))
		return rc;
	lsm_iter_seek(it, pre, plen);
	if (lsm_iter_valid(it)) {
		const void *k = lsm_iter_key(it, &klen);

		if (klen > plen && !memcmp(k, pre, plen))
			rc = ENOTEMPTY;
	}
	if (!rc)
		rc = fs_errno(lsm_iter_status(it));
	lsm_iter_close(it);
	return rc;
}

static void touch_mc(struct fs_attr *a, int64_t sec, uint32_t nsec)
{
	a->mtime = a->ctime = sec;
	a->mtime_ns = a->ctime_ns = nsec;
}

static void touch_c(struct fs_attr *a, int64_t sec, uint32_t nsec)
{
	a->ctime = sec;
	a->ctime_ns = nsec;
}

int fs_dir_lookup(struct fs *fs, uint64_t parent, const char *name,
		  struct stat *st)
{
	struct fs_inode *ip = NULL;
	uint64_t ino;
	uint32_t type;
	size_t nlen;
	int rc;

	if ((rc = check_name(name, &nlen)))
		return rc;
	if (!strcmp(name, ".")) {
		ino = parent;
	} else if (!strcmp(name, "..")) {
		if ((rc = fs_inode_get(fs, parent, &ip)))
			return rc;
		pthread_mutex_lock(&ip->mu);
		ino = ip->a.parent ? ip->a.parent : FS_ROOT_INO;
		pthread_mutex_unlock(&ip->mu);
		fs_inode_put(fs, ip);
		ip = NULL;
	} else if ((rc = dirent_get(fs, parent, name, nlen, &ino, &type))) {
		return rc;
	}
	if ((rc = fs_inode_get(fs, ino, &ip)))
		return rc == ENOENT ? EIO : rc; /* an entry without its inode */
	fs_inode_stat(ip, st);
	fs_inode_lookup_inc(fs, ip);
	fs_inode_put(fs, ip);
	return 0;
}

/* Fills the attributes of a new inode created by ctx in directory pa. */
static void new_attr(struct fs_attr *a, uint64_t ino, const struct fs_ctx *ctx,
		     const struct fs_attr *pa, mode_t mode, dev_t rdev)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->mode = (uint32_t)mode;
	a->uid = ctx->uid;
	a->gid = ctx->gid;
	if (pa->mode & S_ISGID) {
		a->gid = pa->gid;
		if (S_ISDIR(mode))
			a->mode |= S_ISGID;
	}
	a->nlink = S_ISDIR(mode) ? 2 : 1;
	a->rdev = (S_ISCHR(mode) || S_ISBLK(mode)) ? rdev : 0;
	a->gen = 1;
	a->parent = S_ISDIR(mode) ? pa->ino : 0;
	fs_now(&a->mtime, &a->mtime_ns);
	a->atime = a->ctime = a->mtime;
	a->atime_ns = a->ctime_ns = a->mtime_ns;
}

int fs_dir_create(struct fs *fs, const struct fs_ctx *ctx, uint64_t parent,
		  const char *name, mode_t mode, dev_t rdev,
		  const char *target, struct stat *st, struct fs_inode **out)
{
	struct fs_inode *dp = NULL, *ip = NULL;
	struct fs_attr pa;
	lsm_batch *b = NULL;
	uint64_t ino, oino;
	uint32_t otype;
	size_t nlen, tlen = target ? strlen(target) : 0;
	bool locked = false;
	int rc;

	if (out)
		*out = NULL;
	if ((rc = check_name(name, &nlen)))
		return rc;
	if (is_dot(name))
		return EEXIST;
	if (S_ISLNK(mode) && (tlen == 0 || tlen > FS_SYMLINK_MAX))
		return tlen ? ENAMETOOLONG : ENOENT;
	if (!S_ISLNK(mode))
		tlen = 0;
	if ((rc = fs_inode_get(fs, parent, &dp)))
		goto out;
	pthread_mutex_lock(&dp->mu);
	locked = true;
	if (!S_ISDIR(dp->a.mode)) {
		rc = ENOTDIR;
		goto out;
	}
	if (dp->a.nlink == 0) {
		rc = ENOENT;
		goto out;
	}
	rc = dirent_get(fs, parent, name, nlen, &oino, &otype);
	if (rc != ENOENT) {
		rc = rc ? rc : EEXIST;
		goto out;
	}
	if ((rc = fs_ino_alloc(fs, &ino)))
		goto out;
	if (!(ip = fs_inode_new(ino))) {
		rc = ENOMEM;
		goto out;
	}
	new_attr(&ip->a, ino, ctx, &dp->a, mode, rdev);
	ip->xnone = true;
	if (tlen) {
		if (!(ip->target = strdup(target))) {
			rc = ENOMEM;
			goto out;
		}
		ip->target_len = tlen;
		ip->a.size = tlen;
	}
	pa = dp->a;
	touch_mc(&pa, ip->a.mtime, ip->a.mtime_ns);
	if (S_ISDIR(mode))
		pa.nlink++;
	if ((rc = fs_errno(lsm_batch_create(&b))) ||
	    (rc = fs_inode_put_rec(b, &ip->a, ip)) ||
	    (rc = dirent_put(b, parent, name, nlen, ino, mode)) ||
	    (rc = fs_inode_put_rec(b, &pa, dp)) ||
	    (rc = fs_commit(fs, b)))
		goto out;
	dp->a = pa;
	pthread_mutex_unlock(&dp->mu);
	locked = false;
	fs_attr_to_stat(&ip->a, st);
	fs_inode_insert(fs, ip);
	fs_inode_lookup_inc(fs, ip);
	if (out)
		*out = ip;
	else
		fs_inode_put(fs, ip);
	ip = NULL;
out:
	if (locked)
		pthread_mutex_unlock(&dp->mu);
	fs_inode_free(ip);
	fs_inode_put(fs, dp);
	lsm_batch_destroy(b);
	return rc;
}

int fs_dir_link(struct fs *fs, uint64_t ino, uint64_t newparent,
		const char *newname, struct stat *st)
{
	struct fs_inode *v[2] = {NULL, NULL}; /* child, parent */
	struct fs_attr ia, pa;
	lsm_batch *b = NULL;
	uint64_t oino;
	uint32_t otype;
	size_t nlen;
	bool locked = false;
	int rc;

	if ((rc = check_name(newname, &nlen)))
		return rc;
	if (is_dot(newname))
		return EEXIST;
	if ((rc = fs_inode_get(fs, ino, &v[0])) ||
	    (rc = fs_inode_get(fs, newparent, &v[1])))
		goto out;
	fs_inode_lock_n(v, 2);
	locked = true;
	if (S_ISDIR(v[0]->a.mode)) {
		rc = EPERM;
		goto out;
	}
	if (!S_ISDIR(v[1]->a.mode)) {
		rc = ENOTDIR;
		goto out;
	}
	if (v[0]->a.nlink == 0 || v[1]->a.nlink == 0) {
		rc = ENOENT;
		goto out;
	}
	if (v[0]->a.nlink >= UINT32_MAX - 1) {
		rc = EMLINK;
		goto out;
	}
	rc = dirent_get(fs, newparent, newname, nlen, &oino, &otype);
	if (rc != ENOENT) {
		rc = rc ? rc : EEXIST;
		goto out;
	}
	ia = v[0]->a;
	pa = v[1]->a;
	ia.nlink++;
	fs_now(&ia.ctime, &ia.ctime_ns);
	touch_mc(&pa, ia.ctime, ia.ctime_ns);
	if ((rc = fs_errno(lsm_batch_create(&b))) ||
	    (rc = dirent_put(b, newparent, newname, nlen, ino, ia.mode)) ||
	    (rc = fs_inode_put_rec(b, &ia, v[0])) ||
	    (rc = fs_inode_put_rec(b, &pa, v[1])) ||
	    (rc = fs_commit(fs, b)))
		goto out;
	v[0]->a = ia;
	v[1]->a = pa;
	fs_inode_stat_locked(v[0], st);
	fs_inode_unlock_n(v, 2);
	locked = false;
	fs_inode_lookup_inc(fs, v[0]);
out:
	if (locked)
		fs_inode_unlock_n(v, 2);
	fs_inode_put(fs, v[0]);
	fs_inode_put(fs, v[1]);
	lsm_batch_destroy(b);
	return rc;
}

/* unlink (dir false) and rmdir (dir true). */
static int dir_remove(struct fs *fs, uint64_t parent, const char *name, bool dir)
{
	struct fs_inode *v[2] = {NULL, NULL}; /* parent, child */
	struct fs_attr pa, ia;
	lsm_batch *b = NULL;
	uint64_t ino;
	uint32_t type;
	size_t nlen;
	bool locked = false;
	int rc;

	if ((rc = check_name(name, &nlen)))
		return rc;
	if (is_dot(name))
		return dir ? (name[1] ? ENOTEMPTY : EINVAL) : EISDIR;
	if ((rc = fs_inode_get(fs, parent, &v[0])))
		goto out;
	if ((rc = dirent_get(fs, parent, name, nlen, &ino, &type)))
		goto out;
	if ((rc = fs_inode_get(fs, ino, &v[1])))
		goto out;
	fs_inode_lock_n(v, 2);
	locked = true;
	if (dir && !S_ISDIR(v[1]->a.mode)) {
		rc = ENOTDIR;
		goto out;
	}
	if (!dir && S_ISDIR(v[1]->a.mode)) {
		rc = EISDIR;
		goto out;
	}
	if (dir && (rc = dir_empty(fs, ino)))
		goto out;
	pa = v[0]->a;
	ia = v[1]->a;
	fs_now(&pa.mtime, &pa.mtime_ns);
	touch_mc(&pa, pa.mtime, pa.mtime_ns);
	touch_c(&ia, pa.mtime, pa.mtime_ns);
	if (dir) {
		ia.nlink = 0;
		if (pa.nlink > 2)
			pa.nlink--;
	} else if (ia.nlink) {
		ia.nlink--;
	}
	if ((rc = fs_errno(lsm_batch_create(&b))) ||
	    (rc = dirent_del(b, parent, name, nlen)) ||
	    (rc = fs_inode_put_rec(b, &ia, v[1])) ||
	    (ia.nlink == 0 && (rc = orphan_put(b, ino))) ||
	    (rc = fs_inode_put_rec(b, &pa, v[0])) ||
	    (rc = fs_commit_freeing(fs, b)))
		goto out;
	v[0]->a = pa;
	v[1]->a = ia;
out:
	if (locked)
		fs_inode_unlock_n(v, 2);
	fs_inode_put(fs, v[1]);
	fs_inode_put(fs, v[0]);
	lsm_batch_destroy(b);
	return rc;
}

int fs_dir_unlink(struct fs *fs, uint64_t parent, const char *name)
{
	return dir_remove(fs, parent, name, false);
}

int fs_dir_rmdir(struct fs *fs, uint64_t parent, const char *name)
{
	return dir_remove(fs, parent, name, true);
}

/* EINVAL if directory anc is dir or one of its ancestors. */
static int check_not_ancestor(struct fs *fs, uint64_t anc, uint64_t dir)
{
	for (int steps = 0; steps < 1 << 20; steps++) {
		struct fs_inode *ip = NULL;
		uint64_t up;
		int rc;

		if (dir == anc)
			return EINVAL;
		if (dir == FS_ROOT_INO)
			return 0;
		if ((rc = fs_inode_get(fs, dir, &ip)))
			return rc;
		pthread_mutex_lock(&ip->mu);
		up = ip->a.parent;
		pthread_mutex_unlock(&ip->mu);
		fs_inode_put(fs, ip);
		if (!up || up == dir)
			return EIO;
		dir = up;
	}
	return EIO;
}

struct rename_args {
	uint64_t p1, p2;
	const char *n1, *n2;
	size_t l1, l2;
	unsigned flags;
	uint64_t s, d;          /* source and target inode (d 0: none) */
	uint32_t stype, dtype;
};

/* The checks of rename that need only the entries; ip locks not held. */
static int rename_check(struct fs *fs, struct rename_args *r)
{
	int rc;

	rc = dirent_get(fs, r->p2, r->n2, r->l2, &r->d, &r->dtype);
	if (rc == ENOENT)
		r->d = 0;
	else if (rc)
		return rc;
	if (r->d && (r->flags & RENAME_NOREPLACE))
		return EEXIST;
	if (!r->d && (r->flags & RENAME_EXCHANGE))
		return ENOENT;
	if (r->stype == DT_DIR && r->p1 != r->p2 &&
	    (rc = check_not_ancestor(fs, r->s, r->p2)))
		return rc;
	if (r->d && (r->flags & RENAME_EXCHANGE) && r->dtype == DT_DIR &&
	    r->p1 != r->p2 && (rc = check_not_ancestor(fs, r->d, r->p1)))
		return rc;
	if (r->d && r->d == r->s)
		return 0;
	if (r->d && !(r->flags & RENAME_EXCHANGE)) {
		if (r->stype == DT_DIR && r->dtype != DT_DIR)
			return ENOTDIR;
		if (r->stype != DT_DIR && r->dtype == DT_DIR)
			return EISDIR;
		if (r->dtype == DT_DIR && (rc = dir_empty(fs, r->d)))
			return rc;
	}
	return 0;
}

/* v: p1, p2, s, d (p2 == p1 and d NULL allowed), all locked. */
static int rename_apply(struct fs *fs, struct rename_args *r,
			struct fs_inode **v)
{
	struct fs_attr a1 = v[0]->a, a2 = v[1]->a, as = v[2]->a, ad = {0};
	struct fs_attr *pa2 = v[1] == v[0] ? &a1 : &a2;
	bool sdir = S_ISDIR(as.mode), ddir = false, xchg = r->flags & RENAME_EXCHANGE;
	lsm_batch *b = NULL;
	int64_t sec;
	uint32_t nsec;
	int rc;

	if (v[3]) {
		ad = v[3]->a;
		ddir = S_ISDIR(ad.mode);
	}
	fs_now(&sec, &nsec);
	touch_mc(&a1, sec, nsec);
	touch_mc(pa2, sec, nsec);
	touch_c(&as, sec, nsec);
	if (sdir && r->p1 != r->p2) {
		as.parent = r->p2;
		a1.nlink--;
		pa2->nlink++;
	}
	if (v[3] && xchg) {
		touch_c(&ad, sec, nsec);
		if (ddir && r->p1 != r->p2) {
			ad.parent = r->p1;
			pa2->nlink--;
			a1.nlink++;
		}
	} else if (v[3]) {
		touch_c(&ad, sec, nsec);
		if (ddir) {
			ad.nlink = 0;
			pa2->nlink--;
		} else {
			ad.nlink--;
		}
	}
	if ((rc = fs_errno(lsm_batch_create(&b))))
		goto out;
	if (xchg)
		rc = dirent_put(b, r->p1, r->n1, r->l1, r->d, ad.mode);
	else
		rc = dirent_del(b, r->p1, r->n1, r->l1);
	if (rc || (rc = dirent_put(b, r->p2, r->n2, r->l2, r->s, as.mode)) ||
	    (rc = fs_inode_put_rec(b, &a1, v[0])) ||
	    (v[1] != v[0] && (rc = fs_inode_put_rec(b, &a2, v[1]))) ||
	    (rc = fs_inode_put_rec(b, &as, v[2])) ||
	    (v[3] && (rc = fs_inode_put_rec(b, &ad, v[3]))) ||
	    (v[3] && ad.nlink == 0 && (rc = orphan_put(b, r->d))) ||
	    (rc = fs_commit_freeing(fs, b)))
		goto out;
	v[0]->a = a1;
	if (v[1] != v[0])
		v[1]->a = a2;
	v[2]->a = as;
	if (v[3])
		v[3]->a = ad;
out:
	lsm_batch_destroy(b);
	return rc;
}

int fs_dir_rename(struct fs *fs, uint64_t parent, const char *name,
		  uint64_t newparent, const char *newname, unsigned flags)
{
	struct rename_args r = {parent, newparent, name, newname, 0, 0, flags,
				0, 0, 0, 0};
	struct fs_inode *v[4] = {NULL, NULL, NULL, NULL};
	bool locked = false;
	int rc;

	if ((rc = check_name(name, &r.l1)) || (rc = check_name(newname, &r.l2)))
		return rc;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return EINVAL;
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return EINVAL;
	if (is_dot(name) || is_dot(newname))
		return EBUSY;
	if ((rc = dirent_get(fs, parent, name, r.l1, &r.s, &r.stype)))
		return rc;
	if ((rc = rename_check(fs, &r)))
		return rc;
	if (r.d == r.s)
		return 0; /* two names of one inode: nothing to do */
	if ((rc = fs_inode_get(fs, parent, &v[0])) ||
	    (rc = fs_inode_get(fs, newparent, &v[1])) ||
	    (rc = fs_inode_get(fs, r.s, &v[2])) ||
	    (r.d && (rc = fs_inode_get(fs, r.d, &v[3]))))
		goto out;
	fs_inode_lock_n(v, 4);
	locked = true;
	if (!S_ISDIR(v[1]->a.mode)) {
		rc = ENOTDIR;
		goto out;
	}
	if (v[1]->a.nlink == 0) {
		rc = ENOENT;
		goto out;
	}
	rc = rename_apply(fs, &r, v);
out:
	if (locked)
		fs_inode_unlock_n(v, 4);
	for (int i = 3; i >= 0; i--)
		fs_inode_put(fs, v[i]);
	return rc;
}

int fs_dir_readlink(struct fs *fs, uint64_t ino, char *buf, size_t cap)
{
	struct fs_inode *ip = NULL;
	int rc;

	if ((rc = fs_inode_get(fs, ino, &ip)))
		return rc;
	pthread_mutex_lock(&ip->mu);
	if (!S_ISLNK(ip->a.mode) || !ip->target)
		rc = EINVAL;
	else if (ip->target_len + 1 > cap)
		rc = ENAMETOOLONG;
	else
		memcpy(buf, ip->target, ip->target_len + 1);
	pthread_mutex_unlock(&ip->mu);
	fs_inode_put(fs, ip);
	return rc;
}

/* ---------------------------------------------------------------------
 * readdir
 */
int fs_dir_open(struct fs *fs, uint64_t ino, struct fs_dirh **out)
{
	struct fs_inode *ip = NULL;
	struct fs_dirh *dh;
	int rc;

	*out = NULL;
	if ((rc = fs_inode_get(fs, ino, &ip)))
		return rc;
	pthread_mutex_lock(&ip->mu);
	rc = S_ISDIR(ip->a.mode) ? 0 : ENOTDIR;
	pthread_mutex_unlock(&ip->mu);
	fs_inode_put(fs, ip);
	if (rc)
		return rc;
	if (!(dh = calloc(1, sizeof(*dh))))
		return ENOMEM;
	pthread_mutex_init(&dh->mu, NULL);
	*out = dh;
	return 0;
}

void fs_dir_close(struct fs_dirh *dh)
{
	if (!dh)
		return;
	for (size_t i = 0; i < FS_DIRH_RING; i++)
		free(dh->ring[i]);
	pthread_mutex_destroy(&dh->mu);
	free(dh);
}

/* Records name as entry number pos. */
static int dirh_set(struct fs_dirh *dh, uint64_t pos, const char *name)
{
	size_t slot = (size_t)(pos % FS_DIRH_RING);
	char *s = strdup(name);

	if (!s)
		return ENOMEM;
	free(dh->ring[slot]);
	dh->ring[slot] = s;
	dh->ringpos[slot] = pos;
	if (pos >= dh->next)
		dh->next = pos + 1;
	return 0;
}

/* The name of entry number pos if still kept, else NULL (borrowed). */
static const char *dirh_get(const struct fs_dirh *dh, uint64_t pos)
{
	size_t slot = (size_t)(pos % FS_DIRH_RING);

	if (dh->ring[slot] && dh->ringpos[slot] == pos)
		return dh->ring[slot];
	return NULL;
}

/* Emits . and .. as needed; returns 1 if the buffer filled. */
static int dir_emit_dots(struct fs *fs, uint64_t ino, off_t off,
			 fs_dir_emit emit, void *arg)
{
	struct fs_inode *ip = NULL;
	struct stat st;
	uint64_t up;

	if (fs_inode_get(fs, ino, &ip))
		return 0;
	fs_inode_stat(ip, &st);
	pthread_mutex_lock(&ip->mu);
	up = ip->a.parent ? ip->a.parent : FS_ROOT_INO;
	pthread_mutex_unlock(&ip->mu);
	fs_inode_put(fs, ip);
	if (off < 1 && emit(arg, ".", &st, 1))
		return 1;
	if (off < 2) {
		memset(&st, 0, sizeof(st));
		st.st_ino = up;
		st.st_mode = S_IFDIR;
		if (emit(arg, "..", &st, 2))
			return 1;
	}
	return 0;
}

/* One entry: emit it (with attributes and a lookup count in plus mode).
 * Returns 1 if the buffer is full, 0 if taken, or -errno. */
static int dir_emit_one(struct fs *fs, const char *name, uint64_t ino,
			uint32_t type, bool plus, off_t next_off,
			fs_dir_emit emit, void *arg)
{
	struct fs_inode *ip = NULL;
	struct stat st;
	int rc;

	memset(&st, 0, sizeof(st));
	if (plus) {
		if ((rc = fs_inode_get(fs, ino, &ip)))
			return -(rc == ENOENT ? EIO : rc);
		fs_inode_stat(ip, &st);
	} else {
		st.st_ino = ino;
		st.st_mode = (mode_t)(type << 12);
	}
	rc = emit(arg, name, &st, next_off) ? 1 : 0;
	if (ip) {
		if (!rc)
			fs_inode_lookup_inc(fs, ip);
		fs_inode_put(fs, ip);
	}
	return rc;
}

/*
 * Positions it at the first entry of directory ino to list from offset off
 * (> 2): after the kept name of entry off - 3, or, when that name is no
 * longer kept, after skipping off - 2 entries.  *after is set to the name
 * to skip if the iterator stands on it.
 */
static int dir_seek(struct fs_dirh *dh, lsm_iter *it, uint64_t ino, off_t off,
		    const char **after)
{
	uint8_t k[FS_KEY_MAX];
	size_t plen = fs_key_prefix(k, FS_K_DIRENT, ino);
	uint64_t pos = (uint64_t)(off - 3);

	*after = dirh_get(dh, pos);
	if (*after) {
		lsm_iter_seek(it, k, fs_key_dirent(k, ino, *after, strlen(*after)));
		return 0;
	}
	lsm_iter_seek(it, k, plen);
	for (uint64_t i = 0; i <= pos && lsm_iter_valid(it); i++) {
		size_t kl;
		const uint8_t *key = lsm_iter_key(it, &kl);

		if (kl < plen || memcmp(key, k, plen))
			break;
		lsm_iter_next(it);
	}
	return fs_errno(lsm_iter_status(it));
}

int fs_dir_read(struct fs *fs, struct fs_dirh *dh, uint64_t ino, off_t off,
		bool plus, fs_dir_emit emit, void *arg)
{
	uint8_t k[FS_KEY_MAX];
	char name[FS_NAME_MAX + 1];
	lsm_iter *it = NULL;
	size_t plen = fs_key_prefix(k, FS_K_DIRENT, ino);
	uint64_t pos;
	const char *after = NULL;
	int rc = 0;

	pthread_mutex_lock(&dh->mu);
	if (off < 0 || (off > 2 && (uint64_t)(off - 3) >= dh->next))
		goto out; /* past the end, or an offset we never gave */
	if (off < 2 && dir_emit_dots(fs, ino, off, emit, arg))
		goto out;
	pos = off > 2 ? (uint64_t)(off - 3) + 1 : 0;
	if ((rc = fs_errno(lsm_iter_open(fs->db, NULL, &it))))
		goto out;
	if (off > 2) {
		if ((rc = dir_seek(dh, it, ino, off, &after)))
			goto out;
	} else {
		lsm_iter_seek(it, k, plen);
	}
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *key = lsm_iter_key(it, &kl);
		const void *val = lsm_iter_value(it, &vl);
		uint64_t cino;
		uint32_t type;
		int r;

		if (kl < plen || memcmp(key, k, plen))
			break;
		if (kl == plen || kl - plen > FS_NAME_MAX) {
			rc = EIO;
			goto out;
		}
		memcpy(name, key + plen, kl - plen);
		name[kl - plen] = 0;
		if (after && !strcmp(name, after))
			continue;
		if ((rc = fs_dirent_decode(val, vl, &cino, &type)))
			goto out;
		r = dir_emit_one(fs, name, cino, type, plus, (off_t)pos + 3, emit, arg);
		if (r < 0) {
			rc = -r;
			goto out;
		}
		if (r > 0)
			break;
		if ((rc = dirh_set(dh, pos, name)))
			goto out;
		pos++;
		after = NULL;
	}
	if (!rc)
		rc = fs_errno(lsm_iter_status(it));
out:
	lsm_iter_close(it);
	pthread_mutex_unlock(&dh->mu);
	return rc;
}
