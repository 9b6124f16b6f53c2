/*
 * ops.c — the fuse_lowlevel_ops table.  Each handler decodes its request,
 * calls one helper (which returns 0 or an errno and knows nothing of
 * fuse_req_t) and replies exactly once.
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
	/* HANDLE_KILLPRIV: we drop set-user-ID on write, truncate and chown
	 * (file.c), which saves the kernel a getattr on each. */
	conn->want |= conn->capable & (FUSE_CAP_READDIRPLUS |
				       FUSE_CAP_HANDLE_KILLPRIV |
				       FUSE_CAP_READDIRPLUS_AUTO |
				       FUSE_CAP_PARALLEL_DIROPS |
				       FUSE_CAP_CACHE_SYMLINKS |
				       FUSE_CAP_ASYNC_READ);
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

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_file *f = file_of(fi);
	uint8_t *buf = malloc(size ? size : 1);
	size_t n = 0;
	int err;

	(void)ino;
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
	(void)ino;
	(void)datasync;
	fuse_reply_err(req, fs_file_fsync(fs_of(req), file_of(fi)->ip));
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
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, fs_sync(fs_of(req)));
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

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	fuse_reply_err(req, fs_xattr_set(fs_of(req), ino, name, value, size, flags));
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	size_t len = 0;
	int err;

	if (size && !buf) {
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
	fuse_reply_err(req, fs_xattr_remove(fs_of(req), ino, name));
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
