/*
 * cache.c — the two caches of the read path.
 *
 * The block cache keeps decoded (checksum-verified) SSTable blocks keyed by
 * (table number, block offset), bounded by the sum of their sizes and
 * evicted least recently used first.  Blocks are reference counted: the
 * cache holds one reference while a block is in it, each reader one more,
 * so a block evicted (or replaced, or the cache destroyed) while a reader
 * holds it stays valid until that reader's lsm_block_unref.  File numbers
 * are never reused, so a removed table's blocks simply age out.  Tables
 * that are mapped (sst.c) use their blocks in place and never insert
 * them; they only count their reads here (lsm_cache_note): a hit for a
 * block already verified, a miss for one whose checksum the read had to
 * check, so that the counts still tell how often a read found its block
 * ready.
 *
 * The table cache keeps up to max_open tables open (lsm_sst, each with its
 * file descriptor, index and filter), keyed by file number, also LRU.  A
 * table evicted while a reader holds it stays open until its last unref.
 *
 * Both use one mutex each, held only for hash/list updates: no I/O and no
 * freeing happens under it (victims are collected and released after the
 * unlock).  Neither lock is ever held while taking the other.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lsm_int.h"

/* ---- the block cache --------------------------------------------------- */

/* A cached block.  The public struct lsm_block comes first so that the
 * pointers handed out convert back.  refs counts the cache's reference
 * (while in_cache) plus each reader's. */
struct cache_entry {
	struct lsm_block b;
	/* The fields below are guarded by the owning cache's mu; a block
	 * made with c == NULL never uses them. */
	uint64_t table, off;
	uint64_t hash;
	struct cache_entry *hnext;       /* bucket chain */
	struct cache_entry *prev, *next; /* LRU list, most recent first */
	bool in_cache;
};

#define CACHE_NOTE_SLOTS 16
struct cache_noted {
	atomic_uint_fast64_t hits, misses;
	char pad[64 - 2 * sizeof(atomic_uint_fast64_t)]; /* a line each */
};

/* Lock: mu guards every field below it.  Callers never hold it. */
struct lsm_cache {
	pthread_mutex_t mu;
	struct cache_entry **buckets; /* nbuckets, a power of two */
	size_t nbuckets;
	size_t count;
	struct cache_entry lru;       /* sentinel: lru.next most recent */
	size_t usage;                 /* sum of cached blocks' sizes */
	size_t capacity;
	uint64_t hits, misses;
	/* Reads of mapped tables (lsm_cache_note), outside mu: one pair of
	 * counters per slot, a cache line's worth each, a thread's slot fixed at
	 * its first note, so that readers on different cores do not share
	 * a line. */
	struct cache_noted noted[CACHE_NOTE_SLOTS];
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static uint64_t cache_hash(uint64_t table, uint64_t off)
{
	return mix64(table * UINT64_C(0x9e3779b97f4a7c15) ^ mix64(off));
}

int lsm_cache_create(size_t capacity, struct lsm_cache **out)
{
	struct lsm_cache *c = NULL;
	int rc = LSM_OK;

	*out = NULL;
	if (!(c = calloc(1, sizeof(*c))) ||
	    !(c->buckets = calloc(64, sizeof(*c->buckets)))) {
		rc = LSM_ERR(LSM_ENOMEM, "out of memory");
		goto out;
	}
	c->nbuckets = 64;
	c->capacity = capacity;
	c->lru.next = c->lru.prev = &c->lru;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	c = NULL;
out:
	if (c)
		free(c->buckets);
	free(c);
	return rc;
}

void lsm_block_unref(struct lsm_block *b)
{
	struct cache_entry *e = (struct cache_entry *)b;

	if (!b || atomic_fetch_sub_explicit(&b->refs, 1,
					    memory_order_acq_rel) != 1)
		return;
	free(b->data);
	free(e);
}

/* Frees a chain (through hnext) of entries taken out of the cache, by
 * dropping the cache's reference on each.  Called without c->mu. */
static void cache_release(struct cache_entry *victims)
{
	while (victims) {
		struct cache_entry *e = victims;
		victims = e->hnext;
		lsm_block_unref(&e->b);
	}
}

static void lru_unlink(struct cache_entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push(struct lsm_cache *c, struct cache_entry *e)
{
	e->next = c->lru.next;
	e->prev = &c->lru;
	e->next->prev = e;
	c->lru.next = e;
}

/* The bucket slot holding (table, off), or the empty slot at its chain's
 * end.  c->mu held. */
static struct cache_entry **cache_find(struct lsm_cache *c, uint64_t h,
				       uint64_t table, uint64_t off)
{
	struct cache_entry **pp = &c->buckets[h & (c->nbuckets - 1)];

	while (*pp && ((*pp)->table != table || (*pp)->off != off))
		pp = &(*pp)->hnext;
	return pp;
}

/* Doubles the table; on ENOMEM keeps the old one (chains just grow).
 * c->mu held. */
static void cache_grow(struct lsm_cache *c)
{
	size_t n = c->nbuckets * 2;
	struct cache_entry **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct cache_entry *e = c->buckets[i], *next;
		for (; e; e = next) {
			next = e->hnext;
			e->hnext = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = nb;
	c->nbuckets = n;
}

/* Takes e out of the hash table and the list and pushes it on *victims.
 * c->mu held. */
static void cache_remove(struct lsm_cache *c, struct cache_entry *e,
			 struct cache_entry **victims)
{
	struct cache_entry **pp = cache_find(c, e->hash, e->table, e->off);

	*pp = e->hnext;
	lru_unlink(e);
	e->in_cache = false;
	c->usage -= e->b.size;
	c->count--;
	e->hnext = *victims;
	*victims = e;
}

struct lsm_block *lsm_cache_lookup(struct lsm_cache *c, uint64_t table,
				   uint64_t off)
{
	uint64_t h = cache_hash(table, off);
	struct cache_entry *e;

	pthread_mutex_lock(&c->mu);
	e = *cache_find(c, h, table, off);
	if (e) {
		atomic_fetch_add_explicit(&e->b.refs, 1, memory_order_relaxed);
		lru_unlink(e);
		lru_push(c, e);
		c->hits++;
	} else {
		c->misses++;
	}
	pthread_mutex_unlock(&c->mu);
	return e ? &e->b : NULL;
}

/* With c == NULL the block is standalone: never cached, freed at its last
 * unref (sst.c reads that way when a table has no cache). */
struct lsm_block *lsm_cache_insert(struct lsm_cache *c, uint64_t table,
				   uint64_t off, uint8_t *data, size_t size)
{
	struct cache_entry *e, **pp, *victims = NULL;

	if (!(e = calloc(1, sizeof(*e)))) {
		free(data);
		LSM_ERR(LSM_ENOMEM, "out of memory");
		return NULL;
	}
	e->b.data = data;
	e->b.size = size;
	e->table = table;
	e->off = off;
	e->hash = cache_hash(table, off);
	atomic_init(&e->b.refs, c ? 2 : 1);
	if (!c)
		return &e->b;
	pthread_mutex_lock(&c->mu);
	if (*(pp = cache_find(c, e->hash, table, off)))
		cache_remove(c, *pp, &victims);
	if (c->count >= c->nbuckets)
		cache_grow(c);
	pp = cache_find(c, e->hash, table, off);
	*pp = e;
	lru_push(c, e);
	e->in_cache = true;
	c->usage += size;
	c->count++;
	while (c->usage > c->capacity && c->lru.prev != &c->lru)
		cache_remove(c, c->lru.prev, &victims);
	pthread_mutex_unlock(&c->mu);
	cache_release(victims);
	return &e->b;
}

/* This thread's slot of the noted counters. */
static unsigned note_slot(void)
{
	static atomic_uint next;
	static _Thread_local unsigned slot;

	if (!slot)
		slot = 1 + atomic_fetch_add_explicit(&next, 1,
						     memory_order_relaxed) %
				   CACHE_NOTE_SLOTS;
	return slot - 1;
}

void lsm_cache_note(struct lsm_cache *c, bool hit)
{
	struct cache_noted *n;

	if (!c)
		return;
	n = &c->noted[note_slot()];
	atomic_fetch_add_explicit(hit ? &n->hits : &n->misses, 1,
				  memory_order_relaxed);
}

void lsm_cache_counts(struct lsm_cache *c, uint64_t *hits, uint64_t *misses)
{
	uint64_t h = 0, m = 0;

	for (int i = 0; i < CACHE_NOTE_SLOTS; i++) {
		h += atomic_load(&c->noted[i].hits);
		m += atomic_load(&c->noted[i].misses);
	}
	pthread_mutex_lock(&c->mu);
	if (hits)
		*hits = c->hits + h;
	if (misses)
		*misses = c->misses + m;
	pthread_mutex_unlock(&c->mu);
}

/* Drops the cache's references; blocks that readers still hold live on
 * until their unref. */
void lsm_cache_destroy(struct lsm_cache *c)
{
	struct cache_entry *victims = NULL;

	if (!c)
		return;
	while (c->lru.next != &c->lru)
		cache_remove(c, c->lru.next, &victims);
	cache_release(victims);
	pthread_mutex_destroy(&c->mu);
	free(c->buckets);
	free(c);
}

/* ---- the table cache ---------------------------------------------------- */

/* An open table in the cache; holds one reference on t.  Fields guarded
 * by the owning lsm_tcache's mu. */
struct tc_entry {
	uint64_t num;
	lsm_sst *t;
	struct tc_entry *hnext;
	struct tc_entry *prev, *next; /* LRU, most recent first */
};

/* Lock: mu guards the hash table, list and count.  lsm_sst_open and the
 * final lsm_sst_unref (file I/O) run without it; two threads missing on
 * the same table may both open it, and the loser drops its copy. */
struct lsm_tcache {
	lsm_env *env;               /* borrowed */
	char *dir;                  /* owned */
	int max_open;
	struct lsm_cache *blocks;   /* borrowed, may be NULL */
	int bloom_bits_per_key;     /* tables carry their own filter k */
	pthread_mutex_t mu;
	struct tc_entry **buckets;  /* nbuckets, a power of two */
	size_t nbuckets;
	int count;
	struct tc_entry lru;        /* sentinel */
};

int lsm_tcache_create(lsm_env *env, const char *dir, int max_open,
		      struct lsm_cache *blocks, int bloom_bits_per_key,
		      struct lsm_tcache **out)
{
	struct lsm_tcache *tc = NULL;
	size_t n = 16;
	int rc = LSM_OK;

	*out = NULL;
	if (max_open < 1)
		max_open = 1;
	while ((int)n < max_open && n < (1u << 20))
		n *= 2;
	if (!(tc = calloc(1, sizeof(*tc))) || !(tc->dir = strdup(dir)) ||
	    !(tc->buckets = calloc(n, sizeof(*tc->buckets)))) {
		rc = LSM_ERR(LSM_ENOMEM, "out of memory");
		goto out;
	}
	tc->env = env;
	tc->max_open = max_open;
	tc->blocks = blocks;
	tc->bloom_bits_per_key = bloom_bits_per_key;
	tc->nbuckets = n;
	tc->lru.next = tc->lru.prev = &tc->lru;
	pthread_mutex_init(&tc->mu, NULL);
	*out = tc;
	tc = NULL;
out:
	if (tc) {
		free(tc->dir);
		free(tc->buckets);
	}
	free(tc);
	return rc;
}

static void tc_release(struct tc_entry *victims)
{
	while (victims) {
		struct tc_entry *e = victims;
		victims = e->hnext;
		lsm_sst_unref(e->t);
		free(e);
	}
}

/* tc->mu held. */
static struct tc_entry **tc_find(struct lsm_tcache *tc, uint64_t num)
{
	struct tc_entry **pp =
		&tc->buckets[mix64(num) & (tc->nbuckets - 1)];

	while (*pp && (*pp)->num != num)
		pp = &(*pp)->hnext;
	return pp;
}

/* Unlinks *pp onto *victims.  tc->mu held. */
static void tc_remove(struct lsm_tcache *tc, struct tc_entry **pp,
		      struct tc_entry **victims)
{
	struct tc_entry *e = *pp;

	*pp = e->hnext;
	e->prev->next = e->next;
	e->next->prev = e->prev;
	tc->count--;
	e->hnext = *victims;
	*victims = e;
}

static void tc_push(struct lsm_tcache *tc, struct tc_entry *e)
{
	e->next = tc->lru.next;
	e->prev = &tc->lru;
	e->next->prev = e;
	tc->lru.next = e;
}

/* A hit: a new reference on the cached table, or NULL.  tc->mu held. */
static lsm_sst *tc_hit(struct lsm_tcache *tc, uint64_t num)
{
	struct tc_entry *e = *tc_find(tc, num);

	if (!e)
		return NULL;
	e->prev->next = e->next;
	e->next->prev = e->prev;
	tc_push(tc, e);
	lsm_sst_ref(e->t);
	return e->t;
}

int lsm_tcache_get(struct lsm_tcache *tc, uint64_t num, uint64_t file_size,
		   lsm_sst **out)
{
	char path[LSM_PATH_MAX];
	struct tc_entry *e = NULL, *victims = NULL;
	lsm_sst *t = NULL, *found;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&tc->mu);
	found = tc_hit(tc, num);
	pthread_mutex_unlock(&tc->mu);
	if (found) {
		*out = found;
		return LSM_OK;
	}
	lsm_file_path(path, tc->dir, num, "sst");
	if ((rc = lsm_sst_open(tc->env, path, num, file_size, tc->blocks,
			       &t)))
		return rc;
	if (!(e = calloc(1, sizeof(*e)))) {
		lsm_sst_unref(t);
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&tc->mu);
	if ((found = tc_hit(tc, num))) {
		/* Another thread opened it meanwhile: keep theirs. */
		e->t = t;
		e->hnext = victims;
		victims = e;
	} else {
		e->num = num;
		e->t = t;
		lsm_sst_ref(t); /* the cache's reference */
		*tc_find(tc, num) = e;
		tc_push(tc, e);
		tc->count++;
		while (tc->count > tc->max_open)
			tc_remove(tc, tc_find(tc, tc->lru.prev->num),
				  &victims);
		found = t;
	}
	pthread_mutex_unlock(&tc->mu);
	tc_release(victims);
	*out = found;
	return LSM_OK;
}

void lsm_tcache_evict(struct lsm_tcache *tc, uint64_t num)
{
	struct tc_entry **pp, *victims = NULL;

	pthread_mutex_lock(&tc->mu);
	if (*(pp = tc_find(tc, num)))
		tc_remove(tc, pp, &victims);
	pthread_mutex_unlock(&tc->mu);
	tc_release(victims);
}

void lsm_tcache_destroy(struct lsm_tcache *tc)
{
	struct tc_entry *victims = NULL;

	if (!tc)
		return;
	while (tc->lru.next != &tc->lru)
		tc_remove(tc, tc_find(tc, tc->lru.next->num), &victims);
	tc_release(victims);
	pthread_mutex_destroy(&tc->mu);
	free(tc->buckets);
	free(tc->dir);
	free(tc);
}
