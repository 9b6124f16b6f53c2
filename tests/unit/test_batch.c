/*
 * test_batch.c — write batches and the WAL record's CBOR payload
 * (batch.c): round trips of random batches against a model, the exact
 * bytes of a known record, group commit, size limits, and one hand-made
 * malformed payload for every shape the decoder must reject.
 *
 * LSM_SEED=n picks the random batches (default fixed, printed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "lsm_int.h"

static uint64_t seed = 20240601;
static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static size_t rnd_upto(size_t n) /* 0..n */
{
	return (size_t)(rnd() % (n + 1));
}

/* ---- a model of a batch: the ops as given ------------------------------ */
struct mop {
	int kind;
	uint8_t *key, *val;
	size_t klen, vlen;
};
struct model {
	struct mop *ops;
	size_t n, cap;
	size_t seen; /* ops checked by foreach so far */
};

static void model_add(struct model *m, int kind, const void *key, size_t klen,
		      const void *val, size_t vlen)
{
	struct mop *o;

	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->ops = realloc(m->ops, m->cap * sizeof(*m->ops));
		assert_non_null(m->ops);
	}
	o = &m->ops[m->n++];
	o->kind = kind;
	o->klen = klen;
	o->vlen = vlen;
	o->key = malloc(klen);
	o->val = malloc(vlen ? vlen : 1);
	assert_non_null(o->key);
	assert_non_null(o->val);
	memcpy(o->key, key, klen);
	if (vlen)
		memcpy(o->val, val, vlen);
}

static void model_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->ops[i].key);
		free(m->ops[i].val);
	}
	free(m->ops);
	memset(m, 0, sizeof(*m));
}

/* foreach callback: each op must be the model's next one. */
static int model_check(void *ctx, int kind, const uint8_t *key, size_t klen,
		       const uint8_t *val, size_t vlen)
{
	struct model *m = ctx;
	struct mop *o;

	assert_true(m->seen < m->n);
	o = &m->ops[m->seen++];
	assert_int_equal(kind, o->kind);
	assert_int_equal(klen, o->klen);
	assert_memory_equal(key, o->key, klen);
	if (kind == LSM_KIND_DEL) {
		assert_null(val);
		assert_int_equal(vlen, 0);
	} else {
		assert_int_equal(vlen, o->vlen);
		assert_non_null(val);
		if (vlen)
			assert_memory_equal(val, o->val, vlen);
	}
	return 0;
}

/* Fills b and m with n random ops. */
static void random_ops(lsm_batch *b, struct model *m, size_t n)
{
	uint8_t key[300], val[2000];

	for (size_t i = 0; i < n; i++) {
		size_t klen = 1 + rnd_upto(rnd() % 4 ? 16 : sizeof(key) - 1);
		size_t vlen = rnd() % 5 ? rnd_upto(rnd() % 3 ? 40 : sizeof(val))
					: 0;
		for (size_t k = 0; k < klen; k++)
			key[k] = (uint8_t)rnd();
		for (size_t k = 0; k < vlen; k++)
			val[k] = (uint8_t)rnd();
		if (rnd() % 3 == 0) {
			assert_int_equal(lsm_batch_delete(b, key, klen), LSM_OK);
			model_add(m, LSM_KIND_DEL, key, klen, NULL, 0);
		} else {
			assert_int_equal(lsm_batch_put(b, key, klen,
						       vlen ? val : NULL, vlen),
					 LSM_OK);
			model_add(m, LSM_KIND_VAL, key, klen, val, vlen);
		}
	}
}

/* Encodes b at seq, checks the frame, decodes it and checks against m. */
static void check_record(struct lsm_buf *frame, uint64_t seq,
			 const lsm_batch *b, struct model *m)
{
	const uint8_t *ops;
	size_t opslen;
	uint32_t count;
	uint64_t dseq;
	size_t len;

	assert_int_equal(lsm_wal_encode(frame, seq, b), LSM_OK);
	assert_true(frame->len > LSM_FRAME_HDR);
	len = lsm_get_u32le(frame->data);
	assert_int_equal(len, frame->len - LSM_FRAME_HDR);
	assert_int_equal(lsm_get_u32le(frame->data + 4),
			 lsm_crc32c(0, frame->data + LSM_FRAME_HDR, len));
	assert_int_equal(lsm_wal_decode(frame->data + LSM_FRAME_HDR, len,
					&dseq, &ops, &opslen, &count),
			 LSM_OK);
	assert_int_equal(dseq, seq);
	assert_int_equal(count, m->n);
	assert_int_equal(count, lsm_batch_count(b));
	/* the op bytes in the record are the batch's, verbatim */
	assert_int_equal(opslen, b->ops.len);
	if (opslen)
		assert_memory_equal(ops, b->ops.data, opslen);
	m->seen = 0;
	assert_int_equal(lsm_batch_foreach(ops, opslen, count, model_check, m),
			 LSM_OK);
	assert_int_equal(m->seen, m->n);
	/* the trusted walk (commit, replay) sees the same ops */
	m->seen = 0;
	assert_int_equal(lsm_batch_walk(ops, opslen, model_check, m), LSM_OK);
	assert_int_equal(m->seen, m->n);
}

/* ---- tests --------------------------------------------------------------- */

static void test_crc32c_vectors(void **state)
{
	uint8_t buf[32];

	(void)state;
	assert_int_equal(lsm_crc32c(0, "123456789", 9), 0xE3069283u);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(lsm_crc32c(0, buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(lsm_crc32c(0, buf, sizeof(buf)), 0x62A8AB43u);
	/* continuing a crc equals one pass */
	assert_int_equal(lsm_crc32c(lsm_crc32c(0, "1234", 4), "56789", 5),
			 0xE3069283u);
}

/* The example in wal.c's format essay, byte for byte. */
static void test_encode_known_bytes(void **state)
{
	static const uint8_t want[] = { 0x82, 0x05, 0x81, 0x83, 0x01,
					0x41, 'k',  0x41, 'v' };
	static const uint8_t del[] = { 0x82, 0x18, 0x2a, 0x81, 0x82,
				       0x00, 0x42, 'a',  'b' };
	struct lsm_buf frame = { 0 };
	lsm_batch *b = NULL;

	(void)state;
	assert_int_equal(lsm_batch_create(&b), LSM_OK);
	assert_int_equal(lsm_batch_put(b, "k", 1, "v", 1), LSM_OK);
	assert_int_equal(lsm_wal_encode(&frame, 5, b), LSM_OK);
	assert_int_equal(frame.len, LSM_FRAME_HDR + sizeof(want));
	assert_int_equal(lsm_get_u32le(frame.data), sizeof(want));
	assert_int_equal(lsm_get_u32le(frame.data + 4),
			 lsm_crc32c(0, want, sizeof(want)));
	assert_memory_equal(frame.data + LSM_FRAME_HDR, want, sizeof(want));

	lsm_batch_clear(b);
	assert_int_equal(lsm_batch_count(b), 0);
	assert_int_equal(lsm_batch_delete(b, "ab", 2), LSM_OK);
	assert_int_equal(lsm_wal_encode(&frame, 42, b), LSM_OK);
	assert_memory_equal(frame.data + LSM_FRAME_HDR, del, sizeof(del));
	assert_int_equal(frame.len, LSM_FRAME_HDR + sizeof(del));

	lsm_buf_free(&frame);
	lsm_batch_destroy(b);
}

static void test_roundtrip_random(void **state)
{
	struct lsm_buf frame = { 0 };
	lsm_batch *b = NULL;

	(void)state;
	rng_state = seed;
	assert_int_equal(lsm_batch_create(&b), LSM_OK);
	for (int iter = 0; iter < 300; iter++) {
		struct model m = { 0 };
		size_t n = rnd() % 8 ? rnd_upto(40) : rnd_upto(400);
		uint64_t seq = rnd() % 2 ? rnd_upto(1000)
					 : rnd() % (LSM_SEQ_MAX - 500);
		uint64_t bytes = 0;

		lsm_batch_clear(b);
		random_ops(b, &m, n);
		for (size_t i = 0; i < m.n; i++)
			bytes += m.ops[i].klen + m.ops[i].vlen;
		assert_int_equal(b->user_bytes, bytes);
		check_record(&frame, seq, b, &m);
		model_free(&m);
	}
	lsm_buf_free(&frame);
	lsm_batch_destroy(b);
}

/* After the buffers have grown once, the same writes allocate nothing:
 * the batch's and the frame's buffers are kept and reused. */
static void test_steady_state_reuses_buffers(void **state)
{
	struct lsm_buf frame = { 0 };
	lsm_batch *b = NULL;
	uint8_t *bdata, *fdata;
	size_t bcap, fcap;
	char key[32], val[100];

	(void)state;
	memset(val, 'x', sizeof(val));
	assert_int_equal(lsm_batch_create(&b), LSM_OK);
	for (int round = 0; round < 5; round++) {
		lsm_batch_clear(b);
		for (int i = 0; i < 50; i++) {
			int klen = snprintf(key, sizeof(key), "key%06d", i);
			assert_int_equal(lsm_batch_put(b, key, (size_t)klen,
						       val, sizeof(val)),
					 LSM_OK);
		}
		assert_int_equal(lsm_wal_encode(&frame, 1 + round * 50u, b),
				 LSM_OK);
		if (round == 0) {
			bdata = b->ops.data;
			bcap = b->ops.cap;
			fdata = frame.data;
			fcap = frame.cap;
		} else {
			assert_ptr_equal(b->ops.data, bdata);
			assert_int_equal(b->ops.cap, bcap);
			assert_ptr_equal(frame.data, fdata);
			assert_int_equal(frame.cap, fcap);
		}
	}
	lsm_buf_free(&frame);
	lsm_batch_destroy(b);
}

static void test_empty_value_and_empty_batch(void **state)
{
	struct lsm_buf frame = { 0 };
	struct model m = { 0 };
	lsm_batch *b = NULL;

	(void)state;
	assert_int_equal(lsm_batch_create(&b), LSM_OK);
	/* an empty batch is a record with an empty op list */
	check_record(&frame, 7, b, &m);
	assert_int_equal(lsm_batch_put(b, "a", 1, NULL, 0), LSM_OK);
	model_add(&m, LSM_KIND_VAL, "a", 1, NULL, 0);
	assert_int_equal(lsm_batch_put(b, "b", 1, "", 0), LSM_OK);
	model_add(&m, LSM_KIND_VAL, "b", 1, NULL, 0);
	assert_int_equal(lsm_batch_delete(b, "a", 1), LSM_OK);
	model_add(&m, LSM_KIND_DEL, "a", 1, NULL, 0);
	check_record(&frame, 8, b, &m);
	model_free(&m);
	lsm_buf_free(&frame);
	lsm_batch_destroy(b);
}

static void test_max_sizes(void **state)
{
	struct lsm_buf frame = { 0 };
	struct model m = { 0 };
	lsm_batch *b = NULL;
	uint8_t *key = malloc(LSM_MAX_KEY + 1);
	uint8_t *val = malloc(LSM_MAX_VALUE);

	(void)state;
	assert_non_null(key);
	assert_non_null(val);
	for (size_t i = 0; i <= LSM_MAX_KEY; i++)
		key[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < LSM_MAX_VALUE; i += 4096)
		val[i] = (uint8_t)(i >> 12);
	memset(val + LSM_MAX_VALUE - 16, 0x5a, 16);
	assert_int_equal(lsm_batch_create(&b), LSM_OK);

	/* out of range: refused, batch unchanged */
	assert_int_equal(lsm_batch_put(b, key, 0, "v", 1), LSM_EINVAL);
	assert_int_equal(lsm_batch_delete(b, key, 0), LSM_EINVAL);
	assert_int_equal(lsm_batch_put(b, key, LSM_MAX_KEY + 1, "v", 1),
			 LSM_EINVAL);
	assert_int_equal(lsm_batch_delete(b, key, LSM_MAX_KEY + 1), LSM_EINVAL);
	assert_int_equal(lsm_batch_put(b, key, 1, val, (size_t)LSM_MAX_VALUE + 1),
			 LSM_EINVAL);
	assert_int_equal(lsm_batch_put(b, NULL, 3, "v", 1), LSM_EINVAL);
	assert_int_equal(lsm_batch_put(b, "k", 1, NULL, 3), LSM_EINVAL);
	assert_int_equal(lsm_batch_count(b), 0);
	assert_int_equal(b->ops.len, 0);

	/* the largest key and value fit, and round-trip */
	assert_int_equal(lsm_batch_put(b, key, LSM_MAX_KEY, val, LSM_MAX_VALUE),
			 LSM_OK);
	model_add(&m, LSM_KIND_VAL, key, LSM_MAX_KEY, val, LSM_MAX_VALUE);
	assert_int_equal(lsm_batch_delete(b, key, LSM_MAX_KEY), LSM_OK);
	model_add(&m, LSM_KIND_DEL, key, LSM_MAX_KEY, NULL, 0);
	check_record(&frame, LSM_SEQ_MAX - 1, b, &m);

	model_free(&m);
	lsm_buf_free(&frame);
	lsm_batch_destroy(b);
	free(key);
	free(val);
}

/* Group commit: batches appended into one record keep their order; the
 * ops' sequence numbers are seq, seq+1, ... across the batches. */
struct seq_check {
	uint64_t next_seq;
	struct model *m;
};

static int seq_fn(void *ctx, int kind, const uint8_t *key, size_t klen,
		  const uint8_t *val, size_t vlen)
{
	struct seq_check *sc = ctx;

	sc->next_seq++;
	return model_check(sc->m, kind, key, klen, val, vlen);
}

static void test_group_commit(void **state)
{
	struct lsm_buf frame = { 0 };
	struct model m = { 0 };
	lsm_batch *group = NULL, *b[6] = { 0 };
	uint64_t user_bytes = 0, dseq;
	const uint8_t *ops;
	size_t opslen;
	uint32_t count, total = 0;
	struct seq_check sc;

	(void)state;
	rng_state = seed + 1;
	assert_int_equal(lsm_batch_create(&group), LSM_OK);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(lsm_batch_create(&b[i]), LSM_OK);
		random_ops(b[i], &m, i == 3 ? 0 : 1 + rnd_upto(20));
		user_bytes += b[i]->user_bytes;
		total += lsm_batch_count(b[i]);
		assert_int_equal(lsm_batch_append(group, b[i]), LSM_OK);
	}
	assert_int_equal(lsm_batch_count(group), total);
	assert_int_equal(group->user_bytes, user_bytes);
	check_record(&frame, 1000, group, &m);

	assert_int_equal(lsm_wal_decode(frame.data + LSM_FRAME_HDR,
					frame.len - LSM_FRAME_HDR, &dseq, &ops,
					&opslen, &count),
			 LSM_OK);
	sc.next_seq = dseq;
	sc.m = &m;
	m.seen = 0;
	assert_int_equal(lsm_batch_foreach(ops, opslen, count, seq_fn, &sc),
			 LSM_OK);
	assert_int_equal(sc.next_seq, 1000 + total);

	model_free(&m);
	lsm_buf_free(&frame);
	lsm_batch_destroy(group);
	for (int i = 0; i < 6; i++)
		lsm_batch_destroy(b[i]);
}

/* Limits checked before any byte is touched: fake batches suffice. */
static void test_limits(void **state)
{
	struct lsm_batch big = { 0 }, small = { 0 }, one = { 0 };
	struct lsm_buf frame = { 0 };

	(void)state;
	assert_int_equal(lsm_batch_put(&small, "k", 1, "v", 1), LSM_OK);
	big.ops.len = LSM_WAL_MAX_PAYLOAD - 16;
	big.count = 1;
	assert_int_equal(lsm_batch_append(&big, &small), LSM_EINVAL);
	assert_int_equal(big.count, 1);
	big.ops.len = 0;
	big.count = UINT32_MAX;
	assert_int_equal(lsm_batch_append(&big, &small), LSM_EINVAL);
	assert_int_equal(lsm_batch_put(&big, "k", 1, "v", 1), LSM_EINVAL);
	big.count = 0;
	big.ops.len = LSM_WAL_MAX_PAYLOAD - 20;
	assert_int_equal(lsm_batch_put(&big, "k", 1, "v", 1), LSM_EINVAL);
	big.ops.len = LSM_WAL_MAX_PAYLOAD - 10;
	assert_int_equal(lsm_wal_encode(&frame, 1, &big), LSM_EINVAL);

	/* the last op's sequence number must not pass LSM_SEQ_MAX */
	assert_int_equal(lsm_batch_put(&one, "k", 1, "v", 1), LSM_OK);
	assert_int_equal(lsm_wal_encode(&frame, LSM_SEQ_MAX, &one), LSM_OK);
	assert_int_equal(lsm_wal_encode(&frame, LSM_SEQ_MAX + 1, &one),
			 LSM_EINVAL);
	assert_int_equal(lsm_batch_append(&one, &small), LSM_OK);
	assert_int_equal(lsm_wal_encode(&frame, LSM_SEQ_MAX, &one), LSM_EINVAL);
	assert_int_equal(lsm_wal_encode(&frame, LSM_SEQ_MAX - 1, &one), LSM_OK);

	lsm_buf_free(&small.ops);
	lsm_buf_free(&one.ops);
	lsm_buf_free(&frame);
}

/* ---- malformed payloads ---------------------------------------------------
 * A good record for reference: put("k","v") at seq 5. */
#define GOOD 0x82, 0x05, 0x81, 0x83, 0x01, 0x41, 'k', 0x41, 'v'

struct bad {
	const char *what;
	uint8_t bytes[40];
	size_t len;
};
#define BAD(what, ...)                                                   \
	{ what, { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }) }

static const struct bad bad_payloads[] = {
	BAD("not an array", 0x05),
	BAD("record of 3 items", 0x83, 0x05, 0x80, 0x00),
	BAD("record of 1 item", 0x81, 0x05),
	BAD("indefinite record", 0x9f, 0x05, 0x80, 0xff),
	BAD("map record", 0xa1, 0x05, 0x80),
	BAD("negative seq", 0x82, 0x20, 0x80),
	BAD("seq as bytes", 0x82, 0x41, 0x05, 0x80),
	BAD("seq as text", 0x82, 0x61, 0x35, 0x80),
	BAD("seq as float", 0x82, 0xf9, 0x3c, 0x00, 0x80),
	BAD("seq over LSM_SEQ_MAX", 0x82, 0x1b, 0x01, 0, 0, 0, 0, 0, 0, 0,
	    0x80),
	BAD("seq + count over LSM_SEQ_MAX", 0x82, 0x1b, 0x00, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0x82, 0x82, 0x00, 0x41, 'k', 0x82, 0x00,
	    0x41, 'k'),
	BAD("ops as map", 0x82, 0x05, 0xa0),
	BAD("ops as uint", 0x82, 0x05, 0x01),
	BAD("indefinite ops", 0x82, 0x05, 0x9f, 0x83, 0x01, 0x41, 'k', 0x41,
	    'v', 0xff),
	BAD("indefinite op", 0x82, 0x05, 0x81, 0x9f, 0x01, 0x41, 'k', 0x41,
	    'v', 0xff),
	BAD("op of 1 item", 0x82, 0x05, 0x81, 0x81, 0x01),
	BAD("op of 4 items", 0x82, 0x05, 0x81, 0x84, 0x01, 0x41, 'k', 0x41,
	    'v', 0x41, 'v'),
	BAD("op code 2", 0x82, 0x05, 0x81, 0x83, 0x02, 0x41, 'k', 0x41, 'v'),
	BAD("op code -1", 0x82, 0x05, 0x81, 0x83, 0x20, 0x41, 'k', 0x41, 'v'),
	BAD("op code true", 0x82, 0x05, 0x81, 0x83, 0xf5, 0x41, 'k', 0x41,
	    'v'),
	BAD("put without value", 0x82, 0x05, 0x81, 0x82, 0x01, 0x41, 'k'),
	BAD("delete with value", 0x82, 0x05, 0x81, 0x83, 0x00, 0x41, 'k',
	    0x41, 'v'),
	BAD("key as text", 0x82, 0x05, 0x81, 0x83, 0x01, 0x61, 'k', 0x41,
	    'v'),
	BAD("key as uint", 0x82, 0x05, 0x81, 0x82, 0x00, 0x07),
	BAD("indefinite key", 0x82, 0x05, 0x81, 0x83, 0x01, 0x5f, 0x41, 'k',
	    0xff, 0x41, 'v'),
	BAD("empty key", 0x82, 0x05, 0x81, 0x83, 0x01, 0x40, 0x41, 'v'),
	BAD("empty key (delete)", 0x82, 0x05, 0x81, 0x82, 0x00, 0x40),
	BAD("value as text", 0x82, 0x05, 0x81, 0x83, 0x01, 0x41, 'k', 0x61,
	    'v'),
	BAD("value null", 0x82, 0x05, 0x81, 0x83, 0x01, 0x41, 'k', 0xf6),
	BAD("indefinite value", 0x82, 0x05, 0x81, 0x83, 0x01, 0x41, 'k', 0x5f,
	    0x41, 'v', 0xff),
	BAD("tagged op", 0x82, 0x05, 0x81, 0xc0, 0x83, 0x01, 0x41, 'k', 0x41,
	    'v'),
	BAD("count says 2, holds 1", 0x82, 0x05, 0x82, 0x83, 0x01, 0x41, 'k',
	    0x41, 'v'),
	BAD("count says 1, holds 2", 0x82, 0x05, 0x81, 0x83, 0x01, 0x41, 'k',
	    0x41, 'v', 0x82, 0x00, 0x41, 'k'),
	BAD("trailing zero byte", GOOD, 0x00),
	BAD("trailing break", GOOD, 0xff),
	BAD("value cut short", 0x82, 0x05, 0x81, 0x83, 0x01, 0x41, 'k', 0x42,
	    'v'),
	BAD("head cut short", 0x82, 0x19, 0x01),
	BAD("reserved initial byte", 0x82, 0x05, 0x81, 0x83, 0x01, 0x41, 'k',
	    0x5c),
	BAD("ends after the seq", 0x82, 0x05),
	BAD("ends inside an op", 0x82, 0x05, 0x81, 0x83, 0x01, 0x41, 'k'),
	BAD("undefined", 0xf7),
	BAD("break alone", 0xff),
};

struct walk_one {
	int n, kind;
	const uint8_t *key, *val;
	size_t klen, vlen;
};

static int walk_one_fn(void *ctx, int kind, const uint8_t *key, size_t klen,
		       const uint8_t *val, size_t vlen)
{
	struct walk_one *w = ctx;

	w->n++;
	w->kind = kind;
	w->key = key;
	w->klen = klen;
	w->val = val;
	w->vlen = vlen;
	return 0;
}

static void test_decode_rejects(void **state)
{
	static const uint8_t good[] = { GOOD };
	static const uint8_t long_form[] = { 0x82, 0x18, 0x05, 0x81, 0x83,
					     0x01, 0x59, 0x00, 0x01, 'k',
					     0x41, 'v' };
	const uint8_t *ops;
	size_t opslen;
	uint32_t count;
	uint64_t seq;

	(void)state;
	/* controls: the good record and a longer-than-needed encoding pass */
	assert_int_equal(lsm_wal_decode(good, sizeof(good), &seq, &ops, &opslen,
					&count),
			 LSM_OK);
	assert_int_equal(seq, 5);
	assert_int_equal(count, 1);
	assert_int_equal(lsm_wal_decode(long_form, sizeof(long_form), &seq,
					&ops, &opslen, &count),
			 LSM_OK);
	assert_int_equal(seq, 5);
	{
		/* the trusted walk reads the longer forms too */
		struct walk_one w = { 0 };
		assert_int_equal(lsm_batch_walk(ops, opslen, walk_one_fn, &w),
				 LSM_OK);
		assert_int_equal(w.n, 1);
		assert_int_equal(w.kind, LSM_KIND_VAL);
		assert_int_equal(w.klen, 1);
		assert_int_equal(w.key[0], 'k');
		assert_int_equal(w.vlen, 1);
		assert_int_equal(w.val[0], 'v');
	}
	assert_int_equal(lsm_wal_decode(good, 0, &seq, &ops, &opslen, &count),
			 LSM_ECORRUPT);

	for (size_t i = 0; i < sizeof(bad_payloads) / sizeof(bad_payloads[0]);
	     i++) {
		const struct bad *b = &bad_payloads[i];
		int rc = lsm_wal_decode(b->bytes, b->len, &seq, &ops, &opslen,
					&count);

		if (rc != LSM_ECORRUPT)
			fail_msg("\"%s\" decoded with rc %d", b->what, rc);
		assert_non_null(strstr(lsm_last_error(), "WAL payload"));
	}
}

static void test_decode_rejects_long_key_and_value(void **state)
{
	size_t vmax = (size_t)LSM_MAX_VALUE + 1;
	uint8_t *p = calloc(1, vmax + 64);
	const uint8_t *ops;
	size_t n, opslen;
	uint32_t count;
	uint64_t seq;

	(void)state;
	assert_non_null(p);
	/* key of LSM_MAX_KEY + 1 bytes: [5, [[0, bstr(16385)]]] */
	n = 0;
	p[n++] = 0x82, p[n++] = 0x05, p[n++] = 0x81, p[n++] = 0x82;
	p[n++] = 0x00, p[n++] = 0x59;
	p[n++] = (uint8_t)((LSM_MAX_KEY + 1) >> 8);
	p[n++] = (uint8_t)(LSM_MAX_KEY + 1);
	memset(p + n, 'k', LSM_MAX_KEY + 1);
	n += LSM_MAX_KEY + 1;
	assert_int_equal(lsm_wal_decode(p, n, &seq, &ops, &opslen, &count),
			 LSM_ECORRUPT);
	/* the same with LSM_MAX_KEY bytes is fine */
	p[6] = (uint8_t)(LSM_MAX_KEY >> 8);
	p[7] = (uint8_t)LSM_MAX_KEY;
	assert_int_equal(lsm_wal_decode(p, n - 1, &seq, &ops, &opslen, &count),
			 LSM_OK);

	/* value of LSM_MAX_VALUE + 1 bytes: [5, [[1, "k", bstr(...)]]] */
	memset(p, 0, vmax + 64);
	n = 0;
	p[n++] = 0x82, p[n++] = 0x05, p[n++] = 0x81, p[n++] = 0x83;
	p[n++] = 0x01, p[n++] = 0x41, p[n++] = 'k', p[n++] = 0x5a;
	/* 4-byte big-endian length */
	p[n++] = (uint8_t)(vmax >> 24), p[n++] = (uint8_t)(vmax >> 16);
	p[n++] = (uint8_t)(vmax >> 8), p[n++] = (uint8_t)vmax;
	assert_int_equal(lsm_wal_decode(p, n + vmax, &seq, &ops, &opslen,
					&count),
			 LSM_ECORRUPT);
	/* one byte less is the largest value: fine */
	p[n - 1] = (uint8_t)(vmax - 1);
	assert_int_equal(lsm_wal_decode(p, n + vmax - 1, &seq, &ops, &opslen,
					&count),
			 LSM_OK);
	free(p);
}

static int count_fn(void *ctx, int kind, const uint8_t *key, size_t klen,
		    const uint8_t *val, size_t vlen)
{
	int *n = ctx;

	(void)kind, (void)key, (void)klen, (void)val, (void)vlen;
	return ++*n == 3 ? 42 : 0;
}

static void test_foreach(void **state)
{
	lsm_batch *b = NULL;
	int n = 0;

	(void)state;
	assert_int_equal(lsm_batch_create(&b), LSM_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(lsm_batch_put(b, "key", 3, "v", 1), LSM_OK);
	/* fn's non-zero return stops the walk and is returned */
	assert_int_equal(lsm_batch_foreach(b->ops.data, b->ops.len, 5, count_fn,
					   &n),
			 42);
	assert_int_equal(n, 3);
	/* the count must match the ops exactly */
	assert_int_equal(lsm_batch_foreach(b->ops.data, b->ops.len, 4, NULL,
					   NULL),
			 LSM_ECORRUPT);
	assert_int_equal(lsm_batch_foreach(b->ops.data, b->ops.len, 6, NULL,
					   NULL),
			 LSM_ECORRUPT);
	assert_int_equal(lsm_batch_foreach(b->ops.data, b->ops.len - 1, 5,
					   NULL, NULL),
			 LSM_ECORRUPT);
	assert_int_equal(lsm_batch_foreach(NULL, 0, 0, NULL, NULL), LSM_OK);
	lsm_batch_destroy(b);
}

int main(void)
{
	const char *s = getenv("LSM_SEED");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_encode_known_bytes),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_steady_state_reuses_buffers),
		cmocka_unit_test(test_empty_value_and_empty_batch),
		cmocka_unit_test(test_max_sizes),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_decode_rejects_long_key_and_value),
		cmocka_unit_test(test_foreach),
	};

	if (s && *s)
		seed = strtoull(s, NULL, 0);
	printf("test_batch: LSM_SEED=%llu\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
