/*
 * test_version.c — versions, the manifest, compaction picking, and reads
 * through real tables (lsm/version.c).
 *
 * The first half needs no tables: fmetas with synthetic key ranges go
 * through lsm_vset_apply, and the manifest is checked by reopening, by
 * damaging it, by hand-encoded payloads (one per rejection rule, plus the
 * essay's example byte for byte), and by cutting the power at every sync
 * of an apply.  The second half builds tables with lsm_sst_builder and
 * checks lsm_version_get, the level iterators and the compaction iterator
 * against a sorted model.  LSM_SEED overrides the random seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cbor/encoding.h>

#include "lsm_int.h"

static uint64_t seed = 20240607;

/* ---- helpers ------------------------------------------------------------ */

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static char *tmpdir_new(void)
{
	char *d = strdup("/tmp/test_version.XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void tmpdir_free(char *d)
{
	nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

static const struct lsm_vset_opts opts = {
	.level1_max_bytes = 10000,
	.l0_compact_trigger = 4,
	.target_file_size = 1000,
};

/* Internal key of user key k (a C string) at seq, kind VAL. */
static struct lsm_buf ik_buf(const char *k, uint64_t seq)
{
	struct lsm_buf b = { 0 };

	assert_int_equal(lsm_ikey_make(&b, k, strlen(k), seq, LSM_KIND_VAL),
			 LSM_OK);
	return b;
}

/* An fmeta [s@100, l@50] (user keys s..l). */
static struct lsm_fmeta *mkf(uint64_t num, uint64_t size, const char *s,
			     const char *l)
{
	struct lsm_buf a = ik_buf(s, 100), b = ik_buf(l, 50);
	struct lsm_fmeta *f = lsm_fmeta_new(num, size, a.data, a.len, b.data,
					    b.len);

	assert_non_null(f);
	lsm_buf_free(&a);
	lsm_buf_free(&b);
	return f;
}

static struct lsm_vset *vs_open(lsm_env *env, const char *dir)
{
	struct lsm_vset *vs = NULL;

	assert_int_equal(lsm_vset_open(env, dir, &opts, true, &vs), LSM_OK);
	return vs;
}

/* Applies the addition of f at level (reference taken from the caller). */
static void add_file(struct lsm_vset *vs, int level, struct lsm_fmeta *f)
{
	struct lsm_edit e;

	lsm_edit_init(&e);
	assert_int_equal(lsm_edit_add(&e, level, f), LSM_OK);
	lsm_fmeta_unref(f);
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_OK);
	lsm_edit_free(&e);
}

/* A new file number of vs with an fmeta over [s, l]. */
static struct lsm_fmeta *newf(struct lsm_vset *vs, uint64_t size,
			      const char *s, const char *l)
{
	return mkf(lsm_vset_new_file_num(vs), size, s, l);
}

static int count_manifests(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, "MANIFEST-", 9);
	closedir(d);
	return n;
}

static void read_path(const char *path, struct lsm_buf *b)
{
	FILE *f = fopen(path, "rb");
	char tmp[4096];
	size_t n;

	assert_non_null(f);
	lsm_buf_clear(b);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(lsm_buf_append(b, tmp, n), LSM_OK);
	fclose(f);
}

static void write_path(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void manifest_file(char *out, const char *dir, uint64_t num)
{
	snprintf(out, LSM_PATH_MAX, "%s/MANIFEST-%06llu", dir,
		 (unsigned long long)num);
}

static bool has_file(struct lsm_version *v, int level, uint64_t num)
{
	for (int i = 0; i < v->nfiles[level]; i++)
		if (v->files[level][i]->num == num)
			return true;
	return false;
}

static bool ukey_is(const struct lsm_buf *ik, const char *k)
{
	return ik->len - LSM_TRAILER == strlen(k) &&
	       !memcmp(ik->data, k, strlen(k));
}

/* ---- manifest: create, apply, reopen ------------------------------------ */

static void test_create_reopen(void **state)
{
	char *dir = tmpdir_new(), path[LSM_PATH_MAX];
	struct lsm_vset *vs = NULL;
	struct lsm_version *v;
	struct lsm_buf b = { 0 };
	struct lsm_edit e;
	uint64_t n1, n2, n3, log, next;

	(void)state;
	assert_int_equal(lsm_vset_open(lsm_env_posix(), dir, &opts, false, &vs),
			 LSM_ENOTFOUND);
	assert_null(vs);
	vs = vs_open(lsm_env_posix(), dir);
	assert_int_equal(lsm_vset_manifest_num(vs), 1);
	snprintf(path, sizeof(path), "%s/CURRENT", dir);
	read_path(path, &b);
	assert_int_equal(b.len, 16);
	assert_memory_equal(b.data, "MANIFEST-000001\n", 16);
	assert_int_equal(count_manifests(dir), 1);

	n1 = lsm_vset_new_file_num(vs);
	n2 = lsm_vset_new_file_num(vs);
	n3 = lsm_vset_new_file_num(vs);
	log = lsm_vset_new_file_num(vs);
	assert_true(n1 >= 2 && n2 == n1 + 1 && n3 == n2 + 1);
	lsm_edit_init(&e);
	e.has_log_num = true;
	e.log_num = log;
	assert_int_equal(lsm_edit_add(&e, 0, mkf(n1, 111, "a", "m")), LSM_OK);
	lsm_fmeta_unref(e.added[0].f); /* the edit holds its own reference */
	assert_int_equal(lsm_edit_add(&e, 1, mkf(n2, 222, "b", "c")), LSM_OK);
	lsm_fmeta_unref(e.added[1].f);
	assert_int_equal(lsm_edit_add(&e, 3, mkf(n3, 333, "x", "z")), LSM_OK);
	lsm_fmeta_unref(e.added[2].f);
	lsm_vset_set_last_seq(vs, 1234);
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_OK);
	lsm_edit_free(&e);
	assert_int_equal(lsm_vset_log_num(vs), log);
	assert_int_equal(count_manifests(dir), 1);
	assert_true(lsm_vset_manifest_num(vs) > log);
	next = lsm_vset_new_file_num(vs) + 1;
	lsm_vset_close(vs);

	vs = vs_open(lsm_env_posix(), dir);
	v = lsm_vset_current(vs);
	assert_int_equal(lsm_vset_last_seq(vs), 1234);
	assert_int_equal(lsm_vset_log_num(vs), log);
	/* Numbers handed out but never recorded may be reused; recorded
	 * ones never are. */
	assert_true(lsm_vset_new_file_num(vs) > lsm_vset_manifest_num(vs));
	assert_true(next > lsm_vset_manifest_num(vs));
	assert_int_equal(v->nfiles[0], 1);
	assert_int_equal(v->nfiles[1], 1);
	assert_int_equal(v->nfiles[2], 0);
	assert_int_equal(v->nfiles[3], 1);
	assert_int_equal(v->files[0][0]->num, n1);
	assert_int_equal(v->files[0][0]->size, 111);
	assert_true(ukey_is(&v->files[0][0]->smallest, "a"));
	assert_true(ukey_is(&v->files[0][0]->largest, "m"));
	assert_int_equal(lsm_ikey_seq(v->files[0][0]->smallest.data,
				      v->files[0][0]->smallest.len), 100);
	assert_int_equal(v->files[1][0]->num, n2);
	assert_int_equal(v->files[3][0]->num, n3);
	assert_int_equal(v->files[3][0]->size, 333);
	lsm_vset_close(vs);
	lsm_buf_free(&b);
	tmpdir_free(dir);
}

/* ---- version building --------------------------------------------------- */

static void test_version_order(void **state)
{
	char *dir = tmpdir_new();
	struct lsm_vset *vs = vs_open(lsm_env_posix(), dir);
	struct lsm_version *v;
	struct lsm_edit e;

	(void)state;
	lsm_edit_init(&e);
	/* Level 0 newest (highest number) first, whatever the edit order. */
	assert_int_equal(lsm_edit_add(&e, 0, mkf(5, 10, "a", "z")), 0);
	assert_int_equal(lsm_edit_add(&e, 0, mkf(3, 10, "a", "z")), 0);
	assert_int_equal(lsm_edit_add(&e, 0, mkf(9, 10, "a", "z")), 0);
	/* Level 1 by smallest key. */
	assert_int_equal(lsm_edit_add(&e, 1, mkf(4, 10, "m", "n")), 0);
	assert_int_equal(lsm_edit_add(&e, 1, mkf(6, 10, "a", "b")), 0);
	assert_int_equal(lsm_edit_add(&e, 1, mkf(7, 10, "x", "y")), 0);
	assert_int_equal(lsm_edit_add(&e, 1, mkf(8, 10, "c", "d")), 0);
	for (int i = 0; i < e.nadded; i++)
		lsm_fmeta_unref(e.added[i].f);
	while (lsm_vset_new_file_num(vs) < 10)
		;
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_OK);
	lsm_edit_free(&e);
	v = lsm_vset_current(vs);
	assert_int_equal(v->nfiles[0], 3);
	assert_int_equal(v->files[0][0]->num, 9);
	assert_int_equal(v->files[0][1]->num, 5);
	assert_int_equal(v->files[0][2]->num, 3);
	assert_int_equal(v->nfiles[1], 4);
	assert_int_equal(v->files[1][0]->num, 6);
	assert_int_equal(v->files[1][1]->num, 8);
	assert_int_equal(v->files[1][2]->num, 4);
	assert_int_equal(v->files[1][3]->num, 7);

	/* Deletion by (level, number); a number at the wrong level stays. */
	lsm_edit_init(&e);
	assert_int_equal(lsm_edit_delete(&e, 0, 5), 0);
	assert_int_equal(lsm_edit_delete(&e, 0, 8), 0);
	assert_int_equal(lsm_edit_delete(&e, 1, 4), 0);
	assert_int_equal(lsm_edit_delete(&e, LSM_MAX_LEVELS, 4), LSM_EINVAL);
	assert_int_equal(lsm_edit_add(&e, -1, v->files[0][0]), LSM_EINVAL);
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_OK);
	lsm_edit_free(&e);
	v = lsm_vset_current(vs);
	assert_int_equal(v->nfiles[0], 2);
	assert_int_equal(v->files[0][0]->num, 9);
	assert_int_equal(v->files[0][1]->num, 3);
	assert_int_equal(v->nfiles[1], 3);
	assert_true(has_file(v, 1, 8) && !has_file(v, 1, 4));

	/* Reopen keeps the order. */
	lsm_vset_close(vs);
	vs = vs_open(lsm_env_posix(), dir);
	v = lsm_vset_current(vs);
	assert_int_equal(v->files[0][0]->num, 9);
	assert_int_equal(v->files[1][0]->num, 6);
	assert_int_equal(v->files[1][1]->num, 8);
	assert_int_equal(v->files[1][2]->num, 7);
	lsm_vset_close(vs);
	tmpdir_free(dir);
}

static void test_apply_rejects(void **state)
{
	char *dir = tmpdir_new(), path[LSM_PATH_MAX];
	struct lsm_vset *vs = vs_open(lsm_env_posix(), dir);
	struct lsm_version *before;
	struct lsm_fmeta *f;
	struct lsm_edit e;
	uint64_t mnum;

	(void)state;
	add_file(vs, 1, newf(vs, 10, "c", "f"));
	before = lsm_vset_current(vs);
	mnum = lsm_vset_manifest_num(vs);

	/* Overlapping files at level 1. */
	lsm_edit_init(&e);
	f = newf(vs, 10, "e", "g");
	assert_int_equal(lsm_edit_add(&e, 1, f), 0);
	lsm_fmeta_unref(f);
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_EINVAL);
	assert_non_null(strstr(lsm_last_error(), "overlap"));
	lsm_edit_free(&e);

	/* A file number twice. */
	lsm_edit_init(&e);
	f = mkf(before->files[1][0]->num, 10, "x", "y");
	assert_int_equal(lsm_edit_add(&e, 2, f), 0);
	lsm_fmeta_unref(f);
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_EINVAL);
	lsm_edit_free(&e);

	/* A log number never handed out. */
	lsm_edit_init(&e);
	e.has_log_num = true;
	e.log_num = 1000000;
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_EINVAL);
	lsm_edit_free(&e);

	assert_ptr_equal(lsm_vset_current(vs), before);
	assert_int_equal(lsm_vset_manifest_num(vs), mnum);
	assert_int_equal(count_manifests(dir), 1);
	manifest_file(path, dir, mnum);
	assert_int_equal(access(path, F_OK), 0);
	lsm_vset_close(vs);
	tmpdir_free(dir);
}

struct numset {
	uint64_t nums[64];
	int n;
};

static void numset_add(void *ctx, uint64_t num)
{
	struct numset *s = ctx;

	assert_true(s->n < 64);
	s->nums[s->n++] = num;
}

static bool numset_has(const struct numset *s, uint64_t num)
{
	for (int i = 0; i < s->n; i++)
		if (s->nums[i] == num)
			return true;
	return false;
}

static void test_live_versions(void **state)
{
	char *dir = tmpdir_new();
	struct lsm_vset *vs = vs_open(lsm_env_posix(), dir);
	struct lsm_version *old;
	struct numset live = { .n = 0 };
	struct lsm_edit e;
	uint64_t a, b;

	(void)state;
	add_file(vs, 0, newf(vs, 10, "a", "b"));
	add_file(vs, 0, newf(vs, 10, "c", "d"));
	old = lsm_vset_current(vs);
	a = old->files[0][1]->num;
	b = old->files[0][0]->num;
	lsm_version_ref(old);
	lsm_edit_init(&e);
	assert_int_equal(lsm_edit_delete(&e, 0, a), 0);
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_OK);
	lsm_edit_free(&e);
	assert_ptr_not_equal(lsm_vset_current(vs), old);
	assert_int_equal(lsm_vset_current(vs)->nfiles[0], 1);

	/* The old version still pins file a. */
	lsm_vset_live_files(vs, numset_add, &live);
	assert_true(numset_has(&live, a));
	assert_true(numset_has(&live, b));
	assert_true(numset_has(&live, lsm_vset_manifest_num(vs)));
	lsm_version_unref(old);
	live.n = 0;
	lsm_vset_live_files(vs, numset_add, &live);
	assert_false(numset_has(&live, a));
	assert_true(numset_has(&live, b));
	assert_int_equal(live.n, 2);
	lsm_vset_close(vs);
	tmpdir_free(dir);
}

static void test_scores(void **state)
{
	char *dir = tmpdir_new();
	struct lsm_vset *vs = vs_open(lsm_env_posix(), dir);
	struct lsm_version *v;

	(void)state;
	v = lsm_vset_current(vs);
	assert_true(v->compact_score < 1);
	assert_null(lsm_vset_pick_compaction(vs));
	add_file(vs, 0, newf(vs, 10, "a", "b"));
	add_file(vs, 0, newf(vs, 10, "a", "b"));
	v = lsm_vset_current(vs);
	assert_int_equal(v->compact_level, 0);
	assert_true(v->compact_score > 0.49 && v->compact_score < 0.51);
	/* Level 1: 5000 of 10000 bytes; level 2: 150000 of 100000. */
	add_file(vs, 1, newf(vs, 5000, "a", "b"));
	add_file(vs, 2, newf(vs, 150000, "a", "b"));
	v = lsm_vset_current(vs);
	assert_int_equal(v->compact_level, 2);
	assert_true(v->compact_score > 1.49 && v->compact_score < 1.51);
	/* The last level has no score however big it is. */
	add_file(vs, LSM_MAX_LEVELS - 1, newf(vs, UINT64_C(1) << 50, "a", "b"));
	v = lsm_vset_current(vs);
	assert_int_equal(v->compact_level, 2);
	add_file(vs, 0, newf(vs, 10, "a", "b"));
	add_file(vs, 0, newf(vs, 10, "a", "b"));
	add_file(vs, 0, newf(vs, 10, "a", "b"));
	add_file(vs, 0, newf(vs, 10, "a", "b"));
	add_file(vs, 0, newf(vs, 10, "a", "b"));
	add_file(vs, 0, newf(vs, 10, "a", "b"));
	v = lsm_vset_current(vs);
	assert_int_equal(v->compact_level, 0);
	assert_true(v->compact_score > 1.99 && v->compact_score < 2.01);
	lsm_vset_close(vs);
	tmpdir_free(dir);
}

/* ---- damaged and hand-made manifests ------------------------------------ */

/* Opens dir expecting rc, with lsm_last_error() mentioning what. */
static void expect_open(const char *dir, int rc, const char *what)
{
	struct lsm_vset *vs = NULL;

	assert_int_equal(lsm_vset_open(lsm_env_posix(), dir, &opts, true, &vs),
			 rc);
	if (rc) {
		assert_null(vs);
		if (what && !strstr(lsm_last_error(), what))
			fail_msg("error \"%s\" lacks \"%s\"", lsm_last_error(),
				 what);
	}
	lsm_vset_close(vs);
}

static void test_damaged_manifest(void **state)
{
	char *dir = tmpdir_new(), path[LSM_PATH_MAX], cur[LSM_PATH_MAX];
	struct lsm_vset *vs = vs_open(lsm_env_posix(), dir);
	struct lsm_buf good = { 0 }, bad = { 0 };

	(void)state;
	add_file(vs, 1, newf(vs, 10, "c", "f"));
	manifest_file(path, dir, lsm_vset_manifest_num(vs));
	lsm_vset_close(vs);
	read_path(path, &good);
	snprintf(cur, sizeof(cur), "%s/CURRENT", dir);

	/* Every single flipped byte is caught (header or payload). */
	for (size_t i = 0; i < good.len; i++) {
		lsm_buf_set(&bad, good.data, good.len);
		bad.data[i] ^= 0x40;
		write_path(path, bad.data, bad.len);
		expect_open(dir, LSM_ECORRUPT, path);
		assert_non_null(strstr(lsm_last_error(), "offset"));
	}
	/* Truncated anywhere, or a byte appended. */
	for (size_t n = 0; n < good.len; n += 3) {
		write_path(path, good.data, n);
		expect_open(dir, LSM_ECORRUPT, "offset 0");
	}
	lsm_buf_set(&bad, good.data, good.len);
	lsm_buf_append(&bad, "", 1);
	write_path(path, bad.data, bad.len);
	expect_open(dir, LSM_ECORRUPT, "offset 0");
	write_path(path, good.data, good.len);
	expect_open(dir, LSM_OK, NULL);

	/* CURRENT naming a missing manifest, or holding garbage. */
	write_path(cur, "MANIFEST-999999\n", 16);
	expect_open(dir, LSM_ECORRUPT, "missing");
	write_path(cur, "MANIFEST-12x\n", 13);
	expect_open(dir, LSM_ECORRUPT, "CURRENT");
	write_path(cur, "MANIFEST-000003", 15);
	expect_open(dir, LSM_ECORRUPT, "CURRENT");
	write_path(cur, "", 0);
	expect_open(dir, LSM_ECORRUPT, "CURRENT");
	lsm_buf_free(&good);
	lsm_buf_free(&bad);
	tmpdir_free(dir);
}

/* A hand-encoded manifest: the fields, then a list of files. */
struct mfile {
	uint64_t level, num, size;
	const char *s, *l; /* user keys, trailers (seq 9, VAL) added */
	size_t slen, llen; /* override key lengths when non-zero */
};
struct mspec {
	uint64_t nfields, magic, version, next, last_seq, log;
	int nfiles;
	struct mfile files[4];
	bool string_for_size; /* a text string where a uint belongs */
};

static void put_uint(struct lsm_buf *b, uint64_t v)
{
	lsm_buf_reserve(b, 9);
	b->len += cbor_encode_uint(v, b->data + b->len, 9);
}

static void put_key(struct lsm_buf *b, const char *k, size_t len)
{
	struct lsm_buf ik = ik_buf(k, 9);

	if (len)
		ik.len = len; /* ik's buffer has room (at least 64 bytes) */
	lsm_buf_reserve(b, 9 + ik.len);
	b->len += cbor_encode_bytestring_start(ik.len, b->data + b->len, 9);
	lsm_buf_append(b, ik.data, ik.len);
	lsm_buf_free(&ik);
}

/* Writes spec as manifest 1 of dir with CURRENT naming it. */
static void write_manifest(const char *dir, const struct mspec *m)
{
	char path[LSM_PATH_MAX];
	struct lsm_buf b = { 0 };

	lsm_buf_reserve(&b, 64);
	b.len = LSM_FRAME_HDR;
	b.len += cbor_encode_array_start(m->nfields, b.data + b.len, 9);
	put_uint(&b, m->magic);
	put_uint(&b, m->version);
	put_uint(&b, m->next);
	put_uint(&b, m->last_seq);
	put_uint(&b, m->log);
	lsm_buf_reserve(&b, 9);
	b.len += cbor_encode_array_start((size_t)m->nfiles, b.data + b.len, 9);
	for (int i = 0; i < m->nfiles; i++) {
		const struct mfile *f = &m->files[i];
		lsm_buf_reserve(&b, 9);
		b.len += cbor_encode_array_start(5, b.data + b.len, 9);
		put_uint(&b, f->level);
		put_uint(&b, f->num);
		if (m->string_for_size) {
			lsm_buf_reserve(&b, 9);
			b.len += cbor_encode_string_start(1, b.data + b.len, 9);
			lsm_buf_append(&b, "7", 1);
		} else {
			put_uint(&b, f->size);
		}
		put_key(&b, f->s, f->slen);
		put_key(&b, f->l, f->llen);
	}
	lsm_put_u32le(b.data, (uint32_t)(b.len - LSM_FRAME_HDR));
	lsm_put_u32le(b.data + 4, lsm_crc32c(0, b.data + LSM_FRAME_HDR,
					     b.len - LSM_FRAME_HDR));
	manifest_file(path, dir, 1);
	write_path(path, b.data, b.len);
	snprintf(path, sizeof(path), "%s/CURRENT", dir);
	write_path(path, "MANIFEST-000001\n", 16);
	lsm_buf_free(&b);
}

static struct mspec good_spec(void)
{
	struct mspec m = {
		.nfields = 6, .magic = 0x6c736d6d, .version = 1, .next = 20,
		.last_seq = 77, .log = 3, .nfiles = 2,
		.files = { { 0, 5, 100, "a", "k", 0, 0 },
			   { 2, 6, 200, "m", "z", 0, 0 } },
	};
	return m;
}

static void test_manifest_fields(void **state)
{
	char *dir = tmpdir_new();
	struct lsm_vset *vs = NULL;
	struct mspec m;

	(void)state;
	m = good_spec();
	write_manifest(dir, &m);
	vs = vs_open(lsm_env_posix(), dir);
	assert_int_equal(lsm_vset_last_seq(vs), 77);
	assert_int_equal(lsm_vset_log_num(vs), 3);
	assert_int_equal(lsm_vset_new_file_num(vs), 20);
	assert_int_equal(lsm_vset_current(vs)->files[2][0]->num, 6);
	lsm_vset_close(vs);

#define EXPECT(field_change, rc, what)                                     \
	do {                                                               \
		m = good_spec();                                           \
		field_change;                                              \
		write_manifest(dir, &m);                                   \
		expect_open(dir, rc, what);                                \
	} while (0)
	EXPECT(m.version = 2, LSM_EVERSION, "version 2");
	EXPECT((m.version = 9, m.nfields = 11), LSM_EVERSION, "version 9");
	EXPECT(m.version = 0, LSM_ECORRUPT, "version");
	EXPECT(m.magic = 0x6c736d6e, LSM_ECORRUPT, "magic");
	EXPECT(m.nfields = 7, LSM_ECORRUPT, "fields");
	EXPECT(m.next = 6, LSM_ECORRUPT, "table number");
	EXPECT(m.next = 1, LSM_ECORRUPT, "next file number");
	EXPECT(m.last_seq = LSM_SEQ_MAX + 1, LSM_ECORRUPT, "sequence");
	EXPECT(m.log = 20, LSM_ECORRUPT, "log number");
	EXPECT(m.files[1].level = LSM_MAX_LEVELS, LSM_ECORRUPT, "level");
	EXPECT(m.files[1].num = 0, LSM_ECORRUPT, "table number");
	EXPECT(m.files[1].size = 0, LSM_ECORRUPT, "size");
	EXPECT(m.string_for_size = true, LSM_ECORRUPT, "size");
	EXPECT(m.files[0].slen = 7, LSM_ECORRUPT, "smallest");
	EXPECT(m.files[0].llen = 7, LSM_ECORRUPT, "largest");
	EXPECT((m.files[0].s = "q", m.files[0].l = "b"), LSM_ECORRUPT,
	       "below");
	EXPECT(m.files[1].num = 5, LSM_ECORRUPT, "twice");
	EXPECT((m.files[0].level = 2, m.files[0].l = "n"), LSM_ECORRUPT,
	       "overlap");
	/* The manifest's own number (1) must be below next_file_num, which
	 * holds here; and a level-0 overlap is fine. */
	EXPECT((m.files[0].level = 0, m.files[1].level = 0), LSM_OK, NULL);
#undef EXPECT
	tmpdir_free(dir);
}

/* The example of version.c's format essay, byte for byte. */
static void test_manifest_essay_bytes(void **state)
{
	static const uint8_t payload[] = {
		0x86, 0x1a, 0x6c, 0x73, 0x6d, 0x6d, 0x01, 0x07, 0x19, 0x01,
		0x2c, 0x05, 0x81, 0x85, 0x00, 0x06, 0x19, 0x03, 0xe8,
		0x49, 'a', 0x01, 0x01, 0, 0, 0, 0, 0, 0,
		0x49, 'b', 0x01, 0x02, 0, 0, 0, 0, 0, 0,
	};
	char *dir = tmpdir_new(), path[LSM_PATH_MAX];
	uint8_t frame[sizeof(payload) + 8];
	struct lsm_vset *vs;
	struct lsm_version *v;
	struct lsm_buf b = { 0 };
	struct lsm_edit e;

	(void)state;
	lsm_put_u32le(frame, sizeof(payload));
	lsm_put_u32le(frame + 4, lsm_crc32c(0, payload, sizeof(payload)));
	memcpy(frame + 8, payload, sizeof(payload));
	/* Named as manifest 1 (below next_file_num 7). */
	manifest_file(path, dir, 1);
	write_path(path, frame, sizeof(frame));
	snprintf(path, sizeof(path), "%s/CURRENT", dir);
	write_path(path, "MANIFEST-000001\n", 16);
	vs = vs_open(lsm_env_posix(), dir);
	v = lsm_vset_current(vs);
	assert_int_equal(lsm_vset_last_seq(vs), 300);
	assert_int_equal(lsm_vset_log_num(vs), 5);
	assert_int_equal(v->nfiles[0], 1);
	assert_int_equal(v->files[0][0]->num, 6);
	assert_int_equal(v->files[0][0]->size, 1000);
	assert_int_equal(lsm_ikey_seq(v->files[0][0]->largest.data, 9), 2);
	/* Rewriting the same state yields the same payload but for the
	 * next file number (the new manifest took 7). */
	lsm_edit_init(&e);
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_OK);
	assert_int_equal(lsm_vset_manifest_num(vs), 7);
	manifest_file(path, dir, 7);
	read_path(path, &b);
	assert_int_equal(b.len, sizeof(frame));
	assert_int_equal(b.data[8 + 7], 0x08);
	b.data[8 + 7] = 0x07;
	assert_memory_equal(b.data + 8, payload, sizeof(payload));
	lsm_vset_close(vs);
	lsm_buf_free(&b);
	tmpdir_free(dir);
}

/* ---- failures and crashes during apply ---------------------------------- */

static void test_apply_fail_sync(void **state)
{
	char *dir = tmpdir_new();
	lsm_env *env = NULL;
	struct lsm_vset *vs;
	struct lsm_version *v;
	struct lsm_edit e;

	(void)state;
	assert_int_equal(lsm_fault_env_create(lsm_env_posix(), &env), LSM_OK);
	vs = vs_open(env, dir);
	add_file(vs, 1, newf(vs, 10, "a", "b"));
	/* Fail the manifest's sync, the directory's, CURRENT.tmp's (the
	 * syncs before the rename): no change. */
	for (int k = 1; k <= 3; k++) {
		v = lsm_vset_current(vs);
		lsm_edit_init(&e);
		assert_int_equal(lsm_edit_delete(&e, 1, v->files[1][0]->num),
				 0);
		lsm_fault_fail_sync(env, (uint64_t)k, LSM_EIO, 0);
		assert_int_equal(lsm_vset_apply(vs, &e), LSM_EIO);
		/* The message is the failure's, not the clean-up's. */
		assert_non_null(strstr(lsm_last_error(), "injected"));
		assert_ptr_equal(lsm_vset_current(vs), v);
		assert_int_equal(count_manifests(dir), 1);
		lsm_edit_free(&e);
	}
	lsm_vset_close(vs);
	vs = vs_open(env, dir);
	assert_int_equal(lsm_vset_current(vs)->nfiles[1], 1);
	lsm_vset_close(vs);
	env->destroy(env);
	tmpdir_free(dir);
}

/* Power cut at the k-th sync of an apply, for every k: after reopening,
 * the state is the old one or the new one, never anything else. */
static void test_apply_crash(void **state)
{
	bool saw_old = false, saw_new = false;

	(void)state;
	for (uint64_t k = 1; k < 10; k++) {
		char *dir = tmpdir_new();
		lsm_env *env = NULL;
		struct lsm_vset *vs;
		struct lsm_version *v;
		uint64_t a, b;
		struct lsm_edit e;
		struct lsm_fmeta *f;
		int rc;

		assert_int_equal(lsm_fault_env_create(lsm_env_posix(), &env),
				 LSM_OK);
		vs = vs_open(env, dir);
		add_file(vs, 1, newf(vs, 10, "a", "b"));
		a = lsm_vset_current(vs)->files[1][0]->num;
		lsm_edit_init(&e);
		assert_int_equal(lsm_edit_delete(&e, 1, a), 0);
		f = newf(vs, 20, "c", "d");
		b = f->num;
		assert_int_equal(lsm_edit_add(&e, 2, f), 0);
		lsm_fmeta_unref(f);
		lsm_vset_set_last_seq(vs, 55);
		lsm_fault_crash_at_sync(env, k);
		rc = lsm_vset_apply(vs, &e);
		lsm_edit_free(&e);
		lsm_fault_crash(env); /* if the apply got past sync k */
		lsm_vset_close(vs);
		assert_int_equal(lsm_fault_apply_crash(env, seed + k), LSM_OK);
		vs = vs_open(env, dir);
		v = lsm_vset_current(vs);
		if (has_file(v, 2, b)) {
			assert_false(has_file(v, 1, a));
			assert_int_equal(lsm_vset_last_seq(vs), 55);
			saw_new = true;
		} else {
			assert_int_not_equal(rc, LSM_OK);
			assert_true(has_file(v, 1, a));
			assert_int_equal(v->nfiles[2], 0);
			saw_old = true;
		}
		lsm_vset_close(vs);
		env->destroy(env);
		tmpdir_free(dir);
	}
	assert_true(saw_old && saw_new);
}

/* ---- compaction picking ------------------------------------------------- */

/* Applies an edit adding each (level, num, size, s, l) of a table. */
struct spec {
	int level;
	uint64_t num, size;
	const char *s, *l;
};

static struct lsm_vset *vs_with(const char *dir, const struct spec *sp,
				int n)
{
	struct lsm_vset *vs = vs_open(lsm_env_posix(), dir);
	uint64_t max = 0;
	struct lsm_edit e;

	lsm_edit_init(&e);
	for (int i = 0; i < n; i++) {
		struct lsm_fmeta *f = mkf(sp[i].num, sp[i].size, sp[i].s,
					  sp[i].l);
		assert_int_equal(lsm_edit_add(&e, sp[i].level, f), 0);
		lsm_fmeta_unref(f);
		max = sp[i].num > max ? sp[i].num : max;
	}
	while (lsm_vset_new_file_num(vs) <= max)
		;
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_OK);
	lsm_edit_free(&e);
	return vs;
}

static void expect_nums(struct lsm_fmeta **f, int n, const uint64_t *want,
			int nwant)
{
	assert_int_equal(n, nwant);
	for (int i = 0; i < nwant; i++) {
		bool found = false;
		for (int j = 0; j < n; j++)
			found |= f[j]->num == want[i];
		if (!found)
			fail_msg("file %llu missing", (unsigned long long)want[i]);
	}
}

static void test_pick_level0(void **state)
{
	static const struct spec sp[] = {
		{ 0, 13, 10, "d", "g" }, { 0, 12, 10, "a", "b" },
		{ 0, 11, 10, "b", "e" }, { 0, 10, 10, "x", "z" },
		{ 1, 20, 10, "a", "b" }, { 1, 21, 10, "c", "f" },
		{ 1, 22, 10, "h", "k" }, { 2, 30, 10, "a", "c" },
		{ 2, 31, 10, "e", "w" }, { 2, 32, 10, "y", "z" },
	};
	static const uint64_t in0[] = { 13, 12, 11 }, in1[] = { 20, 21 },
			      gp[] = { 30, 31 };
	char *dir = tmpdir_new();
	struct lsm_vset *vs = vs_with(dir, sp, 10);
	struct lsm_compaction *c;
	struct lsm_edit e;

	(void)state;
	assert_int_equal(lsm_vset_current(vs)->compact_level, 0);
	assert_true(lsm_vset_current(vs)->compact_score >= 1);
	c = lsm_vset_pick_compaction(vs);
	assert_non_null(c);
	assert_int_equal(c->level, 0);
	assert_ptr_equal(c->v, lsm_vset_current(vs));
	assert_int_equal(c->max_output_size, opts.target_file_size);
	/* 13 [d,g] pulls in 11 [b,e], which pulls in 12 [a,b] (met before
	 * 11, so the scan must restart when the range grows). */
	expect_nums(c->inputs[0], c->ninputs[0], in0, 3);
	expect_nums(c->inputs[1], c->ninputs[1], in1, 2);
	expect_nums(c->grandparents, c->ngrandparents, gp, 2);
	assert_false(lsm_compaction_is_trivial(c));
	lsm_edit_init(&e);
	assert_int_equal(lsm_compaction_edit(c, &e), 0);
	assert_int_equal(e.ndeleted, 5);
	for (int i = 0; i < e.ndeleted; i++)
		assert_int_equal(e.deleted[i].level,
				 e.deleted[i].num >= 20 ? 1 : 0);
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_OK);
	lsm_edit_free(&e);
	/* The compaction still pins its version's files. */
	assert_true(has_file(c->v, 0, 13));
	lsm_compaction_free(c);
	assert_int_equal(lsm_vset_current(vs)->nfiles[0], 1);
	lsm_vset_close(vs);
	tmpdir_free(dir);

	/* Level 0 alone (no level-1 expansion to hide a missed file). */
	dir = tmpdir_new();
	vs = vs_with(dir, sp, 4);
	c = lsm_vset_pick_compaction(vs);
	assert_non_null(c);
	expect_nums(c->inputs[0], c->ninputs[0], in0, 3);
	assert_int_equal(c->ninputs[1], 0);
	assert_false(lsm_compaction_is_trivial(c));
	lsm_compaction_free(c);
	lsm_vset_close(vs);
	tmpdir_free(dir);
}

static void test_pick_round_robin(void **state)
{
	static const struct spec sp[] = {
		{ 1, 1, 6000, "a", "b" }, { 1, 2, 6000, "c", "d" },
		{ 1, 3, 6000, "e", "f" },
	};
	static const uint64_t order[] = { 1, 2, 3, 1, 2 };
	char *dir = tmpdir_new();
	struct lsm_vset *vs = vs_with(dir, sp, 3);

	(void)state;
	assert_int_equal(lsm_vset_current(vs)->compact_level, 1);
	for (int i = 0; i < 5; i++) {
		struct lsm_compaction *c = lsm_vset_pick_compaction(vs);
		assert_non_null(c);
		assert_int_equal(c->level, 1);
		assert_int_equal(c->ninputs[0], 1);
		assert_int_equal(c->inputs[0][0]->num, order[i]);
		assert_int_equal(c->ninputs[1], 0);
		assert_true(lsm_compaction_is_trivial(c));
		lsm_compaction_free(c);
	}
	lsm_vset_close(vs);
	tmpdir_free(dir);
}

static void test_pick_expand(void **state)
{
	/* inputs[0] {1} overlaps 4 [a,d] below, which overlaps 2 [c,d] too:
	 * taking 2 as well does not grow inputs[1], so it is taken. */
	static const struct spec grow[] = {
		{ 1, 1, 6000, "a", "b" }, { 1, 2, 6000, "c", "d" },
		{ 1, 3, 6000, "e", "f" }, { 2, 4, 10, "a", "d" },
	};
	/* Here taking 2 would pull 5 in as well: not taken. */
	static const struct spec nogrow[] = {
		{ 1, 1, 6000, "a", "b" }, { 1, 2, 6000, "c", "d" },
		{ 1, 3, 6000, "e", "f" }, { 2, 4, 10, "a", "c" },
		{ 2, 5, 10, "d", "z" },
	};
	static const uint64_t g0[] = { 1, 2 }, g1[] = { 4 }, n0[] = { 1 };
	char *dir = tmpdir_new();
	struct lsm_vset *vs = vs_with(dir, grow, 4);
	struct lsm_compaction *c = lsm_vset_pick_compaction(vs);

	(void)state;
	assert_non_null(c);
	expect_nums(c->inputs[0], c->ninputs[0], g0, 2);
	expect_nums(c->inputs[1], c->ninputs[1], g1, 1);
	lsm_compaction_free(c);
	/* The pointer moved past 2: next comes 3. */
	c = lsm_vset_pick_compaction(vs);
	assert_int_equal(c->inputs[0][0]->num, 3);
	lsm_compaction_free(c);
	lsm_vset_close(vs);
	tmpdir_free(dir);

	dir = tmpdir_new();
	vs = vs_with(dir, nogrow, 5);
	c = lsm_vset_pick_compaction(vs);
	assert_non_null(c);
	expect_nums(c->inputs[0], c->ninputs[0], n0, 1);
	expect_nums(c->inputs[1], c->ninputs[1], g1, 1);
	lsm_compaction_free(c);
	lsm_vset_close(vs);
	tmpdir_free(dir);
}

/* A user key split across two files of a level: both must move. */
static void test_pick_boundary(void **state)
{
	char *dir = tmpdir_new();
	struct lsm_vset *vs = vs_open(lsm_env_posix(), dir);
	struct lsm_buf a = ik_buf("a", 5), k9 = ik_buf("k", 9),
		       k3 = ik_buf("k", 3), z = ik_buf("z", 1);
	struct lsm_fmeta *f1, *f2;
	struct lsm_compaction *c;
	struct lsm_edit e;

	(void)state;
	f1 = lsm_fmeta_new(lsm_vset_new_file_num(vs), 6000, a.data, a.len,
			   k9.data, k9.len);
	f2 = lsm_fmeta_new(lsm_vset_new_file_num(vs), 6000, k3.data, k3.len,
			   z.data, z.len);
	lsm_edit_init(&e);
	assert_int_equal(lsm_edit_add(&e, 1, f1), 0);
	assert_int_equal(lsm_edit_add(&e, 1, f2), 0);
	assert_int_equal(lsm_vset_apply(vs, &e), LSM_OK);
	lsm_edit_free(&e);
	c = lsm_vset_compact_range(vs, 1, (const uint8_t *)"a", 1,
				   (const uint8_t *)"b", 1);
	assert_non_null(c);
	assert_int_equal(c->ninputs[0], 2);
	lsm_compaction_free(c);
	lsm_fmeta_unref(f1);
	lsm_fmeta_unref(f2);
	lsm_buf_free(&a);
	lsm_buf_free(&k9);
	lsm_buf_free(&k3);
	lsm_buf_free(&z);
	lsm_vset_close(vs);
	tmpdir_free(dir);
}

static void test_compact_range_trivial(void **state)
{
	static const struct spec sp[] = {
		{ 1, 1, 10, "a", "b" }, { 1, 2, 10, "c", "d" },
		{ 1, 3, 10, "m", "n" }, { 2, 4, 10, "c", "c" },
		{ 3, 5, 6000, "m", "m" }, { 3, 6, 6000, "n", "n" },
	};
	static const uint64_t all[] = { 1, 2, 3 };
	char *dir = tmpdir_new();
	struct lsm_vset *vs = vs_with(dir, sp, 6);
	struct lsm_compaction *c;

	(void)state;
	assert_null(lsm_vset_pick_compaction(vs));
	/* [a,b]: one file, nothing below: a trivial move. */
	c = lsm_vset_compact_range(vs, 1, (const uint8_t *)"a", 1,
				   (const uint8_t *)"a", 1);
	assert_non_null(c);
	assert_true(lsm_compaction_is_trivial(c));
	lsm_compaction_free(c);
	/* [c,c]: overlaps file 4 at level 2. */
	c = lsm_vset_compact_range(vs, 1, (const uint8_t *)"c", 1,
				   (const uint8_t *)"c", 1);
	assert_int_equal(c->ninputs[1], 1);
	assert_false(lsm_compaction_is_trivial(c));
	lsm_compaction_free(c);
	/* [m,m]: 12000 grandparent bytes > 10 * 1000. */
	c = lsm_vset_compact_range(vs, 1, (const uint8_t *)"m", 1,
				   (const uint8_t *)"m", 1);
	assert_int_equal(c->ngrandparents, 2);
	assert_false(lsm_compaction_is_trivial(c));
	lsm_compaction_free(c);
	/* Open bounds take everything; nothing there is NULL. */
	c = lsm_vset_compact_range(vs, 1, NULL, 0, NULL, 0);
	expect_nums(c->inputs[0], c->ninputs[0], all, 3);
	lsm_compaction_free(c);
	c = lsm_vset_compact_range(vs, 1, (const uint8_t *)"e", 1, NULL, 0);
	assert_int_equal(c->ninputs[0], 1);
	assert_int_equal(c->inputs[0][0]->num, 3);
	lsm_compaction_free(c);
	assert_null(lsm_vset_compact_range(vs, 1, (const uint8_t *)"o", 1,
					   NULL, 0));
	assert_null(lsm_vset_compact_range(vs, 0, NULL, 0, NULL, 0));
	assert_null(lsm_vset_compact_range(vs, LSM_MAX_LEVELS - 1, NULL, 0,
					   NULL, 0));
	lsm_vset_close(vs);
	tmpdir_free(dir);
}

static void test_base_level_stop_before(void **state)
{
	static const struct spec sp[] = {
		{ 0, 1, 10, "a", "z" },
		{ 2, 2, 10, "m", "p" }, { 4, 3, 10, "x", "z" },
		{ 1, 10, 4000, "b", "c" }, { 1, 11, 4000, "d", "e" },
		{ 1, 12, 4000, "f", "g" }, { 1, 13, 4000, "h", "i" },
	};
	static const struct {
		const char *k;
		bool base;
	} keys[] = { { "a", true }, { "m", false }, { "n", false },
		     { "q", true }, { "x", false }, { "y", false },
		     { "zz", true } };
	char *dir = tmpdir_new();
	struct lsm_vset *vs = vs_with(dir, sp, 7);
	struct lsm_compaction *c;
	struct lsm_buf k = { 0 };

	(void)state;
	c = lsm_vset_compact_range(vs, 0, NULL, 0, NULL, 0);
	assert_non_null(c);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(lsm_compaction_is_base_level(
					 c, (const uint8_t *)keys[i].k,
					 strlen(keys[i].k)),
				 keys[i].base);
	lsm_compaction_free(c);

	/* Outputs are cut when they overlap more than 10 * 1000 bytes of
	 * grandparents (level 2 for a level-0 compaction), counted from the
	 * first key on: passing [b,c] before any key costs nothing, then d-e,
	 * f-g and h-i make 12000 bytes by key "j". */
	lsm_vset_close(vs);
	tmpdir_free(dir);
	{
		static const struct spec sp2[] = {
			{ 0, 1, 10, "a", "j" },
			{ 2, 10, 4000, "b", "c" }, { 2, 11, 4000, "d", "e" },
			{ 2, 12, 4000, "f", "g" }, { 2, 13, 4000, "h", "i" },
		};
		static const struct {
			const char *k;
			bool stop;
		} seq[] = { { "d", false }, { "f", false }, { "h", false },
			    { "j", true } };
		dir = tmpdir_new();
		vs = vs_with(dir, sp2, 5);
		c = lsm_vset_compact_range(vs, 0, NULL, 0, NULL, 0);
		assert_non_null(c);
		assert_int_equal(c->ngrandparents, 4);
		for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
			lsm_ikey_make(&k, seq[i].k, 1, 5, LSM_KIND_VAL);
			assert_int_equal(lsm_compaction_should_stop_before(
						 c, k.data, k.len),
					 seq[i].stop);
		}
		lsm_compaction_free(c);
		lsm_vset_close(vs);
		tmpdir_free(dir);
	}
	lsm_buf_free(&k);
}

static bool ovl(struct lsm_version *v, int level, const char *s,
		const char *l)
{
	return lsm_version_overlaps(v, level, (const uint8_t *)s,
				    s ? strlen(s) : 0, (const uint8_t *)l,
				    l ? strlen(l) : 0);
}

static int pick(struct lsm_version *v, const char *s, const char *l)
{
	return lsm_version_pick_level(v, (const uint8_t *)s, strlen(s),
				      (const uint8_t *)l, strlen(l));
}

static void test_overlaps_pick_level(void **state)
{
	static const struct spec sp[] = {
		{ 0, 1, 10, "c", "e" },
		{ 1, 2, 10, "g", "h" }, { 1, 3, 10, "k", "m" },
		{ 2, 4, 10, "p", "q" },
		{ 3, 5, 6000, "s", "s" }, { 3, 6, 6000, "t", "t" },
	};
	char *dir = tmpdir_new();
	struct lsm_vset *vs = vs_with(dir, sp, 6);
	struct lsm_version *v = lsm_vset_current(vs);

	(void)state;
	assert_true(ovl(v, 0, "a", "c"));
	assert_true(ovl(v, 0, "d", "d"));
	assert_false(ovl(v, 0, "f", "z"));
	assert_true(ovl(v, 0, NULL, "c"));
	assert_true(ovl(v, 1, "h", "j"));
	assert_false(ovl(v, 1, "i", "j"));
	assert_false(ovl(v, 1, "hh", "jj"));
	assert_true(ovl(v, 1, "a", "z"));
	assert_true(ovl(v, 1, "l", "l"));
	assert_false(ovl(v, 1, "n", NULL));
	assert_true(ovl(v, 1, NULL, "g"));
	assert_false(ovl(v, 1, NULL, "f"));
	assert_true(ovl(v, 1, NULL, NULL));
	assert_false(ovl(v, 5, NULL, NULL));

	assert_int_equal(pick(v, "d", "d"), 0);  /* overlaps level 0 */
	assert_int_equal(pick(v, "a", "b"), 2);  /* nothing anywhere */
	assert_int_equal(pick(v, "h", "i"), 0);  /* level 1 */
	assert_int_equal(pick(v, "n", "o"), 2);
	assert_int_equal(pick(v, "o", "p"), 1);  /* level 2 */
	/* Level 3 under [r,u] holds 12000 > 10 * 1000 bytes: stop at 1. */
	assert_int_equal(pick(v, "r", "u"), 1);
	assert_int_equal(pick(v, "r", "s"), 2);
	lsm_vset_close(vs);
	tmpdir_free(dir);
}

/* ---- reads through real tables ------------------------------------------ */

struct kv {
	char key[16];
	uint64_t seq;
	int kind;
	char val[24];
};

static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

struct db {
	char *dir;
	struct lsm_vset *vs;
	struct lsm_cache *blocks;
	struct lsm_tcache *tc;
	struct kv *all; /* every entry of every table (the model) */
	int nall;
};

static void db_open(struct db *d)
{
	memset(d, 0, sizeof(*d));
	d->dir = tmpdir_new();
	d->vs = vs_open(lsm_env_posix(), d->dir);
	assert_int_equal(lsm_cache_create(1 << 20, &d->blocks), LSM_OK);
	assert_int_equal(lsm_tcache_create(lsm_env_posix(), d->dir, 8,
					   d->blocks, 10, &d->tc), LSM_OK);
}

static void db_close(struct db *d)
{
	lsm_vset_close(d->vs);
	lsm_tcache_destroy(d->tc);
	lsm_cache_destroy(d->blocks);
	tmpdir_free(d->dir);
	free(d->all);
}

/* Builds a table of kvs (sorted here) and adds it at level. */
static void db_table(struct db *d, int level, struct kv *kvs, int n)
{
	struct lsm_sst_opts so = { .block_size = 256, .restart_interval = 4,
				   .bloom_bits_per_key = 10 };
	struct lsm_sst_builder *b = NULL;
	struct lsm_buf ik = { 0 }, s = { 0 }, l = { 0 };
	uint64_t num = lsm_vset_new_file_num(d->vs), size;
	char path[LSM_PATH_MAX];

	qsort(kvs, (size_t)n, sizeof(*kvs), kv_cmp);
	lsm_file_path(path, d->dir, num, "sst");
	assert_int_equal(lsm_sst_builder_create(lsm_env_posix(), path, &so, &b),
			 LSM_OK);
	for (int i = 0; i < n; i++) {
		lsm_ikey_make(&ik, kvs[i].key, strlen(kvs[i].key), kvs[i].seq,
			      kvs[i].kind);
		if (i == 0)
			lsm_buf_set(&s, ik.data, ik.len);
		lsm_buf_set(&l, ik.data, ik.len);
		assert_int_equal(lsm_sst_builder_add(b, ik.data, ik.len,
						     (const uint8_t *)kvs[i].val,
						     strlen(kvs[i].val)),
				 LSM_OK);
	}
	assert_int_equal(lsm_sst_builder_finish(b, &size), LSM_OK);
	add_file(d->vs, level, lsm_fmeta_new(num, size, s.data, s.len, l.data,
					     l.len));
	d->all = realloc(d->all, (size_t)(d->nall + n) * sizeof(*d->all));
	assert_non_null(d->all);
	memcpy(d->all + d->nall, kvs, (size_t)n * sizeof(*kvs));
	d->nall += n;
	qsort(d->all, (size_t)d->nall, sizeof(*d->all), kv_cmp);
	lsm_buf_free(&ik);
	lsm_buf_free(&s);
	lsm_buf_free(&l);
}

/* Entries key0000 .. for keys [from, to) step step at seq, tagged tag. */
static int gen(struct kv *out, int from, int to, int step, uint64_t seq,
	       int kind, const char *tag)
{
	int n = 0;

	for (int i = from; i < to; i += step, n++) {
		snprintf(out[n].key, sizeof(out[n].key), "key%04d", i);
		out[n].seq = seq;
		out[n].kind = kind;
		snprintf(out[n].val, sizeof(out[n].val), "%s-%d", tag, i);
	}
	return n;
}

/* Looks up key as of seq: LSM_OK and found/kind/value. */
static void expect_get(struct db *d, const char *key, uint64_t seq,
		       bool found, int kind, const char *val)
{
	struct lsm_buf ik = { 0 }, v = { 0 };
	bool f = false;
	int k = -1;

	lsm_ikey_make(&ik, key, strlen(key), seq, LSM_KIND_VAL);
	assert_int_equal(lsm_version_get(lsm_vset_current(d->vs), d->tc,
					 ik.data, ik.len, &f, &k, &v, NULL, NULL),
			 LSM_OK);
	if (f != found)
		fail_msg("%s@%llu: found %d, want %d", key,
			 (unsigned long long)seq, f, found);
	if (found) {
		assert_int_equal(k, kind);
		if (kind == LSM_KIND_VAL) {
			assert_int_equal(v.len, strlen(val));
			assert_memory_equal(v.data, val, v.len);
		}
	}
	lsm_buf_free(&ik);
	lsm_buf_free(&v);
}

static void test_get_tables(void **state)
{
	struct db d;
	struct kv kv[200];
	int n;

	(void)state;
	db_open(&d);
	/* Level 2: everything 0..300 at seq 10. */
	n = gen(kv, 0, 200, 1, 10, LSM_KIND_VAL, "l2");
	db_table(&d, 2, kv, n);
	/* Level 1: three disjoint tables of even keys at seq 20. */
	n = gen(kv, 0, 60, 2, 20, LSM_KIND_VAL, "l1");
	db_table(&d, 1, kv, n);
	n = gen(kv, 60, 120, 2, 20, LSM_KIND_VAL, "l1");
	db_table(&d, 1, kv, n);
	n = gen(kv, 140, 180, 2, 20, LSM_KIND_VAL, "l1");
	db_table(&d, 1, kv, n);
	/* Level 0: two overlapping tables, the newer one at seq 40. */
	n = gen(kv, 0, 100, 10, 30, LSM_KIND_VAL, "old0");
	db_table(&d, 0, kv, n);
	n = gen(kv, 50, 150, 10, 40, LSM_KIND_DEL, "new0");
	db_table(&d, 0, kv, n);

	expect_get(&d, "key0030", 100, true, LSM_KIND_VAL, "old0-30");
	expect_get(&d, "key0050", 100, true, LSM_KIND_DEL, NULL);
	expect_get(&d, "key0050", 35, true, LSM_KIND_VAL, "old0-50");
	expect_get(&d, "key0050", 25, true, LSM_KIND_VAL, "l1-50");
	expect_get(&d, "key0051", 100, true, LSM_KIND_VAL, "l2-51");
	expect_get(&d, "key0130", 100, true, LSM_KIND_DEL, NULL);
	expect_get(&d, "key0132", 100, true, LSM_KIND_VAL, "l2-132");
	expect_get(&d, "key0142", 100, true, LSM_KIND_VAL, "l1-142");
	expect_get(&d, "key0142", 15, true, LSM_KIND_VAL, "l2-142");
	expect_get(&d, "key0142", 5, false, 0, NULL);
	expect_get(&d, "key0199", 100, true, LSM_KIND_VAL, "l2-199");
	expect_get(&d, "key0200", 100, false, 0, NULL);
	expect_get(&d, "kex", 100, false, 0, NULL);
	expect_get(&d, "kez", 100, false, 0, NULL);
	/* Every model entry: the newest visible version as of its seq. */
	for (int i = 0; i < d.nall; i++) {
		const struct kv *e = &d.all[i];
		expect_get(&d, e->key, e->seq, true, e->kind, e->val);
	}
	db_close(&d);
}

/* Walks it forward from first and backward from last against the model
 * entries m[0..n). */
static void check_walk(struct lsm_iiter *it, const struct kv *m, int n)
{
	const uint8_t *k;
	size_t klen;
	int i = 0;

	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it), i++) {
		assert_true(i < n);
		k = it->ops->key(it, &klen);
		assert_int_equal(klen - LSM_TRAILER, strlen(m[i].key));
		assert_memory_equal(k, m[i].key, klen - LSM_TRAILER);
		assert_int_equal(lsm_ikey_seq(k, klen), m[i].seq);
	}
	assert_int_equal(i, n);
	assert_int_equal(it->ops->status(it), LSM_OK);
	for (it->ops->last(it); it->ops->valid(it); it->ops->prev(it)) {
		i--;
		assert_true(i >= 0);
		k = it->ops->key(it, &klen);
		assert_memory_equal(k, m[i].key, klen - LSM_TRAILER);
		assert_int_equal(lsm_ikey_seq(k, klen), m[i].seq);
	}
	assert_int_equal(i, 0);
}

/* Index of the first model entry >= (key, seq). */
static int model_seek(const struct kv *m, int n, const char *key,
		      uint64_t seq)
{
	struct kv probe;
	int i = 0;

	snprintf(probe.key, sizeof(probe.key), "%s", key);
	probe.seq = seq;
	while (i < n && kv_cmp(&m[i], &probe) < 0)
		i++;
	return i;
}

static void test_level_iter(void **state)
{
	struct db d;
	struct kv kv[200];
	struct lsm_iiter **its = NULL, *it;
	struct lsm_buf ik = { 0 };
	int n, nits = 0;
	uint64_t rnd = seed;

	(void)state;
	db_open(&d);
	/* Level 1: five tables with gaps between them; seeks land in gaps,
	 * before, inside and after. */
	for (int t = 0; t < 5; t++) {
		n = gen(kv, t * 40, t * 40 + 30, 1, 7, LSM_KIND_VAL, "v");
		db_table(&d, 1, kv, n);
	}
	assert_int_equal(lsm_version_iter_count(lsm_vset_current(d.vs)), 1);
	its = calloc(1, sizeof(*its));
	assert_int_equal(lsm_version_iters(lsm_vset_current(d.vs), d.tc, its,
					   &nits), LSM_OK);
	assert_int_equal(nits, 1);
	it = its[0];
	check_walk(it, d.all, d.nall);
	/* Random seeks, then a few steps either way, against the model. */
	for (int r = 0; r < 300; r++) {
		char key[16];
		int want, kn;
		rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
		kn = (int)((rnd >> 33) % 220);
		snprintf(key, sizeof(key), "key%04d", kn);
		lsm_ikey_make(&ik, key, strlen(key), 8, LSM_KIND_VAL);
		it->ops->seek(it, ik.data, ik.len);
		want = model_seek(d.all, d.nall, key, 8);
		for (int s = 0; s < 4; s++) {
			size_t klen;
			const uint8_t *k;
			if (want < 0 || want >= d.nall) {
				assert_false(it->ops->valid(it));
				break;
			}
			assert_true(it->ops->valid(it));
			k = it->ops->key(it, &klen);
			assert_memory_equal(k, d.all[want].key,
					    klen - LSM_TRAILER);
			if ((rnd >> 20) & 1) {
				it->ops->next(it);
				want++;
			} else {
				it->ops->prev(it);
				want--;
			}
		}
	}
	it->ops->destroy(it);
	free(its);
	lsm_buf_free(&ik);
	db_close(&d);
}

static void test_version_iters_and_compaction_iter(void **state)
{
	struct db d;
	struct kv kv[200];
	struct lsm_iiter **its = NULL, *it = NULL;
	struct lsm_compaction *c;
	int n, nits = 0;

	(void)state;
	db_open(&d);
	n = gen(kv, 0, 100, 3, 5, LSM_KIND_VAL, "l1");
	db_table(&d, 1, kv, n);
	n = gen(kv, 100, 200, 3, 5, LSM_KIND_VAL, "l1");
	db_table(&d, 1, kv, n);
	n = gen(kv, 0, 200, 7, 6, LSM_KIND_VAL, "l2");
	db_table(&d, 2, kv, n);
	for (int t = 0; t < 4; t++) {
		n = gen(kv, t * 11, 150, 13, 10 + (uint64_t)t, LSM_KIND_VAL,
			"l0");
		db_table(&d, 0, kv, n);
	}
	/* One iterator per level-0 table plus one per deeper level, added
	 * behind what the array held. */
	assert_int_equal(lsm_version_iter_count(lsm_vset_current(d.vs)),
			 4 + 2);
	its = calloc(1 + 4 + 2, sizeof(*its));
	its[0] = NULL; /* a slot the caller holds: left alone */
	nits = 1;
	assert_int_equal(lsm_version_iters(lsm_vset_current(d.vs), d.tc, its,
					   &nits), LSM_OK);
	assert_int_equal(nits, 1 + 4 + 2);
	assert_null(its[0]);
	nits--;
	memmove(its, its + 1, (size_t)nits * sizeof(*its));
	assert_int_equal(lsm_merge_iter(its, nits, &it), LSM_OK);
	check_walk(it, d.all, d.nall);
	it->ops->destroy(it);
	free(its);

	/* Level 0 is at its trigger: the compaction takes all four level-0
	 * tables (their ranges chain) and both level-1 tables. */
	c = lsm_vset_pick_compaction(d.vs);
	assert_non_null(c);
	assert_int_equal(c->level, 0);
	assert_int_equal(c->ninputs[0], 4);
	assert_int_equal(c->ninputs[1], 2);
	assert_int_equal(c->ngrandparents, 1);
	assert_int_equal(lsm_compaction_iter(c, d.tc, &it), LSM_OK);
	{
		/* The model minus level 2's entries (seq 6). */
		struct kv *m = calloc((size_t)d.nall, sizeof(*m));
		int nm = 0;
		for (int i = 0; i < d.nall; i++)
			if (d.all[i].seq != 6)
				m[nm++] = d.all[i];
		check_walk(it, m, nm);
		free(m);
	}
	it->ops->destroy(it);
	lsm_compaction_free(c);
	db_close(&d);
}

int main(void)
{
	const char *s = getenv("LSM_SEED");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_reopen),
		cmocka_unit_test(test_version_order),
		cmocka_unit_test(test_apply_rejects),
		cmocka_unit_test(test_live_versions),
		cmocka_unit_test(test_scores),
		cmocka_unit_test(test_damaged_manifest),
		cmocka_unit_test(test_manifest_fields),
		cmocka_unit_test(test_manifest_essay_bytes),
		cmocka_unit_test(test_apply_fail_sync),
		cmocka_unit_test(test_apply_crash),
		cmocka_unit_test(test_pick_level0),
		cmocka_unit_test(test_pick_round_robin),
		cmocka_unit_test(test_pick_expand),
		cmocka_unit_test(test_pick_boundary),
		cmocka_unit_test(test_compact_range_trivial),
		cmocka_unit_test(test_base_level_stop_before),
		cmocka_unit_test(test_overlaps_pick_level),
		cmocka_unit_test(test_get_tables),
		cmocka_unit_test(test_level_iter),
		cmocka_unit_test(test_version_iters_and_compaction_iter),
	};

	if (s)
		seed = strtoull(s, NULL, 0);
	printf("test_version: LSM_SEED=%llu\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
