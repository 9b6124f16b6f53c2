/*
 * env_fault.c — the fault-injecting env.  It wraps a base env (usually
 * the POSIX one), passes every call through, and on the way keeps what a
 * power cut would need to know:
 *
 *   - per path written through it (opened with LSM_O_CREATE or
 *     LSM_O_APPEND): the current length, the synced length (a file sync
 *     sets synced = current), and whether the file's creation is durable.
 *     A file that this env creates with LSM_O_CREATE is not durable until
 *     a sync_dir of its directory; a file that already existed (an
 *     LSM_O_APPEND open, or LSM_O_CREATE truncating an existing file) is.
 *     Renames move the record to the new name and are durable at once;
 *     a remove drops it.  Append windows (map_append, commit) pass
 *     through to the base env: the bytes written through the mapping
 *     are in the base file at once, but only those that commit covers
 *     count in the current length, exactly as appended bytes do; the
 *     record also remembers the end of the furthest window (alloc),
 *     where the base file's preallocated zeros end.  Paths are compared as text, the way the store
 *     builds them ("dir/000012.log" lies in "dir").
 *   - counters of appends and syncs.  Every call counts, including those
 *     that fail; map_append and commit count as appends; sync_dir counts as a sync (so a crash can fall between a
 *     rename and the directory sync that follows it).
 *
 * Faults: lsm_fault_fail_append/sync make the n-th call from now fail
 * with a chosen code (and every later one when sticky), writing nothing.
 * lsm_fault_crash_at_sync cuts the power when the n-th sync is called:
 * that sync does not happen and from then on every call fails with
 * LSM_EIO (close and unlock still free what they were given).  Once the
 * user has closed everything, lsm_fault_apply_crash removes each file
 * whose creation was not durable and cuts every other tracked file to its
 * synced length plus, to model a torn write, a random prefix of its
 * unsynced bytes (none, with probability 1/2), and, for a file that had
 * an append window, with probability 1/2 extends the result with zeros
 * to the window's end (a power cut keeps the preallocation, whose
 * never-written pages read as zeros); then it forgets all
 * tracking (what is on disk now counts as durable) and lets the env work
 * again.
 *
 * Handles.  struct lsm_file is defined once, in env_posix.c, so this env
 * cannot define its own.  It hands out the base env's lsm_file pointers
 * unchanged and keeps a side table (a small hash keyed by the pointer)
 * from each writable or lock handle to a struct fault_handle that points
 * at the path's record.  Read-only handles are not in the table: reads
 * need no tracking and stay lock-free apart from the crash check.  Maps
 * (of read-only files) pass through to the base env when it has them.
 *
 * Threads: one mutex (fe->mu) guards every field of struct fault_env and
 * every record and handle; it is held across the base env's calls except
 * reads and closes, so that a crash and the bookkeeping of an append or
 * sync are atomic with respect to each other.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lsm_int.h"

#define FAULT_MAGIC 0x466c5421u /* "FlT!" */
#define FAULT_BUCKETS 64

/* What a power cut would leave of one path. */
struct fault_rec {
	struct fault_rec *next; /* fe->recs, in creation order */
	char *path;             /* owned */
	uint64_t len;           /* bytes written so far */
	uint64_t synced;        /* bytes a sync made durable */
	uint64_t alloc;         /* end of the furthest append window, or 0 */
	bool durable;           /* the directory entry survives a crash */
	bool dead;              /* removed or renamed over: off the list */
	int nopen;              /* handles pointing here */
};

/* One writable or lock handle handed out (the base env's pointer). */
struct fault_handle {
	struct fault_handle *next; /* hash chain */
	lsm_file *base;            /* the key; owned by the user */
	struct fault_rec *rec;     /* NULL for a lock */
};

/* An injected failure: the call whose count reaches at fails with rc. */
struct fault_fail {
	uint64_t at; /* 0: off */
	int rc;
	bool sticky;
};

struct fault_env {
	lsm_env env; /* first: lsm_env * and struct fault_env * convert */
	unsigned magic;
	lsm_env *base; /* borrowed: outlives this env */
	pthread_mutex_t mu;
	/* All below: fe->mu. */
	struct fault_rec *recs, *recs_tail;
	struct fault_handle *handles[FAULT_BUCKETS];
	size_t nhandles;
	uint64_t appends, syncs; /* calls so far */
	struct fault_fail fail_append, fail_sync;
	uint64_t crash_at; /* sync count that cuts the power; 0: none */
	bool crashed;
};

static struct fault_env *fault_of(lsm_env *env)
{
	struct fault_env *fe = (struct fault_env *)env;

	if (fe->magic != FAULT_MAGIC)
		abort(); /* not a fault env: a programming error */
	return fe;
}

/* The error every call returns once the power is cut.  fe->mu held. */
static int fault_dead(const char *call, const char *path)
{
	return LSM_ERR(LSM_EIO, "%s %s: power cut (fault env)", call,
		       path ? path : "");
}

/* ---- records -------------------------------------------------------- */

/* The live record of path, or NULL.  fe->mu held. */
static struct fault_rec *rec_find(struct fault_env *fe, const char *path)
{
	for (struct fault_rec *r = fe->recs; r; r = r->next)
		if (!strcmp(r->path, path))
			return r;
	return NULL;
}

/* A new live record at the end of the list, or NULL on ENOMEM. */
static struct fault_rec *rec_add(struct fault_env *fe, const char *path,
				 uint64_t len, bool durable)
{
	struct fault_rec *r = calloc(1, sizeof(*r));

	if (!r || !(r->path = strdup(path))) {
		free(r);
		return NULL;
	}
	r->len = r->synced = len;
	r->durable = durable;
	if (fe->recs_tail)
		fe->recs_tail->next = r;
	else
		fe->recs = r;
	fe->recs_tail = r;
	return r;
}

static void rec_free(struct fault_rec *r)
{
	free(r->path);
	free(r);
}

/* Takes r off the list; it is freed now, or by the close of its last
 * handle.  fe->mu held. */
static void rec_drop(struct fault_env *fe, struct fault_rec *r)
{
	struct fault_rec **pp = &fe->recs, *prev = NULL;

	while (*pp != r) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	*pp = r->next;
	if (fe->recs_tail == r)
		fe->recs_tail = prev;
	r->next = NULL;
	r->dead = true;
	if (!r->nopen)
		rec_free(r);
}

/* Whether path names an entry directly in dir (textually). */
static bool path_in_dir(const char *path, const char *dir)
{
	const char *slash = strrchr(path, '/');
	size_t dlen = strlen(dir);

	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	if (!slash)
		return dlen == 1 && dir[0] == '.';
	if (slash == path) /* "/name" */
		return dlen == 1 && dir[0] == '/';
	return (size_t)(slash - path) == dlen && !memcmp(path, dir, dlen);
}

/* ---- handles -------------------------------------------------------- */

static size_t handle_bucket(const lsm_file *f)
{
	uint64_t h = (uint64_t)(uintptr_t)f * UINT64_C(0x9E3779B97F4A7C15);

	return (size_t)(h >> 58) % FAULT_BUCKETS;
}

/* The handle of f, or NULL (a read-only file).  fe->mu held. */
static struct fault_handle *handle_find(struct fault_env *fe, lsm_file *f)
{
	struct fault_handle *h = fe->handles[handle_bucket(f)];

	while (h && h->base != f)
		h = h->next;
	return h;
}

/* Registers f (pointing at rec, which may be NULL).  fe->mu held. */
static int handle_add(struct fault_env *fe, lsm_file *f, struct fault_rec *rec)
{
	struct fault_handle *h = calloc(1, sizeof(*h));
	size_t b = handle_bucket(f);

	if (!h)
		return LSM_ERR(LSM_ENOMEM, "fault env: out of memory");
	h->base = f;
	h->rec = rec;
	if (rec)
		rec->nopen++;
	h->next = fe->handles[b];
	fe->handles[b] = h;
	fe->nhandles++;
	return LSM_OK;
}

/* Unregisters f if it is registered, releasing its record.  fe->mu held. */
static void handle_remove(struct fault_env *fe, lsm_file *f)
{
	struct fault_handle **pp = &fe->handles[handle_bucket(f)], *h;

	while (*pp && (*pp)->base != f)
		pp = &(*pp)->next;
	if (!(h = *pp))
		return;
	*pp = h->next;
	fe->nhandles--;
	if (h->rec && --h->rec->nopen == 0 && h->rec->dead)
		rec_free(h->rec);
	free(h);
}

/* ---- faults --------------------------------------------------------- */

/* Counts a call (already added to *count) against an injected failure:
 * LSM_OK, or the code to fail with. */
static int fail_check(const struct fault_fail *ff, uint64_t count)
{
	if (!ff->at)
		return LSM_OK;
	if (count == ff->at || (ff->sticky && count > ff->at))
		return ff->rc;
	return LSM_OK;
}

/* Counts a sync (of a file or a directory) and decides its fate: LSM_OK
 * to go ahead, or the code to fail with (cutting the power if this is
 * the crash point).  fe->mu held. */
static int fault_sync_gate(struct fault_env *fe, const char *path)
{
	int rc;

	fe->syncs++;
	if (fe->crash_at && fe->syncs == fe->crash_at) {
		fe->crashed = true;
		fe->crash_at = 0;
		return fault_dead("sync", path);
	}
	if ((rc = fail_check(&fe->fail_sync, fe->syncs)))
		return LSM_ERR(rc, "sync %s: injected failure (sync #%llu)",
			       path, (unsigned long long)fe->syncs);
	return LSM_OK;
}

/* ---- the env's calls ------------------------------------------------ */

/* Whether path exists in the base env (for the durability of a create).
 * fe->mu held. */
static int base_exists(struct fault_env *fe, const char *path, bool *exists)
{
	lsm_file *f = NULL;
	int rc = fe->base->open(fe->base, path, LSM_O_READ, &f);

	*exists = rc == LSM_OK;
	if (rc == LSM_OK)
		return fe->base->close(fe->base, f);
	return rc == LSM_ENOTFOUND ? LSM_OK : rc;
}

/* The record for a file about to be opened for writing with flags
 * (created if needed; *created says so).  fe->mu held. */
static int fault_rec_for_open(struct fault_env *fe, const char *path,
			      int flags, struct fault_rec **out,
			      bool *created)
{
	struct fault_rec *r = rec_find(fe, path);
	bool exists = true;
	int rc;

	*out = NULL;
	*created = false;
	if (r) {
		*out = r;
		return LSM_OK;
	}
	if (flags == LSM_O_CREATE && (rc = base_exists(fe, path, &exists)))
		return rc;
	if (!(r = rec_add(fe, path, 0, exists)))
		return LSM_ERR(LSM_ENOMEM, "open %s: out of memory", path);
	*out = r;
	*created = true;
	return LSM_OK;
}

static int fault_open(lsm_env *env, const char *path, int flags,
		      lsm_file **out)
{
	struct fault_env *fe = fault_of(env);
	struct fault_rec *r = NULL;
	lsm_file *f = NULL;
	bool created = false;
	uint64_t size = 0;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&fe->mu);
	if (fe->crashed) {
		rc = fault_dead("open", path);
		goto out;
	}
	if (flags == LSM_O_READ) {
		rc = fe->base->open(fe->base, path, flags, out);
		goto out;
	}
	if (flags != LSM_O_CREATE && flags != LSM_O_APPEND) {
		rc = LSM_ERR(LSM_EINVAL, "open %s: bad flags %d", path, flags);
		goto out;
	}
	if ((rc = fault_rec_for_open(fe, path, flags, &r, &created)))
		goto out;
	if ((rc = fe->base->open(fe->base, path, flags, &f)))
		goto out;
	if (flags == LSM_O_APPEND &&
	    (rc = fe->base->size(fe->base, f, &size)))
		goto out;
	if ((rc = handle_add(fe, f, r)))
		goto out;
	/* O_TRUNC: the old bytes are gone, synced or not. */
	r->len = size;
	r->alloc = 0;
	r->synced = flags == LSM_O_CREATE ? 0 : (created ? size : r->synced);
	if (r->synced > r->len)
		r->synced = r->len;
	created = false;
	*out = f;
	f = NULL;
out:
	if (f)
		fe->base->close(fe->base, f);
	if (created)
		rec_drop(fe, r);
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

/* LSM_OK while the env has not crashed; else the error every call after
 * a cut gets, naming call and path.  Takes fe->mu briefly: the calls that use it
 * change no record, so they go on to the base env unlocked. */
static int fault_alive(struct fault_env *fe, const char *call,
		       const char *path)
{
	bool crashed;

	pthread_mutex_lock(&fe->mu);
	crashed = fe->crashed;
	pthread_mutex_unlock(&fe->mu);
	return crashed ? fault_dead(call, path) : LSM_OK;
}

static int fault_read(lsm_env *env, lsm_file *f, uint64_t off, void *buf,
		      size_t n, size_t *nread)
{
	struct fault_env *fe = fault_of(env);
	int rc;

	*nread = 0;
	if ((rc = fault_alive(fe, "read", "")))
		return rc;
	return fe->base->read(fe->base, f, off, buf, n, nread);
}

/* Maps pass through to the base env (the env offers map only when its
 * base does).  A power cut concerns written files; the store maps only
 * finished tables, synced before they are opened, so a mapping made
 * before a cut reads what the cut leaves.  A new mapping after the cut
 * fails like every other call. */
static int fault_map(lsm_env *env, lsm_file *f, uint64_t size,
		     const void **addr)
{
	struct fault_env *fe = fault_of(env);
	int rc;

	*addr = NULL;
	if ((rc = fault_alive(fe, "mmap", "")))
		return rc;
	return fe->base->map(fe->base, f, size, addr);
}

/* Unmaps even after a cut, as close does. */
static int fault_unmap(lsm_env *env, lsm_file *f, const void *addr,
		       uint64_t size)
{
	struct fault_env *fe = fault_of(env);

	return fe->base->unmap(fe->base, f, addr, size);
}

/* Counts an append-like call on f (append, map_append, commit) and
 * decides its fate: LSM_OK to go ahead, or the code to fail with.  *rec
 * is f's record (NULL for an unknown handle).  fe->mu held. */
static int fault_append_gate(struct fault_env *fe, lsm_file *f,
			     const char *call, struct fault_rec **rec)
{
	struct fault_handle *h = handle_find(fe, f);
	const char *path;
	int rc;

	*rec = h ? h->rec : NULL;
	path = *rec ? (*rec)->path : "";
	if (fe->crashed)
		return fault_dead(call, path);
	fe->appends++;
	if ((rc = fail_check(&fe->fail_append, fe->appends)))
		return LSM_ERR(rc, "%s %s: injected failure (append #%llu)",
			       call, path, (unsigned long long)fe->appends);
	return LSM_OK;
}

static int fault_append(lsm_env *env, lsm_file *f, const void *buf, size_t n)
{
	struct fault_env *fe = fault_of(env);
	struct fault_rec *r;
	int rc;

	pthread_mutex_lock(&fe->mu);
	if ((rc = fault_append_gate(fe, f, "write", &r)))
		goto out;
	if ((rc = fe->base->append(fe->base, f, buf, n)))
		goto out;
	if (r)
		r->len += n;
out:
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

/* An injected failure writes nothing and maps nothing.  The base env's
 * window of f (if any) may stay open: the caller will not use it, and
 * the next append, window, truncate or close ends it. */
static int fault_map_append(lsm_env *env, lsm_file *f, size_t size,
			    void **addr)
{
	struct fault_env *fe = fault_of(env);
	struct fault_rec *r;
	int rc;

	*addr = NULL;
	pthread_mutex_lock(&fe->mu);
	if ((rc = fault_append_gate(fe, f, "fallocate", &r)))
		goto out;
	if ((rc = fe->base->map_append(fe->base, f, size, addr)))
		goto out;
	if (r && r->len + size > r->alloc)
		r->alloc = r->len + size;
out:
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fault_commit(lsm_env *env, lsm_file *f, size_t n)
{
	struct fault_env *fe = fault_of(env);
	struct fault_rec *r;
	int rc;

	pthread_mutex_lock(&fe->mu);
	if ((rc = fault_append_gate(fe, f, "commit", &r)))
		goto out;
	if ((rc = fe->base->commit(fe->base, f, n)))
		goto out;
	if (r)
		r->len += n;
out:
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fault_sync(lsm_env *env, lsm_file *f)
{
	struct fault_env *fe = fault_of(env);
	struct fault_handle *h;
	int rc;

	pthread_mutex_lock(&fe->mu);
	h = handle_find(fe, f);
	if (fe->crashed) {
		rc = fault_dead("sync", h && h->rec ? h->rec->path : "");
		goto out;
	}
	if ((rc = fault_sync_gate(fe, h && h->rec ? h->rec->path : "")))
		goto out;
	if ((rc = fe->base->sync(fe->base, f)))
		goto out;
	if (h && h->rec)
		h->rec->synced = h->rec->len;
out:
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fault_size(lsm_env *env, lsm_file *f, uint64_t *size)
{
	struct fault_env *fe = fault_of(env);
	int rc;

	*size = 0;
	if ((rc = fault_alive(fe, "size", "")))
		return rc;
	return fe->base->size(fe->base, f, size);
}

static int fault_truncate(lsm_env *env, lsm_file *f, uint64_t size)
{
	struct fault_env *fe = fault_of(env);
	struct fault_handle *h;
	int rc;

	pthread_mutex_lock(&fe->mu);
	h = handle_find(fe, f);
	if (fe->crashed) {
		rc = fault_dead("truncate", h && h->rec ? h->rec->path : "");
		goto out;
	}
	if ((rc = fe->base->truncate(fe->base, f, size)))
		goto out;
	if (h && h->rec) {
		h->rec->len = size;
		h->rec->alloc = 0;
		if (h->rec->synced > size)
			h->rec->synced = size;
	}
out:
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

/* Forgets handle f and releases it through the base env's close or
 * unlock (named what), even after a crash (then LSM_EIO). */
static int fault_release(lsm_env *env, lsm_file *f, bool unlock,
			 const char *what)
{
	struct fault_env *fe = fault_of(env);
	bool crashed;
	int rc;

	if (!f)
		return LSM_OK;
	pthread_mutex_lock(&fe->mu);
	handle_remove(fe, f);
	crashed = fe->crashed;
	pthread_mutex_unlock(&fe->mu);
	rc = unlock ? fe->base->unlock(fe->base, f) : fe->base->close(fe->base, f);
	return crashed ? fault_dead(what, "") : rc;
}

static int fault_close(lsm_env *env, lsm_file *f)
{
	return fault_release(env, f, false, "close");
}

static int fault_rename(lsm_env *env, const char *from, const char *to)
{
	struct fault_env *fe = fault_of(env);
	struct fault_rec *r, *old;
	char *npath = NULL;
	int rc;

	pthread_mutex_lock(&fe->mu);
	if (fe->crashed) {
		rc = fault_dead("rename", from);
		goto out;
	}
	r = rec_find(fe, from);
	if (r && !(npath = strdup(to))) {
		rc = LSM_ERR(LSM_ENOMEM, "rename %s: out of memory", from);
		goto out;
	}
	if ((rc = fe->base->rename(fe->base, from, to)))
		goto out;
	if ((old = rec_find(fe, to)) && old != r)
		rec_drop(fe, old);
	if (r) {
		free(r->path);
		r->path = npath;
		npath = NULL;
		r->durable = true;
	}
out:
	free(npath);
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fault_remove(lsm_env *env, const char *path)
{
	struct fault_env *fe = fault_of(env);
	struct fault_rec *r;
	int rc;

	pthread_mutex_lock(&fe->mu);
	if (fe->crashed) {
		rc = fault_dead("unlink", path);
		goto out;
	}
	if ((rc = fe->base->remove(fe->base, path)))
		goto out;
	if ((r = rec_find(fe, path)))
		rec_drop(fe, r);
out:
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fault_list(lsm_env *env, const char *dir, char ***names,
		      size_t *n)
{
	struct fault_env *fe = fault_of(env);
	int rc;

	*names = NULL;
	*n = 0;
	if ((rc = fault_alive(fe, "list", dir)))
		return rc;
	return fe->base->list(fe->base, dir, names, n);
}

static int fault_mkdir(lsm_env *env, const char *dir)
{
	struct fault_env *fe = fault_of(env);
	int rc;

	pthread_mutex_lock(&fe->mu);
	if (fe->crashed)
		rc = fault_dead("mkdir", dir);
	else
		rc = fe->base->mkdir(fe->base, dir);
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

/* A sync like a file's (counted, can fail or cut the power); on success
 * every tracked file in dir has a durable name. */
static int fault_sync_dir(lsm_env *env, const char *dir)
{
	struct fault_env *fe = fault_of(env);
	int rc;

	pthread_mutex_lock(&fe->mu);
	if (fe->crashed) {
		rc = fault_dead("sync", dir);
		goto out;
	}
	if ((rc = fault_sync_gate(fe, dir)))
		goto out;
	if ((rc = fe->base->sync_dir(fe->base, dir)))
		goto out;
	for (struct fault_rec *r = fe->recs; r; r = r->next)
		if (path_in_dir(r->path, dir))
			r->durable = true;
out:
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fault_lock(lsm_env *env, const char *path, lsm_file **out)
{
	struct fault_env *fe = fault_of(env);
	lsm_file *f = NULL;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&fe->mu);
	if (fe->crashed) {
		rc = fault_dead("lock", path);
		goto out;
	}
	if ((rc = fe->base->lock(fe->base, path, &f)))
		goto out;
	if ((rc = handle_add(fe, f, NULL)))
		goto out;
	*out = f;
	f = NULL;
out:
	if (f)
		fe->base->unlock(fe->base, f);
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

static int fault_unlock(lsm_env *env, lsm_file *lock)
{
	return fault_release(env, lock, true, "unlock");
}

static int fault_disk_free(lsm_env *env, const char *dir, uint64_t *nbytes)
{
	struct fault_env *fe = fault_of(env);
	int rc;

	*nbytes = 0;
	if ((rc = fault_alive(fe, "statvfs", dir)))
		return rc;
	return fe->base->disk_free(fe->base, dir, nbytes);
}

/* Forgets every record and handle (not the base files).  fe->mu held. */
static void fault_forget(struct fault_env *fe)
{
	for (size_t b = 0; b < FAULT_BUCKETS; b++) {
		while (fe->handles[b]) {
			struct fault_handle *h = fe->handles[b];
			fe->handles[b] = h->next;
			free(h);
		}
	}
	fe->nhandles = 0;
	while (fe->recs) {
		struct fault_rec *r = fe->recs;
		fe->recs = r->next;
		rec_free(r);
	}
	fe->recs_tail = NULL;
}

/* Frees the fault env (not the base env).  Every file should be closed. */
static void fault_destroy(lsm_env *env)
{
	struct fault_env *fe = fault_of(env);

	fault_forget(fe);
	pthread_mutex_destroy(&fe->mu);
	fe->magic = 0;
	free(fe);
}

int lsm_fault_env_create(lsm_env *base, lsm_env **out)
{
	struct fault_env *fe = calloc(1, sizeof(*fe));

	*out = NULL;
	if (!fe)
		return LSM_ERR(LSM_ENOMEM, "fault env: out of memory");
	fe->env = (lsm_env){
		.open = fault_open,
		.read = fault_read,
		.map = base->map && base->unmap ? fault_map : NULL,
		.unmap = base->map && base->unmap ? fault_unmap : NULL,
		.append = fault_append,
		.map_append = base->map_append && base->commit
				      ? fault_map_append : NULL,
		.commit = base->map_append && base->commit ? fault_commit
							   : NULL,
		.sync = fault_sync,
		.size = fault_size,
		.truncate = fault_truncate,
		.close = fault_close,
		.rename = fault_rename,
		.remove = fault_remove,
		.list = fault_list,
		.mkdir = fault_mkdir,
		.sync_dir = fault_sync_dir,
		.lock = fault_lock,
		.unlock = fault_unlock,
		.disk_free = fault_disk_free,
		.destroy = fault_destroy,
	};
	fe->magic = FAULT_MAGIC;
	fe->base = base;
	pthread_mutex_init(&fe->mu, NULL);
	*out = &fe->env;
	return LSM_OK;
}

/* ---- the test's controls -------------------------------------------- */

static void fail_set(struct fault_fail *ff, uint64_t now, uint64_t n, int rc,
		     int sticky)
{
	ff->at = n ? now + n : 0;
	ff->rc = rc;
	ff->sticky = sticky != 0;
}

void lsm_fault_fail_append(lsm_env *env, uint64_t n, int rc, int sticky)
{
	struct fault_env *fe = fault_of(env);

	pthread_mutex_lock(&fe->mu);
	fail_set(&fe->fail_append, fe->appends, n, rc, sticky);
	pthread_mutex_unlock(&fe->mu);
}

void lsm_fault_fail_sync(lsm_env *env, uint64_t n, int rc, int sticky)
{
	struct fault_env *fe = fault_of(env);

	pthread_mutex_lock(&fe->mu);
	fail_set(&fe->fail_sync, fe->syncs, n, rc, sticky);
	pthread_mutex_unlock(&fe->mu);
}

void lsm_fault_crash_at_sync(lsm_env *env, uint64_t n)
{
	struct fault_env *fe = fault_of(env);

	pthread_mutex_lock(&fe->mu);
	if (n == 0)
		fe->crashed = true;
	else
		fe->crash_at = fe->syncs + n;
	pthread_mutex_unlock(&fe->mu);
}

void lsm_fault_crash(lsm_env *env)
{
	lsm_fault_crash_at_sync(env, 0);
}

int lsm_fault_crashed(lsm_env *env)
{
	struct fault_env *fe = fault_of(env);
	int crashed;

	pthread_mutex_lock(&fe->mu);
	crashed = fe->crashed;
	pthread_mutex_unlock(&fe->mu);
	return crashed;
}

void lsm_fault_counts(lsm_env *env, uint64_t *appends, uint64_t *syncs)
{
	struct fault_env *fe = fault_of(env);

	pthread_mutex_lock(&fe->mu);
	if (appends)
		*appends = fe->appends;
	if (syncs)
		*syncs = fe->syncs;
	pthread_mutex_unlock(&fe->mu);
}

/* splitmix64: the torn-prefix choices, reproducible from the seed. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Cuts r's file to what survives: the synced bytes, maybe a prefix of
 * the rest, and maybe the zeros of a preallocation after that (bytes
 * written through a window but never committed were zeroed by their
 * writer, or lie past what survives).  fe->mu held. */
static int fault_cut(struct fault_env *fe, struct fault_rec *r, uint64_t *rng)
{
	lsm_file *f = NULL;
	uint64_t keep = r->synced, extra = r->len - r->synced, end;
	int rc;

	if (!r->durable) {
		rc = fe->base->remove(fe->base, r->path);
		return rc == LSM_ENOTFOUND ? LSM_OK : rc;
	}
	if (extra && (rng_next(rng) & 1))
		keep += rng_next(rng) % (extra + 1);
	end = keep;
	if (r->alloc > keep && (rng_next(rng) & 1))
		end = r->alloc;
	if (keep == r->len && !r->alloc)
		return LSM_OK;
	if ((rc = fe->base->open(fe->base, r->path, LSM_O_APPEND, &f)))
		return rc;
	rc = fe->base->truncate(fe->base, f, keep);
	if (!rc && end > keep)
		rc = fe->base->truncate(fe->base, f, end);
	int crc = fe->base->close(fe->base, f);
	return rc ? rc : crc;
}

/* The length of path in the base env after a cut.  fe->mu held. */
static int cut_length(struct fault_env *fe, const char *path, uint64_t *len)
{
	lsm_file *f = NULL;
	int rc;

	*len = 0;
	if ((rc = fe->base->open(fe->base, path, LSM_O_READ, &f)))
		return rc;
	rc = fe->base->size(fe->base, f, len);
	int crc = fe->base->close(fe->base, f);
	return rc ? rc : crc;
}

/*
 * Applies the power cut to the base env's files (see the top of the
 * file), forgets all tracking, clears the crash and every injected
 * failure.  LSM_EBUSY (nothing done) while a writable file or a lock is
 * still open through this env; otherwise the first error of the base env,
 * having tried every file.
 */
int lsm_fault_apply_crash(lsm_env *env, uint64_t seed)
{
	struct fault_env *fe = fault_of(env);
	uint64_t rng = seed;
	int rc = LSM_OK;

	pthread_mutex_lock(&fe->mu);
	if (fe->nhandles) {
		rc = LSM_ERR(LSM_EBUSY, "fault env: %zu files still open",
			     fe->nhandles);
		goto out;
	}
	for (struct fault_rec *r = fe->recs; r; r = r->next) {
		int frc = fault_cut(fe, r, &rng);
		if (frc && !rc)
			rc = frc;
	}
	fault_forget(fe);
	fe->crashed = false;
	fe->crash_at = 0;
	fe->fail_append = (struct fault_fail){0};
	fe->fail_sync = (struct fault_fail){0};
out:
	pthread_mutex_unlock(&fe->mu);
	return rc;
}

/*
 * The daemon's power-cut mode: cuts the files now, although the store
 * still has them open (its process is about to _exit, so nobody will
 * use them).  Cuts the power first if that has not happened, applies
 * the cut as lsm_fault_apply_crash does (same choices for the same
 * seed and history), and leaves the env crashed: every later call but
 * close and unlock fails with LSM_EIO.  The records are brought in line
 * with the disk (a vanished file's record dropped, a cut file's length
 * and synced length set to what was kept), so that a second cut, now or
 * by lsm_fault_apply_crash after the closes, changes nothing.  Returns
 * the first error of the base env, having tried every file.
 */
int lsm_fault_apply_crash_now(lsm_env *env, uint64_t seed)
{
	struct fault_env *fe = fault_of(env);
	struct fault_rec *r, *next;
	uint64_t rng = seed;
	int rc = LSM_OK;

	pthread_mutex_lock(&fe->mu);
	fe->crashed = true;
	fe->crash_at = 0;
	for (r = fe->recs; r; r = next) {
		uint64_t len = 0;
		int frc = fault_cut(fe, r, &rng);

		next = r->next;
		if (frc && !rc)
			rc = frc;
		if (!r->durable) {
			rec_drop(fe, r);
			continue;
		}
		if (!frc && !(frc = cut_length(fe, r->path, &len))) {
			r->len = r->synced = len;
			r->alloc = 0;
		} else if (!rc) {
			rc = frc;
		}
	}
	pthread_mutex_unlock(&fe->mu);
	return rc;
}
