/*
 * test_cache.c — the LRU block cache (eviction order, capacity, blocks
 * that outlive their eviction, counters, threads) and the table cache
 * (bounded open files, hits, eviction, threads).
 * Seed: env LSM_SEED (default 1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lsm_int.h"

static uint64_t seed = 1;

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A block of size bytes whose contents encode (table, off). */
static uint8_t *pattern(uint64_t table, uint64_t off, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);

	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(table * 13 + off * 7 + i);
	return p;
}

static void check_pattern(const struct lsm_block *b, uint64_t table,
			  uint64_t off)
{
	for (size_t i = 0; i < b->size; i++)
		if (b->data[i] != (uint8_t)(table * 13 + off * 7 + i))
			fail_msg("block (%llu, %llu) byte %zu wrong",
				 (unsigned long long)table,
				 (unsigned long long)off, i);
}

static struct lsm_block *put(struct lsm_cache *c, uint64_t table,
			     uint64_t off, size_t size)
{
	struct lsm_block *b =
		lsm_cache_insert(c, table, off, pattern(table, off, size), size);

	assert_non_null(b);
	assert_int_equal(b->size, size);
	/* The caller's reference, and the cache's unless it was evicted at
	 * once (a block larger than the whole cache). */
	if (!c)
		assert_int_equal(atomic_load(&b->refs), 1);
	else
		assert_in_range(atomic_load(&b->refs), 1, 2);
	return b;
}

static bool present(struct lsm_cache *c, uint64_t table, uint64_t off)
{
	struct lsm_block *b = lsm_cache_lookup(c, table, off);

	if (b) {
		check_pattern(b, table, off);
		lsm_block_unref(b);
	}
	return b != NULL;
}

static void test_lru_order(void **state)
{
	struct lsm_cache *c;

	(void)state;
	assert_int_equal(lsm_cache_create(100, &c), LSM_OK);
	for (uint64_t i = 0; i < 10; i++)
		lsm_block_unref(put(c, 1, i * 4096, 10));
	for (uint64_t i = 0; i < 10; i++)
		assert_true(present(c, 1, i * 4096));
	/* Touch 0 and 1: now 2 is the least recently used, then 3. */
	assert_true(present(c, 1, 0));
	assert_true(present(c, 1, 4096));
	lsm_block_unref(put(c, 2, 0, 10));
	assert_false(present(c, 1, 2 * 4096));
	assert_true(present(c, 1, 0));
	lsm_block_unref(put(c, 2, 1, 15)); /* evicts 3 and 4 */
	assert_false(present(c, 1, 3 * 4096));
	assert_false(present(c, 1, 4 * 4096));
	assert_true(present(c, 1, 5 * 4096));
	assert_true(present(c, 2, 0));
	assert_true(present(c, 2, 1));
	/* Same offset, other table: a different block. */
	assert_false(present(c, 3, 5 * 4096));
	lsm_cache_destroy(c);
}

static void test_capacity(void **state)
{
	uint64_t s = seed;
	struct lsm_cache *c;
	const size_t cap = 50000;

	(void)state;
	assert_int_equal(lsm_cache_create(cap, &c), LSM_OK);
	for (int i = 0; i < 5000; i++) {
		uint64_t off = rnd(&s) % 2000;
		lsm_block_unref(put(c, 1, off, 1 + rnd(&s) % 3000));
	}
	/* What is left fits, and the most recent insert is there. */
	size_t total = 0;
	for (uint64_t off = 0; off < 2000; off++) {
		struct lsm_block *b = lsm_cache_lookup(c, 1, off);
		if (b) {
			total += b->size;
			lsm_block_unref(b);
		}
	}
	assert_true(total <= cap);
	assert_true(total > cap / 2);
	lsm_cache_destroy(c);

	/* A block larger than the cache, or a cache of 0: the caller still
	 * gets its block, the cache keeps nothing. */
	assert_int_equal(lsm_cache_create(0, &c), LSM_OK);
	struct lsm_block *b = put(c, 1, 0, 100);
	assert_int_equal(atomic_load(&b->refs), 1);
	check_pattern(b, 1, 0);
	assert_false(present(c, 1, 0));
	lsm_block_unref(b);
	lsm_cache_destroy(c);
}

static void test_referenced_survives(void **state)
{
	struct lsm_cache *c;
	struct lsm_block *held, *again, *newer;

	(void)state;
	assert_int_equal(lsm_cache_create(1000, &c), LSM_OK);
	held = put(c, 9, 9, 500);
	for (uint64_t i = 0; i < 10; i++)
		lsm_block_unref(put(c, 1, i, 200));
	assert_false(present(c, 9, 9));
	assert_int_equal(atomic_load(&held->refs), 1);
	check_pattern(held, 9, 9); /* ASan: still allocated */

	/* Replacing a key: the old holder keeps the old block. */
	again = put(c, 9, 9, 300);
	newer = put(c, 9, 9, 100);
	assert_int_equal(atomic_load(&again->refs), 1);
	again->data[0] ^= 0xff; /* writable: still ours */
	again->data[0] ^= 0xff;
	struct lsm_block *b = lsm_cache_lookup(c, 9, 9);
	assert_ptr_equal(b, newer);
	assert_int_equal(b->size, 100);
	lsm_block_unref(b);
	lsm_block_unref(newer);
	lsm_block_unref(again);

	/* Destroying the cache leaves held blocks valid. */
	b = lsm_cache_lookup(c, 9, 9);
	assert_non_null(b);
	lsm_cache_destroy(c);
	check_pattern(b, 9, 9);
	lsm_block_unref(b);
	lsm_block_unref(held);

	/* A standalone block (no cache). */
	b = put(NULL, 4, 4, 64);
	check_pattern(b, 4, 4);
	lsm_block_unref(b);
}

static void test_counters(void **state)
{
	struct lsm_cache *c;
	uint64_t hits = 99, misses = 99;

	(void)state;
	assert_int_equal(lsm_cache_create(1 << 20, &c), LSM_OK);
	lsm_cache_counts(c, &hits, &misses);
	assert_int_equal(hits, 0);
	assert_int_equal(misses, 0);
	assert_false(present(c, 1, 1));
	assert_false(present(c, 1, 2));
	lsm_block_unref(put(c, 1, 1, 10));
	assert_true(present(c, 1, 1));
	assert_true(present(c, 1, 1));
	assert_true(present(c, 1, 1));
	assert_false(present(c, 1, 2));
	lsm_cache_counts(c, &hits, &misses);
	assert_int_equal(hits, 3);
	assert_int_equal(misses, 3);
	lsm_cache_destroy(c);
}

/* Four threads look up and insert blocks of a shared small cache; every
 * block they get must carry its own contents. */
struct bc_arg {
	struct lsm_cache *c;
	uint64_t seed;
	uint64_t lookups, found;
};

static bool pattern_ok(const struct lsm_block *b, uint64_t table,
		       uint64_t off)
{
	if (b->size != 64 + off)
		return false;
	for (size_t i = 0; i < b->size; i++)
		if (b->data[i] != (uint8_t)(table * 13 + off * 7 + i))
			return false;
	return true;
}

/* No cmocka asserts here (not thread-safe): returns an error string. */
static void *bc_thread(void *p)
{
	struct bc_arg *a = p;
	struct lsm_block *held[8] = {0};
	uint64_t held_key[8][2];
	void *res = NULL;

	for (int i = 0; i < 40000 && !res; i++) {
		uint64_t r = rnd(&a->seed), table = r % 4,
			 off = (r >> 8) % 500;
		int slot = (int)((r >> 32) % 8);
		struct lsm_block *b = lsm_cache_lookup(a->c, table, off);
		a->lookups++;
		if (b)
			a->found++;
		else
			b = lsm_cache_insert(a->c, table, off,
					     pattern(table, off, 64 + off),
					     64 + off);
		if (!b || !pattern_ok(b, table, off))
			res = "bad block";
		/* Hold a few blocks a while, so evictions meet readers. */
		if (held[slot]) {
			if (!pattern_ok(held[slot], held_key[slot][0],
					held_key[slot][1]))
				res = "held block changed";
			lsm_block_unref(held[slot]);
		}
		held[slot] = b;
		held_key[slot][0] = table;
		held_key[slot][1] = off;
	}
	for (int i = 0; i < 8; i++)
		lsm_block_unref(held[i]);
	return res;
}

static void test_block_cache_threads(void **state)
{
	struct lsm_cache *c;
	struct bc_arg a[4];
	pthread_t th[4];
	uint64_t hits, misses, lookups = 0, found = 0;

	(void)state;
	assert_int_equal(lsm_cache_create(40000, &c), LSM_OK);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct bc_arg){c, seed * 1000 + (uint64_t)i, 0, 0};
		assert_int_equal(pthread_create(&th[i], NULL, bc_thread, &a[i]),
				 0);
	}
	for (int i = 0; i < 4; i++) {
		void *res;
		pthread_join(th[i], &res);
		if (res)
			fail_msg("thread %d: %s", i, (char *)res);
		lookups += a[i].lookups;
		found += a[i].found;
	}
	lsm_cache_counts(c, &hits, &misses);
	assert_int_equal(hits + misses, lookups);
	assert_int_equal(hits, found);
	assert_true(hits > 0 && misses > 0);
	lsm_cache_destroy(c);
}

/* ---- the table cache --------------------------------------------------- */

/* An env over the POSIX one that counts files open. */
struct count_env {
	lsm_env base;
	lsm_env *inner;
	atomic_int opens, live;
};

static int ce_open(lsm_env *env, const char *path, int flags, lsm_file **out)
{
	struct count_env *ce = (struct count_env *)env;
	int rc = ce->inner->open(ce->inner, path, flags, out);

	if (!rc) {
		atomic_fetch_add(&ce->opens, 1);
		atomic_fetch_add(&ce->live, 1);
	}
	return rc;
}

static int ce_close(lsm_env *env, lsm_file *f)
{
	struct count_env *ce = (struct count_env *)env;

	atomic_fetch_sub(&ce->live, 1);
	return ce->inner->close(ce->inner, f);
}

static int ce_read(lsm_env *env, lsm_file *f, uint64_t off, void *buf,
		   size_t n, size_t *nread)
{
	struct count_env *ce = (struct count_env *)env;

	return ce->inner->read(ce->inner, f, off, buf, n, nread);
}

static int ce_append(lsm_env *env, lsm_file *f, const void *buf, size_t n)
{
	struct count_env *ce = (struct count_env *)env;

	return ce->inner->append(ce->inner, f, buf, n);
}

static int ce_sync(lsm_env *env, lsm_file *f)
{
	struct count_env *ce = (struct count_env *)env;

	return ce->inner->sync(ce->inner, f);
}

static int ce_size(lsm_env *env, lsm_file *f, uint64_t *size)
{
	struct count_env *ce = (struct count_env *)env;

	return ce->inner->size(ce->inner, f, size);
}

static int ce_remove(lsm_env *env, const char *path)
{
	struct count_env *ce = (struct count_env *)env;

	return ce->inner->remove(ce->inner, path);
}

static void count_env_init(struct count_env *ce)
{
	memset(ce, 0, sizeof(*ce));
	ce->inner = lsm_env_posix();
	ce->base.open = ce_open;
	ce->base.close = ce_close;
	ce->base.read = ce_read;
	ce->base.append = ce_append;
	ce->base.sync = ce_sync;
	ce->base.size = ce_size;
	ce->base.remove = ce_remove;
}

#define NTABLES 12

struct tc_fixture {
	char dir[64];
	struct count_env env;
	uint64_t sizes[NTABLES + 1];
};

/* Tables 1..NTABLES, table n holding keys "t<n>k<i>" for i < 100. */
static int tc_setup(void **state)
{
	struct tc_fixture *fx = calloc(1, sizeof(*fx));
	struct lsm_sst_opts o = {1024, 16, 10};
	struct lsm_buf ik = {0};
	char path[LSM_PATH_MAX], k[32];

	strcpy(fx->dir, "/tmp/test_cache.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	count_env_init(&fx->env);
	for (uint64_t n = 1; n <= NTABLES; n++) {
		struct lsm_sst_builder *b;
		lsm_file_path(path, fx->dir, n, "sst");
		assert_int_equal(lsm_sst_builder_create(&fx->env.base, path, &o,
							&b),
				 LSM_OK);
		for (int i = 0; i < 100; i++) {
			int len = snprintf(k, sizeof(k), "t%02dk%03d", (int)n, i);
			lsm_ikey_make(&ik, k, (size_t)len, 1, LSM_KIND_VAL);
			assert_int_equal(lsm_sst_builder_add(b, ik.data, ik.len,
							     (uint8_t *)k,
							     (size_t)len),
					 LSM_OK);
		}
		assert_int_equal(lsm_sst_builder_finish(b, &fx->sizes[n]),
				 LSM_OK);
	}
	lsm_buf_free(&ik);
	assert_int_equal(atomic_load(&fx->env.live), 0);
	atomic_store(&fx->env.opens, 0);
	*state = fx;
	return 0;
}

static int tc_teardown(void **state)
{
	struct tc_fixture *fx = *state;
	char path[LSM_PATH_MAX];

	for (uint64_t n = 1; n <= NTABLES; n++) {
		lsm_file_path(path, fx->dir, n, "sst");
		unlink(path);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Reads key i of table n through t. */
static void tc_check(lsm_sst *t, uint64_t n, int i)
{
	struct lsm_buf ik = {0}, val = {0};
	char k[32];
	int len = snprintf(k, sizeof(k), "t%02dk%03d", (int)n, i), kind;
	bool found;

	lsm_ikey_make(&ik, k, (size_t)len, 5, LSM_KIND_VAL);
	assert_int_equal(lsm_sst_get(t, ik.data, ik.len, &found, &kind, &val,
				     NULL),
			 LSM_OK);
	assert_true(found);
	assert_int_equal(val.len, (size_t)len);
	assert_memory_equal(val.data, k, val.len);
	lsm_buf_free(&ik);
	lsm_buf_free(&val);
}

static void test_tcache_bound(void **state)
{
	struct tc_fixture *fx = *state;
	struct lsm_tcache *tc;
	struct lsm_cache *bc;
	lsm_sst *t, *held;

	assert_int_equal(lsm_cache_create(1 << 20, &bc), LSM_OK);
	assert_int_equal(lsm_tcache_create(&fx->env.base, fx->dir, 3, bc, 10,
					   &tc),
			 LSM_OK);
	for (uint64_t n = 1; n <= NTABLES; n++) {
		assert_int_equal(lsm_tcache_get(tc, n, fx->sizes[n], &t),
				 LSM_OK);
		tc_check(t, n, (int)n);
		lsm_sst_unref(t);
		assert_true(atomic_load(&fx->env.live) <= 3);
	}
	assert_int_equal(atomic_load(&fx->env.opens), NTABLES);
	/* 10, 11, 12 are open: hits, no new opens. */
	for (uint64_t n = 10; n <= NTABLES; n++) {
		assert_int_equal(lsm_tcache_get(tc, n, fx->sizes[n], &t),
				 LSM_OK);
		lsm_sst_unref(t);
	}
	assert_int_equal(atomic_load(&fx->env.opens), NTABLES);
	/* 1 reopens and evicts 10 (least recently used). */
	assert_int_equal(lsm_tcache_get(tc, 1, fx->sizes[1], &held),
			 LSM_OK);
	assert_int_equal(atomic_load(&fx->env.opens), NTABLES + 1);
	assert_int_equal(lsm_tcache_get(tc, 11, fx->sizes[11], &t), LSM_OK);
	lsm_sst_unref(t);
	assert_int_equal(atomic_load(&fx->env.opens), NTABLES + 1);
	assert_int_equal(lsm_tcache_get(tc, 10, fx->sizes[10], &t), LSM_OK);
	lsm_sst_unref(t);
	assert_int_equal(atomic_load(&fx->env.opens), NTABLES + 2);

	/* An evicted table that a reader holds stays open and usable. */
	lsm_tcache_evict(tc, 1);
	assert_int_equal(atomic_load(&fx->env.live), 3);
	tc_check(held, 1, 99);
	lsm_sst_unref(held);
	assert_int_equal(atomic_load(&fx->env.live), 2);
	assert_int_equal(lsm_tcache_get(tc, 1, fx->sizes[1], &t), LSM_OK);
	assert_int_equal(atomic_load(&fx->env.opens), NTABLES + 3);
	lsm_sst_unref(t);

	/* Errors pass through and cache nothing. */
	assert_int_equal(lsm_tcache_get(tc, 99, 100, &t), LSM_ENOTFOUND);
	assert_null(t);
	assert_int_equal(lsm_tcache_get(tc, 2, fx->sizes[2] + 1, &t),
			 LSM_ECORRUPT);
	assert_true(atomic_load(&fx->env.live) <= 3);

	lsm_tcache_destroy(tc);
	assert_int_equal(atomic_load(&fx->env.live), 0);
	lsm_cache_destroy(bc);
}

struct tc_arg {
	struct lsm_tcache *tc;
	struct tc_fixture *fx;
	uint64_t seed;
};

static void *tc_thread(void *p)
{
	struct tc_arg *a = p;
	struct lsm_buf ik = {0}, val = {0};
	char k[32];
	void *res = NULL;

	for (int i = 0; i < 3000 && !res; i++) {
		uint64_t r = rnd(&a->seed), n = 1 + r % NTABLES;
		int j = (int)((r >> 16) % 100), kind;
		int len = snprintf(k, sizeof(k), "t%02dk%03d", (int)n, j);
		bool found = false;
		lsm_sst *t;
		if (lsm_tcache_get(a->tc, n, a->fx->sizes[n], &t)) {
			res = "get failed";
			break;
		}
		lsm_ikey_make(&ik, k, (size_t)len, 5, LSM_KIND_VAL);
		if (lsm_sst_get(t, ik.data, ik.len, &found, &kind, &val,
				NULL) ||
		    !found || val.len != (size_t)len ||
		    memcmp(val.data, k, val.len))
			res = "wrong value";
		if ((r >> 40) % 50 == 0)
			lsm_tcache_evict(a->tc, n);
		lsm_sst_unref(t);
	}
	lsm_buf_free(&ik);
	lsm_buf_free(&val);
	return res;
}

static void test_tcache_threads(void **state)
{
	struct tc_fixture *fx = *state;
	struct lsm_tcache *tc;
	struct lsm_cache *bc;
	struct tc_arg a[4];
	pthread_t th[4];

	assert_int_equal(lsm_cache_create(8192, &bc), LSM_OK);
	assert_int_equal(lsm_tcache_create(&fx->env.base, fx->dir, 4, bc, 10,
					   &tc),
			 LSM_OK);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct tc_arg){tc, fx, seed * 7919 + (uint64_t)i};
		assert_int_equal(pthread_create(&th[i], NULL, tc_thread, &a[i]),
				 0);
	}
	for (int i = 0; i < 4; i++) {
		void *res;
		pthread_join(th[i], &res);
		if (res)
			fail_msg("thread %d: %s", i, (char *)res);
	}
	/* At most max_open cached, plus what the threads held at the end
	 * (nothing now). */
	assert_true(atomic_load(&fx->env.live) <= 4);
	lsm_tcache_destroy(tc);
	assert_int_equal(atomic_load(&fx->env.live), 0);
	lsm_cache_destroy(bc);
}

int main(void)
{
	const char *s = getenv("LSM_SEED");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lru_order),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_referenced_survives),
		cmocka_unit_test(test_counters),
		cmocka_unit_test(test_block_cache_threads),
		cmocka_unit_test_setup_teardown(test_tcache_bound, tc_setup,
						tc_teardown),
		cmocka_unit_test_setup_teardown(test_tcache_threads, tc_setup,
						tc_teardown),
	};

	if (s)
		seed = strtoull(s, NULL, 0);
	printf("test_cache: LSM_SEED=%llu\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
