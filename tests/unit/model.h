/*
 * model.h — what the whole-store tests (test_db.c, test_crash.c) compare
 * the store against, and the small helpers they share.
 *
 * The model is a sorted array of (key, value) pairs, ordered as the store
 * orders user keys (memcmp, shorter first on a tie).  It is deliberately
 * simple: binary search plus memmove, so that its correctness is obvious
 * and any difference from the store is the store's bug.  Every function
 * is static inline so that a test that does not use one gets no warning.
 *
 * Nothing here uses cmocka: checks return 0 or -1 and write a one-line
 * description of the first difference into a caller's buffer, so that
 * they can also run on threads (cmocka's asserts must stay on the main
 * thread).  Allocation failure aborts: these are tests.
 */
#ifndef TEST_MODEL_H
#define TEST_MODEL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsm.h"

/* ---- allocation that cannot fail ------------------------------------- */
static inline void *model_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "model: out of memory\n");
		abort();
	}
	return p;
}

static inline void *model_xdup(const void *p, size_t n)
{
	void *q = model_xmalloc(n);

	if (n)
		memcpy(q, p, n);
	return q;
}

/* ---- the model --------------------------------------------------------- */
struct model_ent {
	uint8_t *key; /* owned */
	size_t klen;
	uint8_t *val; /* owned (never NULL, even when vlen is 0) */
	size_t vlen;
};

struct model {
	struct model_ent *e; /* sorted by key, owned */
	size_t n, cap;
};

static inline int model_kcmp(const void *a, size_t alen, const void *b,
			     size_t blen)
{
	size_t m = alen < blen ? alen : blen;
	int c = m ? memcmp(a, b, m) : 0;

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Index of the first entry whose key is >= key (m->n if none). */
static inline size_t model_lower(const struct model *m, const void *key,
				 size_t klen)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (model_kcmp(m->e[mid].key, m->e[mid].klen, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The entry for key (borrowed until the next change), or NULL. */
static inline struct model_ent *model_find(const struct model *m,
					   const void *key, size_t klen)
{
	size_t i = model_lower(m, key, klen);

	if (i < m->n && !model_kcmp(m->e[i].key, m->e[i].klen, key, klen))
		return &m->e[i];
	return NULL;
}

static inline void model_put(struct model *m, const void *key, size_t klen,
			     const void *val, size_t vlen)
{
	size_t i = model_lower(m, key, klen);

	if (i < m->n && !model_kcmp(m->e[i].key, m->e[i].klen, key, klen)) {
		free(m->e[i].val);
		m->e[i].val = model_xdup(val, vlen);
		m->e[i].vlen = vlen;
		return;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->e = realloc(m->e, m->cap * sizeof(*m->e));
		if (!m->e)
			abort();
	}
	memmove(&m->e[i + 1], &m->e[i], (m->n - i) * sizeof(*m->e));
	m->e[i].key = model_xdup(key, klen);
	m->e[i].klen = klen;
	m->e[i].val = model_xdup(val, vlen);
	m->e[i].vlen = vlen;
	m->n++;
}

static inline void model_del(struct model *m, const void *key, size_t klen)
{
	size_t i = model_lower(m, key, klen);

	if (i < m->n && !model_kcmp(m->e[i].key, m->e[i].klen, key, klen)) {
		free(m->e[i].key);
		free(m->e[i].val);
		memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof(*m->e));
		m->n--;
	}
}

static inline void model_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->e[i].key);
		free(m->e[i].val);
	}
	free(m->e);
	memset(m, 0, sizeof(*m));
}

/* dst (empty or not) becomes a deep copy of src. */
static inline void model_clone(struct model *dst, const struct model *src)
{
	model_free(dst);
	dst->cap = src->n ? src->n : 1;
	dst->e = model_xmalloc(dst->cap * sizeof(*dst->e));
	for (size_t i = 0; i < src->n; i++) {
		dst->e[i].key = model_xdup(src->e[i].key, src->e[i].klen);
		dst->e[i].klen = src->e[i].klen;
		dst->e[i].val = model_xdup(src->e[i].val, src->e[i].vlen);
		dst->e[i].vlen = src->e[i].vlen;
	}
	dst->n = src->n;
}

/* ---- messages ---------------------------------------------------------- */
/* A printable rendering of a key or value (first 48 bytes) for messages;
 * returns buf. */
static inline const char *model_show(char *buf, size_t len, const void *p,
				     size_t n)
{
	const uint8_t *s = p;
	size_t o = 0;

	for (size_t i = 0; i < n && i < 48 && o + 5 < len; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
			buf[o++] = (char)s[i];
		else
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", s[i]);
	}
	if (n > 48 && o + 4 < len)
		o += (size_t)snprintf(buf + o, len - o, "...");
	buf[o < len ? o : len - 1] = 0;
	return buf;
}

static inline void model_why(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void model_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* Compares two models; 0 if equal, else -1 and the first difference. */
static inline int model_diff(const struct model *want, const struct model *got,
			     char *why, size_t len)
{
	char a[256], b[256], c2[256];
	size_t i = 0, j = 0;

	while (i < want->n || j < got->n) {
		int c;
		if (i == want->n)
			c = 1;
		else if (j == got->n)
			c = -1;
		else
			c = model_kcmp(want->e[i].key, want->e[i].klen,
				       got->e[j].key, got->e[j].klen);
		if (c < 0) {
			model_why(why, len, "key '%s' missing (want %zu keys, got %zu)",
				  model_show(a, sizeof(a), want->e[i].key, want->e[i].klen),
				  want->n, got->n);
			return -1;
		}
		if (c > 0) {
			model_why(why, len, "key '%s' should not exist (want %zu keys, got %zu)",
				  model_show(a, sizeof(a), got->e[j].key, got->e[j].klen),
				  want->n, got->n);
			return -1;
		}
		if (want->e[i].vlen != got->e[j].vlen ||
		    (want->e[i].vlen && memcmp(want->e[i].val, got->e[j].val,
					      want->e[i].vlen))) {
			model_why(why, len, "key '%s': want value '%s' (%zu bytes), got '%s' (%zu bytes)",
				  model_show(a, sizeof(a), want->e[i].key, want->e[i].klen),
				  model_show(b, sizeof(b), want->e[i].val, want->e[i].vlen),
				  want->e[i].vlen,
				  model_show(c2, sizeof(c2), got->e[j].val,
					     got->e[j].vlen),
				  got->e[j].vlen);
			return -1;
		}
		i++;
		j++;
	}
	return 0;
}

/* Reads the whole store (as of snap, NULL: latest) into out (emptied
 * first) by a forward iteration, checking that keys strictly increase
 * and that the iterator ends with LSM_OK.  Returns 0, or -1 with why. */
static inline int model_load_db(lsm_db *db, const lsm_snapshot *snap,
				struct model *out, char *why, size_t len)
{
	lsm_iter *it = NULL;
	int rc;

	model_free(out);
	if ((rc = lsm_iter_open(db, snap, &it))) {
		model_why(why, len, "lsm_iter_open: %s", lsm_strerror(rc));
		return -1;
	}
	for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t klen, vlen;
		const void *k = lsm_iter_key(it, &klen);
		const void *v = lsm_iter_value(it, &vlen);
		const struct model_ent *last = out->n ? &out->e[out->n - 1] : NULL;
		if (last && model_kcmp(last->key, last->klen, k, klen) >= 0) {
			char a[256];
			model_why(why, len, "iteration not strictly increasing at '%s'",
				  model_show(a, sizeof(a), k, klen));
			lsm_iter_close(it);
			return -1;
		}
		/* Keys come in order, so model_put appends. */
		model_put(out, k, klen, v, vlen);
	}
	rc = lsm_iter_status(it);
	lsm_iter_close(it);
	if (rc) {
		model_why(why, len, "iterator status %s: %s", lsm_strerror(rc),
			  lsm_last_error());
		return -1;
	}
	return 0;
}

/* The store (as of snap) must hold exactly m: a full forward iteration
 * and a get of every key of m.  Returns 0, or -1 with why. */
static inline int model_check_db(lsm_db *db, const lsm_snapshot *snap,
				 const struct model *m, char *why, size_t len)
{
	struct model got = {0};
	char a[256];
	int r;

	if ((r = model_load_db(db, snap, &got, why, len)) == 0)
		r = model_diff(m, &got, why, len);
	model_free(&got);
	for (size_t i = 0; r == 0 && i < m->n; i++) {
		void *v = NULL;
		size_t vlen = 0;
		int rc = lsm_get(db, snap, m->e[i].key, m->e[i].klen, &v, &vlen);
		if (rc) {
			model_why(why, len, "get '%s': %s",
				  model_show(a, sizeof(a), m->e[i].key, m->e[i].klen),
				  lsm_strerror(rc));
			r = -1;
		} else if (vlen != m->e[i].vlen ||
			   (vlen && memcmp(v, m->e[i].val, vlen))) {
			model_why(why, len, "get '%s' returned a wrong value (%zu bytes, want %zu)",
				  model_show(a, sizeof(a), m->e[i].key, m->e[i].klen),
				  vlen, m->e[i].vlen);
			r = -1;
		}
		free(v);
	}
	return r;
}

/* ---- random numbers: xorshift64*, seeded from the environment ---------- */
struct model_rng {
	uint64_t s;
};

static inline void model_rng_seed(struct model_rng *r, uint64_t seed)
{
	/* splitmix64 so that nearby seeds give unrelated streams */
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	r->s = (z ^ (z >> 31)) | 1;
}

static inline uint64_t model_rand(struct model_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, n) (n > 0). */
static inline uint64_t model_below(struct model_rng *r, uint64_t n)
{
	return model_rand(r) % n;
}

/* env var name as an unsigned number, or def when unset or empty. */
static inline uint64_t model_env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);

	if (!s || !*s)
		return def;
	return strtoull(s, NULL, 0);
}

/* ---- temporary directories ---------------------------------------------- */
/* Creates a fresh directory /tmp/<tag>.XXXXXX into buf (>= 64 bytes). */
static inline void model_tmpdir(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "/tmp/%s.XXXXXX", tag);
	if (!mkdtemp(buf)) {
		perror("mkdtemp");
		abort();
	}
}

static inline int model_rm_one(const char *path, const struct stat *sb,
			       int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void model_rmrf(const char *dir)
{
	nftw(dir, model_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif /* TEST_MODEL_H */
