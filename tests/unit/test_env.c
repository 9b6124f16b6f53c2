/*
 * test_env.c — the POSIX env (a round trip through every call, maps, lock
 * exclusion) and the fault env (injected append and sync failures, the
 * power cut, and what lsm_fault_apply_crash leaves on disk), and the
 * append windows of both (map_append, commit).
 * LSM_SEED overrides the base seed of the torn-prefix tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsm_int.h"

static uint64_t base_seed = 20240601;

struct tdir {
	char dir[64];
};

static void path_of(char *out, const struct tdir *t, const char *name)
{
	snprintf(out, LSM_PATH_MAX, "%s/%s", t->dir, name);
}

static void tdir_make(struct tdir *t)
{
	strcpy(t->dir, "/tmp/lsm_test_env.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
}

/* Removes dir and everything under it. */
static void rm_tree(const char *dir)
{
	lsm_env *e = lsm_env_posix();
	char **names = NULL;
	size_t n = 0;
	char p[LSM_PATH_MAX];

	assert_int_equal(e->list(e, dir, &names, &n), LSM_OK);
	for (size_t i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (unlink(p) < 0)
			rm_tree(p);
	}
	lsm_env_list_free(names, n);
	assert_int_equal(rmdir(dir), 0);
}

static void tdir_remove(struct tdir *t)
{
	rm_tree(t->dir);
}

/* Writes data as a whole new file (through env), synced or not. */
static void write_file(lsm_env *e, const char *path, const void *data,
		       size_t n, bool sync)
{
	lsm_file *f = NULL;

	assert_int_equal(e->open(e, path, LSM_O_CREATE, &f), LSM_OK);
	assert_int_equal(e->append(e, f, data, n), LSM_OK);
	if (sync)
		assert_int_equal(e->sync(e, f), LSM_OK);
	assert_int_equal(e->close(e, f), LSM_OK);
}

/* The file's contents through the POSIX env, into buf (cap bytes). */
static size_t read_file(const char *path, void *buf, size_t cap)
{
	lsm_env *e = lsm_env_posix();
	lsm_file *f = NULL;
	size_t nread = 0;

	assert_int_equal(e->open(e, path, LSM_O_READ, &f), LSM_OK);
	assert_int_equal(e->read(e, f, 0, buf, cap, &nread), LSM_OK);
	assert_int_equal(e->close(e, f), LSM_OK);
	return nread;
}

static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* ---- POSIX env ------------------------------------------------------ */

static void test_posix_roundtrip(void **state)
{
	lsm_env *e = lsm_env_posix();
	struct tdir t;
	char a[LSM_PATH_MAX], b[LSM_PATH_MAX], sub[LSM_PATH_MAX];
	char buf[64];
	lsm_file *f = NULL;
	size_t nread;
	uint64_t size, nfree = 0;
	char **names = NULL;
	size_t n = 0;

	(void)state;
	tdir_make(&t);
	path_of(a, &t, "000012.log");
	path_of(b, &t, "000013.log");
	path_of(sub, &t, "sub");
	assert_null(e->destroy);

	assert_int_equal(e->mkdir(e, sub), LSM_OK);
	assert_int_equal(e->mkdir(e, sub), LSM_OK); /* exists: fine */

	assert_int_equal(e->open(e, a, LSM_O_CREATE, &f), LSM_OK);
	assert_int_equal(e->append(e, f, "hello ", 6), LSM_OK);
	assert_int_equal(e->append(e, f, "world", 5), LSM_OK);
	assert_int_equal(e->append(e, f, "", 0), LSM_OK);
	assert_int_equal(e->size(e, f, &size), LSM_OK);
	assert_int_equal(size, 11);
	assert_int_equal(e->sync(e, f), LSM_OK);
	assert_int_equal(e->close(e, f), LSM_OK);

	/* Reads at offsets; short only at the end. */
	assert_int_equal(e->open(e, a, LSM_O_READ, &f), LSM_OK);
	assert_int_equal(e->read(e, f, 0, buf, 5, &nread), LSM_OK);
	assert_int_equal(nread, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(e->read(e, f, 6, buf, sizeof(buf), &nread), LSM_OK);
	assert_int_equal(nread, 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(e->read(e, f, 11, buf, 4, &nread), LSM_OK);
	assert_int_equal(nread, 0);
	assert_int_equal(e->read(e, f, 100, buf, 4, &nread), LSM_OK);
	assert_int_equal(nread, 0);
	assert_int_equal(e->size(e, f, &size), LSM_OK);
	assert_int_equal(size, 11);
	/* Not open for writing. */
	assert_int_equal(e->append(e, f, "x", 1), LSM_EINVAL);
	assert_int_equal(e->close(e, f), LSM_OK);

	/* Append to an existing file, truncate, append at the new end. */
	assert_int_equal(e->open(e, a, LSM_O_APPEND, &f), LSM_OK);
	assert_int_equal(e->append(e, f, "!", 1), LSM_OK);
	assert_int_equal(e->read(e, f, 0, buf, sizeof(buf), &nread), LSM_OK);
	assert_int_equal(nread, 12);
	assert_memory_equal(buf, "hello world!", 12);
	assert_int_equal(e->truncate(e, f, 3), LSM_OK);
	assert_int_equal(e->size(e, f, &size), LSM_OK);
	assert_int_equal(size, 3);
	assert_int_equal(e->append(e, f, "XY", 2), LSM_OK);
	assert_int_equal(e->close(e, f), LSM_OK);
	assert_int_equal(read_file(a, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "helXY", 5);

	/* LSM_O_CREATE truncates. */
	write_file(e, b, "zz", 2, false);
	assert_int_equal(read_file(b, buf, sizeof(buf)), 2);

	/* Rename over b, list, remove. */
	assert_int_equal(e->rename(e, a, b), LSM_OK);
	assert_int_equal(e->open(e, a, LSM_O_READ, &f), LSM_ENOTFOUND);
	assert_null(f);
	assert_int_equal(read_file(b, buf, sizeof(buf)), 5);
	assert_int_equal(e->list(e, t.dir, &names, &n), LSM_OK);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "000013.log");
	assert_string_equal(names[1], "sub");
	lsm_env_list_free(names, n);
	assert_int_equal(e->sync_dir(e, t.dir), LSM_OK);
	assert_int_equal(e->remove(e, b), LSM_OK);
	assert_int_equal(e->remove(e, b), LSM_ENOTFOUND);
	assert_int_equal(e->rename(e, a, b), LSM_ENOTFOUND);
	assert_int_equal(e->list(e, sub, &names, &n), LSM_OK);
	assert_int_equal(n, 0);
	lsm_env_list_free(names, n);

	assert_int_equal(e->disk_free(e, t.dir, &nfree), LSM_OK);
	assert_true(nfree > 0);

	/* Missing files: LSM_ENOTFOUND with a message naming call and path. */
	assert_int_equal(e->open(e, a, LSM_O_READ, &f), LSM_ENOTFOUND);
	assert_non_null(strstr(lsm_last_error(), "open"));
	assert_non_null(strstr(lsm_last_error(), "000012.log"));
	assert_int_equal(e->open(e, a, LSM_O_APPEND, &f), LSM_ENOTFOUND);
	path_of(b, &t, "nodir/x");
	assert_int_equal(e->list(e, b, &names, &n), LSM_ENOTFOUND);
	assert_null(names);
	assert_int_equal(e->open(e, a, 3, &f), LSM_EINVAL);

	tdir_remove(&t);
}

/* map shows a read-only file's bytes; writers, size 0 and LSM_NO_MMAP
 * are refused (LSM_EINVAL), and the caller reads instead. */
static void test_posix_map(void **state)
{
	lsm_env *e = lsm_env_posix();
	struct tdir t;
	char a[LSM_PATH_MAX];
	const char *text = "mapped table bytes";
	const void *addr = NULL;
	lsm_file *f = NULL, *w = NULL;
	size_t n = strlen(text);

	(void)state;
	tdir_make(&t);
	path_of(a, &t, "000001.sst");
	assert_non_null(e->map);
	assert_non_null(e->unmap);
	write_file(e, a, text, n, true);

	assert_int_equal(e->open(e, a, LSM_O_READ, &f), LSM_OK);
	assert_int_equal(e->map(e, f, n, &addr), LSM_OK);
	assert_non_null(addr);
	assert_memory_equal(addr, text, n);
	assert_int_equal(e->unmap(e, f, addr, n), LSM_OK);

	assert_int_equal(e->map(e, f, 0, &addr), LSM_EINVAL);
	assert_null(addr);
	setenv("LSM_NO_MMAP", "1", 1);
	assert_int_equal(e->map(e, f, n, &addr), LSM_EINVAL);
	assert_null(addr);
	assert_non_null(strstr(lsm_last_error(), "LSM_NO_MMAP"));
	unsetenv("LSM_NO_MMAP");
	assert_int_equal(e->close(e, f), LSM_OK);

	assert_int_equal(e->open(e, a, LSM_O_APPEND, &w), LSM_OK);
	assert_int_equal(e->map(e, w, n, &addr), LSM_EINVAL);
	assert_int_equal(e->close(e, w), LSM_OK);
	tdir_remove(&t);
}

static void test_posix_lock(void **state)
{
	lsm_env *e = lsm_env_posix();
	struct tdir t;
	char p[LSM_PATH_MAX];
	lsm_file *l1 = NULL, *l2 = NULL;

	(void)state;
	tdir_make(&t);
	path_of(p, &t, "LOCK");
	assert_int_equal(e->lock(e, p, &l1), LSM_OK);
	assert_non_null(l1);
	assert_true(file_exists(p));
	/* flock belongs to the open file description: a second open of the
	 * same path in this process is refused too. */
	assert_int_equal(e->lock(e, p, &l2), LSM_EBUSY);
	assert_null(l2);
	assert_non_null(strstr(lsm_last_error(), "LOCK"));
	assert_int_equal(e->unlock(e, l1), LSM_OK);
	assert_int_equal(e->lock(e, p, &l2), LSM_OK);
	assert_int_equal(e->unlock(e, l2), LSM_OK);
	tdir_remove(&t);
}

/* ---- fault env ------------------------------------------------------ */

static lsm_env *fault_new(void)
{
	lsm_env *fe = NULL;

	assert_int_equal(lsm_fault_env_create(lsm_env_posix(), &fe), LSM_OK);
	assert_non_null(fe);
	return fe;
}

static void check_fail_append(bool sticky)
{
	lsm_env *fe = fault_new();
	struct tdir t;
	char p[LSM_PATH_MAX], buf[16];
	lsm_file *f = NULL;
	uint64_t appends, syncs, a0;

	tdir_make(&t);
	path_of(p, &t, "000001.log");
	assert_int_equal(fe->open(fe, p, LSM_O_CREATE, &f), LSM_OK);
	lsm_fault_counts(fe, &a0, NULL);
	lsm_fault_fail_append(fe, 3, LSM_ENOSPC, sticky);
	assert_int_equal(fe->append(fe, f, "a", 1), LSM_OK);
	assert_int_equal(fe->append(fe, f, "b", 1), LSM_OK);
	assert_int_equal(fe->append(fe, f, "c", 1), LSM_ENOSPC);
	assert_non_null(strstr(lsm_last_error(), "000001.log"));
	assert_int_equal(fe->append(fe, f, "d", 1), sticky ? LSM_ENOSPC : LSM_OK);
	assert_int_equal(fe->append(fe, f, "e", 1), sticky ? LSM_ENOSPC : LSM_OK);
	lsm_fault_fail_append(fe, 0, 0, 0); /* off */
	assert_int_equal(fe->append(fe, f, "f", 1), LSM_OK);
	lsm_fault_counts(fe, &appends, &syncs);
	assert_int_equal(appends - a0, 6);
	assert_int_equal(syncs, 0);
	assert_int_equal(fe->close(fe, f), LSM_OK);
	/* A failed append writes nothing. */
	if (sticky) {
		assert_int_equal(read_file(p, buf, sizeof(buf)), 3);
		assert_memory_equal(buf, "abf", 3);
	} else {
		assert_int_equal(read_file(p, buf, sizeof(buf)), 5);
		assert_memory_equal(buf, "abdef", 5);
	}
	fe->destroy(fe);
	tdir_remove(&t);
}

static void test_fault_fail_append(void **state)
{
	(void)state;
	check_fail_append(false);
	check_fail_append(true);
}

static void test_fault_fail_sync(void **state)
{
	lsm_env *fe = fault_new();
	struct tdir t;
	char p[LSM_PATH_MAX];
	lsm_file *f = NULL;
	uint64_t syncs;

	(void)state;
	tdir_make(&t);
	path_of(p, &t, "MANIFEST");
	assert_int_equal(fe->open(fe, p, LSM_O_CREATE, &f), LSM_OK);
	assert_int_equal(fe->append(fe, f, "0123456789", 10), LSM_OK);
	lsm_fault_fail_sync(fe, 2, LSM_EIO, 0);
	assert_int_equal(fe->sync(fe, f), LSM_OK);
	assert_int_equal(fe->append(fe, f, "abcdef", 6), LSM_OK);
	assert_int_equal(fe->sync(fe, f), LSM_EIO); /* 2nd: fails */
	assert_int_equal(lsm_fault_crashed(fe), 0);
	assert_int_equal(fe->sync_dir(fe, t.dir), LSM_OK); /* 3rd: fine */
	lsm_fault_counts(fe, NULL, &syncs);
	assert_int_equal(syncs, 3);
	lsm_fault_fail_sync(fe, 1, LSM_ENOSPC, 1);
	assert_int_equal(fe->sync(fe, f), LSM_ENOSPC);
	assert_int_equal(fe->sync_dir(fe, t.dir), LSM_ENOSPC);
	lsm_fault_fail_sync(fe, 0, 0, 0);
	assert_int_equal(fe->close(fe, f), LSM_OK);

	/* The failed syncs made nothing durable: only the first 10 bytes
	 * are sure to survive. */
	assert_int_equal(lsm_fault_apply_crash(fe, 1), LSM_OK);
	{
		char buf[32];
		size_t n = read_file(p, buf, sizeof(buf));
		assert_true(n >= 10 && n <= 16);
		assert_memory_equal(buf, "0123456789abcdef", n);
	}
	fe->destroy(fe);
	tdir_remove(&t);
}

static void test_fault_crash_at_sync(void **state)
{
	lsm_env *fe = fault_new();
	struct tdir t;
	char p[LSM_PATH_MAX], q[LSM_PATH_MAX], buf[8];
	lsm_file *f = NULL, *r = NULL, *lk = NULL, *g = NULL;
	char **names = NULL;
	size_t n = 0, nread;
	uint64_t v;

	(void)state;
	tdir_make(&t);
	path_of(p, &t, "000003.log");
	path_of(q, &t, "LOCK");
	assert_int_equal(fe->lock(fe, q, &lk), LSM_OK);
	assert_int_equal(fe->open(fe, p, LSM_O_CREATE, &f), LSM_OK);
	assert_int_equal(fe->sync_dir(fe, t.dir), LSM_OK);
	lsm_fault_crash_at_sync(fe, 2);
	assert_int_equal(fe->append(fe, f, "abc", 3), LSM_OK);
	assert_int_equal(fe->sync(fe, f), LSM_OK); /* 1st */
	assert_int_equal(fe->open(fe, p, LSM_O_READ, &r), LSM_OK);
	assert_int_equal(fe->append(fe, f, "def", 3), LSM_OK);
	assert_int_equal(lsm_fault_crashed(fe), 0);
	assert_int_equal(fe->sync(fe, f), LSM_EIO); /* 2nd: the power cut */
	assert_int_equal(lsm_fault_crashed(fe), 1);

	/* Every call now fails. */
	assert_int_equal(fe->append(fe, f, "g", 1), LSM_EIO);
	assert_int_equal(fe->sync(fe, f), LSM_EIO);
	assert_int_equal(fe->read(fe, r, 0, buf, 3, &nread), LSM_EIO);
	assert_int_equal(fe->size(fe, f, &v), LSM_EIO);
	assert_int_equal(fe->truncate(fe, f, 0), LSM_EIO);
	assert_int_equal(fe->open(fe, p, LSM_O_READ, &g), LSM_EIO);
	assert_null(g);
	assert_int_equal(fe->lock(fe, q, &g), LSM_EIO);
	assert_int_equal(fe->rename(fe, p, q), LSM_EIO);
	assert_int_equal(fe->remove(fe, p), LSM_EIO);
	assert_int_equal(fe->list(fe, t.dir, &names, &n), LSM_EIO);
	assert_int_equal(fe->mkdir(fe, t.dir), LSM_EIO);
	assert_int_equal(fe->sync_dir(fe, t.dir), LSM_EIO);
	assert_int_equal(fe->disk_free(fe, t.dir, &v), LSM_EIO);
	/* Closing still frees (ASan checks), but reports the cut. */
	assert_int_equal(fe->close(fe, r), LSM_EIO);
	assert_int_equal(fe->close(fe, f), LSM_EIO);
	assert_int_equal(fe->unlock(fe, lk), LSM_EIO);

	/* The second sync never happened: 3 bytes, plus maybe a torn part
	 * of "def". */
	assert_int_equal(lsm_fault_apply_crash(fe, base_seed), LSM_OK);
	assert_int_equal(lsm_fault_crashed(fe), 0);
	{
		char got[8];
		size_t len = read_file(p, got, sizeof(got));
		assert_true(len >= 3 && len <= 6);
		assert_memory_equal(got, "abcdef", len);
	}
	/* The env works again, and crash(0)/crash() cut at once. */
	assert_int_equal(fe->list(fe, t.dir, &names, &n), LSM_OK);
	lsm_env_list_free(names, n);
	lsm_fault_crash(fe);
	assert_int_equal(lsm_fault_crashed(fe), 1);
	assert_int_equal(fe->open(fe, p, LSM_O_READ, &g), LSM_EIO);
	assert_int_equal(lsm_fault_apply_crash(fe, 0), LSM_OK);
	lsm_fault_crash_at_sync(fe, 0);
	assert_int_equal(lsm_fault_crashed(fe), 1);
	assert_int_equal(lsm_fault_apply_crash(fe, 0), LSM_OK);
	fe->destroy(fe);
	tdir_remove(&t);
}

/* One run: a durable file with 100 synced bytes and 50 unsynced ones,
 * cut with seed.  Returns the length kept, checking it is a prefix. */
static size_t torn_run(const struct tdir *t, uint64_t seed)
{
	lsm_env *fe = fault_new();
	char p[LSM_PATH_MAX];
	uint8_t data[150], got[200];
	lsm_file *f = NULL;
	size_t len;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	path_of(p, t, "000007.sst");
	assert_int_equal(fe->open(fe, p, LSM_O_CREATE, &f), LSM_OK);
	assert_int_equal(fe->sync_dir(fe, t->dir), LSM_OK);
	assert_int_equal(fe->append(fe, f, data, 60), LSM_OK);
	assert_int_equal(fe->append(fe, f, data + 60, 40), LSM_OK);
	assert_int_equal(fe->sync(fe, f), LSM_OK);
	assert_int_equal(fe->append(fe, f, data + 100, 50), LSM_OK);
	/* Still open: refused, nothing done. */
	assert_int_equal(lsm_fault_apply_crash(fe, seed), LSM_EBUSY);
	assert_int_equal(fe->close(fe, f), LSM_OK);
	assert_int_equal(lsm_fault_apply_crash(fe, seed), LSM_OK);
	len = read_file(p, got, sizeof(got));
	assert_true(len >= 100 && len <= 150);
	assert_memory_equal(got, data, len);
	fe->destroy(fe);
	return len;
}

static void test_fault_apply_crash_truncates(void **state)
{
	struct tdir t;
	int kept_synced = 0, kept_torn = 0;

	(void)state;
	tdir_make(&t);
	for (uint64_t s = base_seed; s < base_seed + 64; s++) {
		size_t len = torn_run(&t, s);
		if (len == 100)
			kept_synced++;
		else
			kept_torn++;
		/* The seed decides: the same seed, the same cut. */
		assert_int_equal(torn_run(&t, s), len);
	}
	assert_true(kept_synced > 0);
	assert_true(kept_torn > 0);
	tdir_remove(&t);
}

static void test_fault_apply_crash_names(void **state)
{
	lsm_env *fe = fault_new();
	struct tdir t;
	char fresh[LSM_PATH_MAX], synced[LSM_PATH_MAX], old[LSM_PATH_MAX];
	char tmp[LSM_PATH_MAX], cur[LSM_PATH_MAX], gone[LSM_PATH_MAX];
	char sub[LSM_PATH_MAX], subf[LSM_PATH_MAX], buf[32];
	lsm_file *f = NULL;

	(void)state;
	tdir_make(&t);
	path_of(fresh, &t, "000001.log");
	path_of(synced, &t, "000002.sst");
	path_of(old, &t, "000000.old");
	path_of(tmp, &t, "CURRENT.tmp");
	path_of(cur, &t, "CURRENT");
	path_of(gone, &t, "000003.sst");
	path_of(sub, &t, "sub");
	path_of(subf, &t, "sub/x");

	/* A file from before the fault env: durable; appended, not synced. */
	write_file(lsm_env_posix(), old, "old", 3, true);
	assert_int_equal(fe->mkdir(fe, sub), LSM_OK);

	/* Created and synced, but only the synced-dir one keeps its name. */
	write_file(fe, synced, "sst-bytes", 9, true);
	assert_int_equal(fe->sync_dir(fe, t.dir), LSM_OK);
	write_file(fe, fresh, "log-bytes", 9, true);
	/* A sync of another directory does not help fresh. */
	write_file(fe, subf, "x", 1, true);
	assert_int_equal(fe->sync_dir(fe, sub), LSM_OK);
	/* Renamed: durable at once, with its synced bytes. */
	write_file(fe, tmp, "MANIFEST-1\n", 11, true);
	assert_int_equal(fe->rename(fe, tmp, cur), LSM_OK);
	/* Removed: gone, and forgotten. */
	write_file(fe, gone, "zz", 2, false);
	assert_int_equal(fe->remove(fe, gone), LSM_OK);

	assert_int_equal(fe->open(fe, old, LSM_O_APPEND, &f), LSM_OK);
	assert_int_equal(fe->append(fe, f, "-unsynced", 9), LSM_OK);
	assert_int_equal(fe->close(fe, f), LSM_OK);

	assert_int_equal(lsm_fault_apply_crash(fe, base_seed), LSM_OK);
	assert_false(file_exists(fresh));
	assert_false(file_exists(gone));
	assert_false(file_exists(tmp));
	assert_int_equal(read_file(synced, buf, sizeof(buf)), 9);
	assert_int_equal(read_file(subf, buf, sizeof(buf)), 1);
	assert_int_equal(read_file(cur, buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "MANIFEST-1\n", 11);
	{
		size_t n = read_file(old, buf, sizeof(buf));
		assert_true(n >= 3 && n <= 12);
		assert_memory_equal(buf, "old-unsynced", n);
	}

	/* Tracking restarted: what is on disk now is durable, so a second
	 * crash with nothing written changes nothing. */
	assert_int_equal(fe->open(fe, synced, LSM_O_APPEND, &f), LSM_OK);
	assert_int_equal(fe->close(fe, f), LSM_OK);
	lsm_fault_crash(fe);
	assert_int_equal(lsm_fault_apply_crash(fe, base_seed + 1), LSM_OK);
	assert_int_equal(read_file(synced, buf, sizeof(buf)), 9);
	/* Re-creating an existing file keeps its name durable. */
	write_file(fe, synced, "new", 3, true);
	assert_int_equal(lsm_fault_apply_crash(fe, base_seed), LSM_OK);
	assert_int_equal(read_file(synced, buf, sizeof(buf)), 3);
	fe->destroy(fe);
	tdir_remove(&t);
}

/* Truncate through the fault env lowers the synced length too. */
static void test_fault_truncate(void **state)
{
	lsm_env *fe = fault_new();
	struct tdir t;
	char p[LSM_PATH_MAX], buf[16];
	lsm_file *f = NULL;

	(void)state;
	tdir_make(&t);
	path_of(p, &t, "000004.log");
	write_file(lsm_env_posix(), p, "0123456789", 10, true);
	assert_int_equal(fe->open(fe, p, LSM_O_APPEND, &f), LSM_OK);
	assert_int_equal(fe->truncate(fe, f, 4), LSM_OK);
	assert_int_equal(fe->append(fe, f, "ab", 2), LSM_OK);
	assert_int_equal(fe->close(fe, f), LSM_OK);
	assert_int_equal(read_file(p, buf, sizeof(buf)), 6);
	assert_int_equal(lsm_fault_apply_crash(fe, base_seed), LSM_OK);
	{
		size_t n = read_file(p, buf, sizeof(buf));
		assert_true(n >= 4 && n <= 6);
		assert_memory_equal(buf, "0123ab", n);
	}
	fe->destroy(fe);
	tdir_remove(&t);
}

/* Several threads append and sync their own files through one env. */
#define NTHREADS 4
#define NAPPENDS 500
/* The fault env maps when its base can, passing maps through to it; a
 * mapping made before a power cut reads on, a new one after it fails;
 * over a base without map it has none either. */
static void test_fault_map(void **state)
{
	lsm_env *e = NULL, *bare = NULL, base = *lsm_env_posix();
	struct tdir t;
	char a[LSM_PATH_MAX];
	const char *text = "table";
	const void *addr = NULL, *addr2 = NULL;
	lsm_file *f = NULL;

	(void)state;
	tdir_make(&t);
	path_of(a, &t, "000002.sst");
	assert_int_equal(lsm_fault_env_create(lsm_env_posix(), &e), LSM_OK);
	assert_non_null(e->map);
	write_file(e, a, text, 5, true);
	assert_int_equal(e->open(e, a, LSM_O_READ, &f), LSM_OK);
	assert_int_equal(e->map(e, f, 5, &addr), LSM_OK);
	assert_memory_equal(addr, text, 5);
	lsm_fault_crash(e);
	assert_memory_equal(addr, text, 5);
	assert_int_equal(e->map(e, f, 5, &addr2), LSM_EIO);
	assert_null(addr2);
	assert_int_equal(e->unmap(e, f, addr, 5), LSM_OK);
	assert_int_equal(e->close(e, f), LSM_EIO); /* closed, after a cut */
	e->destroy(e);

	base.map = NULL;
	base.unmap = NULL;
	assert_int_equal(lsm_fault_env_create(&base, &bare), LSM_OK);
	assert_null(bare->map);
	assert_null(bare->unmap);
	bare->destroy(bare);
	tdir_remove(&t);
}

struct worker {
	lsm_env *fe;
	char path[LSM_PATH_MAX];
	int rc;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	lsm_file *f = NULL;
	int rc;

	if ((rc = w->fe->open(w->fe, w->path, LSM_O_CREATE, &f)))
		goto out;
	for (int i = 0; i < NAPPENDS && !rc; i++) {
		rc = w->fe->append(w->fe, f, "0123456789", 10);
		if (!rc && i % 50 == 0)
			rc = w->fe->sync(w->fe, f);
	}
	if (!rc)
		rc = w->fe->sync(w->fe, f);
	int crc = w->fe->close(w->fe, f);
	if (!rc)
		rc = crc;
out:
	w->rc = rc;
	return NULL;
}

static void test_fault_threads(void **state)
{
	lsm_env *fe = fault_new();
	struct tdir t;
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	uint64_t appends, syncs;
	char buf[16];

	(void)state;
	tdir_make(&t);
	for (int i = 0; i < NTHREADS; i++) {
		w[i].fe = fe;
		snprintf(buf, sizeof(buf), "w%d", i);
		path_of(w[i].path, &t, buf);
		w[i].rc = -100;
		assert_int_equal(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].rc, LSM_OK);
	}
	lsm_fault_counts(fe, &appends, &syncs);
	assert_int_equal(appends, NTHREADS * NAPPENDS);
	assert_int_equal(syncs, NTHREADS * (NAPPENDS / 50 + 1));
	/* All synced, but no sync_dir: every file vanishes. */
	assert_int_equal(lsm_fault_apply_crash(fe, base_seed), LSM_OK);
	for (int i = 0; i < NTHREADS; i++)
		assert_false(file_exists(w[i].path));
	fe->destroy(fe);
	tdir_remove(&t);
}

/* ---- append windows ------------------------------------------------- */

static uint64_t disk_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* POSIX map_append/commit: committed bytes join the file at its end, the
 * file carries the window's zeros while open, appends and truncate end
 * the window, close cuts the zeros; an LSM_O_APPEND file opens its window
 * at an end that is not page-aligned. */
static void test_posix_append_window(void **state)
{
	lsm_env *e = lsm_env_posix();
	struct tdir t;
	char p[LSM_PATH_MAX];
	uint8_t got[9000];
	lsm_file *f = NULL;
	uint64_t v = 0;
	void *addr = NULL;
	uint8_t *w;

	(void)state;
	tdir_make(&t);
	path_of(p, &t, "000003.log");
	assert_int_equal(e->open(e, p, LSM_O_CREATE, &f), LSM_OK);
	assert_int_equal(e->map_append(e, f, 100, &addr), LSM_OK);
	w = addr;
	memcpy(w, "hello", 5);
	assert_int_equal(e->commit(e, f, 5), LSM_OK);
	memcpy(w + 5, " world", 6);
	assert_int_equal(e->commit(e, f, 6), LSM_OK);
	assert_int_equal(e->size(e, f, &v), LSM_OK);
	assert_int_equal(v, 11);
	/* preallocated to a page: zeros after the end until close */
	assert_true(disk_size(p) >= 100);
	assert_int_equal(read_file(p, got, sizeof(got)), disk_size(p));
	assert_memory_equal(got, "hello world", 11);
	assert_int_equal(got[11], 0);
	/* past the window: refused */
	assert_int_equal(e->commit(e, f, 90), LSM_EINVAL);
	/* an append goes at the end and ends the window */
	assert_int_equal(e->append(e, f, "!", 1), LSM_OK);
	assert_int_equal(e->commit(e, f, 1), LSM_EINVAL);
	assert_int_equal(e->sync(e, f), LSM_OK);
	assert_int_equal(e->close(e, f), LSM_OK);
	assert_int_equal(disk_size(p), 12);
	assert_int_equal(read_file(p, got, sizeof(got)), 12);
	assert_memory_equal(got, "hello world!", 12);

	/* reopened at 12 bytes: a window across a page boundary */
	assert_int_equal(e->open(e, p, LSM_O_APPEND, &f), LSM_OK);
	assert_int_equal(e->map_append(e, f, 8000, &addr), LSM_OK);
	w = addr;
	for (int i = 0; i < 8000; i++)
		w[i] = (uint8_t)(i % 251 + 1);
	assert_int_equal(e->commit(e, f, 7000), LSM_OK);
	/* a new window starts where the commits ended: the 1000 bytes
	 * written but not committed are not part of the file */
	assert_int_equal(e->map_append(e, f, 10, &addr), LSM_OK);
	memcpy(addr, "xyz", 3);
	assert_int_equal(e->commit(e, f, 3), LSM_OK);
	assert_int_equal(e->size(e, f, &v), LSM_OK);
	assert_int_equal(v, 7015);
	assert_int_equal(e->close(e, f), LSM_OK);
	assert_int_equal(read_file(p, got, sizeof(got)), 7015);
	for (int i = 0; i < 7000; i++)
		assert_int_equal(got[12 + i], (uint8_t)(i % 251 + 1));
	assert_memory_equal(got + 7012, "xyz", 3);

	/* truncate ends the window and cuts the zeros */
	assert_int_equal(e->open(e, p, LSM_O_APPEND, &f), LSM_OK);
	assert_int_equal(e->map_append(e, f, 5000, &addr), LSM_OK);
	assert_true(disk_size(p) >= 12015);
	assert_int_equal(e->truncate(e, f, 12), LSM_OK);
	assert_int_equal(e->commit(e, f, 1), LSM_EINVAL);
	assert_int_equal(disk_size(p), 12);
	assert_int_equal(e->close(e, f), LSM_OK);
	assert_int_equal(disk_size(p), 12);

	/* a reader cannot open a window */
	assert_int_equal(e->open(e, p, LSM_O_READ, &f), LSM_OK);
	assert_int_equal(e->map_append(e, f, 10, &addr), LSM_EINVAL);
	assert_null(addr);
	assert_int_equal(e->close(e, f), LSM_OK);
	tdir_remove(&t);
}

/* The fault env: map_append and commit count and fail as appends (an
 * injected failure maps or commits nothing); committed bytes are cut at
 * a power cut as appended ones: the synced prefix, maybe a torn part of
 * the rest, maybe the window's zeros after that, never anything else. */
static void test_fault_append_window(void **state)
{
	struct tdir t;
	char p[LSM_PATH_MAX];
	uint8_t data[3000], got[8192];
	int kept_torn = 0, kept_zeros = 0;

	(void)state;
	tdir_make(&t);
	path_of(p, &t, "000005.log");
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i % 253 + 1);
	for (uint64_t s = base_seed; s < base_seed + 64; s++) {
		lsm_env *fe = fault_new();
		lsm_file *f = NULL;
		uint64_t appends = 0, a0 = 0, v = 0;
		void *addr = NULL;
		uint8_t *w;
		size_t len;

		assert_non_null(fe->map_append);
		assert_int_equal(fe->open(fe, p, LSM_O_CREATE, &f), LSM_OK);
		assert_int_equal(fe->sync_dir(fe, t.dir), LSM_OK);
		lsm_fault_counts(fe, &a0, NULL);
		lsm_fault_fail_append(fe, 1, LSM_ENOSPC, 0);
		assert_int_equal(fe->map_append(fe, f, 2000, &addr),
				 LSM_ENOSPC);
		assert_null(addr);
		assert_int_equal(fe->map_append(fe, f, 2000, &addr), LSM_OK);
		w = addr;
		memcpy(w, data, 1000);
		assert_int_equal(fe->commit(fe, f, 1000), LSM_OK);
		assert_int_equal(fe->sync(fe, f), LSM_OK);
		memcpy(w + 1000, data + 1000, 500);
		lsm_fault_fail_append(fe, 1, LSM_ENOSPC, 0);
		assert_int_equal(fe->commit(fe, f, 500), LSM_ENOSPC);
		assert_int_equal(fe->size(fe, f, &v), LSM_OK);
		assert_int_equal(v, 1000);
		assert_int_equal(fe->commit(fe, f, 500), LSM_OK);
		memcpy(w + 1500, data + 1500, 500);
		assert_int_equal(fe->commit(fe, f, 500), LSM_OK);
		lsm_fault_counts(fe, &appends, NULL);
		assert_int_equal(appends - a0, 6);
		/* the power goes with 1000 bytes synced, 1000 not */
		lsm_fault_crash(fe);
		assert_int_equal(fe->map_append(fe, f, 10, &addr), LSM_EIO);
		assert_int_equal(fe->commit(fe, f, 1), LSM_EIO);
		assert_int_equal(fe->close(fe, f), LSM_EIO);
		assert_int_equal(lsm_fault_apply_crash(fe, s), LSM_OK);
		len = read_file(p, got, sizeof(got));
		assert_true(len >= 1000 && len <= 2000);
		size_t nz = len;
		while (nz > 0 && got[nz - 1] == 0)
			nz--;
		assert_true(nz >= 1000 && nz <= 2000);
		assert_memory_equal(got, data, nz);
		if (nz > 1000)
			kept_torn++;
		if (len > nz)
			kept_zeros++;
		fe->destroy(fe);
	}
	assert_true(kept_torn > 0);
	assert_true(kept_zeros > 0);
	tdir_remove(&t);
}

int main(void)
{
	const char *s = getenv("LSM_SEED");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_posix_roundtrip),
		cmocka_unit_test(test_posix_map),
		cmocka_unit_test(test_posix_lock),
		cmocka_unit_test(test_fault_fail_append),
		cmocka_unit_test(test_fault_fail_sync),
		cmocka_unit_test(test_fault_crash_at_sync),
		cmocka_unit_test(test_fault_apply_crash_truncates),
		cmocka_unit_test(test_fault_apply_crash_names),
		cmocka_unit_test(test_fault_truncate),
		cmocka_unit_test(test_fault_map),
		cmocka_unit_test(test_fault_threads),
		cmocka_unit_test(test_posix_append_window),
		cmocka_unit_test(test_fault_append_window),
	};

	if (s && *s)
		base_seed = strtoull(s, NULL, 0);
	printf("test_env: LSM_SEED=%llu\n", (unsigned long long)base_seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
