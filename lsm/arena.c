/*
 * arena.c — the memtable's allocator.  Memory comes in blocks of
 * LSM_ARENA_BLOCK bytes (or one block of its own for an allocation larger
 * than a quarter block, so that big values do not waste the rest of a
 * block); allocation bumps a pointer; lsm_arena_free returns every block
 * in one step after the memtable's flush.
 */
#include <stdlib.h>

#include "lsm_int.h"

struct lsm_arena_block {
	struct lsm_arena_block *next;
	size_t size;
	max_align_t data[]; /* aligned start of the block's bytes */
};

void lsm_arena_init(struct lsm_arena *a)
{
	memset(a, 0, sizeof(*a));
}

static struct lsm_arena_block *arena_block_new(struct lsm_arena *a, size_t n)
{
	struct lsm_arena_block *b = malloc(sizeof(*b) + n);

	if (!b)
		return NULL;
	b->size = n;
	a->usage += n + sizeof(*b);
	return b;
}

void *lsm_arena_alloc(struct lsm_arena *a, size_t n)
{
	struct lsm_arena_block *b;
	size_t pad = (8 - ((uintptr_t)a->ptr & 7)) & 7;
	void *p;

	if (n == 0)
		n = 1;
	if (a->ptr && n + pad <= a->left) {
		p = a->ptr + pad;
		a->ptr += n + pad;
		a->left -= n + pad;
		return p;
	}
	if (n > LSM_ARENA_BLOCK / 4) {
		/* A block of its own, linked behind the current one so that
		 * the current block's free space stays in use. */
		if (!(b = arena_block_new(a, n)))
			return NULL;
		if (a->blocks) {
			b->next = a->blocks->next;
			a->blocks->next = b;
		} else {
			b->next = NULL;
			a->blocks = b;
		}
		return b->data;
	}
	if (!(b = arena_block_new(a, LSM_ARENA_BLOCK)))
		return NULL;
	b->next = a->blocks;
	a->blocks = b;
	a->ptr = (uint8_t *)b->data + n;
	a->left = LSM_ARENA_BLOCK - n;
	return b->data;
}

void lsm_arena_free(struct lsm_arena *a)
{
	struct lsm_arena_block *b = a->blocks, *next;

	for (; b; b = next) {
		next = b->next;
		free(b);
	}
	lsm_arena_init(a);
}
