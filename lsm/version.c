/*
 * version.c — versions, the version set, the manifest, level iterators and
 * compaction picking, after LevelDB's version_set.cc (leveled compaction).
 *
 * A version is an immutable set of live tables per level.  The version
 * set (vset) owns the current version, keeps every version some reader
 * still references on a doubly linked list (so that obsolete-file deletion
 * spares their tables), hands out file numbers, and writes the manifest
 * that makes a new version durable before it is installed.  db.c is the
 * only caller; it holds its mutex around every vset call and around every
 * lsm_version_unref and lsm_compaction_free.  Reads through a referenced
 * version (lsm_version_get, lsm_version_iters, their iterators) need no
 * lock: a version's arrays never change after it is built.
 *
 * Manifest (MANIFEST-NNNNNN; bump LSM_MANIFEST_VERSION on any change)
 *
 *   Each lsm_vset_apply writes the whole state of the store to a NEW file
 *   (its number from the same counter as logs and tables) and never
 *   appends to an old one, so a manifest is either complete and named by
 *   CURRENT, or is garbage that nothing names.  A manifest is one frame:
 *
 *     offset 0   len:u32le     payload bytes; the file is exactly 8 + len
 *     offset 4   crc:u32le     crc32c(payload), unmasked
 *     offset 8   payload[len]  one CBOR item, nothing after it:
 *
 *     payload := array(6) [
 *         magic:uint          0x6c736d6d ("lsmm")
 *         version:uint        LSM_MANIFEST_VERSION = 1
 *         next_file_num:uint  every file number in use is below it
 *                             (2 .. 2^56 - 1, so that the counter
 *                             can never wrap)
 *         last_seq:uint       newest sequence number in the tables
 *                             (<= 2^56 - 1); the first needed log's
 *                             first record is last_seq + 1
 *         log_num:uint        logs numbered below it are obsolete
 *         files:array(n) of array(5) [
 *             level:uint      < LSM_MAX_LEVELS
 *             num:uint        1 .. next_file_num - 1: table NNNNNN.sst
 *             size:uint       the table file's bytes, >= 1
 *             smallest:bstr   internal key (user key + 8-byte trailer),
 *             largest:bstr    each 8 .. LSM_MAX_KEY + 8 bytes,
 *                             smallest <= largest
 *         ] ]
 *
 *   Byte by byte, state {next 7, last_seq 300, log 5, one 1000-byte table
 *   6 at level 0 holding "a"@1 .. "b"@2} is
 *     0x86                      array of 6
 *     0x1a 0x6c 0x73 0x6d 0x6d  magic
 *     0x01 0x07                 version, next_file_num
 *     0x19 0x01 0x2c            last_seq 300
 *     0x05                      log_num
 *     0x81                      files: array of 1
 *     0x85 0x00 0x06            [level 0, num 6,
 *     0x19 0x03 0xe8              size 1000,
 *     0x49 'a' 01 01 00..00       smallest: bstr(9), trailer (1<<8|VAL)
 *     0x49 'b' 01 02 00..00       largest ]
 *   Integers are written in their shortest CBOR head (cbor_encode_uint);
 *   a reader takes any definite-length head.  Files are listed level by
 *   level in each level's order (level 0 newest first, deeper levels by
 *   smallest key).  The magic is checked first, then the version (a newer
 *   version is LSM_EVERSION even if its layout differs), then every field's
 *   type and range, then the levels' invariants (no file number twice,
 *   levels >= 1 sorted and disjoint); any failure is LSM_ECORRUPT naming
 *   the file and the byte offset of the bad item.
 *
 *   An apply writes the manifest, fsyncs it and fsyncs the directory (so
 *   that the manifest's name, and those of the tables the edit adds, are
 *   durable before anything names them).  CURRENT holds
 *   "MANIFEST-NNNNNN\n" (the live manifest's name); it is replaced by
 *   writing CURRENT.tmp, fsync, rename to CURRENT, fsync of the directory.
 *   Only then is the new version installed and the previous manifest
 *   removed (best effort; a leftover is removed later as an obsolete file,
 *   since lsm_vset_live_files names only the current manifest).
 *
 *   last_seq is vs->last_seq at the time of the write: db.c sets it after
 *   WAL replay and after each flush to the newest sequence number the
 *   tables hold (lsm_vset_set_last_seq), and the next apply records it.
 *   Logs continue the numbering, so a log whose first record does not
 *   follow the one before shows lost writes (db.c, replay_record).
 *   Manifests written before this rule may record a larger last_seq
 *   (the newest write at the time); readers accept that.
 *
 *   Crash windows: before the rename, the old CURRENT and manifest stand
 *   and the half-written manifest is unnamed.  After the rename, a crash
 *   leaves either name, and both files exist.  If the directory fsync
 *   after the rename fails, apply reports the error and keeps both
 *   manifests: CURRENT on disk may already name the new one, so db.c must
 *   treat a failed apply as fatal for writes and delete no files after it.
 */
#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cbor/callbacks.h>
#include <cbor/encoding.h>
#include <cbor/streaming.h>

#include "lsm_int.h"

#define LSM_MANIFEST_VERSION 1
#define LSM_MANIFEST_MAGIC 0x6c736d6du /* "lsmm" */
#define MANIFEST_FIELDS 6
#define MANIFEST_FILE_FIELDS 5
#define CURRENT_MAX 64 /* bytes of CURRENT we are willing to read */

/* A flushed table goes at most this deep (LevelDB's kMaxMemCompactLevel). */
#define MAX_MEM_COMPACT_LEVEL 2

struct lsm_vset {
	lsm_env *env;         /* borrowed */
	char *dir;            /* owned */
	struct lsm_vset_opts o;
	uint64_t next_file_num;
	uint64_t last_seq;
	uint64_t log_num;
	uint64_t manifest_num; /* 0 until the first manifest is written */
	struct lsm_version *current; /* one reference held by the vset */
	/* Sentinel of the circular list of live versions (current included).
	 * Only prev/next of it are used. */
	struct lsm_version live;
	/* Per level, the largest internal key of the last compaction's
	 * inputs[0] there: the next compaction starts after it.  Empty: start
	 * at the level's first file.  Kept in memory only. */
	struct lsm_buf compact_ptr[LSM_MAX_LEVELS];
	struct lsm_buf enc; /* manifest frame, reused by each apply */
};

/* ---- small helpers ------------------------------------------------------ */

/* User key of an internal key held in a buffer. */
static inline const uint8_t *ukey_of(const struct lsm_buf *ik, size_t *len)
{
	*len = ik->len - LSM_TRAILER;
	return ik->data;
}

static int ukey_cmp_buf(const uint8_t *uk, size_t uklen,
			const struct lsm_buf *ik)
{
	return lsm_ukey_cmp(uk, uklen, ik->data, ik->len - LSM_TRAILER);
}

static int ikey_cmp_buf(const struct lsm_buf *a, const struct lsm_buf *b)
{
	return lsm_ikey_cmp(a->data, a->len, b->data, b->len);
}

/* Grows a malloc'd array of elem-byte items so that it holds need items. */
static int array_grow(void **arr, int *cap, int need, size_t elem)
{
	int ncap = *cap ? *cap : 8;
	void *p;

	if (need <= *cap)
		return LSM_OK;
	while (ncap < need)
		ncap *= 2;
	if (!(p = realloc(*arr, (size_t)ncap * elem)))
		return LSM_ERR(LSM_ENOMEM, "out of memory (%d items)", ncap);
	*arr = p;
	*cap = ncap;
	return LSM_OK;
}

/* A growable array of borrowed fmeta pointers (picking's scratch). */
struct fvec {
	struct lsm_fmeta **v;
	int n, cap;
};

static int fvec_push(struct fvec *fv, struct lsm_fmeta *f)
{
	int rc = array_grow((void **)&fv->v, &fv->cap, fv->n + 1,
			    sizeof(*fv->v));

	if (rc)
		return rc;
	fv->v[fv->n++] = f;
	return LSM_OK;
}

static void fvec_free(struct fvec *fv)
{
	free(fv->v);
	memset(fv, 0, sizeof(*fv));
}

static void fvec_swap(struct fvec *a, struct fvec *b)
{
	struct fvec t = *a;

	*a = *b;
	*b = t;
}

static uint64_t files_bytes(struct lsm_fmeta *const *f, int n)
{
	uint64_t sum = 0;

	for (int i = 0; i < n; i++)
		sum += f[i]->size;
	return sum;
}

/* ---- file metadata ------------------------------------------------------ */

/* A new fmeta with one reference, keys copied; NULL on ENOMEM. */
struct lsm_fmeta *lsm_fmeta_new(uint64_t num, uint64_t size,
				const uint8_t *smallest, size_t slen,
				const uint8_t *largest, size_t llen)
{
	struct lsm_fmeta *f;

	assert(slen >= LSM_TRAILER && llen >= LSM_TRAILER);
	if (!(f = calloc(1, sizeof(*f)))) {
		LSM_ERR(LSM_ENOMEM, "out of memory (fmeta)");
		return NULL;
	}
	atomic_init(&f->refs, 1);
	f->num = num;
	f->size = size;
	/* LevelDB's rule: a seek costs about as much as compacting 16 KiB
	 * (one seek ~ 10 ms ~ 1 MB of I/O, 25 MB of compaction I/O per MB
	 * compacted, with margin), and at least 100. */
	atomic_init(&f->allowed_seeks, size / 16384 < 100 ? 100
						       : (int)(size / 16384));
	if (lsm_buf_set(&f->smallest, smallest, slen) ||
	    lsm_buf_set(&f->largest, largest, llen)) {
		lsm_buf_free(&f->smallest);
		lsm_buf_free(&f->largest);
		free(f);
		return NULL;
	}
	return f;
}

void lsm_fmeta_ref(struct lsm_fmeta *f)
{
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

/* Thread-safe: fmeta references are atomic and need no lock. */
void lsm_fmeta_unref(struct lsm_fmeta *f)
{
	if (!f || atomic_fetch_sub_explicit(&f->refs, 1,
					    memory_order_acq_rel) != 1)
		return;
	lsm_buf_free(&f->smallest);
	lsm_buf_free(&f->largest);
	free(f);
}

/* ---- edits -------------------------------------------------------------- */

void lsm_edit_init(struct lsm_edit *e)
{
	memset(e, 0, sizeof(*e));
}

int lsm_edit_delete(struct lsm_edit *e, int level, uint64_t num)
{
	int rc;

	if (level < 0 || level >= LSM_MAX_LEVELS)
		return LSM_ERR(LSM_EINVAL, "edit: bad level %d", level);
	if ((rc = array_grow((void **)&e->deleted, &e->cap_deleted,
			     e->ndeleted + 1, sizeof(*e->deleted))))
		return rc;
	e->deleted[e->ndeleted].level = level;
	e->deleted[e->ndeleted].num = num;
	e->ndeleted++;
	return LSM_OK;
}

/* Adds f at level.  The edit takes a reference of its own: the caller
 * keeps (and still releases) the one it holds. */
int lsm_edit_add(struct lsm_edit *e, int level, struct lsm_fmeta *f)
{
	int rc;

	if (level < 0 || level >= LSM_MAX_LEVELS)
		return LSM_ERR(LSM_EINVAL, "edit: bad level %d", level);
	if ((rc = array_grow((void **)&e->added, &e->cap_added, e->nadded + 1,
			     sizeof(*e->added))))
		return rc;
	lsm_fmeta_ref(f);
	e->added[e->nadded].level = level;
	e->added[e->nadded].f = f;
	e->nadded++;
	return LSM_OK;
}

/* Releases the edit's references and arrays; e is left empty, reusable. */
void lsm_edit_free(struct lsm_edit *e)
{
	for (int i = 0; i < e->nadded; i++)
		lsm_fmeta_unref(e->added[i].f);
	free(e->added);
	free(e->deleted);
	lsm_edit_init(e);
}

static bool edit_deletes(const struct lsm_edit *e, int level, uint64_t num)
{
	for (int i = 0; i < e->ndeleted; i++)
		if (e->deleted[i].level == level && e->deleted[i].num == num)
			return true;
	return false;
}

/* ---- versions ----------------------------------------------------------- */

static struct lsm_version *version_new(struct lsm_vset *vs)
{
	struct lsm_version *v = calloc(1, sizeof(*v));

	if (!v) {
		LSM_ERR(LSM_ENOMEM, "out of memory (version)");
		return NULL;
	}
	atomic_init(&v->refs, 1);
	v->vs = vs;
	v->compact_level = -1;
	v->compact_score = -1;
	return v;
}

/* Unlinks v from its vset's list (if linked) and frees it. */
static void version_free(struct lsm_version *v)
{
	if (v->next) {
		v->prev->next = v->next;
		v->next->prev = v->prev;
	}
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		for (int i = 0; i < v->nfiles[l]; i++)
			lsm_fmeta_unref(v->files[l][i]);
		free(v->files[l]);
	}
	free(v);
}

void lsm_version_ref(struct lsm_version *v)
{
	atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
}

/* Drops a reference.  The last one (never the current version's: the vset
 * holds one on it) unlinks v from the vset's list of live versions, so the
 * caller must hold db.c's mutex, which guards that list. */
bool lsm_version_unref_unless_last(struct lsm_version *v)
{
	int r = atomic_load_explicit(&v->refs, memory_order_relaxed);

	while (r > 1)
		if (atomic_compare_exchange_weak_explicit(
			    &v->refs, &r, r - 1, memory_order_acq_rel,
			    memory_order_relaxed))
			return true;
	return false;
}

void lsm_version_unref(struct lsm_version *v)
{
	if (!v || atomic_fetch_sub_explicit(&v->refs, 1,
					    memory_order_acq_rel) != 1)
		return;
	version_free(v);
}

static int cmp_level0(const void *a, const void *b)
{
	const struct lsm_fmeta *fa = *(struct lsm_fmeta *const *)a;
	const struct lsm_fmeta *fb = *(struct lsm_fmeta *const *)b;

	return fa->num < fb->num ? 1 : fa->num > fb->num ? -1 : 0;
}

static int cmp_sorted(const void *a, const void *b)
{
	const struct lsm_fmeta *fa = *(struct lsm_fmeta *const *)a;
	const struct lsm_fmeta *fb = *(struct lsm_fmeta *const *)b;
	int c = ikey_cmp_buf(&fa->smallest, &fb->smallest);

	if (c)
		return c;
	return fa->num < fb->num ? -1 : fa->num > fb->num;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Checks v's invariants: no file number twice, levels >= 1 disjoint.
 * Returns LSM_OK, or rc with a message prefixed by who. */
static int version_check(const struct lsm_version *v, int rc, const char *who)
{
	uint64_t *nums = NULL;
	int n = 0, total = 0, err = LSM_OK;

	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		total += v->nfiles[l];
		for (int i = 1; l > 0 && i < v->nfiles[l]; i++) {
			const struct lsm_fmeta *a = v->files[l][i - 1];
			const struct lsm_fmeta *b = v->files[l][i];
			if (ikey_cmp_buf(&a->largest, &b->smallest) >= 0)
				return LSM_ERR(rc, "%s: tables %llu and %llu "
					       "overlap at level %d", who,
					       (unsigned long long)a->num,
					       (unsigned long long)b->num, l);
		}
	}
	if (total < 2)
		return LSM_OK;
	if (!(nums = malloc((size_t)total * sizeof(*nums))))
		return LSM_ERR(LSM_ENOMEM, "out of memory (%d numbers)", total);
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		for (int i = 0; i < v->nfiles[l]; i++)
			nums[n++] = v->files[l][i]->num;
	qsort(nums, (size_t)n, sizeof(*nums), cmp_u64);
	for (int i = 1; i < n && !err; i++)
		if (nums[i] == nums[i - 1])
			err = LSM_ERR(rc, "%s: table %llu listed twice", who,
				      (unsigned long long)nums[i]);
	free(nums);
	return err;
}

/* Bytes a level may hold before it needs compaction (levels >= 1). */
static double level_max_bytes(const struct lsm_vset_opts *o, int level)
{
	double r = o->level1_max_bytes ? (double)o->level1_max_bytes : 1;

	while (level-- > 1)
		r *= 10;
	return r;
}

/* Sets v's compact_level and compact_score: level 0 by file count, deeper
 * levels by bytes; the last level has no score. */
static void version_score(const struct lsm_vset_opts *o, struct lsm_version *v)
{
	int trigger = o->l0_compact_trigger > 0 ? o->l0_compact_trigger : 1;

	v->compact_level = -1;
	v->compact_score = -1;
	for (int l = 0; l < LSM_MAX_LEVELS - 1; l++) {
		double score;
		if (l == 0)
			score = v->nfiles[0] / (double)trigger;
		else
			score = (double)files_bytes(v->files[l], v->nfiles[l]) /
				level_max_bytes(o, l);
		if (score > v->compact_score) {
			v->compact_level = l;
			v->compact_score = score;
		}
	}
}

/* *out = base (NULL: empty) minus e's deletions plus e's additions, each
 * level sorted, with its score; unlinked, one reference.  LSM_EINVAL if
 * the result breaks the levels' invariants. */
static int version_build(struct lsm_vset *vs, const struct lsm_version *base,
			 const struct lsm_edit *e, struct lsm_version **out)
{
	struct lsm_version *v;
	int rc = LSM_OK;

	*out = NULL;
	if (!(v = version_new(vs)))
		return LSM_ENOMEM;
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		int nbase = base ? base->nfiles[l] : 0, cap = nbase;
		for (int i = 0; i < e->nadded; i++)
			cap += e->added[i].level == l;
		if (!cap)
			continue;
		if (!(v->files[l] = malloc((size_t)cap * sizeof(*v->files[l])))) {
			rc = LSM_ERR(LSM_ENOMEM, "out of memory (level %d)", l);
			goto out;
		}
		for (int i = 0; i < nbase; i++) {
			struct lsm_fmeta *f = base->files[l][i];
			if (edit_deletes(e, l, f->num))
				continue;
			lsm_fmeta_ref(f);
			v->files[l][v->nfiles[l]++] = f;
		}
		for (int i = 0; i < e->nadded; i++) {
			if (e->added[i].level != l)
				continue;
			lsm_fmeta_ref(e->added[i].f);
			v->files[l][v->nfiles[l]++] = e->added[i].f;
		}
		qsort(v->files[l], (size_t)v->nfiles[l], sizeof(*v->files[l]),
		      l == 0 ? cmp_level0 : cmp_sorted);
	}
	if ((rc = version_check(v, LSM_EINVAL, "version edit")))
		goto out;
	version_score(&vs->o, v);
	*out = v;
	v = NULL;
out:
	if (v)
		version_free(v);
	return rc;
}

static void vset_link(struct lsm_vset *vs, struct lsm_version *v)
{
	v->prev = vs->live.prev;
	v->next = &vs->live;
	v->prev->next = v;
	vs->live.prev = v;
}

/* Makes v (linked here, its reference taken) the current version. */
static void vset_install(struct lsm_vset *vs, struct lsm_version *v)
{
	struct lsm_version *old = vs->current;

	vset_link(vs, v);
	vs->current = v;
	if (old)
		lsm_version_unref(old);
}

/* ---- manifest encoding -------------------------------------------------- */

static int enc_uint(struct lsm_buf *b, uint64_t v)
{
	int rc = lsm_buf_reserve(b, 9);

	if (rc)
		return rc;
	b->len += cbor_encode_uint(v, b->data + b->len, 9);
	return LSM_OK;
}

static int enc_array(struct lsm_buf *b, size_t n)
{
	int rc = lsm_buf_reserve(b, 9);

	if (rc)
		return rc;
	b->len += cbor_encode_array_start(n, b->data + b->len, 9);
	return LSM_OK;
}

static int enc_bstr(struct lsm_buf *b, const struct lsm_buf *s)
{
	int rc = lsm_buf_reserve(b, 9 + s->len);

	if (rc)
		return rc;
	b->len += cbor_encode_bytestring_start(s->len, b->data + b->len, 9);
	memcpy(b->data + b->len, s->data, s->len);
	b->len += s->len;
	return LSM_OK;
}

static int enc_file(struct lsm_buf *b, int level, const struct lsm_fmeta *f)
{
	int rc;

	if ((rc = enc_array(b, MANIFEST_FILE_FIELDS)) ||
	    (rc = enc_uint(b, (uint64_t)level)) ||
	    (rc = enc_uint(b, f->num)) || (rc = enc_uint(b, f->size)) ||
	    (rc = enc_bstr(b, &f->smallest)) || (rc = enc_bstr(b, &f->largest)))
		return rc;
	return LSM_OK;
}

/* Clears b and fills it with one whole manifest frame for this state. */
static int manifest_encode(struct lsm_buf *b, uint64_t next_file_num,
			   uint64_t last_seq, uint64_t log_num,
			   const struct lsm_version *v)
{
	size_t nfiles = 0;
	int rc;

	lsm_buf_clear(b);
	if ((rc = lsm_buf_reserve(b, LSM_FRAME_HDR)))
		return rc;
	b->len = LSM_FRAME_HDR;
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		nfiles += (size_t)v->nfiles[l];
	if ((rc = enc_array(b, MANIFEST_FIELDS)) ||
	    (rc = enc_uint(b, LSM_MANIFEST_MAGIC)) ||
	    (rc = enc_uint(b, LSM_MANIFEST_VERSION)) ||
	    (rc = enc_uint(b, next_file_num)) || (rc = enc_uint(b, last_seq)) ||
	    (rc = enc_uint(b, log_num)) || (rc = enc_array(b, nfiles)))
		return rc;
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		for (int i = 0; i < v->nfiles[l]; i++)
			if ((rc = enc_file(b, l, v->files[l][i])))
				return rc;
	if (b->len - LSM_FRAME_HDR > UINT32_MAX)
		return LSM_ERR(LSM_EINVAL, "manifest too large (%zu bytes)",
			       b->len);
	lsm_put_u32le(b->data, (uint32_t)(b->len - LSM_FRAME_HDR));
	lsm_put_u32le(b->data + 4, lsm_crc32c(0, b->data + LSM_FRAME_HDR,
					      b->len - LSM_FRAME_HDR));
	return LSM_OK;
}

/* ---- manifest decoding -------------------------------------------------- *
 * cbor_stream_decode reads one item head per call and reports it through a
 * callback; mdec turns that into a token (uint, bstr, array head or
 * anything else) that the parser below checks against the layout. */
enum { TOK_NONE, TOK_UINT, TOK_BSTR, TOK_ARRAY, TOK_OTHER };

struct mdec {
	const uint8_t *base, *p, *end; /* payload */
	size_t item_off;               /* payload offset of the last item */
	int type;
	uint64_t u;                    /* TOK_UINT value, TOK_ARRAY count */
	const uint8_t *s;              /* TOK_BSTR bytes (into the payload) */
	size_t n;
};

static void tok_uint(void *ctx, uint64_t v)
{
	struct mdec *d = ctx;

	d->type = TOK_UINT;
	d->u = v;
}
static void tok_u8(void *ctx, uint8_t v) { tok_uint(ctx, v); }
static void tok_u16(void *ctx, uint16_t v) { tok_uint(ctx, v); }
static void tok_u32(void *ctx, uint32_t v) { tok_uint(ctx, v); }
static void tok_u64(void *ctx, uint64_t v) { tok_uint(ctx, v); }

static void tok_bstr(void *ctx, cbor_data p, size_t n)
{
	struct mdec *d = ctx;

	d->type = TOK_BSTR;
	d->s = p;
	d->n = n;
}

static void tok_array(void *ctx, size_t n)
{
	struct mdec *d = ctx;

	d->type = TOK_ARRAY;
	d->u = n;
}

static void tok_other(void *ctx) { ((struct mdec *)ctx)->type = TOK_OTHER; }
static void tok_other_u8(void *ctx, uint8_t v) { (void)v; tok_other(ctx); }
static void tok_other_u16(void *ctx, uint16_t v) { (void)v; tok_other(ctx); }
static void tok_other_u32(void *ctx, uint32_t v) { (void)v; tok_other(ctx); }
static void tok_other_u64(void *ctx, uint64_t v) { (void)v; tok_other(ctx); }
static void tok_other_str(void *ctx, cbor_data p, size_t n)
{
	(void)p;
	(void)n;
	tok_other(ctx);
}
static void tok_other_coll(void *ctx, size_t n) { (void)n; tok_other(ctx); }
static void tok_other_f(void *ctx, float v) { (void)v; tok_other(ctx); }
static void tok_other_d(void *ctx, double v) { (void)v; tok_other(ctx); }
static void tok_other_b(void *ctx, bool v) { (void)v; tok_other(ctx); }

/* Every callback set: libcbor calls them without checking for NULL.  (In
 * libcbor 0.8, `byte_string` is the definite byte string and
 * `array_start` the definite array.) */
static const struct cbor_callbacks mdec_callbacks = {
	.uint8 = tok_u8,
	.uint16 = tok_u16,
	.uint32 = tok_u32,
	.uint64 = tok_u64,
	.negint8 = tok_other_u8,
	.negint16 = tok_other_u16,
	.negint32 = tok_other_u32,
	.negint64 = tok_other_u64,
	.byte_string = tok_bstr,
	.byte_string_start = tok_other,
	.string = tok_other_str,
	.string_start = tok_other,
	.array_start = tok_array,
	.indef_array_start = tok_other,
	.map_start = tok_other_coll,
	.indef_map_start = tok_other,
	.tag = tok_other_u64,
	.float2 = tok_other_f,
	.float4 = tok_other_f,
	.float8 = tok_other_d,
	.undefined = tok_other,
	.null = tok_other,
	.boolean = tok_other_b,
	.indef_break = tok_other,
};

/* Reads the next item head into d's token; false at the end of the payload
 * or on malformed CBOR. */
static bool mdec_next(struct mdec *d)
{
	struct cbor_decoder_result r;

	d->type = TOK_NONE;
	d->item_off = (size_t)(d->p - d->base);
	if (d->p >= d->end)
		return false;
	r = cbor_stream_decode(d->p, (size_t)(d->end - d->p), &mdec_callbacks,
			       d);
	if (r.status != CBOR_DECODER_FINISHED || r.read == 0 ||
	    r.read > (size_t)(d->end - d->p))
		return false;
	d->p += r.read;
	return d->type != TOK_NONE;
}

static bool mdec_uint(struct mdec *d, uint64_t *v)
{
	if (!mdec_next(d) || d->type != TOK_UINT)
		return false;
	*v = d->u;
	return true;
}

static bool mdec_array(struct mdec *d, uint64_t *n)
{
	if (!mdec_next(d) || d->type != TOK_ARRAY)
		return false;
	*n = d->u;
	return true;
}

static bool mdec_bstr(struct mdec *d, const uint8_t **p, size_t *n)
{
	if (!mdec_next(d) || d->type != TOK_BSTR)
		return false;
	*p = d->s;
	*n = d->n;
	return true;
}

/* The error for a bad item at d's last item, offset counted in the file. */
static int mdec_bad(const char *path, const struct mdec *d, const char *what)
{
	return LSM_ERR(LSM_ECORRUPT, "%s: %s at offset %zu", path, what,
		       LSM_FRAME_HDR + d->item_off);
}

/* The state a manifest holds. */
struct mstate {
	uint64_t next_file_num, last_seq, log_num;
	struct lsm_edit files; /* every table as an addition */
};

static bool ikey_len_ok(size_t n)
{
	return n >= LSM_TRAILER && n <= LSM_MAX_KEY + LSM_TRAILER;
}

/* Parses one [level, num, size, smallest, largest] into ms->files. */
static int manifest_decode_file(const char *path, struct mdec *d,
				struct mstate *ms)
{
	uint64_t n, level, num, size;
	const uint8_t *s, *l;
	size_t slen, llen;
	struct lsm_fmeta *f;
	int rc;

	if (!mdec_array(d, &n) || n != MANIFEST_FILE_FIELDS)
		return mdec_bad(path, d, "expected a table entry of 5 fields");
	if (!mdec_uint(d, &level) || level >= LSM_MAX_LEVELS)
		return mdec_bad(path, d, "bad table level");
	if (!mdec_uint(d, &num) || num == 0 || num >= ms->next_file_num)
		return mdec_bad(path, d, "bad table number");
	if (!mdec_uint(d, &size) || size == 0)
		return mdec_bad(path, d, "bad table size");
	if (!mdec_bstr(d, &s, &slen) || !ikey_len_ok(slen))
		return mdec_bad(path, d, "bad smallest key");
	if (!mdec_bstr(d, &l, &llen) || !ikey_len_ok(llen))
		return mdec_bad(path, d, "bad largest key");
	if (lsm_ikey_cmp(s, slen, l, llen) > 0)
		return mdec_bad(path, d, "largest key below smallest key");
	if (!(f = lsm_fmeta_new(num, size, s, slen, l, llen)))
		return LSM_ENOMEM;
	rc = lsm_edit_add(&ms->files, (int)level, f);
	lsm_fmeta_unref(f);
	return rc;
}

/* Parses a manifest payload (its CRC checked) into ms. */
static int manifest_decode(const char *path, const uint8_t *p, size_t n,
			   struct mstate *ms)
{
	struct mdec d = { .base = p, .p = p, .end = p + n };
	uint64_t nfields, magic, version, nfiles;
	int rc;

	if (!mdec_array(&d, &nfields) || nfields < 2)
		return mdec_bad(path, &d, "expected the manifest array");
	if (!mdec_uint(&d, &magic) || magic != LSM_MANIFEST_MAGIC)
		return mdec_bad(path, &d, "bad magic");
	if (!mdec_uint(&d, &version) || version == 0)
		return mdec_bad(path, &d, "bad version");
	if (version > LSM_MANIFEST_VERSION)
		return LSM_ERR(LSM_EVERSION, "%s: manifest version %llu, this "
			       "build reads up to %d", path,
			       (unsigned long long)version,
			       LSM_MANIFEST_VERSION);
	if (nfields != MANIFEST_FIELDS) {
		d.item_off = 0;
		return mdec_bad(path, &d, "wrong number of manifest fields");
	}
	/* Bounded: a counter near 2^64 would wrap after a few files and name
	 * a manifest 0, which CURRENT cannot hold. */
	if (!mdec_uint(&d, &ms->next_file_num) || ms->next_file_num < 2 ||
	    ms->next_file_num > LSM_SEQ_MAX)
		return mdec_bad(path, &d, "bad next file number");
	if (!mdec_uint(&d, &ms->last_seq) || ms->last_seq > LSM_SEQ_MAX)
		return mdec_bad(path, &d, "bad last sequence number");
	if (!mdec_uint(&d, &ms->log_num) || ms->log_num >= ms->next_file_num)
		return mdec_bad(path, &d, "bad log number");
	if (!mdec_array(&d, &nfiles) || nfiles > n)
		return mdec_bad(path, &d, "expected the table list");
	for (uint64_t i = 0; i < nfiles; i++)
		if ((rc = manifest_decode_file(path, &d, ms)))
			return rc;
	if (d.p != d.end) {
		d.item_off = (size_t)(d.p - d.base);
		return mdec_bad(path, &d, "trailing bytes");
	}
	return LSM_OK;
}

/* ---- files -------------------------------------------------------------- */

static void manifest_path(char *out, const char *dir, uint64_t num)
{
	snprintf(out, LSM_PATH_MAX, "%s/MANIFEST-%06llu", dir,
		 (unsigned long long)num);
}

/* Reads all of path (at most max bytes, else LSM_ECORRUPT) into b. */
static int file_read_all(lsm_env *env, const char *path, uint64_t max,
			 struct lsm_buf *b)
{
	lsm_file *f = NULL;
	uint64_t size;
	size_t got = 0, nread;
	int rc;

	lsm_buf_clear(b);
	if ((rc = env->open(env, path, LSM_O_READ, &f)) ||
	    (rc = env->size(env, f, &size)))
		goto out;
	if (size > max) {
		rc = LSM_ERR(LSM_ECORRUPT, "%s: %llu bytes is too large", path,
			     (unsigned long long)size);
		goto out;
	}
	if ((rc = lsm_buf_reserve(b, (size_t)size)))
		goto out;
	while (got < size) {
		if ((rc = env->read(env, f, got, b->data + got,
				    (size_t)size - got, &nread)))
			goto out;
		if (nread == 0)
			break;
		got += nread;
	}
	b->len = got;
out:
	if (f)
		env->close(env, f);
	return rc;
}

/* Removes path, best effort, keeping the thread's error message (that of
 * the failure being cleaned up after). */
static void remove_quietly(lsm_env *env, const char *path)
{
	char saved[512];

	snprintf(saved, sizeof(saved), "%s", lsm_last_error());
	env->remove(env, path);
	lsm_error_set(LSM_OK, "%s", saved);
}

/* Creates path holding exactly p[0..n), synced. */
static int file_write_sync(lsm_env *env, const char *path, const void *p,
			   size_t n)
{
	lsm_file *f = NULL;
	int rc, rc2;

	if ((rc = env->open(env, path, LSM_O_CREATE, &f)) ||
	    (rc = env->append(env, f, p, n)) || (rc = env->sync(env, f)))
		goto out;
out:
	if (f && (rc2 = env->close(env, f)) && !rc)
		rc = rc2;
	return rc;
}

/* Points CURRENT at manifest num: CURRENT.tmp, fsync, rename, fsync of the
 * directory.  *renamed tells whether CURRENT may have changed on disk. */
static int current_set(struct lsm_vset *vs, uint64_t num, bool *renamed)
{
	char tmp[LSM_PATH_MAX], cur[LSM_PATH_MAX], text[CURRENT_MAX];
	int n, rc;

	*renamed = false;
	snprintf(tmp, sizeof(tmp), "%s/CURRENT.tmp", vs->dir);
	snprintf(cur, sizeof(cur), "%s/CURRENT", vs->dir);
	n = snprintf(text, sizeof(text), "MANIFEST-%06llu\n",
		     (unsigned long long)num);
	if ((rc = file_write_sync(vs->env, tmp, text, (size_t)n)))
		goto out;
	if ((rc = vs->env->rename(vs->env, tmp, cur)))
		goto out;
	*renamed = true;
	rc = vs->env->sync_dir(vs->env, vs->dir);
out:
	if (rc && !*renamed)
		remove_quietly(vs->env, tmp);
	return rc;
}

/* Reads CURRENT: *num is the live manifest's number.  LSM_ENOTFOUND when
 * there is no CURRENT. */
static int current_read(struct lsm_vset *vs, uint64_t *num)
{
	static const char prefix[] = "MANIFEST-";
	char path[LSM_PATH_MAX];
	struct lsm_buf b = { 0 };
	const char *p;
	size_t i, plen = sizeof(prefix) - 1;
	uint64_t v = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/CURRENT", vs->dir);
	if ((rc = file_read_all(vs->env, path, CURRENT_MAX, &b)))
		goto out;
	p = (const char *)b.data;
	rc = LSM_ERR(LSM_ECORRUPT, "%s: malformed contents", path);
	if (b.len < plen + 2 || memcmp(p, prefix, plen) ||
	    p[b.len - 1] != '\n')
		goto out;
	for (i = plen; i < b.len - 1; i++) {
		if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX - 9) / 10)
			goto out;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v == 0)
		goto out;
	*num = v;
	rc = LSM_OK;
out:
	lsm_buf_free(&b);
	return rc;
}

/* Checks a manifest file's frame; *payload and *plen point into b. */
static int manifest_frame(const char *path, const struct lsm_buf *b,
			  const uint8_t **payload, size_t *plen)
{
	uint32_t len, crc;

	if (b->len < LSM_FRAME_HDR)
		return LSM_ERR(LSM_ECORRUPT, "%s: short frame header (%zu "
			       "bytes) at offset 0", path, b->len);
	len = lsm_get_u32le(b->data);
	crc = lsm_get_u32le(b->data + 4);
	if ((uint64_t)len != b->len - LSM_FRAME_HDR)
		return LSM_ERR(LSM_ECORRUPT, "%s: frame length %u does not "
			       "match file size %zu at offset 0", path, len,
			       b->len);
	if (lsm_crc32c(0, b->data + LSM_FRAME_HDR, len) != crc)
		return LSM_ERR(LSM_ECORRUPT, "%s: bad crc at offset 0", path);
	*payload = b->data + LSM_FRAME_HDR;
	*plen = len;
	return LSM_OK;
}

/* Loads manifest num into vs (which has no current version yet). */
static int manifest_load(struct lsm_vset *vs, uint64_t num)
{
	char path[LSM_PATH_MAX];
	struct lsm_buf b = { 0 };
	struct mstate ms = { 0 };
	struct lsm_version *v = NULL;
	const uint8_t *payload = NULL;
	size_t plen = 0;
	int rc;

	manifest_path(path, vs->dir, num);
	lsm_edit_init(&ms.files);
	if ((rc = file_read_all(vs->env, path, (uint64_t)UINT32_MAX + 8, &b))) {
		if (rc == LSM_ENOTFOUND)
			rc = LSM_ERR(LSM_ECORRUPT, "%s: named by CURRENT but "
				     "missing", path);
		goto out;
	}
	if ((rc = manifest_frame(path, &b, &payload, &plen)) ||
	    (rc = manifest_decode(path, payload, plen, &ms)))
		goto out;
	if (num >= ms.next_file_num) {
		rc = LSM_ERR(LSM_ECORRUPT, "%s: next file number %llu is not "
			     "above the manifest's own", path,
			     (unsigned long long)ms.next_file_num);
		goto out;
	}
	if ((rc = version_build(vs, NULL, &ms.files, &v))) {
		if (rc == LSM_EINVAL) {
			char why[256];
			snprintf(why, sizeof(why), "%s", lsm_last_error());
			rc = LSM_ERR(LSM_ECORRUPT, "%s: %s", path, why);
		}
		goto out;
	}
	vs->next_file_num = ms.next_file_num;
	vs->last_seq = ms.last_seq;
	vs->log_num = ms.log_num;
	vs->manifest_num = num;
	vset_install(vs, v);
	v = NULL;
out:
	if (v)
		version_free(v);
	lsm_edit_free(&ms.files);
	lsm_buf_free(&b);
	return rc;
}

/* ---- the version set ---------------------------------------------------- */

int lsm_vset_open(lsm_env *env, const char *dir,
		  const struct lsm_vset_opts *o, bool create,
		  struct lsm_vset **out)
{
	struct lsm_vset *vs = NULL;
	struct lsm_version *v;
	struct lsm_edit e;
	uint64_t num;
	int rc;

	*out = NULL;
	lsm_edit_init(&e);
	if (!(vs = calloc(1, sizeof(*vs))) || !(vs->dir = strdup(dir))) {
		rc = LSM_ERR(LSM_ENOMEM, "out of memory (vset)");
		goto out;
	}
	vs->env = env;
	vs->o = *o;
	vs->next_file_num = 1;
	vs->live.prev = vs->live.next = &vs->live;
	rc = current_read(vs, &num);
	if (rc == LSM_OK) {
		rc = manifest_load(vs, num);
	} else if (rc == LSM_ENOTFOUND && create) {
		if (!(v = version_new(vs))) {
			rc = LSM_ENOMEM;
			goto out;
		}
		version_score(&vs->o, v);
		vset_install(vs, v);
		rc = lsm_vset_apply(vs, &e);
	} else if (rc == LSM_ENOTFOUND) {
		rc = LSM_ERR(LSM_ENOTFOUND, "%s/CURRENT: no store here", dir);
	}
	if (rc)
		goto out;
	*out = vs;
	vs = NULL;
out:
	lsm_vset_close(vs);
	return rc;
}

/* Frees vs.  Every version but the current must have been released. */
void lsm_vset_close(struct lsm_vset *vs)
{
	if (!vs)
		return;
	if (vs->current)
		lsm_version_unref(vs->current);
	assert(vs->live.next == &vs->live);
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		lsm_buf_free(&vs->compact_ptr[l]);
	lsm_buf_free(&vs->enc);
	free(vs->dir);
	free(vs);
}

struct lsm_version *lsm_vset_current(struct lsm_vset *vs)
{
	return vs->current;
}

uint64_t lsm_vset_new_file_num(struct lsm_vset *vs)
{
	return vs->next_file_num++;
}

void lsm_vset_mark_file_num_used(struct lsm_vset *vs, uint64_t num)
{
	if (num < LSM_SEQ_MAX && num >= vs->next_file_num)
		vs->next_file_num = num + 1;
}

uint64_t lsm_vset_last_seq(struct lsm_vset *vs)
{
	return vs->last_seq;
}

void lsm_vset_set_last_seq(struct lsm_vset *vs, uint64_t seq)
{
	vs->last_seq = seq;
}

uint64_t lsm_vset_log_num(struct lsm_vset *vs)
{
	return vs->log_num;
}

uint64_t lsm_vset_manifest_num(struct lsm_vset *vs)
{
	return vs->manifest_num;
}

int lsm_vset_apply(struct lsm_vset *vs, struct lsm_edit *e)
{
	char path[LSM_PATH_MAX], old[LSM_PATH_MAX];
	struct lsm_version *v = NULL;
	uint64_t num = 0, log_num;
	bool renamed = false;
	int rc;

	if ((rc = version_build(vs, vs->current, e, &v)))
		goto out;
	log_num = e->has_log_num ? e->log_num : vs->log_num;
	num = vs->next_file_num++;
	if (log_num >= vs->next_file_num) {
		rc = LSM_ERR(LSM_EINVAL, "version edit: log number %llu was "
			     "never handed out", (unsigned long long)log_num);
		goto out;
	}
	if ((rc = manifest_encode(&vs->enc, vs->next_file_num, vs->last_seq,
				  log_num, v)))
		goto out;
	manifest_path(path, vs->dir, num);
	/* The directory sync makes the manifest's name (and those of the
	 * edit's new tables) durable before CURRENT can point at it. */
	if ((rc = file_write_sync(vs->env, path, vs->enc.data, vs->enc.len)) ||
	    (rc = vs->env->sync_dir(vs->env, vs->dir)) ||
	    (rc = current_set(vs, num, &renamed)))
		goto out;
	if (vs->manifest_num) {
		manifest_path(old, vs->dir, vs->manifest_num);
		remove_quietly(vs->env, old);
	}
	vs->manifest_num = num;
	vs->log_num = log_num;
	vset_install(vs, v);
	v = NULL;
out:
	if (rc && num && !renamed)
		remove_quietly(vs->env, path);
	if (v)
		version_free(v);
	return rc;
}

void lsm_vset_live_files(struct lsm_vset *vs,
			 void (*add)(void *ctx, uint64_t num), void *ctx)
{
	for (struct lsm_version *v = vs->live.next; v != &vs->live;
	     v = v->next)
		for (int l = 0; l < LSM_MAX_LEVELS; l++)
			for (int i = 0; i < v->nfiles[l]; i++)
				add(ctx, v->files[l][i]->num);
	if (vs->manifest_num)
		add(ctx, vs->manifest_num);
}

/* ---- lookups ------------------------------------------------------------ */

/* Index of the first of n sorted, disjoint files whose largest key is >=
 * ik, or n. */
static int find_file(struct lsm_fmeta *const *files, int n, const uint8_t *ik,
		     size_t iklen)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		const struct lsm_buf *l = &files[mid]->largest;
		if (lsm_ikey_cmp(l->data, l->len, ik, iklen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int table_get(struct lsm_tcache *tc, const struct lsm_fmeta *f,
		     const uint8_t *ik, size_t iklen, bool *found, int *kind,
		     struct lsm_buf *val, uint64_t *bloom_skip)
{
	lsm_sst *t = NULL;
	int rc;

	if ((rc = lsm_tcache_get(tc, f->num, f->size, &t)))
		return rc;
	rc = lsm_sst_get(t, ik, iklen, found, kind, val, bloom_skip);
	lsm_sst_unref(t);
	return rc;
}

/* Notes a table a get looks in: the first one is charged once a second
 * one is needed. */
static void charge_note(struct lsm_seek_charge *ch, struct lsm_fmeta **first,
			int *first_level, struct lsm_fmeta *f, int level)
{
	if (!*first) {
		*first = f;
		*first_level = level;
	} else if (ch && !ch->f) {
		ch->f = *first;
		ch->level = *first_level;
	}
}

int lsm_version_get(struct lsm_version *v, struct lsm_tcache *tc,
		    const uint8_t *ik, size_t iklen, bool *found, int *kind,
		    struct lsm_buf *val, uint64_t *bloom_skip,
		    struct lsm_seek_charge *ch)
{
	const uint8_t *uk = ik;
	size_t uklen = iklen - LSM_TRAILER;
	struct lsm_fmeta *first = NULL;
	int first_level = 0, rc;

	*found = false;
	if (ch)
		ch->f = NULL;
	/* Level 0 ranges overlap: every file that may hold the key, newest
	 * first, which is the array's order. */
	for (int i = 0; i < v->nfiles[0]; i++) {
		struct lsm_fmeta *f = v->files[0][i];
		if (ukey_cmp_buf(uk, uklen, &f->smallest) < 0 ||
		    ukey_cmp_buf(uk, uklen, &f->largest) > 0)
			continue;
		charge_note(ch, &first, &first_level, f, 0);
		rc = table_get(tc, f, ik, iklen, found, kind, val, bloom_skip);
		if (rc || *found)
			return rc;
	}
	for (int l = 1; l < LSM_MAX_LEVELS; l++) {
		int i = find_file(v->files[l], v->nfiles[l], ik, iklen);
		struct lsm_fmeta *f;
		if (i == v->nfiles[l])
			continue;
		f = v->files[l][i];
		if (ukey_cmp_buf(uk, uklen, &f->smallest) < 0)
			continue;
		charge_note(ch, &first, &first_level, f, l);
		rc = table_get(tc, f, ik, iklen, found, kind, val, bloom_skip);
		if (rc || *found)
			return rc;
	}
	return LSM_OK;
}

/* Does file f overlap user keys [s, l] (NULL: open)? */
static bool file_overlaps(const struct lsm_fmeta *f, const uint8_t *s,
			  size_t slen, const uint8_t *l, size_t llen)
{
	if (s && ukey_cmp_buf(s, slen, &f->largest) > 0)
		return false;
	if (l && ukey_cmp_buf(l, llen, &f->smallest) < 0)
		return false;
	return true;
}

bool lsm_version_overlaps(struct lsm_version *v, int level,
			  const uint8_t *smallest, size_t slen,
			  const uint8_t *largest, size_t llen)
{
	struct lsm_fmeta *const *files = v->files[level];
	int n = v->nfiles[level], lo = 0, hi = n;

	if (level == 0) {
		for (int i = 0; i < n; i++)
			if (file_overlaps(files[i], smallest, slen, largest,
					  llen))
				return true;
		return false;
	}
	/* First file whose largest user key is >= smallest. */
	while (smallest && lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (ukey_cmp_buf(smallest, slen, &files[mid]->largest) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && file_overlaps(files[lo], NULL, 0, largest, llen);
}

/* ---- level iterators ---------------------------------------------------- *
 * A level of sorted, disjoint tables read as one sequence: the iterator
 * borrows the level's file array (a version's or a compaction's, which
 * its caller keeps referenced for the iterator's life: no per-file
 * reference, so that opening an iterator over a level of many files
 * costs nothing per file) and opens one table iterator at a time through
 * the table cache.  The first error stops it for good (valid false,
 * status the error).  tc must outlive it. */
struct level_iter {
	struct lsm_iiter base;
	struct lsm_tcache *tc;   /* borrowed */
	struct lsm_fmeta *const *files; /* borrowed */
	int nfiles;
	int index;              /* the file cur reads; nfiles when none */
	struct lsm_iiter *cur;  /* placed in slot, or NULL */
	int status;
	bool prepared;          /* li_prepare chose index for the next seek */
	/* lsm_sst_iter_size() bytes: each table's iterator in turn, so that
	 * moving to another table allocates nothing. */
	_Alignas(max_align_t) unsigned char slot[];
};

static int table_iter(struct lsm_tcache *tc, const struct lsm_fmeta *f,
		      struct lsm_iiter **out)
{
	lsm_sst *t = NULL;
	int rc;

	*out = NULL;
	if ((rc = lsm_tcache_get(tc, f->num, f->size, &t)))
		return rc;
	rc = lsm_sst_iter(t, out);
	lsm_sst_unref(t);
	if (!rc) /* seeks before the table read nothing (sst.c) */
		lsm_sst_iter_first_key(*out, f->smallest.data,
				       f->smallest.len);
	return rc;
}

static void li_close_cur(struct level_iter *li)
{
	int rc;

	if (li->cur) {
		if ((rc = li->cur->ops->status(li->cur)) && !li->status)
			li->status = rc;
		li->cur->ops->destroy(li->cur);
		li->cur = NULL;
	}
	li->index = li->nfiles;
}

/* Makes cur read files[index]; false if there is none or on error. */
static bool li_open(struct level_iter *li, int index)
{
	lsm_sst *t = NULL;
	int rc;

	if (li->cur && li->index == index)
		return true;
	li_close_cur(li);
	if (li->status || index < 0 || index >= li->nfiles)
		return false;
	if ((rc = lsm_tcache_get(li->tc, li->files[index]->num,
				 li->files[index]->size, &t))) {
		li->status = rc;
		return false;
	}
	li->cur = lsm_sst_iter_at(t, li->slot);
	lsm_sst_unref(t); /* the iterator holds its own reference */
	/* a seek between two tables reads nothing of the second (sst.c) */
	lsm_sst_iter_first_key(li->cur, li->files[index]->smallest.data,
			       li->files[index]->smallest.len);
	li->index = index;
	return true;
}

static bool li_cur_valid(struct level_iter *li)
{
	return li->cur && li->cur->ops->valid(li->cur);
}

/* Moves past exhausted tables in direction dir (+1 or -1). */
static void li_skip(struct level_iter *li, int dir)
{
	while (li->cur && !li_cur_valid(li)) {
		if (li->cur->ops->status(li->cur) ||
		    !li_open(li, li->index + dir)) {
			li_close_cur(li);
			return;
		}
		if (dir > 0)
			li->cur->ops->first(li->cur);
		else
			li->cur->ops->last(li->cur);
	}
}

static bool li_valid(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;

	return !li->status && li_cur_valid(li);
}

static void li_first(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;

	if (li_open(li, 0)) {
		li->cur->ops->first(li->cur);
		li_skip(li, 1);
	}
}

static void li_last(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;

	if (li_open(li, li->nfiles - 1)) {
		li->cur->ops->last(li->cur);
		li_skip(li, -1);
	}
}

static void li_seek(struct lsm_iiter *it, const uint8_t *ik, size_t iklen)
{
	struct level_iter *li = (struct level_iter *)it;
	int index = li->prepared ? li->index
				 : find_file(li->files, li->nfiles, ik, iklen);

	li->prepared = false;
	if (li_open(li, index)) {
		li->cur->ops->seek(li->cur, ik, iklen);
		li_skip(li, 1);
	}
}

/* The table the seek to ik will read, opened and prepared
 * (lsm_iiter_ops.prepare); li_seek finds the same one open. */
static void li_prepare(struct lsm_iiter *it, const uint8_t *ik, size_t iklen)
{
	struct level_iter *li = (struct level_iter *)it;

	li->prepared = true; /* li->index: the table, or nfiles for none */
	if (li_open(li, find_file(li->files, li->nfiles, ik, iklen)) &&
	    li->cur->ops->prepare)
		li->cur->ops->prepare(li->cur, ik, iklen);
}

static void li_next(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;

	assert(li_valid(it));
	li->cur->ops->next(li->cur);
	li_skip(li, 1);
}

static void li_prev(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;

	assert(li_valid(it));
	li->cur->ops->prev(li->cur);
	li_skip(li, -1);
}

static const uint8_t *li_key(struct lsm_iiter *it, size_t *len)
{
	struct level_iter *li = (struct level_iter *)it;

	return li->cur->ops->key(li->cur, len);
}

static const uint8_t *li_value(struct lsm_iiter *it, size_t *len)
{
	struct level_iter *li = (struct level_iter *)it;

	return li->cur->ops->value(li->cur, len);
}

static int li_status(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;

	if (li->status)
		return li->status;
	return li->cur ? li->cur->ops->status(li->cur) : LSM_OK;
}

static void li_destroy(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;

	if (li->cur)
		li->cur->ops->destroy(li->cur);
	free(li);
}

static const struct lsm_iiter_ops level_iter_ops = {
	.valid = li_valid,
	.first = li_first,
	.last = li_last,
	.seek = li_seek,
	.next = li_next,
	.prev = li_prev,
	.key = li_key,
	.value = li_value,
	.status = li_status,
	.destroy = li_destroy,
	.prepare = li_prepare,
};

/* A concatenating iterator over files[0..n) (sorted, disjoint; borrowed
 * for the iterator's life). */
static int level_iter_new(struct lsm_tcache *tc, struct lsm_fmeta *const *files,
			  int n, struct lsm_iiter **out)
{
	struct level_iter *li;

	*out = NULL;
	/* The slot is not zeroed: lsm_sst_iter_at initialises it. */
	if (!(li = malloc(sizeof(*li) + lsm_sst_iter_size())))
		return LSM_ERR(LSM_ENOMEM, "out of memory (level iterator)");
	memset(li, 0, sizeof(*li));
	li->base.ops = &level_iter_ops;
	li->tc = tc;
	li->files = files;
	li->nfiles = n;
	li->index = n;
	*out = &li->base;
	return LSM_OK;
}

/* On error, the iterators this call appended are destroyed and *n is as it
 * was; those the caller had are left alone. */
int lsm_version_iter_count(const struct lsm_version *v)
{
	int n = v->nfiles[0];

	for (int l = 1; l < LSM_MAX_LEVELS; l++)
		n += v->nfiles[l] > 0;
	return n;
}

int lsm_version_iters(struct lsm_version *v, struct lsm_tcache *tc,
		      struct lsm_iiter **arr, int *n)
{
	struct lsm_iiter *it = NULL;
	int n0 = *n, rc = LSM_OK;

	for (int i = 0; i < v->nfiles[0]; i++) {
		if ((rc = table_iter(tc, v->files[0][i], &it)))
			goto out;
		arr[(*n)++] = it;
	}
	for (int l = 1; l < LSM_MAX_LEVELS; l++) {
		if (!v->nfiles[l])
			continue;
		if ((rc = level_iter_new(tc, v->files[l], v->nfiles[l], &it)))
			goto out;
		arr[(*n)++] = it;
	}
out:
	if (rc) {
		while (*n > n0) {
			it = arr[--*n];
			it->ops->destroy(it);
		}
	}
	return rc;
}

/* ---- compaction picking ------------------------------------------------- */

/* Files of v's level overlapping user keys [s, l] (NULL: open) into out
 * (replacing its contents).  At level 0 the range grows to cover every
 * file taken, until it stops growing, since overlapping level-0 files
 * must move down together. */
static int overlapping(const struct lsm_version *v, int level,
		       const uint8_t *s, size_t slen, const uint8_t *l,
		       size_t llen, struct fvec *out)
{
	int rc;

	out->n = 0;
	for (int i = 0; i < v->nfiles[level];) {
		struct lsm_fmeta *f = v->files[level][i++];
		if (!file_overlaps(f, s, slen, l, llen))
			continue;
		if ((rc = fvec_push(out, f)))
			return rc;
		if (level != 0)
			continue;
		if (s && ukey_cmp_buf(s, slen, &f->smallest) > 0) {
			s = ukey_of(&f->smallest, &slen);
			out->n = 0;
			i = 0;
		} else if (l && ukey_cmp_buf(l, llen, &f->largest) < 0) {
			l = ukey_of(&f->largest, &llen);
			out->n = 0;
			i = 0;
		}
	}
	return LSM_OK;
}

/* Smallest and largest internal keys of a and b's files (borrowed). */
static void fvec_range2(const struct fvec *a, const struct fvec *b,
			const struct lsm_buf **s, const struct lsm_buf **l)
{
	*s = *l = NULL;
	for (int k = 0; k < 2; k++) {
		const struct fvec *fv = k ? b : a;
		for (int i = 0; fv && i < fv->n; i++) {
			const struct lsm_fmeta *f = fv->v[i];
			if (!*s || ikey_cmp_buf(&f->smallest, *s) < 0)
				*s = &f->smallest;
			if (!*l || ikey_cmp_buf(&f->largest, *l) > 0)
				*l = &f->largest;
		}
	}
}

/* LevelDB's AddBoundaryInputs: a user key may span two adjacent files of a
 * level; if the largest key taken has later versions of its user key in
 * the next file, that file must come too, else a compaction would move the
 * newer versions down below the older ones left behind. */
static int add_boundary(const struct lsm_version *v, int level, struct fvec *c)
{
	const struct lsm_buf *s, *largest;
	int rc;

	fvec_range2(c, NULL, &s, &largest);
	while (largest) {
		struct lsm_fmeta *best = NULL;
		size_t uklen;
		const uint8_t *uk = ukey_of(largest, &uklen);
		for (int i = 0; i < v->nfiles[level]; i++) {
			struct lsm_fmeta *f = v->files[level][i];
			if (ikey_cmp_buf(&f->smallest, largest) > 0 &&
			    ukey_cmp_buf(uk, uklen, &f->smallest) == 0 &&
			    (!best ||
			     ikey_cmp_buf(&f->smallest, &best->smallest) < 0))
				best = f;
		}
		if (!best)
			break;
		if ((rc = fvec_push(c, best)))
			return rc;
		largest = &best->largest;
	}
	return LSM_OK;
}

/* Ranges as user keys of internal-key buffers. */
#define UK(b) (b)->data, ((b)->len - LSM_TRAILER)

/* Moves fv into an owned, referenced array of the compaction. */
static void take_files(struct fvec *fv, struct lsm_fmeta ***arr, int *n)
{
	for (int i = 0; i < fv->n; i++)
		lsm_fmeta_ref(fv->v[i]);
	*arr = fv->v;
	*n = fv->n;
	memset(fv, 0, sizeof(*fv));
}

/* LevelDB's SetupOtherInputs: given inputs[0] (in0, taken), find the
 * overlapping inputs[1], grow inputs[0] when that does not grow inputs[1],
 * and find the grandparents.  Advances the level's compact pointer. */
static int setup_other_inputs(struct lsm_vset *vs, struct lsm_compaction *c,
			      struct fvec *in0)
{
	struct fvec in1 = { 0 }, exp0 = { 0 }, exp1 = { 0 }, gp = { 0 };
	const struct lsm_version *v = c->v;
	const struct lsm_buf *s, *l, *as, *al;
	int level = c->level, rc;
	uint64_t limit = 25 * (uint64_t)vs->o.target_file_size;

	if ((rc = add_boundary(v, level, in0)))
		goto out;
	fvec_range2(in0, NULL, &s, &l);
	if ((rc = overlapping(v, level + 1, UK(s), UK(l), &in1)) ||
	    (rc = add_boundary(v, level + 1, &in1)))
		goto out;
	fvec_range2(in0, &in1, &as, &al);
	if (in1.n > 0) {
		if ((rc = overlapping(v, level, UK(as), UK(al), &exp0)) ||
		    (rc = add_boundary(v, level, &exp0)))
			goto out;
		if (exp0.n > in0->n &&
		    files_bytes(in1.v, in1.n) + files_bytes(exp0.v, exp0.n) <
			    limit) {
			const struct lsm_buf *ns, *nl;
			fvec_range2(&exp0, NULL, &ns, &nl);
			if ((rc = overlapping(v, level + 1, UK(ns), UK(nl),
					      &exp1)) ||
			    (rc = add_boundary(v, level + 1, &exp1)))
				goto out;
			if (exp1.n == in1.n) {
				fvec_swap(in0, &exp0);
				fvec_swap(&in1, &exp1);
				l = nl;
				fvec_range2(in0, &in1, &as, &al);
			}
		}
	}
	if (level + 2 < LSM_MAX_LEVELS &&
	    (rc = overlapping(v, level + 2, UK(as), UK(al), &gp)))
		goto out;
	/* Best effort: without a pointer the level restarts at its start. */
	if (lsm_buf_set(&vs->compact_ptr[level], l->data, l->len))
		lsm_buf_clear(&vs->compact_ptr[level]);
	take_files(in0, &c->inputs[0], &c->ninputs[0]);
	take_files(&in1, &c->inputs[1], &c->ninputs[1]);
	take_files(&gp, &c->grandparents, &c->ngrandparents);
out:
	fvec_free(&in1);
	fvec_free(&exp0);
	fvec_free(&exp1);
	fvec_free(&gp);
	return rc;
}

/* A compaction of the current version at level from in0 (taken), or NULL
 * on error. */
static struct lsm_compaction *compaction_make(struct lsm_vset *vs, int level,
					      struct fvec *in0)
{
	struct lsm_compaction *c = calloc(1, sizeof(*c));

	if (!c) {
		LSM_ERR(LSM_ENOMEM, "out of memory (compaction)");
		goto out;
	}
	c->level = level;
	c->v = vs->current;
	lsm_version_ref(c->v);
	c->max_output_size = vs->o.target_file_size;
	if (setup_other_inputs(vs, c, in0)) {
		lsm_compaction_free(c);
		c = NULL;
	}
out:
	fvec_free(in0);
	return c;
}

/* NULL also when out of memory (lsm_last_error says so). */
struct lsm_compaction *lsm_vset_pick_compaction(struct lsm_vset *vs)
{
	struct lsm_version *v = vs->current;
	struct fvec in0 = { 0 };
	const struct lsm_buf *cp, *s, *l;
	int level = v->compact_level;

	if (v->compact_score < 1 || level < 0 || !v->nfiles[level])
		return NULL;
	cp = &vs->compact_ptr[level];
	for (int i = 0; i < v->nfiles[level] && !in0.n; i++) {
		struct lsm_fmeta *f = v->files[level][i];
		if ((!cp->len || ikey_cmp_buf(&f->largest, cp) > 0) &&
		    fvec_push(&in0, f))
			goto fail;
	}
	/* Past the last file: wrap around to the start of the key space. */
	if (!in0.n && fvec_push(&in0, v->files[level][0]))
		goto fail;
	if (level == 0) {
		fvec_range2(&in0, NULL, &s, &l);
		if (overlapping(v, 0, UK(s), UK(l), &in0))
			goto fail;
	}
	return compaction_make(vs, level, &in0);
fail:
	fvec_free(&in0);
	return NULL;
}

struct lsm_compaction *lsm_vset_compact_range(struct lsm_vset *vs, int level,
					      const uint8_t *start, size_t slen,
					      const uint8_t *end, size_t elen)
{
	struct fvec in0 = { 0 };

	if (level < 0 || level >= LSM_MAX_LEVELS - 1)
		return NULL;
	if (overlapping(vs->current, level, start, slen, end, elen, &in0) ||
	    !in0.n) {
		fvec_free(&in0);
		return NULL;
	}
	return compaction_make(vs, level, &in0);
}

static uint64_t max_grandparent_overlap(const struct lsm_compaction *c)
{
	return 10 * (uint64_t)c->v->vs->o.target_file_size;
}

bool lsm_compaction_is_trivial(struct lsm_compaction *c)
{
	return c->ninputs[0] == 1 && c->ninputs[1] == 0 &&
	       files_bytes(c->grandparents, c->ngrandparents) <=
		       max_grandparent_overlap(c);
}

bool lsm_compaction_is_base_level(struct lsm_compaction *c,
				  const uint8_t *ukey, size_t klen)
{
	const struct lsm_version *v = c->v;

	for (int l = c->level + 2; l < LSM_MAX_LEVELS; l++) {
		while (c->level_ptrs[l] < v->nfiles[l]) {
			const struct lsm_fmeta *f = v->files[l][c->level_ptrs[l]];
			if (ukey_cmp_buf(ukey, klen, &f->largest) <= 0) {
				if (ukey_cmp_buf(ukey, klen, &f->smallest) >= 0)
					return false;
				break;
			}
			c->level_ptrs[l]++;
		}
	}
	return true;
}

bool lsm_compaction_should_stop_before(struct lsm_compaction *c,
				       const uint8_t *ik, size_t iklen)
{
	while (c->gp_index < c->ngrandparents) {
		const struct lsm_fmeta *g = c->grandparents[c->gp_index];
		if (lsm_ikey_cmp(ik, iklen, g->largest.data, g->largest.len) <=
		    0)
			break;
		if (c->seen_key)
			c->overlapped_bytes += g->size;
		c->gp_index++;
	}
	c->seen_key = true;
	if (c->overlapped_bytes > max_grandparent_overlap(c)) {
		c->overlapped_bytes = 0;
		return true;
	}
	return false;
}

/* Level-0 inputs are merged table by table (their ranges overlap); a
 * sorted level is one concatenating iterator.  tc must outlive *out. */
int lsm_compaction_iter(struct lsm_compaction *c, struct lsm_tcache *tc,
			struct lsm_iiter **out)
{
	struct lsm_iiter **kids = NULL;
	int n = 0, cap = c->ninputs[0] + c->ninputs[1] + 1, rc = LSM_OK;

	*out = NULL;
	if (!(kids = calloc((size_t)cap, sizeof(*kids))))
		return LSM_ERR(LSM_ENOMEM, "out of memory (compaction iter)");
	for (int which = 0; which < 2; which++) {
		if (!c->ninputs[which])
			continue;
		if (c->level + which == 0) {
			for (int i = 0; i < c->ninputs[which]; i++) {
				if ((rc = table_iter(tc, c->inputs[which][i],
						     &kids[n])))
					goto out;
				n++;
			}
		} else {
			if ((rc = level_iter_new(tc, c->inputs[which],
						 c->ninputs[which], &kids[n])))
				goto out;
			n++;
		}
	}
	/* lsm_merge_iter takes the children, also when it fails. */
	rc = lsm_merge_iter(kids, n, out);
	n = 0;
out:
	while (n > 0) {
		n--;
		kids[n]->ops->destroy(kids[n]);
	}
	free(kids);
	return rc;
}

int lsm_compaction_edit(struct lsm_compaction *c, struct lsm_edit *e)
{
	int rc;

	for (int which = 0; which < 2; which++)
		for (int i = 0; i < c->ninputs[which]; i++)
			if ((rc = lsm_edit_delete(e, c->level + which,
						  c->inputs[which][i]->num)))
				return rc;
	return LSM_OK;
}

/* Releases c; it unrefs its version, so db.c's mutex must be held. */
void lsm_compaction_free(struct lsm_compaction *c)
{
	if (!c)
		return;
	for (int which = 0; which < 2; which++) {
		for (int i = 0; i < c->ninputs[which]; i++)
			lsm_fmeta_unref(c->inputs[which][i]);
		free(c->inputs[which]);
	}
	for (int i = 0; i < c->ngrandparents; i++)
		lsm_fmeta_unref(c->grandparents[i]);
	free(c->grandparents);
	lsm_version_unref(c->v);
	free(c);
}

/* ---- flush placement ---------------------------------------------------- */

/* Bytes of level's files (level >= 1) overlapping user keys [s, l]. */
static uint64_t overlap_bytes(const struct lsm_version *v, int level,
			      const uint8_t *s, size_t slen, const uint8_t *l,
			      size_t llen)
{
	uint64_t sum = 0;

	for (int i = 0; i < v->nfiles[level]; i++)
		if (file_overlaps(v->files[level][i], s, slen, l, llen))
			sum += v->files[level][i]->size;
	return sum;
}

int lsm_version_pick_level(struct lsm_version *v, const uint8_t *s,
			   size_t slen, const uint8_t *l, size_t llen)
{
	uint64_t limit = 10 * (uint64_t)v->vs->o.target_file_size;
	int level = 0;

	if (lsm_version_overlaps(v, 0, s, slen, l, llen))
		return 0;
	while (level < MAX_MEM_COMPACT_LEVEL) {
		if (lsm_version_overlaps(v, level + 1, s, slen, l, llen))
			break;
		if (level + 2 < LSM_MAX_LEVELS &&
		    overlap_bytes(v, level + 2, s, slen, l, llen) > limit)
			break;
		level++;
	}
	return level;
}
