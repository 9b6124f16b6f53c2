/*
 * ops.c — the fuse_lowlevel_ops table.  Each handler decodes its request,
 * calls one helper (which returns 0 or an errno and knows nothing of
 * fuse_req_t) and replies exactly once.
 *
 * Threads: libfuse's multithreaded loop (main.c) runs the handlers, any
 * number at once.  The requests that may wait for the disk for long —
 * fsync, fsyncdir and large (readahead) reads — are queued to a few
 * worker threads instead (struct fs_workq below), which reply themselves.
 * (One thread running every request inline was tried: on an idle 2-CPU
 * machine it created fewer files per second, 3,200-3,400 against
 * 4,400-5,000, though it won while the machine was loaded.)
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fuse_lowlevel.h>

#include "fs.h"

_Static_assert(FS_SET_MODE == FUSE_SET_ATTR_MODE && FS_SET_UID == FUSE_SET_ATTR_UID &&
		       FS_SET_GID == FUSE_SET_ATTR_GID && FS_SET_SIZE == FUSE_SET_ATTR_SIZE &&
		       FS_SET_ATIME == FUSE_SET_ATTR_ATIME &&
		       FS_SET_MTIME == FUSE_SET_ATTR_MTIME &&
		       FS_SET_ATIME_NOW == FUSE_SET_ATTR_ATIME_NOW &&
		       FS_SET_MTIME_NOW == FUSE_SET_ATTR_MTIME_NOW &&
		       FS_SET_CTIME == FUSE_SET_ATTR_CTIME,
	       "FS_SET_* mirror FUSE_SET_ATTR_*");

#define FS_SET_ALL (FS_SET_MODE | FS_SET_UID | FS_SET_GID | FS_SET_SIZE | \
		    FS_SET_ATIME | FS_SET_MTIME | FS_SET_ATIME_NOW |      \
		    FS_SET_MTIME_NOW | FS_SET_CTIME)

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ---------------------------------------------------------------------
 * Workers for the slow requests
 */
#define WORKERS_MAX 8
#define READ_INLINE_MAX (64u * 1024) /* larger reads go to a worker */

enum job_kind { JOB_READ, JOB_FSYNC, JOB_FSYNCDIR };

/* One queued request; everything the handler needs, copied. */
struct job {
	struct job *next;
	enum job_kind kind;
	fuse_req_t req;
	struct fs_file *f; /* JOB_READ, JOB_FSYNC: the open file */
	size_t size;
	off_t off;
};

struct fs_workq {
	pthread_mutex_t mu;   /* guards head, tail, stop */
	pthread_cond_t cv;    /* signalled on a new job and on stop */
	struct job *head, **tail;
	bool stop;
	int n;                /* threads started */
	pthread_t th[WORKERS_MAX];
};

static void job_run(struct fs *fs, struct job *j);

static void *worker_main(void *arg)
{
	struct fs *fs = arg;
	struct fs_workq *q = fs->wq;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&q->mu);
		while (!q->head && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		j = q->head;
		if (j && !(q->head = j->next))
			q->tail = &q->head;
		pthread_mutex_unlock(&q->mu);
		if (!j)
			return NULL; /* stopped and drained */
		job_run(fs, j);
		free(j);
	}
}

/* Queues a copy of *j; false (run it inline) without workers or memory. */
static bool job_queue(struct fs *fs, const struct job *j)
{
	struct fs_workq *q = fs->wq;
	struct job *c;

	if (!q || !(c = malloc(sizeof(*c))))
		return false;
	*c = *j;
	c->next = NULL;
	pthread_mutex_lock(&q->mu);
	*q->tail = c;
	q->tail = &c->next;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return true;
}

/* Runs j now on this thread, or queues it to a worker. */
static void job_submit(struct fs *fs, const struct job *j, bool inline_ok)
{
	struct job c = *j;

	if (inline_ok || !job_queue(fs, j))
		job_run(fs, &c);
}

int fs_ops_start(struct fs *fs, int nworkers)
{
	struct fs_workq *q;
	int rc = 0;

	if (nworkers <= 0)
		return 0;
	if (!(q = calloc(1, sizeof(*q))))
		return ENOMEM;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->tail = &q->head;
	fs->wq = q;
	for (; q->n < nworkers && q->n < WORKERS_MAX; q->n++)
		if ((rc = pthread_create(&q->th[q->n], NULL, worker_main, fs)))
			break;
	if (rc && q->n == 0) {
		fs_ops_stop(fs);
		return rc;
	}
	return 0;
}

void fs_ops_stop(struct fs *fs)
{
	struct fs_workq *q = fs->wq;

	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < q->n; i++)
		pthread_join(q->th[i], NULL);
	fs->wq = NULL;
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

static struct fs_ctx ctx_of(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct fs_ctx x = {(uint32_t)c->uid, (uint32_t)c->gid};

	return x;
}

static struct fs_file *file_of(struct fuse_file_info *fi)
{
	return (struct fs_file *)(uintptr_t)fi->fh;
}

static void entry_of(struct fs *fs, const struct stat *st,
		     struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = st->st_ino;
	e->generation = 1;
	e->attr = *st;
	e->attr_timeout = fs->cfg.attr_timeout;
	e->entry_timeout = fs->cfg.entry_timeout;
}

static void reply_entry(fuse_req_t req, int err, const struct stat *st)
{
	struct fuse_entry_param e;

	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	entry_of(fs_of(req), st, &e);
	if (fuse_reply_entry(req, &e) == -ENOENT)
		fs_inode_forget(fs_of(req), e.ino, 1); /* interrupted */
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_write = 1u << 20;
	/* The kernel takes the smaller of this and the mount's readahead
	 * (main.c raises that through sysfs before the loop starts). */
	conn->max_readahead = 64u << 20;
	/* HANDLE_KILLPRIV: we drop set-user-ID on write, truncate and chown
	 * (file.c), which would save the kernel a getattr on each; but
	 * libfuse 3.14 never passes it (nor PARALLEL_DIROPS) on to the
	 * kernel, which then clears the bits itself. */
	conn->want |= conn->capable & (FUSE_CAP_READDIRPLUS |
				       FUSE_CAP_HANDLE_KILLPRIV |
				       FUSE_CAP_PARALLEL_DIROPS |
				       FUSE_CAP_CACHE_SYMLINKS |
				       FUSE_CAP_ASYNC_READ);
	/* Always readdirplus, not only for the first batch of a directory:
	 * the entries come with their attributes, so ls -l, find -delete
	 * and rm -rf of a tree the kernel does not know yet make no lookup
	 * per name (find -delete of 5,000 files: 4,799 lookups before). */
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	/* Data changes only through this mount: no need for the kernel to
	 * drop its cache when it sees a new mtime. */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	conn->time_gran = 1;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct stat st;
	int err = fs_dir_lookup(fs, parent, name, &st);

	if (err == ENOENT) {
		/* A negative entry: every change comes through the kernel,
		 * so caching the absence is safe. */
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->cfg.entry_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, err, &st);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fs_inode_forget(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		fs_inode_forget(fs_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *ip = NULL;
	struct stat st;
	int err;

	(void)fi;
	if ((err = fs_inode_get(fs, ino, &ip))) {
		fuse_reply_err(req, err);
		return;
	}
	fs_inode_stat(ip, &st);
	fs_inode_put(fs, ip);
	fuse_reply_attr(req, &st, fs->cfg.attr_timeout);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_ctx ctx = ctx_of(req);
	struct stat st;
	int err;

	(void)fi;
	err = fs_file_setattr(fs, &ctx, ino, attr, to_set & FS_SET_ALL, &st);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, fs->cfg.attr_timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[FS_SYMLINK_MAX + 1];
	int err = fs_dir_readlink(fs_of(req), ino, buf, sizeof(buf));

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_readlink(req, buf);
}

static void do_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev, const char *target)
{
	struct fs_ctx ctx = ctx_of(req);
	struct stat st;
	int err = fs_dir_create(fs_of(req), &ctx, parent, name, mode, rdev,
				target, &st, NULL);

	reply_entry(req, err, &st);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISCHR(mode) &&
	    !S_ISBLK(mode) && !S_ISSOCK(mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	do_create(req, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	do_create(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	do_create(req, parent, name, S_IFLNK | 0777, 0, link);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, fs_dir_unlink(fs_of(req), parent, name));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, fs_dir_rmdir(fs_of(req), parent, name));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	fuse_reply_err(req, fs_dir_rename(fs_of(req), parent, name, newparent,
					  newname, flags));
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct stat st;
	int err = fs_dir_link(fs_of(req), ino, newparent, newname, &st);

	reply_entry(req, err, &st);
}

/* O_TRUNC reaches open only with atomic_o_trunc (libfuse's default);
 * otherwise the kernel sent a setattr before.  Linux truncates on
 * O_RDONLY | O_TRUNC too (the kernel checked write permission), so the
 * access mode does not matter. */
static int open_trunc(fuse_req_t req, fuse_ino_t ino, int flags)
{
	struct fs_ctx ctx = ctx_of(req);
	struct stat attr, st;

	if (!(flags & O_TRUNC))
		return 0;
	memset(&attr, 0, sizeof(attr));
	return fs_file_setattr(fs_of(req), &ctx, ino, &attr, FS_SET_SIZE, &st);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_file *f = NULL;
	int err;

	if ((err = open_trunc(req, ino, fi->flags)) ||
	    (err = fs_file_open(fs, ino, fi->flags, &f))) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)f;
	/* Every change of the data goes through this mount and the
	 * kernel's cache of it: what the kernel cached is still right. */
	fi->keep_cache = 1;
	/* No FLUSH round trip on close: release (sent without waiting)
	 * writes the buffer out, reads and fsync flush it first. */
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		fs_file_release(fs, f);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_ctx ctx = ctx_of(req);
	struct fuse_entry_param e;
	struct fs_inode *ip = NULL;
	struct fs_file *f = NULL;
	struct stat st;
	int err;

	err = fs_dir_create(fs, &ctx, parent, name, S_IFREG | (mode & 07777), 0,
			    NULL, &st, &ip);
	if (!err && (err = fs_file_wrap(ip, fi->flags, &f))) {
		fs_inode_put(fs, ip);
		fs_inode_forget(fs, st.st_ino, 1);
	}
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)f;
	fi->keep_cache = 1;
	fi->noflush = 1;
	entry_of(fs, &st, &e);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		fs_file_release(fs, f);
		fs_inode_forget(fs, e.ino, 1);
	}
}

static void do_read(fuse_req_t req, struct fs_file *f, size_t size, off_t off)
{
	uint8_t *buf = malloc(size ? size : 1);
	size_t n = 0;
	int err;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = fs_file_read(fs_of(req), f->ip, (uint64_t)off, size, buf, &n);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, (const char *)buf, n);
	free(buf);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct job j = {NULL, JOB_READ, req, file_of(fi), size, off};

	(void)ino;
	job_submit(fs_of(req), &j, size <= READ_INLINE_MAX);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	size_t n = 0;
	int err;

	(void)ino;
	err = fs_file_write(fs_of(req), file_of(fi)->ip, (uint64_t)off,
			    (const uint8_t *)buf, size,
			    fuse_req_ctx(req)->uid != 0, &n);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, n);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_err(req, fs_file_flush(fs_of(req), file_of(fi)->ip));
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_err(req, fs_file_release(fs_of(req), file_of(fi)));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	struct job j = {NULL, JOB_FSYNC, req, file_of(fi), 0, 0};

	(void)ino;
	(void)datasync;
	job_submit(fs_of(req), &j, false);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs_dirh *dh = NULL;
	int err = fs_dir_open(fs_of(req), ino, &dh);

	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)dh;
	if (fuse_reply_open(req, fi) == -ENOENT)
		fs_dir_close(dh);
}

struct dir_fill {
	fuse_req_t req;
	struct fs *fs;
	char *buf;
	size_t size, used;
	bool plus;
};

static int dir_fill(void *arg, const char *name, const struct stat *st,
		    off_t next_off)
{
	struct dir_fill *d = arg;
	size_t n;

	if (d->plus) {
		struct fuse_entry_param e;

		entry_of(d->fs, st, &e);
		n = fuse_add_direntry_plus(d->req, d->buf + d->used,
					   d->size - d->used, name, &e, next_off);
	} else {
		n = fuse_add_direntry(d->req, d->buf + d->used, d->size - d->used,
				      name, st, next_off);
	}
	if (n > d->size - d->used)
		return 1;
	d->used += n;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct dir_fill d = {req, fs_of(req), malloc(size ? size : 1), size, 0,
			     plus};
	int err;

	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = fs_dir_read(d.fs, (struct fs_dirh *)(uintptr_t)fi->fh, ino, off,
			  plus, dir_fill, &d);
	/* Entries already taken must be returned: their lookup counts
	 * were raised. */
	if (err && d.used == 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	fs_dir_close((struct fs_dirh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	struct job j = {NULL, JOB_FSYNCDIR, req, NULL, 0, 0};

	(void)ino;
	(void)datasync;
	(void)fi;
	job_submit(fs_of(req), &j, false);
}

static void job_run(struct fs *fs, struct job *j)
{
	switch (j->kind) {
	case JOB_READ:
		do_read(j->req, j->f, j->size, j->off);
		break;
	case JOB_FSYNC:
		fuse_reply_err(j->req, fs_file_fsync(fs, j->f->ip));
		break;
	case JOB_FSYNCDIR:
		fuse_reply_err(j->req, fs_sync(fs));
		break;
	}
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;
	int err = fs_statfs(fs_of(req), &st);

	(void)ino;
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_statfs(req, &st);
}

/*
 * The kernel caches attributes for a day (main.c) and learns of every
 * change from the replies, but for one: setting system.posix_acl_access
 * may change the mode (xattr.c), and the kernel, which passes the name
 * through (no FUSE_POSIX_ACL), then drops only its ctime.  A stale mode
 * would be used for permission checks, so the inode's attributes are
 * invalidated before the reply.  (No deadlock: with a negative offset
 * the kernel touches no page and takes no inode lock.)  Only when the
 * mode did change: cp -a sets every file's ACL, nearly always to the
 * mode the file has already, and a notification costs a write to
 * /dev/fuse and the attributes the kernel holds.
 */
static void acl_changed(struct fs *fs, fuse_ino_t ino, bool mode_changed)
{
	if (fs->se && mode_changed)
		(void)fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct fs *fs = fs_of(req);
	bool changed = false;
	int err = fs_xattr_set_m(fs, ino, name, value, size, flags, &changed);

	if (!err)
		acl_changed(fs, ino, changed);
	fuse_reply_err(req, err);
}

/*
 * getxattr of FS_XATTR_INODES (on any inode) gives the number of inodes in
 * the daemon's table, in decimal: tests and scripts/bench-million.sh check
 * with it that the kernel's forget frees inode state.  The name is in the
 * system namespace, where xattr.c stores nothing but ACLs, so it hides no
 * stored attribute; it is not listed.
 */
#define FS_XATTR_INODES "system.lsmfs.inodes"

static void reply_inodes(fuse_req_t req, size_t size)
{
	char v[32];
	int n = snprintf(v, sizeof(v), "%zu", fs_inode_count(fs_of(req)));

	if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else if (size < (size_t)n)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, (size_t)n);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (!strcmp(name, FS_XATTR_INODES)) {
		reply_inodes(req, size);
		return;
	}
	if (size && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = fs_xattr_get(fs_of(req), ino, name, buf, size, &len);
	if (err)
		fuse_reply_err(req, err);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs_ctx ctx = ctx_of(req);
	char *buf = size ? malloc(size) : NULL;
	size_t len = 0;
	int err;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = fs_xattr_list_for(fs_of(req), &ctx, ino, buf, size, &len);
	if (err)
		fuse_reply_err(req, err);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fs_of(req);
	bool changed = false;
	int err = fs_xattr_remove_m(fs, ino, name, &changed);

	if (!err)
		acl_changed(fs, ino, changed);
	fuse_reply_err(req, err);
}

/* The kernel checks permissions (default_permissions); this only says
 * whether the inode exists. */
static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct fs_inode *ip = NULL;
	int err = fs_inode_get(fs_of(req), ino, &ip);

	(void)mask;
	fs_inode_put(fs_of(req), ip);
	fuse_reply_err(req, err);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t off, off_t len, struct fuse_file_info *fi)
{
	(void)ino;
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fuse_reply_err(req, fs_file_fallocate(fs_of(req), file_of(fi)->ip, mode,
					      (uint64_t)off, (uint64_t)len));
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	uint64_t pos = 0;
	int err;

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	err = fs_file_lseek(fs_of(req), file_of(fi)->ip, (uint64_t)off, whence,
			    &pos);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_lseek(req, (off_t)pos);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.access = op_access,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
};
