/*
 * db.c — the store itself: open and recovery, the write path with group
 * commit, reads, snapshots, the background thread that flushes memtables
 * and compacts tables, and close.
 *
 * Files in a store directory (numbers from one counter, see version.c):
 *   LOCK               flock'ed while a process has the store open
 *   CURRENT            names the live manifest
 *   MANIFEST-NNNNNN    the live tables and the oldest log still needed
 *   NNNNNN.log         write-ahead logs (wal.c, batch.c)
 *   NNNNNN.sst         sorted tables (sst.c)
 *
 * Threads and locks.  db->mu guards every field marked "mu" below: the
 * memtable pointers, the writer queue, the version set, the snapshot list,
 * the latched error and the counters.  The writer at the head of the queue
 * appends to the WAL and inserts into the memtable with mu released: only
 * the queue head touches db->wal and db->group, and the
 * memtable allows one writer beside lock-free readers.  Readers take
 * references (memtables, version) under mu and read without it.  The one
 * background thread talks to the rest only through mu, the condition
 * variables and bg_error; it writes tables with mu released.
 * Lock order: db->mu, then the caches' internal mutexes.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lsm_int.h"

struct writer {
	lsm_batch *batch; /* NULL: a sync or flush request */
	bool sync;
	bool reserve;     /* LSM_RESERVE: may use the reserved space */
	bool force;       /* switch the memtable (lsm_flush) */
	bool done;
	int rc;
	pthread_cond_t cv;
	struct writer *next;
};

struct lsm_snapshot {
	uint64_t seq;
	struct lsm_snapshot *prev, *next; /* db->snaps, oldest first */
};

struct manual {
	int level;
	bool has_start, has_end;
	struct lsm_buf start, end; /* user keys */
	bool done;
};

/* Deletions free space only when a compaction merges them with the data
 * they hide, in a deeper level.  Size scores alone may never bring that
 * merge: with partition_prefix_len, a table of deletions lands just above
 * the tables it hides (which compaction moves down without rewriting),
 * and a level of small tombstone tables stays far below its size limit
 * (RocksDB's answer: deletion-triggered compaction).  So a flushed table
 * made mostly of deletions marks its key range, and the background thread
 * compacts that range level by level down to the deepest level, as
 * lsm_compact_range does.  Ranges marked while one is pending are joined
 * to it.  Kept in memory only: a range lost by a close is compacted by
 * the size scores one day, as before. */
struct del_compact {
	bool active;
	int level;                 /* the next level to compact from */
	struct lsm_buf start, end; /* user keys, inclusive */
};

/* A flushed table marks its range when at least this many of its entries,
 * and at least half of them, are deletions. */
#define DEL_COMPACT_MIN 16

struct lsm_db {
	char *dir;
	struct lsm_options opt;
	lsm_env *env;
	lsm_file *lockf;
	struct lsm_cache *bcache;
	struct lsm_tcache *tcache; /* internally locked */

	pthread_mutex_t mu;
	pthread_cond_t bg_work;     /* wakes the background thread */
	pthread_cond_t bg_done;     /* a background job ended */
	struct lsm_vset *vs;        /* mu */
	lsm_memtable *mem;          /* mu (switched by the queue head) */
	lsm_memtable *imm;          /* mu */
	atomic_bool has_imm;        /* imm != NULL, read without mu by the
				       compaction loop to let a flush in */
	lsm_wal *wal;               /* queue head */
	uint64_t wal_num;           /* mu */
	bool wal_dirty;             /* queue head: appended since its sync */
	/* The log of db->imm, not synced at the switch (the writers do not
	 * wait for it): a sync of the current log syncs it first
	 * (sync_old_log), and the flush that retires it closes it unsynced,
	 * its writes being in a durable table by then.  Recovery replays a
	 * log only if its first sequence number follows the previous log's
	 * last one (replay_record): a power cut that kept a later log's
	 * writes but not all of an unsynced earlier one's ends the replay at
	 * the gap, so what survives is a prefix. */
	lsm_wal *old_wal;           /* mu */
	bool old_synced;            /* mu */
	bool old_busy;              /* mu: the queue head is syncing it */
	uint64_t imm_last_seq;      /* mu: newest sequence number in imm */
	uint64_t flushed_seq;       /* mu: newest sequence number in a table;
				       what manifests record as last_seq */
	struct writer *wq_head, *wq_tail; /* mu */
	struct lsm_batch group;     /* queue head: merged batches */
	uint64_t last_seq;          /* mu: newest sequence visible */
	struct lsm_snapshot snaps;  /* mu: list head (sentinel) */
	int bg_error;               /* mu: latched, fails later writes */
	/* A full disk is not latched: writes get LSM_ENOSPC while the free
	 * space is below reserve (checked every MiB of log, and at every
	 * write once low), and a background job that met ENOSPC is retried
	 * a second later. */
	uint64_t reserve;           /* const after open */
	bool nospc;                 /* mu: free space below reserve */
	bool bg_nospc;              /* mu: the last background job met ENOSPC */
	uint64_t bg_retry_us;       /* mu: when to retry it */
	uint64_t since_check;       /* mu: log bytes since the last statvfs */
	uint64_t mem_dels;          /* mu: deletions in db->mem */
	struct del_compact dc;      /* mu */
	/* A table whose allowed_seeks ran out (lsm_get), to be compacted
	 * into the next level when no level needs it by size.  Referenced. */
	struct lsm_fmeta *seek_f;   /* mu */
	int seek_level;             /* mu */
	bool obsolete;              /* mu: a reader released an old version */
	bool space_compact;         /* mu: compact everything to drop what
				       deletions freed (set by a flush on a
				       full disk) */
	bool closing;               /* mu */
	bool bg_busy;               /* mu: a job is running */
	struct manual *manual;      /* mu: pending manual compaction */
	uint64_t *pending;          /* mu: numbers of tables being written */
	int npending, cap_pending;
	struct lsm_stats st;        /* mu, except the atomics below */
	atomic_uint_fast64_t bloom_skips;
	pthread_t bg;
	bool bg_started;
};

static void *bg_main(void *arg);
static void bg_flush_deletions(lsm_db *db);

/* ====================================================================
 * Options and helpers
 */
void lsm_options_init(struct lsm_options *o)
{
	memset(o, 0, sizeof(*o));
	o->create_if_missing = 1;
	o->write_buffer_size = 4u << 20;
	o->block_size = 4096;
	o->block_cache_size = 8u << 20;
	o->max_open_tables = 500;
	o->bloom_bits_per_key = 10;
	o->target_file_size = 2u << 20;
	o->level1_max_bytes = 10u << 20;
	o->l0_compact_trigger = 4;
	o->l0_slowdown_trigger = 12;
	o->l0_stop_trigger = 20;
}

static int check_options(const struct lsm_options *o)
{
	if (o->write_buffer_size < 4096 || o->block_size < 256 ||
	    o->block_size > (1u << 24) || o->max_open_tables < 10 ||
	    o->bloom_bits_per_key < 0 || o->target_file_size < 4096 ||
	    o->level1_max_bytes < 4096 || o->l0_compact_trigger < 1 ||
	    o->l0_slowdown_trigger < o->l0_compact_trigger ||
	    o->l0_stop_trigger < o->l0_slowdown_trigger ||
	    o->partition_prefix_len < 0 ||
	    o->partition_prefix_len > LSM_MAX_KEY)
		return LSM_ERR(LSM_EINVAL, "invalid store options");
	return LSM_OK;
}

static int check_key(size_t klen)
{
	if (klen == 0 || klen > LSM_MAX_KEY)
		return LSM_ERR(LSM_EINVAL, "key length %zu out of range", klen);
	return LSM_OK;
}

static int pending_add(lsm_db *db, uint64_t num)
{
	if (db->npending == db->cap_pending) {
		int cap = db->cap_pending ? db->cap_pending * 2 : 8;
		uint64_t *p = realloc(db->pending, cap * sizeof(*p));
		if (!p)
			return LSM_ERR(LSM_ENOMEM, "out of memory");
		db->pending = p;
		db->cap_pending = cap;
	}
	db->pending[db->npending++] = num;
	return LSM_OK;
}

static void pending_remove(lsm_db *db, uint64_t num)
{
	for (int i = 0; i < db->npending; i++)
		if (db->pending[i] == num) {
			db->pending[i] = db->pending[--db->npending];
			return;
		}
}

/* Latches the first background or I/O error.  Requires db->mu. */
static void latch_error(lsm_db *db, int rc)
{
	if (rc && !db->bg_error) {
		db->bg_error = rc;
		fprintf(stderr, "lsm: store stopped: %s\n", lsm_last_error());
	}
	pthread_cond_broadcast(&db->bg_done);
}

static uint64_t oldest_snapshot(lsm_db *db)
{
	return db->snaps.next != &db->snaps ? db->snaps.next->seq : db->last_seq;
}

/* ====================================================================
 * Obsolete files
 */
struct live_set {
	uint64_t *nums;
	size_t n, cap;
	bool oom;
};

static void live_add(void *ctx, uint64_t num)
{
	struct live_set *s = ctx;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint64_t *p = realloc(s->nums, cap * sizeof(*p));
		if (!p) {
			s->oom = true;
			return;
		}
		s->nums = p;
		s->cap = cap;
	}
	s->nums[s->n++] = num;
}

static bool live_has(const struct live_set *s, uint64_t num)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->nums[i] == num)
			return true;
	return false;
}

/* Parses "NNNNNN.log", "NNNNNN.sst" or "MANIFEST-NNNNNN".  Returns the
 * type ('l', 's', 'm') or 0. */
static int parse_name(const char *name, uint64_t *num)
{
	char *end;
	const char *p = name;
	int type;

	if (!strncmp(name, "MANIFEST-", 9)) {
		p = name + 9;
		type = 'm';
	}
	if (*p < '0' || *p > '9')
		return 0;
	*num = strtoull(p, &end, 10);
	if (p == name) {
		if (!strcmp(end, ".log"))
			return 'l';
		if (!strcmp(end, ".sst"))
			return 's';
		return 0;
	}
	return *end ? 0 : type;
}

/* Removes files that no live version, pending output or needed log
 * uses.  Requires db->mu (the manifest that dropped them is durable). */
static void delete_obsolete(lsm_db *db)
{
	struct live_set live = {0};
	char **names = NULL;
	size_t n = 0;
	char path[LSM_PATH_MAX];
	uint64_t num, log_num = lsm_vset_log_num(db->vs);

	if (db->bg_error)
		return; /* the state on disk may be needed to recover */
	lsm_vset_live_files(db->vs, live_add, &live);
	for (int i = 0; i < db->npending; i++)
		live_add(&live, db->pending[i]);
	if (live.oom || db->env->list(db->env, db->dir, &names, &n))
		goto out;
	for (size_t i = 0; i < n; i++) {
		int type = parse_name(names[i], &num);
		bool keep = true;

		if (type == 'l')
			keep = num >= log_num || num == db->wal_num;
		else if (type == 's')
			keep = live_has(&live, num);
		else if (type == 'm')
			keep = num >= lsm_vset_manifest_num(db->vs);
		if (keep)
			continue;
		if (type == 's')
			lsm_tcache_evict(db->tcache, num);
		snprintf(path, sizeof(path), "%s/%s", db->dir, names[i]);
		db->env->remove(db->env, path);
	}
out:
	lsm_env_list_free(names, n);
	free(live.nums);
}

/* ====================================================================
 * Writing tables
 */
struct table_out {
	struct lsm_sst_builder *b;
	uint64_t num;
	struct lsm_buf smallest, largest;
};

static int table_open(lsm_db *db, struct table_out *t, uint64_t num)
{
	char path[LSM_PATH_MAX];
	struct lsm_sst_opts so = {
		.block_size = db->opt.block_size,
		.restart_interval = 16,
		.bloom_bits_per_key = db->opt.bloom_bits_per_key,
	};

	t->num = num;
	lsm_buf_clear(&t->smallest);
	lsm_buf_clear(&t->largest);
	lsm_file_path(path, db->dir, num, "sst");
	return lsm_sst_builder_create(db->env, path, &so, &t->b);
}

/* The largest key is the builder's last, taken at finish: no copy per
 * entry. */
static int table_add(struct table_out *t, const uint8_t *k, size_t klen,
		     const uint8_t *v, size_t vlen)
{
	int rc;

	if (!t->smallest.len && (rc = lsm_buf_set(&t->smallest, k, klen)))
		return rc;
	return lsm_sst_builder_add(t->b, k, klen, v, vlen);
}

/* Finishes t's table; *f is a new fmeta (NULL if the table was empty and
 * has been removed). */
static int table_finish(struct table_out *t, struct lsm_fmeta **f)
{
	uint64_t size = 0;
	int rc;

	const uint8_t *last;
	size_t llen;

	*f = NULL;
	if (!lsm_sst_builder_entries(t->b)) {
		lsm_sst_builder_abandon(t->b);
		t->b = NULL;
		return LSM_OK;
	}
	last = lsm_sst_builder_last(t->b, &llen);
	if ((rc = lsm_buf_set(&t->largest, last, llen))) {
		lsm_sst_builder_abandon(t->b);
		t->b = NULL;
		return rc;
	}
	rc = lsm_sst_builder_finish(t->b, &size);
	t->b = NULL;
	if (rc)
		return rc;
	*f = lsm_fmeta_new(t->num, size, t->smallest.data, t->smallest.len,
			   t->largest.data, t->largest.len);
	return *f ? LSM_OK : LSM_ERR(LSM_ENOMEM, "out of memory");
}

static void table_out_free(struct table_out *t)
{
	if (t->b)
		lsm_sst_builder_abandon(t->b);
	t->b = NULL;
	lsm_buf_free(&t->smallest);
	lsm_buf_free(&t->largest);
}

/* With opt.partition_prefix_len = n, whether user key ik (internal)
 * starts a new partition after the last key added to t: their first n
 * bytes (or whole keys, when shorter) differ.  A table never spans two
 * partitions (RocksDB's SstPartitioner). */
static bool partition_changes(const lsm_db *db, const struct table_out *t,
			      const uint8_t *ik, size_t iklen)
{
	size_t n = (size_t)db->opt.partition_prefix_len, a = 0, b;
	const uint8_t *last;

	if (!n || !t->b || !(last = lsm_sst_builder_last(t->b, &a)))
		return false;
	a -= LSM_TRAILER;
	b = iklen - LSM_TRAILER;
	a = a < n ? a : n;
	b = b < n ? b : n;
	return a != b || memcmp(last, ik, a) != 0;
}

/* The tables a flush writes: their numbers stay in db->pending until the
 * flush is done with them. */
struct flush_out {
	struct table_out t;
	uint64_t dels;  /* deletions in t */
	uint64_t *nums; /* owned */
	int n, cap;
};

/* Marks user keys [s, l] for compaction down from level (struct
 * del_compact), joined to the range already pending.  Requires db->mu. */
static int dc_mark(lsm_db *db, int level, const uint8_t *s, size_t slen,
		   const uint8_t *l, size_t llen)
{
	struct del_compact *d = &db->dc;
	int rc = LSM_OK;

	if (db->opt.no_background)
		return LSM_OK; /* compactions only on demand */
	if (!d->active || lsm_ukey_cmp(s, slen, d->start.data, d->start.len) < 0)
		rc = lsm_buf_set(&d->start, s, slen);
	if (!rc && (!d->active ||
		    lsm_ukey_cmp(l, llen, d->end.data, d->end.len) > 0))
		rc = lsm_buf_set(&d->end, l, llen);
	if (rc)
		return rc;
	if (!d->active || level < d->level)
		d->level = level;
	d->active = true;
	return LSM_OK;
}

/* Starts the flush's next table.  Takes db->mu when unlock is set (the
 * caller released it); recovery runs alone. */
static int flush_out_open(lsm_db *db, struct flush_out *o, bool unlock)
{
	uint64_t num;
	int rc = LSM_OK;

	if (o->n == o->cap) {
		int cap = o->cap ? 2 * o->cap : 4;
		uint64_t *p = realloc(o->nums, cap * sizeof(*p));
		if (!p)
			return LSM_ERR(LSM_ENOMEM, "out of memory");
		o->nums = p;
		o->cap = cap;
	}
	if (unlock)
		pthread_mutex_lock(&db->mu);
	o->dels = 0;
	num = lsm_vset_new_file_num(db->vs);
	if (!(rc = pending_add(db, num)))
		o->nums[o->n++] = num;
	if (unlock)
		pthread_mutex_unlock(&db->mu);
	return rc ? rc : table_open(db, &o->t, num);
}

/* Finishes the flush's current table and adds it to e, at the level
 * chosen against v (level 0 when v is NULL).  Locks as flush_out_open. */
static int flush_out_finish(lsm_db *db, struct flush_out *o,
			    struct lsm_version *v, struct lsm_edit *e,
			    bool unlock)
{
	struct lsm_fmeta *f = NULL;
	uint64_t entries = o->t.b ? lsm_sst_builder_entries(o->t.b) : 0;
	int rc = table_finish(&o->t, &f), level;

	if (rc || !f)
		return rc;
	if (unlock)
		pthread_mutex_lock(&db->mu);
	/* Recovery (v NULL) may write several tables in one edit: level 0
	 * is the one level where they may overlap.  The tables of one flush
	 * never overlap each other, so each may go down on its own. */
	level = !v ? 0 : lsm_version_pick_level(v, f->smallest.data,
					       f->smallest.len - LSM_TRAILER,
					       f->largest.data,
					       f->largest.len - LSM_TRAILER);
	db->st.flush_bytes += f->size;
	rc = lsm_edit_add(e, level, f);
	if (!rc && o->dels >= DEL_COMPACT_MIN && 2 * o->dels >= entries)
		rc = dc_mark(db, level, f->smallest.data,
			     f->smallest.len - LSM_TRAILER, f->largest.data,
			     f->largest.len - LSM_TRAILER);
	if (unlock)
		pthread_mutex_unlock(&db->mu);
	lsm_fmeta_unref(f);
	return rc;
}

/* Writes memtable m to new tables (one, or one per key partition) and
 * adds them to e.  Called with db->mu held; releases it while writing
 * unless this is recovery (no other thread yet). */
static int write_level0(lsm_db *db, lsm_memtable *m, struct lsm_version *v,
			struct lsm_edit *e, bool unlock)
{
	struct flush_out o = {0};
	struct lsm_iiter *it = NULL;
	int rc;

	if (unlock)
		pthread_mutex_unlock(&db->mu);
	if ((rc = lsm_mem_iter(m, &it)) || (rc = flush_out_open(db, &o, unlock)))
		goto out;
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it)) {
		size_t klen, vlen;
		const uint8_t *k = it->ops->key(it, &klen);
		const uint8_t *val = it->ops->value(it, &vlen);

		if (partition_changes(db, &o.t, k, klen) &&
		    ((rc = flush_out_finish(db, &o, v, e, unlock)) ||
		     (rc = flush_out_open(db, &o, unlock))))
			goto out;
		if ((rc = table_add(&o.t, k, klen, val, vlen)))
			goto out;
		o.dels += lsm_ikey_kind(k, klen) == LSM_KIND_DEL;
	}
	if ((rc = it->ops->status(it)))
		goto out;
	rc = flush_out_finish(db, &o, v, e, unlock);
out:
	if (it)
		it->ops->destroy(it);
	table_out_free(&o.t);
	if (unlock)
		pthread_mutex_lock(&db->mu);
	for (int i = 0; i < o.n; i++)
		pending_remove(db, o.nums[i]);
	free(o.nums);
	return rc;
}

/* Closes the old log once its memtable's flush is in the manifest (no
 * sync: the table holds its writes), unless the queue head is syncing it
 * (then the head closes it, sync_old_log).  Requires db->mu. */
static void old_log_retire(lsm_db *db)
{
	if (!db->old_wal || db->old_busy)
		return;
	lsm_wal_close(db->old_wal); /* removed as obsolete */
	db->old_wal = NULL;
}

/* Flushes db->imm.  Requires db->mu (released while writing). */
static int flush_imm(lsm_db *db)
{
	struct lsm_version *v = lsm_vset_current(db->vs);
	struct lsm_edit e;
	int rc;

	lsm_edit_init(&e);
	lsm_version_ref(v);
	rc = write_level0(db, db->imm, v, &e, true);
	lsm_version_unref(v);
	if (rc)
		goto out;
	e.has_log_num = true;
	e.log_num = db->wal_num; /* logs before the current one are done */
	/* Not db->last_seq: the current log's first record must follow the
	 * manifest's last_seq (the gap check of replay_record). */
	lsm_vset_set_last_seq(db->vs, db->imm_last_seq);
	if ((rc = lsm_vset_apply(db->vs, &e)))
		goto out;
	db->flushed_seq = db->imm_last_seq;
	old_log_retire(db);
	lsm_mem_unref(db->imm);
	db->imm = NULL;
	atomic_store_explicit(&db->has_imm, false, memory_order_relaxed);
	db->st.flushes++;
	if (db->nospc && !db->opt.no_background)
		db->space_compact = true;
	delete_obsolete(db);
	bg_flush_deletions(db);
out:
	if (rc == LSM_ENOSPC)
		delete_obsolete(db); /* the table that did not fit */
	lsm_edit_free(&e);
	return rc;
}

/* ====================================================================
 * Compaction
 */
struct cstate {
	lsm_db *db;
	struct lsm_compaction *c;
	struct table_out t;
	struct lsm_edit *e;
	uint64_t smallest_snapshot;
	struct lsm_buf cur_ukey;
	bool has_cur;
	uint64_t last_seq_for_key;
	uint64_t *outputs; /* numbers of the tables written (in db->pending) */
	int noutputs;
};

/* Requires db->mu NOT held. */
static int cstate_finish_output(struct cstate *s)
{
	struct lsm_fmeta *f = NULL;
	lsm_db *db = s->db;
	int rc = table_finish(&s->t, &f);

	/* The output stays in db->pending until the edit is installed, so
	 * that a flush meanwhile does not take it for an obsolete file. */
	pthread_mutex_lock(&db->mu);
	if (!rc && f) {
		db->st.compact_bytes_written += f->size;
		/* The edit's reference keeps the file from deletion. */
		rc = lsm_edit_add(s->e, s->c->level + 1, f);
		lsm_fmeta_unref(f);
	}
	pthread_mutex_unlock(&db->mu);
	return rc;
}

static int cstate_open_output(struct cstate *s)
{
	lsm_db *db = s->db;
	uint64_t num;
	int rc;

	uint64_t *p = realloc(s->outputs, (s->noutputs + 1) * sizeof(*p));

	if (!p)
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	s->outputs = p;
	pthread_mutex_lock(&db->mu);
	num = lsm_vset_new_file_num(db->vs);
	rc = pending_add(db, num);
	pthread_mutex_unlock(&db->mu);
	if (rc)
		return rc;
	s->outputs[s->noutputs++] = num;
	return table_open(db, &s->t, num);
}

/* Whether the entry ik should be dropped: hidden by a newer version that
 * every snapshot sees, or a tombstone nobody needs. */
static bool cstate_drop(struct cstate *s, const uint8_t *ik, size_t iklen)
{
	size_t ulen = iklen - LSM_TRAILER;
	uint64_t seq = lsm_ikey_seq(ik, iklen);
	bool drop = false;

	if (!s->has_cur ||
	    lsm_ukey_cmp(ik, ulen, s->cur_ukey.data, s->cur_ukey.len)) {
		if (s->cur_ukey.data && ulen <= s->cur_ukey.cap) {
			/* Most keys: no calls. */
			memcpy(s->cur_ukey.data, ik, ulen);
			s->cur_ukey.len = ulen;
		} else if (lsm_buf_set(&s->cur_ukey, ik, ulen)) {
			return false; /* keeping an entry is always safe */
		}
		s->has_cur = true;
		s->last_seq_for_key = UINT64_MAX;
	}
	if (s->last_seq_for_key <= s->smallest_snapshot)
		drop = true;
	else if (lsm_ikey_kind(ik, iklen) == LSM_KIND_DEL &&
		 seq <= s->smallest_snapshot &&
		 lsm_compaction_is_base_level(s->c, ik, ulen))
		drop = true;
	s->last_seq_for_key = seq;
	return drop;
}

/* Lets a waiting memtable flush go first.  Requires db->mu NOT held.
 * Called for every entry merged: only a waiting memtable takes the
 * mutex, which the writers take for every write. */
static int flush_if_needed(lsm_db *db)
{
	int rc = LSM_OK;

	if (!atomic_load_explicit(&db->has_imm, memory_order_relaxed))
		return LSM_OK;
	pthread_mutex_lock(&db->mu);
	if (db->imm && !db->bg_error) {
		rc = flush_imm(db);
		pthread_cond_broadcast(&db->bg_done);
	}
	pthread_mutex_unlock(&db->mu);
	return rc;
}

/* Merges the compaction's inputs into new tables.  Requires db->mu NOT
 * held. */
static int compact_merge(struct cstate *s)
{
	struct lsm_iiter *it = NULL;
	int rc;

	if ((rc = lsm_compaction_iter(s->c, s->db->tcache, &it)))
		return rc;
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it)) {
		size_t klen, vlen;
		const uint8_t *k = it->ops->key(it, &klen);
		const uint8_t *v;

		if ((rc = flush_if_needed(s->db)))
			goto out;
		if (s->t.b && lsm_compaction_should_stop_before(s->c, k, klen) &&
		    (rc = cstate_finish_output(s)))
			goto out;
		if (cstate_drop(s, k, klen))
			continue;
		if (partition_changes(s->db, &s->t, k, klen) &&
		    (rc = cstate_finish_output(s)))
			goto out;
		if (!s->t.b && (rc = cstate_open_output(s)))
			goto out;
		v = it->ops->value(it, &vlen);
		if ((rc = table_add(&s->t, k, klen, v, vlen)))
			goto out;
		if (lsm_sst_builder_size(s->t.b) >= s->c->max_output_size &&
		    (rc = cstate_finish_output(s)))
			goto out;
	}
	rc = it->ops->status(it);
	if (!rc && s->t.b)
		rc = cstate_finish_output(s);
out:
	it->ops->destroy(it);
	return rc;
}

static uint64_t inputs_size(struct lsm_compaction *c)
{
	uint64_t n = 0;

	for (int w = 0; w < 2; w++)
		for (int i = 0; i < c->ninputs[w]; i++)
			n += c->inputs[w][i]->size;
	return n;
}

/* Runs compaction c.  Requires db->mu (released while merging). */
static int run_compaction(lsm_db *db, struct lsm_compaction *c)
{
	struct cstate s = {.db = db, .c = c};
	struct lsm_edit e;
	int rc;

	lsm_edit_init(&e);
	s.e = &e;
	if ((rc = lsm_compaction_edit(c, &e)))
		goto out;
	if (lsm_compaction_is_trivial(c)) {
		rc = lsm_edit_add(&e, c->level + 1, c->inputs[0][0]);
	} else {
		s.smallest_snapshot = oldest_snapshot(db);
		pthread_mutex_unlock(&db->mu);
		rc = compact_merge(&s);
		table_out_free(&s.t);
		lsm_buf_free(&s.cur_ukey);
		pthread_mutex_lock(&db->mu);
		db->st.compact_bytes_read += inputs_size(c);
	}
	if (rc)
		goto out;
	lsm_vset_set_last_seq(db->vs, db->flushed_seq);
	if ((rc = lsm_vset_apply(db->vs, &e)))
		goto out;
	db->st.compactions++;
out:
	for (uint64_t *p = s.outputs; p < s.outputs + s.noutputs; p++)
		pending_remove(db, *p);
	free(s.outputs);
	lsm_edit_free(&e);
	return rc;
}

/* ====================================================================
 * The background thread
 */
static bool needs_compaction(lsm_db *db)
{
	return !db->opt.no_background &&
	       lsm_vset_current(db->vs)->compact_score >= 1.0;
}

/* With opt.no_background the thread runs only what a caller asked for:
 * flushes happen in the writer (switch_memtable), and compactions only
 * through lsm_compact_range. */
static bool has_work(lsm_db *db)
{
	return (db->imm && !db->opt.no_background) || db->manual ||
	       db->space_compact || db->dc.active || db->obsolete ||
	       db->seek_f || needs_compaction(db);
}

/* The deepest level holding tables.  Requires db->mu. */
static int deepest_level_locked(lsm_db *db)
{
	struct lsm_version *v = lsm_vset_current(db->vs);
	int deepest = 0;

	for (int l = 1; l < LSM_MAX_LEVELS; l++)
		if (v->nfiles[l])
			deepest = l;
	return deepest;
}

/* Whether the current version holds f at level.  Requires db->mu. */
static bool version_holds(lsm_db *db, const struct lsm_fmeta *f, int level)
{
	struct lsm_version *v = lsm_vset_current(db->vs);

	for (int i = 0; i < v->nfiles[level]; i++)
		if (v->files[level][i] == f)
			return true;
	return false;
}

/* The compaction of the table whose seeks ran out (db->seek_f) with what
 * it overlaps one level down, if the table is still there; NULL
 * otherwise.  Requires db->mu. */
static struct lsm_compaction *seek_compaction(lsm_db *db)
{
	struct lsm_fmeta *f = db->seek_f;
	struct lsm_compaction *c = NULL;

	if (!f)
		return NULL;
	db->seek_f = NULL;
	if (version_holds(db, f, db->seek_level))
		c = lsm_vset_compact_range(db->vs, db->seek_level,
					   f->smallest.data,
					   f->smallest.len - LSM_TRAILER,
					   f->largest.data,
					   f->largest.len - LSM_TRAILER);
	lsm_fmeta_unref(f);
	return c;
}

/* Charges ch's table a seek; when its allowed seeks run out and no other
 * table waits, makes it the next seek compaction (seek_compaction).
 * Takes db->mu only then. */
static void seek_charge(lsm_db *db, const struct lsm_seek_charge *ch)
{
	if (!ch->f || db->opt.no_background ||
	    atomic_fetch_sub(&ch->f->allowed_seeks, 1) != 1)
		return;
	pthread_mutex_lock(&db->mu);
	if (!db->seek_f && !db->closing) {
		lsm_fmeta_ref(ch->f);
		db->seek_f = ch->f;
		db->seek_level = ch->level;
		pthread_cond_signal(&db->bg_work);
	}
	pthread_mutex_unlock(&db->mu);
}

/* The next step of the pending deletion compaction (struct del_compact):
 * the range's tables at d->level with those they overlap one level down;
 * NULL (and the range done) once it reached the deepest level.  Requires
 * db->mu. */
static struct lsm_compaction *del_compaction(lsm_db *db)
{
	struct del_compact *d = &db->dc;
	struct lsm_compaction *c;

	while (d->active && d->level < deepest_level_locked(db)) {
		c = lsm_vset_compact_range(db->vs, d->level, d->start.data,
					   d->start.len, d->end.data,
					   d->end.len);
		if (c)
			return c;
		d->level++;
	}
	d->active = false;
	return NULL;
}

/* On a full disk, space comes back only when compaction drops deleted
 * data: push everything down to the deepest level, one level at a time.
 * Returns the next step, or NULL when the data sits in one level.
 * Requires db->mu. */
static struct lsm_compaction *space_compaction(lsm_db *db)
{
	struct lsm_version *v = lsm_vset_current(db->vs);
	int deepest = 0;

	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		if (v->nfiles[l])
			deepest = l;
	for (int l = 0; l < deepest; l++)
		if (v->nfiles[l])
			return lsm_vset_compact_range(db->vs, l, NULL, 0, NULL, 0);
	return NULL;
}

/* The compaction to run next, or NULL.  Requires db->mu. */
static struct lsm_compaction *bg_pick(lsm_db *db)
{
	struct manual *m = db->manual;
	struct lsm_compaction *c;

	/* On a full disk, the deletions' ranges first: they free space
	 * without rewriting the rest, which may not fit. */
	if (db->nospc && db->dc.active && (c = del_compaction(db)))
		return c;
	if (!m && db->space_compact) {
		if ((c = space_compaction(db)))
			return c;
		db->space_compact = false;
	}
	if (m) {
		c = lsm_vset_compact_range(db->vs, m->level,
					   m->has_start ? m->start.data : NULL,
					   m->start.len,
					   m->has_end ? m->end.data : NULL,
					   m->end.len);
		if (!c) {
			m->done = true;
			db->manual = NULL;
		}
		return c;
	}
	if ((c = lsm_vset_pick_compaction(db->vs)))
		return c;
	if ((c = seek_compaction(db)))
		return c;
	return del_compaction(db);
}

/* One job: a flush, the removal of obsolete files, or a compaction
 * (bg_pick).  Requires db->mu. */
static int bg_job(lsm_db *db)
{
	struct lsm_compaction *c;
	int rc;

	if (db->imm)
		return flush_imm(db);
	if (db->obsolete) {
		db->obsolete = false;
		delete_obsolete(db);
		return LSM_OK;
	}
	if (!(c = bg_pick(db)))
		return LSM_OK;
	rc = run_compaction(db, c);
	/* Only now: c's version names the inputs, and a compaction that
	 * is the last job (a full disk after a deletion) would otherwise
	 * leave them on the disk until the next job. */
	lsm_compaction_free(c);
	if (!rc || rc == LSM_ENOSPC) /* ENOSPC: drop the outputs written */
		delete_obsolete(db);
	return rc;
}

/* Waits on bg_work until the monotonic time us.  Requires db->mu. */
static void wait_until(lsm_db *db, uint64_t us)
{
	struct timespec ts;
	uint64_t left = us - lsm_now_us();

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += left / 1000000;
	ts.tv_nsec += (left % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&db->bg_work, &db->mu, &ts);
}

static void *bg_main(void *arg)
{
	lsm_db *db = arg;
	int rc;

	pthread_mutex_lock(&db->mu);
	for (;;) {
		while (!db->closing && (db->bg_error || !has_work(db)))
			pthread_cond_wait(&db->bg_work, &db->mu);
		if (db->closing)
			break;
		if (db->bg_nospc && lsm_now_us() < db->bg_retry_us) {
			wait_until(db, db->bg_retry_us);
			continue;
		}
		db->bg_busy = true;
		rc = bg_job(db);
		db->bg_busy = false;
		db->bg_nospc = rc == LSM_ENOSPC;
		if (rc == LSM_ENOSPC) {
			db->nospc = true;
			db->bg_retry_us = lsm_now_us() + 1000000;
			fprintf(stderr, "lsm: disk full, retrying in 1 s: %s\n",
				lsm_last_error());
		} else if (rc) {
			latch_error(db, rc);
			if (db->manual) {
				db->manual->done = true;
				db->manual = NULL;
			}
		}
		pthread_cond_broadcast(&db->bg_done);
	}
	pthread_mutex_unlock(&db->mu);
	return NULL;
}

/* ====================================================================
 * The write path
 */

/* Waits on bg_done, counting the stall.  Requires db->mu. */
static void stall(lsm_db *db)
{
	uint64_t t0 = lsm_now_us();

	db->st.stalls++;
	pthread_cond_signal(&db->bg_work);
	pthread_cond_wait(&db->bg_done, &db->mu);
	db->st.stall_us += lsm_now_us() - t0;
}

/* With opt.no_background the writer flushes the memtable itself.  A full
 * disk is not latched: the flush is tried again by the next write that
 * needs room.  Requires db->mu and the queue head. */
static int flush_inline(lsm_db *db)
{
	int rc = flush_imm(db);

	db->bg_nospc = rc == LSM_ENOSPC;
	if (rc == LSM_ENOSPC)
		db->nospc = true;
	else if (rc)
		latch_error(db, rc);
	return rc;
}

/* Starts a new memtable and log.  Requires db->mu and the queue head. */
static int switch_memtable(lsm_db *db)
{
	char path[LSM_PATH_MAX];
	lsm_memtable *m = NULL;
	lsm_wal *w = NULL, *old;
	uint64_t num = lsm_vset_new_file_num(db->vs);
	int rc;

	lsm_file_path(path, db->dir, num, "log");
	if ((rc = lsm_mem_create(&m)) || (rc = lsm_wal_create(db->env, path, &w)))
		goto undo;
	if ((rc = db->env->sync_dir(db->env, db->dir)))
		goto fail;
	old = db->wal;
	db->wal = w;
	db->wal_num = num;
	db->mem_dels = 0;
	/* No sync of the old log here (it was on every writer's path): it
	 * waits in db->old_wal for a sync or its flush (struct lsm_db). */
	assert(!db->old_wal);
	db->old_wal = old;
	db->old_synced = !db->wal_dirty;
	db->wal_dirty = false;
	db->imm_last_seq = db->last_seq;
	db->imm = db->mem;
	atomic_store_explicit(&db->has_imm, true, memory_order_relaxed);
	db->mem = m;
	pthread_cond_signal(&db->bg_work);
	return db->opt.no_background ? flush_inline(db) : LSM_OK;
fail:
	/* After a failed sync nothing says what reached the disk: stop. */
	latch_error(db, rc);
undo:
	/* A log or memtable that could not be made (ENOSPC, ENOMEM) leaves
	 * the store as it was: the write fails, the next may succeed. */
	if (w) {
		lsm_wal_close(w);
		db->env->remove(db->env, path);
	}
	if (m)
		lsm_mem_unref(m);
	return rc;
}

/* Makes room in the memtable for a write, as LevelDB's MakeRoomForWrite:
 * slows writes by 1 ms when level 0 fills, waits when it is full or when
 * the previous memtable is still being flushed.  Requires db->mu and the
 * queue head. */
static int make_room(lsm_db *db, bool force, bool reserve)
{
	bool allow_delay = !force;
	struct lsm_version *v;

	for (;;) {
		v = lsm_vset_current(db->vs);
		if (db->bg_error) {
			return LSM_ERR(LSM_EREADONLY,
				       "store stopped by an earlier error (%s)",
				       lsm_strerror(db->bg_error));
		} else if (allow_delay &&
			   v->nfiles[0] >= db->opt.l0_slowdown_trigger) {
			db->st.slowdowns++;
			pthread_cond_signal(&db->bg_work);
			pthread_mutex_unlock(&db->mu);
			usleep(1000);
			pthread_mutex_lock(&db->mu);
			allow_delay = false;
		} else if (!force &&
			   lsm_mem_usage(db->mem) < db->opt.write_buffer_size) {
			return LSM_OK;
		} else if (db->imm && db->opt.no_background) {
			int rc = flush_inline(db);
			if (rc)
				return rc;
		} else if ((db->imm || (v->nfiles[0] >= db->opt.l0_stop_trigger &&
					!db->opt.no_background)) &&
			   db->bg_nospc) {
			/* The flush or compaction that would make room cannot
			 * run on a full disk: a write that frees space may
			 * overfill the memtable, others fail. */
			if (reserve && lsm_mem_usage(db->mem) <
					       2 * db->opt.write_buffer_size)
				return LSM_OK;
			return LSM_ERR(LSM_ENOSPC, "%s: disk full (%s)",
				       db->dir, "flush is waiting for space");
		} else if (db->imm) {
			stall(db);
		} else if (v->nfiles[0] >= db->opt.l0_stop_trigger &&
			   !db->opt.no_background) {
			stall(db);
		} else {
			if (force && lsm_mem_count(db->mem) == 0)
				return LSM_OK;
			return switch_memtable(db);
		}
	}
}

/* On a full disk, deletions free nothing while they sit in the memtable,
 * which they alone would take long to fill: once a deletion arrives there
 * (and no earlier flush is pending), the memtable goes to a table, whose
 * flush on a full disk compacts the data down (space_compact, and the
 * deletion range: struct del_compact).  Runs after each write while the
 * disk is full, also after one refused for lack of space, so that the
 * deletions of the last unlink are flushed by the next attempt to write.
 * Requires db->mu and the queue head. */
static void flush_deletions(lsm_db *db)
{
	if (db->nospc && db->mem_dels && !db->imm && !db->bg_error)
		(void)switch_memtable(db); /* fails harmlessly or latches */
}

/* flush_deletions for the deletions that arrived while the previous flush
 * ran, when no writer comes after them (the last unlink of an rm): the
 * thread that ended a flush takes the empty writer queue's head for the
 * switch (flush_imm; with writers queued it is one of theirs to do).
 * Never with writers queued: one of them may wait for a compaction that
 * only this thread can run.  Requires db->mu. */
static void bg_flush_deletions(lsm_db *db)
{
	struct writer w = {.force = true};

	if (db->wq_head || !db->nospc || !db->mem_dels || db->imm)
		return;
	pthread_cond_init(&w.cv, NULL);
	db->wq_head = db->wq_tail = &w;
	flush_deletions(db);
	db->wq_head = w.next;
	if (!db->wq_head)
		db->wq_tail = NULL;
	else
		pthread_cond_signal(&db->wq_head->cv);
	pthread_cond_destroy(&w.cv);
}

/* Refuses a write that does not free space while the disk's free space
 * is below the reserve.  Requires db->mu and the queue head. */
static int space_check(lsm_db *db, bool reserve)
{
	uint64_t nfree;

	if (!db->nospc && db->since_check < (1u << 20))
		return LSM_OK;
	db->since_check = 0;
	if (!db->env->disk_free(db->env, db->dir, &nfree))
		db->nospc = nfree < db->reserve;
	if (db->nospc && !reserve)
		return LSM_ERR(LSM_ENOSPC,
			       "%s: disk full (%llu bytes kept free for compaction)",
			       db->dir, (unsigned long long)db->reserve);
	return LSM_OK;
}

/* Gathers the batches of the writers after the head into db->group.
 * Returns the last writer of the group.  Requires db->mu. */
static struct writer *build_group(lsm_db *db, lsm_batch **out)
{
	struct writer *first = db->wq_head, *last = first, *w;
	size_t size = first->batch ? first->batch->ops.len : 0;
	size_t max = size <= (128 << 10) ? size + (128 << 10) : 1 << 20;
	lsm_batch *result = first->batch;

	for (w = first->next; w && !db->nospc; w = w->next) {
		if (w->force || (w->sync && !first->sync))
			break;
		if (w->batch) {
			size += w->batch->ops.len;
			if (size > max)
				break;
			if (result == first->batch || !result) {
				lsm_batch_clear(&db->group);
				if (result && lsm_batch_append(&db->group, result))
					break;
				result = &db->group;
			}
			if (lsm_batch_append(result, w->batch))
				break;
		}
		last = w;
	}
	*out = result;
	return last;
}

struct mem_ins {
	lsm_memtable *m;
	uint64_t seq;
	uint64_t dels; /* deletions inserted */
};

static int mem_insert_op(void *ctx, int kind, const uint8_t *k, size_t klen,
			 const uint8_t *v, size_t vlen)
{
	struct mem_ins *mi = ctx;

	mi->dels += kind == LSM_KIND_DEL;
	return lsm_mem_add(mi->m, mi->seq++, kind, k, klen, v, vlen);
}

/* Syncs db->old_wal unless it is synced or retired, so that a sync of the
 * current log covers every earlier write; closes it if its flush retired
 * it meanwhile.  Requires db->mu (released while syncing) and the queue
 * head.  A failed sync is latched. */
static int sync_old_log(lsm_db *db)
{
	lsm_wal *old = db->old_wal;
	int rc;

	if (!old || db->old_synced)
		return LSM_OK;
	db->old_busy = true;
	pthread_mutex_unlock(&db->mu);
	rc = lsm_wal_sync(old);
	pthread_mutex_lock(&db->mu);
	db->old_busy = false;
	if (rc) {
		latch_error(db, rc);
		return rc;
	}
	db->old_synced = true;
	if (!db->imm) /* flushed while we synced */
		old_log_retire(db);
	return LSM_OK;
}

/* Appends b to the log and the memtable as the head.  Requires db->mu,
 * releases it during the I/O. */
static int commit_group(lsm_db *db, lsm_batch *b, bool sync, int nbatches)
{
	uint64_t seq = db->last_seq + 1;
	struct mem_ins mi = {db->mem, seq, 0};
	bool has_ops = b && b->count, appended = !has_ops;
	uint8_t head[LSM_WAL_HEAD_MAX];
	size_t hn = 0, frame_len = 0;
	int rc = LSM_OK;

	/* Nothing appended since the last sync (a second fsync, fsync of an
	 * unchanged file): the log is durable already. */
	bool wal_sync = sync && (has_ops || db->wal_dirty);

	if (sync && (rc = sync_old_log(db)))
		return rc;
	pthread_mutex_unlock(&db->mu);
	if (has_ops) {
		/* The frame is written from the ops in place (no copy). */
		if (!(rc = lsm_wal_encode_head(head, &hn, seq, b)))
			rc = lsm_wal_append2(db->wal, head, hn, b->ops.data,
					     b->ops.len);
		frame_len = hn + b->ops.len;
		appended = !rc;
	}
	if (!rc && wal_sync)
		rc = lsm_wal_sync(db->wal);
	if (!rc && has_ops)
		rc = lsm_batch_walk(b->ops.data, b->ops.len, mem_insert_op,
				    &mi);
	pthread_mutex_lock(&db->mu);
	if (rc == LSM_ENOSPC && !appended) {
		db->nospc = true; /* the log is intact (wal.c): not latched */
		return rc;
	}
	if (rc) {
		latch_error(db, rc);
		return rc;
	}
	db->wal_dirty = !sync && (db->wal_dirty || has_ops);
	if (has_ops) {
		db->since_check += frame_len;
		db->last_seq = seq + b->count - 1;
		db->mem_dels += mi.dels;
		db->st.wal_bytes += frame_len;
		db->st.wal_records++;
		db->st.user_bytes += b->user_bytes;
		db->st.writes += nbatches;
	}
	if (wal_sync)
		db->st.wal_syncs++;
	return LSM_OK;
}

/* Queues w and, as the head, commits it and the writers behind it. */
static int write_queued(lsm_db *db, struct writer *w)
{
	struct writer *last = w, *x;
	lsm_batch *b = NULL;
	bool sync;
	int rc;

	pthread_cond_init(&w->cv, NULL);
	pthread_mutex_lock(&db->mu);
	if (db->wq_tail)
		db->wq_tail->next = w;
	else
		db->wq_head = w;
	db->wq_tail = w;
	while (!w->done && w != db->wq_head)
		pthread_cond_wait(&w->cv, &db->mu);
	if (w->done) {
		rc = w->rc;
		goto out;
	}
	rc = space_check(db, w->reserve || w->force || !w->batch);
	if (!rc)
		rc = make_room(db, w->force, w->reserve);
	if (!rc && !w->force) {
		last = build_group(db, &b);
		int nbatches = 0;

		sync = db->opt.sync_writes;
		for (x = w;; x = x->next) {
			sync = sync || x->sync;
			nbatches += x->batch && x->batch->count;
			if (x == last)
				break;
		}
		rc = commit_group(db, b, sync, nbatches);
	}
	flush_deletions(db);
	for (;;) {
		x = db->wq_head;
		db->wq_head = x->next;
		if (x != w) {
			x->rc = rc;
			x->done = true;
			pthread_cond_signal(&x->cv);
		}
		if (x == last)
			break;
	}
	if (!db->wq_head)
		db->wq_tail = NULL;
	else
		pthread_cond_signal(&db->wq_head->cv);
out:
	pthread_mutex_unlock(&db->mu);
	pthread_cond_destroy(&w->cv);
	return rc;
}

int lsm_write(lsm_db *db, lsm_batch *b, int flags)
{
	struct writer w = {.batch = b, .sync = flags & LSM_SYNC,
			   .reserve = flags & LSM_RESERVE};

	if (!b)
		return LSM_ERR(LSM_EINVAL, "no batch");
	if (!b->count && !w.sync)
		return LSM_OK;
	return write_queued(db, &w);
}

int lsm_sync(lsm_db *db)
{
	struct writer w = {.sync = true};

	return write_queued(db, &w);
}

/* The single-operation writes use a batch of their own whose buffer is
 * on the stack when the operation fits, so a small put allocates
 * nothing. */
static int write_one(lsm_db *db, int kind, const void *key, size_t klen,
		     const void *val, size_t vlen, int flags)
{
	uint8_t stack[1024];
	struct lsm_batch b = {0};
	int rc;

	if ((rc = check_key(klen)))
		return rc;
	if (klen + vlen + 32 <= sizeof(stack)) {
		b.ops.data = stack;
		b.ops.cap = sizeof(stack);
	}
	rc = kind == LSM_KIND_VAL ? lsm_batch_put(&b, key, klen, val, vlen)
				  : lsm_batch_delete(&b, key, klen);
	if (!rc)
		rc = lsm_write(db, &b, flags);
	if (b.ops.data != stack)
		lsm_buf_free(&b.ops);
	return rc;
}

int lsm_put(lsm_db *db, const void *key, size_t klen, const void *val,
	    size_t vlen, int flags)
{
	if (vlen > LSM_MAX_VALUE)
		return LSM_ERR(LSM_EINVAL, "value of %zu bytes too large", vlen);
	return write_one(db, LSM_KIND_VAL, key, klen, val, vlen, flags);
}

int lsm_delete(lsm_db *db, const void *key, size_t klen, int flags)
{
	return write_one(db, LSM_KIND_DEL, key, klen, NULL, 0, flags);
}

/* ====================================================================
 * Reads
 */
struct read_refs {
	lsm_memtable *mem, *imm;
	struct lsm_version *v;
	uint64_t seq;
};

static void refs_take(lsm_db *db, const lsm_snapshot *snap,
		      struct read_refs *r)
{
	pthread_mutex_lock(&db->mu);
	r->mem = db->mem;
	lsm_mem_ref(r->mem);
	r->imm = db->imm;
	if (r->imm)
		lsm_mem_ref(r->imm);
	r->v = lsm_vset_current(db->vs);
	lsm_version_ref(r->v);
	r->seq = snap ? snap->seq : db->last_seq;
	pthread_mutex_unlock(&db->mu);
}

/* Drops a reader's reference to v, likely its last: v is then no longer
 * current, and its tables that no other version names are obsolete; the
 * background thread removes them (a reader never lists the directory).
 * Requires db->mu. */
static void version_unref_last(lsm_db *db, struct lsm_version *v)
{
	if (v != lsm_vset_current(db->vs)) {
		db->obsolete = true;
		pthread_cond_signal(&db->bg_work);
	}
	lsm_version_unref(v);
}

static void refs_drop(lsm_db *db, struct read_refs *r)
{
	lsm_mem_unref(r->mem);
	if (r->imm)
		lsm_mem_unref(r->imm);
	if (lsm_version_unref_unless_last(r->v))
		return;
	pthread_mutex_lock(&db->mu);
	version_unref_last(db, r->v);
	pthread_mutex_unlock(&db->mu);
}

static int copy_value(const uint8_t *v, size_t vlen, void **val, size_t *out)
{
	*val = malloc(vlen ? vlen : 1);
	if (!*val)
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	if (vlen)
		memcpy(*val, v, vlen);
	*out = vlen;
	return LSM_OK;
}

int lsm_get(lsm_db *db, const lsm_snapshot *snap, const void *key,
	    size_t klen, void **val, size_t *vlen)
{
	struct read_refs r;
	uint8_t kbuf[256];
	struct lsm_buf ik = {0}, vbuf = {0};
	struct lsm_seek_charge ch;
	const uint8_t *v;
	uint64_t skips = 0;
	bool found;
	int rc, kind;

	*val = NULL;
	*vlen = 0;
	if ((rc = check_key(klen)))
		return rc;
	if (klen + LSM_TRAILER <= sizeof(kbuf)) { /* no allocation */
		ik.data = kbuf;
		ik.cap = sizeof(kbuf);
	}
	refs_take(db, snap, &r);
	if (lsm_mem_get(r.mem, key, klen, r.seq, &kind, &v, vlen) ||
	    (r.imm && lsm_mem_get(r.imm, key, klen, r.seq, &kind, &v, vlen))) {
		rc = kind == LSM_KIND_VAL ? copy_value(v, *vlen, val, vlen)
					  : LSM_ENOTFOUND;
		goto out;
	}
	if ((rc = lsm_ikey_make(&ik, key, klen, r.seq, LSM_KIND_VAL)))
		goto out;
	rc = lsm_version_get(r.v, db->tcache, ik.data, ik.len, &found, &kind,
			     &vbuf, &skips, &ch);
	seek_charge(db, &ch); /* r.v keeps ch.f */
	if (!rc && (!found || kind != LSM_KIND_VAL))
		rc = LSM_ENOTFOUND;
	if (!rc && !vbuf.data) /* an empty value: still a pointer to free */
		rc = copy_value(NULL, 0, val, vlen);
	else if (!rc) { /* the value's buffer becomes the caller's */
		*val = vbuf.data;
		*vlen = vbuf.len;
		vbuf.data = NULL;
	}
out:
	if (rc)
		*vlen = 0;
	atomic_fetch_add(&db->bloom_skips, skips);
	refs_drop(db, &r);
	if (ik.data != kbuf)
		lsm_buf_free(&ik);
	lsm_buf_free(&vbuf);
	return rc;
}

struct iter_ctx {
	lsm_db *db;
	struct lsm_version *v;
};

/* The iterator's on_close: ctx lives inside the iterator. */
static void iter_done(void *arg)
{
	struct iter_ctx *c = arg;

	if (!lsm_version_unref_unless_last(c->v)) {
		pthread_mutex_lock(&c->db->mu);
		version_unref_last(c->db, c->v);
		pthread_mutex_unlock(&c->db->mu);
	}
}

/* Children up to this many live on the stack while the iterator is
 * built (then lsm_user_iter_merge copies them). */
#define ITER_KIDS_STACK 16

/* Allocations: the user iterator (with its merging iterator and ctx),
 * each memtable's and level-0 table's iterator, and each deeper level's. */
int lsm_iter_open(lsm_db *db, const lsm_snapshot *snap, lsm_iter **out)
{
	struct read_refs r;
	struct lsm_iiter *stack_kids[ITER_KIDS_STACK], **kids = stack_kids;
	struct iter_ctx *ctx = NULL;
	int n = 0, need, rc;

	*out = NULL;
	refs_take(db, snap, &r);
	need = 2 + lsm_version_iter_count(r.v);
	if (need > ITER_KIDS_STACK && !(kids = malloc(need * sizeof(*kids)))) {
		rc = LSM_ERR(LSM_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = lsm_mem_iter(r.mem, &kids[n])))
		goto out;
	n++;
	if (r.imm) {
		if ((rc = lsm_mem_iter(r.imm, &kids[n])))
			goto out;
		n++;
	}
	if ((rc = lsm_version_iters(r.v, db->tcache, kids, &n)))
		goto out;
	rc = lsm_user_iter_merge(kids, n, r.seq, iter_done, sizeof(*ctx),
				 (void **)&ctx, out);
	n = 0; /* taken, even on error */
	if (rc)
		goto out;
	ctx->db = db;
	ctx->v = r.v;
	lsm_version_ref(r.v);
out:
	for (int i = 0; i < n; i++)
		kids[i]->ops->destroy(kids[i]);
	if (kids != stack_kids)
		free(kids);
	refs_drop(db, &r);
	return rc;
}

/* ====================================================================
 * Snapshots
 */
int lsm_snapshot_get(lsm_db *db, lsm_snapshot **out)
{
	lsm_snapshot *s = malloc(sizeof(*s));

	*out = NULL;
	if (!s)
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	pthread_mutex_lock(&db->mu);
	s->seq = db->last_seq;
	s->next = &db->snaps;
	s->prev = db->snaps.prev;
	s->prev->next = s;
	db->snaps.prev = s;
	pthread_mutex_unlock(&db->mu);
	*out = s;
	return LSM_OK;
}

void lsm_snapshot_release(lsm_db *db, lsm_snapshot *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&db->mu);
	s->prev->next = s->next;
	s->next->prev = s->prev;
	pthread_mutex_unlock(&db->mu);
	free(s);
}

/* ====================================================================
 * Flush, compaction on demand, statistics
 */
int lsm_flush_start(lsm_db *db)
{
	struct writer w = {.force = true};

	return write_queued(db, &w);
}

int lsm_flush(lsm_db *db)
{
	int rc = lsm_flush_start(db);

	pthread_mutex_lock(&db->mu);
	while (!rc && db->imm && !db->bg_error && !db->bg_nospc)
		pthread_cond_wait(&db->bg_done, &db->mu);
	if (!rc && db->bg_error)
		rc = LSM_ERR(LSM_EREADONLY, "store stopped by an earlier error");
	else if (!rc && db->imm)
		rc = LSM_ERR(LSM_ENOSPC, "%s: disk full, flush postponed",
			     db->dir);
	pthread_mutex_unlock(&db->mu);
	return rc;
}

static int compact_level(lsm_db *db, int level, const void *start, size_t slen,
			 const void *end, size_t elen)
{
	struct manual m = {.level = level};
	int rc = LSM_OK;

	if ((start && (rc = lsm_buf_set(&m.start, start, slen))) ||
	    (end && (rc = lsm_buf_set(&m.end, end, elen))))
		goto out;
	m.has_start = start != NULL;
	m.has_end = end != NULL;
	pthread_mutex_lock(&db->mu);
	while (db->manual && !db->bg_error)
		pthread_cond_wait(&db->bg_done, &db->mu);
	if (!db->bg_error) {
		db->manual = &m;
		pthread_cond_signal(&db->bg_work);
		while (!m.done && !db->bg_error && !db->bg_nospc)
			pthread_cond_wait(&db->bg_done, &db->mu);
	}
	if (db->manual == &m)
		db->manual = NULL;
	if (db->bg_error)
		rc = LSM_ERR(LSM_EREADONLY, "store stopped by an earlier error");
	else if (!m.done)
		rc = LSM_ERR(LSM_ENOSPC, "%s: disk full, compaction postponed",
			     db->dir);
	pthread_mutex_unlock(&db->mu);
out:
	lsm_buf_free(&m.start);
	lsm_buf_free(&m.end);
	return rc;
}

static int deepest_level(lsm_db *db)
{
	int deepest;

	pthread_mutex_lock(&db->mu);
	deepest = deepest_level_locked(db);
	pthread_mutex_unlock(&db->mu);
	return deepest;
}

int lsm_compact_range(lsm_db *db, const void *start, size_t slen,
		      const void *end, size_t elen)
{
	int rc = lsm_flush(db);

	/* The deepest level is read again after each step: a background
	 * compaction may have pushed files further down meanwhile. */
	for (int l = 0; !rc && l < deepest_level(db); l++)
		rc = compact_level(db, l, start, slen, end, elen);
	return rc;
}

int lsm_stats_get(lsm_db *db, struct lsm_stats *st)
{
	struct lsm_version *v;

	pthread_mutex_lock(&db->mu);
	*st = db->st;
	v = lsm_vset_current(db->vs);
	for (int l = 0; l < LSM_MAX_LEVELS; l++) {
		st->files[l] = v->nfiles[l];
		st->level_bytes[l] = 0;
		for (int i = 0; i < v->nfiles[l]; i++)
			st->level_bytes[l] += v->files[l][i]->size;
	}
	st->mem_bytes = lsm_mem_usage(db->mem) +
			(db->imm ? lsm_mem_usage(db->imm) : 0);
	st->last_seq = db->last_seq;
	pthread_mutex_unlock(&db->mu);
	lsm_cache_counts(db->bcache, &st->cache_hits, &st->cache_misses);
	st->bloom_skips = atomic_load(&db->bloom_skips);
	return LSM_OK;
}

uint64_t lsm_disk_usage(lsm_db *db)
{
	struct lsm_stats st;
	uint64_t n;

	lsm_stats_get(db, &st);
	n = st.mem_bytes; /* about the size of the live logs */
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		n += st.level_bytes[l];
	return n;
}

/* ====================================================================
 * Open, recovery and close
 */
struct replay {
	lsm_db *db;
	lsm_memtable *mem;
	struct lsm_edit *e;
	uint64_t max_seq;
	uint64_t expect; /* the next record's first sequence number, at most */
	uint64_t gap_seq; /* != 0: a record that did not follow: replay ends */
};

/* replay_record's return when a record does not follow the one before. */
#define REPLAY_GAP 1

static int replay_record(void *ctx, uint64_t seq, const uint8_t *ops,
			 size_t opslen, uint32_t count)
{
	struct replay *r = ctx;
	lsm_db *db = r->db;
	struct mem_ins mi = {r->mem, seq, 0};
	int rc;

	/* Sequence numbers run on from log to log, and the first needed
	 * log's first record follows the manifest's last_seq (flush_imm).
	 * A record past the next number means writes before it were lost:
	 * an older log's unsynced tail (struct lsm_db, old_wal).  A record
	 * below it is kept: manifests of older versions recorded a larger
	 * last_seq. */
	if (seq > r->expect) {
		r->gap_seq = seq;
		return REPLAY_GAP;
	}
	if (count && seq + count > r->expect)
		r->expect = seq + count;
	/* lsm_wal_replay hands out only records lsm_wal_decode accepted. */
	if ((rc = lsm_batch_walk(ops, opslen, mem_insert_op, &mi)))
		return rc;
	if (count && seq + count - 1 > r->max_seq)
		r->max_seq = seq + count - 1;
	if (lsm_mem_usage(r->mem) < db->opt.write_buffer_size)
		return LSM_OK;
	/* A full memtable during recovery goes to a table at once. */
	rc = write_level0(db, r->mem, NULL, r->e, false);
	lsm_mem_unref(r->mem);
	r->mem = NULL;
	if (!rc)
		rc = lsm_mem_create(&r->mem);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Lists the logs still needed (number >= the manifest's log number),
 * oldest first.  *nums owned by the caller. */
static int list_logs(lsm_db *db, uint64_t **nums, size_t *count)
{
	char **names = NULL;
	size_t n = 0, k = 0;
	uint64_t num, *a = NULL;
	int rc;

	*nums = NULL;
	*count = 0;
	if ((rc = db->env->list(db->env, db->dir, &names, &n)))
		return rc;
	if (n && !(a = malloc(n * sizeof(*a)))) {
		rc = LSM_ERR(LSM_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int type = parse_name(names[i], &num);

		/* A power cut after a log switch leaves logs (and tables) the
		 * manifest's counter has not passed: never hand out their
		 * numbers again. */
		if (type)
			lsm_vset_mark_file_num_used(db->vs, num);
		if (type == 'l' && num >= lsm_vset_log_num(db->vs))
			a[k++] = num;
	}
	qsort(a, k, sizeof(*a), cmp_u64);
	*nums = a;
	*count = k;
out:
	lsm_env_list_free(names, n);
	return rc;
}

/* Replays the logs into tables, starts a fresh log and records both in
 * one manifest. */
static int recover(lsm_db *db)
{
	struct replay r = {.db = db};
	struct lsm_edit e;
	struct lsm_wal_report rep;
	char path[LSM_PATH_MAX];
	uint64_t *logs = NULL;
	size_t nlogs = 0;
	int rc;

	lsm_edit_init(&e);
	r.e = &e;
	r.max_seq = lsm_vset_last_seq(db->vs);
	r.expect = r.max_seq + 1;
	if ((rc = list_logs(db, &logs, &nlogs)) || (rc = lsm_mem_create(&r.mem)))
		goto out;
	for (size_t i = 0; i < nlogs; i++) {
		lsm_file_path(path, db->dir, logs[i], "log");
		memset(&rep, 0, sizeof(rep));
		rc = lsm_wal_replay(db->env, path, db->opt.salvage,
				    replay_record, &r, &rep);
		if (rc == REPLAY_GAP) {
			/* This log and the later ones are dropped: the new
			 * log_num makes them obsolete. */
			fprintf(stderr,
				"lsm: %s: dropped from sequence number %llu on, "
				"and %zu later logs: writes before it (%llu on) "
				"were lost\n",
				path, (unsigned long long)r.gap_seq,
				nlogs - i - 1, (unsigned long long)r.expect);
			rc = LSM_OK;
			break;
		}
		if (rc)
			goto out;
		if (rep.dropped_bytes)
			fprintf(stderr, "lsm: %s: dropped %llu bytes of a %s\n",
				path, (unsigned long long)rep.dropped_bytes,
				rep.torn ? "torn tail" : "corrupt log");
	}
	if (lsm_mem_count(r.mem) &&
	    (rc = write_level0(db, r.mem, NULL, &e, false)))
		goto out;
	db->wal_num = lsm_vset_new_file_num(db->vs);
	lsm_file_path(path, db->dir, db->wal_num, "log");
	if ((rc = lsm_wal_create(db->env, path, &db->wal)))
		goto out;
	e.has_log_num = true;
	e.log_num = db->wal_num;
	db->last_seq = r.max_seq;
	db->flushed_seq = r.max_seq; /* all of it in tables now */
	lsm_vset_set_last_seq(db->vs, r.max_seq);
	rc = lsm_vset_apply(db->vs, &e); /* also makes the new log durable */
out:
	if (r.mem)
		lsm_mem_unref(r.mem);
	lsm_edit_free(&e);
	free(logs);
	return rc;
}

/* Locks the directory and opens or creates its version set. */
static int open_files(lsm_db *db)
{
	char path[LSM_PATH_MAX];
	struct lsm_vset_opts vo = {
		.level1_max_bytes = db->opt.level1_max_bytes,
		.l0_compact_trigger = db->opt.l0_compact_trigger,
		.target_file_size = db->opt.target_file_size,
	};
	int rc, exists;

	if (db->opt.create_if_missing && (rc = db->env->mkdir(db->env, db->dir)))
		return rc;
	snprintf(path, sizeof(path), "%s/LOCK", db->dir);
	if ((rc = db->env->lock(db->env, path, &db->lockf))) {
		if (rc == LSM_EBUSY)
			LSM_ERR(rc, "%s: store is in use by another process",
				db->dir);
		return rc;
	}
	snprintf(path, sizeof(path), "%s/CURRENT", db->dir);
	{
		lsm_file *f = NULL;
		exists = !db->env->open(db->env, path, LSM_O_READ, &f);
		if (f)
			db->env->close(db->env, f);
	}
	if (exists && db->opt.error_if_exists)
		return LSM_ERR(LSM_EEXIST, "%s: store exists", db->dir);
	if (!exists && !db->opt.create_if_missing)
		return LSM_ERR(LSM_ENOTFOUND, "%s: no store here", db->dir);
	return lsm_vset_open(db->env, db->dir, &vo, db->opt.create_if_missing,
			     &db->vs);
}

static int db_init(lsm_db *db, const char *dir, const struct lsm_options *opt)
{
	int rc;

	if (opt)
		db->opt = *opt;
	else
		lsm_options_init(&db->opt);
	if ((rc = check_options(&db->opt)))
		return rc;
	db->reserve = db->opt.reserve_bytes;
	if (!db->reserve) {
		db->reserve = 4 * (uint64_t)db->opt.write_buffer_size;
		if (db->reserve < (16u << 20))
			db->reserve = 16u << 20;
	}
	db->env = db->opt.env ? db->opt.env : lsm_env_posix();
	if (!(db->dir = strdup(dir)))
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	pthread_mutex_init(&db->mu, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&db->bg_work, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_cond_init(&db->bg_done, NULL);
	db->snaps.next = db->snaps.prev = &db->snaps;
	atomic_init(&db->bloom_skips, 0);
	atomic_init(&db->has_imm, false);
	if ((rc = lsm_cache_create(db->opt.block_cache_size, &db->bcache)))
		return rc;
	return lsm_tcache_create(db->env, db->dir, db->opt.max_open_tables,
				 db->bcache, db->opt.bloom_bits_per_key,
				 &db->tcache);
}

int lsm_open(const char *dir, const struct lsm_options *opt, lsm_db **out)
{
	lsm_db *db = calloc(1, sizeof(*db));
	int rc;

	*out = NULL;
	if (!db)
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	if ((rc = db_init(db, dir, opt)) || (rc = open_files(db)) ||
	    (rc = recover(db)) || (rc = lsm_mem_create(&db->mem)))
		goto fail;
	pthread_mutex_lock(&db->mu);
	delete_obsolete(db);
	pthread_mutex_unlock(&db->mu);
	if (pthread_create(&db->bg, NULL, bg_main, db)) {
		rc = LSM_ERR(LSM_ENOMEM, "cannot start the background thread");
		goto fail;
	}
	db->bg_started = true;
	*out = db;
	return LSM_OK;
fail:
	{
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", lsm_last_error());
		lsm_close(db);
		LSM_ERR(rc, "%s", msg); /* keep the first error's message */
	}
	return rc;
}

int lsm_close(lsm_db *db)
{
	int rc;

	if (!db)
		return LSM_OK;
	if (db->bg_started) {
		pthread_mutex_lock(&db->mu);
		/* A flush under way and the deletion compaction it may mark
		 * are finished first: the range lives in memory only, and
		 * after a reopen the space it frees would wait for the size
		 * scores. */
		while (db->manual || ((db->imm || db->dc.active) &&
				      !db->bg_error && !db->bg_nospc))
			pthread_cond_wait(&db->bg_done, &db->mu);
		db->closing = true;
		pthread_cond_broadcast(&db->bg_work);
		pthread_mutex_unlock(&db->mu);
		pthread_join(db->bg, NULL);
	}
	rc = db->bg_error;
	if (db->old_wal) { /* before the current log: a prefix survives */
		int rc2 = rc || db->old_synced ? LSM_OK
					       : lsm_wal_sync(db->old_wal);
		lsm_wal_close(db->old_wal);
		if (!rc)
			rc = rc2;
	}
	if (db->wal) {
		int rc2 = rc ? LSM_OK : lsm_wal_sync(db->wal);
		int rc3 = lsm_wal_close(db->wal);
		if (!rc)
			rc = rc2 ? rc2 : rc3;
	}
	if (db->mem)
		lsm_mem_unref(db->mem);
	if (db->imm)
		lsm_mem_unref(db->imm);
	if (db->vs)
		lsm_vset_close(db->vs);
	if (db->tcache)
		lsm_tcache_destroy(db->tcache);
	if (db->bcache)
		lsm_cache_destroy(db->bcache);
	if (db->lockf)
		db->env->unlock(db->env, db->lockf);
	lsm_batch_clear(&db->group);
	lsm_buf_free(&db->group.ops);
	free(db->pending);
	lsm_buf_free(&db->dc.start);
	lsm_buf_free(&db->dc.end);
	if (db->seek_f)
		lsm_fmeta_unref(db->seek_f);
	if (db->dir) {
		pthread_mutex_destroy(&db->mu);
		pthread_cond_destroy(&db->bg_work);
		pthread_cond_destroy(&db->bg_done);
	}
	free(db->dir);
	free(db);
	return rc;
}
