/*
 * memtable.c — the in-memory table: a skiplist of (internal key, value)
 * entries whose nodes, keys and values all live in the memtable's arena.
 *
 * Writes reach the memtable after the WAL (db.c); reads (lsm_mem_get and
 * iterators) look here before the immutable memtable and the tables.  A
 * memtable only grows: entries are never changed or removed, so a reader
 * needs no lock, and the whole arena goes in one step when the last
 * reference is dropped (after the memtable's flush is in the manifest and
 * the last reader is done).
 *
 * The skiplist is LevelDB's (db/skiplist.h): at most MEM_MAX_HEIGHT
 * levels, a node reaching level i+1 with probability 1/MEM_BRANCHING.
 * Order is lsm_ikey_cmp: user key ascending, then trailer (seq << 8 |
 * kind) descending, so the newest version of a key comes first.
 *
 * Node layout, one arena allocation per entry (nothing else is allocated
 * by an add), RocksDB's InlineSkipList's: the links come first, in
 * reverse, so that the node's header, key and value are contiguous and a
 * comparison touches one or two cache lines:
 *   next[height-1] .. next[0] | struct mem_node | internal key | value
 * A node pointer points at the struct; its link i is ((links *)n)[-1-i].
 *
 * The writer keeps the insertion points of its last add (the "splice"):
 * a key that lands right after the previous one (sequential loads) is
 * inserted without a search from the top.
 */
#include <assert.h>
#include <stdlib.h>

#include "lsm_int.h"

#define MEM_MAX_HEIGHT 12
#define MEM_BRANCHING 4

typedef _Atomic(struct mem_node *) mem_link;

struct mem_node {
	uint32_t vlen;
	uint16_t iklen;  /* user key + LSM_TRAILER (LSM_MAX_KEY + 8 fits) */
	uint16_t height;
	uint8_t kv[];    /* iklen key bytes, then vlen value bytes */
};

/*
 * Locking: one writer at a time (the caller serialises lsm_mem_add; db.c's
 * write-queue leader) and any number of lock-free readers.  A node is
 * fully written (key, value, its own links) before a release store links
 * it in, and readers follow links with acquire loads, so a reader that
 * sees a node sees its contents.  Fields:
 *   refs      atomic; the last lsm_mem_unref frees arena and struct
 *   arena     writer only (readers only read memory it handed out)
 *   rng       writer only
 *   splice    writer only: prev[] of the last add, NULL before the first
 *   head      set at create, never changes; its links as any node's
 *   height    atomic, relaxed: a reader that sees a new height before the
 *             head's new links finds NULL there and drops a level, which
 *             is harmless (as in LevelDB)
 *   count, usage  atomic, relaxed: statistics written by the writer and
 *             read by anyone (flush decisions, lsm_stats)
 */
struct lsm_memtable {
	atomic_int refs;
	struct lsm_arena arena;
	uint64_t rng;
	struct mem_node *splice[MEM_MAX_HEIGHT];
	bool has_splice;
	struct mem_node *head;
	atomic_int height;
	_Atomic uint64_t count;
	_Atomic size_t usage;
};

/* ---- nodes ------------------------------------------------------------ */

static inline mem_link *node_link(struct mem_node *n, int level)
{
	return (mem_link *)n - 1 - level;
}

static inline struct mem_node *node_next(struct mem_node *n, int level)
{
	return atomic_load_explicit(node_link(n, level), memory_order_acquire);
}

static inline void node_set_next(struct mem_node *n, int level,
				 struct mem_node *x)
{
	atomic_store_explicit(node_link(n, level), x, memory_order_release);
}

/* Compares node n's internal key with (ukey, trailer): <0, 0, >0. */
static inline int node_cmp(const struct mem_node *n, const uint8_t *ukey,
			   size_t uklen, uint64_t trailer)
{
	size_t nuklen = n->iklen - LSM_TRAILER;
	int c = lsm_ukey_cmp(n->kv, nuklen, ukey, uklen);
	uint64_t t;

	if (c)
		return c;
	t = lsm_get_u64le(n->kv + nuklen);
	return t > trailer ? -1 : t < trailer;
}

/* Allocates a node of the given height in the arena; links are NULL. */
static struct mem_node *node_new(lsm_memtable *m, int height, size_t iklen,
				 size_t vlen)
{
	size_t links = (size_t)height * sizeof(mem_link);
	struct mem_node *n;
	uint8_t *p;

	p = lsm_arena_alloc(&m->arena, links + sizeof(*n) + iklen + vlen);
	if (!p)
		return NULL;
	n = (struct mem_node *)(p + links);
	n->iklen = (uint16_t)iklen;
	n->vlen = (uint32_t)vlen;
	n->height = (uint16_t)height;
	for (int i = 0; i < height; i++)
		atomic_init(node_link(n, i), NULL);
	return n;
}

/* xorshift64*: the writer's private generator for node heights. */
static uint64_t mem_rand(lsm_memtable *m)
{
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return m->rng * UINT64_C(2685821657736338717);
}

/* Height h with probability (1 - 1/B) / B^(h-1): two bits per level of
 * one random number (B = 4). */
static int mem_random_height(lsm_memtable *m)
{
	uint64_t r = mem_rand(m) >> 32;
	int h = 1;

	while (h < MEM_MAX_HEIGHT && (r & (MEM_BRANCHING - 1)) == 0) {
		h++;
		r >>= 2;
	}
	return h;
}

/* ---- search ----------------------------------------------------------- */

/* The first node >= (ukey, trailer), or NULL.  If prev is non-NULL, fills
 * prev[i] with the last node < the key at each level (the writer's
 * insertion points).  A node already found >= the key at one level is not
 * compared again at the levels below (LevelDB's trick), and the node after
 * the next is prefetched while the next is compared. */
static struct mem_node *mem_find_ge(lsm_memtable *m, const uint8_t *ukey,
				    size_t uklen, uint64_t trailer,
				    struct mem_node **prev)
{
	struct mem_node *x = m->head, *next, *bigger = NULL;
	int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;

	for (;;) {
		next = node_next(x, level);
		if (next && next != bigger) {
			__builtin_prefetch(node_link(next, level));
			if (node_cmp(next, ukey, uklen, trailer) < 0) {
				x = next;
				continue;
			}
		}
		bigger = next;
		if (prev)
			prev[level] = x;
		if (level == 0)
			return next;
		level--;
	}
}
/* The last node < (ukey, trailer), or NULL if there is none. */
static struct mem_node *mem_find_lt(lsm_memtable *m, const uint8_t *ukey,
				    size_t uklen, uint64_t trailer)
{
	struct mem_node *prev[MEM_MAX_HEIGHT];

	mem_find_ge(m, ukey, uklen, trailer, prev);
	return prev[0] == m->head ? NULL : prev[0];
}

/* The last node, or NULL if the list is empty. */
static struct mem_node *mem_find_last(lsm_memtable *m)
{
	struct mem_node *x = m->head, *next;
	int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;

	for (;;) {
		next = node_next(x, level);
		if (next) {
			x = next;
			continue;
		}
		if (level == 0)
			return x == m->head ? NULL : x;
		level--;
	}
}

/* ---- the memtable ----------------------------------------------------- */

int lsm_mem_create(lsm_memtable **out)
{
	lsm_memtable *m = NULL;
	int rc = LSM_OK;

	*out = NULL;
	if (!(m = calloc(1, sizeof(*m)))) {
		rc = LSM_ERR(LSM_ENOMEM, "out of memory (memtable)");
		goto out;
	}
	lsm_arena_init(&m->arena);
	m->rng = UINT64_C(0x9e3779b97f4a7c15);
	atomic_init(&m->refs, 1);
	atomic_init(&m->height, 1);
	atomic_init(&m->count, 0);
	if (!(m->head = node_new(m, MEM_MAX_HEIGHT, 0, 0))) {
		rc = LSM_ERR(LSM_ENOMEM, "out of memory (memtable head)");
		goto out;
	}
	atomic_init(&m->usage, lsm_arena_usage(&m->arena));
	*out = m;
	m = NULL;
out:
	if (m) {
		lsm_arena_free(&m->arena);
		free(m);
	}
	return rc;
}

void lsm_mem_ref(lsm_memtable *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void lsm_mem_unref(lsm_memtable *m)
{
	if (!m || atomic_fetch_sub_explicit(&m->refs, 1,
					     memory_order_acq_rel) != 1)
		return;
	lsm_arena_free(&m->arena);
	free(m);
}

/* Whether the last add's insertion points also fit (ukey, trailer): the
 * key comes after splice[0] and before the successor at every level.
 * Then prev is filled from the splice.  Writer only. */
static bool mem_splice_fits(lsm_memtable *m, const uint8_t *ukey,
			    size_t uklen, uint64_t trailer,
			    struct mem_node **prev)
{
	int h = atomic_load_explicit(&m->height, memory_order_relaxed);
	struct mem_node *checked = NULL;

	if (!m->has_splice || (m->splice[0] != m->head &&
			       node_cmp(m->splice[0], ukey, uklen, trailer) >= 0))
		return false;
	for (int i = 0; i < h; i++) {
		struct mem_node *next = node_next(m->splice[i], i);
		if (next && next != checked &&
		    node_cmp(next, ukey, uklen, trailer) < 0)
			return false;
		checked = next;
		prev[i] = m->splice[i];
	}
	return true;
}

/* Single writer (the caller serialises adds).  The new node is complete,
 * links included, before a release store makes it reachable, bottom level
 * first, so a reader finds it at level 0 as soon as at any level above. */
int lsm_mem_add(lsm_memtable *m, uint64_t seq, int kind, const void *key,
		size_t klen, const void *val, size_t vlen)
{
	struct mem_node *prev[MEM_MAX_HEIGHT], *n;
	uint64_t trailer = seq << 8 | (uint64_t)kind;
	int height, cur;

	assert(seq <= LSM_SEQ_MAX);
	assert(kind == LSM_KIND_VAL || kind == LSM_KIND_DEL);
	if (klen > LSM_MAX_KEY || vlen > LSM_MAX_VALUE)
		return LSM_ERR(LSM_EINVAL, "memtable: key %zu or value %zu "
				"bytes too large", klen, vlen);
	if (!mem_splice_fits(m, key, klen, trailer, prev))
		mem_find_ge(m, key, klen, trailer, prev);
	height = mem_random_height(m);
	if (!(n = node_new(m, height, klen + LSM_TRAILER, vlen)))
		return LSM_ERR(LSM_ENOMEM, "out of memory (memtable arena)");
	if (klen)
		memcpy(n->kv, key, klen);
	lsm_put_u64le(n->kv + klen, trailer);
	if (vlen)
		memcpy(n->kv + klen + LSM_TRAILER, val, vlen);

	cur = atomic_load_explicit(&m->height, memory_order_relaxed);
	for (int i = cur; i < height; i++)
		prev[i] = m->head;
	if (height > cur) {
		atomic_store_explicit(&m->height, height, memory_order_relaxed);
		cur = height;
	}
	for (int i = 0; i < height; i++) {
		atomic_store_explicit(node_link(n, i), node_next(prev[i], i),
				      memory_order_relaxed);
		node_set_next(prev[i], i, n);
	}
	for (int i = 0; i < cur; i++)
		m->splice[i] = i < height ? n : prev[i];
	m->has_splice = true;
	atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
	atomic_store_explicit(&m->usage, lsm_arena_usage(&m->arena),
			      memory_order_relaxed);
	return LSM_OK;
}

bool lsm_mem_get(lsm_memtable *m, const void *key, size_t klen,
		 uint64_t seq, int *kind, const uint8_t **val, size_t *vlen)
{
	struct mem_node *n;

	if (seq > LSM_SEQ_MAX)
		seq = LSM_SEQ_MAX;
	n = mem_find_ge(m, key, klen, seq << 8 | LSM_KIND_VAL, NULL);
	if (!n || lsm_ukey_cmp(n->kv, n->iklen - LSM_TRAILER, key, klen))
		return false;
	*kind = lsm_ikey_kind(n->kv, n->iklen);
	*val = n->kv + n->iklen;
	*vlen = n->vlen;
	return true;
}

size_t lsm_mem_usage(const lsm_memtable *m)
{
	return atomic_load_explicit(&m->usage, memory_order_relaxed);
}

uint64_t lsm_mem_count(const lsm_memtable *m)
{
	return atomic_load_explicit(&m->count, memory_order_relaxed);
}

/* ---- iterator --------------------------------------------------------- */

/* An iterator over one memtable: a node pointer (NULL = not valid).  It
 * holds a reference on m; keys and values it hands out point into the
 * arena and so stay valid for the iterator's whole life. */
struct mem_iter {
	struct lsm_iiter base;
	lsm_memtable *m;
	struct mem_node *node;
};

static struct mem_iter *mem_iter_of(struct lsm_iiter *it)
{
	return (struct mem_iter *)it;
}

static bool mem_iter_valid(struct lsm_iiter *it)
{
	return mem_iter_of(it)->node != NULL;
}

static void mem_iter_first(struct lsm_iiter *it)
{
	struct mem_iter *mi = mem_iter_of(it);

	mi->node = node_next(mi->m->head, 0);
}

static void mem_iter_last(struct lsm_iiter *it)
{
	struct mem_iter *mi = mem_iter_of(it);

	mi->node = mem_find_last(mi->m);
}

static void mem_iter_seek(struct lsm_iiter *it, const uint8_t *ik,
			  size_t iklen)
{
	struct mem_iter *mi = mem_iter_of(it);

	assert(iklen >= LSM_TRAILER);
	mi->node = mem_find_ge(mi->m, ik, iklen - LSM_TRAILER,
			       lsm_ikey_trailer(ik, iklen), NULL);
}

static void mem_iter_next(struct lsm_iiter *it)
{
	struct mem_iter *mi = mem_iter_of(it);

	assert(mi->node);
	mi->node = node_next(mi->node, 0);
}

/* No back links: search for the last node before the current one. */
static void mem_iter_prev(struct lsm_iiter *it)
{
	struct mem_iter *mi = mem_iter_of(it);
	struct mem_node *n = mi->node;

	assert(n);
	mi->node = mem_find_lt(mi->m, n->kv, n->iklen - LSM_TRAILER,
			       lsm_ikey_trailer(n->kv, n->iklen));
}

static const uint8_t *mem_iter_key(struct lsm_iiter *it, size_t *len)
{
	struct mem_node *n = mem_iter_of(it)->node;

	*len = n->iklen;
	return n->kv;
}

static const uint8_t *mem_iter_value(struct lsm_iiter *it, size_t *len)
{
	struct mem_node *n = mem_iter_of(it)->node;

	*len = n->vlen;
	return n->kv + n->iklen;
}

static int mem_iter_status(struct lsm_iiter *it)
{
	(void)it;
	return LSM_OK;
}

static void mem_iter_destroy(struct lsm_iiter *it)
{
	struct mem_iter *mi = mem_iter_of(it);

	if (!mi)
		return;
	lsm_mem_unref(mi->m);
	free(mi);
}

static const struct lsm_iiter_ops mem_iter_ops = {
	.valid = mem_iter_valid,
	.first = mem_iter_first,
	.last = mem_iter_last,
	.seek = mem_iter_seek,
	.next = mem_iter_next,
	.prev = mem_iter_prev,
	.key = mem_iter_key,
	.value = mem_iter_value,
	.status = mem_iter_status,
	.destroy = mem_iter_destroy,
};

int lsm_mem_iter(lsm_memtable *m, struct lsm_iiter **out)
{
	struct mem_iter *mi;

	*out = NULL;
	if (!(mi = calloc(1, sizeof(*mi))))
		return LSM_ERR(LSM_ENOMEM, "out of memory (memtable iterator)");
	mi->base.ops = &mem_iter_ops;
	lsm_mem_ref(m);
	mi->m = m;
	*out = &mi->base;
	return LSM_OK;
}
