/*
 * test_sst.c — SSTable builder and reader against an in-memory model:
 * round trips (gets at many sequences, scans both ways, seeks), bloom
 * filter false positives, and corruption of data blocks, the index and
 * the footer (which must be reported, never crash).
 * Seed: env LSM_SEED (default 1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsm_int.h"

static uint64_t seed = 1;
static uint64_t rng;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* ---- an env that counts, and maps or not ------------------------------ */

/* The POSIX env with reads and maps counted.  MAP_ON passes maps through,
 * MAP_NONE has no map method (the env of a store that cannot map), and
 * MAP_FAIL has one that always fails (mmap refused). */
enum map_mode { MAP_ON, MAP_NONE, MAP_FAIL };
struct count_env {
	lsm_env env;
	enum map_mode mode;
	atomic_int reads, maps, unmaps, appends;
	uint64_t appended; /* bytes */
};

static int cnt_read(lsm_env *env, lsm_file *f, uint64_t off, void *buf,
		    size_t n, size_t *nread)
{
	struct count_env *ce = (struct count_env *)env;

	atomic_fetch_add(&ce->reads, 1);
	return lsm_env_posix()->read(lsm_env_posix(), f, off, buf, n, nread);
}

static int cnt_append(lsm_env *env, lsm_file *f, const void *buf, size_t n)
{
	struct count_env *ce = (struct count_env *)env;

	atomic_fetch_add(&ce->appends, 1);
	ce->appended += n;
	return lsm_env_posix()->append(lsm_env_posix(), f, buf, n);
}

static int cnt_map(lsm_env *env, lsm_file *f, uint64_t size,
		   const void **addr)
{
	struct count_env *ce = (struct count_env *)env;

	*addr = NULL;
	if (ce->mode == MAP_FAIL)
		return LSM_ERR(LSM_EIO, "mmap: refused by the test");
	atomic_fetch_add(&ce->maps, 1);
	return lsm_env_posix()->map(lsm_env_posix(), f, size, addr);
}

static int cnt_unmap(lsm_env *env, lsm_file *f, const void *addr,
		     uint64_t size)
{
	struct count_env *ce = (struct count_env *)env;

	atomic_fetch_add(&ce->unmaps, 1);
	return lsm_env_posix()->unmap(lsm_env_posix(), f, addr, size);
}

static void count_env_init(struct count_env *ce, enum map_mode mode)
{
	ce->env = *lsm_env_posix();
	ce->env.read = cnt_read;
	ce->env.append = cnt_append;
	ce->env.map = mode == MAP_NONE ? NULL : cnt_map;
	ce->env.unmap = mode == MAP_NONE ? NULL : cnt_unmap;
	ce->mode = mode;
	atomic_init(&ce->reads, 0);
	atomic_init(&ce->maps, 0);
	atomic_init(&ce->unmaps, 0);
	atomic_init(&ce->appends, 0);
	ce->appended = 0;
}

/* ---- temp dirs and raw file access ---------------------------------- */

struct fixture {
	char dir[64];
	char path[LSM_PATH_MAX];
	lsm_env *env;
	struct count_env ce;
};

static int setup_mode(void **state, enum map_mode mode)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/test_sst.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	lsm_file_path(fx->path, fx->dir, 7, "sst");
	count_env_init(&fx->ce, mode);
	fx->env = &fx->ce.env;
	rng = seed;
	*state = fx;
	return 0;
}

/* Tables mapped (the POSIX env's default). */
static int setup(void **state)
{
	return setup_mode(state, MAP_ON);
}

/* Tables read with pread: an env without map. */
static int setup_read(void **state)
{
	return setup_mode(state, MAP_NONE);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	DIR *d = opendir(fx->dir);
	struct dirent *de;
	char p[LSM_PATH_MAX + 300];

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", fx->dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static void file_rw(const char *path, uint64_t off, void *buf, size_t n,
		    bool write)
{
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	if (write)
		assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	else
		assert_int_equal(pread(fd, buf, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void flip_byte(const char *path, uint64_t off, uint8_t mask)
{
	uint8_t b;

	file_rw(path, off, &b, 1, false);
	b ^= mask;
	file_rw(path, off, &b, 1, true);
}

/* The test's own reading of the format (the essay in sst.c): the data
 * block handles listed in the index, and the index handle. */
struct handle {
	uint64_t off, size;
	uint8_t key[64];
	size_t klen;
};

static size_t read_index(const char *path, struct handle **out,
			 struct handle *index)
{
	uint64_t size = file_size(path);
	uint8_t foot[56], *blk;
	const uint8_t *p, *limit;
	struct handle *h = NULL;
	size_t n = 0;

	file_rw(path, size - 56, foot, 56, false);
	index->off = lsm_get_u64le(foot);
	index->size = lsm_get_u64le(foot + 8);
	blk = malloc(index->size);
	file_rw(path, index->off, blk, index->size, false);
	limit = blk + index->size - 4 -
		4 * lsm_get_u32le(blk + index->size - 4);
	for (p = blk; p < limit; n++) {
		uint64_t shared, unshared, vlen;
		assert_int_equal(lsm_varint_get(&p, limit, &shared), 0);
		assert_int_equal(lsm_varint_get(&p, limit, &unshared), 0);
		assert_int_equal(lsm_varint_get(&p, limit, &vlen), 0);
		assert_int_equal(shared, 0);
		h = realloc(h, (n + 1) * sizeof(*h));
		assert_true(unshared <= sizeof(h[n].key));
		memcpy(h[n].key, p, unshared);
		h[n].klen = unshared;
		p += unshared;
		assert_int_equal(lsm_varint_get(&p, limit, &h[n].off), 0);
		assert_int_equal(lsm_varint_get(&p, limit, &h[n].size), 0);
	}
	free(blk);
	*out = h;
	return n;
}

/* Rewrites the checksum of the block (off, size) after an edit, so that
 * the reader's structural checks, not the CRC, must catch the damage. */
static void fix_crc(const char *path, uint64_t off, uint64_t size)
{
	uint8_t *b = malloc(size + 5);

	file_rw(path, off, b, size + 5, false);
	lsm_put_u32le(b + size + 1, lsm_crc32c(lsm_crc32c(0, b, size),
					       b + size, 1));
	file_rw(path, off + size + 1, b + size + 1, 4, true);
	free(b);
}

/* ---- the model ------------------------------------------------------- */

struct ent {
	uint8_t ik[32];
	size_t iklen;
	uint32_t vlen;
	uint32_t vseed;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	return lsm_ikey_cmp(x->ik, x->iklen, y->ik, y->iklen);
}

static void value_fill(uint8_t *v, uint32_t vlen, uint32_t vseed)
{
	for (uint32_t i = 0; i < vlen; i++)
		v[i] = (uint8_t)(vseed * 31 + i * 7 + (i >> 5));
}

/* Random user key: shared prefixes, some keys prefixes of others. */
static size_t make_ukey(uint8_t *k, uint64_t r)
{
	int n = snprintf((char *)k, 24, "k%05u", (unsigned)(r % 60000));
	int extra = (int)((r >> 20) % 4);

	for (int i = 0; i < extra; i++)
		k[n++] = (uint8_t)('a' + ((r >> (24 + 3 * i)) & 7));
	return (size_t)n;
}

/* n entries sorted in internal order: user keys with 1..4 versions,
 * about a fifth of them tombstones, values of 0..200 bytes with a few
 * larger than a block. */
static struct ent *model_make(size_t n, size_t *count)
{
	struct ent *e = calloc(n, sizeof(*e));
	size_t i = 0, j;

	while (i < n) {
		uint8_t uk[24];
		size_t ulen = make_ukey(uk, rnd());
		int versions = 1 + (int)(rnd() % 4);
		for (int v = 0; v < versions && i < n; v++, i++) {
			uint64_t seq = 1 + rnd() % 1000000;
			int kind = rnd() % 5 == 0 ? LSM_KIND_DEL : LSM_KIND_VAL;
			memcpy(e[i].ik, uk, ulen);
			lsm_put_u64le(e[i].ik + ulen, seq << 8 | (uint64_t)kind);
			e[i].iklen = ulen + LSM_TRAILER;
			e[i].vseed = (uint32_t)rnd();
			e[i].vlen = kind == LSM_KIND_DEL ? 0
				    : rnd() % 500 == 0 ? 5000 + rnd() % 5000
						       : (uint32_t)(rnd() % 200);
		}
	}
	qsort(e, n, sizeof(*e), ent_cmp);
	/* Drop duplicate internal keys (same user key, seq and kind). */
	for (i = 0, j = 0; i < n; i++)
		if (j == 0 || ent_cmp(&e[j - 1], &e[i]) != 0)
			e[j++] = e[i];
	*count = j;
	return e;
}

static void build(struct fixture *fx, const struct ent *e, size_t n,
		  size_t block_size, int bloom_bits, uint64_t *size)
{
	struct lsm_sst_opts o = {block_size, 16, bloom_bits};
	struct lsm_sst_builder *b;
	uint8_t *v = malloc(10000);

	assert_int_equal(lsm_sst_builder_create(fx->env, fx->path, &o, &b),
			 LSM_OK);
	for (size_t i = 0; i < n; i++) {
		value_fill(v, e[i].vlen, e[i].vseed);
		assert_int_equal(lsm_sst_builder_add(b, e[i].ik, e[i].iklen, v,
						     e[i].vlen),
				 LSM_OK);
	}
	assert_int_equal(lsm_sst_builder_entries(b), n);
	assert_int_equal(lsm_sst_builder_finish(b, size), LSM_OK);
	assert_int_equal(*size, file_size(fx->path));
	free(v);
}

static void check_entry(struct lsm_iiter *it, const struct ent *e)
{
	size_t klen, vlen;
	const uint8_t *k = it->ops->key(it, &klen);
	const uint8_t *v = it->ops->value(it, &vlen);
	uint8_t want[10000];

	assert_int_equal(klen, e->iklen);
	assert_memory_equal(k, e->ik, klen);
	assert_int_equal(vlen, e->vlen);
	value_fill(want, e->vlen, e->vseed);
	if (vlen)
		assert_memory_equal(v, want, vlen);
}

/* The newest entry of ukey with seq <= s, or NULL.  lo: index of the
 * first version of ukey. */
static const struct ent *model_get(const struct ent *e, size_t n, size_t lo,
				   uint64_t s)
{
	size_t ulen = e[lo].iklen - LSM_TRAILER;

	for (size_t i = lo; i < n && e[i].iklen - LSM_TRAILER == ulen &&
			    !memcmp(e[i].ik, e[lo].ik, ulen);
	     i++)
		if (lsm_ikey_seq(e[i].ik, e[i].iklen) <= s)
			return &e[i];
	return NULL;
}

static void check_get(lsm_sst *t, const struct ent *e, size_t n, size_t lo,
		      uint64_t s, struct lsm_buf *val, struct lsm_buf *ik)
{
	const struct ent *want = model_get(e, n, lo, s);
	bool found;
	int kind = -1;
	uint8_t v[10000];

	lsm_ikey_make(ik, e[lo].ik, e[lo].iklen - LSM_TRAILER, s,
		      LSM_KIND_VAL);
	assert_int_equal(lsm_sst_get(t, ik->data, ik->len, &found, &kind, val,
				     NULL),
			 LSM_OK);
	assert_int_equal(found, want != NULL);
	if (!want)
		return;
	assert_int_equal(kind, lsm_ikey_kind(want->ik, want->iklen));
	assert_int_equal(val->len, want->vlen);
	value_fill(v, want->vlen, want->vseed);
	if (val->len)
		assert_memory_equal(val->data, v, val->len);
}

static void round_trip(struct fixture *fx, size_t block_size,
		       bool with_cache)
{
	size_t n, i;
	struct ent *e = model_make(100000, &n);
	struct lsm_cache *cache = NULL;
	struct lsm_buf val = {0}, ik = {0};
	struct lsm_iiter *it;
	uint64_t size, hits = 0, misses = 0;
	lsm_sst *t;

	build(fx, e, n, block_size, 10, &size);
	if (with_cache)
		assert_int_equal(lsm_cache_create(1 << 20, &cache), LSM_OK);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, cache, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_verify(t), LSM_OK);

	/* Gets of every user key at its versions' sequences, just below
	 * them, and at the newest and oldest possible sequence. */
	for (i = 0; i < n;) {
		size_t lo = i, ulen = e[i].iklen - LSM_TRAILER;
		check_get(t, e, n, lo, LSM_SEQ_MAX, &val, &ik);
		check_get(t, e, n, lo, 0, &val, &ik);
		for (; i < n && e[i].iklen - LSM_TRAILER == ulen &&
		       !memcmp(e[i].ik, e[lo].ik, ulen);
		     i++) {
			uint64_t s = lsm_ikey_seq(e[i].ik, e[i].iklen);
			check_get(t, e, n, lo, s, &val, &ik);
			check_get(t, e, n, lo, s - 1, &val, &ik);
		}
	}

	/* Full scans. */
	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	i = 0;
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it))
		check_entry(it, &e[i++]);
	assert_int_equal(i, n);
	assert_int_equal(it->ops->status(it), LSM_OK);
	for (it->ops->last(it); it->ops->valid(it); it->ops->prev(it))
		check_entry(it, &e[--i]);
	assert_int_equal(i, 0);
	assert_int_equal(it->ops->status(it), LSM_OK);

	/* Seeks to random keys, present or not, then a few steps each way. */
	for (int s = 0; s < 20000; s++) {
		uint8_t uk[24];
		size_t ulen = make_ukey(uk, rnd()), lo = 0, hi = n;
		struct ent probe;
		memcpy(probe.ik, uk, ulen);
		lsm_put_u64le(probe.ik + ulen,
			      (rnd() % 1000002) << 8 | LSM_KIND_VAL);
		probe.iklen = ulen + LSM_TRAILER;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (ent_cmp(&e[mid], &probe) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		it->ops->seek(it, probe.ik, probe.iklen);
		if (lo == n) {
			assert_false(it->ops->valid(it));
			continue;
		}
		assert_true(it->ops->valid(it));
		check_entry(it, &e[lo]);
		for (size_t k = lo + 1; k < n && k < lo + 3; k++) {
			it->ops->next(it);
			check_entry(it, &e[k]);
		}
		for (size_t k = (lo + 2 < n ? lo + 2 : n - 1); k > lo; k--) {
			it->ops->prev(it);
			check_entry(it, &e[k - 1]);
		}
		it->ops->prev(it);
		if (lo == 0)
			assert_false(it->ops->valid(it));
		else
			check_entry(it, &e[lo - 1]);
	}
	assert_int_equal(it->ops->status(it), LSM_OK);
	it->ops->destroy(it);

	if (cache) {
		lsm_cache_counts(cache, &hits, &misses);
		assert_true(hits > 0 && misses > 0);
	}
	lsm_sst_unref(t);
	lsm_cache_destroy(cache);
	lsm_buf_free(&val);
	lsm_buf_free(&ik);
	free(e);
}

static void test_round_trip_small_blocks(void **state)
{
	round_trip(*state, 256, false);
}

static void test_round_trip_4k_blocks(void **state)
{
	round_trip(*state, 4096, true);
}

/* Absent keys: not found; the bloom filter skips most of them, with a
 * false-positive rate within 2x of (1 - e^(-k/b))^k. */
static void test_bloom(void **state)
{
	struct fixture *fx = *state;
	const size_t n = 100000;
	struct ent *e = calloc(n, sizeof(*e));
	struct lsm_buf val = {0}, ik = {0};
	uint64_t size, skips = 0;
	lsm_sst *t;
	char k[32];
	double fp, theory;

	for (size_t i = 0; i < n; i++) {
		int len = snprintf(k, sizeof(k), "present%08zu", i);
		memcpy(e[i].ik, k, (size_t)len);
		lsm_put_u64le(e[i].ik + len, (uint64_t)(i + 1) << 8 | 1);
		e[i].iklen = (size_t)len + LSM_TRAILER;
		e[i].vlen = 8;
	}
	build(fx, e, n, 4096, 10, &size);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_OK);
	for (size_t i = 0; i < n; i++) {
		bool found = true;
		int kind;
		int len = snprintf(k, sizeof(k), "absent%08zu", i);
		lsm_ikey_make(&ik, k, (size_t)len, LSM_SEQ_MAX, LSM_KIND_VAL);
		assert_int_equal(lsm_sst_get(t, ik.data, ik.len, &found, &kind,
					     &val, &skips),
				 LSM_OK);
		assert_false(found);
	}
	/* Every present key passes the filter. */
	for (size_t i = 0; i < n; i += 97) {
		bool found = false;
		int kind;
		lsm_ikey_make(&ik, e[i].ik, e[i].iklen - 8, LSM_SEQ_MAX, 1);
		assert_int_equal(lsm_sst_get(t, ik.data, ik.len, &found, &kind,
					     &val, &skips),
				 LSM_OK);
		assert_true(found);
	}
	fp = 1.0 - (double)skips / (double)n;
	theory = pow(1.0 - exp(-6.0 / 10.0), 6);
	print_message("bloom: fp %.4f%% theory %.4f%%\n", fp * 100,
		      theory * 100);
	assert_true(fp <= 2 * theory);
	assert_true(fp >= theory / 2);
	lsm_sst_unref(t);

	/* Without a filter nothing is skipped. */
	build(fx, e, 1000, 4096, 0, &size);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_OK);
	skips = 0;
	for (size_t i = 0; i < 1000; i++) {
		bool found;
		int kind;
		int len = snprintf(k, sizeof(k), "absent%08zu", i);
		lsm_ikey_make(&ik, k, (size_t)len, LSM_SEQ_MAX, LSM_KIND_VAL);
		assert_int_equal(lsm_sst_get(t, ik.data, ik.len, &found, &kind,
					     &val, &skips),
				 LSM_OK);
		assert_false(found);
	}
	assert_int_equal(skips, 0);
	lsm_sst_unref(t);
	lsm_buf_free(&val);
	lsm_buf_free(&ik);
	free(e);
}

/* A table of n simple entries "key%06d"; returns the file size. */
static uint64_t build_simple(struct fixture *fx, size_t n, size_t block_size)
{
	struct ent *e = calloc(n, sizeof(*e));
	uint64_t size;

	for (size_t i = 0; i < n; i++) {
		int len = snprintf((char *)e[i].ik, 24, "key%06zu", i);
		lsm_put_u64le(e[i].ik + len, (uint64_t)(i + 1) << 8 | 1);
		e[i].iklen = (size_t)len + LSM_TRAILER;
		e[i].vlen = (uint32_t)(i % 50);
		e[i].vseed = (uint32_t)i;
	}
	build(fx, e, n, block_size, 10, &size);
	free(e);
	return size;
}

static void assert_error_names(const char *path, const char *what)
{
	const char *msg = lsm_last_error();

	if (!strstr(msg, path) || !strstr(msg, what))
		fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", msg, path,
			 what);
}

/* A flipped byte in a data block: get, the iterator and verify report
 * LSM_ECORRUPT naming the file and the block's offset. */
static void test_corrupt_data_block(void **state)
{
	struct fixture *fx = *state;
	uint64_t size = build_simple(fx, 5000, 512);
	struct handle *h, index;
	size_t nh = read_index(fx->path, &h, &index), victim = nh / 2;
	char where[64];
	struct lsm_buf val = {0};
	struct lsm_iiter *it;
	struct lsm_cache *cache;
	bool found;
	int kind, rc;
	size_t seen = 0;
	lsm_sst *t;

	assert_true(nh > 10);
	flip_byte(fx->path, h[victim].off + h[victim].size / 3, 0x40);
	snprintf(where, sizeof(where), "bad block checksum at offset %llu",
		 (unsigned long long)h[victim].off);
	assert_int_equal(lsm_cache_create(1 << 20, &cache), LSM_OK);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, cache, &t),
			 LSM_OK);

	/* A key of another block still reads. */
	assert_int_equal(lsm_sst_get(t, h[0].key, h[0].klen, &found, &kind,
				     &val, NULL),
			 LSM_OK);
	assert_true(found);

	rc = lsm_sst_get(t, h[victim].key, h[victim].klen, &found, &kind,
			 &val, NULL);
	assert_int_equal(rc, LSM_ECORRUPT);
	assert_error_names(fx->path, where);
	/* A bad block is never taken for good: the next read fails too. */
	rc = lsm_sst_get(t, h[victim].key, h[victim].klen, &found, &kind,
			 &val, NULL);
	assert_int_equal(rc, LSM_ECORRUPT);
	assert_error_names(fx->path, where);

	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it))
		seen++;
	assert_int_equal(it->ops->status(it), LSM_ECORRUPT);
	assert_error_names(fx->path, where);
	assert_true(seen > 0 && seen < 5000);
	/* A dead iterator stays dead. */
	it->ops->first(it);
	assert_false(it->ops->valid(it));
	it->ops->destroy(it);

	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	seen = 0;
	for (it->ops->last(it); it->ops->valid(it); it->ops->prev(it))
		seen++;
	assert_int_equal(it->ops->status(it), LSM_ECORRUPT);
	assert_true(seen > 0 && seen < 5000);
	it->ops->destroy(it);

	assert_int_equal(lsm_sst_verify(t), LSM_ECORRUPT);
	assert_error_names(fx->path, where);

	lsm_sst_unref(t);
	lsm_cache_destroy(cache);
	lsm_buf_free(&val);
	free(h);
}

/* verify reads from disk even when the cache holds a good copy (tables
 * read with pread: setup_read). */
static void test_verify_bypasses_cache(void **state)
{
	struct fixture *fx = *state;
	uint64_t size = build_simple(fx, 3000, 512);
	struct handle *h, index;
	size_t nh = read_index(fx->path, &h, &index);
	struct lsm_iiter *it;
	struct lsm_cache *cache;
	size_t seen = 0;
	lsm_sst *t;

	assert_int_equal(lsm_cache_create(1 << 24, &cache), LSM_OK);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, cache, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it))
		seen++;
	assert_int_equal(seen, 3000);
	flip_byte(fx->path, h[nh - 1].off + 1, 1);
	/* Cached: the scan still works... */
	seen = 0;
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it))
		seen++;
	assert_int_equal(seen, 3000);
	it->ops->destroy(it);
	/* ...but verify sees the disk. */
	assert_int_equal(lsm_sst_verify(t), LSM_ECORRUPT);
	lsm_sst_unref(t);
	lsm_cache_destroy(cache);
	free(h);
}

static void get_ok(lsm_sst *t, const struct handle *h, struct lsm_buf *val)
{
	bool found = false;
	int kind = -1;

	assert_int_equal(lsm_sst_get(t, h->key, h->klen, &found, &kind, val,
				     NULL),
			 LSM_OK);
	assert_true(found);
	assert_int_equal(kind, LSM_KIND_VAL);
}

/* A mapped table: data blocks are used in place (no env read after the
 * open), each block's checksum is verified the first time it is used (a
 * miss in the cache counts, later uses hits), and a corrupt block fails
 * every read, naming the file and the offset.  A block once verified is
 * trusted for the life of the open table (tables never change); verify
 * and a fresh open read the disk again. */
static void test_mapped_verified_once(void **state)
{
	struct fixture *fx = *state;
	uint64_t size = build_simple(fx, 5000, 512), hits, misses;
	struct handle *h, index;
	size_t nh = read_index(fx->path, &h, &index), victim = nh / 2;
	struct lsm_buf val = {0};
	struct lsm_cache *cache;
	char where[64];
	bool found;
	int kind, reads;
	lsm_sst *t;

	assert_true(nh > 10);
	assert_int_equal(lsm_cache_create(1 << 20, &cache), LSM_OK);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, cache, &t),
			 LSM_OK);
	assert_int_equal(atomic_load(&fx->ce.maps), 1);
	reads = atomic_load(&fx->ce.reads);

	get_ok(t, &h[0], &val);
	lsm_cache_counts(cache, &hits, &misses);
	assert_int_equal(hits, 0);
	assert_int_equal(misses, 1);
	get_ok(t, &h[0], &val);
	get_ok(t, &h[1], &val);
	lsm_cache_counts(cache, &hits, &misses);
	assert_int_equal(hits, 1);
	assert_int_equal(misses, 2);
	assert_int_equal(atomic_load(&fx->ce.reads), reads);

	/* Damage in a block not used yet. */
	flip_byte(fx->path, h[victim].off + h[victim].size / 3, 0x40);
	snprintf(where, sizeof(where), "bad block checksum at offset %llu",
		 (unsigned long long)h[victim].off);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(lsm_sst_get(t, h[victim].key, h[victim].klen,
					     &found, &kind, &val, NULL),
				 LSM_ECORRUPT);
		assert_error_names(fx->path, where);
	}

	/* Block 0's checksum damaged after its check: reads trust it... */
	flip_byte(fx->path, h[0].off + h[0].size + 1, 0x01);
	get_ok(t, &h[0], &val);
	assert_int_equal(atomic_load(&fx->ce.reads), reads);
	/* ...verify reads the disk... */
	assert_int_equal(lsm_sst_verify(t), LSM_ECORRUPT);
	snprintf(where, sizeof(where), "bad block checksum at offset %llu",
		 (unsigned long long)h[0].off);
	assert_error_names(fx->path, where);
	assert_true(atomic_load(&fx->ce.reads) > reads);
	lsm_sst_unref(t);
	assert_int_equal(atomic_load(&fx->ce.unmaps), 1);

	/* ...and so does the next open. */
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, cache, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_get(t, h[0].key, h[0].klen, &found, &kind,
				     &val, NULL),
			 LSM_ECORRUPT);
	assert_error_names(fx->path, where);
	lsm_sst_unref(t);
	lsm_cache_destroy(cache);
	lsm_buf_free(&val);
	free(h);
}

/* An env whose map fails: the table opens all the same and reads every
 * block with the env's read. */
static void test_map_fails_falls_back(void **state)
{
	struct fixture *fx = *state;
	uint64_t size = build_simple(fx, 3000, 512);
	struct handle *h, index;
	size_t nh = read_index(fx->path, &h, &index);
	struct lsm_buf val = {0};
	struct lsm_iiter *it;
	size_t seen = 0;
	int reads;
	lsm_sst *t;

	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_OK);
	assert_int_equal(atomic_load(&fx->ce.maps), 0);
	reads = atomic_load(&fx->ce.reads);
	for (size_t i = 0; i < nh; i++)
		get_ok(t, &h[i], &val);
	assert_true(atomic_load(&fx->ce.reads) >= reads + (int)nh);
	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it))
		seen++;
	assert_int_equal(it->ops->status(it), LSM_OK);
	assert_int_equal(seen, 3000);
	it->ops->destroy(it);
	assert_int_equal(lsm_sst_verify(t), LSM_OK);
	lsm_sst_unref(t);
	assert_int_equal(atomic_load(&fx->ce.unmaps), 0);
	lsm_buf_free(&val);
	free(h);
}

static int setup_map_fail(void **state)
{
	return setup_mode(state, MAP_FAIL);
}

static void test_bad_footer(void **state)
{
	struct fixture *fx = *state;
	uint64_t size = build_simple(fx, 1000, 1024);
	uint8_t foot[56], copy[56];
	lsm_sst *t = NULL;

	file_rw(fx->path, size - 56, foot, 56, false);
	memcpy(copy, foot, 56);

	/* Bad magic. */
	copy[50] ^= 1;
	file_rw(fx->path, size - 56, copy, 56, true);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_ECORRUPT);
	assert_null(t);
	assert_error_names(fx->path, "bad footer");

	/* Bad footer checksum. */
	memcpy(copy, foot, 56);
	copy[33] ^= 1;
	file_rw(fx->path, size - 56, copy, 56, true);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_ECORRUPT);
	assert_error_names(fx->path, "bad footer");

	/* A newer version. */
	memcpy(copy, foot, 56);
	lsm_put_u32le(copy + 40, 2);
	lsm_put_u32le(copy + 52, lsm_crc32c(0, copy, 52));
	file_rw(fx->path, size - 56, copy, 56, true);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_EVERSION);
	assert_error_names(fx->path, "version");

	/* Version 0 is not a version. */
	lsm_put_u32le(copy + 40, 0);
	lsm_put_u32le(copy + 52, lsm_crc32c(0, copy, 52));
	file_rw(fx->path, size - 56, copy, 56, true);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_ECORRUPT);

	/* An index handle outside the file, with a good footer crc. */
	memcpy(copy, foot, 56);
	lsm_put_u64le(copy, size);
	lsm_put_u32le(copy + 52, lsm_crc32c(0, copy, 52));
	file_rw(fx->path, size - 56, copy, 56, true);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_ECORRUPT);
	lsm_put_u64le(copy, 0);
	lsm_put_u64le(copy + 8, UINT64_MAX - 2);
	lsm_put_u32le(copy + 52, lsm_crc32c(0, copy, 52));
	file_rw(fx->path, size - 56, copy, 56, true);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_ECORRUPT);

	/* Restored, it opens. */
	file_rw(fx->path, size - 56, foot, 56, true);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_OK);
	lsm_sst_unref(t);
	t = NULL;

	/* Truncated: with the expected size, and without (size 0). */
	assert_int_equal(truncate(fx->path, (off_t)size - 1), 0);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_ECORRUPT);
	assert_error_names(fx->path, "bad footer");
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, 0, NULL, &t),
			 LSM_ECORRUPT);
	assert_error_names(fx->path, "bad footer");
	assert_int_equal(truncate(fx->path, 20), 0);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, 0, NULL, &t),
			 LSM_ECORRUPT);
	assert_error_names(fx->path, "bad footer");
	assert_int_equal(truncate(fx->path, 0), 0);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, 0, NULL, &t),
			 LSM_ECORRUPT);
	assert_null(t);

	/* Missing file. */
	unlink(fx->path);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, 0, NULL, &t),
			 LSM_ENOTFOUND);
}

/* Everything the reader can do on a table with one damaged byte (in a
 * block whose checksum is then fixed, so that structural checks must
 * catch it).  Only asserts that nothing crashes and that errors are
 * LSM_ECORRUPT; ASan checks the bounds. */
static void exercise(struct fixture *fx, uint64_t size)
{
	struct lsm_buf val = {0}, ik = {0};
	struct lsm_iiter *it;
	lsm_sst *t;
	int rc, steps = 0;

	rc = lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t);
	if (rc) {
		assert_int_equal(rc, LSM_ECORRUPT);
		return;
	}
	rc = lsm_sst_verify(t);
	assert_true(rc == LSM_OK || rc == LSM_ECORRUPT);
	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	for (it->ops->first(it); it->ops->valid(it) && steps < 100000;
	     it->ops->next(it))
		steps++;
	rc = it->ops->status(it);
	assert_true(rc == LSM_OK || rc == LSM_ECORRUPT);
	it->ops->destroy(it);
	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	for (it->ops->last(it); it->ops->valid(it) && steps < 200000;
	     it->ops->prev(it))
		steps++;
	it->ops->destroy(it);
	for (int i = 0; i < 50; i++) {
		char k[32];
		bool found;
		int kind, len = snprintf(k, sizeof(k), "key%06d",
					 (int)(rnd() % 600));
		lsm_ikey_make(&ik, k, (size_t)len, LSM_SEQ_MAX, 1);
		rc = lsm_sst_get(t, ik.data, ik.len, &found, &kind, &val,
				 NULL);
		assert_true(rc == LSM_OK || rc == LSM_ECORRUPT);
		assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
		it->ops->seek(it, ik.data, ik.len);
		for (int s = 0; s < 5 && it->ops->valid(it); s++)
			it->ops->prev(it);
		it->ops->destroy(it);
	}
	lsm_sst_unref(t);
	lsm_buf_free(&val);
	lsm_buf_free(&ik);
}

static void test_damage_does_not_crash(void **state)
{
	struct fixture *fx = *state;
	uint64_t size = build_simple(fx, 600, 256);
	struct handle *h, index;
	size_t nh = read_index(fx->path, &h, &index);
	uint8_t *orig = malloc(size);

	file_rw(fx->path, 0, orig, size, false);
	for (int round = 0; round < 300; round++) {
		uint64_t r = rnd(), off, bsize;
		size_t which = r % (nh + 1);
		if (which == nh) {
			off = index.off;
			bsize = index.size;
		} else {
			off = h[which].off;
			bsize = h[which].size;
		}
		/* Often hit the restart array and headers at the ends. */
		uint64_t pos = (r >> 16) % 3 == 0 ? bsize - 1 - (r >> 20) % 12
			       : (r >> 16) % 3 == 1 ? (r >> 20) % 8
						    : (r >> 20) % bsize;
		flip_byte(fx->path, off + pos, (uint8_t)(1u << ((r >> 40) % 8)));
		if (round % 3)
			fix_crc(fx->path, off, bsize);
		exercise(fx, size);
		file_rw(fx->path, 0, orig, size, true);
	}
	/* Random bytes anywhere, checksums left as they are. */
	for (int round = 0; round < 100; round++) {
		flip_byte(fx->path, rnd() % size, (uint8_t)(1 + rnd() % 255));
		exercise(fx, size);
		file_rw(fx->path, 0, orig, size, true);
	}
	free(orig);
	free(h);
}

static void test_empty_and_misuse(void **state)
{
	struct fixture *fx = *state;
	struct lsm_sst_opts o = {4096, 16, 10};
	struct lsm_sst_builder *b;
	struct lsm_buf ik = {0}, val = {0};
	struct lsm_iiter *it;
	uint64_t size;
	bool found = true;
	int kind;
	lsm_sst *t;

	/* An empty table. */
	assert_int_equal(lsm_sst_builder_create(fx->env, fx->path, &o, &b),
			 LSM_OK);
	assert_int_equal(lsm_sst_builder_finish(b, &size), LSM_OK);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_verify(t), LSM_OK);
	lsm_ikey_make(&ik, "a", 1, 5, 1);
	assert_int_equal(lsm_sst_get(t, ik.data, ik.len, &found, &kind, &val,
				     NULL),
			 LSM_OK);
	assert_false(found);
	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	lsm_sst_unref(t); /* the iterator keeps it alive */
	it->ops->first(it);
	assert_false(it->ops->valid(it));
	it->ops->last(it);
	assert_false(it->ops->valid(it));
	it->ops->seek(it, ik.data, ik.len);
	assert_false(it->ops->valid(it));
	assert_int_equal(it->ops->status(it), LSM_OK);
	it->ops->destroy(it);

	/* Keys out of order are refused and the builder stays failed. */
	assert_int_equal(lsm_sst_builder_create(fx->env, fx->path, &o, &b),
			 LSM_OK);
	lsm_ikey_make(&ik, "b", 1, 5, 1);
	assert_int_equal(lsm_sst_builder_add(b, ik.data, ik.len, NULL, 0),
			 LSM_OK);
	lsm_ikey_make(&ik, "b", 1, 6, 1); /* newer sorts first */
	assert_int_equal(lsm_sst_builder_add(b, ik.data, ik.len, NULL, 0),
			 LSM_EINVAL);
	lsm_ikey_make(&ik, "c", 1, 6, 1);
	assert_int_equal(lsm_sst_builder_add(b, ik.data, ik.len, NULL, 0),
			 LSM_EINVAL);
	assert_int_equal(lsm_sst_builder_finish(b, &size), LSM_EINVAL);
	assert_int_equal(access(fx->path, F_OK), -1);

	/* Abandon removes the file. */
	assert_int_equal(lsm_sst_builder_create(fx->env, fx->path, &o, &b),
			 LSM_OK);
	assert_int_equal(lsm_sst_builder_add(b, ik.data, ik.len, NULL, 0),
			 LSM_OK);
	assert_true(lsm_sst_builder_size(b) > 0);
	lsm_sst_builder_abandon(b);
	assert_int_equal(access(fx->path, F_OK), -1);
	lsm_buf_free(&ik);
	lsm_buf_free(&val);
}

/* The builder buffers its output: a table of many 4 KiB blocks goes to
 * the file in pieces of about 64 KiB (not two appends per block), the
 * size it reports covers what it buffered, a value larger than the buffer
 * goes through, and finish writes everything. */
static void test_builder_buffers_output(void **state)
{
	struct fixture *fx = *state;
	struct lsm_sst_opts o = {4096, 16, 10};
	struct lsm_sst_builder *b;
	struct lsm_buf ik = {0}, val = {0};
	uint8_t *big = malloc(200000), v[100];
	uint64_t size = 0, last = 0;
	bool found = false;
	int kind = -1;
	lsm_sst *t;

	assert_int_equal(lsm_sst_builder_create(fx->env, fx->path, &o, &b),
			 LSM_OK);
	memset(v, 'v', sizeof(v));
	for (int i = 0; i < 20000; i++) {
		char k[16];
		snprintf(k, sizeof(k), "key%08d", i);
		lsm_ikey_make(&ik, k, strlen(k), 1, LSM_KIND_VAL);
		if (i == 10000) {
			for (size_t j = 0; j < 200000; j++)
				big[j] = (uint8_t)(j * 13);
			assert_int_equal(lsm_sst_builder_add(b, ik.data, ik.len,
							     big, 200000),
					 LSM_OK);
		} else {
			assert_int_equal(lsm_sst_builder_add(b, ik.data, ik.len,
							     v, sizeof(v)),
					 LSM_OK);
		}
		/* Reported size: never behind what reached the file, and
		 * growing with every entry. */
		assert_true(lsm_sst_builder_size(b) >= fx->ce.appended);
		assert_true(lsm_sst_builder_size(b) > last);
		last = lsm_sst_builder_size(b);
	}
	assert_int_equal(lsm_sst_builder_finish(b, &size), LSM_OK);
	assert_int_equal(size, file_size(fx->path));
	assert_int_equal(fx->ce.appended, size);
	/* About 2.6 MB of 4 KiB blocks: 2 appends per block would be ~1300;
	 * 64 KiB pieces make ~40 (plus the large value's own). */
	assert_true(atomic_load(&fx->ce.appends) < 60);

	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_verify(t), LSM_OK);
	lsm_ikey_make(&ik, "key00010000", 11, 1, LSM_KIND_VAL);
	assert_int_equal(lsm_sst_get(t, ik.data, ik.len, &found, &kind, &val,
				     NULL),
			 LSM_OK);
	assert_true(found);
	assert_int_equal(val.len, 200000);
	assert_memory_equal(val.data, big, 200000);
	lsm_ikey_make(&ik, "key00019999", 11, 1, LSM_KIND_VAL);
	assert_int_equal(lsm_sst_get(t, ik.data, ik.len, &found, &kind, &val,
				     NULL),
			 LSM_OK);
	assert_true(found);
	assert_int_equal(val.len, sizeof(v));
	lsm_sst_unref(t);
	lsm_buf_free(&ik);
	lsm_buf_free(&val);
	free(big);
}

/* The test's own reading of the filter format (the essay in sst.c):
 * MurmurHash3 x86_32 with the seed, probes (h + j * delta) mod 2^32 mod m
 * with delta = fmix32(h + 0x9e3779b9). */
static uint32_t t_rotl(uint32_t x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static uint32_t t_fmix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	return h ^ (h >> 16);
}

static uint32_t t_murmur(const uint8_t *p, size_t n)
{
	uint32_t h = 0xbc9f1d34u, k;
	size_t i;

	for (i = 0; i + 4 <= n; i += 4) {
		k = lsm_get_u32le(p + i) * 0xcc9e2d51u;
		h ^= t_rotl(k, 15) * 0x1b873593u;
		h = t_rotl(h, 13) * 5 + 0xe6546b64u;
	}
	k = 0;
	for (size_t j = n - i; j > 0; j--)
		k ^= (uint32_t)p[i + j - 1] << (8 * (j - 1));
	if (n - i)
		h ^= t_rotl(k * 0xcc9e2d51u, 15) * 0x1b873593u;
	return t_fmix(h ^ (uint32_t)n);
}

/* The filter block the builder writes holds exactly the bits of the
 * essay's formula (probe positions computed with 64-bit arithmetic
 * here, one modulo per probe), for several table sizes. */
static void test_bloom_bits_match_format(void **state)
{
	struct fixture *fx = *state;
	static const size_t counts[] = {1, 7, 1000, 30011};

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		size_t n, nuniq = 0;
		struct ent *e = model_make(counts[c], &n);
		uint64_t size, foff, fsize, m;
		uint8_t foot[56], *f, *want;
		int k = (int)(10 * 0.69);

		build(fx, e, n, 4096, 10, &size);
		file_rw(fx->path, size - 56, foot, 56, false);
		foff = lsm_get_u64le(foot + 16);
		fsize = lsm_get_u64le(foot + 24);
		for (size_t i = 0; i < n; i++)
			if (i == 0 || e[i].iklen != e[i - 1].iklen ||
			    memcmp(e[i].ik, e[i - 1].ik, e[i].iklen - 8))
				nuniq++;
		m = nuniq * 10 < 64 ? 64 : (nuniq * 10 + 7) / 8 * 8;
		assert_int_equal(fsize, m / 8 + 1);
		f = malloc(fsize);
		want = calloc(1, fsize);
		file_rw(fx->path, foff, f, fsize, false);
		for (size_t i = 0; i < n; i++) {
			uint32_t h, delta;
			if (i > 0 && e[i].iklen == e[i - 1].iklen &&
			    !memcmp(e[i].ik, e[i - 1].ik, e[i].iklen - 8))
				continue;
			h = t_murmur(e[i].ik, e[i].iklen - 8);
			delta = t_fmix(h + 0x9e3779b9u);
			for (int j = 0; j < k; j++) {
				uint64_t pos = (uint32_t)(h + (uint32_t)j * delta) %
					       m;
				want[pos / 8] |= (uint8_t)(1u << (pos % 8));
			}
		}
		want[fsize - 1] = (uint8_t)k;
		assert_memory_equal(f, want, fsize);
		free(f);
		free(want);
		free(e);
	}
}

/* ---- the index summary ----------------------------------------------- */

/* User key of a summary test: "pp", then a group digit, then 8 bytes the
 * same for the whole group, then a number (so that keys tie on their
 * summary word for whole groups), or a short key ("pp" + digit). */
static size_t tie_key(uint8_t *k, unsigned group, unsigned num, bool short_key)
{
	if (short_key)
		return (size_t)snprintf((char *)k, 24, "pp%u", group);
	return (size_t)snprintf((char *)k, 24, "pp%uSAMESAME%06u", group, num);
}

/* Seeks (and gets) through the index summary land where a sorted model
 * says, also when many index entries tie on their summary word, for
 * targets before, inside, between and after the table's keys. */
static void test_index_summary(void **state)
{
	struct fixture *fx = *state;
	size_t n = 0, cap = 6000;
	struct ent *e = calloc(cap, sizeof(*e));
	struct lsm_iiter *it;
	uint64_t size;
	lsm_sst *t;

	for (unsigned g = 1; g <= 5; g++) {
		for (unsigned i = 0; i < 1000; i++, n++) {
			size_t ulen = tie_key(e[n].ik, g, i * 3, i == 0);
			lsm_put_u64le(e[n].ik + ulen, (uint64_t)(n + 1) << 8 | 1);
			e[n].iklen = ulen + LSM_TRAILER;
			e[n].vlen = (uint32_t)(i % 40);
			e[n].vseed = (uint32_t)n;
		}
	}
	qsort(e, n, sizeof(*e), ent_cmp);
	build(fx, e, n, 256, 10, &size);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	for (int round = 0; round < 20000; round++) {
		struct ent probe = {0};
		uint64_t r = rnd();
		size_t ulen, lo = 0, hi = n;

		switch (r % 8) {
		case 0: /* before everything, a prefix of the shared prefix */
			ulen = (size_t)snprintf((char *)probe.ik, 24, "p");
			break;
		case 1: /* after everything */
			ulen = (size_t)snprintf((char *)probe.ik, 24, "pq");
			break;
		default:
			ulen = tie_key(probe.ik, (unsigned)(r >> 8) % 7,
				       (unsigned)(r >> 16) % 3100,
				       (r >> 40) % 9 == 0);
		}
		lsm_put_u64le(probe.ik + ulen, (r >> 20) % (n + 2) << 8 | 1);
		probe.iklen = ulen + LSM_TRAILER;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (ent_cmp(&e[mid], &probe) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		it->ops->seek(it, probe.ik, probe.iklen);
		if (lo == n) {
			assert_false(it->ops->valid(it));
			continue;
		}
		assert_true(it->ops->valid(it));
		check_entry(it, &e[lo]);
		if (lo > 0) {
			it->ops->prev(it);
			check_entry(it, &e[lo - 1]);
		}
	}
	assert_int_equal(it->ops->status(it), LSM_OK);
	it->ops->destroy(it);
	lsm_sst_unref(t);
	free(e);
}

/* ---- lazy first entry ------------------------------------------------ */

/* An iterator told its table's first key: a seek at or before that key
 * reads no block (counted reads of an env that cannot map) until value or
 * a move; then the entries are the table's, both ways. */
static void test_lazy_first_key(void **state)
{
	struct fixture *fx = *state;
	uint64_t size = build_simple(fx, 2000, 512);
	uint8_t first[32], before[32];
	size_t flen, klen, vlen;
	const uint8_t *k;
	struct lsm_iiter *it;
	lsm_sst *t;
	int reads;

	assert_int_equal(lsm_sst_open(fx->env, fx->path, 7, size, NULL, &t),
			 LSM_OK);
	flen = (size_t)snprintf((char *)first, 24, "key%06d", 0);
	memcpy(before, first, flen);
	lsm_put_u64le(first + flen, (uint64_t)1 << 8 | 1);
	lsm_put_u64le(before + flen, (uint64_t)9 << 8 | 1); /* newer: first */
	flen += LSM_TRAILER;
	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	lsm_sst_iter_first_key(it, first, flen);

	for (int round = 0; round < 4; round++) {
		const uint8_t *target = round % 2 ? before : first;
		reads = atomic_load(&fx->ce.reads);
		it->ops->seek(it, target, flen);
		assert_true(it->ops->valid(it));
		k = it->ops->key(it, &klen);
		assert_ptr_equal(k, first); /* shown from the caller's key */
		assert_int_equal(atomic_load(&fx->ce.reads), reads);
		if (round < 2) {
			it->ops->value(it, &vlen); /* reads the block */
			assert_int_equal(vlen, 0);
			assert_int_equal(atomic_load(&fx->ce.reads), reads + 1);
		}
		if (round % 2) {
			it->ops->next(it);
			k = it->ops->key(it, &klen);
			assert_memory_equal(k, "key000001", 9);
		} else {
			it->ops->prev(it);
			assert_false(it->ops->valid(it));
		}
	}
	/* After the table's first key: read as before. */
	it->ops->seek(it, (const uint8_t *)"key000500\xff\xff\xff\xff\xff\xff"
			  "\xff\xff", 17);
	assert_true(it->ops->valid(it));
	assert_memory_equal(it->ops->key(it, &klen), "key000500", 9);
	assert_int_equal(it->ops->status(it), LSM_OK);
	it->ops->destroy(it);

	/* A first key that is not the table's (a manifest that lies): shown
	 * by the seek, then LSM_ECORRUPT naming the file when read. */
	assert_int_equal(lsm_sst_iter(t, &it), LSM_OK);
	memcpy(before, "aaa", 3);
	lsm_sst_iter_first_key(it, before, flen);
	it->ops->seek(it, before, flen);
	assert_true(it->ops->valid(it));
	k = it->ops->value(it, &vlen);
	assert_int_equal(vlen, 0);
	assert_false(it->ops->valid(it));
	assert_int_equal(it->ops->status(it), LSM_ECORRUPT);
	assert_error_names(fx->path, "first key");
	it->ops->destroy(it);
	lsm_sst_unref(t);
}

int main(void)
{
	const char *s = getenv("LSM_SEED");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_small_blocks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_4k_blocks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bloom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_4k_blocks,
						setup_read, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_data_block, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_data_block,
						setup_read, teardown),
		cmocka_unit_test_setup_teardown(test_verify_bypasses_cache,
						setup_read, teardown),
		cmocka_unit_test_setup_teardown(test_mapped_verified_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_fails_falls_back,
						setup_map_fail, teardown),
		cmocka_unit_test_setup_teardown(test_bad_footer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_damage_does_not_crash,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_misuse, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_builder_buffers_output,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bloom_bits_match_format,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_first_key,
						setup_read, teardown),
		cmocka_unit_test_setup_teardown(test_index_summary, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_index_summary,
						setup_read, teardown),
	};

	if (s)
		seed = strtoull(s, NULL, 0);
	printf("test_sst: LSM_SEED=%llu\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
