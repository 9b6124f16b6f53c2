/*
 * test_iter.c — the merging iterator and the user iterator, over
 * memtable iterators and table iterators that know their table's first
 * key (lazy seeks, sst.c), against sorted models: full scans both ways
 * and random walks that mix seek, next and prev (so that every direction
 * switch is exercised), snapshots that hide newer versions, tombstones,
 * and errors from a child.  Random tests take their seed from LSM_SEED.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lsm_int.h"

static uint64_t test_seed(void)
{
	const char *s = getenv("LSM_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : 777;

	printf("# LSM_SEED=%llu\n", (unsigned long long)seed);
	return seed ? seed : 1;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One internal entry of the model. */
struct ent {
	char key[8];
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
	uint64_t tx = x->seq << 8 | (uint64_t)x->kind;
	uint64_t ty = y->seq << 8 | (uint64_t)y->kind;

	if (c)
		return c;
	return tx > ty ? -1 : tx < ty;
}

/* Keys of 1..3 letters from "abcd": few enough to repeat, and often
 * prefixes of one another. */
static void rand_key(uint64_t *s, char *key, size_t *klen)
{
	*klen = 1 + rnd(s) % 3;
	for (size_t i = 0; i < *klen; i++)
		key[i] = (char)('a' + rnd(s) % 4);
}

/* n random entries with sequence numbers 1..n (so internal keys are
 * unique), one in five a tombstone; the value names key and sequence. */
static struct ent *rand_entries(uint64_t *s, int n)
{
	struct ent *e = calloc((size_t)n, sizeof(*e));

	assert_non_null(e);
	for (int i = 0; i < n; i++) {
		rand_key(s, e[i].key, &e[i].klen);
		e[i].seq = (uint64_t)i + 1;
		e[i].kind = rnd(s) % 5 ? LSM_KIND_VAL : LSM_KIND_DEL;
		if (e[i].kind == LSM_KIND_VAL)
			e[i].vlen = (size_t)snprintf(e[i].val, sizeof(e[i].val),
						     "%.*s@%d", (int)e[i].klen,
						     e[i].key, i + 1);
	}
	return e;
}

/* Tables written by build_kids: a directory and each table's first key
 * (which the table iterators borrow).  Zero-initialised; tables_free
 * after the iterators are destroyed. */
struct tables {
	char dir[64];
	struct lsm_buf first[8];
	int n;
};

/* Writes memtable m's entries into table j of ts and returns an iterator
 * over it that knows its first key; an empty m gives m's own iterator. */
static struct lsm_iiter *table_of(lsm_memtable *m, struct tables *ts, int j)
{
	struct lsm_sst_opts o = {256, 1 + j % 4, 10}; /* small blocks */
	struct lsm_sst_builder *b;
	struct lsm_iiter *mi, *it;
	char path[LSM_PATH_MAX];
	const uint8_t *k, *v;
	size_t klen, vlen;
	uint64_t size;
	lsm_sst *t;

	assert_int_equal(lsm_mem_iter(m, &mi), LSM_OK);
	mi->ops->first(mi);
	if (!mi->ops->valid(mi))
		return mi;
	if (!ts->dir[0]) {
		strcpy(ts->dir, "/tmp/test_iter.XXXXXX");
		assert_non_null(mkdtemp(ts->dir));
	}
	lsm_file_path(path, ts->dir, (uint64_t)j + 1, "sst");
	assert_int_equal(lsm_sst_builder_create(lsm_env_posix(), path, &o, &b),
			 LSM_OK);
	k = mi->ops->key(mi, &klen);
	assert_int_equal(lsm_buf_set(&ts->first[j], k, klen), LSM_OK);
	for (; mi->ops->valid(mi); mi->ops->next(mi)) {
		k = mi->ops->key(mi, &klen);
		v = mi->ops->value(mi, &vlen);
		assert_int_equal(lsm_sst_builder_add(b, k, klen, v, vlen),
				 LSM_OK);
	}
	mi->ops->destroy(mi);
	assert_int_equal(lsm_sst_builder_finish(b, &size), LSM_OK);
	assert_int_equal(lsm_sst_open(lsm_env_posix(), path, (uint64_t)j + 1,
				      size, NULL, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	lsm_sst_unref(t);
	lsm_sst_iter_first_key(it, ts->first[j].data, ts->first[j].len);
	ts->n = j + 1 > ts->n ? j + 1 : ts->n;
	return it;
}

static void tables_free(struct tables *ts)
{
	char path[LSM_PATH_MAX];

	for (int j = 0; j < 8; j++) {
		lsm_buf_free(&ts->first[j]);
		if (ts->dir[0]) {
			lsm_file_path(path, ts->dir, (uint64_t)j + 1, "sst");
			unlink(path);
		}
	}
	if (ts->dir[0])
		rmdir(ts->dir);
	memset(ts, 0, sizeof(*ts));
}

/* Spreads entries over nmem memtables and returns one iterator per
 * memtable in kids (the memtables are referenced only by those).  With
 * ts, every child is a table iterator that knows its first key (empty
 * ones stay memtables), and half the entries go to the child of their
 * key's first letter, so that children cover ranges that a seek often
 * falls before or between (lazy seeks). */
static void build_kids_in(uint64_t *s, const struct ent *e, int n, int nmem,
			  struct lsm_iiter **kids, struct tables *ts)
{
	lsm_memtable *m[8];

	assert_true(nmem <= 8);
	for (int j = 0; j < nmem; j++)
		assert_int_equal(lsm_mem_create(&m[j]), LSM_OK);
	for (int i = 0; i < n; i++) {
		uint64_t j = rnd(s) % (uint64_t)nmem;
		if (ts && rnd(s) % 2)
			j = (uint64_t)(e[i].key[0] - 'a') % (uint64_t)nmem;
		assert_int_equal(lsm_mem_add(m[j], e[i].seq, e[i].kind,
					     e[i].key, e[i].klen, e[i].val,
					     e[i].vlen),
				 LSM_OK);
	}
	for (int j = 0; j < nmem; j++) {
		if (ts)
			kids[j] = table_of(m[j], ts, j);
		else
			assert_int_equal(lsm_mem_iter(m[j], &kids[j]), LSM_OK);
		lsm_mem_unref(m[j]);
	}
}

/* ---- merging iterator --------------------------------------------------- */

/* Asserts that it is valid exactly when 0 <= pos < n, and then at e[pos]. */
static void check_merge_at(struct lsm_iiter *it, const struct ent *e, int n,
			   int pos)
{
	const uint8_t *k, *v;
	size_t klen, vlen;

	if (pos < 0 || pos >= n) {
		assert_false(it->ops->valid(it));
		return;
	}
	assert_true(it->ops->valid(it));
	k = it->ops->key(it, &klen);
	v = it->ops->value(it, &vlen);
	assert_int_equal(klen, e[pos].klen + LSM_TRAILER);
	assert_memory_equal(k, e[pos].key, e[pos].klen);
	assert_int_equal(lsm_ikey_seq(k, klen), e[pos].seq);
	assert_int_equal(lsm_ikey_kind(k, klen), e[pos].kind);
	assert_int_equal(vlen, e[pos].vlen);
	assert_memory_equal(v, e[pos].val, vlen);
}

/* Only the key of e[pos] (not the value). */
static void check_merge_key(struct lsm_iiter *it, const struct ent *e,
			    int pos)
{
	const uint8_t *k;
	size_t klen;

	assert_true(it->ops->valid(it));
	k = it->ops->key(it, &klen);
	assert_int_equal(klen, e[pos].klen + LSM_TRAILER);
	assert_memory_equal(k, e[pos].key, e[pos].klen);
	assert_int_equal(lsm_ikey_seq(k, klen), e[pos].seq);
}

/* The model's position for seek(target): first entry >= target. */
static int model_seek(const struct ent *e, int n, const struct ent *target)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (ent_cmp(&e[mid], target) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* With tables: the children are table iterators (build_kids_in). */
static void merge_round(uint64_t *s, int nkids, int n, bool tables)
{
	struct lsm_iiter *kids[8], *it;
	struct ent *e = rand_entries(s, n);
	struct lsm_buf ik = {0};
	struct tables ts = {0};
	int pos, i;

	build_kids_in(s, e, n, nkids, kids, tables ? &ts : NULL);
	qsort(e, (size_t)n, sizeof(*e), ent_cmp);
	assert_int_equal(lsm_merge_iter(kids, nkids, &it), LSM_OK);

	for (i = 0, it->ops->first(it); i < n; i++, it->ops->next(it))
		check_merge_at(it, e, n, i);
	check_merge_at(it, e, n, n);
	for (i = n - 1, it->ops->last(it); i >= 0; i--, it->ops->prev(it))
		check_merge_at(it, e, n, i);
	check_merge_at(it, e, n, -1);

	/* A random walk; runs of next and prev switch direction often. */
	pos = -1;
	for (int step = 0; step < 3000; step++) {
		uint64_t op = rnd(s) % 16;
		struct ent t = {0};

		if (pos < 0 || pos >= n)
			op = op % 3; /* only first, last, seek reposition */
		switch (op) {
		case 0:
			it->ops->first(it);
			pos = 0;
			break;
		case 1:
			it->ops->last(it);
			pos = n - 1;
			break;
		case 2:
			rand_key(s, t.key, &t.klen);
			t.seq = rnd(s) % ((uint64_t)n + 2);
			t.kind = (int)(rnd(s) % 2);
			assert_int_equal(lsm_ikey_make(&ik, t.key, t.klen, t.seq,
						       t.kind), LSM_OK);
			it->ops->seek(it, ik.data, ik.len);
			pos = model_seek(e, n, &t);
			break;
		default:
			if (op < 9) {
				it->ops->next(it);
				pos++;
			} else {
				it->ops->prev(it);
				pos--;
			}
		}
		/* Sometimes move on having seen the key only: a lazy child
		 * then moves without having shown its value. */
		if (tables && pos >= 0 && pos < n && rnd(s) % 3 == 0)
			check_merge_key(it, e, pos);
		else
			check_merge_at(it, e, n, pos);
	}
	assert_int_equal(it->ops->status(it), LSM_OK);
	it->ops->destroy(it);
	tables_free(&ts);
	lsm_buf_free(&ik);
	free(e);
}

static void test_merge_random(void **state)
{
	uint64_t s = test_seed();

	(void)state;
	for (int round = 0; round < 12; round++)
		merge_round(&s, 3 + (int)(rnd(&s) % 3), 50 + (int)(rnd(&s) % 400),
			    false);
	merge_round(&s, 4, 0, false); /* every child empty */
	merge_round(&s, 5, 3, false); /* some children empty */
}

/* The same over tables whose iterators know their first keys: seeks
 * before a table's range read none of it until the merge needs it. */
static void test_merge_tables_random(void **state)
{
	uint64_t s = test_seed();

	(void)state;
	for (int round = 0; round < 12; round++)
		merge_round(&s, 2 + (int)(rnd(&s) % 6), 30 + (int)(rnd(&s) % 400),
			    true);
	merge_round(&s, 5, 3, true); /* some children empty */
}

static void test_merge_small(void **state)
{
	struct lsm_iiter *it, *kid;
	lsm_memtable *m;

	(void)state;
	assert_int_equal(lsm_merge_iter(NULL, 0, &it), LSM_OK);
	it->ops->first(it);
	assert_false(it->ops->valid(it));
	it->ops->last(it);
	assert_false(it->ops->valid(it));
	assert_int_equal(it->ops->status(it), LSM_OK);
	it->ops->destroy(it);

	assert_int_equal(lsm_mem_create(&m), LSM_OK);
	assert_int_equal(lsm_mem_add(m, 1, LSM_KIND_VAL, "k", 1, "v", 1), LSM_OK);
	assert_int_equal(lsm_mem_iter(m, &kid), LSM_OK);
	lsm_mem_unref(m);
	assert_int_equal(lsm_merge_iter(&kid, 1, &it), LSM_OK);
	assert_ptr_equal(it, kid);
	it->ops->first(it);
	assert_true(it->ops->valid(it));
	it->ops->destroy(it);
}

/* ---- a child that fails, and a child that records its destruction ------ */

struct fake_iter {
	struct lsm_iiter base;
	struct lsm_iiter *in; /* NULL: always invalid, status rc */
	int rc;
	bool *destroyed;
};

#define FAKE(it) ((struct fake_iter *)(it))
static bool fake_valid(struct lsm_iiter *it)
{
	return FAKE(it)->in && FAKE(it)->in->ops->valid(FAKE(it)->in);
}
static void fake_first(struct lsm_iiter *it)
{
	if (FAKE(it)->in)
		FAKE(it)->in->ops->first(FAKE(it)->in);
}
static void fake_last(struct lsm_iiter *it)
{
	if (FAKE(it)->in)
		FAKE(it)->in->ops->last(FAKE(it)->in);
}
static void fake_seek(struct lsm_iiter *it, const uint8_t *ik, size_t n)
{
	if (FAKE(it)->in)
		FAKE(it)->in->ops->seek(FAKE(it)->in, ik, n);
}
static void fake_next(struct lsm_iiter *it)
{
	FAKE(it)->in->ops->next(FAKE(it)->in);
}
static void fake_prev(struct lsm_iiter *it)
{
	FAKE(it)->in->ops->prev(FAKE(it)->in);
}
static const uint8_t *fake_key(struct lsm_iiter *it, size_t *n)
{
	return FAKE(it)->in->ops->key(FAKE(it)->in, n);
}
static const uint8_t *fake_value(struct lsm_iiter *it, size_t *n)
{
	return FAKE(it)->in->ops->value(FAKE(it)->in, n);
}
static int fake_status(struct lsm_iiter *it)
{
	return FAKE(it)->in ? FAKE(it)->in->ops->status(FAKE(it)->in)
			    : FAKE(it)->rc;
}
static void fake_destroy(struct lsm_iiter *it)
{
	if (FAKE(it)->in)
		FAKE(it)->in->ops->destroy(FAKE(it)->in);
	if (FAKE(it)->destroyed)
		*FAKE(it)->destroyed = true;
	free(it);
}
static const struct lsm_iiter_ops fake_ops = {
	.valid = fake_valid, .first = fake_first, .last = fake_last,
	.seek = fake_seek, .next = fake_next, .prev = fake_prev,
	.key = fake_key, .value = fake_value, .status = fake_status,
	.destroy = fake_destroy,
};

static struct lsm_iiter *fake_new(struct lsm_iiter *in, int rc,
				  bool *destroyed)
{
	struct fake_iter *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->base.ops = &fake_ops;
	f->in = in;
	f->rc = rc;
	f->destroyed = destroyed;
	return &f->base;
}

static void test_child_error(void **state)
{
	struct lsm_iiter *kids[2], *merged;
	lsm_memtable *m;
	lsm_iter *it;

	(void)state;
	assert_int_equal(lsm_mem_create(&m), LSM_OK);
	assert_int_equal(lsm_mem_add(m, 1, LSM_KIND_VAL, "k", 1, "v", 1), LSM_OK);
	assert_int_equal(lsm_mem_iter(m, &kids[0]), LSM_OK);
	lsm_mem_unref(m);
	kids[1] = fake_new(NULL, LSM_EIO, NULL);
	assert_int_equal(lsm_merge_iter(kids, 2, &merged), LSM_OK);
	merged->ops->first(merged);
	assert_int_equal(merged->ops->status(merged), LSM_EIO);

	assert_int_equal(lsm_user_iter(merged, 10, NULL, NULL, &it), LSM_OK);
	lsm_iter_first(it);
	assert_false(lsm_iter_valid(it));
	assert_int_equal(lsm_iter_status(it), LSM_EIO);
	lsm_iter_last(it);
	assert_false(lsm_iter_valid(it));
	lsm_iter_close(it);
}

/* ---- user iterator ------------------------------------------------------ */

struct close_ctx {
	bool internal_destroyed;
	int calls;
	bool destroyed_first;
};

static void on_close(void *arg)
{
	struct close_ctx *c = arg;

	c->calls++;
	c->destroyed_first = c->internal_destroyed;
}

/* The model's view at seq: for each user key, its newest entry with
 * sequence <= seq, kept only if it is a value.  e is sorted. */
static int model_view(const struct ent *e, int n, uint64_t seq,
		      const struct ent **view)
{
	const struct ent *decided = NULL; /* key whose version is chosen */
	int nv = 0;

	for (int i = 0; i < n; i++) {
		if (e[i].seq > seq)
			continue;
		if (decided && decided->klen == e[i].klen &&
		    !memcmp(decided->key, e[i].key, e[i].klen))
			continue; /* an older version */
		decided = &e[i];
		if (e[i].kind == LSM_KIND_VAL)
			view[nv++] = &e[i];
	}
	return nv;
}

static void check_user_at(lsm_iter *it, const struct ent **view, int nv,
			  int pos)
{
	const void *k, *v;
	size_t klen, vlen;

	assert_int_equal(lsm_iter_status(it), LSM_OK);
	if (pos < 0 || pos >= nv) {
		assert_false(lsm_iter_valid(it));
		return;
	}
	assert_true(lsm_iter_valid(it));
	k = lsm_iter_key(it, &klen);
	v = lsm_iter_value(it, &vlen);
	assert_int_equal(klen, view[pos]->klen);
	assert_memory_equal(k, view[pos]->key, klen);
	assert_int_equal(vlen, view[pos]->vlen);
	assert_memory_equal(v, view[pos]->val, vlen);
}

/* The model's position for lsm_iter_seek(key): first visible key >= it. */
static int view_seek(const struct ent **view, int nv, const char *key,
		     size_t klen)
{
	int i = 0;

	while (i < nv && lsm_ukey_cmp((const uint8_t *)view[i]->key,
				      view[i]->klen, (const uint8_t *)key,
				      klen) < 0)
		i++;
	return i;
}

/* lsm_user_iter_merge's context: points at the test's close_ctx. */
struct close_ptrs {
	struct close_ctx *cc;
};

static void on_close_ptrs(void *arg)
{
	on_close(((struct close_ptrs *)arg)->cc);
}

/* one_block: lsm_user_iter_merge (the iterator, merging iterator and
 * context in one allocation) instead of lsm_user_iter(lsm_merge_iter). */
static void user_round(uint64_t *s, int nmem, int n, uint64_t seq,
		       bool one_block, bool tables)
{
	struct lsm_iiter *kids[8], *merged;
	struct ent *e = rand_entries(s, n);
	const struct ent **view = calloc((size_t)n + 1, sizeof(*view));
	struct close_ctx cc = {0};
	struct tables ts = {0};
	lsm_iter *it;
	int nv, pos, i;

	assert_non_null(view);
	build_kids_in(s, e, n, nmem, kids, tables ? &ts : NULL);
	qsort(e, (size_t)n, sizeof(*e), ent_cmp);
	nv = model_view(e, n, seq, view);
	if (one_block) {
		void *ctx = NULL;
		/* Destroyed with the others, before on_close. */
		kids[0] = fake_new(kids[0], LSM_OK, &cc.internal_destroyed);
		assert_int_equal(lsm_user_iter_merge(kids, nmem, seq,
						     on_close_ptrs,
						     sizeof(struct close_ptrs),
						     &ctx, &it),
				 LSM_OK);
		assert_null(((struct close_ptrs *)ctx)->cc); /* zeroed */
		((struct close_ptrs *)ctx)->cc = &cc;
	} else {
		assert_int_equal(lsm_merge_iter(kids, nmem, &merged), LSM_OK);
		merged = fake_new(merged, LSM_OK, &cc.internal_destroyed);
		assert_int_equal(lsm_user_iter(merged, seq, on_close, &cc,
					       &it),
				 LSM_OK);
	}

	for (i = 0, lsm_iter_first(it); i < nv; i++, lsm_iter_next(it))
		check_user_at(it, view, nv, i);
	check_user_at(it, view, nv, nv);
	for (i = nv - 1, lsm_iter_last(it); i >= 0; i--, lsm_iter_prev(it))
		check_user_at(it, view, nv, i);
	check_user_at(it, view, nv, -1);

	pos = -1;
	for (int step = 0; step < 1500; step++) {
		uint64_t op = rnd(s) % 16;
		char key[8];
		size_t klen;

		if (pos < 0 || pos >= nv)
			op = op % 3;
		switch (op) {
		case 0:
			lsm_iter_first(it);
			pos = 0;
			break;
		case 1:
			lsm_iter_last(it);
			pos = nv - 1;
			break;
		case 2:
			rand_key(s, key, &klen);
			lsm_iter_seek(it, key, klen);
			pos = view_seek(view, nv, key, klen);
			break;
		default:
			if (op < 9) {
				lsm_iter_next(it);
				pos++;
			} else {
				lsm_iter_prev(it);
				pos--;
			}
		}
		check_user_at(it, view, nv, pos);
	}
	lsm_iter_close(it);
	assert_int_equal(cc.calls, 1);
	assert_true(cc.destroyed_first);
	tables_free(&ts);
	free(view);
	free(e);
}

static void test_user_random(void **state)
{
	uint64_t s = test_seed();

	(void)state;
	for (int round = 0; round < 16; round++) {
		int n = 20 + (int)(rnd(&s) % 300);
		/* snapshots from before the first write to after the last */
		uint64_t seq = round == 0 ? 0 :
			       round == 1 ? LSM_SEQ_MAX :
			       rnd(&s) % ((uint64_t)n + 1);

		user_round(&s, 1 + (int)(rnd(&s) % 4), n, seq, round % 2,
			   round % 3 == 2);
	}
}

/* Keys longer than the user iterator's inline key buffer (128 bytes):
 * skipping versions, seeking and stepping back all keep them whole. */
static void test_user_long_keys(void **state)
{
	lsm_memtable *m[3];
	struct lsm_iiter *kids[3];
	struct close_ctx cc = {0};
	char key[400], want[400];
	const void *k;
	size_t klen;
	void *ctx = NULL;
	lsm_iter *it;
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		assert_int_equal(lsm_mem_create(&m[i]), LSM_OK);
	/* Key i: i + 1 bytes of 'k' (lengths 1..300), three versions each,
	 * one per memtable; the newest of every third key a tombstone. */
	for (i = 0; i < 300; i++) {
		memset(key, 'k', (size_t)i + 1);
		for (int v = 0; v < 3; v++) {
			int kind = v == 2 && i % 3 == 0 ? LSM_KIND_DEL
							: LSM_KIND_VAL;
			assert_int_equal(lsm_mem_add(m[v], (uint64_t)(3 * i + v + 1),
						     kind, key, (size_t)i + 1,
						     "v", 1),
					 LSM_OK);
		}
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(lsm_mem_iter(m[i], &kids[i]), LSM_OK);
		lsm_mem_unref(m[i]);
	}
	assert_int_equal(lsm_user_iter_merge(kids, 3, LSM_SEQ_MAX,
					     on_close_ptrs,
					     sizeof(struct close_ptrs), &ctx,
					     &it),
			 LSM_OK);
	((struct close_ptrs *)ctx)->cc = &cc;
	/* Forward: keys of lengths 2, 3, 5, 6, ... (every third deleted). */
	i = 0;
	for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		while (i % 3 == 0)
			i++;
		k = lsm_iter_key(it, &klen);
		assert_int_equal(klen, (size_t)i + 1);
		memset(want, 'k', klen);
		assert_memory_equal(k, want, klen);
		i++;
	}
	assert_int_equal(i, 300);
	/* Backward, then a seek to a long key and steps both ways. */
	i = 299;
	for (lsm_iter_last(it); lsm_iter_valid(it); lsm_iter_prev(it)) {
		while (i % 3 == 0)
			i--;
		k = lsm_iter_key(it, &klen);
		assert_int_equal(klen, (size_t)i + 1);
		i--;
	}
	assert_int_equal(lsm_iter_status(it), LSM_OK);
	memset(key, 'k', 250);
	lsm_iter_seek(it, key, 250); /* key 249 (length 250) is deleted */
	k = lsm_iter_key(it, &klen);
	assert_int_equal(klen, 251);
	lsm_iter_prev(it);
	k = lsm_iter_key(it, &klen);
	assert_int_equal(klen, 249);
	assert_memory_equal(k, key, klen);
	lsm_iter_next(it);
	lsm_iter_next(it);
	k = lsm_iter_key(it, &klen);
	assert_int_equal(klen, 252);
	memset(want, 'k', klen);
	assert_memory_equal(k, want, klen);
	assert_int_equal(lsm_iter_status(it), LSM_OK);
	lsm_iter_close(it);
	assert_int_equal(cc.calls, 1);

	/* No children: never valid; on_close still runs once. */
	cc.calls = 0;
	assert_int_equal(lsm_user_iter_merge(NULL, 0, LSM_SEQ_MAX,
					     on_close_ptrs,
					     sizeof(struct close_ptrs), &ctx,
					     &it),
			 LSM_OK);
	((struct close_ptrs *)ctx)->cc = &cc;
	lsm_iter_first(it);
	assert_false(lsm_iter_valid(it));
	lsm_iter_seek(it, key, 300);
	assert_false(lsm_iter_valid(it));
	lsm_iter_close(it);
	assert_int_equal(cc.calls, 1);
}

/* Collects the user iterator's view as "k=v" joined by spaces. */
static void user_walk(lsm_iter *it, bool backward, char *out, size_t cap)
{
	size_t off = 0, klen, vlen;
	const char *k, *v;

	out[0] = 0;
	for (backward ? lsm_iter_last(it) : lsm_iter_first(it);
	     lsm_iter_valid(it);
	     backward ? lsm_iter_prev(it) : lsm_iter_next(it)) {
		k = lsm_iter_key(it, &klen);
		v = lsm_iter_value(it, &vlen);
		off += (size_t)snprintf(out + off, cap - off, "%s%.*s=%.*s",
					off ? " " : "", (int)klen, k, (int)vlen,
					v);
		assert_true(off < cap);
	}
	assert_int_equal(lsm_iter_status(it), LSM_OK);
}

static lsm_iter *user_over(lsm_memtable *m, uint64_t seq)
{
	struct lsm_iiter *in;
	lsm_iter *it;

	assert_int_equal(lsm_mem_iter(m, &in), LSM_OK);
	assert_int_equal(lsm_user_iter(in, seq, NULL, NULL, &it), LSM_OK);
	return it;
}

static void test_user_versions(void **state)
{
	lsm_memtable *m;
	lsm_iter *it;
	char s[256];

	(void)state;
	assert_int_equal(lsm_mem_create(&m), LSM_OK);
#define PUT(q, k, v) assert_int_equal(lsm_mem_add(m, q, LSM_KIND_VAL, k, \
				      strlen(k), v, strlen(v)), LSM_OK)
#define DEL(q, k) assert_int_equal(lsm_mem_add(m, q, LSM_KIND_DEL, k, \
				   strlen(k), NULL, 0), LSM_OK)
	PUT(1, "a", "a1");
	PUT(2, "b", "b2");
	PUT(3, "c", "c3");
	DEL(4, "b");
	PUT(5, "a", "a5");
	PUT(6, "b", "");
	DEL(7, "c");
	PUT(8, "d", "d8");
#undef PUT
#undef DEL
	static const char *want[][2] = {
		{"", ""},
		{"a=a1", "a=a1"},
		{"a=a1 b=b2", "b=b2 a=a1"},
		{"a=a1 b=b2 c=c3", "c=c3 b=b2 a=a1"},
		{"a=a1 c=c3", "c=c3 a=a1"},
		{"a=a5 c=c3", "c=c3 a=a5"},
		{"a=a5 b= c=c3", "c=c3 b= a=a5"},
		{"a=a5 b=", "b= a=a5"},
		{"a=a5 b= d=d8", "d=d8 b= a=a5"},
	};
	for (uint64_t q = 0; q <= 8; q++) {
		it = user_over(m, q);
		user_walk(it, false, s, sizeof(s));
		assert_string_equal(s, want[q][0]);
		user_walk(it, true, s, sizeof(s));
		assert_string_equal(s, want[q][1]);
		lsm_iter_close(it);
	}

	/* As of 4: seek into the hidden b lands on c; prev from there
	 * switches direction and must skip b's tombstone and newer b. */
	it = user_over(m, 4);
	lsm_iter_seek(it, "b", 1);
	assert_true(lsm_iter_valid(it));
	size_t klen, vlen;
	const char *k = lsm_iter_key(it, &klen);
	assert_int_equal(klen, 1);
	assert_memory_equal(k, "c", 1);
	lsm_iter_prev(it);
	k = lsm_iter_key(it, &klen);
	assert_memory_equal(k, "a", 1);
	assert_memory_equal(lsm_iter_value(it, &vlen), "a1", 2);
	lsm_iter_next(it);
	k = lsm_iter_key(it, &klen);
	assert_memory_equal(k, "c", 1);
	lsm_iter_next(it);
	assert_false(lsm_iter_valid(it));
	lsm_iter_next(it); /* no-op when invalid */
	assert_false(lsm_iter_valid(it));
	lsm_iter_seek(it, "e", 1);
	assert_false(lsm_iter_valid(it));
	lsm_iter_close(it);
	lsm_mem_unref(m);
}

/* Backward over a big value then a small one: the saved value's buffer
 * is given up and refilled (checked by ASan and the contents). */
static void test_user_big_value(void **state)
{
	size_t big = 3u << 20, vlen, klen;
	uint8_t *v = malloc(big);
	const uint8_t *got;
	lsm_memtable *m;
	lsm_iter *it;

	(void)state;
	assert_non_null(v);
	memset(v, 'x', big);
	assert_int_equal(lsm_mem_create(&m), LSM_OK);
	assert_int_equal(lsm_mem_add(m, 1, LSM_KIND_VAL, "a", 1, "small", 5),
			 LSM_OK);
	assert_int_equal(lsm_mem_add(m, 2, LSM_KIND_VAL, "b", 1, v, big),
			 LSM_OK);
	it = user_over(m, 2);
	lsm_iter_last(it);
	got = lsm_iter_value(it, &vlen);
	assert_int_equal(vlen, big);
	assert_memory_equal(got, v, big);
	lsm_iter_prev(it);
	assert_memory_equal(lsm_iter_key(it, &klen), "a", 1);
	got = lsm_iter_value(it, &vlen);
	assert_int_equal(vlen, 5);
	assert_memory_equal(got, "small", 5);
	lsm_iter_next(it);
	got = lsm_iter_value(it, &vlen);
	assert_int_equal(vlen, big);
	lsm_iter_close(it);
	lsm_mem_unref(m);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_small),
		cmocka_unit_test(test_merge_random),
		cmocka_unit_test(test_merge_tables_random),
		cmocka_unit_test(test_child_error),
		cmocka_unit_test(test_user_versions),
		cmocka_unit_test(test_user_random),
		cmocka_unit_test(test_user_long_keys),
		cmocka_unit_test(test_user_big_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
