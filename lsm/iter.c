/*
 * iter.c — the iterators that sit above the sources of entries.
 *
 * A read of a range sees several sources at once: the memtable, the
 * immutable memtable, each level-0 table and each deeper level.  Each is
 * an internal iterator (struct lsm_iiter, lsm_int.h) over internal keys.
 *
 *   lsm_merge_iter  merges n of them into one sorted stream of internal
 *                   keys, both ways (LevelDB's MergingIterator);
 *   lsm_user_iter   turns that stream into the public lsm_iter of lsm.h:
 *                   one entry per user key, its newest version visible at
 *                   the iterator's sequence number, tombstones hidden
 *                   (LevelDB's DBIter).
 *
 * db.c builds merge(memtables, version iterators) and wraps it in a user
 * iterator whose on_close drops db.c's references.
 */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>

#include "lsm_int.h"

/* ======================================================================
 * Merging iterator.
 *
 * Invariant: in the forward direction every child is positioned at its
 * first entry >= the current key (the current child at the current key
 * itself); in the reverse direction every child other than the current
 * one is at its last entry < the current key.  A move in the same
 * direction moves only the current child; a change of direction first
 * repositions every other child.  The current child is found by a linear
 * scan: n is small (memtables, level-0 tables, one per deeper level).
 */
enum merge_dir { MERGE_FWD, MERGE_REV };

/* A child and, while it does not move, its validity and current key (so
 * that picking the smallest needs no calls into the children). */
struct merge_kid {
	struct lsm_iiter *it; /* owned */
	const uint8_t *key;   /* borrowed from it; NULL when not valid */
	size_t klen;
};

struct merge_iter {
	struct lsm_iiter base;
	struct merge_kid *kids; /* n, right after the struct (one block) */
	int n;
	struct merge_kid *cur;  /* one of kids, or NULL: not valid */
	enum merge_dir dir;
	bool embedded;          /* inside a user iterator's block: destroy
				 * leaves the memory to it */
};

/* Bytes of a merging iterator over n children, kids included. */
static size_t merge_size(int n)
{
	return sizeof(struct merge_iter) +
	       (size_t)(n ? n : 1) * sizeof(struct merge_kid);
}

static struct merge_iter *merge_of(struct lsm_iiter *it)
{
	return (struct merge_iter *)it;
}

/* Reads k's validity and key after k moved. */
static void kid_load(struct merge_kid *k)
{
	k->key = k->it->ops->valid(k->it) ? k->it->ops->key(k->it, &k->klen)
					  : NULL;
}

static int kid_cmp(const struct merge_kid *a, const struct merge_kid *b)
{
	return lsm_ikey_cmp_inline(a->key, a->klen, b->key, b->klen);
}

/* cur := the valid child with the smallest key (sign 1) or the largest
 * (sign -1); the first such child on a tie. */
static void merge_pick(struct merge_iter *mi, int sign)
{
	struct merge_kid *best = NULL, *k;

	for (int i = 0; i < mi->n; i++) {
		k = &mi->kids[i];
		if (!k->key)
			continue;
		if (!best || sign * kid_cmp(k, best) < 0)
			best = k;
	}
	mi->cur = best;
}

static bool merge_valid(struct lsm_iiter *it)
{
	return merge_of(it)->cur != NULL;
}

static void merge_first(struct lsm_iiter *it)
{
	struct merge_iter *mi = merge_of(it);

	for (int i = 0; i < mi->n; i++) {
		mi->kids[i].it->ops->first(mi->kids[i].it);
		kid_load(&mi->kids[i]);
	}
	mi->dir = MERGE_FWD;
	merge_pick(mi, 1);
}

static void merge_last(struct lsm_iiter *it)
{
	struct merge_iter *mi = merge_of(it);

	for (int i = 0; i < mi->n; i++) {
		mi->kids[i].it->ops->last(mi->kids[i].it);
		kid_load(&mi->kids[i]);
	}
	mi->dir = MERGE_REV;
	merge_pick(mi, -1);
}

static void merge_seek(struct lsm_iiter *it, const uint8_t *ik, size_t iklen)
{
	struct merge_iter *mi = merge_of(it);
	struct lsm_iiter *k;

	/* Every child's cache misses at once, then the seeks (prepare in
	 * lsm_int.h): a seek is bound by memory latency, not instructions. */
	for (int i = 0; i < mi->n; i++)
		if ((k = mi->kids[i].it)->ops->prepare)
			k->ops->prepare(k, ik, iklen);
	for (int i = 0; i < mi->n; i++) {
		mi->kids[i].it->ops->seek(mi->kids[i].it, ik, iklen);
		kid_load(&mi->kids[i]);
	}
	mi->dir = MERGE_FWD;
	merge_pick(mi, 1);
}

static void merge_next(struct lsm_iiter *it)
{
	struct merge_iter *mi = merge_of(it);
	struct merge_kid *cur = mi->cur, *k;

	assert(cur);
	if (mi->dir != MERGE_FWD) {
		/* Every other child is before the current key: put each at
		 * its first entry > it.  cur's key stays valid: cur does not
		 * move. */
		for (int i = 0; i < mi->n; i++) {
			if ((k = &mi->kids[i]) == cur)
				continue;
			k->it->ops->seek(k->it, cur->key, cur->klen);
			kid_load(k);
			if (k->key && kid_cmp(k, cur) == 0) {
				k->it->ops->next(k->it);
				kid_load(k);
			}
		}
		mi->dir = MERGE_FWD;
	}
	cur->it->ops->next(cur->it);
	kid_load(cur);
	merge_pick(mi, 1);
}

static void merge_prev(struct lsm_iiter *it)
{
	struct merge_iter *mi = merge_of(it);
	struct merge_kid *cur = mi->cur, *k;

	assert(cur);
	if (mi->dir != MERGE_REV) {
		/* Every other child is after the current key: put each at
		 * its last entry < it. */
		for (int i = 0; i < mi->n; i++) {
			if ((k = &mi->kids[i]) == cur)
				continue;
			k->it->ops->seek(k->it, cur->key, cur->klen);
			if (k->it->ops->valid(k->it))
				k->it->ops->prev(k->it);
			else
				k->it->ops->last(k->it);
			kid_load(k);
		}
		mi->dir = MERGE_REV;
	}
	cur->it->ops->prev(cur->it);
	kid_load(cur);
	merge_pick(mi, -1);
}

static const uint8_t *merge_key(struct lsm_iiter *it, size_t *len)
{
	struct merge_kid *cur = merge_of(it)->cur;

	*len = cur->klen;
	return cur->key;
}

static const uint8_t *merge_value(struct lsm_iiter *it, size_t *len)
{
	struct lsm_iiter *cur = merge_of(it)->cur->it;

	return cur->ops->value(cur, len);
}

/* A child that meets an error becomes invalid (lsm_int.h): only the
 * invalid ones need asking. */
static int merge_status(struct lsm_iiter *it)
{
	struct merge_iter *mi = merge_of(it);
	struct lsm_iiter *k;
	int rc;

	for (int i = 0; i < mi->n; i++) {
		k = mi->kids[i].it;
		if (!mi->kids[i].key && (rc = k->ops->status(k)))
			return rc;
	}
	return LSM_OK;
}

static void destroy_kids(struct lsm_iiter **kids, int n)
{
	for (int i = 0; i < n; i++)
		if (kids[i])
			kids[i]->ops->destroy(kids[i]);
}

static void merge_destroy(struct lsm_iiter *it)
{
	struct merge_iter *mi = merge_of(it);

	if (!mi)
		return;
	for (int i = 0; i < mi->n; i++)
		mi->kids[i].it->ops->destroy(mi->kids[i].it);
	if (!mi->embedded)
		free(mi);
}

static const struct lsm_iiter_ops merge_ops = {
	.valid = merge_valid,
	.first = merge_first,
	.last = merge_last,
	.seek = merge_seek,
	.next = merge_next,
	.prev = merge_prev,
	.key = merge_key,
	.value = merge_value,
	.status = merge_status,
	.destroy = merge_destroy,
};

/* Sets up a merging iterator in mem (merge_size(n) bytes) over the
 * children, taken. */
static struct merge_iter *merge_init(void *mem, struct lsm_iiter **children,
				     int n)
{
	struct merge_iter *mi = mem;

	memset(mi, 0, merge_size(n));
	mi->kids = (struct merge_kid *)(mi + 1);
	for (int i = 0; i < n; i++)
		mi->kids[i].it = children[i];
	mi->n = n;
	mi->base.ops = &merge_ops;
	return mi;
}

/* Takes the children: on success they belong to *out, on failure
 * (LSM_ENOMEM) they have been destroyed.  n == 1 returns the child
 * itself; n == 0 an iterator that is never valid.  One allocation. */
int lsm_merge_iter(struct lsm_iiter **children, int n, struct lsm_iiter **out)
{
	void *mem;

	*out = NULL;
	assert(n >= 0);
	if (n == 1) {
		*out = children[0];
		return LSM_OK;
	}
	if (!(mem = malloc(merge_size(n)))) {
		destroy_kids(children, n);
		return LSM_ERR(LSM_ENOMEM, "out of memory (merging iterator)");
	}
	*out = &merge_init(mem, children, n)->base;
	return LSM_OK;
}

/* ======================================================================
 * The user iterator (lsm_iter of lsm.h).
 *
 * Forward (dir UIT_FWD): the internal iterator is at the very entry shown,
 * so key and value are borrowed from it.  Reverse (UIT_REV): the internal
 * iterator is just before every entry of the shown user key (it had to
 * scan past them all to learn which version is the newest visible one),
 * so the key and value shown are copies in skey and sval.
 *
 * An entry with sequence > seq is never shown, whatever the direction.
 * Once an error is seen (an internal iterator's status, a malformed key,
 * ENOMEM) the iterator stays invalid and lsm_iter_status reports it.
 */
enum uit_dir { UIT_FWD, UIT_REV };
/* sval keeps its buffer between keys unless it is this much too big. */
#define UIT_SVAL_SLACK (1024 * 1024)
/* skey starts in the iterator itself (skey_in): no allocation for keys up
 * to this long. */
#define UIT_KEY_INLINE 128

struct lsm_iter {
	struct lsm_iiter *in; /* owned */
	uint64_t seq;         /* entries with a larger sequence are hidden */
	void (*on_close)(void *ctx);
	void *ctx;
	enum uit_dir dir;
	bool valid;
	int status;
	/* FWD: the user key being skipped (a scratch buffer otherwise);
	 * REV: the user key shown. */
	struct lsm_buf skey;  /* data: skey_in, or owned once it grew */
	struct lsm_buf sval; /* REV: the value shown */
	uint8_t skey_in[UIT_KEY_INLINE];
};

/* Makes skey hold at least n bytes (keeping its contents): a key longer
 * than skey_in moves it to the heap. */
static int uit_skey_room(lsm_iter *it, size_t n)
{
	uint8_t *p;

	if (n <= it->skey.cap)
		return LSM_OK;
	if (it->skey.data != it->skey_in)
		return lsm_buf_reserve(&it->skey, n - it->skey.len);
	if (!(p = malloc(n)))
		return LSM_ERR(LSM_ENOMEM, "out of memory (iterator key)");
	memcpy(p, it->skey_in, it->skey.len);
	it->skey.data = p;
	it->skey.cap = n;
	return LSM_OK;
}

/* Splits the internal iterator's current key; false (status set) if it is
 * malformed. */
static bool uit_parse(lsm_iter *it, const uint8_t **uk, size_t *uklen,
		      uint64_t *seq, int *kind)
{
	size_t iklen;
	const uint8_t *ik = it->in->ops->key(it->in, &iklen);

	if (iklen < LSM_TRAILER) {
		it->status = LSM_ERR(LSM_ECORRUPT,
				     "iterator: internal key of %zu bytes",
				     iklen);
		return false;
	}
	*uk = ik;
	*uklen = iklen - LSM_TRAILER;
	*seq = lsm_ikey_seq(ik, iklen);
	*kind = lsm_ikey_kind(ik, iklen);
	if (*kind != LSM_KIND_VAL && *kind != LSM_KIND_DEL) {
		it->status = LSM_ERR(LSM_ECORRUPT,
				     "iterator: unknown entry kind %d", *kind);
		return false;
	}
	return true;
}

/* b := p[0..n); false (status set) on ENOMEM. */
static bool uit_save(lsm_iter *it, struct lsm_buf *b, const void *p,
		     size_t n)
{
	int rc;

	if (n && n <= b->cap) { /* the common case: no calls */
		memcpy(b->data, p, n);
		b->len = n;
		return true;
	}
	rc = b == &it->skey ? uit_skey_room(it, n) : LSM_OK;
	if (!rc)
		rc = lsm_buf_set(b, p, n);

	if (rc && !it->status)
		it->status = rc;
	return rc == LSM_OK;
}

static void uit_clear(lsm_iter *it)
{
	lsm_buf_clear(&it->skey);
	lsm_buf_clear(&it->sval);
}

/* Forward from the internal iterator's (valid) entry to the first entry
 * to show: visible, a value, and (when skipping) of a user key after
 * skey.  A visible tombstone makes every older entry of its key hidden. */
static void uit_find_next(lsm_iter *it, bool skipping)
{
	struct lsm_iiter *in = it->in;
	const uint8_t *uk;
	size_t uklen, vlen;
	uint64_t seq;
	int kind;

	assert(it->dir == UIT_FWD);
	do {
		if (!uit_parse(it, &uk, &uklen, &seq, &kind))
			break;
		if (seq <= it->seq) {
			if (kind == LSM_KIND_DEL) {
				if (!uit_save(it, &it->skey, uk, uklen))
					break;
				skipping = true;
			} else if (!skipping ||
				   lsm_ukey_cmp(uk, uklen, it->skey.data,
						it->skey.len) > 0) {
				/* A table iterator may have shown its first
				 * key without reading it (sst.c): reading the
				 * value now lets uit_settle see its error. */
				(void)in->ops->value(in, &vlen);
				it->valid = true;
				lsm_buf_clear(&it->skey);
				return;
			}
		}
		in->ops->next(in);
	} while (in->ops->valid(in));
	lsm_buf_clear(&it->skey);
	it->valid = false;
}

/* Backward from the internal iterator's position: collects the newest
 * visible version of the first user key (going back) that has one, into
 * skey and sval, and stops on the visible entry before that key's
 * entries.  If the newest visible version is a tombstone the key is
 * skipped. */
static void uit_find_prev(lsm_iter *it)
{
	struct lsm_iiter *in = it->in;
	int shown = LSM_KIND_DEL; /* kind of the version collected so far */
	const uint8_t *uk, *v;
	size_t uklen, vlen;
	uint64_t seq;
	int kind;

	assert(it->dir == UIT_REV);
	while (in->ops->valid(in)) {
		if (!uit_parse(it, &uk, &uklen, &seq, &kind))
			break;
		if (seq <= it->seq) {
			if (shown != LSM_KIND_DEL &&
			    lsm_ukey_cmp(uk, uklen, it->skey.data,
					 it->skey.len) < 0)
				break; /* an earlier key: skey's is complete */
			shown = kind;
			if (kind == LSM_KIND_DEL) {
				uit_clear(it);
			} else {
				v = in->ops->value(in, &vlen);
				/* let a huge value's buffer go (DBIter) */
				if (it->sval.cap > vlen + UIT_SVAL_SLACK)
					lsm_buf_free(&it->sval);
				if (!uit_save(it, &it->skey, uk, uklen) ||
				    !uit_save(it, &it->sval, v, vlen))
					break;
			}
		}
		in->ops->prev(in);
	}
	if (shown == LSM_KIND_DEL || it->status) {
		it->valid = false;
		uit_clear(it);
		it->dir = UIT_FWD;
	} else {
		it->valid = true;
	}
}

/* After a move: an error anywhere leaves the iterator invalid for good. */
static void uit_settle(lsm_iter *it)
{
	if (!it->status)
		it->status = it->in->ops->status(it->in);
	if (it->status) {
		it->valid = false;
		uit_clear(it);
	}
}

static void uit_init(lsm_iter *it, struct lsm_iiter *internal, uint64_t seq,
		     void (*on_close)(void *ctx), void *ctx)
{
	memset(it, 0, sizeof(*it));
	it->in = internal;
	it->seq = seq > LSM_SEQ_MAX ? LSM_SEQ_MAX : seq;
	it->on_close = on_close;
	it->ctx = ctx;
	it->dir = UIT_FWD;
	it->skey.data = it->skey_in;
	it->skey.cap = sizeof(it->skey_in);
}

int lsm_user_iter(struct lsm_iiter *internal, uint64_t seq,
		  void (*on_close)(void *ctx), void *ctx, lsm_iter **out)
{
	lsm_iter *it;

	*out = NULL;
	if (!(it = malloc(sizeof(*it)))) {
		internal->ops->destroy(internal);
		return LSM_ERR(LSM_ENOMEM, "out of memory (iterator)");
	}
	uit_init(it, internal, seq, on_close, ctx);
	*out = it;
	return LSM_OK;
}

static size_t align_up(size_t n)
{
	size_t a = _Alignof(max_align_t);

	return (n + a - 1) / a * a;
}

/* One block: the user iterator, its merging iterator and that one's
 * children array, and the caller's context. */
int lsm_user_iter_merge(struct lsm_iiter **children, int n, uint64_t seq,
			void (*on_close)(void *ctx), size_t ctx_size,
			void **ctx, lsm_iter **out)
{
	size_t merge_off = align_up(sizeof(lsm_iter));
	size_t ctx_off = merge_off + (n == 1 ? 0 : align_up(merge_size(n)));
	struct lsm_iiter *in;
	uint8_t *mem;

	*out = NULL;
	*ctx = NULL;
	assert(n >= 0);
	if (!(mem = malloc(ctx_off + ctx_size))) {
		destroy_kids(children, n);
		return LSM_ERR(LSM_ENOMEM, "out of memory (iterator)");
	}
	if (n == 1) {
		in = children[0];
	} else {
		struct merge_iter *mi = merge_init(mem + merge_off, children,
						   n);
		mi->embedded = true;
		in = &mi->base;
	}
	*ctx = mem + ctx_off;
	memset(*ctx, 0, ctx_size);
	uit_init((lsm_iter *)mem, in, seq, on_close, *ctx);
	*out = (lsm_iter *)mem;
	return LSM_OK;
}

void lsm_iter_close(lsm_iter *it)
{
	if (!it)
		return;
	it->in->ops->destroy(it->in);
	if (it->on_close)
		it->on_close(it->ctx);
	if (it->skey.data != it->skey_in)
		lsm_buf_free(&it->skey);
	lsm_buf_free(&it->sval);
	free(it);
}

void lsm_iter_first(lsm_iter *it)
{
	if (it->status)
		return;
	it->dir = UIT_FWD;
	uit_clear(it);
	it->in->ops->first(it->in);
	if (it->in->ops->valid(it->in))
		uit_find_next(it, false);
	else
		it->valid = false;
	uit_settle(it);
}

void lsm_iter_last(lsm_iter *it)
{
	if (it->status)
		return;
	it->dir = UIT_REV;
	uit_clear(it);
	it->in->ops->last(it->in);
	uit_find_prev(it);
	uit_settle(it);
}

void lsm_iter_seek(lsm_iter *it, const void *key, size_t klen)
{
	int rc;

	if (it->status)
		return;
	it->dir = UIT_FWD;
	uit_clear(it);
	/* skey holds the target only until find_next overwrites it */
	if ((rc = uit_skey_room(it, klen + LSM_TRAILER)) ||
	    (rc = lsm_ikey_make(&it->skey, key, klen, it->seq,
				LSM_KIND_VAL))) {
		it->status = rc;
		goto out;
	}
	it->in->ops->seek(it->in, it->skey.data, it->skey.len);
	if (it->in->ops->valid(it->in))
		uit_find_next(it, false);
	else
		it->valid = false;
out:
	uit_settle(it);
}

void lsm_iter_next(lsm_iter *it)
{
	struct lsm_iiter *in = it->in;
	const uint8_t *ik;
	size_t iklen;

	if (!it->valid)
		return;
	if (it->dir == UIT_REV) {
		/* in is just before the shown key's entries: step into
		 * them; skey already names the key to skip. */
		it->dir = UIT_FWD;
		if (in->ops->valid(in))
			in->ops->next(in);
		else
			in->ops->first(in);
	} else {
		ik = in->ops->key(in, &iklen);
		if (!uit_save(it, &it->skey, ik, iklen - LSM_TRAILER))
			goto out;
		in->ops->next(in);
	}
	if (in->ops->valid(in))
		uit_find_next(it, true);
	else
		it->valid = false;
out:
	uit_settle(it);
}

void lsm_iter_prev(lsm_iter *it)
{
	struct lsm_iiter *in = it->in;
	const uint8_t *ik;
	size_t iklen;

	if (!it->valid)
		return;
	if (it->dir == UIT_FWD) {
		/* in is at the shown entry: go back past every entry of
		 * its user key, then scan as usual. */
		ik = in->ops->key(in, &iklen);
		if (!uit_save(it, &it->skey, ik, iklen - LSM_TRAILER))
			goto out;
		lsm_buf_clear(&it->sval);
		for (;;) {
			in->ops->prev(in);
			if (!in->ops->valid(in)) {
				it->valid = false;
				uit_clear(it);
				goto out;
			}
			ik = in->ops->key(in, &iklen);
			if (iklen < LSM_TRAILER ||
			    lsm_ukey_cmp(ik, iklen - LSM_TRAILER,
					 it->skey.data, it->skey.len) < 0)
				break;
		}
		it->dir = UIT_REV;
	}
	uit_find_prev(it);
out:
	uit_settle(it);
}

int lsm_iter_valid(const lsm_iter *it)
{
	return it->valid;
}

const void *lsm_iter_key(const lsm_iter *it, size_t *klen)
{
	const uint8_t *ik;
	size_t iklen;

	if (!it->valid) {
		*klen = 0;
		return NULL;
	}
	if (it->dir == UIT_REV) {
		*klen = it->skey.len;
		return it->skey.data;
	}
	ik = it->in->ops->key(it->in, &iklen);
	*klen = iklen - LSM_TRAILER;
	return ik;
}

const void *lsm_iter_value(const lsm_iter *it, size_t *vlen)
{
	if (!it->valid) {
		*vlen = 0;
		return NULL;
	}
	if (it->dir == UIT_REV) {
		*vlen = it->sval.len;
		return it->sval.data ? (const void *)it->sval.data : "";
	}
	return it->in->ops->value(it->in, vlen);
}

int lsm_iter_status(const lsm_iter *it)
{
	return it->status;
}
