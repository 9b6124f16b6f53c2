/*
 * test_fs_fsck.c — fsck and scrub on stores damaged on purpose.  Each test
 * builds a small tree through the filesystem's helpers, closes it, damages
 * the store with raw lsm puts and deletes (or by editing a table or log
 * file), and checks what fsck reports, its exit code, what --repair does,
 * and that a second fsck is clean.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

static const struct fs_ctx root_ctx = {0, 0};

struct tst {
	char dir[64];
	char store[96];
	uint64_t a, d, f, sub, l; /* /a, /d, /d/f, /d/sub, /l; /d/hl = /a */
	char *out;                /* output of the last fsck */
};

static struct fs *tfs_open(struct tst *t)
{
	struct fs_config cfg = {0};
	struct fs *fs = NULL;
	char msg[256];

	cfg.store = t->store;
	cfg.chunk_size = 4096;
	cfg.sync = FS_SYNC_FSYNC;
	if (fs_open(&cfg, &fs, msg, sizeof(msg)))
		fail_msg("fs_open: %s", msg);
	return fs;
}

static uint64_t mk(struct fs *fs, uint64_t parent, const char *name,
		   mode_t mode)
{
	struct stat st;

	assert_int_equal(fs_dir_create(fs, &root_ctx, parent, name, mode, 0,
				       S_ISLNK(mode) ? "target" : NULL, &st,
				       NULL), 0);
	fs_inode_forget(fs, st.st_ino, 1);
	return st.st_ino;
}

static uint64_t mkfile(struct fs *fs, uint64_t parent, const char *name,
		       size_t size)
{
	struct fs_inode *ip = NULL;
	struct fs_file *fh = NULL;
	struct stat st;
	uint8_t *buf = malloc(size);
	size_t n;

	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(fs_dir_create(fs, &root_ctx, parent, name,
				       S_IFREG | 0644, 0, NULL, &st, &ip), 0);
	assert_int_equal(fs_file_wrap(ip, O_RDWR, &fh), 0);
	assert_int_equal(fs_file_write(fs, ip, 0, buf, size, false, &n), 0);
	assert_int_equal(fs_file_release(fs, fh), 0);
	fs_inode_forget(fs, st.st_ino, 1);
	free(buf);
	return st.st_ino;
}

static int setup(void **state)
{
	struct tst *t = calloc(1, sizeof(*t));
	struct stat st;
	struct fs *fs;

	strcpy(t->dir, "/tmp/test_fs_fsck.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->store, sizeof(t->store), "%s/store", t->dir);
	fs = tfs_open(t);
	t->a = mkfile(fs, 1, "a", 10000);
	t->d = mk(fs, 1, "d", S_IFDIR | 0755);
	t->f = mkfile(fs, t->d, "f", 5000);
	t->sub = mk(fs, t->d, "sub", S_IFDIR | 0755);
	t->l = mk(fs, 1, "l", S_IFLNK | 0777);
	assert_int_equal(fs_dir_link(fs, t->a, t->d, "hl", &st), 0);
	fs_inode_forget(fs, t->a, 1);
	assert_int_equal(fs_xattr_set(fs, t->f, "user.x", "v", 1, 0), 0);
	assert_int_equal(fs_close(fs), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tst *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
	free(t->out);
	free(t);
	return 0;
}

/* Runs fsck; its output is in t->out (and printed); returns the code. */
static int run_fsck(struct tst *t, bool repair, struct fs_fsck_result *res)
{
	struct fs_fsck_opts o = {.repair = repair};
	struct fs_fsck_result r;
	size_t len;
	int code;

	free(t->out);
	t->out = NULL;
	o.out = open_memstream(&t->out, &len);
	assert_non_null(o.out);
	code = fs_fsck(t->store, &o, res ? res : &r);
	fclose(o.out);
	printf("--- fsck%s: exit %d\n%s", repair ? " --repair" : "", code,
	       t->out);
	return code;
}

static void assert_out(struct tst *t, const char *needle)
{
	if (!strstr(t->out, needle))
		fail_msg("fsck output lacks \"%s\"", needle);
}

/* ---- raw access ---------------------------------------------------------- */

static lsm_db *raw_open(struct tst *t)
{
	struct lsm_options o;
	lsm_db *db = NULL;

	lsm_options_init(&o);
	o.create_if_missing = 0;
	assert_int_equal(lsm_open(t->store, &o, &db), 0);
	return db;
}

static void raw_put(struct tst *t, const uint8_t *k, size_t klen,
		    const void *v, size_t vlen)
{
	lsm_db *db = raw_open(t);

	assert_int_equal(lsm_put(db, k, klen, v, vlen, 0), 0);
	assert_int_equal(lsm_close(db), 0);
}

static void raw_del(struct tst *t, const uint8_t *k, size_t klen)
{
	lsm_db *db = raw_open(t);

	assert_int_equal(lsm_delete(db, k, klen, 0), 0);
	assert_int_equal(lsm_close(db), 0);
}

/* 1 and the value into v (cap bytes) if k exists, else 0. */
static int raw_get(struct tst *t, const uint8_t *k, size_t klen, void *v,
		   size_t cap, size_t *vlen)
{
	lsm_db *db = raw_open(t);
	void *val = NULL;
	size_t n = 0;
	int rc = lsm_get(db, NULL, k, klen, &val, &n);

	assert_true(rc == 0 || rc == LSM_ENOTFOUND);
	if (!rc && v) {
		assert_true(n <= cap);
		memcpy(v, val, n);
	}
	if (vlen)
		*vlen = n;
	free(val);
	assert_int_equal(lsm_close(db), 0);
	return rc == 0;
}

static struct fs_attr raw_inode(struct tst *t, uint64_t ino)
{
	uint8_t k[FS_KEY_MAX], v[FS_INODE_REC_MAX];
	struct fs_inode_rec r;
	size_t n;

	assert_true(raw_get(t, k, fs_key_inode(k, ino), v, sizeof(v), &n));
	assert_int_equal(fs_inode_decode(v, n, &r), 0);
	return r.a;
}

static void raw_set_nlink(struct tst *t, uint64_t ino, uint32_t nlink)
{
	uint8_t k[FS_KEY_MAX], v[FS_INODE_REC_MAX], w[FS_INODE_REC_MAX];
	struct fs_inode_rec r;
	size_t n;

	assert_true(raw_get(t, k, fs_key_inode(k, ino), v, sizeof(v), &n));
	assert_int_equal(fs_inode_decode(v, n, &r), 0);
	r.a.nlink = nlink;
	n = fs_inode_encode(&r.a, (const char *)r.target, r.target_len, w,
			    sizeof(w));
	assert_true(n > 0);
	raw_put(t, k, fs_key_inode(k, ino), w, n);
}

static void raw_dirent(struct tst *t, uint64_t parent, const char *name,
		       uint64_t ino, uint32_t type)
{
	uint8_t k[FS_KEY_MAX], v[16];
	size_t n = fs_dirent_encode(ino, type, v, sizeof(v));

	raw_put(t, k, fs_key_dirent(k, parent, name, strlen(name)), v, n);
}

static bool has_dirent(struct tst *t, uint64_t parent, const char *name,
		       uint64_t *ino)
{
	uint8_t k[FS_KEY_MAX], v[16];
	uint32_t type;
	size_t n;

	if (!raw_get(t, k, fs_key_dirent(k, parent, name, strlen(name)), v,
		     sizeof(v), &n))
		return false;
	assert_int_equal(fs_dirent_decode(v, n, ino, &type), 0);
	return true;
}

/* Clean, then repaired (1), then clean again (0). */
static void expect_repaired(struct tst *t)
{
	struct fs_fsck_result res;

	assert_int_equal(run_fsck(t, true, &res), 1);
	assert_true(res.fixed > 0);
	assert_int_equal(res.left, 0);
	assert_int_equal(run_fsck(t, false, &res), 0);
	assert_int_equal(res.found, 0);
	assert_out(t, "clean");
}

/* ---- tests --------------------------------------------------------------- */

static void test_clean(void **state)
{
	struct tst *t = *state;
	struct fs_fsck_result res;
	struct lsm_check_report rep;
	FILE *devnull = fopen("/dev/null", "w");

	assert_int_equal(run_fsck(t, false, &res), 0);
	assert_out(t, "clean");
	assert_int_equal(res.inodes, 6);
	assert_int_equal(res.entries, 6);
	assert_int_equal(res.xattrs, 1);
	assert_int_equal(run_fsck(t, true, &res), 0);
	assert_int_equal(fs_scrub(t->store, devnull, &rep), 0);
	assert_int_equal(rep.errors, 0);
	assert_true(rep.files >= 1);
	fclose(devnull);
}

static void test_entry_without_inode(void **state)
{
	struct tst *t = *state;
	uint64_t ino;

	raw_dirent(t, 1, "ghost", 99999, S_IFREG >> 12);
	raw_dirent(t, 424242, "lost", t->a, S_IFREG >> 12); /* no such dir */
	raw_dirent(t, t->a, "in-a-file", t->l, S_IFLNK >> 12);
	assert_int_equal(run_fsck(t, false, NULL), 4);
	assert_out(t, "entry 'ghost' in directory 1: inode 99999 does not exist");
	assert_out(t, "entry 'lost' in directory 424242: no such directory");
	assert_out(t, "which is a file");
	expect_repaired(t);
	assert_false(has_dirent(t, 1, "ghost", &ino));
	assert_int_equal(raw_inode(t, t->a).nlink, 2);
	assert_int_equal(raw_inode(t, t->l).nlink, 1);
}

static void test_wrong_nlink_and_type(void **state)
{
	struct tst *t = *state;

	raw_set_nlink(t, t->a, 5);
	raw_set_nlink(t, t->d, 7);
	raw_set_nlink(t, 1, 2);
	raw_dirent(t, 1, "l", t->l, S_IFREG >> 12); /* wrong type */
	assert_int_equal(run_fsck(t, false, NULL), 4);
	assert_out(t, "nlink 5, should be 2");
	assert_out(t, "nlink 7, should be 3");
	assert_out(t, "inode 1 (directory): nlink 2, should be 3");
	assert_out(t, "entry 'l' in directory 1: says type 8");
	expect_repaired(t);
	assert_int_equal(raw_inode(t, t->a).nlink, 2);
	assert_int_equal(raw_inode(t, t->d).nlink, 3);
	assert_int_equal(raw_inode(t, 1).nlink, 3);
}

static void test_chunks(void **state)
{
	struct tst *t = *state;
	uint8_t k[FS_KEY_MAX], v[4096];
	size_t n;

	memset(v, 0x5a, sizeof(v));
	/* /a is 10000 bytes in 4096-byte chunks: 0, 1, 2 (1808 bytes) */
	raw_put(t, k, fs_key_chunk(k, t->a, 7), v, 10);
	raw_put(t, k, fs_key_chunk(k, t->a, 2), v, 4000); /* past the size */
	raw_put(t, k, fs_key_chunk(k, 31337, 0), v, 100); /* no inode */
	raw_put(t, k, fs_key_chunk(k, t->d, 0), v, 100);  /* a directory */
	raw_put(t, k, fs_key_xattr(k, 31337, "user.y", 6), "z", 1);
	assert_int_equal(run_fsck(t, false, NULL), 4);
	assert_out(t, "chunk 7 of inode");
	assert_out(t, "lies beyond the file's size 10000");
	assert_out(t, "4000 bytes reach past the file's size 10000 (cut to 1808)");
	assert_out(t, "chunk 0 of inode 31337: no such inode");
	assert_out(t, "which is a directory");
	assert_out(t, "xattr 'user.y' of inode 31337: no such inode");
	expect_repaired(t);
	assert_false(raw_get(t, k, fs_key_chunk(k, t->a, 7), NULL, 0, &n));
	assert_true(raw_get(t, k, fs_key_chunk(k, t->a, 2), v, sizeof(v), &n));
	assert_int_equal(n, 1808);
	assert_true(raw_get(t, k, fs_key_chunk(k, t->a, 1), v, sizeof(v), &n));
	assert_int_equal(n, 4096);
	assert_false(raw_get(t, k, fs_key_xattr(k, 31337, "user.y", 6), NULL, 0, &n));
}

static void test_unreachable_dir(void **state)
{
	struct tst *t = *state;
	uint8_t k[FS_KEY_MAX];
	char name[128];
	uint64_t lf, ino;
	struct fs *fs;
	struct stat st;

	raw_del(t, k, fs_key_dirent(k, 1, "d", 1));
	assert_int_equal(run_fsck(t, false, NULL), 4);
	snprintf(name, sizeof(name), "inode %llu (directory, nlink 3) is not "
		 "linked anywhere", (unsigned long long)t->d);
	assert_out(t, name);
	assert_out(t, "inode 1 (directory): nlink 3, should be 2");
	expect_repaired(t);
	assert_true(has_dirent(t, 1, "lost+found", &lf));
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)t->d);
	assert_true(has_dirent(t, lf, name, &ino));
	assert_int_equal(ino, t->d);
	assert_int_equal(raw_inode(t, t->d).parent, lf);
	assert_int_equal(raw_inode(t, lf).nlink, 3);
	assert_int_equal(raw_inode(t, 1).nlink, 3); /* lost+found, not d */
	/* and the filesystem mounts and finds the file through it */
	fs = tfs_open(t);
	assert_int_equal(fs_dir_lookup(fs, ino, "f", &st), 0);
	assert_int_equal(st.st_ino, t->f);
	assert_int_equal(st.st_size, 5000);
	fs_inode_forget(fs, st.st_ino, 1);
	assert_int_equal(fs_close(fs), 0);
}

static void test_unlinked_file_and_empty(void **state)
{
	struct tst *t = *state;
	uint8_t k[FS_KEY_MAX];
	char name[128];
	uint64_t lf, ino, empty;
	struct fs *fs = tfs_open(t);

	empty = mk(fs, 1, "empty", S_IFREG | 0644);
	assert_int_equal(fs_close(fs), 0);
	raw_del(t, k, fs_key_dirent(k, t->d, "f", 1));
	raw_del(t, k, fs_key_dirent(k, 1, "empty", 5));
	assert_int_equal(run_fsck(t, false, NULL), 4);
	assert_out(t, "(file, nlink 1) is not linked anywhere\n");
	assert_out(t, "(file, nlink 1) is not linked anywhere and is empty");
	expect_repaired(t);
	assert_true(has_dirent(t, 1, "lost+found", &lf));
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)t->f);
	assert_true(has_dirent(t, lf, name, &ino));
	assert_int_equal(raw_inode(t, t->f).nlink, 1);
	/* the empty one is deleted, not kept */
	assert_false(raw_get(t, k, fs_key_inode(k, empty), NULL, 0, NULL));
}

static void test_cycle(void **state)
{
	struct tst *t = *state;
	uint8_t k[FS_KEY_MAX];
	uint64_t lf, ino;
	char name[128];

	/* /d leaves the root and moves under its own child /d/sub */
	raw_del(t, k, fs_key_dirent(k, 1, "d", 1));
	raw_dirent(t, t->sub, "up", t->d, S_IFDIR >> 12);
	assert_int_equal(run_fsck(t, false, NULL), 4);
	assert_out(t, "its parents form a cycle");
	expect_repaired(t);
	assert_true(has_dirent(t, 1, "lost+found", &lf));
	snprintf(name, sizeof(name), "#%llu", (unsigned long long)t->d);
	if (has_dirent(t, lf, name, &ino)) {
		assert_false(has_dirent(t, t->sub, "up", &ino));
	} else {
		snprintf(name, sizeof(name), "#%llu", (unsigned long long)t->sub);
		assert_true(has_dirent(t, lf, name, &ino));
		assert_false(has_dirent(t, t->d, "sub", &ino));
	}
}

static void test_second_parent(void **state)
{
	struct tst *t = *state;
	uint64_t ino;

	/* /d/sub also named in the root: its parent field says /d */
	raw_dirent(t, 1, "sub2", t->sub, S_IFDIR >> 12);
	assert_int_equal(run_fsck(t, false, NULL), 4);
	assert_out(t, "is named by 2 entries\n");
	assert_out(t, "inode 1 (directory): nlink 3, should be 4");
	expect_repaired(t);
	assert_false(has_dirent(t, 1, "sub2", &ino));
	assert_true(has_dirent(t, t->d, "sub", &ino));
	assert_int_equal(raw_inode(t, 1).nlink, 3);
	assert_int_equal(raw_inode(t, t->d).nlink, 3);

	/* two names in the same directory: nothing says which is real */
	raw_dirent(t, 1, "d2", t->d, S_IFDIR >> 12);
	assert_int_equal(run_fsck(t, true, NULL), 4);
	assert_out(t, "its parent field does not tell which is real");
	assert_true(has_dirent(t, 1, "d2", &ino));
	assert_true(has_dirent(t, 1, "d", &ino));
}

static void test_orphan(void **state)
{
	struct tst *t = *state;
	uint8_t k[FS_KEY_MAX];
	struct fs_fsck_result res;
	size_t n;

	/* /d/f unlinked while open, then a crash: nlink 0 + orphan record */
	raw_del(t, k, fs_key_dirent(k, t->d, "f", 1));
	raw_set_nlink(t, t->f, 0);
	raw_put(t, k, fs_key_orphan(k, t->f), "", 0);
	/* and an orphan whose purge got as far as the record */
	raw_put(t, k, fs_key_orphan(k, 777777), "", 0);
	raw_put(t, k, fs_key_chunk(k, 777777, 0), "data", 4);
	assert_int_equal(run_fsck(t, false, &res), 0);
	assert_int_equal(res.found, 0);
	assert_true(res.notes >= 2);
	assert_out(t, "was unlinked while in use");
	assert_int_equal(run_fsck(t, true, &res), 0);
	assert_false(raw_get(t, k, fs_key_inode(k, t->f), NULL, 0, &n));
	assert_false(raw_get(t, k, fs_key_chunk(k, t->f, 0), NULL, 0, &n));
	assert_false(raw_get(t, k, fs_key_xattr(k, t->f, "user.x", 6), NULL, 0, &n));
	assert_false(raw_get(t, k, fs_key_orphan(k, t->f), NULL, 0, &n));
	assert_false(raw_get(t, k, fs_key_chunk(k, 777777, 0), NULL, 0, &n));
	assert_false(raw_get(t, k, fs_key_orphan(k, 777777), NULL, 0, &n));
	assert_int_equal(run_fsck(t, false, &res), 0);
	assert_int_equal(res.notes, 0);

	/* an orphan record on a linked inode is an error */
	raw_put(t, k, fs_key_orphan(k, t->a), "", 0);
	assert_int_equal(run_fsck(t, false, NULL), 4);
	assert_out(t, "has an orphan record but 2 entries name it");
	expect_repaired(t);
	assert_int_equal(raw_inode(t, t->a).nlink, 2);
}

static void test_low_counter_and_bad_keys(void **state)
{
	struct tst *t = *state;
	uint8_t k[FS_KEY_MAX], v[128];
	struct fs_super_rec s;
	size_t n;

	assert_true(raw_get(t, k, fs_key_super(k), v, sizeof(v), &n));
	assert_int_equal(fs_super_decode(v, n, &s), 0);
	s.next_ino = 3;
	n = fs_super_encode(&s, v, sizeof(v));
	raw_put(t, k, fs_key_super(k), v, n);
	raw_put(t, (const uint8_t *)"Zjunk", 5, "x", 1);
	raw_put(t, (const uint8_t *)"Ishort", 6, "x", 1);
	assert_int_equal(run_fsck(t, false, NULL), 4);
	assert_out(t, "next inode number 3 is not above inode");
	assert_out(t, "has no known shape");
	expect_repaired(t);
	assert_true(raw_get(t, k, fs_key_super(k), v, sizeof(v), &n));
	assert_int_equal(fs_super_decode(v, n, &s), 0);
	assert_true(s.next_ino > t->l && s.next_ino > t->sub);
	assert_false(raw_get(t, (const uint8_t *)"Zjunk", 5, NULL, 0, &n));
}

static void test_bad_record(void **state)
{
	struct tst *t = *state;
	uint8_t k[FS_KEY_MAX];
	struct fs_fsck_result res;

	raw_put(t, k, fs_key_inode(k, t->l), "\xff\x00", 2);
	assert_int_equal(run_fsck(t, false, NULL), 4);
	assert_out(t, "the record does not decode");
	assert_int_equal(run_fsck(t, true, &res), 4);
	assert_int_equal(res.left, 1);
}

/* The newest file of dir with suffix (".sst" or ".log"), into path. */
static void newest_file(struct tst *t, const char *suffix, char *path,
			size_t cap, bool largest)
{
	DIR *d = opendir(t->store);
	struct dirent *de;
	unsigned long long best = 0;
	off_t bestsize = -1;

	assert_non_null(d);
	path[0] = 0;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name), sl = strlen(suffix);
		char p[PATH_MAX + 256];
		struct stat st;

		if (n <= sl || strcmp(de->d_name + n - sl, suffix))
			continue;
		snprintf(p, sizeof(p), "%s/%s", t->store, de->d_name);
		assert_int_equal(stat(p, &st), 0);
		if (largest ? st.st_size > bestsize
			    : strtoull(de->d_name, NULL, 10) > best) {
			best = strtoull(de->d_name, NULL, 10);
			bestsize = st.st_size;
			assert_true(strlen(p) < cap);
			memcpy(path, p, strlen(p) + 1);
		}
	}
	closedir(d);
	assert_true(path[0] != 0);
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void test_flipped_sst_byte(void **state)
{
	struct tst *t = *state;
	struct fs_fsck_result res;
	struct lsm_check_report rep;
	char path[256], *sout = NULL;
	size_t slen;
	lsm_db *db = raw_open(t);
	FILE *f;

	assert_int_equal(lsm_flush(db), 0);
	assert_int_equal(lsm_close(db), 0);
	newest_file(t, ".sst", path, sizeof(path), true);
	flip_byte(path, 100);
	assert_int_equal(run_fsck(t, false, &res), 4);
	assert_out(t, strrchr(path, '/') + 1);
	assert_out(t, "bad block checksum at offset 0");
	f = open_memstream(&sout, &slen);
	assert_int_equal(fs_scrub(t->store, f, &rep), 4);
	fclose(f);
	assert_non_null(strstr(sout, strrchr(path, '/') + 1));
	assert_int_equal(rep.errors, 1);
	free(sout);
	/* a damaged table is not repaired, and nothing else is touched */
	assert_int_equal(run_fsck(t, true, &res), 4);
	assert_out(t, "not repairing the filesystem");
}

static void test_corrupt_log(void **state)
{
	struct tst *t = *state;
	uint8_t k[FS_KEY_MAX];
	struct fs_fsck_result res;
	char path[256];
	lsm_db *db = raw_open(t);

	/* three records in the newest log, the first one damaged */
	assert_int_equal(lsm_put(db, k, fs_key_xattr(k, 1, "user.p", 6), "1", 1, 0), 0);
	assert_int_equal(lsm_put(db, k, fs_key_xattr(k, 1, "user.q", 6), "2", 1, 0), 0);
	assert_int_equal(lsm_put(db, k, fs_key_xattr(k, 1, "user.r", 6), "3", 1, 0), 0);
	assert_int_equal(lsm_close(db), 0);
	newest_file(t, ".log", path, sizeof(path), false);
	flip_byte(path, 12);
	assert_int_equal(run_fsck(t, false, &res), 4);
	assert_out(t, "corrupt WAL record at offset 0");
	assert_out(t, "salvage");
	expect_repaired(t);
}

static void test_torn_log_tail_is_a_note(void **state)
{
	struct tst *t = *state;
	uint8_t k[FS_KEY_MAX];
	struct fs_fsck_result res;
	char path[256];
	lsm_db *db = raw_open(t);
	int fd;

	assert_int_equal(lsm_put(db, k, fs_key_xattr(k, 1, "user.p", 6), "1", 1, 0), 0);
	assert_int_equal(lsm_close(db), 0);
	newest_file(t, ".log", path, sizeof(path), false);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x20\x00\x00\x00\x01\x02", 6), 6);
	close(fd);
	assert_int_equal(run_fsck(t, false, &res), 0);
	assert_out(t, "note: ");
	assert_out(t, "torn tail");
}

static void test_in_use(void **state)
{
	struct tst *t = *state;
	struct fs *fs = tfs_open(t);
	struct lsm_check_report rep;
	FILE *devnull = fopen("/dev/null", "w");

	assert_int_equal(run_fsck(t, false, NULL), 8);
	/* scrub works beside the open store */
	assert_int_equal(fs_scrub(t->store, devnull, &rep), 0);
	assert_int_equal(fs_close(fs), 0);
	fclose(devnull);
	free(t->out);
	t->out = NULL;
	assert_int_equal(fs_scrub("/nonexistent/store", devnull = fopen("/dev/null", "w"), &rep), 8);
	fclose(devnull);
}

/* Scrub while another thread keeps writing, flushing and compacting. */
struct churn {
	lsm_db *db;
	volatile int stop;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	uint8_t k[FS_KEY_MAX], v[2000];

	memset(v, 7, sizeof(v));
	for (uint64_t i = 0; !c->stop; i++) {
		assert_int_equal(lsm_put(c->db, k, fs_key_chunk(k, 5000000 + i % 300, i % 7),
					 v, sizeof(v), 0), 0);
		if (i % 500 == 0)
			assert_int_equal(lsm_flush(c->db), 0);
	}
	return NULL;
}

static void test_scrub_while_compacting(void **state)
{
	struct tst *t = *state;
	struct lsm_options o;
	struct churn c = {0};
	struct lsm_check_report rep;
	FILE *devnull = fopen("/dev/null", "w");
	pthread_t th;

	lsm_options_init(&o);
	o.write_buffer_size = 64 * 1024;
	o.target_file_size = 64 * 1024;
	o.level1_max_bytes = 256 * 1024;
	assert_int_equal(lsm_open(t->store, &o, &c.db), 0);
	assert_int_equal(pthread_create(&th, NULL, churn_main, &c), 0);
	for (int i = 0; i < 30; i++) {
		assert_int_equal(fs_scrub(t->store, devnull, &rep), 0);
		assert_int_equal(rep.errors, 0);
	}
	c.stop = 1;
	pthread_join(th, NULL);
	assert_int_equal(lsm_close(c.db), 0);
	fclose(devnull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_without_inode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_nlink_and_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlinked_file_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_low_counter_and_bad_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_sst_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_log_tail_is_a_note, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scrub_while_compacting, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
