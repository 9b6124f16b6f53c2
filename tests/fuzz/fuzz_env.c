/*
 * fuzz_env.c — the in-memory lsm_env and the checksum switch of the fuzz
 * targets (see fuzz.h).  Single-threaded, like libFuzzer's loop.
 *
 * Files live in one table until fuzz_env_reset; a removed file, or one
 * replaced by a rename, stays allocated (unnamed) until then, so that a
 * handle still open on it keeps working as on POSIX.
 */
#include <string.h>

#include "fuzz.h"

bool fuzz_fake_crc;

uint32_t __real_lsm_crc32c(uint32_t crc, const void *buf, size_t n);
uint32_t __wrap_lsm_crc32c(uint32_t crc, const void *buf, size_t n);

uint32_t __wrap_lsm_crc32c(uint32_t crc, const void *buf, size_t n)
{
	if (fuzz_fake_crc)
		return FUZZ_FAKE_CRC;
	return __real_lsm_crc32c(crc, buf, n);
}

struct mfile {
	char *name;          /* owned; NULL once removed */
	struct lsm_buf data;
};

struct mhandle {
	struct mfile *f;     /* borrowed from the table */
	int flags;
};

static struct mfile **files;
static size_t nfiles, cap_files;

static struct mfile *mem_find(const char *path)
{
	for (size_t i = 0; i < nfiles; i++)
		if (files[i]->name && !strcmp(files[i]->name, path))
			return files[i];
	return NULL;
}

static struct mfile *mem_new(const char *path)
{
	struct mfile *f;

	if (nfiles == cap_files) {
		size_t cap = cap_files ? 2 * cap_files : 16;
		struct mfile **n = realloc(files, cap * sizeof(*n));
		if (!n)
			abort();
		files = n;
		cap_files = cap;
	}
	if (!(f = calloc(1, sizeof(*f))) || !(f->name = strdup(path)))
		abort();
	files[nfiles++] = f;
	return f;
}

static void mem_unname(struct mfile *f)
{
	free(f->name);
	f->name = NULL;
}

void fuzz_env_reset(void)
{
	for (size_t i = 0; i < nfiles; i++) {
		free(files[i]->name);
		lsm_buf_free(&files[i]->data);
		free(files[i]);
	}
	free(files);
	files = NULL;
	nfiles = cap_files = 0;
}

void fuzz_env_put(const char *path, const void *p, size_t n)
{
	struct mfile *f = mem_find(path);

	if (!f)
		f = mem_new(path);
	if (lsm_buf_set(&f->data, p, n))
		abort();
}

const uint8_t *fuzz_env_get(const char *path, size_t *n)
{
	struct mfile *f = mem_find(path);

	*n = f ? f->data.len : 0;
	if (!f)
		return NULL;
	return f->data.data ? f->data.data : (const uint8_t *)"";
}

static int mem_open(lsm_env *env, const char *path, int flags,
		    lsm_file **out)
{
	struct mfile *f = mem_find(path);
	struct mhandle *h;

	(void)env;
	*out = NULL;
	if (flags == LSM_O_CREATE) {
		if (!f)
			f = mem_new(path);
		lsm_buf_clear(&f->data);
	} else if (!f) {
		return LSM_ERR(LSM_ENOTFOUND, "%s: no such file", path);
	}
	if (!(h = malloc(sizeof(*h))))
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	h->f = f;
	h->flags = flags;
	*out = (lsm_file *)h;
	return LSM_OK;
}

static int mem_read(lsm_env *env, lsm_file *file, uint64_t off, void *buf,
		    size_t n, size_t *nread)
{
	struct mhandle *h = (struct mhandle *)file;
	size_t len = h->f->data.len;

	(void)env;
	*nread = 0;
	if (off >= len)
		return LSM_OK;
	if (n > len - off)
		n = len - (size_t)off;
	memcpy(buf, h->f->data.data + off, n);
	*nread = n;
	return LSM_OK;
}

static int mem_append(lsm_env *env, lsm_file *file, const void *buf,
		      size_t n)
{
	struct mhandle *h = (struct mhandle *)file;

	(void)env;
	if (h->flags == LSM_O_READ)
		return LSM_ERR(LSM_EIO, "append to a file opened for reading");
	return lsm_buf_append(&h->f->data, buf, n);
}

static int mem_sync(lsm_env *env, lsm_file *file)
{
	(void)env;
	(void)file;
	return LSM_OK;
}

static int mem_size(lsm_env *env, lsm_file *file, uint64_t *size)
{
	(void)env;
	*size = ((struct mhandle *)file)->f->data.len;
	return LSM_OK;
}

static int mem_truncate(lsm_env *env, lsm_file *file, uint64_t size)
{
	struct mhandle *h = (struct mhandle *)file;
	struct lsm_buf *b = &h->f->data;

	(void)env;
	if (h->flags == LSM_O_READ)
		return LSM_ERR(LSM_EIO, "truncate of a file opened for "
			       "reading");
	if (size > b->len) {
		size_t extra = (size_t)size - b->len;
		int rc = lsm_buf_reserve(b, extra);
		if (rc)
			return rc;
		memset(b->data + b->len, 0, extra);
	}
	b->len = (size_t)size;
	return LSM_OK;
}

static int mem_close(lsm_env *env, lsm_file *file)
{
	(void)env;
	free(file);
	return LSM_OK;
}

static int mem_rename(lsm_env *env, const char *from, const char *to)
{
	struct mfile *f = mem_find(from), *old = mem_find(to);
	char *name;

	(void)env;
	if (!f)
		return LSM_ERR(LSM_ENOTFOUND, "%s: no such file", from);
	if (f == old)
		return LSM_OK;
	if (!(name = strdup(to)))
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	if (old)
		mem_unname(old);
	free(f->name);
	f->name = name;
	return LSM_OK;
}

static int mem_remove(lsm_env *env, const char *path)
{
	struct mfile *f = mem_find(path);

	(void)env;
	if (!f)
		return LSM_ERR(LSM_ENOTFOUND, "%s: no such file", path);
	mem_unname(f);
	return LSM_OK;
}

static int mem_list(lsm_env *env, const char *dir, char ***names, size_t *n)
{
	size_t dlen = strlen(dir), k = 0;
	char **v;

	(void)env;
	*names = NULL;
	*n = 0;
	if (!(v = calloc(nfiles + 1, sizeof(*v))))
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	for (size_t i = 0; i < nfiles; i++) {
		const char *name = files[i]->name;
		if (!name || strncmp(name, dir, dlen) || name[dlen] != '/' ||
		    strchr(name + dlen + 1, '/'))
			continue;
		if (!(v[k] = strdup(name + dlen + 1))) {
			lsm_env_list_free(v, k);
			return LSM_ERR(LSM_ENOMEM, "out of memory");
		}
		k++;
	}
	*names = v;
	*n = k;
	return LSM_OK;
}

static int mem_mkdir(lsm_env *env, const char *dir)
{
	(void)env;
	(void)dir;
	return LSM_OK;
}

static int mem_sync_dir(lsm_env *env, const char *dir)
{
	(void)env;
	(void)dir;
	return LSM_OK;
}

static int mem_lock(lsm_env *env, const char *path, lsm_file **out)
{
	return mem_open(env, path, LSM_O_CREATE, out);
}

static int mem_disk_free(lsm_env *env, const char *dir, uint64_t *nbytes)
{
	(void)env;
	(void)dir;
	*nbytes = UINT64_C(1) << 40;
	return LSM_OK;
}

static lsm_env mem_env = {
	.open = mem_open,
	.read = mem_read,
	.append = mem_append,
	.sync = mem_sync,
	.size = mem_size,
	.truncate = mem_truncate,
	.close = mem_close,
	.rename = mem_rename,
	.remove = mem_remove,
	.list = mem_list,
	.mkdir = mem_mkdir,
	.sync_dir = mem_sync_dir,
	.lock = mem_lock,
	.unlock = mem_close,
	.disk_free = mem_disk_free,
	.destroy = NULL,
};

lsm_env *fuzz_env(void)
{
	return &mem_env;
}
