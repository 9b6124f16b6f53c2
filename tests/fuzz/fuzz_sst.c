/*
 * fuzz_sst.c — libFuzzer target for the SSTable reader: lsm_sst_open on a
 * table file holding the input, then lsm_sst_verify, iteration both ways,
 * seeks and lsm_sst_get.
 *
 * Input: one mode byte, then the file.  Mode bit 0: fake checksums (see
 * fuzz.h); bit 1: open with the expected file size (else 0, "unknown");
 * bit 2: read through a small block cache (else uncached).
 *
 * Errors must be LSM_ECORRUPT (LSM_EVERSION from open).  When verify
 * passes, the table must also read consistently: the forward scan ends
 * cleanly with keys strictly increasing, the backward scan sees the same
 * number of entries, a seek to each key seen lands on it, and a get of it
 * that finds something returns its kind and value.
 */
#include <string.h>

#include "fuzz.h"

#define SST_PATH "/s/000007.sst"
#define SST_NUM 7
#define MAX_STEPS 20000 /* bounded work per input */
#define MAX_PROBES 16

struct probe {
	struct lsm_buf key, val;
	int kind;
};

static void check_rc(int rc)
{
	FUZZ_CHECK(rc == LSM_OK || rc == LSM_ECORRUPT);
	if (rc)
		FUZZ_CHECK(strstr(lsm_last_error(), SST_PATH));
}

/* Forward scan: counts entries, keeps some as probes, checks order when
 * the table verified.  Returns the count, or -1 if the scan hit the step
 * limit. */
static long scan_forward(lsm_sst *t, bool verified, struct probe *pr,
			 int *npr)
{
	struct lsm_buf prev = { 0 };
	struct lsm_iiter *it;
	long n = 0;

	FUZZ_CHECK(lsm_sst_iter(t, &it) == LSM_OK);
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it)) {
		size_t klen, vlen;
		const uint8_t *k = it->ops->key(it, &klen);
		const uint8_t *v = it->ops->value(it, &vlen);

		FUZZ_CHECK(klen >= LSM_TRAILER);
		if (verified && prev.len)
			FUZZ_CHECK(lsm_ikey_cmp(prev.data, prev.len, k, klen) <
				   0);
		FUZZ_CHECK(lsm_buf_set(&prev, k, klen) == LSM_OK);
		if (*npr < MAX_PROBES && (n < 4 || n % 7 == 3)) {
			struct probe *p = &pr[(*npr)++];
			FUZZ_CHECK(lsm_buf_set(&p->key, k, klen) == LSM_OK);
			FUZZ_CHECK(lsm_buf_set(&p->val, v, vlen) == LSM_OK);
			p->kind = lsm_ikey_kind(k, klen);
		}
		if (++n >= MAX_STEPS) {
			n = -1;
			break;
		}
	}
	check_rc(it->ops->status(it));
	if (verified)
		FUZZ_CHECK(it->ops->status(it) == LSM_OK);
	it->ops->destroy(it);
	lsm_buf_free(&prev);
	return n;
}

static long scan_backward(lsm_sst *t, bool verified)
{
	struct lsm_iiter *it;
	long n = 0;

	FUZZ_CHECK(lsm_sst_iter(t, &it) == LSM_OK);
	for (it->ops->last(it); it->ops->valid(it); it->ops->prev(it)) {
		if (++n >= MAX_STEPS) {
			n = -1;
			break;
		}
	}
	check_rc(it->ops->status(it));
	if (verified)
		FUZZ_CHECK(it->ops->status(it) == LSM_OK);
	it->ops->destroy(it);
	return n;
}

/* Seeks to key and walks a few steps either way. */
static void seek_walk(lsm_sst *t, const uint8_t *key, size_t klen,
		      bool verified, bool must_land)
{
	struct lsm_iiter *it;
	size_t got_len;
	const uint8_t *got;

	FUZZ_CHECK(lsm_sst_iter(t, &it) == LSM_OK);
	it->ops->seek(it, key, klen);
	if (must_land && verified) {
		FUZZ_CHECK(it->ops->valid(it));
		got = it->ops->key(it, &got_len);
		FUZZ_CHECK(got_len == klen && !memcmp(got, key, klen));
	}
	for (int i = 0; i < 3 && it->ops->valid(it); i++)
		it->ops->next(it);
	for (int i = 0; i < 5 && it->ops->valid(it); i++)
		it->ops->prev(it);
	check_rc(it->ops->status(it));
	it->ops->destroy(it);
}

static void get_probe(lsm_sst *t, const struct probe *p, bool verified)
{
	struct lsm_buf val = { 0 };
	bool found;
	int kind = -1;
	int rc = lsm_sst_get(t, p->key.data, p->key.len, &found, &kind, &val,
			     NULL);

	check_rc(rc);
	if (verified) {
		/* A bad filter (not covered by verify) may hide the key, but
		 * what is found is the entry itself. */
		FUZZ_CHECK(rc == LSM_OK);
		if (found) {
			FUZZ_CHECK(kind == p->kind);
			if (kind == LSM_KIND_VAL)
				FUZZ_CHECK(val.len == p->val.len &&
					   !memcmp(val.data, p->val.data,
						   val.len));
		}
	}
	lsm_buf_free(&val);
}

/* Keys that are not in the table: made from the input's bytes. */
static void odd_probes(lsm_sst *t, const uint8_t *data, size_t size)
{
	struct lsm_buf val = { 0 };
	uint8_t key[LSM_TRAILER + 8];
	bool found;
	int kind;

	for (size_t i = 0; i < 4 && size; i++) {
		size_t klen = LSM_TRAILER + (data[i % size] % 9);
		for (size_t j = 0; j < klen; j++)
			key[j] = data[(i * 13 + j) % size];
		check_rc(lsm_sst_get(t, key, klen, &found, &kind, &val, NULL));
		seek_walk(t, key, klen, false, false);
	}
	lsm_buf_free(&val);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe pr[MAX_PROBES];
	struct lsm_cache *cache = NULL;
	lsm_sst *t = NULL;
	bool verified;
	long fwd, bwd;
	int npr = 0, rc;
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	fuzz_fake_crc = mode & 1;
	memset(pr, 0, sizeof(pr));
	fuzz_env_reset();
	fuzz_env_put(SST_PATH, data, size);
	if (mode & 4)
		FUZZ_CHECK(lsm_cache_create(16 * 1024, &cache) == LSM_OK);
	rc = lsm_sst_open(fuzz_env(), SST_PATH, SST_NUM,
			  mode & 2 ? size : 0, cache, &t);
	FUZZ_CHECK(rc == LSM_OK || rc == LSM_ECORRUPT || rc == LSM_EVERSION);
	if (rc) {
		FUZZ_CHECK(!t && strstr(lsm_last_error(), SST_PATH));
		goto out;
	}
	rc = lsm_sst_verify(t);
	check_rc(rc);
	verified = rc == LSM_OK;
	fwd = scan_forward(t, verified, pr, &npr);
	bwd = scan_backward(t, verified);
	if (verified && fwd >= 0 && bwd >= 0)
		FUZZ_CHECK(fwd == bwd);
	for (int i = 0; i < npr; i++) {
		seek_walk(t, pr[i].key.data, pr[i].key.len, verified, true);
		get_probe(t, &pr[i], verified);
	}
	odd_probes(t, data, size);
	/* A second verify reads the same bytes: the same answer. */
	FUZZ_CHECK(lsm_sst_verify(t) == (verified ? LSM_OK : LSM_ECORRUPT));
	lsm_sst_unref(t);
out:
	for (int i = 0; i < MAX_PROBES; i++) {
		lsm_buf_free(&pr[i].key);
		lsm_buf_free(&pr[i].val);
	}
	lsm_cache_destroy(cache);
	fuzz_env_reset();
	return 0;
}
