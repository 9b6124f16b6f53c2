/*
 * fuzz_manifest.c — libFuzzer target for the manifest reader:
 * lsm_vset_open on a store directory whose CURRENT names a manifest
 * holding the input.
 *
 * Input: one mode byte (bit 0: fake checksums, see fuzz.h), then the
 * manifest file.
 *
 * Errors must be LSM_ECORRUPT or LSM_EVERSION, naming the manifest.  A
 * manifest that opens must describe a valid version (levels >= 1 sorted
 * and disjoint, every table number below next_file_num and listed once,
 * smallest <= largest); compaction picking must work on it; and writing
 * the state out again (lsm_vset_apply of an empty edit) and reopening
 * must give the same state.
 */
#include <string.h>

#include "fuzz.h"

#define DIR "/m"
#define MANIFEST DIR "/MANIFEST-000001"

static const struct lsm_vset_opts opts = {
	.level1_max_bytes = 10 << 20,
	.l0_compact_trigger = 4,
	.target_file_size = 2 << 20,
};

/* A digest of the state: the counters and every table, level by level. */
static uint64_t state_hash(struct lsm_vset *vs)
{
	struct lsm_version *v = lsm_vset_current(vs);
	uint64_t h = FUZZ_HASH_INIT, x[3];

	x[0] = lsm_vset_last_seq(vs);
	x[1] = lsm_vset_log_num(vs);
	h = fuzz_hash(h, x, 2 * sizeof(x[0]));
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		for (int i = 0; i < v->nfiles[l]; i++) {
			const struct lsm_fmeta *f = v->files[l][i];
			x[0] = (uint64_t)l;
			x[1] = f->num;
			x[2] = f->size;
			h = fuzz_hash(h, x, sizeof(x));
			h = fuzz_hash(h, &f->smallest.len, sizeof(size_t));
			h = fuzz_hash(h, f->smallest.data, f->smallest.len);
			h = fuzz_hash(h, &f->largest.len, sizeof(size_t));
			h = fuzz_hash(h, f->largest.data, f->largest.len);
		}
	}
	return h;
}

/* The invariants of the version a manifest gave (next: next_file_num
 * as read, before anything took a number). */
static void check_version(struct lsm_vset *vs, uint64_t next)
{
	struct lsm_version *v = lsm_vset_current(vs);

	FUZZ_CHECK(lsm_vset_last_seq(vs) <= LSM_SEQ_MAX);
	FUZZ_CHECK(lsm_vset_log_num(vs) < next);
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		FUZZ_CHECK(v->nfiles[l] >= 0);
		for (int i = 0; i < v->nfiles[l]; i++) {
			const struct lsm_fmeta *f = v->files[l][i];
			FUZZ_CHECK(f->num >= 1 && f->num < next && f->size >= 1);
			FUZZ_CHECK(f->smallest.len >= LSM_TRAILER &&
				   f->largest.len >= LSM_TRAILER);
			FUZZ_CHECK(lsm_ikey_cmp(f->smallest.data,
						f->smallest.len,
						f->largest.data,
						f->largest.len) <= 0);
			if (l > 0 && i > 0) {
				const struct lsm_fmeta *p = v->files[l][i - 1];
				FUZZ_CHECK(lsm_ikey_cmp(p->largest.data,
							p->largest.len,
							f->smallest.data,
							f->smallest.len) < 0);
			}
			if (l == 0 && i > 0)
				FUZZ_CHECK(v->files[0][i - 1]->num > f->num);
		}
	}
}

static void pick(struct lsm_vset *vs)
{
	struct lsm_compaction *c = lsm_vset_pick_compaction(vs);

	if (c) {
		FUZZ_CHECK(c->ninputs[0] > 0);
		(void)lsm_compaction_is_trivial(c);
		lsm_compaction_free(c);
	}
	c = lsm_vset_compact_range(vs, 1, NULL, 0, NULL, 0);
	if (c)
		lsm_compaction_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lsm_vset *vs = NULL, *vs2 = NULL;
	struct lsm_edit e;
	uint64_t next, h;
	int rc;

	if (size < 1)
		return 0;
	fuzz_fake_crc = data[0] & 1;
	fuzz_env_reset();
	fuzz_env_put(DIR "/CURRENT", "MANIFEST-000001\n", 16);
	fuzz_env_put(MANIFEST, data + 1, size - 1);
	rc = lsm_vset_open(fuzz_env(), DIR, &opts, false, &vs);
	FUZZ_CHECK(rc == LSM_OK || rc == LSM_ECORRUPT || rc == LSM_EVERSION);
	if (rc) {
		FUZZ_CHECK(!vs && strstr(lsm_last_error(), MANIFEST));
		goto out;
	}
	FUZZ_CHECK(lsm_vset_manifest_num(vs) == 1);
	next = lsm_vset_new_file_num(vs); /* takes one: the number read */
	check_version(vs, next);
	pick(vs);
	h = state_hash(vs);

	/* Written out again and reread: the same state.  (The reader bounds
	 * next_file_num by 2^56 - 1; the two numbers taken here must not pass
	 * it, which no store can reach by making files.) */
	if (next > LSM_SEQ_MAX - 16) {
		lsm_vset_close(vs);
		goto out;
	}
	lsm_edit_init(&e);
	rc = lsm_vset_apply(vs, &e);
	lsm_edit_free(&e);
	FUZZ_CHECK(rc == LSM_OK);
	FUZZ_CHECK(lsm_vset_manifest_num(vs) > next);
	FUZZ_CHECK(state_hash(vs) == h);
	FUZZ_CHECK(lsm_vset_open(fuzz_env(), DIR, &opts, false, &vs2) ==
		   LSM_OK);
	FUZZ_CHECK(state_hash(vs2) == h);
	FUZZ_CHECK(lsm_vset_manifest_num(vs2) == lsm_vset_manifest_num(vs));
	lsm_vset_close(vs2);
	lsm_vset_close(vs);
out:
	fuzz_env_reset();
	return 0;
}
