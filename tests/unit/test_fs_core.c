/*
 * test_fs_core.c — the filesystem's helpers on a real store in a temp
 * directory, without a mount: namespace operations and their nlink and
 * error rules, readdir offsets while the directory changes, file data
 * against an in-memory model (random writes, truncations, reads across
 * chunk boundaries; the stored byte count against the chunks), whole-chunk
 * writes that bypass the write buffer, holes and lseek, xattrs and ACL
 * modes, orphans, and everything again after close and reopen.  LSM_SEED overrides the seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#endif

static uint64_t seed = 4242;

static uint64_t rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

struct tfs {
	char dir[64];
	char store[96];
	struct fs_config cfg;
	struct fs *fs;
};

static const struct fs_ctx root_ctx = {0, 0};

static void tfs_open(struct tfs *t)
{
	char msg[256];
	int rc = fs_open(&t->cfg, &t->fs, msg, sizeof(msg));

	if (rc)
		fail_msg("fs_open: %s", msg);
}

static int setup(void **state)
{
	struct tfs *t = calloc(1, sizeof(*t));

	strcpy(t->dir, "/tmp/test_fs_core.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->store, sizeof(t->store), "%s/store", t->dir);
	t->cfg.store = t->store;
	t->cfg.chunk_size = 4096; /* small chunks: many boundaries */
	t->cfg.sync = FS_SYNC_FSYNC;
	tfs_open(t);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tfs *t = *state;
	char cmd[128];

	if (t->fs)
		assert_int_equal(fs_close(t->fs), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

static void tfs_reopen(struct tfs *t)
{
	assert_int_equal(fs_close(t->fs), 0);
	t->fs = NULL;
	tfs_open(t);
}

static uint64_t mk(struct fs *fs, uint64_t parent, const char *name, mode_t mode)
{
	struct stat st;

	assert_int_equal(fs_dir_create(fs, &root_ctx, parent, name, mode, 0,
				       S_ISLNK(mode) ? "target" : NULL, &st, NULL), 0);
	return st.st_ino;
}

static int look(struct fs *fs, uint64_t parent, const char *name, struct stat *st)
{
	struct stat tmp;
	int rc = fs_dir_lookup(fs, parent, name, st ? st : &tmp);

	if (!rc)
		fs_inode_forget(fs, (st ? st : &tmp)->st_ino, 1);
	return rc;
}

static struct stat getattr(struct fs *fs, uint64_t ino)
{
	struct fs_inode *ip;
	struct stat st;

	assert_int_equal(fs_inode_get(fs, ino, &ip), 0);
	fs_inode_stat(ip, &st);
	fs_inode_put(fs, ip);
	return st;
}

static bool key_exists(struct fs *fs, const uint8_t *k, size_t klen)
{
	void *v = NULL;
	size_t vl;
	int rc = lsm_get(fs->db, NULL, k, klen, &v, &vl);

	free(v);
	return rc == 0;
}

static void test_namespace(void **state)
{
	struct tfs *t = *state;
	struct fs *fs = t->fs;
	struct stat st;
	char longname[300];
	uint64_t d, f, g;

	d = mk(fs, 1, "d", S_IFDIR | 0755);
	f = mk(fs, d, "f", S_IFREG | 0644);
	assert_int_equal(getattr(fs, 1).st_nlink, 3);
	assert_int_equal(getattr(fs, d).st_nlink, 2);
	assert_int_equal(fs_dir_create(fs, &root_ctx, d, "f", S_IFREG | 0644, 0,
				       NULL, &st, NULL), EEXIST);
	memset(longname, 'x', 256);
	longname[256] = 0;
	assert_int_equal(fs_dir_create(fs, &root_ctx, d, longname, S_IFREG | 0644,
				       0, NULL, &st, NULL), ENAMETOOLONG);
	longname[255] = 0;
	mk(fs, d, longname, S_IFREG | 0600);
	assert_int_equal(look(fs, d, longname, &st), 0);
	assert_int_equal(st.st_mode, S_IFREG | 0600);
	assert_int_equal(look(fs, d, "nope", NULL), ENOENT);
	assert_int_equal(fs_dir_create(fs, &root_ctx, f, "x", S_IFREG | 0644, 0,
				       NULL, &st, NULL), ENOTDIR);

	/* symlink, fifo, device */
	g = mk(fs, d, "l", S_IFLNK | 0777);
	char buf[64];
	assert_int_equal(fs_dir_readlink(fs, g, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "target");
	assert_int_equal(fs_dir_readlink(fs, f, buf, sizeof(buf)), EINVAL);
	mk(fs, d, "p", S_IFIFO | 0644);
	assert_int_equal(fs_dir_create(fs, &root_ctx, d, "c", S_IFCHR | 0600,
				       makedev(1, 3), NULL, &st, NULL), 0);
	assert_int_equal(st.st_rdev, makedev(1, 3));

	/* link */
	assert_int_equal(fs_dir_link(fs, f, 1, "f2", &st), 0);
	fs_inode_forget(fs, f, 1);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(fs_dir_link(fs, d, 1, "dlink", &st), EPERM);
	assert_int_equal(fs_dir_link(fs, f, 1, "f2", &st), EEXIST);

	/* rmdir rules */
	assert_int_equal(fs_dir_rmdir(fs, 1, "d"), ENOTEMPTY);
	assert_int_equal(fs_dir_rmdir(fs, d, "f"), ENOTDIR);
	assert_int_equal(fs_dir_unlink(fs, 1, "d"), EISDIR);
	mk(fs, d, "sub", S_IFDIR | 0755);
	assert_int_equal(getattr(fs, d).st_nlink, 3);
	assert_int_equal(fs_dir_rmdir(fs, d, "sub"), 0);
	assert_int_equal(getattr(fs, d).st_nlink, 2);

	/* unlink one of two names */
	assert_int_equal(fs_dir_unlink(fs, d, "f"), 0);
	assert_int_equal(getattr(fs, f).st_nlink, 1);
	assert_int_equal(look(fs, 1, "f2", &st), 0);
	assert_int_equal(st.st_ino, f);

	/* everything survives a reopen */
	tfs_reopen(t);
	fs = t->fs;
	assert_int_equal(look(fs, d, longname, NULL), 0);
	assert_int_equal(look(fs, d, "l", &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(look(fs, d, "f", NULL), ENOENT);
	assert_int_equal(getattr(fs, 1).st_nlink, 3);
	/* inode numbers are never reused, also after a reopen */
	assert_true(mk(fs, 1, "new", S_IFREG | 0644) > g);
}

static void test_rename(void **state)
{
	struct tfs *t = *state;
	struct fs *fs = t->fs;
	struct stat st;
	uint64_t a, b, x, y, e, a2;

	a = mk(fs, 1, "a", S_IFDIR | 0755);
	b = mk(fs, 1, "b", S_IFDIR | 0755);
	x = mk(fs, a, "x", S_IFREG | 0644);
	y = mk(fs, b, "y", S_IFREG | 0644);

	/* replace a file; the replaced one loses its name */
	assert_int_equal(fs_dir_rename(fs, a, "x", b, "y", 0), 0);
	assert_int_equal(look(fs, b, "y", &st), 0);
	assert_int_equal(st.st_ino, x);
	assert_int_equal(look(fs, a, "x", NULL), ENOENT);
	assert_int_equal(getattr(fs, y).st_nlink, 0);

	/* NOREPLACE and EXCHANGE */
	mk(fs, a, "x", S_IFREG | 0644);
	assert_int_equal(fs_dir_rename(fs, a, "x", b, "y", RENAME_NOREPLACE), EEXIST);
	assert_int_equal(fs_dir_rename(fs, a, "x", b, "zz", RENAME_EXCHANGE), ENOENT);
	assert_int_equal(fs_dir_rename(fs, a, "x", b, "y", RENAME_EXCHANGE), 0);
	assert_int_equal(look(fs, a, "x", &st), 0);
	assert_int_equal(st.st_ino, x);

	/* directories: into own subtree, over non-empty, over empty,
	 * file/dir mismatches, parent nlink */
	e = mk(fs, a, "sub", S_IFDIR | 0755);
	assert_int_equal(fs_dir_rename(fs, 1, "a", e, "in", 0), EINVAL);
	assert_int_equal(fs_dir_rename(fs, 1, "a", 1, "b", 0), ENOTEMPTY);
	assert_int_equal(fs_dir_rename(fs, a, "x", 1, "b", 0), EISDIR);
	assert_int_equal(fs_dir_rename(fs, 1, "a", b, "y", 0), ENOTDIR);
	mk(fs, b, "empty", S_IFDIR | 0755);
	assert_int_equal(getattr(fs, a).st_nlink, 3);
	assert_int_equal(getattr(fs, b).st_nlink, 3);
	assert_int_equal(fs_dir_rename(fs, a, "sub", b, "empty", 0), 0);
	assert_int_equal(getattr(fs, a).st_nlink, 2);
	assert_int_equal(getattr(fs, b).st_nlink, 3);
	assert_int_equal(look(fs, b, "empty", &st), 0);
	assert_int_equal(st.st_ino, e);
	/* ".." of the moved directory */
	assert_int_equal(look(fs, e, "..", &st), 0);
	assert_int_equal(st.st_ino, b);
	/* a directory exchanged with a file across directories */
	assert_int_equal(fs_dir_rename(fs, b, "empty", a, "x", RENAME_EXCHANGE), 0);
	assert_int_equal(getattr(fs, a).st_nlink, 3);
	assert_int_equal(getattr(fs, b).st_nlink, 2);
	assert_int_equal(look(fs, e, "..", &st), 0);
	assert_int_equal(st.st_ino, a);
	/* rename onto another name of the same inode does nothing */
	assert_int_equal(fs_dir_link(fs, x, b, "x2", &st), 0);
	fs_inode_forget(fs, x, 1);
	assert_int_equal(fs_dir_rename(fs, b, "empty", b, "x2", 0), 0);
	assert_int_equal(look(fs, b, "empty", NULL), 0);
	assert_int_equal(getattr(fs, x).st_nlink, 2);
	/* rename within a directory */
	a2 = mk(fs, a, "d2", S_IFDIR | 0755);
	assert_int_equal(fs_dir_rename(fs, a, "d2", a, "d3", 0), 0);
	assert_int_equal(look(fs, a, "d3", &st), 0);
	assert_int_equal(st.st_ino, a2);
	assert_int_equal(getattr(fs, a).st_nlink, 4);
	tfs_reopen(t);
	assert_int_equal(getattr(t->fs, a).st_nlink, 4);
	assert_int_equal(look(t->fs, a, "d3", NULL), 0);
}

struct collect {
	char names[2000][16];
	off_t offs[2000];
	int n, max;
};

static int collect(void *arg, const char *name, const struct stat *st,
		   off_t next_off)
{
	struct collect *c = arg;

	(void)st;
	if (c->n >= c->max)
		return 1;
	snprintf(c->names[c->n], sizeof(c->names[0]), "%s", name);
	c->offs[c->n++] = next_off;
	return 0;
}

static void test_readdir(void **state)
{
	struct tfs *t = *state;
	struct fs *fs = t->fs;
	struct fs_dirh *dh = NULL;
	static struct collect c;
	static bool seen[600];
	char name[16];
	uint64_t d = mk(fs, 1, "dir", S_IFDIR | 0755);
	off_t off = 0;

	for (int i = 0; i < 600; i++) {
		snprintf(name, sizeof(name), "f%04d", i);
		mk(fs, d, name, S_IFREG | 0644);
	}
	assert_int_equal(fs_dir_open(fs, d, &dh), 0);
	/* read in pieces of 50, deleting even entries and adding new ones
	 * between the pieces: every odd entry is still seen exactly once */
	memset(seen, 0, sizeof(seen));
	for (int round = 0;; round++) {
		c.n = 0;
		c.max = 50;
		assert_int_equal(fs_dir_read(fs, dh, d, off, round % 2, collect, &c), 0);
		if (c.n == 0)
			break;
		for (int i = 0; i < c.n; i++) {
			int k;

			if (sscanf(c.names[i], "f%d", &k) == 1 && k < 600) {
				assert_false(seen[k]);
				seen[k] = true;
			}
			if (round % 2 && strcmp(c.names[i], ".") &&
			    strcmp(c.names[i], ".."))
				fs_inode_forget(fs, 0, 0); /* no-op */
		}
		off = c.offs[c.n - 1];
		if (round == 1) {
			for (int i = 0; i < 600; i += 2) {
				snprintf(name, sizeof(name), "f%04d", i);
				fs_dir_unlink(fs, d, name);
			}
			mk(fs, d, "zzz-new", S_IFREG | 0644);
		}
	}
	for (int i = 1; i < 600; i += 2)
		assert_true(seen[i]);
	/* seeking back to an offset we gave resumes there */
	c.n = 0;
	c.max = 3;
	assert_int_equal(fs_dir_read(fs, dh, d, 0, false, collect, &c), 0);
	assert_string_equal(c.names[0], ".");
	assert_string_equal(c.names[1], "..");
	off = c.offs[2];
	c.n = 0;
	c.max = 1;
	assert_int_equal(fs_dir_read(fs, dh, d, off, false, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.names[0], "f0003");
	fs_dir_close(dh);
}

/* Model-based data test: random writes, truncations and reads. */
/* The bytes the store holds in ino's chunk values. */
static uint64_t stored_sum(struct fs *fs, uint64_t ino)
{
	uint8_t k[FS_KEY_MAX], pre[FS_KEY_MAX];
	size_t plen = fs_key_prefix(pre, FS_K_CHUNK, ino), kl, vl;
	uint64_t sum = 0;
	lsm_iter *it = NULL;

	assert_int_equal(lsm_iter_open(fs->db, NULL, &it), 0);
	for (lsm_iter_seek(it, k, fs_key_chunk(k, ino, 0)); lsm_iter_valid(it);
	     lsm_iter_next(it)) {
		const uint8_t *key = lsm_iter_key(it, &kl);

		if (kl != plen + 8 || memcmp(key, pre, plen))
			break;
		lsm_iter_value(it, &vl);
		sum += vl;
	}
	assert_int_equal(lsm_iter_status(it), 0);
	lsm_iter_close(it);
	return sum;
}

static void test_data_model(void **state)
{
	struct tfs *t = *state;
	struct fs *fs = t->fs;
	const size_t max = 200000;
	uint8_t *model = calloc(1, max), *buf = malloc(max), *w = malloc(max);
	struct fs_inode *ip = NULL;
	struct stat st;
	size_t size = 0, n;
	uint64_t ino;

	assert_int_equal(fs_dir_create(fs, &root_ctx, 1, "data", S_IFREG | 0644, 0,
				       NULL, &st, &ip), 0);
	ino = st.st_ino;
	for (int op = 0; op < 3000; op++) {
		int kind = (int)(rnd() % 10);

		if (kind < 6) { /* write, often sequential */
			size_t off = kind < 3 ? size : rnd() % max;
			size_t len = 1 + rnd() % (kind == 0 ? 20000 : 5000);

			if (off + len > max)
				len = max - off;
			if (!len)
				continue;
			for (size_t i = 0; i < len; i++)
				w[i] = (uint8_t)rnd();
			assert_int_equal(fs_file_write(fs, ip, off, w, len, false, &n), 0);
			assert_int_equal(n, len);
			memcpy(model + off, w, len);
			if (off + len > size)
				size = off + len;
		} else if (kind < 8) { /* read */
			size_t off = rnd() % max, len = rnd() % 30000, exp;

			assert_int_equal(fs_file_read(fs, ip, off, len, buf, &n), 0);
			exp = off >= size ? 0 : (size - off < len ? size - off : len);
			assert_int_equal(n, exp);
			assert_memory_equal(buf, model + off, exp);
		} else if (kind == 8) { /* truncate */
			struct stat a = {0}, out;
			size_t ns = rnd() % max;

			a.st_size = (off_t)ns;
			assert_int_equal(fs_file_setattr(fs, &root_ctx, ino, &a,
							 FS_SET_SIZE, &out), 0);
			if (ns < size)
				memset(model + ns, 0, size - ns);
			size = ns;
			assert_int_equal(out.st_size, (off_t)size);
		} else { /* flush, sometimes reopen the whole filesystem */
			assert_int_equal(fs_file_flush(fs, ip), 0);
			assert_int_equal(ip->a.stored, stored_sum(fs, ino));
			if (rnd() % 20 == 0) {
				fs_inode_put(fs, ip);
				fs_inode_forget(fs, ino, 1);
				tfs_reopen(t);
				fs = t->fs;
				assert_int_equal(look(fs, 1, "data", NULL), 0);
				assert_int_equal(fs_inode_get(fs, ino, &ip), 0);
				fs_inode_lookup_inc(fs, ip);
			}
		}
		assert_int_equal(getattr(fs, ino).st_size, (off_t)size);
	}
	assert_int_equal(fs_file_read(fs, ip, 0, max, buf, &n), 0);
	assert_int_equal(n, size);
	assert_memory_equal(buf, model, size);
	fs_inode_put(fs, ip);
	free(model);
	free(buf);
	free(w);
}

/* Writes covering whole aligned chunks go to the store without the write
 * buffer, replace a buffered copy of their chunk, and keep the stored
 * byte count exact: appended, over a hole, over a short chunk, over a
 * buffered chunk; the partial ends of a misaligned write are buffered. */
static void test_whole_chunk_writes(void **state)
{
	struct tfs *t = *state;
	struct fs *fs = t->fs;
	const size_t cs = fs->chunk_size;
	uint8_t *w = malloc(8 * cs), *buf = malloc(12 * cs), *model = calloc(1, 12 * cs);
	struct fs_inode *ip = NULL;
	struct stat st, a = {0}, out;
	uint64_t ino;
	size_t n;

	for (size_t i = 0; i < 8 * cs; i++)
		w[i] = (uint8_t)rnd();
	assert_int_equal(fs_dir_create(fs, &root_ctx, 1, "whole", S_IFREG | 0644, 0,
				       NULL, &st, &ip), 0);
	ino = st.st_ino;
	/* appended whole chunks: stored at once, nothing buffered */
	assert_int_equal(fs_file_write(fs, ip, 0, w, 3 * cs, false, &n), 0);
	assert_int_equal(n, 3 * cs);
	memcpy(model, w, 3 * cs);
	assert_int_equal(ip->nwb, 0);
	assert_int_equal(stored_sum(fs, ino), 3 * cs);
	/* its batch went back to the pool, cleared, for the next write */
	assert_int_equal(fs->nbatches, 1);
	assert_int_equal(lsm_batch_count(fs->batches[0]), 0);
	assert_int_equal(ip->a.stored, 3 * cs);
	assert_int_equal(getattr(fs, ino).st_size, (off_t)(3 * cs));
	/* a buffered piece of chunk 1, then a whole write over chunk 1 */
	assert_int_equal(fs_file_write(fs, ip, cs + 5, w + 7 * cs, 100, false, &n), 0);
	assert_int_equal(ip->nwb, 1);
	assert_int_equal(fs_file_write(fs, ip, cs, w + 4 * cs, cs, false, &n), 0);
	memcpy(model + cs, w + 4 * cs, cs);
	assert_int_equal(ip->nwb, 0);
	assert_int_equal(ip->a.stored, 3 * cs);
	/* a short chunk 5 past a hole (chunk 4), extended by truncation,
	 * then whole writes over the hole and over the short chunk */
	assert_int_equal(fs_file_write(fs, ip, 5 * cs, w, 10, false, &n), 0);
	memcpy(model + 5 * cs, w, 10);
	assert_int_equal(fs_file_flush(fs, ip), 0);
	a.st_size = (off_t)(8 * cs);
	assert_int_equal(fs_file_setattr(fs, &root_ctx, ino, &a, FS_SET_SIZE, &out), 0);
	assert_int_equal(ip->a.stored, 3 * cs + 10);
	assert_int_equal(fs_file_write(fs, ip, 4 * cs, w + cs, 2 * cs, false, &n), 0);
	memcpy(model + 4 * cs, w + cs, 2 * cs);
	assert_int_equal(ip->nwb, 0);
	assert_int_equal(ip->a.stored, 5 * cs);
	assert_int_equal(stored_sum(fs, ino), 5 * cs);
	assert_int_equal(getattr(fs, ino).st_size, (off_t)(8 * cs));
	/* misaligned: the partial head and tail chunks are buffered */
	assert_int_equal(fs_file_write(fs, ip, 7 * cs + cs / 2, w, 4 * cs, false, &n), 0);
	memcpy(model + 7 * cs + cs / 2, w, 4 * cs);
	assert_int_equal(ip->nwb, 2);
	assert_int_equal(ip->wb[0].idx, 7);
	assert_int_equal(ip->wb[1].idx, 11);
	assert_int_equal(getattr(fs, ino).st_size, (off_t)(11 * cs + cs / 2));
	assert_int_equal(getattr(fs, ino).st_blocks, (blkcnt_t)((11 * cs + cs / 2 - 2 * cs + 4095) / 4096 * 8));
	assert_int_equal(fs_file_read(fs, ip, 0, 12 * cs, buf, &n), 0);
	assert_int_equal(n, 11 * cs + cs / 2);
	assert_memory_equal(buf, model, n);
	assert_int_equal(fs_file_flush(fs, ip), 0);
	assert_int_equal(stored_sum(fs, ino), ip->a.stored);
	fs_inode_put(fs, ip);
	/* and after a reopen */
	tfs_reopen(t);
	fs = t->fs;
	assert_int_equal(fs_inode_get(fs, ino, &ip), 0);
	assert_int_equal(ip->a.stored, stored_sum(fs, ino));
	assert_int_equal(fs_file_read(fs, ip, 0, 12 * cs, buf, &n), 0);
	assert_int_equal(n, 11 * cs + cs / 2);
	assert_memory_equal(buf, model, n);
	fs_inode_put(fs, ip);
	free(w);
	free(buf);
	free(model);
}

static void test_holes_lseek(void **state)
{
	struct tfs *t = *state;
	struct fs *fs = t->fs;
	struct fs_inode *ip = NULL;
	struct stat st;
	uint8_t buf[64];
	uint64_t pos;
	size_t n;

	assert_int_equal(fs_dir_create(fs, &root_ctx, 1, "h", S_IFREG | 0644, 0,
				       NULL, &st, &ip), 0);
	/* data at 100 KiB and at 1 MiB; chunks are 4 KiB here */
	assert_int_equal(fs_file_write(fs, ip, 100 * 1024, (const uint8_t *)"A", 1, false, &n), 0);
	assert_int_equal(fs_file_write(fs, ip, 1 << 20, (const uint8_t *)"B", 1, false, &n), 0);
	assert_int_equal(fs_file_lseek(fs, ip, 0, SEEK_DATA, &pos), 0);
	assert_int_equal(pos, 100 * 1024);
	assert_int_equal(fs_file_lseek(fs, ip, 100 * 1024, SEEK_HOLE, &pos), 0);
	assert_int_equal(pos, 104 * 1024);
	assert_int_equal(fs_file_lseek(fs, ip, 0, SEEK_HOLE, &pos), 0);
	assert_int_equal(pos, 0);
	assert_int_equal(fs_file_lseek(fs, ip, 104 * 1024, SEEK_DATA, &pos), 0);
	assert_int_equal(pos, 1 << 20);
	/* the end of the file is a hole; at or past it is ENXIO */
	assert_int_equal(fs_file_lseek(fs, ip, 1 << 20, SEEK_HOLE, &pos), 0);
	assert_int_equal(pos, (1 << 20) + 1);
	assert_int_equal(fs_file_lseek(fs, ip, (1 << 20) + 1, SEEK_HOLE, &pos), ENXIO);
	assert_int_equal(fs_file_lseek(fs, ip, (1 << 20) + 1, SEEK_DATA, &pos), ENXIO);
	assert_int_equal(fs_file_read(fs, ip, 100 * 1024 - 8, 16, buf, &n), 0);
	assert_int_equal(n, 16);
	assert_int_equal(buf[7], 0);
	assert_int_equal(buf[8], 'A');
	assert_int_equal(buf[9], 0);
	/* few blocks for a 1 MiB file */
	assert_true(getattr(fs, st.st_ino).st_blocks <= 16);
	/* fallocate extends with zeros; KEEP_SIZE does not; others refused */
	assert_int_equal(fs_file_fallocate(fs, ip, 0, 0, 2 << 20), 0);
	assert_int_equal(getattr(fs, st.st_ino).st_size, 2 << 20);
	assert_int_equal(fs_file_fallocate(fs, ip, FALLOC_FL_KEEP_SIZE, 0, 3 << 20), 0);
	assert_int_equal(getattr(fs, st.st_ino).st_size, 2 << 20);
	assert_int_equal(fs_file_fallocate(fs, ip, FALLOC_FL_PUNCH_HOLE |
					   FALLOC_FL_KEEP_SIZE, 0, 10), EOPNOTSUPP);
	fs_inode_put(fs, ip);
}

static void test_xattr(void **state)
{
	struct tfs *t = *state;
	struct fs *fs = t->fs;
	uint64_t f = mk(fs, 1, "x", S_IFREG | 0644);
	char buf[128];
	size_t len;
	/* user::rw- user:1000:r-x group::r-- mask::r-x other::--- */
	static const uint8_t acl[] = {2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,
				      2, 0, 5, 0, 0xe8, 3, 0, 0, 4, 0, 4, 0, 0xff,
				      0xff, 0xff, 0xff, 16, 0, 5, 0, 0xff, 0xff, 0xff,
				      0xff, 32, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t minimal[] = {2, 0, 0, 0, 1, 0, 7, 0, 0xff, 0xff, 0xff,
					  0xff, 4, 0, 5, 0, 0xff, 0xff, 0xff, 0xff,
					  32, 0, 1, 0, 0xff, 0xff, 0xff, 0xff};

	assert_int_equal(fs_xattr_set(fs, f, "user.a", "1", 1, 0), 0);
	assert_int_equal(fs_xattr_set(fs, f, "user.a", "2", 1, XATTR_CREATE), EEXIST);
	assert_int_equal(fs_xattr_set(fs, f, "user.b", "2", 1, XATTR_REPLACE), ENODATA);
	assert_int_equal(fs_xattr_set(fs, f, "user.b", "", 0, 0), 0);
	assert_int_equal(fs_xattr_get(fs, f, "user.a", NULL, 0, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(fs_xattr_get(fs, f, "user.b", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(fs_xattr_set(fs, f, "user.a", "long value", 10, XATTR_REPLACE), 0);
	assert_int_equal(fs_xattr_get(fs, f, "user.a", buf, 5, &len), ERANGE);
	assert_int_equal(fs_xattr_list(fs, f, NULL, 0, &len), 0);
	assert_int_equal(len, 14);
	assert_int_equal(fs_xattr_list(fs, f, buf, 13, &len), ERANGE);
	assert_int_equal(fs_xattr_list(fs, f, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "user.a\0user.b\0", 14);
	assert_int_equal(fs_xattr_remove(fs, f, "user.a"), 0);
	assert_int_equal(fs_xattr_remove(fs, f, "user.a"), ENODATA);
	assert_int_equal(fs_xattr_get(fs, f, "user.a", buf, sizeof(buf), &len), ENODATA);

	/* a minimal ACL only sets the mode */
	assert_int_equal(fs_xattr_set(fs, f, "system.posix_acl_access", minimal,
				      sizeof(minimal), 0), 0);
	assert_int_equal(getattr(fs, f).st_mode, S_IFREG | 0751);
	assert_int_equal(fs_xattr_get(fs, f, "system.posix_acl_access", buf,
				      sizeof(buf), &len), ENODATA);
	/* a full ACL is stored and its mask gives the group bits */
	assert_int_equal(fs_xattr_set(fs, f, "system.posix_acl_access", acl,
				      sizeof(acl), 0), 0);
	assert_int_equal(getattr(fs, f).st_mode, S_IFREG | 0650);
	assert_int_equal(fs_xattr_get(fs, f, "system.posix_acl_access", buf,
				      sizeof(buf), &len), 0);
	assert_int_equal(len, sizeof(acl));
	/* chmod rewrites the ACL's mask */
	struct stat a = {0}, out;
	a.st_mode = 0700;
	assert_int_equal(fs_file_setattr(fs, &root_ctx, f, &a, FS_SET_MODE, &out), 0);
	assert_int_equal(fs_xattr_get(fs, f, "system.posix_acl_access", buf,
				      sizeof(buf), &len), 0);
	assert_int_equal(buf[4 + 3 * 8 + 2], 0); /* mask --- */
	assert_int_equal(buf[4 + 2], 7);          /* user::rwx */
	assert_int_equal(fs_xattr_set(fs, f, "system.posix_acl_access", "junk", 4, 0),
			 EINVAL);
}

/* Counts the keys with prefix tag+ino. */
static size_t prefix_count(struct fs *fs, uint8_t tag, uint64_t ino)
{
	uint8_t pre[FS_KEY_MAX];
	size_t plen = fs_key_prefix(pre, tag, ino), kl, n = 0;
	lsm_iter *it = NULL;

	assert_int_equal(lsm_iter_open(fs->db, NULL, &it), 0);
	for (lsm_iter_seek(it, pre, plen); lsm_iter_valid(it); lsm_iter_next(it)) {
		const uint8_t *key = lsm_iter_key(it, &kl);

		if (kl < plen || memcmp(key, pre, plen))
			break;
		n++;
	}
	assert_int_equal(lsm_iter_status(it), 0);
	lsm_iter_close(it);
	return n;
}

/* A new inode is known to have no xattrs (answered from memory), until
 * one is stored; a purge deletes every chunk and xattr of small and
 * large files; setting an ACL says whether the mode changed. */
static void test_xattr_known_none(void **state)
{
	struct tfs *t = *state;
	struct fs *fs = t->fs;
	uint64_t f = mk(fs, 1, "n", S_IFREG | 0644), g, h;
	uint8_t k[FS_KEY_MAX], data[20 * 4096];
	static const uint8_t acl755[] = {2, 0, 0, 0, 1, 0, 7, 0, 0xff, 0xff, 0xff,
					 0xff, 4, 0, 5, 0, 0xff, 0xff, 0xff, 0xff,
					 32, 0, 5, 0, 0xff, 0xff, 0xff, 0xff};
	struct fs_inode *ip = NULL;
	struct stat st;
	char buf[64];
	size_t len, n;
	bool changed = true;

	/* a key this mount did not write is not seen for a new inode... */
	assert_int_equal(lsm_put(fs->db, k, fs_key_xattr(k, f, "user.s", 6), "v", 1, 0), 0);
	assert_int_equal(fs_xattr_get(fs, f, "user.s", buf, sizeof(buf), &len), ENODATA);
	assert_int_equal(fs_xattr_list_for(fs, NULL, f, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 0);
	/* ...but is after a remount, where the state is unknown */
	tfs_reopen(t);
	fs = t->fs;
	assert_int_equal(fs_xattr_get(fs, f, "user.s", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(fs_xattr_remove(fs, f, "user.s"), 0);

	/* setting one clears the state */
	g = mk(fs, 1, "g", S_IFREG | 0644);
	assert_int_equal(fs_xattr_set(fs, g, "user.a", "1", 1, XATTR_REPLACE), ENODATA);
	assert_int_equal(fs_xattr_set(fs, g, "user.a", "1", 1, XATTR_CREATE), 0);
	assert_int_equal(fs_xattr_get(fs, g, "user.a", buf, sizeof(buf), &len), 0);
	assert_int_equal(fs_xattr_list_for(fs, NULL, g, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 7);

	/* an ACL that leaves the mode as it is, then one that changes it */
	assert_int_equal(fs_xattr_set(fs, g, "user.a", "1", 1, XATTR_CREATE), EEXIST);
	h = mk(fs, 1, "h", S_IFREG | 0755);
	assert_int_equal(fs_xattr_set_m(fs, h, "system.posix_acl_access", acl755,
					sizeof(acl755), 0, &changed), 0);
	assert_false(changed);
	assert_int_equal(fs_xattr_set_m(fs, g, "system.posix_acl_access", acl755,
					sizeof(acl755), 0, &changed), 0);
	assert_true(changed);
	assert_int_equal(getattr(fs, g).st_mode, S_IFREG | 0755);
	assert_int_equal(prefix_count(fs, FS_K_XATTR, h), 0);

	/* purge: 3 chunks (deleted one by one) and 20 (scanned), xattrs */
	memset(data, 'd', sizeof(data));
	assert_int_equal(fs_dir_create(fs, &root_ctx, 1, "small", S_IFREG | 0644, 0,
				       NULL, &st, &ip), 0);
	assert_int_equal(fs_file_write(fs, ip, 0, data, 3 * 4096 - 5, false, &n), 0);
	assert_int_equal(fs_file_flush(fs, ip), 0);
	fs_inode_put(fs, ip);
	g = st.st_ino;
	assert_int_equal(fs_dir_create(fs, &root_ctx, 1, "big", S_IFREG | 0644, 0,
				       NULL, &st, &ip), 0);
	assert_int_equal(fs_file_write(fs, ip, 0, data, sizeof(data), false, &n), 0);
	assert_int_equal(fs_file_flush(fs, ip), 0);
	fs_inode_put(fs, ip);
	h = st.st_ino;
	assert_int_equal(fs_xattr_set(fs, h, "user.x", "1", 1, 0), 0);
	assert_int_equal(prefix_count(fs, FS_K_CHUNK, g), 3);
	assert_int_equal(prefix_count(fs, FS_K_CHUNK, h), 20);
	assert_int_equal(fs_dir_unlink(fs, 1, "small"), 0);
	assert_int_equal(fs_dir_unlink(fs, 1, "big"), 0);
	fs_inode_forget(fs, g, 1);
	fs_inode_forget(fs, h, 1);
	assert_int_equal(prefix_count(fs, FS_K_CHUNK, g), 0);
	assert_int_equal(prefix_count(fs, FS_K_CHUNK, h), 0);
	assert_int_equal(prefix_count(fs, FS_K_XATTR, h), 0);
	assert_false(key_exists(fs, k, fs_key_inode(k, g)));
	assert_false(key_exists(fs, k, fs_key_orphan(k, h)));
}

static void test_orphans(void **state)
{
	struct tfs *t = *state;
	struct fs *fs = t->fs;
	struct fs_inode *ip = NULL;
	struct fs_file *fh = NULL;
	struct stat st;
	uint8_t k[FS_KEY_MAX], buf[16];
	size_t n;
	uint64_t ino;

	/* an open file keeps its data after its last name goes */
	assert_int_equal(fs_dir_create(fs, &root_ctx, 1, "o", S_IFREG | 0644, 0,
				       NULL, &st, &ip), 0);
	ino = st.st_ino;
	assert_int_equal(fs_file_wrap(ip, O_RDWR, &fh), 0);
	assert_int_equal(fs_file_write(fs, ip, 0, (const uint8_t *)"hello", 5, false, &n), 0);
	assert_int_equal(fs_dir_unlink(fs, 1, "o"), 0);
	fs_inode_forget(fs, ino, 1); /* the kernel drops its dentry */
	assert_true(key_exists(fs, k, fs_key_orphan(k, ino)));
	assert_int_equal(fs_file_write(fs, ip, 5, (const uint8_t *)" world", 6, false, &n), 0);
	assert_int_equal(fs_file_read(fs, ip, 0, sizeof(buf), buf, &n), 0);
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "hello world", 11);
	assert_int_equal(fs_file_release(fs, fh), 0);
	/* the last reference went: everything is deleted */
	assert_false(key_exists(fs, k, fs_key_orphan(k, ino)));
	assert_false(key_exists(fs, k, fs_key_inode(k, ino)));
	assert_false(key_exists(fs, k, fs_key_chunk(k, ino, 0)));

	/* an orphan left by a crash is deleted by the next open */
	assert_int_equal(fs_dir_create(fs, &root_ctx, 1, "o2", S_IFREG | 0644, 0,
				       NULL, &st, &ip), 0);
	ino = st.st_ino;
	assert_int_equal(fs_file_write(fs, ip, 0, (const uint8_t *)"x", 1, false, &n), 0);
	assert_int_equal(fs_file_flush(fs, ip), 0);
	assert_int_equal(fs_xattr_set(fs, ino, "user.q", "v", 1, 0), 0);
	assert_int_equal(fs_dir_unlink(fs, 1, "o2"), 0);
	/* simulate the crash: the orphan record is there, the inode too */
	assert_true(key_exists(fs, k, fs_key_orphan(k, ino)));
	fs_inode_put(fs, ip); /* still looked up: stays */
	assert_true(key_exists(fs, k, fs_key_inode(k, ino)));
	/* fs_close purges in-memory orphans; remove the purge's effect by
	 * putting the records back as a crash would have left them */
	lsm_db *db = fs->db;
	uint8_t rec[FS_INODE_REC_MAX];
	struct fs_attr a = {0};
	a.ino = ino;
	a.mode = S_IFREG | 0644;
	size_t rl = fs_inode_encode(&a, NULL, 0, rec, sizeof(rec));
	assert_int_equal(fs_close(fs), 0);
	t->fs = NULL;
	{
		struct lsm_options o;
		lsm_options_init(&o);
		assert_int_equal(lsm_open(t->store, &o, &db), 0);
		assert_int_equal(lsm_put(db, k, fs_key_inode(k, ino), rec, rl, 0), 0);
		assert_int_equal(lsm_put(db, k, fs_key_chunk(k, ino, 0), "x", 1, 0), 0);
		assert_int_equal(lsm_put(db, k, fs_key_orphan(k, ino), "", 0, 0), 0);
		assert_int_equal(lsm_close(db), 0);
	}
	tfs_open(t);
	fs = t->fs;
	assert_false(key_exists(fs, k, fs_key_orphan(k, ino)));
	assert_false(key_exists(fs, k, fs_key_inode(k, ino)));
	assert_false(key_exists(fs, k, fs_key_chunk(k, ino, 0)));
}

static void test_setattr(void **state)
{
	struct tfs *t = *state;
	struct fs *fs = t->fs;
	uint64_t f = mk(fs, 1, "s", S_IFREG | 04755);
	struct stat a = {0}, out;

	a.st_uid = 5;
	a.st_gid = 6;
	assert_int_equal(fs_file_setattr(fs, &root_ctx, f, &a, FS_SET_UID | FS_SET_GID,
					 &out), 0);
	assert_int_equal(out.st_uid, 5);
	assert_int_equal(out.st_gid, 6);
	assert_int_equal(out.st_mode & 07777, 0755); /* setuid cleared by chown */
	/* a write by a non-root caller drops set-user-ID and (with group
	 * execute) set-group-ID; by root it does not */
	{
		struct fs_inode *ip = NULL;
		size_t n;

		a.st_mode = 06755;
		assert_int_equal(fs_file_setattr(fs, &root_ctx, f, &a, FS_SET_MODE, &out), 0);
		assert_int_equal(fs_inode_get(fs, f, &ip), 0);
		assert_int_equal(fs_file_write(fs, ip, 0, (const uint8_t *)"x", 1, false, &n), 0);
		assert_int_equal(getattr(fs, f).st_mode & 07777, 06755);
		assert_int_equal(fs_file_write(fs, ip, 0, (const uint8_t *)"x", 1, true, &n), 0);
		assert_int_equal(getattr(fs, f).st_mode & 07777, 0755);
		assert_int_equal(fs_file_flush(fs, ip), 0);
		fs_inode_put(fs, ip);
	}
	a.st_atim.tv_sec = -100;
	a.st_atim.tv_nsec = 5;
	a.st_mtim.tv_sec = 1234567890;
	a.st_mtim.tv_nsec = 999999999;
	assert_int_equal(fs_file_setattr(fs, &root_ctx, f, &a,
					 FS_SET_ATIME | FS_SET_MTIME, &out), 0);
	tfs_reopen(t);
	out = getattr(t->fs, f);
	assert_int_equal(out.st_atim.tv_sec, -100);
	assert_int_equal(out.st_atim.tv_nsec, 5);
	assert_int_equal(out.st_mtim.tv_sec, 1234567890);
	assert_int_equal(out.st_mtim.tv_nsec, 999999999);
	a.st_size = 10;
	uint64_t d = mk(t->fs, 1, "sd", S_IFDIR | 0755);
	assert_int_equal(fs_file_setattr(t->fs, &root_ctx, d, &a, FS_SET_SIZE, &out),
			 EISDIR);
}

static void test_store_checks(void **state)
{
	struct tfs *t = *state;
	struct fs_config cfg = t->cfg;
	struct fs *fs2 = NULL;
	char path[128], msg[256];
	FILE *f;

	/* a second open of a store in use */
	assert_int_equal(fs_open(&cfg, &fs2, msg, sizeof(msg)), FS_OPEN_BUSY);
	/* a non-empty directory that is not a store */
	snprintf(path, sizeof(path), "%s/notastore", t->dir);
	mkdir(path, 0755);
	snprintf(msg, sizeof(msg), "%s/file", path);
	f = fopen(msg, "w");
	fputs("x", f);
	fclose(f);
	cfg.store = path;
	assert_int_equal(fs_open(&cfg, &fs2, msg, sizeof(msg)), FS_OPEN_NOTSTORE);
	assert_non_null(strstr(msg, "not an lsmfs store"));
	/* a file */
	snprintf(path, sizeof(path), "%s/notastore/file", t->dir);
	assert_int_equal(fs_open(&cfg, &fs2, msg, sizeof(msg)), FS_OPEN_NOTSTORE);
	/* a missing directory is created; the chunk size is kept */
	snprintf(path, sizeof(path), "%s/fresh", t->dir);
	cfg.chunk_size = 128 * 1024;
	assert_int_equal(fs_open(&cfg, &fs2, msg, sizeof(msg)), 0);
	assert_int_equal(fs2->chunk_size, 128 * 1024);
	assert_int_equal(fs_close(fs2), 0);
	cfg.chunk_size = 0;
	assert_int_equal(fs_open(&cfg, &fs2, msg, sizeof(msg)), 0);
	assert_int_equal(fs2->chunk_size, 128 * 1024);
	/* a newer format version is refused */
	{
		struct fs_super_rec s = {FS_FORMAT_VERSION + 1, {0}, 65536, 5000};
		uint8_t k[FS_KEY_MAX], v[128];
		size_t vl = fs_super_encode(&s, v, sizeof(v));

		assert_int_equal(lsm_put(fs2->db, k, fs_key_super(k), v, vl, 0), 0);
	}
	assert_int_equal(fs_close(fs2), 0);
	assert_int_equal(fs_open(&cfg, &fs2, msg, sizeof(msg)), FS_OPEN_NEWER);
	assert_non_null(strstr(msg, "newer"));
}

int main(void)
{
	const char *s = getenv("LSM_SEED");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_chunk_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_holes_lseek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattr_known_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setattr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_checks, setup, teardown),
	};

	if (s)
		seed = strtoull(s, NULL, 0) | 1;
	printf("# LSM_SEED=%llu\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
