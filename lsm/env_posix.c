/*
 * env_posix.c — the POSIX I/O env: the only file of the store that calls
 * open, pread, mmap, pwrite, posix_fallocate, fdatasync, fsync, ftruncate,
 * rename, unlink, opendir, mkdir, flock or statvfs.  Everything else reaches the disk
 * through the lsm_env table (lsm.h), so a test can put the fault env
 * (env_fault.c) in between.
 *
 * struct lsm_file is defined here and only here: an fd, the path it was
 * opened with (for error messages) and, for files open for writing, the
 * offset of the next append and the append window, if any.  Other envs never define struct lsm_file;
 * env_fault.c hands out the base env's pointers unchanged and keeps its
 * own side table keyed by them.
 *
 * Errors: every failed call returns lsm_errno_rc(errno) (ENOSPC ->
 * LSM_ENOSPC, ENOENT -> LSM_ENOTFOUND, ...) and raises a message naming
 * the call and the path, e.g. "write db/000012.log: No space left on
 * device".  Apart from each file's own fields the env is stateless, so
 * it is thread-safe; a single
 * lsm_file may be read by many threads at once (pread), but appends,
 * truncate and close on one file must be serialised by the caller.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lsm_int.h"

/*
 * Append windows (map_append): the window [size, win_end) is
 * preallocated (posix_fallocate, which also moves the file's size on disk
 * to win_end) and mapped MAP_SHARED from the page boundary at or below
 * size, so writes through it are the page cache's own pages: a dead
 * process leaves them to write-back, fdatasync makes them durable, and
 * no page of it can meet a full disk (no SIGBUS).  commit moves size.
 * The zeros between size and alloc (the disk size) are cut by close.
 */
struct lsm_file {
	int fd;
	int flags;      /* LSM_O_* it was opened with; 0 for a lock file */
	uint64_t size;  /* writers: offset of the next append */
	uint64_t alloc; /* writers: size on disk, >= size (preallocation) */
	uint8_t *map;   /* the append window's mapping, or NULL */
	size_t maplen;  /* its length, from map_off */
	uint64_t map_off;  /* file offset of map (page-aligned) */
	uint64_t win_end;  /* end of the window: commits stop there */
	char path[];    /* as given to open or lock, NUL-terminated */
};

/* Raises the error for call on path from errno and returns its code. */
static int posix_err(const char *call, const char *path)
{
	int err = errno;

	return LSM_ERR(lsm_errno_rc(err), "%s %s: %s", call, path,
		       strerror(err));
}

/* A new lsm_file for fd (taken only on success), or NULL on ENOMEM. */
static lsm_file *file_new(int fd, int flags, const char *path)
{
	size_t plen = strlen(path);
	lsm_file *f = malloc(sizeof(*f) + plen + 1);

	if (!f)
		return NULL;
	f->fd = fd;
	f->flags = flags;
	f->size = f->alloc = 0;
	f->map = NULL;
	f->maplen = 0;
	f->map_off = f->win_end = 0;
	memcpy(f->path, path, plen + 1);
	return f;
}

/*
 * Exactly one of LSM_O_READ (O_RDONLY), LSM_O_CREATE (O_CREAT|O_TRUNC|
 * O_RDWR, mode 0644: a writable shared mapping needs read access too) or
 * LSM_O_APPEND (an existing file, O_RDWR so that
 * recovery can read, truncate and go on appending; appends start at its
 * current end).  *out is owned: close it with env->close.
 */
static int posix_open(lsm_env *env, const char *path, int flags,
		      lsm_file **out)
{
	lsm_file *f = NULL;
	struct stat st;
	int oflags, fd = -1, rc = LSM_OK;

	(void)env;
	*out = NULL;
	switch (flags) {
	case LSM_O_READ:
		oflags = O_RDONLY;
		break;
	case LSM_O_CREATE:
		oflags = O_CREAT | O_TRUNC | O_RDWR;
		break;
	case LSM_O_APPEND:
		oflags = O_RDWR;
		break;
	default:
		return LSM_ERR(LSM_EINVAL, "open %s: bad flags %d", path, flags);
	}
	if ((fd = open(path, oflags | O_CLOEXEC, 0644)) < 0) {
		rc = posix_err("open", path);
		goto out;
	}
	if (flags == LSM_O_APPEND && fstat(fd, &st) < 0) {
		rc = posix_err("fstat", path);
		goto out;
	}
	if (!(f = file_new(fd, flags, path))) {
		rc = LSM_ERR(LSM_ENOMEM, "open %s: out of memory", path);
		goto out;
	}
	fd = -1;
	if (flags == LSM_O_APPEND)
		f->size = f->alloc = (uint64_t)st.st_size;
	*out = f;
	f = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(f);
	return rc;
}

/* Reads up to n bytes at off, retrying short reads; *nread < n only at
 * the end of the file. */
static int posix_read(lsm_env *env, lsm_file *f, uint64_t off, void *buf,
		      size_t n, size_t *nread)
{
	uint8_t *p = buf;
	size_t done = 0;

	(void)env;
	*nread = 0;
	while (done < n) {
		ssize_t r = pread(f->fd, p + done, n - done,
				  (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return posix_err("read", f->path);
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*nread = done;
	return LSM_OK;
}

/*
 * Maps the first size bytes of a file open for reading, shared and
 * read-only (a private mapping would copy nothing either, but shared
 * pages are the page cache's own).  LSM_EINVAL when LSM_NO_MMAP is set in
 * the environment, for a writer, or for a size that is 0 or does not fit
 * the address space; the caller then reads with pread.
 */
static int posix_map(lsm_env *env, lsm_file *f, uint64_t size,
		     const void **addr)
{
	void *p;

	(void)env;
	*addr = NULL;
	if (getenv("LSM_NO_MMAP"))
		return LSM_ERR(LSM_EINVAL, "mmap %s: off (LSM_NO_MMAP)",
			       f->path);
	if (f->flags != LSM_O_READ || size == 0 || size > SIZE_MAX)
		return LSM_ERR(LSM_EINVAL, "mmap %s: bad file or size %llu",
			       f->path, (unsigned long long)size);
	p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, f->fd, 0);
	if (p == MAP_FAILED)
		return posix_err("mmap", f->path);
	*addr = p;
	return LSM_OK;
}

static int posix_unmap(lsm_env *env, lsm_file *f, const void *addr,
		       uint64_t size)
{
	(void)env;
	if (munmap((void *)(uintptr_t)addr, (size_t)size) < 0)
		return posix_err("munmap", f->path);
	return LSM_OK;
}

/* Ends f's append window (the preallocated zeros stay until close or
 * truncate cut them). */
static int window_end(lsm_file *f)
{
	int rc = LSM_OK;

	if (f->map && munmap(f->map, f->maplen) < 0)
		rc = posix_err("munmap", f->path);
	f->map = NULL;
	f->maplen = 0;
	f->win_end = f->size;
	return rc;
}

/* Cuts the preallocated zeros after f's end, if any. */
static int window_trim(lsm_file *f)
{
	if (f->alloc <= f->size)
		return LSM_OK;
	if (ftruncate(f->fd, (off_t)f->size) < 0)
		return posix_err("ftruncate", f->path);
	f->alloc = f->size;
	return LSM_OK;
}

static bool posix_writer(const lsm_file *f)
{
	return f->flags == LSM_O_CREATE || f->flags == LSM_O_APPEND;
}

/*
 * Opens an append window of size bytes at the end of f (see lsm.h and
 * struct lsm_file): ends the old one, preallocates [size, end of the
 * window rounded up to a page), maps from the page holding f's end.
 * On failure (LSM_ENOSPC from posix_fallocate, or a failed mmap) the
 * zeros are cut again, so the file ends where it did, with no window.
 * LSM_EINVAL when LSM_NO_MMAP is set: the caller appends.
 */
static int posix_map_append(lsm_env *env, lsm_file *f, size_t size,
			    void **addr)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start = f->size & ~(page - 1), end;
	void *p;
	int err, rc;

	(void)env;
	*addr = NULL;
	if ((rc = window_end(f)))
		return rc;
	if (getenv("LSM_NO_MMAP"))
		return LSM_ERR(LSM_EINVAL, "mmap %s: off (LSM_NO_MMAP)",
			       f->path);
	if (!posix_writer(f) || size == 0 || size > SIZE_MAX / 2)
		return LSM_ERR(LSM_EINVAL, "mmap %s: bad file or size %zu",
			       f->path, size);
	end = (f->size + size + page - 1) & ~(page - 1);
	if (end > f->alloc) {
		err = posix_fallocate(f->fd, (off_t)f->alloc,
				      (off_t)(end - f->alloc));
		if (err) {
			errno = err;
			rc = posix_err("fallocate", f->path);
			goto fail;
		}
		f->alloc = end;
	}
	p = mmap(NULL, (size_t)(end - start), PROT_READ | PROT_WRITE,
		 MAP_SHARED, f->fd, (off_t)start);
	if (p == MAP_FAILED) {
		rc = posix_err("mmap", f->path);
		goto fail;
	}
	f->map = p;
	f->maplen = (size_t)(end - start);
	f->map_off = start;
	f->win_end = f->size + size;
	*addr = f->map + (f->size - start);
	return LSM_OK;
fail:
	/* posix_fallocate may have extended the file before failing. */
	f->alloc = UINT64_MAX;
	if (window_trim(f))
		f->alloc = UINT64_MAX; /* the zeros stay; close tries again */
	return rc;
}

/* The next n bytes of the window are written: they join the file. */
static int posix_commit(lsm_env *env, lsm_file *f, size_t n)
{
	(void)env;
	if (!f->map || n > f->win_end - f->size)
		return LSM_ERR(LSM_EINVAL, "commit %s: %zu bytes past the "
			       "append window", f->path, n);
	f->size += n;
	return LSM_OK;
}

/*
 * Writes all n bytes at the file's end, looping over short writes and
 * EINTR.  On failure the file is cut back to its old length (best
 * effort), so a retry or the next append does not follow a torn piece.
 */
static int posix_append(lsm_env *env, lsm_file *f, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int rc;

	(void)env;
	if (!posix_writer(f))
		return LSM_ERR(LSM_EINVAL, "write %s: not open for writing",
			       f->path);
	if ((rc = window_end(f)))
		return rc;
	while (done < n) {
		ssize_t w = pwrite(f->fd, p + done, n - done,
				   (off_t)(f->size + done));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (w == 0) {
			errno = ENOSPC; /* pwrite made no progress */
			goto fail;
		}
		done += (size_t)w;
	}
	f->size += n;
	if (f->alloc < f->size)
		f->alloc = f->size;
	return LSM_OK;
fail:
	rc = posix_err("write", f->path);
	if (done) {
		if (ftruncate(f->fd, (off_t)f->size) < 0)
			f->size += done; /* could not undo: the piece stays */
		else
			f->alloc = f->size; /* preallocated zeros went too */
	}
	if (f->alloc < f->size)
		f->alloc = f->size;
	return rc;
}

static int posix_sync(lsm_env *env, lsm_file *f)
{
	(void)env;
	if (fdatasync(f->fd) < 0)
		return posix_err("fdatasync", f->path);
	return LSM_OK;
}

/* A writer's end (where the next append goes), or a reader's size on
 * disk (fstat). */
static int posix_size(lsm_env *env, lsm_file *f, uint64_t *size)
{
	struct stat st;

	(void)env;
	if (posix_writer(f)) {
		*size = f->size;
		return LSM_OK;
	}
	if (fstat(f->fd, &st) < 0)
		return posix_err("fstat", f->path);
	*size = (uint64_t)st.st_size;
	return LSM_OK;
}

/* Cuts (or extends) the file to size; later appends go there.  Needs a
 * file open with LSM_O_CREATE or LSM_O_APPEND. */
static int posix_truncate(lsm_env *env, lsm_file *f, uint64_t size)
{
	int rc;

	(void)env;
	if ((rc = window_end(f)))
		return rc;
	if (ftruncate(f->fd, (off_t)size) < 0)
		return posix_err("ftruncate", f->path);
	f->size = f->alloc = size;
	return LSM_OK;
}

/* Closes and frees f, whatever the outcome; a writer first loses its
 * append window and the preallocated zeros after its end (not synced:
 * after a power cut they may be back, as a torn tail of zeros). */
static int posix_close(lsm_env *env, lsm_file *f)
{
	int rc = LSM_OK;

	(void)env;
	if (!f)
		return LSM_OK;
	if (posix_writer(f)) {
		rc = window_end(f);
		int trc = window_trim(f);
		if (!rc)
			rc = trc;
	}
	/* Linux releases the fd even when close fails: never retry it. */
	if (close(f->fd) < 0 && !rc)
		rc = posix_err("close", f->path);
	free(f);
	return rc;
}

static int posix_rename(lsm_env *env, const char *from, const char *to)
{
	(void)env;
	if (rename(from, to) < 0) {
		int err = errno;

		return LSM_ERR(lsm_errno_rc(err), "rename %s to %s: %s", from,
			       to, strerror(err));
	}
	return LSM_OK;
}

static int posix_remove(lsm_env *env, const char *path)
{
	(void)env;
	if (unlink(path) < 0)
		return posix_err("unlink", path);
	return LSM_OK;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void lsm_env_list_free(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in dir, without "." and "..", sorted (strcmp) so that
 * callers and tests see a deterministic order.  *names owned:
 * lsm_env_list_free(*names, *n). */
static int posix_list(lsm_env *env, const char *dir, char ***names, size_t *n)
{
	DIR *d = NULL;
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	int rc = LSM_OK;

	(void)env;
	*names = NULL;
	*n = 0;
	if (!(d = opendir(dir))) {
		rc = posix_err("opendir", dir);
		goto out;
	}
	for (;;) {
		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				rc = posix_err("readdir", dir);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nv = realloc(v, ncap * sizeof(*v));
			if (!nv)
				goto nomem;
			v = nv;
			cap = ncap;
		}
		if (!(v[cnt] = strdup(de->d_name)))
			goto nomem;
		cnt++;
	}
	if (rc)
		goto out;
	if (cnt)
		qsort(v, cnt, sizeof(*v), name_cmp);
	*names = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
	goto out;
nomem:
	rc = LSM_ERR(LSM_ENOMEM, "list %s: out of memory", dir);
out:
	lsm_env_list_free(v, cnt);
	if (d)
		closedir(d);
	return rc;
}

/* Creates dir (mode 0755); LSM_OK if a directory is already there. */
static int posix_mkdir(lsm_env *env, const char *dir)
{
	struct stat st;

	(void)env;
	if (mkdir(dir, 0755) == 0)
		return LSM_OK;
	if (errno != EEXIST)
		return posix_err("mkdir", dir);
	if (stat(dir, &st) < 0)
		return posix_err("stat", dir);
	if (!S_ISDIR(st.st_mode))
		return LSM_ERR(LSM_EIO, "mkdir %s: exists and is not a directory",
			       dir);
	return LSM_OK;
}

/* fsync of the directory itself, which makes the creations, renames and
 * removals of names in it durable. */
static int posix_sync_dir(lsm_env *env, const char *dir)
{
	int fd, rc = LSM_OK;

	(void)env;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return posix_err("open", dir);
	if (fsync(fd) < 0)
		rc = posix_err("fsync", dir);
	close(fd);
	return rc;
}

/*
 * Takes an exclusive flock on path (created, mode 0644, if missing).
 * flock locks belong to the open file description, so a second lock of
 * the same path, even from this process, gets LSM_EBUSY.  *out owned:
 * release it with env->unlock (which also closes it).
 */
static int posix_lock(lsm_env *env, const char *path, lsm_file **out)
{
	lsm_file *f = NULL;
	int fd = -1, rc = LSM_OK;

	(void)env;
	*out = NULL;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		rc = posix_err("open", path);
		goto out;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			rc = LSM_ERR(LSM_EBUSY,
				     "lock %s: held by another process", path);
		else
			rc = posix_err("flock", path);
		goto out;
	}
	if (!(f = file_new(fd, 0, path))) {
		rc = LSM_ERR(LSM_ENOMEM, "lock %s: out of memory", path);
		goto out;
	}
	fd = -1;
	*out = f;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Releases the lock and frees lock, whatever the outcome. */
static int posix_unlock(lsm_env *env, lsm_file *lock)
{
	int rc = LSM_OK;

	if (!lock)
		return LSM_OK;
	if (flock(lock->fd, LOCK_UN) < 0)
		rc = posix_err("flock", lock->path);
	int crc = posix_close(env, lock);
	return rc ? rc : crc;
}

static int posix_disk_free(lsm_env *env, const char *dir, uint64_t *nbytes)
{
	struct statvfs sv;

	(void)env;
	*nbytes = 0;
	if (statvfs(dir, &sv) < 0)
		return posix_err("statvfs", dir);
	*nbytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return LSM_OK;
}

static lsm_env posix_env = {
	.open = posix_open,
	.read = posix_read,
	.map = posix_map,
	.unmap = posix_unmap,
	.append = posix_append,
	.map_append = posix_map_append,
	.commit = posix_commit,
	.sync = posix_sync,
	.size = posix_size,
	.truncate = posix_truncate,
	.close = posix_close,
	.rename = posix_rename,
	.remove = posix_remove,
	.list = posix_list,
	.mkdir = posix_mkdir,
	.sync_dir = posix_sync_dir,
	.lock = posix_lock,
	.unlock = posix_unlock,
	.disk_free = posix_disk_free,
	.destroy = NULL,
};

lsm_env *lsm_env_posix(void)
{
	return &posix_env;
}
