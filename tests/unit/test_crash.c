/*
 * test_crash.c — power cuts, full disks, failing syncs and a corrupt log,
 * through the public API and the fault-injecting env of lsm.h.
 *
 * The promise under test (lsm.h, "Durability"): after a power cut the
 * store opens cleanly and holds exactly the writes of some prefix of the
 * acknowledged order, a prefix that contains every write acknowledged
 * before the last successful sync.  Each test keeps a log of the writes
 * it attempted, in order; after the cut it reads the whole store back
 * and looks for the prefix p, synced <= p <= attempted, whose model
 * (base state + writes[0..p)) equals what the store holds.  The write
 * that was in flight when the power went may or may not be there, which
 * is why the upper bound counts it.
 *
 * Seeds: LSM_SEED (default fixed) seeds everything and is printed, with
 * each round's own seed; LSM_ROUNDS sets the number of random rounds
 * (default 50).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsm.h"
#include "model.h"

static uint64_t g_seed;

#define WHY_LEN 1024

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

static void small_options(struct lsm_options *o, lsm_env *env)
{
	lsm_options_init(o);
	o->env = env;
	o->write_buffer_size = 64 * 1024;
	o->block_size = 1024;
	o->target_file_size = 32 * 1024;
	o->level1_max_bytes = 128 * 1024;
}

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

static lsm_env *fault_env(void)
{
	lsm_env *env = NULL;

	CHECK_RC(lsm_fault_env_create(lsm_env_posix(), &env));
	return env;
}

static void env_destroy(lsm_env *env)
{
	if (env && env->destroy)
		env->destroy(env);
}

/* ---- the log of attempted writes -------------------------------------- */
struct wop {
	int del;
	uint8_t *key, *val; /* owned */
	size_t klen, vlen;
};

struct wwrite {
	struct wop *ops; /* owned */
	int n;
};

struct wlog {
	struct wwrite *w; /* owned */
	size_t n, cap;
};

static void wlog_free(struct wlog *l)
{
	for (size_t i = 0; i < l->n; i++) {
		for (int j = 0; j < l->w[i].n; j++) {
			free(l->w[i].ops[j].key);
			free(l->w[i].ops[j].val);
		}
		free(l->w[i].ops);
	}
	free(l->w);
	memset(l, 0, sizeof(*l));
}

/* Starts a new write at the end of the log. */
static struct wwrite *wlog_new(struct wlog *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->w = realloc(l->w, l->cap * sizeof(*l->w));
		assert_non_null(l->w);
	}
	memset(&l->w[l->n], 0, sizeof(l->w[0]));
	return &l->w[l->n++];
}

/* Drops the last write of the log. */
static void wlog_pop(struct wlog *l)
{
	struct wwrite *w = &l->w[--l->n];

	for (int j = 0; j < w->n; j++) {
		free(w->ops[j].key);
		free(w->ops[j].val);
	}
	free(w->ops);
}

static void wwrite_add(struct wwrite *w, int del, const void *k, size_t kl,
		       const void *v, size_t vl)
{
	w->ops = realloc(w->ops, (size_t)(w->n + 1) * sizeof(*w->ops));
	assert_non_null(w->ops);
	w->ops[w->n] = (struct wop){
		.del = del,
		.key = model_xdup(k, kl),
		.klen = kl,
		.val = del ? NULL : model_xdup(v, vl),
		.vlen = del ? 0 : vl,
	};
	w->n++;
}

static void wwrite_apply(const struct wwrite *w, struct model *m)
{
	for (int j = 0; j < w->n; j++) {
		if (w->ops[j].del)
			model_del(m, w->ops[j].key, w->ops[j].klen);
		else
			model_put(m, w->ops[j].key, w->ops[j].klen,
				  w->ops[j].val, w->ops[j].vlen);
	}
}

/* The store must hold exactly base + writes[0..p) for some p in
 * [lo, hi] (hi <= l->n).  Returns p (the largest that matches). */
static size_t check_prefix(lsm_db *db, const struct model *base,
			   const struct wlog *l, size_t lo, size_t hi,
			   const char *ctx)
{
	struct model got = {0}, cur = {0}, at_lo = {0};
	char why[WHY_LEN], why_lo[WHY_LEN] = "", why_hi[WHY_LEN] = "";
	size_t found = SIZE_MAX;

	assert_true(lo <= hi && hi <= l->n);
	CHECK(model_load_db(db, NULL, &got, why, sizeof(why)) == 0,
	      "%s: reading the store back: %s", ctx, why);
	model_clone(&cur, base);
	for (size_t p = 0; p < lo; p++)
		wwrite_apply(&l->w[p], &cur);
	model_clone(&at_lo, &cur);
	for (size_t p = lo; p <= hi; p++) {
		if (model_diff(&cur, &got, NULL, 0) == 0)
			found = p;
		if (p < hi)
			wwrite_apply(&l->w[p], &cur);
	}
	if (found == SIZE_MAX) {
		model_diff(&at_lo, &got, why_lo, sizeof(why_lo));
		model_diff(&cur, &got, why_hi, sizeof(why_hi));
	}
	CHECK(found != SIZE_MAX,
	      "%s: the store (%zu keys) is no prefix of the writes in [%zu, %zu]; "
	      "against the synced prefix %zu: %s; against %zu: %s",
	      ctx, got.n, lo, hi, lo, why_lo, hi, why_hi);
	/* gets agree with the iteration */
	CHECK(model_check_db(db, NULL, &got, why, sizeof(why)) == 0,
	      "%s: gets disagree with the iteration: %s", ctx, why);
	model_free(&got);
	model_free(&cur);
	model_free(&at_lo);
	return found;
}

/* Right after an open, recovery has moved every log into tables and
 * started one new log: a second NNNNNN.log left behind would be replayed
 * again at the next open, on top of newer data. */
static void check_one_log(const char *dir, const char *ctx)
{
	char **names = NULL, list[512] = "";
	size_t n = 0, o = 0;
	int logs = 0;
	lsm_env *env = lsm_env_posix();

	CHECK_RC(env->list(env, dir, &names, &n));
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]);
		if (l > 4 && !strcmp(names[i] + l - 4, ".log")) {
			logs++;
			if (o < sizeof(list) - 32)
				o += (size_t)snprintf(list + o, sizeof(list) - o, " %s", names[i]);
		}
	}
	lsm_env_list_free(names, n);
	CHECK(logs == 1, "%s: %d logs after recovery:%s", ctx, logs, list);
}

/* A second power cut, during the recovery from the first: open with a
 * cut at the rj-th sync (the open may fail, or succeed and then lose
 * power), and apply it.  What the first cut left must still be what
 * the next open finds: recovery adds and loses nothing. */
static void cut_during_recovery(const char *dir, const struct lsm_options *o,
				uint64_t rj, uint64_t tear_seed, const char *ctx)
{
	struct lsm_options opt = *o;
	lsm_env *env = fault_env();
	lsm_db *db = NULL;
	int rc;

	opt.env = env;
	lsm_fault_crash_at_sync(env, rj);
	rc = lsm_open(dir, &opt, &db);
	if (rc == LSM_OK) {
		lsm_fault_crash(env);
		lsm_close(db);
	} else {
		CHECK(lsm_fault_crashed(env), "%s: recovery failed without a fault: %s (%s)",
		      ctx, lsm_strerror(rc), lsm_last_error());
	}
	CHECK_RC(lsm_fault_apply_crash(env, tear_seed));
	env_destroy(env);
}

/* ---- a random workload ---------------------------------------------- */
#define CR_KEYS 300

struct work {
	lsm_db *db;
	lsm_env *env;
	struct model_rng r;
	struct wlog log;
	size_t acked;     /* writes[0..acked) returned LSM_OK */
	size_t synced;    /* writes[0..synced) are durable */
	size_t attempted; /* acked, plus the write that failed, if any */
	uint64_t gen;
	uint8_t *vbuf;
	lsm_batch *b;
	int failed_rc;    /* the first failure (0: none) */
};

static size_t cr_key(struct work *w, uint8_t *k)
{
	return (size_t)snprintf((char *)k, 32, "c%llu",
				(unsigned long long)model_below(&w->r, CR_KEYS));
}

static size_t cr_vlen(struct work *w)
{
	if (model_below(&w->r, 10) == 0)
		return 2048 + model_below(&w->r, 14 * 1024);
	return model_below(&w->r, 300);
}

/* Records the outcome of the write at the end of the log. */
static void work_outcome(struct work *w, int rc, int flags)
{
	if (rc == LSM_OK) {
		w->acked = w->log.n;
		if (flags & LSM_SYNC)
			w->synced = w->acked;
	} else {
		w->failed_rc = rc;
	}
	w->attempted = w->log.n;
}

/* One random write or sync.  Returns the call's status. */
static int work_step(struct work *w)
{
	uint64_t p = model_below(&w->r, 100);
	int flags = model_below(&w->r, 12) == 0 ? LSM_SYNC : 0;
	uint8_t k[32];
	size_t kl = cr_key(w, k);
	struct wwrite *ww;
	int rc;

	if (p < 5) {
		rc = lsm_sync(w->db);
		if (rc == LSM_OK)
			w->synced = w->acked;
		else
			w->failed_rc = rc;
		return rc;
	}
	ww = wlog_new(&w->log);
	if (p < 65) {
		size_t vl = cr_vlen(w);
		val_of(++w->gen, w->vbuf, vl);
		wwrite_add(ww, 0, k, kl, w->vbuf, vl);
		rc = lsm_put(w->db, k, kl, w->vbuf, vl, flags);
	} else if (p < 80) {
		wwrite_add(ww, 1, k, kl, NULL, 0);
		rc = lsm_delete(w->db, k, kl, flags);
	} else {
		int n = 2 + (int)model_below(&w->r, 9);
		lsm_batch_clear(w->b);
		for (int i = 0; i < n; i++) {
			kl = cr_key(w, k);
			if (model_below(&w->r, 4) == 0) {
				wwrite_add(ww, 1, k, kl, NULL, 0);
				CHECK_RC(lsm_batch_delete(w->b, k, kl));
			} else {
				size_t vl = model_below(&w->r, 2000);
				val_of(++w->gen, w->vbuf, vl);
				wwrite_add(ww, 0, k, kl, w->vbuf, vl);
				CHECK_RC(lsm_batch_put(w->b, k, kl, w->vbuf, vl));
			}
		}
		rc = lsm_write(w->db, w->b, flags);
	}
	work_outcome(w, rc, flags);
	return rc;
}

static void work_init(struct work *w, uint64_t seed)
{
	memset(w, 0, sizeof(*w));
	model_rng_seed(&w->r, seed);
	w->vbuf = malloc(16 * 1024 + 64);
	assert_non_null(w->vbuf);
	CHECK_RC(lsm_batch_create(&w->b));
}

static void work_free(struct work *w)
{
	wlog_free(&w->log);
	free(w->vbuf);
	lsm_batch_destroy(w->b);
}

/* After a power cut every write must fail (the machine has stopped). */
static void expect_writes_fail(lsm_db *db, const char *ctx)
{
	for (int i = 0; i < 2; i++) {
		int rc = lsm_put(db, "after-cut", 9, "x", 1, i ? LSM_SYNC : 0);
		CHECK(rc != LSM_OK, "%s: a write after the power cut succeeded", ctx);
	}
}

/* ======================================================================
 * random rounds of write, cut, reopen, check
 */
enum { MODE_SYNC_CUT, MODE_CUT_BETWEEN, MODE_CLEAN };

static void test_crash_rounds(void **state)
{
	uint64_t rounds = model_env_u64("LSM_ROUNDS", 50);
	struct lsm_options opt;
	struct model base = {0};
	struct model_rng r;
	lsm_env *env = fault_env();
	lsm_db *db = NULL;
	char dir[64];
	uint64_t appends, syncs, cuts = 0, torn_kept = 0;
	(void)state;

	model_tmpdir(dir, sizeof(dir), "lsmcrash_rounds");
	model_rng_seed(&r, g_seed);
	small_options(&opt, env);
	CHECK_RC(lsm_open(dir, &opt, &db));
	for (uint64_t round = 0; round < rounds; round++) {
		uint64_t rseed = model_rand(&r);
		int mode = (int)model_below(&r, 10);
		int nops = 20 + (int)model_below(&r, 300);
		int cut_at = (int)model_below(&r, (uint64_t)nops);
		uint64_t sync_n = 1 + model_below(&r, 30);
		struct work w;
		char ctx[160];

		mode = mode == 0 ? MODE_CLEAN : mode < 5 ? MODE_CUT_BETWEEN : MODE_SYNC_CUT;
		snprintf(ctx, sizeof(ctx),
			 "round %llu (seed %llu, mode %s, %d ops, cut at %s %llu)",
			 (unsigned long long)round, (unsigned long long)rseed,
			 mode == MODE_CLEAN ? "clean" : mode == MODE_CUT_BETWEEN ? "between" : "sync",
			 nops, mode == MODE_SYNC_CUT ? "sync" : "op",
			 mode == MODE_SYNC_CUT ? (unsigned long long)sync_n
					       : (unsigned long long)cut_at);
		print_message("crash %s\n", ctx);
		work_init(&w, rseed);
		w.db = db;
		w.env = env;
		if (mode == MODE_SYNC_CUT)
			lsm_fault_crash_at_sync(env, sync_n);
		for (int i = 0; i < nops; i++) {
			if (mode == MODE_CUT_BETWEEN && i == cut_at)
				lsm_fault_crash(env);
			bool was_crashed = lsm_fault_crashed(env);
			int rc = work_step(&w);
			if (rc) {
				CHECK(lsm_fault_crashed(env),
				      "%s: op %d failed without a fault: %s (%s)",
				      ctx, i, lsm_strerror(rc), lsm_last_error());
				break;
			}
			CHECK(!was_crashed, "%s: op %d succeeded after the power cut",
			      ctx, i);
		}
		if (mode != MODE_CLEAN && !lsm_fault_crashed(env))
			lsm_fault_crash(env);
		if (mode != MODE_CLEAN)
			expect_writes_fail(db, ctx);
		lsm_fault_counts(env, &appends, &syncs);
		int crc = lsm_close(db);
		db = NULL;
		if (mode == MODE_CLEAN) {
			CHECK(crc == LSM_OK, "%s: clean close: %s (%s)", ctx,
			      lsm_strerror(crc), lsm_last_error());
			/* a clean close made everything durable */
			w.synced = w.acked;
		} else {
			cuts++;
		}
		CHECK_RC(lsm_fault_apply_crash(env, rseed));
		env_destroy(env);
		if (model_below(&r, 3) == 0) {
			uint64_t rj = 1 + model_below(&r, 8);
			print_message("   and a second cut at sync %llu of the recovery\n",
				      (unsigned long long)rj);
			cut_during_recovery(dir, &opt, rj, rseed + 1, ctx);
		}
		env = fault_env();
		opt.env = env;
		int orc = lsm_open(dir, &opt, &db);
		CHECK(orc == LSM_OK, "%s: reopen after the cut: %s (%s)", ctx,
		      lsm_strerror(orc), lsm_last_error());
		check_one_log(dir, ctx);
		size_t p = check_prefix(db, &base, &w.log, w.synced, w.attempted, ctx);
		if (p > w.synced)
			torn_kept++;
		print_message("   %zu writes acked, %zu synced, %zu attempted: store holds %zu (%llu appends, %llu syncs)\n",
			      w.acked, w.synced, w.attempted, p,
			      (unsigned long long)appends, (unsigned long long)syncs);
		/* the next round starts from what survived */
		for (size_t i = 0; i < p; i++)
			wwrite_apply(&w.log.w[i], &base);
		work_free(&w);
	}
	print_message("crash rounds: %llu rounds, %llu power cuts, %llu kept unsynced writes\n",
		      (unsigned long long)rounds, (unsigned long long)cuts,
		      (unsigned long long)torn_kept);
	char why[WHY_LEN];
	CHECK(model_check_db(db, NULL, &base, why, sizeof(why)) == 0, "at the end: %s", why);
	CHECK_RC(lsm_close(db));
	env_destroy(env);
	model_free(&base);
	model_rmrf(dir);
}

/* ======================================================================
 * a power cut at the k-th sync, for every k of a fixed workload
 */

/* A fixed workload; stops at the first failure.  Deterministic in its
 * syncs: background work only on demand and a memtable that never fills
 * by itself. */
static void kwork(struct work *w)
{
	for (int i = 0; i < 48; i++) {
		uint8_t k[32], v[600];
		size_t kl = (size_t)snprintf((char *)k, sizeof(k), "k%02d", (i * 7) % 17);
		size_t vl = 40 + (size_t)(i * 13) % 500;
		int flags = i % 6 == 5 ? LSM_SYNC : 0;
		struct wwrite *ww;
		int rc = LSM_OK;

		switch (i) {
		case 14:
			rc = lsm_flush(w->db);
			break;
		case 22:
			rc = lsm_sync(w->db);
			if (!rc)
				w->synced = w->acked;
			break;
		case 30:
			rc = lsm_compact_range(w->db, NULL, 0, NULL, 0);
			break;
		case 38:
			rc = lsm_flush(w->db);
			break;
		default:
			break;
		}
		if (rc) {
			w->failed_rc = rc;
			return;
		}
		ww = wlog_new(&w->log);
		if (i % 9 == 4) {
			wwrite_add(ww, 1, k, kl, NULL, 0);
			rc = lsm_delete(w->db, k, kl, flags);
		} else if (i % 11 == 7) {
			lsm_batch_clear(w->b);
			for (int j = 0; j < 4; j++) {
				kl = (size_t)snprintf((char *)k, sizeof(k), "b%02d", (i + j * 5) % 13);
				val_of((uint64_t)(i * 10 + j), v, vl);
				wwrite_add(ww, 0, k, kl, v, vl);
				CHECK_RC(lsm_batch_put(w->b, k, kl, v, vl));
			}
			wwrite_add(ww, 1, "k00", 3, NULL, 0);
			CHECK_RC(lsm_batch_delete(w->b, "k00", 3));
			rc = lsm_write(w->db, w->b, flags);
		} else {
			val_of((uint64_t)i, v, vl);
			wwrite_add(ww, 0, k, kl, v, vl);
			rc = lsm_put(w->db, k, kl, v, vl, flags);
		}
		work_outcome(w, rc, flags);
		if (rc)
			return;
	}
}

/* One run of kwork with a cut at sync k (0: none).  Returns the number
 * of syncs the env saw. */
static uint64_t crash_at_k(uint64_t k, uint64_t tear_seed, uint64_t rj)
{
	struct lsm_options opt;
	struct model empty = {0};
	lsm_env *env = fault_env();
	lsm_db *db = NULL;
	struct work w;
	char dir[64], ctx[96];
	uint64_t appends, syncs;
	int rc;

	model_tmpdir(dir, sizeof(dir), "lsmcrash_k");
	snprintf(ctx, sizeof(ctx), "cut at sync %llu (tear seed %llu), then at recovery sync %llu",
		 (unsigned long long)k, (unsigned long long)tear_seed,
		 (unsigned long long)rj);
	small_options(&opt, env);
	opt.no_background = 1;
	work_init(&w, 0);
	if (k)
		lsm_fault_crash_at_sync(env, k);
	rc = lsm_open(dir, &opt, &db);
	if (rc) {
		/* the cut came during creation */
		CHECK(k && lsm_fault_crashed(env), "%s: open: %s (%s)", ctx,
		      lsm_strerror(rc), lsm_last_error());
		CHECK(db == NULL, "%s: failed open returned a handle", ctx);
	} else {
		w.db = db;
		w.env = env;
		kwork(&w);
		if (w.failed_rc)
			CHECK(lsm_fault_crashed(env), "%s: the workload failed without a fault: %s (%s)",
			      ctx, lsm_strerror(w.failed_rc), lsm_last_error());
		if (lsm_fault_crashed(env))
			expect_writes_fail(db, ctx);
		rc = lsm_close(db);
		db = NULL;
		if (!lsm_fault_crashed(env)) {
			CHECK(rc == LSM_OK, "%s: close: %s (%s)", ctx,
			      lsm_strerror(rc), lsm_last_error());
			w.synced = w.acked;
		}
	}
	lsm_fault_counts(env, &appends, &syncs);
	CHECK_RC(lsm_fault_apply_crash(env, tear_seed));
	env_destroy(env);
	if (rj)
		cut_during_recovery(dir, &opt, rj, tear_seed + 1, ctx);
	opt.env = NULL;
	opt.no_background = 0;
	rc = lsm_open(dir, &opt, &db);
	CHECK(rc == LSM_OK, "%s: reopen: %s (%s)", ctx, lsm_strerror(rc),
	      lsm_last_error());
	check_one_log(dir, ctx);
	check_prefix(db, &empty, &w.log, w.synced, w.attempted, ctx);
	CHECK_RC(lsm_close(db));
	work_free(&w);
	model_rmrf(dir);
	return syncs;
}

static void test_crash_every_sync(void **state)
{
	uint64_t total;
	(void)state;

	total = crash_at_k(0, 1, 0);
	print_message("every sync: the workload makes %llu syncs (open included)\n",
		      (unsigned long long)total);
	CHECK(total >= 5, "only %llu syncs in the workload", (unsigned long long)total);
	for (uint64_t k = 1; k <= total + 1; k++)
		for (uint64_t tear = 0; tear < 3; tear++)
			crash_at_k(k, g_seed + k * 7 + tear, 0);
	/* and a second cut during each recovery, at each of its first syncs */
	for (uint64_t k = 1; k <= total + 1; k++)
		for (uint64_t rj = 1; rj <= 6; rj++)
			crash_at_k(k, g_seed + k * 11 + rj, rj);
}

/* ======================================================================
 * a full disk
 */
static void test_enospc(void **state)
{
	struct lsm_options opt;
	struct model empty = {0};
	lsm_env *env = NULL;
	lsm_db *db = NULL;
	struct work w;
	char dir[64];
	int rc;
	(void)state;

	/* 0: the log is full; 1: a background flush meets the full disk;
	 * 2: the same flush run by the writer (opt.no_background) */
	for (int variant = 0; variant < 3; variant++) {
		char ctx[64];
		snprintf(ctx, sizeof(ctx), "ENOSPC %s",
			 variant == 0 ? "in the log" : variant == 1
				? "in a background flush" : "in a flush by the writer");
		model_tmpdir(dir, sizeof(dir), "lsmcrash_nospc");
		env = fault_env();
		small_options(&opt, env);
		opt.no_background = variant != 1;
		CHECK_RC(lsm_open(dir, &opt, &db));
		work_init(&w, g_seed + 77 + (uint64_t)variant);
		w.db = db;
		w.env = env;
		for (int i = 0; i < 60; i++)
			CHECK(work_step(&w) == LSM_OK, "%s: healthy write %d failed", ctx, i);
		uint64_t n = 1 + model_below(&w.r, 3);
		lsm_fault_fail_append(env, n, LSM_ENOSPC, 1);
		if (variant >= 1) {
			rc = lsm_flush(db);
			print_message("%s: lsm_flush returned %s (%s)\n", ctx,
				      lsm_strerror(rc), lsm_last_error());
			CHECK(rc == LSM_ENOSPC || rc == LSM_EREADONLY,
			      "%s: flush returned %s", ctx, lsm_strerror(rc));
		}
		int first_fail = -1;
		for (int i = 0; i < 10; i++) {
			size_t before = w.log.n;
			int step = work_step(&w);
			if (w.log.n == before)
				continue; /* an lsm_sync */
			if (step == LSM_OK) {
				CHECK(first_fail < 0, "%s: write %d succeeded after a failed one",
				      ctx, i);
				continue;
			}
			if (first_fail < 0) {
				first_fail = i;
				CHECK(step == LSM_ENOSPC ||
				      (variant >= 1 && step == LSM_EREADONLY),
				      "%s: the failing write returned %s, want ENOSPC",
				      ctx, lsm_strerror(step));
			} else {
				CHECK(step == LSM_ENOSPC || step == LSM_EREADONLY,
				      "%s: a write after the failure returned %s",
				      ctx, lsm_strerror(step));
			}
			/* the env wrote nothing of a failed append: a failed
			 * write must be nowhere (checked after reopen) */
			wlog_pop(&w.log);
			w.attempted = w.acked;
		}
		CHECK(first_fail >= 0 && (variant >= 1 || first_fail < (int)n + 2),
		      "%s: no write failed (fail_append at %llu)", ctx,
		      (unsigned long long)n);
		/* reads still work */
		{
			struct model m = {0};
			char why[WHY_LEN];
			for (size_t i = 0; i < w.acked; i++)
				wwrite_apply(&w.log.w[i], &m);
			CHECK(model_check_db(db, NULL, &m, why, sizeof(why)) == 0,
			      "%s: reads after the failure: %s", ctx, why);
			model_free(&m);
		}
		/* Space is back: a full disk does not stop the store
		 * (db.c), so a flush (retried by the background thread) and
		 * writes work again. */
		lsm_fault_fail_append(env, 0, 0, 0);
		for (int t = 0; t < 50; t++) {
			if ((rc = lsm_flush(db)) != LSM_ENOSPC)
				break;
			usleep(100 * 1000);
		}
		CHECK(rc == LSM_OK, "%s: flush once space is back: %s (%s)", ctx,
		      lsm_strerror(rc), lsm_last_error());
		for (int i = 0; i < 20; i++) {
			rc = work_step(&w);
			CHECK(rc == LSM_OK, "%s: write %d once space is back: %s (%s)",
			      ctx, i, lsm_strerror(rc), lsm_last_error());
		}
		rc = lsm_close(db);
		print_message("%s: first failure at write %d, close returned %s\n",
			      ctx, first_fail, lsm_strerror(rc));
		CHECK(rc == LSM_OK, "%s: close after the disk had room again: %s",
		      ctx, lsm_strerror(rc));
		env_destroy(env);
		opt.env = NULL;
		opt.no_background = 0;
		CHECK_RC(lsm_open(dir, &opt, &db));
		/* exactly the acknowledged writes: the env wrote nothing of
		 * the failing append (a failed write may be a no-op such as
		 * a delete of a missing key, so a range would prove less) */
		check_prefix(db, &empty, &w.log, w.acked, w.acked, ctx);
		CHECK_RC(lsm_close(db));
		work_free(&w);
		model_rmrf(dir);
	}
}

/* ======================================================================
 * a failing sync stops the store
 */
static void test_sync_failure(void **state)
{
	struct lsm_options opt;
	struct model empty = {0};
	lsm_env *env = fault_env();
	lsm_db *db = NULL;
	struct work w;
	char dir[64];
	int rc;
	(void)state;

	model_tmpdir(dir, sizeof(dir), "lsmcrash_sync");
	small_options(&opt, env);
	opt.no_background = 1;
	CHECK_RC(lsm_open(dir, &opt, &db));
	work_init(&w, g_seed + 99);
	w.db = db;
	for (int i = 0; i < 40; i++)
		CHECK(work_step(&w) == LSM_OK, "healthy write %d failed", i);
	lsm_fault_fail_sync(env, 1, LSM_EIO, 0);
	struct wwrite *ww = wlog_new(&w.log);
	wwrite_add(ww, 0, "synced?", 7, "no", 2);
	rc = lsm_put(db, "synced?", 7, "no", 2, LSM_SYNC);
	CHECK(rc == LSM_EIO, "a write whose sync failed returned %s", lsm_strerror(rc));
	w.attempted = w.log.n;
	/* the store refuses writes now, though the env works again */
	rc = lsm_put(db, "later", 5, "x", 1, 0);
	CHECK(rc == LSM_EREADONLY, "a write after a failed sync returned %s",
	      lsm_strerror(rc));
	rc = lsm_delete(db, "later", 5, 0);
	CHECK(rc == LSM_EREADONLY, "a delete after a failed sync returned %s",
	      lsm_strerror(rc));
	rc = lsm_sync(db);
	CHECK(rc != LSM_OK, "lsm_sync after a failed sync succeeded");
	rc = lsm_flush(db);
	CHECK(rc != LSM_OK, "lsm_flush after a failed sync succeeded");
	/* reads still work; the write whose sync failed may be visible */
	{
		char why[WHY_LEN];
		struct model m = {0}, with = {0};
		for (size_t i = 0; i < w.acked; i++)
			wwrite_apply(&w.log.w[i], &m);
		model_clone(&with, &m);
		wwrite_apply(ww, &with);
		CHECK(model_check_db(db, NULL, &m, why, sizeof(why)) == 0 ||
		      model_check_db(db, NULL, &with, why, sizeof(why)) == 0,
		      "reads after a failed sync: %s", why);
		model_free(&m);
		model_free(&with);
	}
	rc = lsm_close(db);
	CHECK(rc != LSM_OK, "close of a store stopped by a failed sync returned OK");
	env_destroy(env);
	opt.env = NULL;
	CHECK_RC(lsm_open(dir, &opt, &db));
	check_prefix(db, &empty, &w.log, w.acked, w.attempted, "after a failed sync");
	/* and it works again */
	CHECK_RC(lsm_put(db, "later", 5, "x", 1, LSM_SYNC));
	CHECK_RC(lsm_close(db));
	work_free(&w);
	model_rmrf(dir);
}

/* ======================================================================
 * a corrupt log
 */

/* The name and size of the largest NNNNNN.log in dir. */
static void biggest_log(const char *dir, char *name, size_t len, uint64_t *size)
{
	char **names = NULL;
	size_t n = 0;
	lsm_env *env = lsm_env_posix();

	*size = 0;
	name[0] = 0;
	CHECK_RC(env->list(env, dir, &names, &n));
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]);
		char path[512];
		struct stat sb;
		if (l < 5 || strcmp(names[i] + l - 4, ".log"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &sb) == 0 && (uint64_t)sb.st_size > *size) {
			*size = (uint64_t)sb.st_size;
			snprintf(name, len, "%s", names[i]);
		}
	}
	lsm_env_list_free(names, n);
}

static void flip_byte(const char *path, uint64_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

/* Does msg hold a decimal number in [lo, hi] outside the file name? */
static bool names_offset(const char *msg, const char *fname, uint64_t lo,
			 uint64_t hi)
{
	char *copy = strdup(msg), *p;
	bool ok = false;

	assert_non_null(copy);
	while ((p = strstr(copy, fname)))
		memset(p, ' ', strlen(fname));
	for (p = copy; *p; p++) {
		if (*p >= '0' && *p <= '9' && (p == copy || p[-1] < '0' || p[-1] > '9')) {
			uint64_t v = strtoull(p, NULL, 10);
			if (v >= lo && v <= hi)
				ok = true;
		}
	}
	free(copy);
	return ok;
}

#define CW_WRITES 400

static void test_corrupt_wal(void **state)
{
	struct lsm_options opt;
	struct model empty = {0};
	struct wlog log = {0};
	lsm_db *db = NULL;
	char dir[64], name[64], path[256];
	uint64_t size;
	int rc;
	(void)state;

	model_tmpdir(dir, sizeof(dir), "lsmcrash_wal");
	lsm_options_init(&opt); /* a 4 MiB memtable: all stays in the log */
	opt.no_background = 1;
	CHECK_RC(lsm_open(dir, &opt, &db));
	for (int i = 0; i < CW_WRITES; i++) {
		char k[16], v[64];
		/* equal-length records, so the record at an offset is known */
		snprintf(k, sizeof(k), "w%05d", i);
		snprintf(v, sizeof(v), "value-%05d-................................", i);
		wwrite_add(wlog_new(&log), 0, k, strlen(k), v, strlen(v));
		CHECK_RC(lsm_put(db, k, strlen(k), v, strlen(v), 0));
	}
	CHECK_RC(lsm_close(db));
	biggest_log(dir, name, sizeof(name), &size);
	CHECK(size > 0, "no log file with data in %s", dir);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	uint64_t rec = size / CW_WRITES; /* about one record's size */
	uint64_t off = size / 3;

	/* The store must refuse to open, naming the file and an offset at
	 * or before the flipped byte (the start of its record). */
	flip_byte(path, off);
	db = NULL;
	rc = lsm_open(dir, &opt, &db);
	const char *err = lsm_last_error();
	print_message("corrupt log: flipped byte %llu of %s (%llu bytes): open -> %s: %s\n",
		      (unsigned long long)off, name, (unsigned long long)size,
		      lsm_strerror(rc), err);
	CHECK(rc == LSM_ECORRUPT, "open of a store with a corrupt log: %s",
	      lsm_strerror(rc));
	CHECK(db == NULL, "failed open returned a handle");
	CHECK(strstr(err, name) != NULL, "the error does not name %s: %s", name, err);
	CHECK(names_offset(err, name, off >= 2 * rec ? off - 2 * rec : 0, off),
	      "the error does not give an offset near %llu: %s",
	      (unsigned long long)off, err);
	/* the log is untouched by the failed open: still refused */
	rc = lsm_open(dir, &opt, &db);
	CHECK(rc == LSM_ECORRUPT, "second open of a corrupt store: %s", lsm_strerror(rc));

	/* salvage keeps the records before the bad one */
	opt.salvage = 1;
	CHECK_RC(lsm_open(dir, &opt, &db));
	size_t want = (size_t)(off / rec);
	size_t p = check_prefix(db, &empty, &log, want > 3 ? want - 3 : 0,
				want + 3 < CW_WRITES ? want + 3 : CW_WRITES,
				"salvaged open");
	print_message("corrupt log: salvage kept %zu of %d writes (about %zu expected)\n",
		      p, CW_WRITES, want);
	CHECK(p < CW_WRITES && p > 0, "salvage kept %zu writes", p);
	CHECK_RC(lsm_put(db, "after", 5, "salvage", 7, LSM_SYNC));
	CHECK_RC(lsm_close(db));
	/* and the salvaged store opens normally afterwards */
	opt.salvage = 0;
	CHECK_RC(lsm_open(dir, &opt, &db));
	struct model m = {0};
	for (size_t i = 0; i < p; i++)
		wwrite_apply(&log.w[i], &m);
	model_put(&m, "after", 5, "salvage", 7);
	char why[WHY_LEN];
	CHECK(model_check_db(db, NULL, &m, why, sizeof(why)) == 0,
	      "reopen after salvage: %s", why);
	CHECK_RC(lsm_close(db));
	model_free(&m);
	wlog_free(&log);
	model_rmrf(dir);
}

/* A torn tail (the last record cut short, or zeros after it) is a clean
 * end of the log, not corruption. */
static void test_torn_tail(void **state)
{
	struct lsm_options opt;
	struct model empty = {0};
	struct wlog log = {0};
	lsm_db *db = NULL;
	char dir[64], name[64], path[256];
	uint64_t size;
	(void)state;

	model_tmpdir(dir, sizeof(dir), "lsmcrash_torn");
	lsm_options_init(&opt);
	opt.no_background = 1;
	CHECK_RC(lsm_open(dir, &opt, &db));
	for (int i = 0; i < 50; i++) {
		char k[16], v[64];
		snprintf(k, sizeof(k), "t%03d", i);
		snprintf(v, sizeof(v), "torn-%03d", i);
		wwrite_add(wlog_new(&log), 0, k, strlen(k), v, strlen(v));
		CHECK_RC(lsm_put(db, k, strlen(k), v, strlen(v), 0));
	}
	CHECK_RC(lsm_close(db));
	biggest_log(dir, name, sizeof(name), &size);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* cut the last record short */
	assert_int_equal(truncate(path, (off_t)size - 3), 0);
	CHECK_RC(lsm_open(dir, &opt, &db));
	check_prefix(db, &empty, &log, 49, 49, "torn tail");
	/* more records after recovery, then zeros after the last good one
	 * (as a file system may leave after a crash) */
	struct model base = {0};
	for (size_t i = 0; i < 49; i++)
		wwrite_apply(&log.w[i], &base);
	wlog_free(&log);
	for (int i = 0; i < 10; i++) {
		char k[16], v[64];
		snprintf(k, sizeof(k), "u%03d", i);
		snprintf(v, sizeof(v), "more-%03d", i);
		wwrite_add(wlog_new(&log), 0, k, strlen(k), v, strlen(v));
		CHECK_RC(lsm_put(db, k, strlen(k), v, strlen(v), 0));
	}
	CHECK_RC(lsm_close(db));
	biggest_log(dir, name, sizeof(name), &size);
	CHECK(size > 0, "no log with the 10 new records");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_APPEND);
	char zeros[100] = {0};
	assert_true(fd >= 0);
	assert_int_equal(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
	close(fd);
	CHECK_RC(lsm_open(dir, &opt, &db));
	check_prefix(db, &base, &log, 10, 10, "zeros after the tail");
	CHECK_RC(lsm_close(db));
	model_free(&base);
	wlog_free(&log);
	model_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_corrupt_wal),
		cmocka_unit_test(test_sync_failure),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_crash_every_sync),
		cmocka_unit_test(test_crash_rounds),
	};

	g_seed = model_env_u64("LSM_SEED", 20240601);
	print_message("test_crash: seed=%llu (LSM_SEED), rounds=%llu (LSM_ROUNDS)\n",
		      (unsigned long long)g_seed,
		      (unsigned long long)model_env_u64("LSM_ROUNDS", 50));
	if (getenv("LSM_TEST")) /* e.g. LSM_TEST='test_snap*' */
		cmocka_set_test_filter(getenv("LSM_TEST"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
