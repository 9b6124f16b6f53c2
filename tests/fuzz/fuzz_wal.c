/*
 * fuzz_wal.c — libFuzzer target for the WAL reader: lsm_wal_decode (with
 * lsm_batch_foreach) on the raw input, and lsm_wal_replay over a log file
 * holding the input.
 *
 * Input: one mode byte (bit 0: fake checksums, see fuzz.h), then the
 * bytes, read both as one record payload and as a whole log file.
 *
 * Besides "no crash, no leak, no sanitizer report", it checks what
 * wal.c's essay promises:
 *   - a decoded record's ops list walks without error, and re-encoding
 *     the ops (lsm_batch_put/delete + lsm_wal_encode) decodes to the same
 *     sequence, count and ops;
 *   - replay either succeeds, having cut the file to its good records
 *     (good_bytes + dropped_bytes = the old size), or fails with
 *     LSM_ECORRUPT leaving the file untouched, and then a salvage replay
 *     succeeds with the same records before the damage;
 *   - replaying what a replay left gives the same records, clean.
 */
#include <string.h>

#include "fuzz.h"

#define LOG_PATH "/w/000001.log"

struct ops_sum {
	uint64_t hash;
	uint32_t n;
	lsm_batch *batch; /* NULL, or the ops re-encoded into it */
};

static int op_fn(void *ctx, int kind, const uint8_t *key, size_t klen,
		 const uint8_t *val, size_t vlen)
{
	struct ops_sum *s = ctx;
	uint8_t k = (uint8_t)kind;
	uint64_t lens[2] = { klen, vlen };

	FUZZ_CHECK(kind == LSM_KIND_VAL || kind == LSM_KIND_DEL);
	FUZZ_CHECK(klen >= 1 && klen <= LSM_MAX_KEY && vlen <= LSM_MAX_VALUE);
	FUZZ_CHECK(kind == LSM_KIND_VAL || vlen == 0);
	s->hash = fuzz_hash(s->hash, &k, 1);
	s->hash = fuzz_hash(s->hash, lens, sizeof(lens));
	s->hash = fuzz_hash(s->hash, key, klen);
	s->hash = fuzz_hash(s->hash, val, vlen);
	s->n++;
	if (s->batch) {
		int rc = kind == LSM_KIND_VAL
				 ? lsm_batch_put(s->batch, key, klen, val, vlen)
				 : lsm_batch_delete(s->batch, key, klen);
		FUZZ_CHECK(rc == LSM_OK);
	}
	return 0;
}

/* Checks one decoded record (seq, ops) and returns the hash of its ops. */
static uint64_t check_record(uint64_t seq, const uint8_t *ops, size_t opslen,
			     uint32_t count)
{
	struct ops_sum a = { FUZZ_HASH_INIT, 0, NULL };
	struct ops_sum b = { FUZZ_HASH_INIT, 0, NULL };
	struct lsm_buf frame = { 0 };
	const uint8_t *ops2;
	size_t opslen2;
	uint32_t count2;
	uint64_t seq2;

	FUZZ_CHECK(seq <= LSM_SEQ_MAX);
	FUZZ_CHECK(count == 0 || LSM_SEQ_MAX - seq >= (uint64_t)count - 1);
	FUZZ_CHECK(lsm_batch_create(&a.batch) == LSM_OK);
	FUZZ_CHECK(lsm_batch_foreach(ops, opslen, count, op_fn, &a) == LSM_OK);
	FUZZ_CHECK(a.n == count);

	/* The same ops, encoded by the writer, read back the same. */
	FUZZ_CHECK(lsm_wal_encode(&frame, seq, a.batch) == LSM_OK);
	FUZZ_CHECK(frame.len > LSM_FRAME_HDR);
	FUZZ_CHECK(lsm_get_u32le(frame.data) == frame.len - LSM_FRAME_HDR);
	FUZZ_CHECK(lsm_wal_decode(frame.data + LSM_FRAME_HDR,
				  frame.len - LSM_FRAME_HDR, &seq2, &ops2,
				  &opslen2, &count2) == LSM_OK);
	FUZZ_CHECK(seq2 == seq && count2 == count && opslen2 <= opslen);
	FUZZ_CHECK(lsm_batch_foreach(ops2, opslen2, count2, op_fn, &b) ==
		   LSM_OK);
	FUZZ_CHECK(b.n == count && b.hash == a.hash);
	lsm_buf_free(&frame);
	lsm_batch_destroy(a.batch);
	return a.hash;
}

struct replay_sum {
	uint64_t hash;
	uint64_t records;
};

static int record_fn(void *ctx, uint64_t seq, const uint8_t *ops,
		     size_t opslen, uint32_t count)
{
	struct replay_sum *r = ctx;
	uint64_t h = check_record(seq, ops, opslen, count);

	r->hash = fuzz_hash(r->hash, &seq, sizeof(seq));
	r->hash = fuzz_hash(r->hash, &h, sizeof(h));
	r->records++;
	return 0;
}

static struct replay_sum replay(bool salvage, int want_rc,
				struct lsm_wal_report *rep)
{
	struct replay_sum r = { FUZZ_HASH_INIT, 0 };
	int rc = lsm_wal_replay(fuzz_env(), LOG_PATH, salvage, record_fn, &r,
				rep);

	if (want_rc == 1) /* either is fine */
		FUZZ_CHECK(rc == LSM_OK || rc == LSM_ECORRUPT);
	else
		FUZZ_CHECK(rc == want_rc);
	if (rc == LSM_ECORRUPT)
		FUZZ_CHECK(strstr(lsm_last_error(), LOG_PATH) &&
			   strstr(lsm_last_error(), "offset"));
	if (rc == LSM_OK)
		FUZZ_CHECK(rep->records == r.records);
	r.records = rc == LSM_OK ? r.records : UINT64_MAX;
	return r;
}

/* After a successful replay of a file of old_size bytes: the file holds
 * exactly the good records, and replaying it again gives them, clean. */
static void check_after(const struct lsm_wal_report *rep, uint64_t old_size,
			struct replay_sum got)
{
	struct lsm_wal_report rep2;
	struct replay_sum again;
	size_t size;

	FUZZ_CHECK(fuzz_env_get(LOG_PATH, &size));
	FUZZ_CHECK(rep->good_bytes + rep->dropped_bytes == old_size);
	FUZZ_CHECK(size == rep->good_bytes);
	FUZZ_CHECK(!rep->torn || rep->dropped_bytes > 0);
	again = replay(false, LSM_OK, &rep2);
	FUZZ_CHECK(again.records == got.records && again.hash == got.hash);
	FUZZ_CHECK(rep2.good_bytes == size && rep2.dropped_bytes == 0 &&
		   !rep2.torn);
}

static void fuzz_replay(const uint8_t *data, size_t size)
{
	struct lsm_wal_report rep, srep;
	struct replay_sum strict, salv;
	size_t now;

	fuzz_env_reset();
	fuzz_env_put(LOG_PATH, data, size);
	strict = replay(false, 1, &rep);
	if (strict.records != UINT64_MAX) {
		check_after(&rep, size, strict);
		goto out;
	}
	/* Corrupt: the file is as it was; salvage keeps a prefix. */
	FUZZ_CHECK(fuzz_env_get(LOG_PATH, &now) && now == size);
	salv = replay(true, LSM_OK, &srep);
	FUZZ_CHECK(srep.dropped_bytes > 0 && !srep.torn);
	check_after(&srep, size, salv);
out:
	fuzz_env_reset();
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
	const uint8_t *ops;
	size_t opslen;
	uint32_t count;
	uint64_t seq;
	int rc = lsm_wal_decode(data, size, &seq, &ops, &opslen, &count);

	FUZZ_CHECK(rc == LSM_OK || rc == LSM_ECORRUPT);
	if (rc)
		return;
	FUZZ_CHECK(ops >= data && opslen <= size &&
		   ops + opslen == data + size);
	check_record(seq, ops, opslen, count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	fuzz_fake_crc = data[0] & 1;
	fuzz_decode(data + 1, size - 1);
	fuzz_replay(data + 1, size - 1);
	return 0;
}
