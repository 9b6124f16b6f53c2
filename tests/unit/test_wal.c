/*
 * test_wal.c — the write-ahead log file (wal.c) over the POSIX env:
 * writing and replaying records, the torn-tail rule at every byte offset
 * of the last record (cut short, or zero-filled), corruption elsewhere
 * (every bit of an earlier record flipped) with and without salvage, and
 * the latched error of a failed append; the writer through append
 * windows (a kill -9 leaves the records and the window's zeros, a page
 * lost by write-back ends replay cleanly, ENOSPC when preallocating);
 * large frames appended by pwrite (they replay; one cut at a page
 * boundary inside it is a torn tail).
 *
 * LSM_SEED=n picks the random records (default fixed, printed).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lsm_int.h"

static uint64_t seed = 7101;
static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* ---- fixture: a temp dir and a log path in it --------------------------- */
struct fx {
	char dir[64];
	char path[128];
	lsm_env *env;
};

static int fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	strcpy(fx->dir, "/tmp/test_wal.XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/000001.log", fx->dir);
	fx->env = lsm_env_posix();
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *fx = *state;

	unlink(fx->path);
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

/* Replaces path's contents with n bytes of data, through the env. */
static void write_file(lsm_env *env, const char *path, const void *data,
		       size_t n)
{
	lsm_file *f = NULL;

	assert_int_equal(env->open(env, path, LSM_O_CREATE, &f), LSM_OK);
	if (n)
		assert_int_equal(env->append(env, f, data, n), LSM_OK);
	assert_int_equal(env->close(env, f), LSM_OK);
	assert_int_equal(file_size(path), n);
}

/* ---- a log of random records, and what replay must give back ------------ */
#define MAXREC 256
struct log {
	struct lsm_buf image;       /* the file's bytes: all frames */
	size_t off[MAXREC + 1];     /* off[i]: start of record i; off[n]: end */
	uint64_t seq[MAXREC];
	struct lsm_buf ops[MAXREC]; /* each record's op bytes */
	uint32_t count[MAXREC];
	int n;
};

/* Builds n records; the last op of the last record is a put whose value
 * is last_vlen non-zero bytes (so that zero-filling any part of the last
 * frame changes it).  Writes them with the WAL writer to path. */
static void log_build(struct log *lg, lsm_env *env, const char *path, int n,
		      size_t last_vlen)
{
	struct lsm_buf frame = { 0 };
	lsm_batch *b = NULL;
	lsm_wal *w = NULL;
	uint64_t seq = 1 + rnd() % 1000;
	uint8_t key[40], val[600];

	assert_true(n <= MAXREC && last_vlen <= sizeof(val));
	memset(lg, 0, sizeof(*lg));
	assert_int_equal(lsm_batch_create(&b), LSM_OK);
	assert_int_equal(lsm_wal_create(env, path, &w), LSM_OK);
	for (int r = 0; r < n; r++) {
		int nops = 1 + (int)(rnd() % 5);

		lsm_batch_clear(b);
		for (int i = 0; i < nops; i++) {
			size_t klen = 1 + rnd() % sizeof(key);
			size_t vlen = rnd() % 4 ? rnd() % 60 : 0;
			for (size_t k = 0; k < sizeof(key); k++)
				key[k] = (uint8_t)rnd();
			for (size_t k = 0; k < sizeof(val); k++)
				val[k] = (uint8_t)(1 + rnd() % 255);
			if (r == n - 1 && i == nops - 1)
				vlen = last_vlen;
			if (rnd() % 4 == 0 && !(r == n - 1 && i == nops - 1))
				assert_int_equal(lsm_batch_delete(b, key, klen),
						 LSM_OK);
			else
				assert_int_equal(lsm_batch_put(b, key, klen, val,
							       vlen),
						 LSM_OK);
		}
		assert_int_equal(lsm_wal_encode(&frame, seq, b), LSM_OK);
		assert_int_equal(lsm_wal_append(w, frame.data, frame.len),
				 LSM_OK);
		lg->off[r] = lg->image.len;
		lg->seq[r] = seq;
		lg->count[r] = lsm_batch_count(b);
		assert_int_equal(lsm_buf_set(&lg->ops[r], b->ops.data,
					     b->ops.len),
				 LSM_OK);
		assert_int_equal(lsm_buf_append(&lg->image, frame.data,
						frame.len),
				 LSM_OK);
		assert_int_equal(lsm_wal_size(w), lg->image.len);
		seq += lsm_batch_count(b);
	}
	lg->off[n] = lg->image.len;
	lg->n = n;
	assert_int_equal(lsm_wal_sync(w), LSM_OK);
	assert_int_equal(lsm_wal_close(w), LSM_OK);
	assert_int_equal(file_size(path), lg->image.len);
	lsm_batch_destroy(b);
	lsm_buf_free(&frame);
}

static void log_free(struct log *lg)
{
	lsm_buf_free(&lg->image);
	for (int i = 0; i < MAXREC; i++)
		lsm_buf_free(&lg->ops[i]);
}

/* Replay callback: record i must be the log's record i. */
struct collect {
	const struct log *lg;
	int i;
	int fail_at; /* return 77 at this record (-1: never) */
};

static int nop_fn(void *ctx, int kind, const uint8_t *key, size_t klen,
		  const uint8_t *val, size_t vlen)
{
	(void)ctx, (void)kind, (void)key, (void)klen, (void)val, (void)vlen;
	return 0;
}

static int collect_fn(void *ctx, uint64_t seq, const uint8_t *ops,
		      size_t opslen, uint32_t count)
{
	struct collect *c = ctx;
	const struct log *lg = c->lg;

	if (c->i == c->fail_at)
		return 77;
	assert_true(c->i < lg->n);
	assert_int_equal(seq, lg->seq[c->i]);
	assert_int_equal(count, lg->count[c->i]);
	assert_int_equal(opslen, lg->ops[c->i].len);
	assert_memory_equal(ops, lg->ops[c->i].data, opslen);
	assert_int_equal(lsm_batch_foreach(ops, opslen, count, nop_fn, NULL),
			 LSM_OK);
	c->i++;
	return 0;
}

static int count_fn(void *ctx, uint64_t seq, const uint8_t *ops,
		    size_t opslen, uint32_t count)
{
	(void)ctx, (void)seq, (void)ops, (void)opslen, (void)count;
	return 0;
}

static int replay(struct fx *fx, const struct log *lg, bool salvage,
		  struct lsm_wal_report *rep, int *nrec)
{
	struct collect c = { .lg = lg, .fail_at = -1 };
	int rc = lsm_wal_replay(fx->env, fx->path, salvage, collect_fn, &c,
				rep);

	*nrec = c.i;
	return rc;
}

/* Replays a file that must hold exactly want good records and no tail. */
static void expect_clean(struct fx *fx, const struct log *lg, int want)
{
	struct lsm_wal_report rep;
	int n;

	assert_int_equal(replay(fx, lg, false, &rep, &n), LSM_OK);
	assert_int_equal(n, want);
	assert_int_equal(rep.records, (uint64_t)want);
	assert_int_equal(rep.good_bytes, lg->off[want]);
	assert_false(rep.torn);
	assert_int_equal(rep.dropped_bytes, 0);
	assert_int_equal(file_size(fx->path), lg->off[want]);
}

/* Replays a file of want good records and a torn tail of `tail` bytes. */
static void expect_torn(struct fx *fx, const struct log *lg, int want,
			uint64_t tail)
{
	struct lsm_wal_report rep;
	int n;

	assert_int_equal(replay(fx, lg, false, &rep, &n), LSM_OK);
	assert_int_equal(n, want);
	assert_int_equal(rep.records, (uint64_t)want);
	assert_int_equal(rep.good_bytes, lg->off[want]);
	assert_true(rep.torn);
	assert_int_equal(rep.dropped_bytes, tail);
	assert_int_equal(file_size(fx->path), lg->off[want]);
}

/* ---- tests --------------------------------------------------------------- */

static void test_write_and_replay(void **state)
{
	struct fx *fx = *state;
	struct log lg;

	rng_state = seed;
	log_build(&lg, fx->env, fx->path, 40, 100);
	expect_clean(fx, &lg, 40);
	log_free(&lg);
}

static void test_empty_and_missing(void **state)
{
	struct fx *fx = *state;
	struct lsm_wal_report rep;
	lsm_wal *w = NULL;
	struct log lg = { 0 };
	int n;

	assert_int_equal(lsm_wal_create(fx->env, fx->path, &w), LSM_OK);
	assert_int_equal(lsm_wal_size(w), 0);
	assert_int_equal(lsm_wal_close(w), LSM_OK);
	assert_int_equal(replay(fx, &lg, false, &rep, &n), LSM_OK);
	assert_int_equal(n, 0);
	assert_int_equal(rep.records, 0);
	assert_false(rep.torn);
	unlink(fx->path);
	assert_int_equal(replay(fx, &lg, false, &rep, &n), LSM_ENOTFOUND);
}

/* Cut the file at every offset strictly inside the last record: replay
 * gives the records before it, says torn, and truncates the file to
 * them.  Then the same with the rest of the frame (and more) zeroed. */
static void test_torn_every_offset(void **state)
{
	struct fx *fx = *state;
	const int N = 5;
	struct log lg;
	uint8_t *buf;
	size_t start, end;

	rng_state = seed + 1;
	log_build(&lg, fx->env, fx->path, N, 150);
	start = lg.off[N - 1];
	end = lg.off[N];
	buf = calloc(1, end + 64);
	assert_non_null(buf);

	/* cut at the record boundary: a clean log of N-1 records */
	write_file(fx->env, fx->path, lg.image.data, start);
	expect_clean(fx, &lg, N - 1);

	for (size_t cut = start + 1; cut < end; cut++) {
		write_file(fx->env, fx->path, lg.image.data, cut);
		expect_torn(fx, &lg, N - 1, cut - start);
		/* what is left is a clean log */
		expect_clean(fx, &lg, N - 1);
	}
	for (size_t cut = start; cut < end; cut++) {
		size_t extra = cut % 3 ? 0 : 1 + cut % 61;

		memset(buf, 0, end + 64);
		memcpy(buf, lg.image.data, cut);
		write_file(fx->env, fx->path, buf, end + extra);
		expect_torn(fx, &lg, N - 1, end + extra - start);
	}
	free(buf);
	log_free(&lg);
}

/* Zeros after a complete log (a file extended but never written). */
static void test_zero_tail(void **state)
{
	static const size_t zeros[] = { 1, 7, 8, 9, 100, 4096 };
	struct fx *fx = *state;
	struct log lg;
	uint8_t *buf;
	size_t end;

	rng_state = seed + 2;
	log_build(&lg, fx->env, fx->path, 8, 30);
	end = lg.off[8];
	buf = calloc(1, end + 4096);
	assert_non_null(buf);
	memcpy(buf, lg.image.data, end);
	for (size_t i = 0; i < sizeof(zeros) / sizeof(zeros[0]); i++) {
		write_file(fx->env, fx->path, buf, end + zeros[i]);
		expect_torn(fx, &lg, 8, zeros[i]);
	}
	/* a short header of non-zero bytes is torn as well */
	memset(buf + end, 0x5a, 5);
	write_file(fx->env, fx->path, buf, end + 5);
	expect_torn(fx, &lg, 8, 5);
	free(buf);
	log_free(&lg);
}

/* Checks that replaying the file as it is now fails with LSM_ECORRUPT at
 * record k, naming the path and offset, after handing out k records;
 * then that salvage keeps those k records and cuts the rest. */
static void expect_corrupt_at(struct fx *fx, const struct log *lg, int k)
{
	struct lsm_wal_report rep;
	uint64_t size = file_size(fx->path);
	char want[64];
	int n;

	assert_int_equal(replay(fx, lg, false, &rep, &n), LSM_ECORRUPT);
	assert_int_equal(n, k);
	snprintf(want, sizeof(want), "offset %zu ", lg->off[k]);
	if (!strstr(lsm_last_error(), fx->path) ||
	    !strstr(lsm_last_error(), want))
		fail_msg("error message \"%s\" lacks path or \"%s\"",
			 lsm_last_error(), want);
	assert_int_equal(file_size(fx->path), size); /* untouched */

	assert_int_equal(replay(fx, lg, true, &rep, &n), LSM_OK);
	assert_int_equal(n, k);
	assert_int_equal(rep.records, (uint64_t)k);
	assert_int_equal(rep.good_bytes, lg->off[k]);
	assert_false(rep.torn);
	assert_int_equal(rep.dropped_bytes, size - lg->off[k]);
	assert_int_equal(file_size(fx->path), lg->off[k]);
	expect_clean(fx, lg, k);
}

/* Every bit of an earlier record's crc and payload, flipped. */
static void test_flipped_bit(void **state)
{
	struct fx *fx = *state;
	const int N = 6, K = 2;
	struct log lg;
	uint8_t *buf;
	size_t size;

	rng_state = seed + 3;
	log_build(&lg, fx->env, fx->path, N, 20);
	size = lg.image.len;
	buf = malloc(size);
	assert_non_null(buf);
	for (size_t byte = lg.off[K] + 4; byte < lg.off[K + 1]; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(buf, lg.image.data, size);
			buf[byte] ^= (uint8_t)(1u << bit);
			write_file(fx->env, fx->path, buf, size);
			expect_corrupt_at(fx, &lg, K);
		}
	}
	free(buf);
	log_free(&lg);
}

/* Damaged headers in the middle: a shorter len (bad crc), len 0, len too
 * large, an all-zero header; and a bad last frame followed by garbage. */
static void test_bad_headers(void **state)
{
	struct fx *fx = *state;
	const int N = 6, K = 3;
	struct log lg;
	uint8_t *buf, *h;
	size_t size;

	rng_state = seed + 4;
	log_build(&lg, fx->env, fx->path, N, 20);
	size = lg.image.len;
	buf = malloc(size + 1);
	assert_non_null(buf);
	h = buf + lg.off[K];

	memcpy(buf, lg.image.data, size);
	lsm_put_u32le(h, lsm_get_u32le(h) - 1);
	write_file(fx->env, fx->path, buf, size);
	expect_corrupt_at(fx, &lg, K);

	memcpy(buf, lg.image.data, size);
	lsm_put_u32le(h, 0);
	write_file(fx->env, fx->path, buf, size);
	expect_corrupt_at(fx, &lg, K);

	memcpy(buf, lg.image.data, size);
	lsm_put_u32le(h, (uint32_t)LSM_WAL_MAX_PAYLOAD + 1);
	write_file(fx->env, fx->path, buf, size);
	expect_corrupt_at(fx, &lg, K);

	memcpy(buf, lg.image.data, size);
	memset(h, 0, LSM_FRAME_HDR);
	write_file(fx->env, fx->path, buf, size);
	expect_corrupt_at(fx, &lg, K);

	/* last frame with a bad crc: torn when it ends the file... */
	memcpy(buf, lg.image.data, size);
	buf[lg.off[N - 1] + 4] ^= 1;
	write_file(fx->env, fx->path, buf, size);
	expect_torn(fx, &lg, N - 1, size - lg.off[N - 1]);
	/* ...but corrupt when a non-zero byte follows it */
	buf[size] = 0x01;
	write_file(fx->env, fx->path, buf, size + 1);
	expect_corrupt_at(fx, &lg, N - 1);

	free(buf);
	log_free(&lg);
}

/* A frame whose crc is right but whose payload is not a record. */
static void test_undecodable_payload(void **state)
{
	static const uint8_t junk[] = { 0x82, 0x05, 0x81, 0x83, 0x07,
					0x41, 'k',  0x41, 'v' }; /* op 7 */
	struct fx *fx = *state;
	const int N = 4;
	struct log lg;
	uint8_t frame[LSM_FRAME_HDR + sizeof(junk)];
	struct lsm_buf buf = { 0 };

	rng_state = seed + 5;
	log_build(&lg, fx->env, fx->path, N, 20);
	lsm_put_u32le(frame, sizeof(junk));
	lsm_put_u32le(frame + 4, lsm_crc32c(0, junk, sizeof(junk)));
	memcpy(frame + LSM_FRAME_HDR, junk, sizeof(junk));

	/* in the middle: corrupt */
	assert_int_equal(lsm_buf_append(&buf, lg.image.data, lg.off[2]), 0);
	assert_int_equal(lsm_buf_append(&buf, frame, sizeof(frame)), 0);
	assert_int_equal(lsm_buf_append(&buf, lg.image.data + lg.off[2],
					lg.image.len - lg.off[2]),
			 0);
	write_file(fx->env, fx->path, buf.data, buf.len);
	expect_corrupt_at(fx, &lg, 2);

	/* at the end: torn */
	lsm_buf_clear(&buf);
	assert_int_equal(lsm_buf_append(&buf, lg.image.data, lg.image.len), 0);
	assert_int_equal(lsm_buf_append(&buf, frame, sizeof(frame)), 0);
	write_file(fx->env, fx->path, buf.data, buf.len);
	expect_torn(fx, &lg, N, sizeof(frame));

	lsm_buf_free(&buf);
	log_free(&lg);
}

/* fn's non-zero return stops replay, is returned, and cuts nothing. */
static void test_fn_error_stops(void **state)
{
	struct fx *fx = *state;
	struct collect c;
	struct lsm_wal_report rep;
	struct log lg;

	rng_state = seed + 6;
	log_build(&lg, fx->env, fx->path, 6, 20);
	/* with a torn tail too, which must not be cut either */
	write_file(fx->env, fx->path, lg.image.data, lg.image.len - 3);
	c = (struct collect){ .lg = &lg, .fail_at = 3 };
	assert_int_equal(lsm_wal_replay(fx->env, fx->path, false, collect_fn,
					&c, &rep),
			 77);
	assert_int_equal(c.i, 3);
	assert_int_equal(rep.records, 3);
	assert_int_equal(file_size(fx->path), lg.image.len - 3);
	log_free(&lg);
}

/* ---- a wrapper env whose appends fail on demand --------------------------- */
struct fail_env {
	lsm_env env;
	lsm_env *base;
	int appends;   /* appends that reached the base env */
	int fail_next; /* fail the next append (once) with fail_rc */
	int fail_rc;
	int partial;   /* the failing append writes its first byte first */
};

static int fe_open(lsm_env *e, const char *path, int flags, lsm_file **out)
{
	struct fail_env *fe = (struct fail_env *)e;

	return fe->base->open(fe->base, path, flags, out);
}

static int fe_append(lsm_env *e, lsm_file *f, const void *buf, size_t n)
{
	struct fail_env *fe = (struct fail_env *)e;

	if (fe->fail_next) {
		fe->fail_next = 0;
		if (fe->partial)
			fe->base->append(fe->base, f, buf, 1);
		return LSM_ERR(fe->fail_rc, "injected append failure");
	}
	fe->appends++;
	return fe->base->append(fe->base, f, buf, n);
}

static int fe_sync(lsm_env *e, lsm_file *f)
{
	struct fail_env *fe = (struct fail_env *)e;

	return fe->base->sync(fe->base, f);
}

static int fe_size(lsm_env *e, lsm_file *f, uint64_t *size)
{
	struct fail_env *fe = (struct fail_env *)e;

	return fe->base->size(fe->base, f, size);
}

static int fe_close(lsm_env *e, lsm_file *f)
{
	struct fail_env *fe = (struct fail_env *)e;

	return fe->base->close(fe->base, f);
}

/* Appends through a fail_env whose next append fails with rc (writing one
 * byte first when partial); returns the log, one good frame in it. */
static lsm_wal *latch_setup(struct fx *fx, struct fail_env *fe,
			    struct lsm_buf *frame, int rc, int partial)
{
	lsm_batch *b = NULL;
	lsm_wal *w = NULL;

	fe->base = fx->env;
	fe->env.open = fe_open;
	fe->env.append = fe_append;
	fe->env.sync = fe_sync;
	fe->env.size = fe_size;
	fe->env.close = fe_close;
	assert_int_equal(lsm_batch_create(&b), LSM_OK);
	assert_int_equal(lsm_batch_put(b, "k", 1, "v", 1), LSM_OK);
	assert_int_equal(lsm_wal_encode(frame, 1, b), LSM_OK);
	lsm_batch_destroy(b);
	assert_int_equal(lsm_wal_create(&fe->env, fx->path, &w), LSM_OK);
	assert_int_equal(lsm_wal_append(w, frame->data, frame->len), LSM_OK);
	assert_int_equal(lsm_wal_sync(w), LSM_OK);
	fe->fail_next = 1;
	fe->fail_rc = rc;
	fe->partial = partial;
	assert_int_equal(lsm_wal_append(w, frame->data, frame->len), rc);
	return w;
}

/* An I/O error, or ENOSPC that left part of a frame behind, stops the log:
 * nothing more reaches the file. */
static void test_append_error_latched(void **state)
{
	struct fx *fx = *state;
	struct fail_env fe = { 0 };
	struct lsm_buf frame = { 0 };
	lsm_wal *w;

	for (int partial = 0; partial < 2; partial++) {
		int rc = partial ? LSM_ENOSPC : LSM_EIO;

		memset(&fe, 0, sizeof(fe));
		w = latch_setup(fx, &fe, &frame, rc, partial);
		assert_int_equal(lsm_wal_append(w, frame.data, frame.len), rc);
		assert_non_null(strstr(lsm_last_error(), fx->path));
		assert_int_equal(lsm_wal_sync(w), rc);
		assert_int_equal(fe.appends, 1);
		assert_int_equal(lsm_wal_size(w), frame.len);
		assert_int_equal(lsm_wal_close(w), LSM_OK);
		assert_int_equal(file_size(fx->path), frame.len + partial);
	}
	lsm_buf_free(&frame);
}

/* ENOSPC that left the log as it was is not latched: once space is back
 * the next append works and the log replays both records. */
static void test_append_enospc_recovers(void **state)
{
	struct fx *fx = *state;
	struct fail_env fe = { 0 };
	struct lsm_buf frame = { 0 };
	lsm_wal *w = latch_setup(fx, &fe, &frame, LSM_ENOSPC, 0);

	assert_int_equal(lsm_wal_append(w, frame.data, frame.len), LSM_OK);
	assert_int_equal(lsm_wal_sync(w), LSM_OK);
	assert_int_equal(fe.appends, 2);
	assert_int_equal(lsm_wal_size(w), 2 * frame.len);
	assert_int_equal(lsm_wal_close(w), LSM_OK);
	assert_int_equal(file_size(fx->path), 2 * frame.len);
	lsm_buf_free(&frame);
}

/* ---- the mapped writer ---------------------------------------------------- */

/* Writes n records (log_build's) in a child that dies by SIGKILL without
 * syncing or closing: what it wrote through the window is in the page
 * cache, so replay finds every record, then the window's zeros, a torn
 * tail that it cuts. */
static void test_kill9_zero_tail(void **state)
{
	struct fx *fx = *state;
	struct log lg;
	pid_t pid;
	int status;

	rng_state = seed + 7;
	log_build(&lg, fx->env, fx->path, 30, 100);
	unlink(fx->path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		lsm_wal *w = NULL;

		if (lsm_wal_create(fx->env, fx->path, &w))
			_exit(1);
		for (int r = 0; r < lg.n; r++)
			if (lsm_wal_append(w, lg.image.data + lg.off[r],
					   lg.off[r + 1] - lg.off[r]))
				_exit(2);
		raise(SIGKILL);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* the window's zeros are there: the file was preallocated */
	assert_true(file_size(fx->path) > lg.image.len);
	expect_torn(fx, &lg, lg.n, file_size(fx->path) - lg.image.len);
	expect_clean(fx, &lg, lg.n);
	log_free(&lg);
}

/* A page lost by write-back: an aligned 4 KiB block of zeros in the
 * middle of the log, frames after it.  Replay ends cleanly before the
 * first frame it touches.  Zeros that are not a whole aligned block
 * (from a frame's start to the block's end) stay corruption. */
static void test_lost_page(void **state)
{
	struct fx *fx = *state;
	const int N = 200;
	struct log lg;
	uint8_t *buf;
	size_t size;
	int k, ncorrupt = 0;

	rng_state = seed + 8;
	log_build(&lg, fx->env, fx->path, N, 600);
	size = lg.image.len;
	assert_true(size > 3 * 4096);
	buf = malloc(size);
	assert_non_null(buf);
	for (size_t page = 4096; page + 4096 < size; page += 4096) {
		/* the first record that reaches into the page */
		for (k = 0; lg.off[k + 1] <= page; k++)
			;
		memcpy(buf, lg.image.data, size);
		memset(buf + page, 0, 4096);
		write_file(fx->env, fx->path, buf, size);
		expect_torn(fx, &lg, k, size - lg.off[k]);

		/* zeros from a frame's start to just short of the block's
		 * end: no lost page, so corrupt */
		for (k = 0; lg.off[k] < page; k++)
			;
		if (lg.off[k] + LSM_FRAME_HDR + 1 >= page + 4096 ||
		    k + 1 >= N)
			continue;
		memcpy(buf, lg.image.data, size);
		memset(buf + lg.off[k], 0, page + 4096 - 1 - lg.off[k]);
		write_file(fx->env, fx->path, buf, size);
		expect_corrupt_at(fx, &lg, k);
		ncorrupt++;
	}
	assert_true(ncorrupt > 0);
	free(buf);
	log_free(&lg);
}

/* The fault env fails the preallocation of a window (ENOSPC): a frame
 * too big for the current window is then appended instead, or, if that
 * fails as well, refused with the log intact and not latched; once
 * space is back the same frame goes in, and a failed commit leaves
 * nothing either. */
static void test_window_enospc(void **state)
{
	struct fx *fx = *state;
	struct lsm_buf small = { 0 }, big = { 0 };
	struct lsm_wal_report rep;
	lsm_batch *b = NULL;
	lsm_wal *w = NULL;
	lsm_env *fe = NULL;
	uint8_t *val;
	uint64_t want;
	const size_t vlen = (3u << 20) / 2; /* more than a window */

	assert_int_equal(lsm_fault_env_create(fx->env, &fe), LSM_OK);
	assert_non_null(val = malloc(vlen));
	memset(val, 0xab, vlen);
	assert_int_equal(lsm_batch_create(&b), LSM_OK);
	assert_int_equal(lsm_batch_put(b, "k", 1, "v", 1), LSM_OK);
	assert_int_equal(lsm_wal_encode(&small, 1, b), LSM_OK);
	lsm_batch_clear(b);
	assert_int_equal(lsm_batch_put(b, "big", 3, val, vlen), LSM_OK);
	assert_int_equal(lsm_wal_encode(&big, 2, b), LSM_OK);

	assert_int_equal(lsm_wal_create(fe, fx->path, &w), LSM_OK);
	assert_int_equal(lsm_wal_append(w, small.data, small.len), LSM_OK);
	/* no room for a window nor for an append: refused, not latched */
	lsm_fault_fail_append(fe, 1, LSM_ENOSPC, 1);
	assert_int_equal(lsm_wal_append(w, big.data, big.len), LSM_ENOSPC);
	assert_int_equal(lsm_wal_append(w, big.data, big.len), LSM_ENOSPC);
	assert_int_equal(lsm_wal_size(w), small.len);
	/* space is back */
	lsm_fault_fail_append(fe, 0, 0, 0);
	assert_int_equal(lsm_wal_append(w, big.data, big.len), LSM_OK);
	/* no room for the next window, but for an append */
	lsm_fault_fail_append(fe, 1, LSM_ENOSPC, 0);
	assert_int_equal(lsm_wal_append(w, small.data, small.len), LSM_OK);
	/* a failed commit in a fresh window */
	assert_int_equal(lsm_wal_append(w, small.data, small.len), LSM_OK);
	lsm_fault_fail_append(fe, 1, LSM_ENOSPC, 0);
	assert_int_equal(lsm_wal_append(w, small.data, small.len), LSM_ENOSPC);
	assert_int_equal(lsm_wal_append(w, small.data, small.len), LSM_OK);
	assert_int_equal(lsm_wal_sync(w), LSM_OK);
	want = 4 * small.len + big.len;
	assert_int_equal(lsm_wal_size(w), want);
	assert_int_equal(lsm_wal_close(w), LSM_OK);
	assert_int_equal(file_size(fx->path), want);
	assert_int_equal(lsm_wal_replay(fx->env, fx->path, false, count_fn,
					NULL, &rep),
			 LSM_OK);
	assert_int_equal(rep.records, 5);
	assert_false(rep.torn);
	fe->destroy(fe);
	lsm_batch_destroy(b);
	lsm_buf_free(&small);
	lsm_buf_free(&big);
	free(val);
}

/* ---- large frames: appended, not copied into the window ------------------ */
struct count_env {
	lsm_env env;
	lsm_env *base;
	int appends, windows;
};

static int ce_open(lsm_env *e, const char *path, int flags, lsm_file **out)
{
	return ((struct count_env *)e)->base->open(
		((struct count_env *)e)->base, path, flags, out);
}

static int ce_append(lsm_env *e, lsm_file *f, const void *buf, size_t n)
{
	struct count_env *ce = (struct count_env *)e;

	ce->appends++;
	return ce->base->append(ce->base, f, buf, n);
}

static int ce_map_append(lsm_env *e, lsm_file *f, size_t size, void **addr)
{
	struct count_env *ce = (struct count_env *)e;

	ce->windows++;
	return ce->base->map_append(ce->base, f, size, addr);
}

static int ce_commit(lsm_env *e, lsm_file *f, size_t n)
{
	struct count_env *ce = (struct count_env *)e;

	return ce->base->commit(ce->base, f, n);
}

static int ce_sync(lsm_env *e, lsm_file *f)
{
	struct count_env *ce = (struct count_env *)e;

	return ce->base->sync(ce->base, f);
}

static int ce_size(lsm_env *e, lsm_file *f, uint64_t *size)
{
	struct count_env *ce = (struct count_env *)e;

	return ce->base->size(ce->base, f, size);
}

static int ce_close(lsm_env *e, lsm_file *f)
{
	struct count_env *ce = (struct count_env *)e;

	return ce->base->close(ce->base, f);
}

/* Encodes one put of vlen bytes (never zero) as a frame into out. */
static void big_frame(struct lsm_buf *out, uint64_t seq, size_t vlen)
{
	lsm_batch *b = NULL;
	uint8_t *val = malloc(vlen ? vlen : 1);

	assert_non_null(val);
	for (size_t i = 0; i < vlen; i++)
		val[i] = (uint8_t)(1 + rnd() % 255);
	assert_int_equal(lsm_batch_create(&b), LSM_OK);
	assert_int_equal(lsm_batch_put(b, "key", 3, val, vlen), LSM_OK);
	assert_int_equal(lsm_wal_encode(out, seq, b), LSM_OK);
	lsm_batch_destroy(b);
	free(val);
}

static void expect_replay(struct fx *fx, uint64_t records, bool torn,
			  uint64_t good, uint64_t dropped)
{
	struct lsm_wal_report rep;

	assert_int_equal(lsm_wal_replay(fx->env, fx->path, false, count_fn,
					NULL, &rep),
			 LSM_OK);
	assert_int_equal(rep.records, records);
	assert_int_equal(rep.torn, torn);
	assert_int_equal(rep.good_bytes, good);
	assert_int_equal(rep.dropped_bytes, dropped);
	assert_int_equal(file_size(fx->path), good);
}

/* Small frames go through windows, large ones (LSM_WAL_BIG) by append,
 * inside a window's preallocated zeros (200 KiB) or past them (1.5 MiB);
 * the log replays them all.  A kill -9 in the middle of the large
 * frame's pwrite leaves a page-aligned prefix of it, followed by the
 * zeros of the preallocation or by the end of the file: a torn tail. */
static void test_big_frames(void **state)
{
	struct fx *fx = *state;
	struct count_env ce = { 0 };
	struct lsm_buf s = { 0 }, b1 = { 0 }, b2 = { 0 };
	lsm_wal *w = NULL;
	uint8_t *buf;
	const size_t prealloc = 1u << 20;
	size_t cut;

	rng_state = seed + 9;
	big_frame(&s, 1, 10);
	big_frame(&b1, 2, 200u << 10);
	big_frame(&b2, 3, (3u << 20) / 2);
	ce.base = fx->env;
	ce.env.open = ce_open;
	ce.env.append = ce_append;
	ce.env.map_append = ce_map_append;
	ce.env.commit = ce_commit;
	ce.env.sync = ce_sync;
	ce.env.size = ce_size;
	ce.env.close = ce_close;
	assert_int_equal(lsm_wal_create(&ce.env, fx->path, &w), LSM_OK);
	assert_int_equal(lsm_wal_append(w, s.data, s.len), LSM_OK);
	assert_int_equal(lsm_wal_append(w, b1.data, b1.len), LSM_OK);
	assert_int_equal(lsm_wal_append(w, s.data, s.len), LSM_OK);
	assert_int_equal(lsm_wal_append(w, b2.data, b2.len), LSM_OK);
	assert_int_equal(lsm_wal_append(w, s.data, s.len), LSM_OK);
	assert_int_equal(ce.appends, 2);
	assert_int_equal(ce.windows, 3);
	assert_int_equal(lsm_wal_size(w), 3 * s.len + b1.len + b2.len);
	assert_int_equal(lsm_wal_close(w), LSM_OK);
	expect_replay(fx, 5, false, 3 * s.len + b1.len + b2.len, 0);

	/* b1 cut at every page boundary inside it: zeros after, or the
	 * file's end */
	assert_non_null(buf = calloc(1, prealloc));
	memcpy(buf, s.data, s.len);
	memcpy(buf + s.len, b1.data, b1.len);
	for (cut = 4096; cut < s.len + b1.len; cut += 4096) {
		write_file(fx->env, fx->path, buf, cut);
		expect_replay(fx, 1, true, s.len, cut - s.len);
		memset(buf + cut, 0, prealloc - cut);
		write_file(fx->env, fx->path, buf, prealloc);
		expect_replay(fx, 1, true, s.len, prealloc - s.len);
		memcpy(buf + cut, b1.data + (cut - s.len), b1.len -
		       (cut - s.len));
	}
	free(buf);
	lsm_buf_free(&s);
	lsm_buf_free(&b1);
	lsm_buf_free(&b2);
}

/* A frame written in two pieces (lsm_wal_encode_head + lsm_wal_append2,
 * the ops in place) is the frame lsm_wal_encode builds, in the window
 * (small) and appended (big); a full disk met by the second append of a
 * big frame is cut back and not latched. */
static void test_append2(void **state)
{
	struct fx *fx = *state;
	struct lsm_buf small = { 0 }, big = { 0 };
	struct lsm_wal_report rep;
	uint8_t hs[LSM_WAL_HEAD_MAX], hb[LSM_WAL_HEAD_MAX];
	size_t hsn, hbn, vlen = 100000;
	lsm_batch *bs = NULL, *bb = NULL;
	lsm_wal *w = NULL;
	lsm_env *fe = NULL;
	uint8_t *val, *file;
	uint64_t want;
	FILE *f;

	assert_int_equal(lsm_fault_env_create(fx->env, &fe), LSM_OK);
	assert_non_null(val = malloc(vlen));
	for (size_t i = 0; i < vlen; i++)
		val[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(lsm_batch_create(&bs), LSM_OK);
	assert_int_equal(lsm_batch_create(&bb), LSM_OK);
	assert_int_equal(lsm_batch_put(bs, "k", 1, "v", 1), LSM_OK);
	assert_int_equal(lsm_batch_put(bb, "big", 3, val, vlen), LSM_OK);
	assert_int_equal(lsm_batch_put(bb, "b2", 2, val, 5000), LSM_OK);
	assert_int_equal(lsm_wal_encode(&small, 1, bs), LSM_OK);
	assert_int_equal(lsm_wal_encode(&big, 2, bb), LSM_OK);
	assert_int_equal(lsm_wal_encode_head(hs, &hsn, 1, bs), LSM_OK);
	assert_int_equal(lsm_wal_encode_head(hb, &hbn, 2, bb), LSM_OK);
	assert_int_equal(hsn + bs->ops.len, small.len);
	assert_int_equal(hbn + bb->ops.len, big.len);
	assert_memory_equal(hb, big.data, hbn);

	assert_int_equal(lsm_wal_create(fe, fx->path, &w), LSM_OK);
	assert_int_equal(lsm_wal_append2(w, hs, hsn, bs->ops.data,
					 bs->ops.len), LSM_OK);
	/* the ops' append fails after the head's went in */
	lsm_fault_fail_append(fe, 2, LSM_ENOSPC, 0);
	assert_int_equal(lsm_wal_append2(w, hb, hbn, bb->ops.data,
					 bb->ops.len), LSM_ENOSPC);
	assert_int_equal(lsm_wal_size(w), small.len);
	assert_int_equal(lsm_wal_append2(w, hb, hbn, bb->ops.data,
					 bb->ops.len), LSM_OK);
	assert_int_equal(lsm_wal_append2(w, hs, hsn, bs->ops.data,
					 bs->ops.len), LSM_OK);
	assert_int_equal(lsm_wal_sync(w), LSM_OK);
	want = 2 * small.len + big.len;
	assert_int_equal(lsm_wal_size(w), want);
	assert_int_equal(lsm_wal_close(w), LSM_OK);
	assert_int_equal(file_size(fx->path), want);
	assert_non_null(file = malloc(want));
	assert_non_null(f = fopen(fx->path, "rb"));
	assert_int_equal(fread(file, 1, want, f), want);
	fclose(f);
	assert_memory_equal(file, small.data, small.len);
	assert_memory_equal(file + small.len, big.data, big.len);
	assert_memory_equal(file + small.len + big.len, small.data, small.len);
	assert_int_equal(lsm_wal_replay(fx->env, fx->path, false, count_fn,
					NULL, &rep),
			 LSM_OK);
	assert_int_equal(rep.records, 3);
	assert_false(rep.torn);
	fe->destroy(fe);
	lsm_batch_destroy(bs);
	lsm_batch_destroy(bb);
	lsm_buf_free(&small);
	lsm_buf_free(&big);
	free(file);
	free(val);
}

int main(void)
{
	const char *s = getenv("LSM_SEED");
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
		T(test_write_and_replay),
		T(test_empty_and_missing),
		T(test_torn_every_offset),
		T(test_zero_tail),
		T(test_flipped_bit),
		T(test_bad_headers),
		T(test_undecodable_payload),
		T(test_fn_error_stops),
		T(test_append_error_latched),
		T(test_append_enospc_recovers),
		T(test_kill9_zero_tail),
		T(test_lost_page),
		T(test_window_enospc),
		T(test_append2),
		T(test_big_frames),
	};
#undef T

	if (s && *s)
		seed = strtoull(s, NULL, 0);
	printf("test_wal: LSM_SEED=%llu\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
