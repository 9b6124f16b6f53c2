/*
 * test_memtable.c — the skiplist memtable: versions and tombstones seen
 * through sequence numbers, iterator order both ways, a random workload
 * against a sorted model, one writer with concurrent lock-free readers,
 * and arena accounting.  Random tests take their seed from LSM_SEED.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "lsm_int.h"

static uint64_t test_seed(void)
{
	const char *s = getenv("LSM_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : 20240611;

	printf("# LSM_SEED=%llu\n", (unsigned long long)seed);
	return seed;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void put(lsm_memtable *m, uint64_t seq, const char *k, const char *v)
{
	assert_int_equal(lsm_mem_add(m, seq, LSM_KIND_VAL, k, strlen(k), v,
				     strlen(v)), LSM_OK);
}

static void del(lsm_memtable *m, uint64_t seq, const char *k)
{
	assert_int_equal(lsm_mem_add(m, seq, LSM_KIND_DEL, k, strlen(k), NULL,
				     0), LSM_OK);
}

/* Asserts what get(k, seq) finds: want NULL = nothing, "-" = tombstone. */
static void check_get(lsm_memtable *m, const char *k, uint64_t seq,
		      const char *want)
{
	const uint8_t *val = NULL;
	size_t vlen = 0;
	int kind = -1;
	bool found = lsm_mem_get(m, k, strlen(k), seq, &kind, &val, &vlen);

	if (!want) {
		assert_false(found);
		return;
	}
	assert_true(found);
	if (!strcmp(want, "-")) {
		assert_int_equal(kind, LSM_KIND_DEL);
		return;
	}
	assert_int_equal(kind, LSM_KIND_VAL);
	assert_int_equal(vlen, strlen(want));
	assert_memory_equal(val, want, vlen);
}

static void test_versions(void **state)
{
	lsm_memtable *m;

	(void)state;
	assert_int_equal(lsm_mem_create(&m), LSM_OK);
	put(m, 3, "k1", "a");
	put(m, 7, "k1", "b");
	del(m, 10, "k1");
	put(m, 12, "k1", "c");
	put(m, 5, "k", "short");
	put(m, 6, "k10", "long");
	put(m, 1, "j", "before");
	assert_int_equal(lsm_mem_count(m), 7);

	check_get(m, "k1", 2, NULL);
	check_get(m, "k1", 3, "a");
	check_get(m, "k1", 6, "a");
	check_get(m, "k1", 7, "b");
	check_get(m, "k1", 9, "b");
	check_get(m, "k1", 10, "-");
	check_get(m, "k1", 11, "-");
	check_get(m, "k1", 12, "c");
	check_get(m, "k1", LSM_SEQ_MAX, "c");
	check_get(m, "k1", UINT64_MAX, "c"); /* clamped */
	check_get(m, "k", 4, NULL);
	check_get(m, "k", 100, "short");
	check_get(m, "k10", 100, "long");
	check_get(m, "k0", 100, NULL);
	check_get(m, "k2", 100, NULL);
	check_get(m, "j", 1, "before");
	check_get(m, "a", 100, NULL);
	check_get(m, "z", 100, NULL);
	lsm_mem_unref(m);
}

/* The entries an iterator shows, as "key@seq" strings joined by spaces. */
static void walk(struct lsm_iiter *it, bool backward, char *out, size_t cap)
{
	size_t off = 0, klen;
	const uint8_t *k;

	out[0] = 0;
	for (backward ? it->ops->last(it) : it->ops->first(it);
	     it->ops->valid(it);
	     backward ? it->ops->prev(it) : it->ops->next(it)) {
		k = it->ops->key(it, &klen);
		off += (size_t)snprintf(out + off, cap - off, "%s%.*s@%llu",
					off ? " " : "",
					(int)(klen - LSM_TRAILER), (const char *)k,
					(unsigned long long)lsm_ikey_seq(k, klen));
		assert_true(off < cap);
	}
	assert_int_equal(it->ops->status(it), LSM_OK);
}

static void test_iter_order(void **state)
{
	lsm_memtable *m;
	struct lsm_iiter *it;
	struct lsm_buf ik = {0};
	const uint8_t *k, *v;
	size_t klen, vlen;
	char s[256];

	(void)state;
	assert_int_equal(lsm_mem_create(&m), LSM_OK);
	assert_int_equal(lsm_mem_iter(m, &it), LSM_OK);
	walk(it, false, s, sizeof(s));
	assert_string_equal(s, "");
	walk(it, true, s, sizeof(s));
	assert_string_equal(s, "");

	put(m, 3, "b", "b3");
	put(m, 9, "b", "b9");
	del(m, 5, "b");
	put(m, 2, "a", "a2");
	put(m, 4, "ab", "ab4");
	put(m, 1, "c", "c1");
	walk(it, false, s, sizeof(s));
	assert_string_equal(s, "a@2 ab@4 b@9 b@5 b@3 c@1");
	walk(it, true, s, sizeof(s));
	assert_string_equal(s, "c@1 b@3 b@5 b@9 ab@4 a@2");

	/* seek to b as of 6 lands on b@5, the tombstone */
	assert_int_equal(lsm_ikey_make(&ik, "b", 1, 6, LSM_KIND_VAL), LSM_OK);
	it->ops->seek(it, ik.data, ik.len);
	assert_true(it->ops->valid(it));
	k = it->ops->key(it, &klen);
	assert_int_equal(lsm_ikey_seq(k, klen), 5);
	assert_int_equal(lsm_ikey_kind(k, klen), LSM_KIND_DEL);
	v = it->ops->value(it, &vlen);
	assert_int_equal(vlen, 0);
	(void)v;
	it->ops->prev(it);
	k = it->ops->key(it, &klen);
	assert_int_equal(lsm_ikey_seq(k, klen), 9);
	v = it->ops->value(it, &vlen);
	assert_int_equal(vlen, 2);
	assert_memory_equal(v, "b9", 2);
	it->ops->prev(it);
	it->ops->prev(it);
	k = it->ops->key(it, &klen);
	assert_int_equal(klen - LSM_TRAILER, 1);
	assert_memory_equal(k, "a", 1);
	it->ops->prev(it);
	assert_false(it->ops->valid(it));

	assert_int_equal(lsm_ikey_make(&ik, "bb", 2, 100, LSM_KIND_VAL), LSM_OK);
	it->ops->seek(it, ik.data, ik.len);
	k = it->ops->key(it, &klen);
	assert_memory_equal(k, "c", 1);
	assert_int_equal(lsm_ikey_make(&ik, "d", 1, 100, LSM_KIND_VAL), LSM_OK);
	it->ops->seek(it, ik.data, ik.len);
	assert_false(it->ops->valid(it));

	/* the iterator's reference keeps the memtable alive */
	lsm_mem_unref(m);
	walk(it, false, s, sizeof(s));
	assert_string_equal(s, "a@2 ab@4 b@9 b@5 b@3 c@1");
	it->ops->destroy(it);
	lsm_buf_free(&ik);
}

/* ---- random workload against a sorted model --------------------------- */

struct ent {
	char key[12];
	size_t klen;
	uint64_t seq;
	int kind;
	char val[24];
	size_t vlen;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int c = lsm_ukey_cmp((const uint8_t *)x->key, x->klen,
			     (const uint8_t *)y->key, y->klen);

	if (c)
		return c;
	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

/* A random key of 1..4 letters from a small alphabet, so that keys repeat
 * and prefixes of one another are common. */
static void rand_key(uint64_t *s, struct ent *e)
{
	e->klen = 1 + rnd(s) % 4;
	for (size_t i = 0; i < e->klen; i++)
		e->key[i] = (char)('a' + rnd(s) % 5);
}

static void test_random_vs_model(void **state)
{
	enum { N = 6000 };
	uint64_t s = test_seed();
	struct ent *model = calloc(N, sizeof(*model));
	lsm_memtable *m;
	struct lsm_iiter *it;
	size_t klen, vlen;
	const uint8_t *k, *v;
	int i;

	(void)state;
	assert_non_null(model);
	assert_int_equal(lsm_mem_create(&m), LSM_OK);
	for (i = 0; i < N; i++) {
		struct ent *e = &model[i];

		rand_key(&s, e);
		e->seq = (uint64_t)i + 1;
		e->kind = rnd(&s) % 5 ? LSM_KIND_VAL : LSM_KIND_DEL;
		e->vlen = e->kind == LSM_KIND_VAL ?
			(size_t)snprintf(e->val, sizeof(e->val), "v%d", i) : 0;
		assert_int_equal(lsm_mem_add(m, e->seq, e->kind, e->key,
					     e->klen, e->val, e->vlen),
				 LSM_OK);
	}
	assert_int_equal(lsm_mem_count(m), N);
	qsort(model, N, sizeof(*model), ent_cmp);

	assert_int_equal(lsm_mem_iter(m, &it), LSM_OK);
	i = 0;
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it), i++) {
		assert_true(i < N);
		k = it->ops->key(it, &klen);
		v = it->ops->value(it, &vlen);
		assert_int_equal(klen, model[i].klen + LSM_TRAILER);
		assert_memory_equal(k, model[i].key, model[i].klen);
		assert_int_equal(lsm_ikey_seq(k, klen), model[i].seq);
		assert_int_equal(lsm_ikey_kind(k, klen), model[i].kind);
		assert_int_equal(vlen, model[i].vlen);
		assert_memory_equal(v, model[i].val, vlen);
	}
	assert_int_equal(i, N);
	i = N - 1;
	for (it->ops->last(it); it->ops->valid(it); it->ops->prev(it), i--) {
		assert_true(i >= 0);
		k = it->ops->key(it, &klen);
		assert_memory_equal(k, model[i].key, model[i].klen);
		assert_int_equal(lsm_ikey_seq(k, klen), model[i].seq);
	}
	assert_int_equal(i, -1);
	it->ops->destroy(it);

	/* gets of random keys at random sequence numbers */
	for (int q = 0; q < 4000; q++) {
		struct ent probe;
		uint64_t seq = rnd(&s) % (N + 10);
		const struct ent *want = NULL;
		const uint8_t *val;
		int kind;
		bool found;

		rand_key(&s, &probe);
		for (i = 0; i < N; i++) {
			if (lsm_ukey_cmp((const uint8_t *)model[i].key,
					 model[i].klen,
					 (const uint8_t *)probe.key,
					 probe.klen) == 0 &&
			    model[i].seq <= seq) {
				want = &model[i];
				break;
			}
		}
		found = lsm_mem_get(m, probe.key, probe.klen, seq, &kind,
				    &val, &vlen);
		assert_int_equal(found, want != NULL);
		if (!want)
			continue;
		assert_int_equal(kind, want->kind);
		assert_int_equal(vlen, want->vlen);
		assert_memory_equal(val, want->val, vlen);
	}
	lsm_mem_unref(m);
	free(model);
}

/* ---- one writer, two readers ------------------------------------------ */

enum { CONC_N = 20000, CONC_READERS = 2 };

struct conc {
	lsm_memtable *m;
	uint32_t *keys;           /* key i is keys[i] big-endian */
	atomic_int published;     /* keys[0..published) are in m */
	atomic_bool done;
	atomic_int failures;
	atomic_int partial_scans; /* scans that overlapped the writer */
	uint64_t seed;
};

static void key_of(uint32_t k, uint8_t out[4])
{
	out[0] = (uint8_t)(k >> 24);
	out[1] = (uint8_t)(k >> 16);
	out[2] = (uint8_t)(k >> 8);
	out[3] = (uint8_t)k;
}

static void *conc_writer(void *arg)
{
	struct conc *c = arg;
	uint8_t k[4];

	for (int i = 0; i < CONC_N; i++) {
		key_of(c->keys[i], k);
		if (lsm_mem_add(c->m, (uint64_t)i + 1, LSM_KIND_VAL, k, 4, k, 4))
			atomic_fetch_add(&c->failures, 1);
		atomic_store_explicit(&c->published, i + 1,
				      memory_order_release);
	}
	atomic_store(&c->done, true);
	return NULL;
}

static bool conc_find(struct conc *c, uint32_t key)
{
	uint8_t k[4];
	const uint8_t *v;
	size_t vlen;
	int kind;

	key_of(key, k);
	return lsm_mem_get(c->m, k, 4, LSM_SEQ_MAX, &kind, &v, &vlen) &&
	       kind == LSM_KIND_VAL && vlen == 4 && !memcmp(v, k, 4);
}

/* Scans: the list must always be sorted and hold at least every key
 * published before the scan began; every key a scan saw, and every
 * published key, must be found by get. */
static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	struct lsm_iiter *it = NULL;
	uint32_t *seen = malloc(CONC_N * sizeof(*seen));
	uint64_t s = c->seed;
	bool last = false;

	if (!seen || lsm_mem_iter(c->m, &it)) {
		atomic_fetch_add(&c->failures, 1);
		goto out;
	}
	while (!last) {
		int before, nseen = 0;
		const uint8_t *k, *prevk = NULL;
		size_t klen, prevlen = 0;

		last = atomic_load(&c->done);
		before = atomic_load_explicit(&c->published,
					      memory_order_acquire);
		for (it->ops->first(it); it->ops->valid(it);
		     it->ops->next(it)) {
			k = it->ops->key(it, &klen);
			if (prevk && lsm_ikey_cmp(prevk, prevlen, k, klen) >= 0)
				atomic_fetch_add(&c->failures, 1);
			if (nseen < CONC_N)
				seen[nseen++] = (uint32_t)k[0] << 24 |
						(uint32_t)k[1] << 16 |
						(uint32_t)k[2] << 8 | k[3];
			prevk = k;
			prevlen = klen;
		}
		if (nseen < before)
			atomic_fetch_add(&c->failures, 1);
		if (nseen > 0 && nseen < CONC_N)
			atomic_fetch_add(&c->partial_scans, 1);
		for (int q = 0; q < 200 && nseen; q++)
			if (!conc_find(c, seen[rnd(&s) % (uint64_t)nseen]))
				atomic_fetch_add(&c->failures, 1);
		for (int q = 0; q < 200 && before; q++)
			if (!conc_find(c, c->keys[rnd(&s) % (uint64_t)before]))
				atomic_fetch_add(&c->failures, 1);
	}
out:
	if (it)
		it->ops->destroy(it);
	free(seen);
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	struct conc c = {0};
	pthread_t w, r[CONC_READERS];
	uint64_t s = test_seed();

	(void)state;
	assert_int_equal(lsm_mem_create(&c.m), LSM_OK);
	c.keys = malloc(CONC_N * sizeof(*c.keys));
	assert_non_null(c.keys);
	/* distinct keys in random order: i * odd constant is a bijection */
	for (uint32_t i = 0; i < CONC_N; i++)
		c.keys[i] = i * 2654435761u + (uint32_t)s;
	c.seed = s | 1;
	for (int i = 0; i < CONC_READERS; i++)
		assert_int_equal(pthread_create(&r[i], NULL, conc_reader, &c), 0);
	assert_int_equal(pthread_create(&w, NULL, conc_writer, &c), 0);
	pthread_join(w, NULL);
	for (int i = 0; i < CONC_READERS; i++)
		pthread_join(r[i], NULL);
	printf("# %d scans overlapped the writer\n",
	       atomic_load(&c.partial_scans));
	assert_int_equal(atomic_load(&c.failures), 0);
	assert_int_equal(lsm_mem_count(c.m), CONC_N);
	for (int i = 0; i < CONC_N; i++)
		assert_true(conc_find(&c, c.keys[i]));
	lsm_mem_unref(c.m);
	free(c.keys);
}

/* ---- arena accounting ------------------------------------------------- */

static void test_usage_grows(void **state)
{
	lsm_memtable *m;
	size_t u0, u1, u2;
	static uint8_t big[LSM_ARENA_BLOCK];
	uint8_t k[8];

	(void)state;
	assert_int_equal(lsm_mem_create(&m), LSM_OK);
	u0 = lsm_mem_usage(m);
	assert_true(u0 > 0);
	for (int i = 0; i < 10000; i++) {
		memcpy(k, &i, sizeof(i));
		memcpy(k + 4, "keys", 4);
		assert_int_equal(lsm_mem_add(m, (uint64_t)i + 1, LSM_KIND_VAL,
					     k, 8, "some value bytes", 16),
				 LSM_OK);
	}
	u1 = lsm_mem_usage(m);
	/* at least key + trailer + value per entry */
	assert_true(u1 >= u0 + 10000u * (8 + 8 + 16));
	/* a value larger than a block gets a block of its own */
	memset(big, 'x', sizeof(big));
	assert_int_equal(lsm_mem_add(m, 10001, LSM_KIND_VAL, "big", 3, big,
				     sizeof(big)), LSM_OK);
	u2 = lsm_mem_usage(m);
	assert_true(u2 >= u1 + sizeof(big));
	assert_int_equal(lsm_mem_count(m), 10001);
	assert_int_equal(lsm_mem_add(m, 10002, LSM_KIND_VAL, "huge", 4, big,
				     (size_t)LSM_MAX_VALUE + 1), LSM_EINVAL);
	assert_int_equal(lsm_mem_count(m), 10001);
	lsm_mem_unref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_iter_order),
		cmocka_unit_test(test_random_vs_model),
		cmocka_unit_test(test_concurrent_readers),
		cmocka_unit_test(test_usage_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
