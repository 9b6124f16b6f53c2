/*
 * test_db.c — the whole store through its public API (lsm.h) only.
 *
 * Every test opens a store with a tiny write buffer, tiny tables and a
 * tiny level 1, so that a few megabytes of writes go through many
 * flushes and compactions, and compares what the store returns with the
 * in-memory model of model.h.  Randomized tests take their seed from
 * LSM_SEED (default fixed) and print it; LSM_OPS scales the randomized
 * model test (default 200000 operations).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsm.h"
#include "model.h"

static uint64_t g_seed;

#define WHY_LEN 1024

/* Fails the test with the seed in the message. */
#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			print_error("seed=%llu: ",                           \
				    (unsigned long long)g_seed);              \
			fail_msg(__VA_ARGS__);                               \
		}                                                            \
	} while (0)

#define CHECK_RC(expr)                                                       \
	do {                                                                 \
		int rc_ = (expr);                                            \
		CHECK(rc_ == LSM_OK, "%s -> %s (%s)", #expr,                 \
		      lsm_strerror(rc_), lsm_last_error());                  \
	} while (0)

/* Options that make flushes and compactions frequent. */
static void small_options(struct lsm_options *o)
{
	lsm_options_init(o);
	o->write_buffer_size = 64 * 1024;
	o->block_size = 1024;
	o->block_cache_size = 256 * 1024;
	o->max_open_tables = 20;
	o->target_file_size = 32 * 1024;
	o->level1_max_bytes = 128 * 1024;
}

/* ---- keys and values --------------------------------------------------- */
#define KEY_MAX 256

/* Key number i: "k<i>" (no padding, so keys are prefixes of one another),
 * and for every 97th a long one. */
static size_t key_of(uint64_t i, uint8_t *buf)
{
	int n = snprintf((char *)buf, KEY_MAX, "k%llu", (unsigned long long)i);

	if (i % 97 == 0) {
		memset(buf + n, 'L', 200);
		n += 200;
	}
	return (size_t)n;
}

/* A value of vlen bytes that differs for every gen: "gen;" then bytes
 * derived from gen. */
static void val_of(uint64_t gen, uint8_t *buf, size_t vlen)
{
	char head[32];
	int n = snprintf(head, sizeof(head), "%llu;", (unsigned long long)gen);
	uint64_t x = gen * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < vlen; i++) {
		if (i < (size_t)n) {
			buf[i] = (uint8_t)head[i];
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
	}
}

/* Mostly small values, some of a few KiB, a rare large one. */
static size_t rand_vlen(struct model_rng *r)
{
	uint64_t p = model_below(r, 10000);

	if (p < 5)
		return 100 * 1024;
	if (p < 100)
		return 1 + model_below(r, 8192);
	if (p < 300)
		return 0;
	return model_below(r, 100);
}

#define VBUF_MAX (128 * 1024)

/* ---- per-test fixture -------------------------------------------------- */
struct fix {
	char dir[64];
	struct lsm_options opt;
	lsm_db *db;
};

static struct fix *fix_open(const char *tag, int no_background)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	model_tmpdir(f->dir, sizeof(f->dir), tag);
	small_options(&f->opt);
	f->opt.no_background = no_background;
	CHECK_RC(lsm_open(f->dir, &f->opt, &f->db));
	return f;
}

static void fix_reopen(struct fix *f)
{
	CHECK_RC(lsm_close(f->db));
	f->db = NULL;
	CHECK_RC(lsm_open(f->dir, &f->opt, &f->db));
}

static void fix_close(struct fix *f)
{
	if (f->db)
		CHECK_RC(lsm_close(f->db));
	model_rmrf(f->dir);
	free(f);
}

static void put_s(lsm_db *db, const char *k, const char *v)
{
	CHECK_RC(lsm_put(db, k, strlen(k), v, strlen(v), 0));
}

/* The store holds key k with value v (NULL: holds no such key). */
static void expect_s(lsm_db *db, const lsm_snapshot *snap, const char *k,
		     const char *v)
{
	void *got = NULL;
	size_t glen = 0;
	int rc = lsm_get(db, snap, k, strlen(k), &got, &glen);

	if (!v) {
		CHECK(rc == LSM_ENOTFOUND, "get %s: want ENOTFOUND, got %s", k,
		      lsm_strerror(rc));
		return;
	}
	CHECK(rc == LSM_OK, "get %s: %s (%s)", k, lsm_strerror(rc),
	      lsm_last_error());
	CHECK(glen == strlen(v) && (!glen || !memcmp(got, v, glen)),
	      "get %s: want '%s', got %zu bytes '%.*s'", k, v, glen, (int)glen,
	      glen ? (char *)got : "");
	free(got);
}

static void check_model(lsm_db *db, const lsm_snapshot *snap,
			const struct model *m, const char *when)
{
	char why[WHY_LEN];

	CHECK(model_check_db(db, snap, m, why, sizeof(why)) == 0, "%s: %s",
	      when, why);
}

/* A full backward iteration of the store must be m in reverse. */
static void check_model_reverse(lsm_db *db, const lsm_snapshot *snap,
				const struct model *m, const char *when)
{
	lsm_iter *it = NULL;
	size_t i = m->n;
	char a[256], b[256];

	CHECK_RC(lsm_iter_open(db, snap, &it));
	for (lsm_iter_last(it); lsm_iter_valid(it); lsm_iter_prev(it)) {
		size_t klen, vlen;
		const void *k = lsm_iter_key(it, &klen);
		const void *v = lsm_iter_value(it, &vlen);
		CHECK(i > 0, "%s: reverse iteration has extra key '%s'", when,
		      model_show(a, sizeof(a), k, klen));
		i--;
		CHECK(!model_kcmp(k, klen, m->e[i].key, m->e[i].klen),
		      "%s: reverse iteration at '%s', want '%s'", when,
		      model_show(a, sizeof(a), k, klen),
		      model_show(b, sizeof(b), m->e[i].key, m->e[i].klen));
		CHECK(vlen == m->e[i].vlen && (!vlen || !memcmp(v, m->e[i].val, vlen)),
		      "%s: reverse iteration: wrong value at '%s'", when,
		      model_show(a, sizeof(a), k, klen));
	}
	CHECK(i == 0, "%s: reverse iteration stopped with %zu keys left", when, i);
	CHECK_RC(lsm_iter_status(it));
	lsm_iter_close(it);
}

/* ======================================================================
 * basic
 */
static void test_basic(void **state)
{
	struct fix *f = fix_open("lsmdb_basic", 0);
	lsm_db *db = f->db;
	void *v = NULL;
	size_t vlen = 99;
	(void)state;

	expect_s(db, NULL, "nothing", NULL);
	put_s(db, "a", "1");
	put_s(db, "b", "2");
	expect_s(db, NULL, "a", "1");
	expect_s(db, NULL, "b", "2");
	put_s(db, "a", "one");
	expect_s(db, NULL, "a", "one");
	CHECK_RC(lsm_delete(db, "a", 1, 0));
	expect_s(db, NULL, "a", NULL);
	/* deleting a missing key is fine */
	CHECK_RC(lsm_delete(db, "zz", 2, 0));
	expect_s(db, NULL, "zz", NULL);
	/* prefix keys are distinct keys */
	put_s(db, "ab", "x");
	expect_s(db, NULL, "a", NULL);
	expect_s(db, NULL, "ab", "x");

	/* empty value: present, zero length */
	CHECK_RC(lsm_put(db, "empty", 5, "", 0, 0));
	CHECK_RC(lsm_get(db, NULL, "empty", 5, &v, &vlen));
	CHECK(vlen == 0, "empty value came back with %zu bytes", vlen);
	free(v);
	v = NULL;

	/* 4 KiB key, 1 MiB value; and the largest key */
	size_t bklen = 4096, bvlen = 1024 * 1024;
	uint8_t *bk = malloc(LSM_MAX_KEY + 1), *bv = malloc(bvlen);
	assert_non_null(bk);
	assert_non_null(bv);
	memset(bk, 'K', LSM_MAX_KEY + 1);
	val_of(7, bv, bvlen);
	CHECK_RC(lsm_put(db, bk, bklen, bv, bvlen, 0));
	CHECK_RC(lsm_put(db, bk, LSM_MAX_KEY, "max", 3, 0));
	for (int round = 0; round < 3; round++) {
		CHECK_RC(lsm_get(db, NULL, bk, bklen, &v, &vlen));
		CHECK(vlen == bvlen && !memcmp(v, bv, bvlen),
		      "1 MiB value wrong in round %d (%zu bytes)", round, vlen);
		free(v);
		v = NULL;
		CHECK_RC(lsm_get(db, NULL, bk, LSM_MAX_KEY, &v, &vlen));
		CHECK(vlen == 3 && !memcmp(v, "max", 3),
		      "max key value wrong in round %d", round);
		free(v);
		v = NULL;
		expect_s(db, NULL, "b", "2");
		expect_s(db, NULL, "empty", "");
		expect_s(db, NULL, "a", NULL);
		if (round == 0)
			CHECK_RC(lsm_flush(db));
		if (round == 1) {
			fix_reopen(f);
			db = f->db;
		}
	}

	/* bad arguments */
	int rc = lsm_put(db, "x", 0, "v", 1, 0);
	CHECK(rc == LSM_EINVAL, "put klen 0: %s", lsm_strerror(rc));
	rc = lsm_put(db, NULL, 0, "v", 1, 0);
	CHECK(rc == LSM_EINVAL, "put NULL key: %s", lsm_strerror(rc));
	rc = lsm_put(db, bk, LSM_MAX_KEY + 1, "v", 1, 0);
	CHECK(rc == LSM_EINVAL, "put key too long: %s", lsm_strerror(rc));
	rc = lsm_delete(db, "x", 0, 0);
	CHECK(rc == LSM_EINVAL, "delete klen 0: %s", lsm_strerror(rc));
	rc = lsm_delete(db, bk, LSM_MAX_KEY + 1, 0);
	CHECK(rc == LSM_EINVAL, "delete key too long: %s", lsm_strerror(rc));
	rc = lsm_get(db, NULL, "x", 0, &v, &vlen);
	CHECK(rc == LSM_EINVAL, "get klen 0: %s", lsm_strerror(rc));
	rc = lsm_get(db, NULL, bk, LSM_MAX_KEY + 1, &v, &vlen);
	CHECK(rc == LSM_EINVAL, "get key too long: %s", lsm_strerror(rc));
	/* a value over the limit: the buffer is never touched past vlen
	 * checks, but give it real memory anyway */
	uint8_t *huge = malloc((size_t)LSM_MAX_VALUE + 1);
	assert_non_null(huge);
	rc = lsm_put(db, "h", 1, huge, (size_t)LSM_MAX_VALUE + 1, 0);
	CHECK(rc == LSM_EINVAL, "put value too long: %s", lsm_strerror(rc));
	free(huge);
	lsm_batch *b = NULL;
	CHECK_RC(lsm_batch_create(&b));
	rc = lsm_batch_put(b, "x", 0, "v", 1);
	CHECK(rc == LSM_EINVAL, "batch_put klen 0: %s", lsm_strerror(rc));
	rc = lsm_batch_delete(b, bk, LSM_MAX_KEY + 1);
	CHECK(rc == LSM_EINVAL, "batch_delete key too long: %s", lsm_strerror(rc));
	CHECK(lsm_batch_count(b) == 0, "rejected ops were counted: %u",
	      lsm_batch_count(b));
	lsm_batch_destroy(b);
	expect_s(db, NULL, "x", NULL);
	expect_s(db, NULL, "h", NULL);

	/* every code has a name */
	for (int c = LSM_EEXIST; c <= 0; c++)
		CHECK(lsm_strerror(c) && *lsm_strerror(c), "no name for %d", c);

	free(bk);
	free(bv);
	fix_close(f);
}

/* ======================================================================
 * batches
 */
struct batch_reader {
	lsm_db *db;
	atomic_int stop;
	atomic_int bad;
	char why[WHY_LEN];
	long scans;
};

#define BATCH_KEYS 20

/* Every scan must see all BATCH_KEYS keys carrying one and the same
 * generation: a batch is applied all at once. */
static void *batch_reader_main(void *arg)
{
	struct batch_reader *br = arg;

	while (!atomic_load(&br->stop) && !atomic_load(&br->bad)) {
		lsm_iter *it = NULL;
		char first[64] = "";
		size_t firstlen = 0;
		int n = 0, rc;

		if ((rc = lsm_iter_open(br->db, NULL, &it))) {
			snprintf(br->why, sizeof(br->why), "iter_open: %s",
				 lsm_strerror(rc));
			atomic_store(&br->bad, 1);
			break;
		}
		for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
			size_t vlen;
			const char *v = lsm_iter_value(it, &vlen);
			size_t cl = vlen < sizeof(first) - 1 ? vlen : sizeof(first) - 1;
			if (n == 0) {
				memcpy(first, v, cl);
				first[cl] = 0;
				firstlen = vlen;
			} else if (firstlen != vlen || memcmp(first, v, cl)) {
				snprintf(br->why, sizeof(br->why),
					 "torn batch: key %d has '%.*s' (%zu bytes), key 0 '%s' (%zu bytes)",
					 n, (int)cl, v, vlen, first, firstlen);
				atomic_store(&br->bad, 1);
			}
			n++;
		}
		if (!atomic_load(&br->bad) && n != 0 && n != BATCH_KEYS) {
			snprintf(br->why, sizeof(br->why),
				 "torn batch: scan saw %d keys", n);
			atomic_store(&br->bad, 1);
		}
		lsm_iter_close(it);
		br->scans++;
	}
	return NULL;
}

static void test_batch(void **state)
{
	struct fix *f = fix_open("lsmdb_batch", 0);
	lsm_db *db = f->db;
	lsm_batch *b = NULL;
	(void)state;

	CHECK_RC(lsm_batch_create(&b));
	/* put then delete of one key: deleted; delete then put: present;
	 * two puts: the second wins */
	CHECK_RC(lsm_batch_put(b, "pd", 2, "v", 1));
	CHECK_RC(lsm_batch_delete(b, "pd", 2));
	CHECK_RC(lsm_batch_delete(b, "dp", 2));
	CHECK_RC(lsm_batch_put(b, "dp", 2, "v", 1));
	CHECK_RC(lsm_batch_put(b, "pp", 2, "first", 5));
	CHECK_RC(lsm_batch_put(b, "pp", 2, "second", 6));
	CHECK(lsm_batch_count(b) == 6, "count %u", lsm_batch_count(b));
	CHECK_RC(lsm_write(db, b, 0));
	expect_s(db, NULL, "pd", NULL);
	expect_s(db, NULL, "dp", "v");
	expect_s(db, NULL, "pp", "second");
	/* the batch is left as it was: writing it again is the same */
	CHECK(lsm_batch_count(b) == 6, "write changed the batch: %u",
	      lsm_batch_count(b));
	put_s(db, "pd", "again");
	CHECK_RC(lsm_write(db, b, LSM_SYNC));
	expect_s(db, NULL, "pd", NULL);

	/* reuse after clear: only the new ops apply */
	lsm_batch_clear(b);
	CHECK(lsm_batch_count(b) == 0, "clear left %u", lsm_batch_count(b));
	CHECK_RC(lsm_batch_put(b, "new", 3, "n", 1));
	CHECK_RC(lsm_batch_delete(b, "dp", 2));
	CHECK_RC(lsm_write(db, b, 0));
	expect_s(db, NULL, "new", "n");
	expect_s(db, NULL, "dp", NULL);
	expect_s(db, NULL, "pp", "second");
	expect_s(db, NULL, "pd", NULL);

	/* an empty batch changes nothing */
	lsm_batch_clear(b);
	int rc = lsm_write(db, b, 0);
	CHECK(rc == LSM_OK || rc == LSM_EINVAL, "empty batch: %s",
	      lsm_strerror(rc));

	/* order survives flush and reopen */
	CHECK_RC(lsm_flush(db));
	fix_reopen(f);
	db = f->db;
	expect_s(db, NULL, "new", "n");
	expect_s(db, NULL, "dp", NULL);
	expect_s(db, NULL, "pp", "second");
	expect_s(db, NULL, "pd", NULL);

	/* clean slate, then atomicity under a concurrent reader */
	lsm_batch_clear(b);
	CHECK_RC(lsm_batch_delete(b, "new", 3));
	CHECK_RC(lsm_batch_delete(b, "pp", 2));
	CHECK_RC(lsm_write(db, b, 0));
	struct batch_reader br = {.db = db};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, batch_reader_main, &br), 0);
	char k[32], v[600];
	int gens = 1500;
	for (int g = 0; g < gens && !atomic_load(&br.bad); g++) {
		lsm_batch_clear(b);
		/* "gen<g>" padded to 400 bytes, so that batches fill
		 * memtables quickly and every flush splits some of them */
		int vl = snprintf(v, sizeof(v), "gen%d", g);
		memset(v + vl, '.', 400 - (size_t)vl);
		for (int i = 0; i < BATCH_KEYS; i++) {
			int kl = snprintf(k, sizeof(k), "atom%02d", i);
			CHECK_RC(lsm_batch_put(b, k, (size_t)kl, v, 400));
		}
		CHECK_RC(lsm_write(db, b, 0));
	}
	atomic_store(&br.stop, 1);
	pthread_join(th, NULL);
	CHECK(!atomic_load(&br.bad), "%s", br.why);
	print_message("batch: reader made %ld scans\n", br.scans);
	int wl = snprintf(v, sizeof(v), "gen%d", gens - 1);
	memset(v + wl, '.', 400 - (size_t)wl);
	v[400] = 0;
	expect_s(db, NULL, "atom00", v);
	expect_s(db, NULL, "atom19", v);
	struct lsm_stats st;
	CHECK_RC(lsm_stats_get(db, &st));
	CHECK(st.writes >= (uint64_t)gens, "stats.writes %llu < %d",
	      (unsigned long long)st.writes, gens);

	lsm_batch_destroy(b);
	fix_close(f);
}

/* ======================================================================
 * reopen
 */
static void test_reopen(void **state)
{
	struct fix *f = fix_open("lsmdb_reopen", 0);
	struct model m = {0};
	uint8_t k[KEY_MAX], v[256];
	lsm_db *db2 = NULL;
	(void)state;

	/* only in the log */
	for (uint64_t i = 0; i < 100; i++) {
		size_t kl = key_of(i, k);
		val_of(i, v, 50);
		CHECK_RC(lsm_put(f->db, k, kl, v, 50, 0));
		model_put(&m, k, kl, v, 50);
	}
	fix_reopen(f);
	check_model(f->db, NULL, &m, "after reopen (log only)");

	/* a second open of the same directory is refused */
	int rc = lsm_open(f->dir, &f->opt, &db2);
	CHECK(rc == LSM_EBUSY, "second open: want EBUSY, got %s", lsm_strerror(rc));
	CHECK(db2 == NULL, "second open returned a handle");

	/* tables and log together, with deletions on both sides */
	for (uint64_t i = 0; i < 3000; i++) {
		size_t kl = key_of(i % 700, k);
		val_of(i + 1000, v, 100);
		if (i % 5 == 3) {
			CHECK_RC(lsm_delete(f->db, k, kl, 0));
			model_del(&m, k, kl);
		} else {
			CHECK_RC(lsm_put(f->db, k, kl, v, 100, 0));
			model_put(&m, k, kl, v, 100);
		}
		if (i == 2000)
			CHECK_RC(lsm_flush(f->db));
	}
	check_model(f->db, NULL, &m, "before reopen (tables + log)");
	fix_reopen(f);
	check_model(f->db, NULL, &m, "after reopen (tables + log)");
	check_model_reverse(f->db, NULL, &m, "after reopen (tables + log)");
	/* twice: replaying must not lose or duplicate anything */
	fix_reopen(f);
	check_model(f->db, NULL, &m, "after second reopen");
	put_s(f->db, "after", "reopen");
	model_put(&m, "after", 5, "reopen", 6);
	fix_reopen(f);
	check_model(f->db, NULL, &m, "after third reopen");

	/* open flags */
	CHECK_RC(lsm_close(f->db));
	f->db = NULL;
	struct lsm_options o = f->opt;
	o.error_if_exists = 1;
	rc = lsm_open(f->dir, &o, &db2);
	CHECK(rc == LSM_EEXIST, "error_if_exists: %s", lsm_strerror(rc));
	char empty[64];
	model_tmpdir(empty, sizeof(empty), "lsmdb_empty");
	o = f->opt;
	o.create_if_missing = 0;
	rc = lsm_open(empty, &o, &db2);
	CHECK(rc == LSM_ENOTFOUND, "create_if_missing=0 on empty dir: %s",
	      lsm_strerror(rc));
	model_rmrf(empty);
	CHECK_RC(lsm_open(f->dir, &o, &f->db));
	check_model(f->db, NULL, &m, "after reopen without create");
	model_free(&m);
	fix_close(f);
}

/* A log that holds several write buffers' worth (written with a big
 * buffer, replayed with a small one) becomes several tables during
 * recovery; they overlap each other, and the newer must win. */
static void test_recover_big_log(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct model m = {0};
	uint8_t k[KEY_MAX], v[256];
	uint64_t gen = 0;
	(void)state;

	assert_non_null(f);
	model_tmpdir(f->dir, sizeof(f->dir), "lsmdb_biglog");
	small_options(&f->opt);
	f->opt.write_buffer_size = 8 * 1024 * 1024;
	CHECK_RC(lsm_open(f->dir, &f->opt, &f->db));
	for (int pass = 0; pass < 3; pass++) {
		for (uint64_t i = 0; i < 500; i++) {
			size_t kl = key_of(i, k);
			val_of(++gen, v, 200);
			CHECK_RC(lsm_put(f->db, k, kl, v, 200, 0));
			model_put(&m, k, kl, v, 200);
		}
	}
	CHECK_RC(lsm_close(f->db));
	f->db = NULL;
	small_options(&f->opt); /* a 64 KiB buffer for the replay */
	CHECK_RC(lsm_open(f->dir, &f->opt, &f->db));
	check_model(f->db, NULL, &m, "after replaying a 300 KB log");
	fix_reopen(f);
	check_model(f->db, NULL, &m, "after a second reopen");
	CHECK_RC(lsm_compact_range(f->db, NULL, 0, NULL, 0));
	check_model(f->db, NULL, &m, "after compacting");
	model_free(&m);
	fix_close(f);
}

/* ======================================================================
 * randomized model test
 */
#define RT_KEYS 2000
#define RT_SNAPS 4

struct rt_snap {
	lsm_snapshot *snap;
	struct model m;
	uint64_t op; /* when it was taken */
};

struct rt {
	struct fix *f;
	struct model m;
	struct model_rng r;
	uint64_t gen, op;
	struct rt_snap snaps[RT_SNAPS];
	int nsnaps;
	uint8_t *vbuf;
	lsm_batch *b;
	uint64_t flushes, compactions; /* summed over reopenings */
	uint64_t walks, snapshots, reopens;
};

static size_t rt_key(struct rt *t, uint8_t *k)
{
	return key_of(model_below(&t->r, RT_KEYS), k);
}

/* A seek target: a key of the space, or one just around it. */
static size_t rt_seek_key(struct rt *t, uint8_t *k)
{
	size_t kl = rt_key(t, k);

	switch (model_below(&t->r, 4)) {
	case 0:
		k[kl++] = 0; /* just after */
		break;
	case 1:
		if (kl > 1)
			kl--; /* a prefix: just before */
		break;
	default:
		break;
	}
	return kl;
}

/* Random walk of an iterator from a random start, comparing each step
 * with the model, changing direction now and then. */
static void rt_walk(struct rt *t, const lsm_snapshot *snap,
		    const struct model *m)
{
	lsm_iter *it = NULL;
	uint8_t k[KEY_MAX + 1];
	long idx, n = (long)m->n;
	int dir = 1;
	char a[256], b[256];

	CHECK_RC(lsm_iter_open(t->f->db, snap, &it));
	switch (model_below(&t->r, 10)) {
	case 0:
		lsm_iter_first(it);
		idx = 0;
		break;
	case 1:
		lsm_iter_last(it);
		idx = n - 1;
		dir = -1;
		break;
	default: {
		size_t kl = rt_seek_key(t, k);
		lsm_iter_seek(it, k, kl);
		idx = (long)model_lower(m, k, kl);
		if (model_below(&t->r, 2))
			dir = -1;
	}
	}
	int steps = 1 + (int)model_below(&t->r, 40);
	for (int s = 0;; s++) {
		if (idx < 0 || idx >= n) {
			CHECK(!lsm_iter_valid(it),
			      "op %llu walk step %d: iterator valid past the end (idx %ld of %ld)",
			      (unsigned long long)t->op, s, idx, n);
			break;
		}
		CHECK(lsm_iter_valid(it),
		      "op %llu walk step %d: iterator invalid, want '%s'",
		      (unsigned long long)t->op, s,
		      model_show(a, sizeof(a), m->e[idx].key, m->e[idx].klen));
		size_t klen, vlen;
		const void *ik = lsm_iter_key(it, &klen);
		const void *iv = lsm_iter_value(it, &vlen);
		CHECK(!model_kcmp(ik, klen, m->e[idx].key, m->e[idx].klen),
		      "op %llu walk step %d (dir %d): key '%s', want '%s'",
		      (unsigned long long)t->op, s, dir,
		      model_show(a, sizeof(a), ik, klen),
		      model_show(b, sizeof(b), m->e[idx].key, m->e[idx].klen));
		CHECK(vlen == m->e[idx].vlen &&
			      (!vlen || !memcmp(iv, m->e[idx].val, vlen)),
		      "op %llu walk step %d: wrong value at '%s' (%zu bytes, want %zu)",
		      (unsigned long long)t->op, s,
		      model_show(a, sizeof(a), ik, klen), vlen, m->e[idx].vlen);
		if (s == steps)
			break;
		if (model_below(&t->r, 10) < 2)
			dir = -dir;
		if (dir > 0)
			lsm_iter_next(it);
		else
			lsm_iter_prev(it);
		idx += dir;
	}
	CHECK_RC(lsm_iter_status(it));
	lsm_iter_close(it);
	t->walks++;
}

static void rt_get(struct rt *t, const lsm_snapshot *snap,
		   const struct model *m)
{
	uint8_t k[KEY_MAX];
	size_t kl = rt_key(t, k);
	struct model_ent *e = model_find(m, k, kl);
	void *v = NULL;
	size_t vlen = 0;
	char a[256], b[256];
	int rc = lsm_get(t->f->db, snap, k, kl, &v, &vlen);

	if (!e) {
		CHECK(rc == LSM_ENOTFOUND,
		      "op %llu: get '%s' (snapshot %p): want ENOTFOUND, got %s",
		      (unsigned long long)t->op, model_show(a, sizeof(a), k, kl),
		      (void *)snap, lsm_strerror(rc));
	} else {
		CHECK(rc == LSM_OK, "op %llu: get '%s' (snapshot %p): %s (%s)",
		      (unsigned long long)t->op, model_show(a, sizeof(a), k, kl),
		      (void *)snap, lsm_strerror(rc), lsm_last_error());
		CHECK(vlen == e->vlen && (!vlen || !memcmp(v, e->val, vlen)),
		      "op %llu: get '%s' (snapshot %p): wrong value '%s' (%zu bytes, want %zu)",
		      (unsigned long long)t->op, model_show(a, sizeof(a), k, kl),
		      (void *)snap, model_show(b, sizeof(b), v, vlen), vlen, e->vlen);
	}
	free(v);
}

static int rt_flags(struct rt *t)
{
	return model_below(&t->r, 200) == 0 ? LSM_SYNC : 0;
}

static void rt_put(struct rt *t)
{
	uint8_t k[KEY_MAX];
	size_t kl = rt_key(t, k), vl = rand_vlen(&t->r);

	val_of(++t->gen, t->vbuf, vl);
	CHECK_RC(lsm_put(t->f->db, k, kl, t->vbuf, vl, rt_flags(t)));
	model_put(&t->m, k, kl, t->vbuf, vl);
}

static void rt_delete(struct rt *t)
{
	uint8_t k[KEY_MAX];
	size_t kl = rt_key(t, k);

	CHECK_RC(lsm_delete(t->f->db, k, kl, rt_flags(t)));
	model_del(&t->m, k, kl);
}

static void rt_batch(struct rt *t)
{
	int n = 1 + (int)model_below(&t->r, 16);
	uint8_t k[KEY_MAX];

	/* The model changes before the write: a failed write fails the
	 * test anyway. */
	lsm_batch_clear(t->b);
	for (int i = 0; i < n; i++) {
		size_t kl = rt_key(t, k);
		if (model_below(&t->r, 3) == 0) {
			CHECK_RC(lsm_batch_delete(t->b, k, kl));
			model_del(&t->m, k, kl);
		} else {
			size_t vl = model_below(&t->r, 200);
			val_of(++t->gen, t->vbuf, vl);
			CHECK_RC(lsm_batch_put(t->b, k, kl, t->vbuf, vl));
			model_put(&t->m, k, kl, t->vbuf, vl);
		}
	}
	CHECK(lsm_batch_count(t->b) == (uint32_t)n, "batch count %u want %d",
	      lsm_batch_count(t->b), n);
	CHECK_RC(lsm_write(t->f->db, t->b, rt_flags(t)));
}

static void rt_snap_check_all(struct rt *t, struct rt_snap *s)
{
	char when[96];

	snprintf(when, sizeof(when), "op %llu: snapshot taken at op %llu",
		 (unsigned long long)t->op, (unsigned long long)s->op);
	check_model(t->f->db, s->snap, &s->m, when);
}

static void rt_snap_take(struct rt *t)
{
	struct rt_snap *s;

	if (t->nsnaps == RT_SNAPS)
		return;
	s = &t->snaps[t->nsnaps++];
	CHECK_RC(lsm_snapshot_get(t->f->db, &s->snap));
	model_clone(&s->m, &t->m);
	s->op = t->op;
	t->snapshots++;
}

static void rt_snap_release(struct rt *t, int i, bool check)
{
	struct rt_snap *s = &t->snaps[i];

	if (check)
		rt_snap_check_all(t, s);
	lsm_snapshot_release(t->f->db, s->snap);
	model_free(&s->m);
	t->snaps[i] = t->snaps[--t->nsnaps];
	memset(&t->snaps[t->nsnaps], 0, sizeof(t->snaps[0]));
}

static void rt_add_stats(struct rt *t)
{
	struct lsm_stats st;

	CHECK_RC(lsm_stats_get(t->f->db, &st));
	t->flushes += st.flushes;
	t->compactions += st.compactions;
}

static void rt_reopen(struct rt *t)
{
	char when[64];

	while (t->nsnaps)
		rt_snap_release(t, 0, true);
	snprintf(when, sizeof(when), "op %llu: before reopen",
		 (unsigned long long)t->op);
	check_model(t->f->db, NULL, &t->m, when);
	rt_add_stats(t);
	fix_reopen(t->f);
	snprintf(when, sizeof(when), "op %llu: after reopen",
		 (unsigned long long)t->op);
	check_model(t->f->db, NULL, &t->m, when);
	t->reopens++;
}

static void rt_compact(struct rt *t)
{
	uint8_t s[KEY_MAX], e[KEY_MAX];
	size_t sl = rt_key(t, s), el = rt_key(t, e);

	switch (model_below(&t->r, 4)) {
	case 0:
		CHECK_RC(lsm_compact_range(t->f->db, NULL, 0, NULL, 0));
		break;
	case 1:
		CHECK_RC(lsm_compact_range(t->f->db, s, sl, NULL, 0));
		break;
	default:
		if (model_kcmp(s, sl, e, el) > 0)
			CHECK_RC(lsm_compact_range(t->f->db, e, el, s, sl));
		else
			CHECK_RC(lsm_compact_range(t->f->db, s, sl, e, el));
	}
}

static void test_random_model(void **state)
{
	struct rt t = {0};
	uint64_t ops = model_env_u64("LSM_OPS", 200000);
	uint64_t reopen_every = ops / 6 > 1000 ? ops / 6 : 1000;
	(void)state;

	print_message("random model: seed=%llu ops=%llu (LSM_SEED, LSM_OPS)\n",
		      (unsigned long long)g_seed, (unsigned long long)ops);
	model_rng_seed(&t.r, g_seed);
	t.f = fix_open("lsmdb_random", 0);
	t.vbuf = malloc(VBUF_MAX);
	assert_non_null(t.vbuf);
	CHECK_RC(lsm_batch_create(&t.b));

	for (t.op = 1; t.op <= ops; t.op++) {
		uint64_t p = model_below(&t.r, 1000);
		if (p < 380)
			rt_put(&t);
		else if (p < 520)
			rt_delete(&t);
		else if (p < 760)
			rt_get(&t, NULL, &t.m);
		else if (p < 860)
			rt_batch(&t);
		else if (p < 900)
			rt_walk(&t, NULL, &t.m);
		else if (p < 930) {
			if (t.nsnaps) {
				struct rt_snap *s = &t.snaps[model_below(&t.r, (uint64_t)t.nsnaps)];
				if (model_below(&t.r, 2))
					rt_walk(&t, s->snap, &s->m);
				else
					rt_get(&t, s->snap, &s->m);
			}
		} else if (p < 932)
			rt_snap_take(&t);
		else if (p < 934) {
			if (t.nsnaps)
				rt_snap_release(&t, (int)model_below(&t.r, (uint64_t)t.nsnaps),
						model_below(&t.r, 4) == 0);
		} else if (p < 935) {
			if (model_below(&t.r, 2))
				CHECK_RC(lsm_flush(t.f->db));
			else
				rt_compact(&t);
		} else if (p < 936)
			CHECK_RC(lsm_sync(t.f->db));
		else
			rt_put(&t);
		if (t.op % reopen_every == 0)
			rt_reopen(&t);
	}
	while (t.nsnaps)
		rt_snap_release(&t, 0, true);
	check_model(t.f->db, NULL, &t.m, "at the end");
	check_model_reverse(t.f->db, NULL, &t.m, "at the end");
	rt_add_stats(&t);
	print_message("random model: %zu keys, %llu walks, %llu snapshots, %llu reopens, %llu flushes, %llu compactions\n",
		      t.m.n, (unsigned long long)t.walks,
		      (unsigned long long)t.snapshots, (unsigned long long)t.reopens,
		      (unsigned long long)t.flushes,
		      (unsigned long long)t.compactions);
	CHECK(t.flushes > 0, "no flushes happened");
	CHECK(t.compactions > 0, "no compactions happened");
	lsm_batch_destroy(t.b);
	free(t.vbuf);
	model_free(&t.m);
	fix_close(t.f);
}

/* ======================================================================
 * snapshots across flushes and compactions
 */
#define SN_KEYS 500
#define SN_ROUNDS 12

static void test_snapshots(void **state)
{
	struct fix *f = fix_open("lsmdb_snap", 0);
	struct model m = {0}, sm[SN_ROUNDS] = {{0}};
	lsm_snapshot *snaps[SN_ROUNDS] = {0};
	struct model_rng r;
	uint8_t k[KEY_MAX], *v = malloc(VBUF_MAX);
	uint64_t gen = 0;
	char when[64];
	(void)state;

	assert_non_null(v);
	model_rng_seed(&r, g_seed + 1);
	for (int round = 0; round < SN_ROUNDS; round++) {
		for (int i = 0; i < 3000; i++) {
			size_t kl = key_of(model_below(&r, SN_KEYS), k);
			if (model_below(&r, 4) == 0) {
				CHECK_RC(lsm_delete(f->db, k, kl, 0));
				model_del(&m, k, kl);
			} else {
				size_t vl = model_below(&r, 120);
				val_of(++gen, v, vl);
				CHECK_RC(lsm_put(f->db, k, kl, v, vl, 0));
				model_put(&m, k, kl, v, vl);
			}
		}
		CHECK_RC(lsm_snapshot_get(f->db, &snaps[round]));
		model_clone(&sm[round], &m);
		switch (round % 4) {
		case 0:
			CHECK_RC(lsm_compact_range(f->db, NULL, 0, NULL, 0));
			break;
		case 1:
			CHECK_RC(lsm_flush(f->db));
			break;
		case 2: {
			uint8_t e[KEY_MAX];
			size_t sl = key_of(100, k), el = key_of(300, e);
			CHECK_RC(lsm_compact_range(f->db, k, sl, e, el));
			break;
		}
		default:
			break; /* background compaction only */
		}
		/* an older snapshot, checked while things move */
		int old = (int)model_below(&r, (uint64_t)round + 1);
		snprintf(when, sizeof(when), "round %d: snapshot %d", round, old);
		check_model(f->db, snaps[old], &sm[old], when);
	}
	/* all of them, then again after compacting everything with the
	 * snapshots still held */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < SN_ROUNDS; i++) {
			snprintf(when, sizeof(when), "pass %d: snapshot %d", pass, i);
			check_model(f->db, snaps[i], &sm[i], when);
			check_model_reverse(f->db, snaps[i], &sm[i], when);
		}
		check_model(f->db, NULL, &m, "latest");
		CHECK_RC(lsm_compact_range(f->db, NULL, 0, NULL, 0));
	}
	/* a snapshot ignores writes made after it */
	put_s(f->db, "zz-after", "x");
	expect_s(f->db, snaps[SN_ROUNDS - 1], "zz-after", NULL);
	expect_s(f->db, NULL, "zz-after", "x");
	model_put(&m, "zz-after", 8, "x", 1);
	for (int i = 0; i < SN_ROUNDS; i++) {
		lsm_snapshot_release(f->db, snaps[i]);
		model_free(&sm[i]);
	}
	CHECK_RC(lsm_compact_range(f->db, NULL, 0, NULL, 0));
	check_model(f->db, NULL, &m, "after releasing the snapshots");
	model_free(&m);
	free(v);
	fix_close(f);
}

/* ======================================================================
 * threads: 4 writers on disjoint key ranges, 2 readers
 */
#define TH_WRITERS 4
#define TH_READERS 2
#define TH_KEYS 400

struct th_shared {
	lsm_db *db;
	atomic_int writers_left;
	atomic_int bad;
	pthread_mutex_t mu; /* guards why */
	char why[WHY_LEN];
	uint64_t ops;
};

struct th_arg {
	struct th_shared *sh;
	int id;
	uint64_t seed;
	struct model m;
	long scans, gets;
};

static void th_fail(struct th_shared *sh, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void th_fail(struct th_shared *sh, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&sh->mu);
	if (!atomic_load(&sh->bad)) {
		va_start(ap, fmt);
		vsnprintf(sh->why, sizeof(sh->why), fmt, ap);
		va_end(ap);
		atomic_store(&sh->bad, 1);
	}
	pthread_mutex_unlock(&sh->mu);
}

/* "w<id>-<i>" */
static size_t th_key(int id, uint64_t i, char *k)
{
	return (size_t)snprintf(k, 32, "w%d-%llu", id, (unsigned long long)i);
}

/* A well-formed value: key, '=', generation, then padding. */
static size_t th_val(const char *k, size_t kl, uint64_t gen, size_t pad,
		     char *v)
{
	size_t n = kl;

	memcpy(v, k, kl);
	n += (size_t)sprintf(v + n, "=%llu|", (unsigned long long)gen);
	memset(v + n, 'p', pad);
	return n + pad;
}

static bool th_val_ok(const void *k, size_t kl, const void *v, size_t vl)
{
	return vl > kl && !memcmp(k, v, kl) && ((const char *)v)[kl] == '=';
}

static void *th_writer(void *arg)
{
	struct th_arg *a = arg;
	struct th_shared *sh = a->sh;
	struct model_rng r;
	lsm_batch *b = NULL;
	char k[32], v[1100];
	uint64_t gen = 0;
	int rc = LSM_OK;

	model_rng_seed(&r, a->seed);
	if ((rc = lsm_batch_create(&b)))
		goto out;
	for (uint64_t op = 0; op < sh->ops && !atomic_load(&sh->bad); op++) {
		uint64_t p = model_below(&r, 100);
		int flags = model_below(&r, 500) == 0 ? LSM_SYNC : 0;
		size_t kl = th_key(a->id, model_below(&r, TH_KEYS), k);
		if (p < 60) {
			size_t vl = th_val(k, kl, ++gen, model_below(&r, 1000), v);
			if ((rc = lsm_put(sh->db, k, kl, v, vl, flags)))
				goto out;
			model_put(&a->m, k, kl, v, vl);
		} else if (p < 80) {
			if ((rc = lsm_delete(sh->db, k, kl, flags)))
				goto out;
			model_del(&a->m, k, kl);
		} else {
			struct model next = {0};
			int n = 1 + (int)model_below(&r, 8);
			model_clone(&next, &a->m);
			lsm_batch_clear(b);
			for (int i = 0; i < n; i++) {
				kl = th_key(a->id, model_below(&r, TH_KEYS), k);
				if (model_below(&r, 4) == 0) {
					rc = lsm_batch_delete(b, k, kl);
					model_del(&next, k, kl);
				} else {
					size_t vl = th_val(k, kl, ++gen,
							   model_below(&r, 300), v);
					rc = lsm_batch_put(b, k, kl, v, vl);
					model_put(&next, k, kl, v, vl);
				}
				if (rc) {
					model_free(&next);
					goto out;
				}
			}
			rc = lsm_write(sh->db, b, flags);
			if (rc) {
				model_free(&next);
				goto out;
			}
			model_free(&a->m);
			a->m = next;
		}
		/* maintenance racing with everything else */
		if (a->id == 0 && op % 2000 == 1999 && (rc = lsm_flush(sh->db)))
			goto out;
		if (a->id == 1 && op % 3000 == 2999 &&
		    (rc = lsm_compact_range(sh->db, NULL, 0, NULL, 0)))
			goto out;
	}
out:
	if (rc)
		th_fail(sh, "writer %d: %s (%s)", a->id, lsm_strerror(rc),
			lsm_last_error());
	lsm_batch_destroy(b);
	atomic_fetch_sub(&sh->writers_left, 1);
	return NULL;
}

/* One full scan (forward or backward, of snap or the latest): keys
 * strictly ordered, values well-formed.  Returns a checksum of what it
 * saw, or 0 after reporting a failure. */
static uint64_t th_scan(struct th_arg *a, const lsm_snapshot *snap,
			bool backward)
{
	struct th_shared *sh = a->sh;
	lsm_iter *it = NULL;
	char prev[64];
	size_t plen = 0;
	uint64_t sum = 1;
	int rc;
	bool first = true;

	if ((rc = lsm_iter_open(sh->db, snap, &it))) {
		th_fail(sh, "reader %d: iter_open: %s", a->id, lsm_strerror(rc));
		return 0;
	}
	if (backward)
		lsm_iter_last(it);
	else
		lsm_iter_first(it);
	for (; lsm_iter_valid(it); backward ? lsm_iter_prev(it) : lsm_iter_next(it)) {
		size_t kl, vl;
		const char *k = lsm_iter_key(it, &kl);
		const char *v = lsm_iter_value(it, &vl);
		char s[256], s2[256];
		if (kl >= sizeof(prev) || !th_val_ok(k, kl, v, vl)) {
			th_fail(sh, "reader %d: malformed entry '%s' = '%s'",
				a->id, model_show(s, sizeof(s), k, kl),
				model_show(s2, sizeof(s2), v, vl));
			break;
		}
		if (!first) {
			int c = model_kcmp(prev, plen, k, kl);
			if (backward ? c <= 0 : c >= 0) {
				th_fail(sh, "reader %d: %s scan out of order: '%.*s' then '%s'",
					a->id, backward ? "backward" : "forward",
					(int)plen, prev, model_show(s, sizeof(s), k, kl));
				break;
			}
		}
		first = false;
		memcpy(prev, k, kl);
		plen = kl;
		for (size_t i = 0; i < kl; i++)
			sum = sum * 131 + (uint8_t)k[i];
		for (size_t i = 0; i < vl; i++)
			sum = sum * 31 + (uint8_t)v[i];
	}
	if ((rc = lsm_iter_status(it)))
		th_fail(sh, "reader %d: iterator status %s", a->id,
			lsm_strerror(rc));
	lsm_iter_close(it);
	return sum;
}

static void *th_reader(void *arg)
{
	struct th_arg *a = arg;
	struct th_shared *sh = a->sh;
	struct model_rng r;
	char k[32];

	model_rng_seed(&r, a->seed);
	while (atomic_load(&sh->writers_left) > 0 && !atomic_load(&sh->bad)) {
		uint64_t p = model_below(&r, 10);
		if (p < 3) {
			th_scan(a, NULL, p == 0);
			a->scans++;
		} else if (p < 4) {
			/* a snapshot reads the same thing every time, in
			 * both directions (same entries, so the same set;
			 * compare the forward sums) */
			lsm_snapshot *s = NULL;
			int rc = lsm_snapshot_get(sh->db, &s);
			if (rc) {
				th_fail(sh, "reader %d: snapshot_get: %s", a->id,
					lsm_strerror(rc));
				break;
			}
			uint64_t s1 = th_scan(a, s, false);
			th_scan(a, s, true);
			uint64_t s2 = th_scan(a, s, false);
			if (s1 != s2)
				th_fail(sh, "reader %d: a snapshot changed between two scans",
					a->id);
			lsm_snapshot_release(sh->db, s);
			a->scans += 3;
		} else {
			for (int i = 0; i < 50; i++) {
				size_t kl = th_key((int)model_below(&r, TH_WRITERS),
						   model_below(&r, TH_KEYS), k);
				void *v = NULL;
				size_t vl = 0;
				int rc = lsm_get(sh->db, NULL, k, kl, &v, &vl);
				if (rc == LSM_OK && !th_val_ok(k, kl, v, vl))
					th_fail(sh, "reader %d: get %s: malformed value",
						a->id, k);
				else if (rc && rc != LSM_ENOTFOUND)
					th_fail(sh, "reader %d: get %s: %s", a->id, k,
						lsm_strerror(rc));
				free(v);
				a->gets++;
			}
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fix *f = fix_open("lsmdb_threads", 0);
	struct th_shared sh = {.db = f->db};
	struct th_arg w[TH_WRITERS], rd[TH_READERS];
	pthread_t wt[TH_WRITERS], rt_[TH_READERS];
	struct model all = {0};
	(void)state;

	pthread_mutex_init(&sh.mu, NULL);
	sh.ops = model_env_u64("LSM_OPS", 200000) / 20;
	if (sh.ops < 100)
		sh.ops = 100;
	atomic_store(&sh.writers_left, TH_WRITERS);
	print_message("threads: seed=%llu, %llu ops per writer\n",
		      (unsigned long long)g_seed, (unsigned long long)sh.ops);
	for (int i = 0; i < TH_WRITERS; i++) {
		w[i] = (struct th_arg){.sh = &sh, .id = i, .seed = g_seed * 31 + (uint64_t)i};
		assert_int_equal(pthread_create(&wt[i], NULL, th_writer, &w[i]), 0);
	}
	for (int i = 0; i < TH_READERS; i++) {
		rd[i] = (struct th_arg){.sh = &sh, .id = i, .seed = g_seed * 37 + (uint64_t)i};
		assert_int_equal(pthread_create(&rt_[i], NULL, th_reader, &rd[i]), 0);
	}
	for (int i = 0; i < TH_WRITERS; i++)
		pthread_join(wt[i], NULL);
	for (int i = 0; i < TH_READERS; i++)
		pthread_join(rt_[i], NULL);
	CHECK(!atomic_load(&sh.bad), "%s", sh.why);
	print_message("threads: readers made %ld + %ld scans, %ld + %ld gets\n",
		      rd[0].scans, rd[1].scans, rd[0].gets, rd[1].gets);

	for (int i = 0; i < TH_WRITERS; i++)
		for (size_t j = 0; j < w[i].m.n; j++)
			model_put(&all, w[i].m.e[j].key, w[i].m.e[j].klen,
				  w[i].m.e[j].val, w[i].m.e[j].vlen);
	check_model(f->db, NULL, &all, "after the threads");
	fix_reopen(f);
	check_model(f->db, NULL, &all, "after the threads and a reopen");
	for (int i = 0; i < TH_WRITERS; i++)
		model_free(&w[i].m);
	model_free(&all);
	pthread_mutex_destroy(&sh.mu);
	fix_close(f);
}

/* ======================================================================
 * stats
 */
static int levels_used(const struct lsm_stats *st, int *files)
{
	int used = 0;

	*files = 0;
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		*files += st->files[l];
		if (st->files[l])
			used++;
		CHECK((st->files[l] > 0) == (st->level_bytes[l] > 0),
		      "level %d: %d files but %llu bytes", l, st->files[l],
		      (unsigned long long)st->level_bytes[l]);
	}
	return used;
}

static void test_stats(void **state)
{
	/* No background compaction: it would move files down again by
	 * score right after compact_range put them in one level. */
	struct fix *f = fix_open("lsmdb_stats", 1);
	struct lsm_stats s0, s1, s2, s3;
	uint8_t k[KEY_MAX], v[512];
	uint64_t user = 0;
	int files;
	(void)state;

	CHECK_RC(lsm_stats_get(f->db, &s0));
	CHECK(s0.writes == 0 && s0.user_bytes == 0, "fresh store has writes");
	for (uint64_t i = 0; i < 4000; i++) {
		size_t kl = key_of(i, k);
		val_of(i, v, 300);
		CHECK_RC(lsm_put(f->db, k, kl, v, 300, 0));
		user += kl + 300;
	}
	CHECK_RC(lsm_stats_get(f->db, &s1));
	CHECK(s1.writes == 4000, "writes %llu", (unsigned long long)s1.writes);
	CHECK(s1.user_bytes == user, "user_bytes %llu want %llu",
	      (unsigned long long)s1.user_bytes, (unsigned long long)user);
	CHECK(s1.wal_bytes >= user, "wal_bytes %llu < user bytes %llu",
	      (unsigned long long)s1.wal_bytes, (unsigned long long)user);
	CHECK(s1.wal_records > 0 && s1.wal_records <= 4000, "wal_records %llu",
	      (unsigned long long)s1.wal_records);
	CHECK(s1.last_seq >= 4000, "last_seq %llu", (unsigned long long)s1.last_seq);
	CHECK(s1.flushes > 0 && s1.flush_bytes > 0,
	      "1.6 MB through a 64 KiB buffer: flushes %llu, flush_bytes %llu",
	      (unsigned long long)s1.flushes, (unsigned long long)s1.flush_bytes);
	/* a memtable holds about write_buffer_size bytes: 1.6 MB makes
	 * some 25 flushes, not one per write */
	CHECK(s1.flushes <= 4 * user / f->opt.write_buffer_size + 2,
	      "%llu flushes for %llu bytes through a %zu-byte write buffer",
	      (unsigned long long)s1.flushes, (unsigned long long)user,
	      f->opt.write_buffer_size);
	CHECK(levels_used(&s1, &files) >= 1 && files > 0, "no files");

	CHECK_RC(lsm_sync(f->db));
	CHECK_RC(lsm_put(f->db, "s", 1, "y", 1, LSM_SYNC));
	CHECK_RC(lsm_flush(f->db));
	CHECK_RC(lsm_stats_get(f->db, &s2));
	CHECK(s2.wal_syncs > s1.wal_syncs, "wal_syncs did not grow: %llu -> %llu",
	      (unsigned long long)s1.wal_syncs, (unsigned long long)s2.wal_syncs);
	CHECK(s2.flushes > s1.flushes && s2.flush_bytes > s1.flush_bytes,
	      "flush did not count");
	CHECK(s2.wal_bytes > s1.wal_bytes, "wal_bytes did not grow");
	CHECK(s2.mem_bytes < 64 * 1024 * 3, "mem_bytes %llu after a flush",
	      (unsigned long long)s2.mem_bytes);
	/* A sync with nothing appended since the last one syncs nothing. */
	CHECK_RC(lsm_put(f->db, "t", 1, "z", 1, 0));
	CHECK_RC(lsm_sync(f->db));
	CHECK_RC(lsm_stats_get(f->db, &s1));
	CHECK_RC(lsm_sync(f->db));
	CHECK_RC(lsm_sync(f->db));
	CHECK_RC(lsm_stats_get(f->db, &s2));
	CHECK(s2.wal_syncs == s1.wal_syncs,
	      "two syncs of a clean log synced it: %llu -> %llu",
	      (unsigned long long)s1.wal_syncs, (unsigned long long)s2.wal_syncs);

	CHECK_RC(lsm_compact_range(f->db, NULL, 0, NULL, 0));
	CHECK_RC(lsm_stats_get(f->db, &s3));
	int used = levels_used(&s3, &files);
	CHECK(used == 1, "after compact_range of everything, %d levels hold files (L0 %d L1 %d L2 %d L3 %d)",
	      used, s3.files[0], s3.files[1], s3.files[2], s3.files[3]);
	CHECK(s3.files[0] == 0, "level 0 still has %d files", s3.files[0]);
	CHECK(s3.compactions > s2.compactions, "compactions did not count");
	CHECK(s3.compact_bytes_read > 0 && s3.compact_bytes_written > 0,
	      "compact bytes %llu read %llu written",
	      (unsigned long long)s3.compact_bytes_read,
	      (unsigned long long)s3.compact_bytes_written);
	uint64_t lb = 0;
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		lb += s3.level_bytes[l];
	/* the values are incompressible-ish bytes: tables hold about as
	 * much as was written */
	CHECK(lb > user / 2, "level bytes %llu for %llu user bytes",
	      (unsigned long long)lb, (unsigned long long)user);
	CHECK(lsm_disk_usage(f->db) >= lb, "disk usage %llu < level bytes %llu",
	      (unsigned long long)lsm_disk_usage(f->db), (unsigned long long)lb);
	CHECK(files >= 2, "%d files for 1.6 MB with 32 KiB tables", files);

	/* reads count in the caches */
	for (uint64_t i = 0; i < 200; i++) {
		void *vv = NULL;
		size_t vl;
		size_t kl = key_of(i * 7, k);
		CHECK_RC(lsm_get(f->db, NULL, k, kl, &vv, &vl));
		free(vv);
	}
	struct lsm_stats s4;
	CHECK_RC(lsm_stats_get(f->db, &s4));
	CHECK(s4.cache_hits + s4.cache_misses > s3.cache_hits + s3.cache_misses,
	      "200 gets from tables did not touch the block cache");
	fix_close(f);
}

/* ======================================================================
 * partition_prefix_len
 */

/* Waits (up to 60 s) until no level needs compaction by the scores of
 * version.c: level 0 under its trigger, each deeper level (but the last)
 * under its size. */
static void wait_compactions(struct fix *f, struct lsm_stats *st)
{
	for (int tries = 0; tries < 6000; tries++) {
		bool busy;
		double max = (double)f->opt.level1_max_bytes;

		CHECK_RC(lsm_stats_get(f->db, st));
		busy = st->files[0] >= f->opt.l0_compact_trigger;
		for (int l = 1; l < LSM_MAX_LEVELS - 1; l++, max *= 10)
			busy = busy || (double)st->level_bytes[l] >= max;
		if (!busy)
			return;
		usleep(10000);
	}
	CHECK(0, "compactions did not settle in 60 s");
}

enum { CHUNKS = 8000, CHUNK_LEN = 1000, INODES = 8 };

static void check_chunks(struct fix *f);

/* A sequential load of 'C' keys (file chunks) interleaved with updates of
 * a few 'I' keys (inodes), as lsmfs writes a file.  Returns the bytes of
 * C data, leaves the store settled and checks what it holds. */
static uint64_t load_chunks(struct fix *f, struct lsm_stats *st)
{
	enum { N = CHUNKS, VLEN = CHUNK_LEN };
	uint8_t k[9], v[VLEN];
	uint64_t cbytes = 0;

	for (uint64_t i = 0; i < N; i++) {
		k[0] = 'C';
		for (int b = 0; b < 8; b++)
			k[1 + b] = (uint8_t)(i >> (56 - 8 * b));
		val_of(i, v, VLEN);
		CHECK_RC(lsm_put(f->db, k, 9, v, VLEN, 0));
		cbytes += 9 + VLEN;
		if (i % 16 == 0) {
			char ik[8], iv[64];
			int n = snprintf(iv, sizeof(iv), "size=%llu",
					 (unsigned long long)i);
			snprintf(ik, sizeof(ik), "I%d", (int)(i / 16 % INODES));
			CHECK_RC(lsm_put(f->db, ik, 2, iv, (size_t)n, 0));
		}
	}
	wait_compactions(f, st);
	check_chunks(f);
	return cbytes;
}

/* Everything load_chunks wrote is there, in order. */
static void check_chunks(struct fix *f)
{
	enum { N = CHUNKS, VLEN = CHUNK_LEN };
	uint8_t v[VLEN];
	lsm_iter *it = NULL;
	uint64_t nc = 0;

	CHECK_RC(lsm_iter_open(f->db, NULL, &it));
	for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *kk = lsm_iter_key(it, &kl);
		const uint8_t *vv = lsm_iter_value(it, &vl);
		if (kk[0] != 'C')
			break;
		uint64_t i = 0;
		for (int b = 0; b < 8; b++)
			i = i << 8 | kk[1 + b];
		CHECK(kl == 9 && i == nc, "chunk %llu where %llu was due",
		      (unsigned long long)i, (unsigned long long)nc);
		val_of(i, v, VLEN);
		CHECK(vl == VLEN && !memcmp(vv, v, VLEN), "chunk %llu: bad value",
		      (unsigned long long)i);
		nc++;
	}
	CHECK(nc == N, "%llu chunks of %d", (unsigned long long)nc, N);
	CHECK_RC(lsm_iter_status(it));
	lsm_iter_close(it);
	for (int i = 0; i < INODES; i++) {
		char ik[8], want[64];
		uint64_t last = (uint64_t)(N - 1) / 16 * 16;
		while (last / 16 % INODES != (uint64_t)i)
			last -= 16;
		snprintf(ik, sizeof(ik), "I%d", i);
		snprintf(want, sizeof(want), "size=%llu",
			 (unsigned long long)last);
		expect_s(f->db, NULL, ik, want);
	}
}

static void test_partition(void **state)
{
	struct fix *f;
	struct lsm_stats st;
	uint64_t cbytes;
	int deep = 0;
	(void)state;

	/* Control: without partitions every flushed table spans C..I, so
	 * overlaps all the others, and compaction rewrites the chunks. */
	f = fix_open("lsmdb_nopart", 0);
	cbytes = load_chunks(f, &st);
	CHECK(st.compact_bytes_written > cbytes / 2,
	      "without partitions: %llu bytes compacted for %llu of chunks",
	      (unsigned long long)st.compact_bytes_written,
	      (unsigned long long)cbytes);
	fix_close(f);

	/* With 1-byte partitions the chunk tables overlap nothing: flushes
	 * put them below level 0 and compaction moves them down a level
	 * without rewriting; only the small inode tables get merged. */
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	model_tmpdir(f->dir, sizeof(f->dir), "lsmdb_part");
	small_options(&f->opt);
	f->opt.partition_prefix_len = 1;
	CHECK_RC(lsm_open(f->dir, &f->opt, &f->db));
	cbytes = load_chunks(f, &st);
	for (int l = 3; l < LSM_MAX_LEVELS; l++)
		deep += st.files[l];
	print_message("partition: %llu of %llu chunk bytes compacted, %llu "
		      "compactions, files L0..L4 %d %d %d %d %d\n",
		      (unsigned long long)st.compact_bytes_written,
		      (unsigned long long)cbytes,
		      (unsigned long long)st.compactions, st.files[0],
		      st.files[1], st.files[2], st.files[3], st.files[4]);
	CHECK(st.compactions > 0 && deep > 0,
	      "no table moved below level 2 (%llu compactions)",
	      (unsigned long long)st.compactions);
	CHECK(st.compact_bytes_written < cbytes / 20,
	      "with partitions: %llu bytes compacted for %llu of chunks",
	      (unsigned long long)st.compact_bytes_written,
	      (unsigned long long)cbytes);
	/* and the data survives a reopen */
	fix_reopen(f);
	check_chunks(f);
	fix_close(f);

	struct lsm_options o;
	lsm_db *db = NULL;
	lsm_options_init(&o);
	o.partition_prefix_len = -1;
	CHECK(lsm_open("/nonexistent/x", &o, &db) == LSM_EINVAL,
	      "a negative partition_prefix_len was accepted");
}


/* ======================================================================
 * Deleted data gives its space back (partition_prefix_len = 1)
 */

/* Bytes of the store's tables and logs on the disk. */
static uint64_t dir_bytes(const char *dir)
{
	uint64_t n = 0;
	struct dirent *d;
	struct stat sb;
	DIR *dp = opendir(dir);

	assert_non_null(dp);
	while ((d = readdir(dp))) {
		size_t len = strlen(d->d_name);
		if (len < 4 || (strcmp(d->d_name + len - 4, ".sst") &&
				strcmp(d->d_name + len - 4, ".log")))
			continue;
		if (!fstatat(dirfd(dp), d->d_name, &sb, 0))
			n += (uint64_t)sb.st_size;
	}
	closedir(dp);
	return n;
}

/* Waits (up to 20 s) until the store's files take at most max bytes. */
static uint64_t wait_dir_bytes(const char *dir, uint64_t max)
{
	uint64_t n = dir_bytes(dir);

	for (int tries = 0; tries < 2000 && n > max; tries++) {
		usleep(10000);
		n = dir_bytes(dir);
	}
	return n;
}

enum { BIG_N = 1500, BIG_LEN = 4000 };

/* 'C' keys of BIG_LEN-byte values (file chunks) and a few 'I' keys. */
static void put_big(struct fix *f, int flags)
{
	uint8_t k[9], v[BIG_LEN];

	for (uint64_t i = 0; i < BIG_N; i++) {
		k[0] = 'C';
		for (int b = 0; b < 8; b++)
			k[1 + b] = (uint8_t)(i >> (56 - 8 * b));
		val_of(i, v, BIG_LEN);
		CHECK_RC(lsm_put(f->db, k, 9, v, BIG_LEN, flags));
		if (i % 64 == 0)
			put_s(f->db, "I1", "inode");
	}
}

static void delete_big(struct fix *f, int flags)
{
	uint8_t k[9];

	for (uint64_t i = 0; i < BIG_N; i++) {
		k[0] = 'C';
		for (int b = 0; b < 8; b++)
			k[1 + b] = (uint8_t)(i >> (56 - 8 * b));
		CHECK_RC(lsm_delete(f->db, k, 9, flags));
	}
}

static struct fix *fix_open_part(const char *tag, lsm_env *env)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	model_tmpdir(f->dir, sizeof(f->dir), tag);
	small_options(&f->opt);
	f->opt.partition_prefix_len = 1;
	f->opt.env = env;
	f->opt.reserve_bytes = 1 << 20;
	CHECK_RC(lsm_open(f->dir, &f->opt, &f->db));
	return f;
}

/* Puts the big values, flushes them and waits for the compactions;
 * returns the bytes the store then takes on the disk. */
static uint64_t put_big_settled(struct fix *f)
{
	struct lsm_stats st;

	put_big(f, 0);
	CHECK_RC(lsm_flush(f->db));
	wait_compactions(f, &st);
	return dir_bytes(f->dir);
}

/* Checks that the store's files shrank to a tenth of full bytes after
 * deleting every big value (what: the case, for the messages); returns
 * the bytes left. */
static uint64_t expect_reclaimed(struct fix *f, uint64_t full,
				 const char *what)
{
	uint64_t after = wait_dir_bytes(f->dir, full / 10);

	print_message("%s: %llu bytes on the disk, %llu after deleting\n",
		      what, (unsigned long long)full, (unsigned long long)after);
	CHECK(after <= full / 10, "%s: deleting every chunk left %llu of %llu "
	      "bytes on the disk", what, (unsigned long long)after,
	      (unsigned long long)full);
	return after;
}

/* The chunk tables move down by trivial moves, and the table of their
 * deletions lands just above them, in a level far below its size limit:
 * without the deletion-triggered compaction (db.c, struct del_compact)
 * nothing ever merged the two and the space stayed taken. */
static void test_delete_reclaims(void **state)
{
	struct fix *f = fix_open_part("lsmdb_delrecl", NULL);
	uint64_t full;
	(void)state;

	full = put_big_settled(f);
	CHECK(full > BIG_N * BIG_LEN, "only %llu bytes on the disk",
	      (unsigned long long)full);
	delete_big(f, 0);
	put_s(f->db, "I1", "gone");
	CHECK_RC(lsm_flush(f->db));
	expect_reclaimed(f, full, "delete");
	expect_s(f->db, NULL, "I1", "gone");
	fix_reopen(f);
	expect_s(f->db, NULL, "I1", "gone");
	fix_close(f);
}

/* A close right after the deletions' flush finishes their compaction
 * first (lsm_close): the pending range lives in memory only, so without
 * it the space stayed taken after the reopen.  lsm_flush_start is the
 * flush that does not wait. */
static void test_delete_close_reclaims(void **state)
{
	struct fix *f = fix_open_part("lsmdb_delclose", NULL);
	uint64_t full, after;
	(void)state;

	full = put_big_settled(f);
	delete_big(f, 0);
	CHECK_RC(lsm_flush_start(f->db));
	fix_reopen(f); /* closes at once */
	after = dir_bytes(f->dir);
	print_message("close: %llu bytes on the disk, %llu after deleting and "
		      "reopening\n", (unsigned long long)full,
		      (unsigned long long)after);
	CHECK(after <= full / 10,
	      "deleting every chunk then closing left %llu of %llu bytes",
	      (unsigned long long)after, (unsigned long long)full);
	fix_close(f);
}

/* Gets that look in two tables charge the first a seek; when its
 * allowed seeks (at least 100) run out it is compacted down (db.c,
 * seek_compaction): two tables in two levels, below any size trigger,
 * hold the even and the odd keys; 1,000 gets of even keys look in the odd
 * table first and then the even one.  Without seek compaction both
 * tables stay where they are for ever. */
static void test_seek_compaction(void **state)
{
	struct fix *f = fix_open("lsmdb_seekc", 0);
	struct lsm_stats st;
	char k[16];
	void *v;
	size_t vlen;
	int tries, files;
	(void)state;

	for (int part = 0; part < 2; part++) {
		for (int i = part; i < 400; i += 2) {
			snprintf(k, sizeof(k), "k%05d", i);
			put_s(f->db, k, "v");
		}
		CHECK_RC(lsm_flush(f->db));
	}
	CHECK_RC(lsm_stats_get(f->db, &st));
	CHECK(levels_used(&st, &files) == 2 && files == 2,
	      "%d tables in %d levels, want 2 in 2", files,
	      levels_used(&st, &files));
	for (int n = 0; n < 1000; n++) {
		snprintf(k, sizeof(k), "k%05d", 2 * (n % 200));
		CHECK_RC(lsm_get(f->db, NULL, k, strlen(k), &v, &vlen));
		free(v);
	}
	for (tries = 0; tries < 500; tries++) {
		CHECK_RC(lsm_stats_get(f->db, &st));
		if (levels_used(&st, &files) == 1)
			break;
		usleep(10000);
	}
	CHECK(levels_used(&st, &files) == 1,
	      "tables still in %d levels after 1,000 gets through two",
	      levels_used(&st, &files));
	for (int i = 0; i < 400; i++) {
		snprintf(k, sizeof(k), "k%05d", i);
		expect_s(f->db, NULL, k, "v");
	}
	fix_close(f);
}

/* An env whose disk has g_free bytes free. */
static atomic_uint_fast64_t g_free;

static int fake_disk_free(lsm_env *env, const char *dir, uint64_t *nbytes)
{
	(void)env;
	(void)dir;
	*nbytes = atomic_load(&g_free);
	return LSM_OK;
}

/* On a full disk the deletions alone do not fill the memtable: without
 * the flush of deletions (db.c, flush_deletions) they stayed there and
 * the space never came back. */
static void test_full_disk_delete(void **state)
{
	lsm_env env = *lsm_env_posix();
	struct fix *f;
	uint64_t full;
	uint8_t v[BIG_LEN] = {0};
	int rc = LSM_OK;
	(void)state;

	env.disk_free = fake_disk_free;
	atomic_store(&g_free, UINT64_MAX / 2);
	f = fix_open_part("lsmdb_fulldel", &env);
	full = put_big_settled(f);

	atomic_store(&g_free, 0); /* the disk is full */
	for (int i = 0; i < 1000 && rc == LSM_OK; i++)
		rc = lsm_put(f->db, "X", 1, v, sizeof(v), 0);
	CHECK(rc == LSM_ENOSPC, "a write on a full disk: %s", lsm_strerror(rc));
	delete_big(f, LSM_RESERVE);
	rc = lsm_put(f->db, "X", 1, v, sizeof(v), 0);
	CHECK(rc == LSM_ENOSPC, "a write on a full disk: %s", lsm_strerror(rc));
	expect_reclaimed(f, full, "full disk");
	atomic_store(&g_free, UINT64_MAX / 2);
	CHECK_RC(lsm_put(f->db, "Y", 1, "y", 1, 0));
	expect_s(f->db, NULL, "Y", "y");
	fix_close(f);
}


/* ======================================================================
 * The old log is not synced at a memtable switch (db.c, old_wal)
 */

/* Writes n numbered keys, without sync; with sync_at, lsm_sync after
 * that many.  Then a power cut (the fault env keeps a random prefix of
 * each file's unsynced bytes) and a reopen: the store must hold a prefix
 * of the keys, all of the synced ones.  Without the gap check of
 * replay_record a later log's writes survived an earlier log's lost
 * tail. */
static void power_cut_round(uint64_t seed, int n, int sync_at)
{
	char dir[64], k[16];
	uint8_t v[300];
	struct lsm_options o;
	lsm_env *env = NULL;
	lsm_db *db = NULL;
	int first_missing = -1;

	model_tmpdir(dir, sizeof(dir), "lsmdb_oldlog");
	CHECK_RC(lsm_fault_env_create(lsm_env_posix(), &env));
	small_options(&o);
	o.env = env;
	CHECK_RC(lsm_open(dir, &o, &db));
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof(k), "k%06d", i);
		val_of((uint64_t)i, v, sizeof(v));
		CHECK_RC(lsm_put(db, k, strlen(k), v, sizeof(v), 0));
		if (i + 1 == sync_at)
			CHECK_RC(lsm_sync(db));
	}
	lsm_fault_crash(env);
	lsm_close(db);
	CHECK_RC(lsm_fault_apply_crash(env, seed));
	env->destroy(env);
	db = NULL;
	small_options(&o);
	CHECK_RC(lsm_open(dir, &o, &db));
	for (int i = 0; i < n; i++) {
		void *got = NULL;
		size_t glen = 0;
		int rc;

		snprintf(k, sizeof(k), "k%06d", i);
		rc = lsm_get(db, NULL, k, strlen(k), &got, &glen);
		free(got);
		if (rc == LSM_ENOTFOUND && first_missing < 0)
			first_missing = i;
		CHECK(rc == LSM_OK || rc == LSM_ENOTFOUND, "get %s: %s", k,
		      lsm_strerror(rc));
		CHECK(rc == LSM_ENOTFOUND || first_missing < 0,
		      "seed %llu: %s survived the power cut, k%06d before it did "
		      "not", (unsigned long long)seed, k, first_missing);
	}
	CHECK(first_missing < 0 || first_missing >= sync_at,
	      "seed %llu: k%06d was synced and is lost",
	      (unsigned long long)seed, first_missing);
	CHECK_RC(lsm_close(db));
	model_rmrf(dir);
}

static void test_power_cut_old_log(void **state)
{
	(void)state;
	/* 3000 puts of ~320 bytes: about 15 memtables of 64 KiB. */
	for (uint64_t r = 0; r < 12; r++)
		power_cut_round(g_seed + r, 3000, r % 2 ? 2000 : 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_reopen),
		cmocka_unit_test(test_recover_big_log),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_snapshots),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_random_model),
		cmocka_unit_test(test_partition),
		cmocka_unit_test(test_delete_reclaims),
		cmocka_unit_test(test_delete_close_reclaims),
		cmocka_unit_test(test_seek_compaction),
		cmocka_unit_test(test_full_disk_delete),
		cmocka_unit_test(test_power_cut_old_log),
	};

	g_seed = model_env_u64("LSM_SEED", 20240601);
	print_message("test_db: seed=%llu (set LSM_SEED to change)\n",
		      (unsigned long long)g_seed);
	if (getenv("LSM_TEST")) /* e.g. LSM_TEST='test_snap*' */
		cmocka_set_test_filter(getenv("LSM_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
