/*
 * check.c — verification of a store's files: CURRENT and the manifest it
 * names, every block of every live SSTable, every frame of every log still
 * needed.  It is what `lsmfs fsck` runs first and what `lsmfs scrub` runs
 * on a mounted filesystem.
 *
 * The check only reads, through the env, and never takes the store's
 * LOCK, so it can run beside the process that has the store open.  That
 * process goes on flushing and compacting meanwhile, so the set of live
 * files may change under the check:
 *   - the manifest named by CURRENT may be replaced and removed between
 *     reading CURRENT and reading it: if loading fails and CURRENT has
 *     changed since, the check starts over (a few times);
 *   - a table that a compaction made obsolete may be removed before the
 *     check opens it: a missing table is an error only if the newest
 *     manifest still lists it (CURRENT is read again to know);
 *   - a log may be removed after a flush: a log that disappears between
 *     the directory listing and its opening is not an error;
 *   - the newest log grows: only the bytes present when the check stat'ed
 *     it are read, so a frame cut by that size reads as a torn tail (a
 *     note, not an error).  It is written through an append window
 *     (wal.c), so its size includes zeros where frames will be written
 *     while the check reads: a frame may be seen half-written, or a zero
 *     header before frames appear after it.  A bad frame is therefore
 *     judged again, a few times CHECK_LOG_WAIT_US apart, and is an error
 *     only if it stays bad.
 * A table file that is already open stays readable after its removal
 * (POSIX), so a table is checked whole once it is opened.
 *
 * Tables are read with lsm_sst_open (footer, index and filter) and
 * lsm_sst_verify (every data block from disk, bypassing any cache).  Logs
 * are read frame by frame with the rules of wal.c's essay, but nothing is
 * truncated or replayed: a bad frame reaching the end of the file (only
 * zero bytes after it, or cut short by the end) or holding a page lost by
 * write-back is a torn tail, reported as a note; a bad frame anywhere
 * else is an error naming file and offset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsm_int.h"

#define CHECK_RETRIES 20          /* CURRENT changed under us: start over */
#define CHECK_PROGRESS_STEP (1u << 20)
#define CHECK_ZERO_CHUNK (64 * 1024)
#define CHECK_LOG_RETRIES 5     /* a bad frame is judged again ... */
#define CHECK_LOG_WAIT_US 2000  /* ... this far apart (a live log) */
#define CHECK_LOG_PAGE 4096     /* wal.c's LSM_WAL_PAGE */

struct check_table {
	uint64_t num, size;
	int level;
};

/* What one reading of CURRENT and its manifest said. */
struct check_state {
	char current[128];         /* CURRENT's text as read */
	uint64_t manifest_num, manifest_size, log_num;
	struct check_table *tables; /* owned */
	size_t ntables;
};

struct check {
	const char *dir;
	lsm_env *env;
	const struct lsm_check_opts *o;
	struct lsm_check_report *rep;
	uint64_t done, total, last_progress;
};

static void check_state_free(struct check_state *s)
{
	free(s->tables);
	memset(s, 0, sizeof(*s));
}

/* Reports one problem line (error or note). */
static void check_report(struct check *c, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void check_report(struct check *c, bool error, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (error)
		c->rep->errors++;
	else
		c->rep->notes++;
	if (c->o && c->o->problem)
		c->o->problem(c->o->ctx, error, line);
}

static void check_progress(struct check *c, uint64_t n, bool force)
{
	c->done += n;
	c->rep->bytes += n;
	if (c->done > c->total)
		c->total = c->done;
	if (!c->o || !c->o->progress)
		return;
	if (!force && c->done - c->last_progress < CHECK_PROGRESS_STEP)
		return;
	c->last_progress = c->done;
	c->o->progress(c->o->ctx, c->done, c->total);
}

/* Reads up to cap bytes of path into buf (NUL-terminated); *n bytes. */
static int check_read_small(struct check *c, const char *path, char *buf,
			    size_t cap, size_t *n)
{
	lsm_file *f = NULL;
	int rc;

	*n = 0;
	buf[0] = 0;
	if ((rc = c->env->open(c->env, path, LSM_O_READ, &f)))
		return rc;
	rc = c->env->read(c->env, f, 0, buf, cap - 1, n);
	c->env->close(c->env, f);
	buf[rc ? 0 : *n] = 0;
	return rc;
}

static int check_file_size(struct check *c, const char *path, uint64_t *size)
{
	lsm_file *f = NULL;
	int rc;

	*size = 0;
	if ((rc = c->env->open(c->env, path, LSM_O_READ, &f)))
		return rc;
	rc = c->env->size(c->env, f, size);
	c->env->close(c->env, f);
	return rc;
}

static int check_current_text(struct check *c, char *buf, size_t cap)
{
	char path[LSM_PATH_MAX];
	size_t n;

	snprintf(path, sizeof(path), "%s/CURRENT", c->dir);
	return check_read_small(c, path, buf, cap, &n);
}

/* Copies the live tables of vs's current version into s. */
static int check_state_fill(struct lsm_vset *vs, struct check_state *s)
{
	struct lsm_version *v = lsm_vset_current(vs);
	size_t n = 0;

	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		n += (size_t)v->nfiles[l];
	if (n && !(s->tables = calloc(n, sizeof(*s->tables))))
		return LSM_ERR(LSM_ENOMEM, "out of memory");
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		for (int i = 0; i < v->nfiles[l]; i++) {
			struct check_table *t = &s->tables[s->ntables++];

			t->num = v->files[l][i]->num;
			t->size = v->files[l][i]->size;
			t->level = l;
		}
	s->manifest_num = lsm_vset_manifest_num(vs);
	s->log_num = lsm_vset_log_num(vs);
	return LSM_OK;
}

/*
 * Reads CURRENT and the manifest it names into s, starting over while
 * CURRENT changes under us.  Returns LSM_OK, LSM_ENOTFOUND (no store: no
 * CURRENT), LSM_ENOMEM, or the manifest's error (ECORRUPT, EVERSION, EIO)
 * with CURRENT stable, lsm_last_error() naming the file.
 */
static int check_load(struct check *c, struct check_state *s)
{
	struct lsm_options dflt;
	struct lsm_vset_opts vo;
	struct lsm_vset *vs = NULL;
	char again[sizeof(s->current)], path[LSM_PATH_MAX];
	int rc = LSM_OK;

	lsm_options_init(&dflt);
	vo.level1_max_bytes = dflt.level1_max_bytes;
	vo.l0_compact_trigger = dflt.l0_compact_trigger;
	vo.target_file_size = dflt.target_file_size;
	for (int tries = 0; tries < CHECK_RETRIES; tries++) {
		check_state_free(s);
		if ((rc = check_current_text(c, s->current, sizeof(s->current)))) {
			if (rc == LSM_ENOTFOUND)
				rc = LSM_ERR(LSM_ENOTFOUND, "%s/CURRENT: no store "
					     "here", c->dir);
			return rc;
		}
		rc = lsm_vset_open(c->env, c->dir, &vo, false, &vs);
		if (rc == LSM_OK) {
			rc = check_state_fill(vs, s);
			lsm_vset_close(vs);
			vs = NULL;
			if (rc)
				return rc;
			snprintf(path, sizeof(path), "%s/MANIFEST-%06llu", c->dir,
				 (unsigned long long)s->manifest_num);
			(void)check_file_size(c, path, &s->manifest_size);
			return LSM_OK;
		}
		if (rc == LSM_ENOMEM)
			return rc;
		char why[512];

		snprintf(why, sizeof(why), "%s", lsm_last_error());
		if (check_current_text(c, again, sizeof(again)) == LSM_OK &&
		    strcmp(again, s->current) != 0)
			continue; /* a new manifest was installed: again */
		return LSM_ERR(rc, "%s", why);
	}
	return rc;
}

/* Whether table num is still live in the newest manifest (a table that
 * disappeared during the check was compacted away if not). */
static bool check_still_live(struct check *c, uint64_t num)
{
	struct check_state s = {0};
	bool live = true; /* if we cannot tell, the missing file is an error */

	if (check_load(c, &s) == LSM_OK) {
		live = false;
		for (size_t i = 0; i < s.ntables; i++)
			if (s.tables[i].num == num)
				live = true;
	}
	check_state_free(&s);
	return live;
}

static int check_table(struct check *c, const struct check_table *t)
{
	char path[LSM_PATH_MAX];
	lsm_sst *sst = NULL;
	int rc;

	lsm_file_path(path, c->dir, t->num, "sst");
	rc = lsm_sst_open(c->env, path, t->num, t->size, NULL, &sst);
	if (rc == LSM_OK)
		rc = lsm_sst_verify(sst);
	lsm_sst_unref(sst);
	if (rc == LSM_ENOMEM)
		return rc;
	if (rc == LSM_ENOTFOUND) {
		if (check_still_live(c, t->num))
			check_report(c, true, "%s: live table (level %d) is "
				     "missing", path, t->level);
		else
			c->rep->vanished++;
	} else if (rc) {
		check_report(c, true, "%s", lsm_last_error());
	}
	if (rc != LSM_ENOTFOUND) {
		c->rep->files++;
		c->rep->tables++;
	}
	check_progress(c, t->size, true);
	return LSM_OK;
}

/* ---- logs --------------------------------------------------------------- */

struct check_log {
	struct check *c;
	lsm_file *f;
	const char *path;
	uint64_t size;
	struct lsm_buf buf;
};

/* Whether every byte of [off, size) is zero (false on a read error). */
static bool log_zero_from(struct check_log *l, uint64_t off)
{
	uint8_t chunk[CHECK_ZERO_CHUNK];
	size_t nread;

	while (off < l->size) {
		uint64_t want = l->size - off;

		if (want > sizeof(chunk))
			want = sizeof(chunk);
		if (l->c->env->read(l->c->env, l->f, off, chunk, (size_t)want,
				    &nread) || nread == 0)
			return false;
		for (size_t i = 0; i < nread; i++)
			if (chunk[i])
				return false;
		off += nread;
	}
	return true;
}

/* Whether [from, to) holds a page lost by write-back: an aligned
 * CHECK_LOG_PAGE block starting before to whose bytes from from on, to
 * the end of the block or of the file, are zero (wal.c, "Lost pages"). */
static bool log_lost_page(struct check_log *l, uint64_t from, uint64_t to)
{
	uint8_t blk[CHECK_LOG_PAGE];
	uint64_t b = from & ~(uint64_t)(CHECK_LOG_PAGE - 1);
	size_t nread, i;

	for (; b < to && b < l->size; b += CHECK_LOG_PAGE) {
		uint64_t lo = b > from ? b : from;
		uint64_t hi = l->size - b > CHECK_LOG_PAGE ? b + CHECK_LOG_PAGE
							   : l->size;

		if (l->c->env->read(l->c->env, l->f, lo, blk, (size_t)(hi - lo),
				    &nread) || nread != hi - lo)
			continue;
		for (i = 0; i < nread && !blk[i]; i++)
			;
		if (i == nread)
			return true;
	}
	return false;
}

static int log_op_ok(void *ctx, int kind, const uint8_t *key, size_t klen,
		     const uint8_t *val, size_t vlen)
{
	(void)ctx;
	(void)kind;
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	return LSM_OK;
}

/* Reads n bytes at off into p; LSM_ECORRUPT "short" if the file ends. */
static int log_read(struct check_log *l, uint64_t off, void *p, size_t n)
{
	size_t nread = 0, got = 0;
	int rc;

	while (got < n) {
		if ((rc = l->c->env->read(l->c->env, l->f, off + got,
					  (uint8_t *)p + got, n - got, &nread)))
			return rc;
		if (nread == 0)
			return LSM_ECORRUPT;
		got += nread;
	}
	return LSM_OK;
}

enum { LOG_GOOD, LOG_TORN, LOG_BAD };

/* A bad frame at off whose bytes end at end: torn when only zeros follow
 * it or it holds a page lost by write-back, else damage. */
static int log_judge(struct check_log *l, uint64_t off, uint64_t end)
{
	return log_zero_from(l, end) || log_lost_page(l, off, end) ? LOG_TORN
								  : LOG_BAD;
}

/* Judges the frame at off: LOG_GOOD with *len its bytes, or TORN/BAD with
 * why.  Returns a negative LSM code on an I/O or memory error. */
static int log_frame(struct check_log *l, uint64_t off, uint64_t *len,
		     char *why, size_t whylen)
{
	uint8_t hdr[LSM_FRAME_HDR];
	uint64_t avail = l->size - off, seq;
	const uint8_t *ops;
	size_t opslen;
	uint32_t plen, crc, count;
	int rc;

	if (avail < LSM_FRAME_HDR) {
		snprintf(why, whylen, "short header, %llu bytes",
			 (unsigned long long)avail);
		return LOG_TORN;
	}
	if ((rc = log_read(l, off, hdr, sizeof(hdr))))
		return rc == LSM_ECORRUPT ? LOG_TORN : rc;
	plen = lsm_get_u32le(hdr);
	crc = lsm_get_u32le(hdr + 4);
	avail -= LSM_FRAME_HDR;
	if (plen == 0 || plen > LSM_WAL_MAX_PAYLOAD) {
		snprintf(why, whylen, "length %u out of range", plen);
		return log_judge(l, off, off + LSM_FRAME_HDR);
	}
	if (plen > avail) {
		snprintf(why, whylen, "payload of %u bytes cut to %llu", plen,
			 (unsigned long long)avail);
		return LOG_TORN;
	}
	lsm_buf_clear(&l->buf);
	if ((rc = lsm_buf_reserve(&l->buf, plen)))
		return rc;
	if ((rc = log_read(l, off + LSM_FRAME_HDR, l->buf.data, plen)))
		return rc == LSM_ECORRUPT ? LOG_TORN : rc;
	*len = LSM_FRAME_HDR + (uint64_t)plen;
	if (lsm_crc32c(0, l->buf.data, plen) != crc) {
		snprintf(why, whylen, "bad crc");
		return log_judge(l, off, off + *len);
	}
	if (lsm_wal_decode(l->buf.data, plen, &seq, &ops, &opslen, &count) ||
	    lsm_batch_foreach(ops, opslen, count, log_op_ok, NULL)) {
		snprintf(why, whylen, "%s", lsm_last_error());
		return log_judge(l, off, off + *len);
	}
	return LOG_GOOD;
}

static int check_log_file(struct check *c, uint64_t num)
{
	char path[LSM_PATH_MAX], why[512];
	struct check_log l = {.c = c, .path = path};
	uint64_t off = 0, len = 0, pending = 0;
	int rc, v = LOG_GOOD;

	lsm_file_path(path, c->dir, num, "log");
	if ((rc = c->env->open(c->env, path, LSM_O_READ, &l.f))) {
		if (rc == LSM_ENOTFOUND) {
			c->rep->vanished++; /* removed after a flush */
			return LSM_OK;
		}
		check_report(c, true, "%s", lsm_last_error());
		return rc == LSM_ENOMEM ? rc : LSM_OK;
	}
	if ((rc = c->env->size(c->env, l.f, &l.size))) {
		check_report(c, true, "%s", lsm_last_error());
		rc = LSM_OK;
		goto out;
	}
	while (off < l.size) {
		v = log_frame(&l, off, &len, why, sizeof(why));
		for (int t = 0; v == LOG_BAD && t < CHECK_LOG_RETRIES; t++) {
			usleep(CHECK_LOG_WAIT_US); /* maybe written meanwhile */
			v = log_frame(&l, off, &len, why, sizeof(why));
		}
		if (v != LOG_GOOD)
			break;
		off += len;
		pending += len;
		c->rep->log_records++;
		if (pending >= CHECK_PROGRESS_STEP) {
			check_progress(c, pending, false);
			pending = 0;
		}
	}
	if (v < 0) {
		if (v == LSM_ENOMEM) {
			rc = v;
			goto out;
		}
		check_report(c, true, "%s: cannot read at offset %llu: %s", path,
			     (unsigned long long)off, lsm_last_error());
	} else if (v == LOG_BAD) {
		check_report(c, true, "%s: corrupt WAL record at offset %llu (%s)",
			     path, (unsigned long long)off, why);
		c->rep->log_errors++;
	} else if (v == LOG_TORN && !log_zero_from(&l, off)) {
		/* (zeros only: a window's unwritten space, not data) */
		check_report(c, false, "%s: torn tail at offset %llu (%s; %llu "
			     "bytes that the next open drops)", path,
			     (unsigned long long)off, why,
			     (unsigned long long)(l.size - off));
	}
	c->rep->files++;
	c->rep->logs++;
	check_progress(c, pending + (l.size - off), true);
	rc = LSM_OK;
out:
	c->env->close(c->env, l.f);
	lsm_buf_free(&l.buf);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The numbers of the logs in dir numbered log_num or above, sorted. */
static int check_list_logs(struct check *c, uint64_t log_num, uint64_t **out,
			   size_t *count)
{
	char **names = NULL;
	size_t n = 0, k = 0;
	uint64_t *a = NULL;
	int rc;

	*out = NULL;
	*count = 0;
	if ((rc = c->env->list(c->env, c->dir, &names, &n)))
		return rc;
	if (n && !(a = malloc(n * sizeof(*a)))) {
		rc = LSM_ERR(LSM_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = names[i];
		char *end;
		uint64_t num;

		if (s[0] < '0' || s[0] > '9')
			continue;
		num = strtoull(s, &end, 10);
		if (!strcmp(end, ".log") && num >= log_num)
			a[k++] = num;
	}
	qsort(a, k, sizeof(*a), cmp_u64);
	*out = a;
	a = NULL;
	*count = k;
out:
	free(a);
	lsm_env_list_free(names, n);
	return rc;
}

int lsm_check(const char *dir, const struct lsm_check_opts *o,
	      struct lsm_check_report *rep)
{
	struct check c = {.dir = dir, .o = o, .rep = rep};
	struct check_state s = {0};
	char path[LSM_PATH_MAX];
	uint64_t *logs = NULL, size;
	size_t nlogs = 0;
	int rc;

	memset(rep, 0, sizeof(*rep));
	c.env = o && o->env ? o->env : lsm_env_posix();
	rc = check_load(&c, &s);
	if (rc == LSM_ENOTFOUND || rc == LSM_ENOMEM)
		goto out;
	if (rc) {
		/* CURRENT or the manifest is bad: nothing says which files
		 * are live, so this is as far as the check can go. */
		check_report(&c, true, "%s", lsm_last_error());
		rc = LSM_OK;
		goto out;
	}
	rep->files++; /* the manifest */
	if ((rc = check_list_logs(&c, s.log_num, &logs, &nlogs)))
		goto out;
	c.total = s.manifest_size;
	for (size_t i = 0; i < s.ntables; i++)
		c.total += s.tables[i].size;
	for (size_t i = 0; i < nlogs; i++) {
		lsm_file_path(path, dir, logs[i], "log");
		if (check_file_size(&c, path, &size) == LSM_OK)
			c.total += size;
	}
	check_progress(&c, s.manifest_size, true);
	for (size_t i = 0; i < s.ntables; i++)
		if ((rc = check_table(&c, &s.tables[i])))
			goto out;
	for (size_t i = 0; i < nlogs; i++)
		if ((rc = check_log_file(&c, logs[i])))
			goto out;
out:
	free(logs);
	check_state_free(&s);
	return rc;
}
