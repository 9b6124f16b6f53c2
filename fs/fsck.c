/*
 * fsck.c — `lsmfs fsck STORE [--repair]` and `lsmfs scrub STORE`.
 *
 * fsck works on an unmounted store.  It first takes the store's LOCK just
 * long enough to run lsm_check (every checksum of the manifest, tables and
 * logs, before opening the store replays and drops the logs), then opens
 * the store with lsm_open (which takes the LOCK for good, so a mounted
 * store is refused as in use) and checks the filesystem's invariants
 * (docs/FORMAT-fs.md) over a full scan:
 *   - every record decodes and every key has a known shape;
 *   - the superblock exists and its next-inode counter is above every
 *     inode number in use;
 *   - every directory entry lies in an existing directory and names an
 *     existing inode of the type the entry says (never the root);
 *   - each inode's nlink equals the entries naming it (directories: 2 +
 *     subdirectories, the root included), and a directory's parent field
 *     names the directory holding its entry;
 *   - every directory is reachable from the root and has one parent;
 *   - no chunk lies beyond its file's size or belongs to a missing inode
 *     or to something other than a regular file; no xattr of a missing
 *     inode;
 *   - an orphan record names an inode with nlink 0 and no entries (such
 *     inodes, unlinked while open, are purged at the next mount: a note,
 *     not an error).
 *
 * Passes, so that every decision rests only on passes already complete:
 *   1. a scan of every key but chunks, entries and xattrs (it seeks over
 *      those): inode records into a hash ino -> counters, orphans,
 *      superblock, unknown keys;
 *   2. the entries ("D"): link and subdirectory counts, the parent of
 *      each directory;
 *   3. the chunks ("C") and xattrs ("X"), against the inodes;
 *   4. reachability from the root over the directories' parents, then
 *      the per-inode verdicts (nlink, parent field, unlinked inodes).
 * If a scan cannot read the store (a damaged table), the check stops
 * there and nothing is repaired after it.  Memory: one 56-byte slot per
 * inode (the hash keeps at most 70% of its slots full) plus the few
 * entries that a repair must find again.
 *
 * --repair fixes what needs no guess, each fix one atomic batch (or, for
 * independent deletions, several per batch): keys of unknown shape,
 * entries in missing directories or naming missing inodes or the root,
 * chunks and xattrs of missing inodes, chunks past the size (cut or
 * deleted), entry types, second parents of a directory when its parent
 * field says which entry is the real one; unreachable inodes holding
 * anything go into /lost+found (created if missing) as "#INO", empty ones
 * (an empty regular file, an empty directory) are deleted; orphans are
 * purged; then nlink counts and parent fields are set from the counts and
 * the counter is raised.  A second, read-only run of passes 1-4 then says
 * what is left.  Not repaired: undecodable inode records or superblock, a
 * missing root, a directory with several parents none of which its parent
 * field names, damaged store files (fsck --repair does open a store whose
 * log is damaged in salvage mode, dropping the log from the damage on).
 *
 * Exit codes as e2fsck: 0 clean, 1 errors fixed, 4 errors left, 8 an
 * operational error (bad usage, no store, store in use, out of memory).
 *
 * scrub runs lsm_check alone, without the LOCK, so it works on a mounted
 * store; a progress line goes to stderr when it is a terminal.  Exit 0
 * clean, 4 damage found, 8 operational error.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

#define FSCK_BATCH_OPS 1024  /* independent fixes per batch */
#define FSCK_LF_NAME "lost+found"

/* ck_ino.flags */
enum {
	F_REC = 1 << 0,       /* an inode record exists */
	F_BAD = 1 << 1,       /* ... but does not decode */
	F_ORPHAN = 1 << 2,    /* an orphan record names it */
	F_PMATCH = 1 << 3,    /* dir: an entry lies in its parent field's dir */
	F_DATA = 1 << 4,      /* has chunks or xattrs */
	F_TOP = 1 << 5,       /* dir/inode to link into lost+found */
	F_PURGE = 1 << 6,     /* to purge (orphan) or delete (empty, unlinked) */
	F_GONE = 1 << 7,      /* purged or deleted by the repair */
	F_PAMBIG = 1 << 8,    /* dir: several entries in that directory */
};
enum { R_UNKNOWN, R_VISIT, R_YES, R_NO };

/* Per inode: what the record says and what the scans counted. */
struct ck_ino {
	uint64_t ino;      /* 0: empty slot */
	uint64_t size;
	uint64_t parent;   /* the record's parent field (directories) */
	uint64_t dparent;  /* the directory holding its (kept) entry */
	uint32_t mode, nlink;
	uint32_t links;    /* valid entries naming it */
	uint32_t subdirs;  /* directories: valid entries naming directories */
	uint32_t nentries; /* directories: valid entries in it */
	uint16_t flags;
	uint8_t reach;
};

struct ck_tab {
	struct ck_ino *v;
	size_t cap, n; /* cap a power of two */
};

/* An entry that a repair must find again (second parents, cycles). */
struct ck_dent {
	uint64_t parent, child;
	uint8_t name[FS_NAME_MAX];
	size_t nlen;
	bool drop; /* delete it; else it is a cycle's entry, replaced by
		      the lost+found link */
};

struct ck {
	lsm_db *db;
	FILE *out;         /* problem lines (NULL: count only) */
	bool repair;
	bool failed;       /* a scan could not read the store */
	int oserr;         /* operational error (errno) */
	uint64_t errors, notes;
	struct ck_tab tab;
	bool have_super;
	struct fs_super_rec super;
	uint64_t max_ino;  /* highest inode number in use */
	uint64_t lf_ino;   /* /lost+found, 0 if none */
	bool lf_bad;       /* "lost+found" exists but is no directory */
	uint64_t ninodes, nentries, nchunks, nxattrs, norphans;
	lsm_batch *fix;    /* pending independent fixes */
	struct ck_dent *dents;
	size_t ndents, capdents;
	bool multi;        /* some directory has several parents */
	bool cycles;       /* some directories form a cycle */
};

/* ---------------------------------------------------------------------
 * The inode hash (open addressing, linear probing).
 */
static size_t tab_slot(const struct ck_tab *t, uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 17) & (t->cap - 1);
}

static struct ck_ino *tab_find(const struct ck_tab *t, uint64_t ino)
{
	if (!t->cap || !ino)
		return NULL;
	for (size_t i = tab_slot(t, ino);; i = (i + 1) & (t->cap - 1)) {
		if (t->v[i].ino == ino)
			return &t->v[i];
		if (!t->v[i].ino)
			return NULL;
	}
}

static int tab_grow(struct ck_tab *t)
{
	struct ck_tab n = {NULL, t->cap ? t->cap * 2 : 1024, 0};

	if (!(n.v = calloc(n.cap, sizeof(*n.v))))
		return ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->v[i].ino)
			continue;
		size_t j = tab_slot(&n, t->v[i].ino);

		while (n.v[j].ino)
			j = (j + 1) & (n.cap - 1);
		n.v[j] = t->v[i];
		n.n++;
	}
	free(t->v);
	*t = n;
	return 0;
}

/* The slot of ino, added (zeroed) if missing; NULL on ENOMEM. */
static struct ck_ino *tab_add(struct ck_tab *t, uint64_t ino)
{
	struct ck_ino *e = tab_find(t, ino);
	size_t i;

	if (e)
		return e;
	if ((t->n + 1) * 10 > t->cap * 7 && tab_grow(t))
		return NULL;
	for (i = tab_slot(t, ino); t->v[i].ino; i = (i + 1) & (t->cap - 1))
		;
	t->v[i].ino = ino;
	t->n++;
	return &t->v[i];
}

/* ---------------------------------------------------------------------
 * Reporting
 */
static void ck_line(struct ck *c, const char *kind, const char *fmt, va_list ap)
{
	if (!c->out)
		return;
	if (kind)
		fprintf(c->out, "%s: ", kind);
	vfprintf(c->out, fmt, ap);
	fputc('\n', c->out);
}

static void ck_err(struct ck *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void ck_err(struct ck *c, const char *fmt, ...)
{
	va_list ap;

	c->errors++;
	va_start(ap, fmt);
	ck_line(c, NULL, fmt, ap);
	va_end(ap);
}

static void ck_note(struct ck *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void ck_note(struct ck *c, const char *fmt, ...)
{
	va_list ap;

	c->notes++;
	va_start(ap, fmt);
	ck_line(c, "note", fmt, ap);
	va_end(ap);
}

/* A name for a message: printable ASCII as is, the rest as \ooo. */
static const char *ck_name(char *buf, const uint8_t *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < 4 * FS_NAME_MAX + 8; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			buf[o++] = (char)p[i];
		else
			o += (size_t)sprintf(buf + o, "\\%03o", p[i]);
	}
	buf[o] = 0;
	return buf;
}
#define NAMEBUF (4 * FS_NAME_MAX + 8)

static const char *ck_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "inode of unknown type";
	}
}

static bool ck_isdir(const struct ck_ino *e)
{
	return e && (e->flags & (F_REC | F_BAD)) == F_REC && S_ISDIR(e->mode);
}

/* ---------------------------------------------------------------------
 * Fixes
 */
static int ck_fix_commit(struct ck *c)
{
	int rc;

	if (!c->fix || !lsm_batch_count(c->fix))
		return 0;
	rc = fs_errno(lsm_write(c->db, c->fix, 0));
	lsm_batch_clear(c->fix);
	if (rc && !c->oserr)
		c->oserr = rc;
	return rc;
}

/* Adds one independent fix (a put, or a delete when val is NULL). */
static int ck_fix(struct ck *c, const uint8_t *k, size_t klen,
		  const void *val, size_t vlen)
{
	int rc;

	if (!c->repair)
		return 0;
	if (!c->fix && (rc = fs_errno(lsm_batch_create(&c->fix))))
		return c->oserr = rc;
	rc = val ? lsm_batch_put(c->fix, k, klen, val, vlen)
		 : lsm_batch_delete(c->fix, k, klen);
	if ((rc = fs_errno(rc)))
		return c->oserr = rc;
	if (lsm_batch_count(c->fix) >= FSCK_BATCH_OPS)
		return ck_fix_commit(c);
	return 0;
}

/* ---------------------------------------------------------------------
 * Scans
 */
typedef void (*ck_fn)(struct ck *c, const uint8_t *k, size_t klen,
		      const uint8_t *v, size_t vlen);

/* Calls fn for every key starting with tag.  False if the store could not
 * be read (reported; c->failed set). */
static bool ck_scan(struct ck *c, uint8_t tag, ck_fn fn)
{
	lsm_iter *it = NULL;
	int rc;

	if (c->failed || c->oserr)
		return false;
	if ((rc = lsm_iter_open(c->db, NULL, &it)))
		goto fail;
	for (lsm_iter_seek(it, &tag, 1); lsm_iter_valid(it) && !c->oserr;
	     lsm_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		const uint8_t *v = lsm_iter_value(it, &vlen);

		if (k[0] != tag)
			break;
		fn(c, k, klen, v, vlen);
	}
	rc = lsm_iter_status(it);
	lsm_iter_close(it);
	if (!rc)
		return ck_fix_commit(c) == 0 && !c->oserr;
fail:
	if (rc == LSM_ENOMEM) {
		c->oserr = ENOMEM;
		return false;
	}
	ck_err(c, "cannot read the store: %s (the check stops here)",
	       lsm_last_error());
	c->failed = true;
	return false;
}

static void ck_unknown_key(struct ck *c, const uint8_t *k, size_t klen)
{
	char hex[2 * 24 + 4];
	size_t n = klen < 24 ? klen : 24;

	for (size_t i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", k[i]);
	if (n < klen)
		strcat(hex, "...");
	ck_err(c, "key %s (%zu bytes) has no known shape", hex, klen);
	ck_fix(c, k, klen, NULL, 0);
}

static void ck_inode_rec(struct ck *c, const uint8_t *k, size_t klen,
			 const uint8_t *v, size_t vlen)
{
	struct fs_inode_rec r;
	uint64_t ino;
	struct ck_ino *e;

	if (klen != 9 || !(ino = fs_get_u64be(k + 1))) {
		ck_unknown_key(c, k, klen);
		return;
	}
	if (!(e = tab_add(&c->tab, ino))) {
		c->oserr = ENOMEM;
		return;
	}
	c->ninodes++;
	if (ino > c->max_ino)
		c->max_ino = ino;
	e->flags |= F_REC;
	if (fs_inode_decode(v, vlen, &r)) {
		e->flags |= F_BAD;
		ck_err(c, "inode %llu: the record does not decode (not "
		       "repaired)", (unsigned long long)ino);
		return;
	}
	e->mode = r.a.mode;
	e->nlink = r.a.nlink;
	e->size = r.a.size;
	e->parent = r.a.parent;
}

static void ck_orphan_rec(struct ck *c, const uint8_t *k, size_t klen)
{
	struct ck_ino *e;
	uint64_t ino;

	if (klen != 9 || !(ino = fs_get_u64be(k + 1))) {
		ck_unknown_key(c, k, klen);
		return;
	}
	if (!(e = tab_add(&c->tab, ino))) {
		c->oserr = ENOMEM;
		return;
	}
	e->flags |= F_ORPHAN;
	c->norphans++;
}

static void ck_super_rec(struct ck *c, const uint8_t *k, size_t klen,
			 const uint8_t *v, size_t vlen)
{
	int rc;

	if (klen != 1) {
		ck_unknown_key(c, k, klen);
		return;
	}
	rc = fs_super_decode(v, vlen, &c->super);
	if (rc == EPROTONOSUPPORT) {
		ck_err(c, "superblock: format version %u is newer than this "
		       "lsmfs (%d)", c->super.version, FS_FORMAT_VERSION);
		c->failed = true;
	} else if (rc) {
		ck_err(c, "superblock: the record does not decode (not "
		       "repaired)");
	} else {
		c->have_super = true;
	}
}

/* Pass 1: every key but chunks, entries and xattrs, which it seeks over. */
static bool ck_pass_records(struct ck *c)
{
	lsm_iter *it = NULL;
	int rc;

	if ((rc = lsm_iter_open(c->db, NULL, &it)))
		goto fail;
	lsm_iter_first(it);
	while (lsm_iter_valid(it) && !c->oserr && !c->failed) {
		size_t klen, vlen;
		const uint8_t *k = lsm_iter_key(it, &klen);
		const uint8_t *v = lsm_iter_value(it, &vlen);
		uint8_t next;

		switch (k[0]) {
		case FS_K_CHUNK:
		case FS_K_DIRENT:
		case FS_K_XATTR:
			next = (uint8_t)(k[0] + 1);
			lsm_iter_seek(it, &next, 1);
			continue;
		case FS_K_INODE:
			ck_inode_rec(c, k, klen, v, vlen);
			break;
		case FS_K_ORPHAN:
			ck_orphan_rec(c, k, klen);
			break;
		case FS_K_SUPER:
			ck_super_rec(c, k, klen, v, vlen);
			break;
		default:
			ck_unknown_key(c, k, klen);
			break;
		}
		lsm_iter_next(it);
	}
	rc = lsm_iter_status(it);
	lsm_iter_close(it);
	if (!rc) {
		if (ck_fix_commit(c) || c->oserr || c->failed)
			return false;
		if (!c->have_super) {
			ck_err(c, "superblock: missing or unreadable: the "
			       "chunk size is unknown (the check stops here)");
			c->failed = true;
			return false;
		}
		return true;
	}
fail:
	if (rc == LSM_ENOMEM) {
		c->oserr = ENOMEM;
		return false;
	}
	ck_err(c, "cannot read the store: %s (the check stops here)",
	       lsm_last_error());
	c->failed = true;
	return false;
}

static bool name_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n > FS_NAME_MAX || memchr(p, '/', n) || memchr(p, 0, n))
		return false;
	return !(n == 1 && p[0] == '.') && !(n == 2 && p[0] == '.' && p[1] == '.');
}

/* Pass 2: one directory entry. */
static void ck_dirent(struct ck *c, const uint8_t *k, size_t klen,
		      const uint8_t *v, size_t vlen)
{
	char nb[NAMEBUF];
	uint64_t pino, cino;
	uint32_t type;
	struct ck_ino *p, *ch;
	uint8_t val[16];
	size_t n;

	if (klen < 10) {
		ck_unknown_key(c, k, klen);
		return;
	}
	pino = fs_get_u64be(k + 1);
	ck_name(nb, k + 9, klen - 9);
	c->nentries++;
	if (!name_ok(k + 9, klen - 9)) {
		ck_err(c, "entry '%s' in directory %llu: bad name", nb,
		       (unsigned long long)pino);
		ck_fix(c, k, klen, NULL, 0);
		return;
	}
	if (fs_dirent_decode(v, vlen, &cino, &type)) {
		ck_err(c, "entry '%s' in directory %llu: the record does not "
		       "decode", nb, (unsigned long long)pino);
		ck_fix(c, k, klen, NULL, 0);
		return;
	}
	p = tab_find(&c->tab, pino);
	if (!p || !(p->flags & F_REC)) {
		ck_err(c, "entry '%s' in directory %llu: no such directory", nb,
		       (unsigned long long)pino);
		ck_fix(c, k, klen, NULL, 0);
		return;
	}
	if (!(p->flags & F_BAD) && !S_ISDIR(p->mode)) {
		ck_err(c, "entry '%s' in inode %llu, which is a %s", nb,
		       (unsigned long long)pino, ck_type(p->mode));
		ck_fix(c, k, klen, NULL, 0);
		return;
	}
	ch = tab_find(&c->tab, cino);
	if (!ch || !(ch->flags & F_REC)) {
		ck_err(c, "entry '%s' in directory %llu: inode %llu does not "
		       "exist", nb, (unsigned long long)pino,
		       (unsigned long long)cino);
		ck_fix(c, k, klen, NULL, 0);
		return;
	}
	if (cino == FS_ROOT_INO) {
		ck_err(c, "entry '%s' in directory %llu names the root "
		       "directory", nb, (unsigned long long)pino);
		ck_fix(c, k, klen, NULL, 0);
		return;
	}
	if (!(ch->flags & F_BAD) && type != (ch->mode & S_IFMT) >> 12) {
		ck_err(c, "entry '%s' in directory %llu: says type %u, inode "
		       "%llu is a %s", nb, (unsigned long long)pino, type,
		       (unsigned long long)cino, ck_type(ch->mode));
		if ((n = fs_dirent_encode(cino, (ch->mode & S_IFMT) >> 12, val,
					  sizeof(val))))
			ck_fix(c, k, klen, val, n);
	}
	if (pino == FS_ROOT_INO && klen - 9 == strlen(FSCK_LF_NAME) &&
	    !memcmp(k + 9, FSCK_LF_NAME, klen - 9)) {
		if (ck_isdir(ch))
			c->lf_ino = cino;
		else
			c->lf_bad = true;
	}
	ch->links++;
	p->nentries++;
	if (ck_isdir(ch)) {
		p->subdirs++;
		if (ch->links == 1 || pino == ch->parent)
			ch->dparent = pino;
		if (pino == ch->parent)
			ch->flags |= ch->flags & F_PMATCH ? F_PAMBIG : F_PMATCH;
		if (ch->links == 2)
			c->multi = true;
	}
}

/* Pass 3a: one chunk. */
static void ck_chunk(struct ck *c, const uint8_t *k, size_t klen,
		     const uint8_t *v, size_t vlen)
{
	uint64_t ino, idx, off, cs = c->super.chunk_size;
	struct ck_ino *e;

	if (klen != 17) {
		ck_unknown_key(c, k, klen);
		return;
	}
	c->nchunks++;
	ino = fs_get_u64be(k + 1);
	idx = fs_get_u64be(k + 9);
	e = tab_find(&c->tab, ino);
	if (e)
		e->flags |= F_DATA;
	if (!e || !(e->flags & F_REC)) {
		if (e && (e->flags & F_ORPHAN))
			return; /* an orphan's purge in progress */
		ck_err(c, "chunk %llu of inode %llu: no such inode",
		       (unsigned long long)idx, (unsigned long long)ino);
		ck_fix(c, k, klen, NULL, 0);
		return;
	}
	if (e->flags & F_BAD)
		return;
	if (!S_ISREG(e->mode)) {
		ck_err(c, "chunk %llu of inode %llu, which is a %s",
		       (unsigned long long)idx, (unsigned long long)ino,
		       ck_type(e->mode));
		ck_fix(c, k, klen, NULL, 0);
		return;
	}
	if (idx > UINT64_MAX / cs || (off = idx * cs) >= e->size) {
		ck_err(c, "chunk %llu of inode %llu lies beyond the file's "
		       "size %llu", (unsigned long long)idx,
		       (unsigned long long)ino, (unsigned long long)e->size);
		ck_fix(c, k, klen, NULL, 0);
		return;
	}
	if (vlen > cs || vlen > e->size - off) {
		size_t keep = (size_t)(e->size - off < cs ? e->size - off : cs);

		ck_err(c, "chunk %llu of inode %llu: %zu bytes reach past the "
		       "file's size %llu (cut to %zu)", (unsigned long long)idx,
		       (unsigned long long)ino, vlen,
		       (unsigned long long)e->size, keep);
		ck_fix(c, k, klen, v, keep);
	}
}

/* Pass 3b: one xattr. */
static void ck_xattr(struct ck *c, const uint8_t *k, size_t klen,
		     const uint8_t *v, size_t vlen)
{
	char nb[NAMEBUF];
	struct ck_ino *e;
	uint64_t ino;

	(void)v;
	if (klen < 10 || klen > 9 + FS_XATTR_NAME_MAX) {
		ck_unknown_key(c, k, klen);
		return;
	}
	c->nxattrs++;
	ino = fs_get_u64be(k + 1);
	e = tab_find(&c->tab, ino);
	if (e)
		e->flags |= F_DATA;
	if (e && (e->flags & F_REC)) {
		if (vlen > FS_XATTR_SIZE_MAX)
			ck_err(c, "xattr '%s' of inode %llu: %zu bytes is too "
			       "large (not repaired)",
			       ck_name(nb, k + 9, klen - 9),
			       (unsigned long long)ino, vlen);
		return;
	}
	if (e && (e->flags & F_ORPHAN))
		return;
	ck_err(c, "xattr '%s' of inode %llu: no such inode",
	       ck_name(nb, k + 9, klen - 9), (unsigned long long)ino);
	ck_fix(c, k, klen, NULL, 0);
}

/* ---------------------------------------------------------------------
 * Verdicts
 */

/* Whether e will be purged as an orphan: named by an orphan record and
 * by no entry (what a mount would purge). */
static bool ck_is_orphan(const struct ck_ino *e)
{
	return (e->flags & F_ORPHAN) && e->links == 0;
}

/* Marks every directory reachable or not by following the parents of the
 * entries naming them; flags the top of each unreachable subtree (no
 * entry names it) and one directory of each cycle with F_TOP. */
static int ck_reach(struct ck *c)
{
	struct ck_ino **stack = NULL;
	size_t cap = 0;
	int rc = 0;

	for (size_t i = 0; i < c->tab.cap; i++) {
		struct ck_ino *e = &c->tab.v[i], *x = e;
		size_t n = 0;
		uint8_t st;

		if (!e->ino || !ck_isdir(e) || e->reach != R_UNKNOWN)
			continue;
		for (;;) {
			if (x->ino == FS_ROOT_INO || (x->flags & F_BAD)) {
				st = R_YES;
				break;
			}
			if (x->reach == R_YES || x->reach == R_NO) {
				st = x->reach;
				break;
			}
			if (x->reach == R_VISIT) {
				x->flags |= F_TOP; /* breaks the cycle */
				c->cycles = true;
				st = R_NO;
				break;
			}
			if (n == cap) {
				struct ck_ino **ns = realloc(stack, (cap = cap ? 2 * cap : 64) * sizeof(*ns));

				if (!ns) {
					rc = ENOMEM;
					goto out;
				}
				stack = ns;
			}
			x->reach = R_VISIT;
			stack[n++] = x;
			if (x->links == 0 || !tab_find(&c->tab, x->dparent)) {
				if (!ck_is_orphan(x))
					x->flags |= F_TOP;
				st = R_NO;
				break;
			}
			x = tab_find(&c->tab, x->dparent);
		}
		while (n)
			stack[--n]->reach = st;
	}
	for (size_t i = 0; i < c->tab.cap; i++) {
		struct ck_ino *e = &c->tab.v[i];

		if (e->ino == FS_ROOT_INO && ck_isdir(e))
			e->reach = R_YES;
	}
out:
	free(stack);
	return rc;
}

/* Whether exactly one entry naming directory e lies in the directory its
 * parent field names (that entry is the real one). */
static bool ck_parent_known(const struct ck_ino *e)
{
	return (e->flags & (F_PMATCH | F_PAMBIG)) == F_PMATCH;
}

static uint32_t ck_expected_nlink(const struct ck_ino *e)
{
	return S_ISDIR(e->mode) ? 2 + e->subdirs : e->links;
}

/* Whether an unlinked inode holds nothing worth keeping. */
static bool ck_empty(const struct ck_ino *e)
{
	if (e->flags & F_DATA)
		return false;
	if (S_ISREG(e->mode))
		return e->size == 0;
	if (S_ISDIR(e->mode))
		return e->nentries == 0;
	return false;
}

/* Judges every inode once the scans are done. */
static void ck_verdicts(struct ck *c)
{
	struct ck_ino *root = tab_find(&c->tab, FS_ROOT_INO);

	if (!ck_isdir(root) && !(root && (root->flags & F_BAD))) {
		ck_err(c, "the root directory (inode 1) is missing or not a "
		       "directory (not repaired)");
		c->failed = true; /* nothing can be linked anywhere */
		return;
	}
	if (root && ck_isdir(root) && root->parent != FS_ROOT_INO) {
		ck_err(c, "the root directory's parent field says %llu, not 1",
		       (unsigned long long)root->parent);
		root->dparent = FS_ROOT_INO;
	}
	if (c->max_ino >= c->super.next_ino)
		ck_err(c, "superblock: next inode number %llu is not above "
		       "inode %llu, which is in use",
		       (unsigned long long)c->super.next_ino,
		       (unsigned long long)c->max_ino);
	for (size_t i = 0; i < c->tab.cap; i++) {
		struct ck_ino *e = &c->tab.v[i];
		unsigned long long ino = e->ino;

		if (!e->ino)
			continue;
		if (!(e->flags & F_REC) || (e->flags & F_BAD)) {
			if (!(e->flags & F_REC))
				ck_note(c, "orphan record of inode %llu, whose "
					"record is already gone: purged at the "
					"next mount or by fsck --repair", ino);
			if (!(e->flags & F_REC))
				e->flags |= F_PURGE;
			continue;
		}
		if (ck_is_orphan(e)) {
			ck_note(c, "inode %llu (%s) was unlinked while in use: "
				"purged at the next mount or by fsck --repair",
				ino, ck_type(e->mode));
			e->flags |= F_PURGE;
			continue;
		}
		if (e->flags & F_ORPHAN) {
			uint8_t k[FS_KEY_MAX];

			ck_err(c, "inode %llu has an orphan record but %u "
			       "entries name it", ino, e->links);
			ck_fix(c, k, fs_key_orphan(k, e->ino), NULL, 0);
		}
		if (ck_isdir(e) && (e->flags & F_TOP) && e->links) {
			ck_err(c, "directory %llu is unreachable: its parents "
			       "form a cycle", ino);
		} else if (e->links == 0 && e->ino != FS_ROOT_INO) {
			e->flags |= F_TOP;
			if (ck_empty(e))
				e->flags |= F_PURGE;
			ck_err(c, "inode %llu (%s, nlink %u) is not linked "
			       "anywhere%s", ino, ck_type(e->mode), e->nlink,
			       ck_empty(e) ? " and is empty" : "");
			continue;
		}
		if (ck_isdir(e) && e->links > 1)
			ck_err(c, "directory %llu is named by %u entries%s", ino,
			       e->links, ck_parent_known(e) ? "" :
			       ", and its parent field does not tell which "
			       "is real (not repaired)");
		if (e->nlink != ck_expected_nlink(e))
			ck_err(c, "inode %llu (%s): nlink %u, should be %u", ino,
			       ck_type(e->mode), e->nlink, ck_expected_nlink(e));
		if (ck_isdir(e) && e->ino != FS_ROOT_INO && e->links == 1 &&
		    e->parent != e->dparent)
			ck_err(c, "directory %llu: parent field says %llu, its "
			       "entry is in %llu", ino,
			       (unsigned long long)e->parent,
			       (unsigned long long)e->dparent);
	}
}

/* ---------------------------------------------------------------------
 * Repair
 */

/* Deletes every key of ino (chunks, xattrs, entries if a directory, the
 * record, the orphan record last), in batches. */
static int ck_purge(struct ck *c, uint64_t ino)
{
	static const uint8_t tags[] = {FS_K_CHUNK, FS_K_XATTR, FS_K_DIRENT};
	uint8_t pre[9], k[FS_KEY_MAX];
	lsm_iter *it = NULL;
	int rc = 0;

	for (size_t t = 0; t < sizeof(tags) && !rc; t++) {
		fs_key_prefix(pre, tags[t], ino);
		if ((rc = fs_errno(lsm_iter_open(c->db, NULL, &it))))
			break;
		for (lsm_iter_seek(it, pre, 9); lsm_iter_valid(it) && !rc;
		     lsm_iter_next(it)) {
			size_t klen;
			const uint8_t *key = lsm_iter_key(it, &klen);

			if (klen < 9 || memcmp(key, pre, 9))
				break;
			rc = ck_fix(c, key, klen, NULL, 0);
		}
		if (!rc)
			rc = fs_errno(lsm_iter_status(it));
		lsm_iter_close(it);
		it = NULL;
	}
	if (!rc)
		rc = ck_fix_commit(c);
	if (!rc)
		rc = ck_fix(c, k, fs_key_inode(k, ino), NULL, 0);
	if (!rc)
		rc = ck_fix_commit(c);
	if (!rc)
		rc = ck_fix(c, k, fs_key_orphan(k, ino), NULL, 0);
	if (!rc)
		rc = ck_fix_commit(c);
	return rc;
}

/* Rewrites ino's record with nlink and parent (0: keep) into b. */
static int ck_rewrite_inode(struct ck *c, lsm_batch *b, uint64_t ino,
			    uint32_t nlink, uint64_t parent)
{
	uint8_t k[FS_KEY_MAX], buf[FS_INODE_REC_MAX];
	struct fs_inode_rec r;
	void *val = NULL;
	size_t vlen, klen = fs_key_inode(k, ino), n;
	int rc;

	if ((rc = fs_errno(lsm_get(c->db, NULL, k, klen, &val, &vlen))))
		goto out;
	if ((rc = fs_inode_decode(val, vlen, &r)))
		goto out;
	r.a.nlink = nlink;
	if (parent)
		r.a.parent = parent;
	if (!(n = fs_inode_encode(&r.a, (const char *)r.target, r.target_len,
				  buf, sizeof(buf)))) {
		rc = EIO;
		goto out;
	}
	rc = fs_errno(lsm_batch_put(b, k, klen, buf, n));
out:
	free(val);
	return rc;
}

static int ck_put_super(struct ck *c, lsm_batch *b)
{
	uint8_t k[FS_KEY_MAX], v[128];
	size_t n = fs_super_encode(&c->super, v, sizeof(v));

	if (!n)
		return EIO;
	return fs_errno(lsm_batch_put(b, k, fs_key_super(k), v, n));
}

/* Creates /lost+found (one batch: superblock, inode, entry). */
static int ck_make_lf(struct ck *c)
{
	struct fs_attr a = {0};
	uint8_t k[FS_KEY_MAX], v[FS_INODE_REC_MAX];
	struct ck_ino *e, *root = tab_find(&c->tab, FS_ROOT_INO);
	lsm_batch *b = NULL;
	size_t n;
	int rc;

	if (c->super.next_ino <= c->max_ino)
		c->super.next_ino = c->max_ino + 1;
	a.ino = c->super.next_ino++;
	a.mode = S_IFDIR | 0700;
	a.nlink = 2;
	a.gen = 1;
	a.parent = FS_ROOT_INO;
	fs_now(&a.mtime, &a.mtime_ns);
	a.atime = a.ctime = a.mtime;
	a.atime_ns = a.ctime_ns = a.mtime_ns;
	if ((rc = fs_errno(lsm_batch_create(&b))))
		return rc;
	if ((rc = ck_put_super(c, b)))
		goto out;
	if (!(n = fs_inode_encode(&a, NULL, 0, v, sizeof(v)))) {
		rc = EIO;
		goto out;
	}
	if ((rc = fs_errno(lsm_batch_put(b, k, fs_key_inode(k, a.ino), v, n))))
		goto out;
	n = fs_dirent_encode(a.ino, S_IFDIR >> 12, v, sizeof(v));
	if ((rc = fs_errno(lsm_batch_put(b, k, fs_key_dirent(k, FS_ROOT_INO,
				FSCK_LF_NAME, strlen(FSCK_LF_NAME)), v, n))))
		goto out;
	if ((rc = fs_errno(lsm_write(c->db, b, 0))))
		goto out;
	if (!(e = tab_add(&c->tab, a.ino))) {
		rc = ENOMEM;
		goto out;
	}
	root = tab_find(&c->tab, FS_ROOT_INO); /* the table may have moved */
	e->flags = F_REC;
	e->mode = a.mode;
	e->nlink = 2;
	e->parent = e->dparent = FS_ROOT_INO;
	e->links = 1;
	e->reach = R_YES;
	c->max_ino = a.ino;
	root->subdirs++;
	root->nentries++;
	c->lf_ino = a.ino;
	if (c->out)
		fprintf(c->out, "repair: created /%s (inode %llu)\n",
			FSCK_LF_NAME, (unsigned long long)a.ino);
out:
	lsm_batch_destroy(b);
	return rc;
}

/* Links e into /lost+found as "#INO" (one batch: the entry, the inode's
 * record, and the removal of a cycle's entry if any). */
static int ck_link_lf(struct ck *c, struct ck_ino *e)
{
	uint8_t k[FS_KEY_MAX], v[16];
	char name[40];
	size_t klen = 0, nlen, n;
	struct ck_ino *lf = tab_find(&c->tab, c->lf_ino);
	lsm_batch *b = NULL;
	int rc;

	for (int i = 0; i < 1000; i++) {
		void *val = NULL;
		size_t vlen;

		nlen = (size_t)(i ? snprintf(name, sizeof(name), "#%llu.%d",
					     (unsigned long long)e->ino, i)
				  : snprintf(name, sizeof(name), "#%llu",
					     (unsigned long long)e->ino));
		klen = fs_key_dirent(k, c->lf_ino, name, nlen);
		rc = lsm_get(c->db, NULL, k, klen, &val, &vlen);
		free(val);
		if (rc == LSM_ENOTFOUND)
			break;
		if (rc)
			return fs_errno(rc);
	}
	if ((rc = fs_errno(lsm_batch_create(&b))))
		return rc;
	n = fs_dirent_encode(e->ino, (e->mode & S_IFMT) >> 12, v, sizeof(v));
	if ((rc = fs_errno(lsm_batch_put(b, k, klen, v, n))))
		goto out;
	for (size_t i = 0; i < c->ndents; i++) {
		struct ck_dent *d = &c->dents[i];
		struct ck_ino *p;

		if (d->child != e->ino || d->drop)
			continue;
		/* the cycle's entry goes in the same batch */
		if ((rc = fs_errno(lsm_batch_delete(b, k, fs_key_dirent(k,
				d->parent, (const char *)d->name, d->nlen)))))
			goto out;
		if ((p = tab_find(&c->tab, d->parent))) {
			p->subdirs--;
			p->nentries--;
		}
		e->links--;
	}
	if ((rc = ck_rewrite_inode(c, b, e->ino, S_ISDIR(e->mode) ?
				   e->nlink : e->links + 1,
				   S_ISDIR(e->mode) ? c->lf_ino : 0)))
		goto out;
	if ((rc = fs_errno(lsm_write(c->db, b, 0))))
		goto out;
	e->links++;
	e->dparent = c->lf_ino;
	if (S_ISDIR(e->mode)) {
		e->parent = c->lf_ino;
		lf->subdirs++;
	}
	lf->nentries++;
	if (c->out)
		fprintf(c->out, "repair: inode %llu linked as /%s/%s\n",
			(unsigned long long)e->ino, FSCK_LF_NAME, name);
out:
	lsm_batch_destroy(b);
	return rc;
}

static int ck_dent_add(struct ck *c, uint64_t parent, uint64_t child,
		       const uint8_t *name, size_t nlen, bool drop)
{
	struct ck_dent *d;

	if (c->ndents == c->capdents) {
		size_t cap = c->capdents ? 2 * c->capdents : 16;
		struct ck_dent *nd = realloc(c->dents, cap * sizeof(*nd));

		if (!nd)
			return ENOMEM;
		c->dents = nd;
		c->capdents = cap;
	}
	d = &c->dents[c->ndents++];
	d->parent = parent;
	d->child = child;
	memcpy(d->name, name, nlen);
	d->nlen = nlen;
	d->drop = drop;
	return 0;
}

/* Pass 2 again, for repairs: finds the extra entries of directories with
 * several parents (dropped when the parent field says which one is real)
 * and the entries that close cycles. */
static void ck_dirent_again(struct ck *c, const uint8_t *k, size_t klen,
			    const uint8_t *v, size_t vlen)
{
	uint64_t pino = klen >= 10 ? fs_get_u64be(k + 1) : 0, cino;
	uint32_t type;
	struct ck_ino *ch, *p;

	if (klen < 10 || !name_ok(k + 9, klen - 9) ||
	    fs_dirent_decode(v, vlen, &cino, &type))
		return;
	ch = tab_find(&c->tab, cino);
	p = tab_find(&c->tab, pino);
	if (!ck_isdir(ch) || !p || !(p->flags & F_REC))
		return;
	if (ch->links > 1 && ck_parent_known(ch) && pino != ch->parent) {
		if (ck_dent_add(c, pino, cino, k + 9, klen - 9, true))
			c->oserr = ENOMEM;
	} else if ((ch->flags & F_TOP) && ch->links && pino == ch->dparent) {
		if (ck_dent_add(c, pino, cino, k + 9, klen - 9, false))
			c->oserr = ENOMEM;
	}
}

static bool ck_needs_link(const struct ck_ino *e)
{
	return e->ino && (e->flags & (F_REC | F_BAD | F_TOP | F_GONE)) ==
			 (F_REC | F_TOP);
}

static int ck_repair(struct ck *c)
{
	uint8_t k[FS_KEY_MAX];
	lsm_batch *b = NULL;
	int rc;

	if ((rc = ck_fix_commit(c))) /* the verdicts' fixes */
		return rc;
	if (c->multi || c->cycles) {
		if (!ck_scan(c, FS_K_DIRENT, ck_dirent_again))
			return c->oserr ? c->oserr : EIO;
		for (size_t i = 0; i < c->ndents; i++) {
			struct ck_dent *d = &c->dents[i];
			struct ck_ino *ch = tab_find(&c->tab, d->child);
			struct ck_ino *p = tab_find(&c->tab, d->parent);

			if (!d->drop)
				continue;
			if ((rc = ck_fix(c, k, fs_key_dirent(k, d->parent,
					(const char *)d->name, d->nlen), NULL, 0)))
				return rc;
			ch->links--;
			p->subdirs--;
			p->nentries--;
		}
		if ((rc = ck_fix_commit(c)))
			return rc;
	}
	/* Purges and deletions, then links into lost+found. */
	for (size_t i = 0; i < c->tab.cap; i++) {
		struct ck_ino *e = &c->tab.v[i];

		if (!e->ino || !(e->flags & F_PURGE))
			continue;
		if ((rc = ck_purge(c, e->ino)))
			return rc;
		e->flags |= F_GONE;
	}
	/* /lost+found first: creating it may grow (and rehash) the table. */
	for (size_t i = 0; i < c->tab.cap && !c->lf_ino && !c->lf_bad; i++)
		if (ck_needs_link(&c->tab.v[i]) && (rc = ck_make_lf(c)))
			return rc;
	for (size_t i = 0; i < c->tab.cap && c->lf_ino; i++)
		if (ck_needs_link(&c->tab.v[i]) &&
		    (rc = ck_link_lf(c, &c->tab.v[i])))
			return rc;
	/* nlink counts and parent fields. */
	if ((rc = fs_errno(lsm_batch_create(&b))))
		return rc;
	for (size_t i = 0; i < c->tab.cap; i++) {
		struct ck_ino *e = &c->tab.v[i];
		uint64_t parent = 0;

		if (!e->ino || (e->flags & (F_GONE | F_BAD)) ||
		    !(e->flags & F_REC) || (e->links == 0 && e->ino != FS_ROOT_INO))
			continue;
		if (ck_isdir(e) && e->links <= 1 && e->parent !=
		    (e->ino == FS_ROOT_INO ? FS_ROOT_INO : e->dparent))
			parent = e->ino == FS_ROOT_INO ? FS_ROOT_INO : e->dparent;
		if (e->nlink == ck_expected_nlink(e) && !parent)
			continue;
		if ((rc = ck_rewrite_inode(c, b, e->ino, ck_expected_nlink(e),
					   parent)))
			goto out;
		if (lsm_batch_count(b) >= FSCK_BATCH_OPS) {
			if ((rc = fs_errno(lsm_write(c->db, b, 0))))
				goto out;
			lsm_batch_clear(b);
		}
	}
	if (c->super.next_ino <= c->max_ino) {
		c->super.next_ino = c->max_ino + 1;
		if ((rc = ck_put_super(c, b)))
			goto out;
	}
	if (lsm_batch_count(b))
		rc = fs_errno(lsm_write(c->db, b, 0));
out:
	lsm_batch_destroy(b);
	return rc;
}

/* ---------------------------------------------------------------------
 * Driver
 */

/* Passes 1-4 over the open store; results in c. */
static void ck_analyse(struct ck *c)
{
	int rc;

	if (!ck_pass_records(c) || !ck_scan(c, FS_K_DIRENT, ck_dirent) ||
	    !ck_scan(c, FS_K_CHUNK, ck_chunk) ||
	    !ck_scan(c, FS_K_XATTR, ck_xattr))
		return;
	if ((rc = ck_reach(c))) {
		c->oserr = rc;
		return;
	}
	ck_verdicts(c);
}

static void ck_free(struct ck *c)
{
	lsm_batch_destroy(c->fix);
	free(c->tab.v);
	free(c->dents);
}

struct store_lines {
	FILE *out;
	bool tty;     /* progress on stderr */
	bool shown;   /* a progress line is on the terminal */
	uint64_t last_us;
};

static void progress_clear(struct store_lines *sl)
{
	if (sl->shown)
		fputs("\r\033[K", stderr);
	sl->shown = false;
}

static void store_problem(void *ctx, int error, const char *line)
{
	struct store_lines *sl = ctx;

	progress_clear(sl);
	if (sl->out)
		fprintf(sl->out, "%s%s\n", error ? "" : "note: ", line);
	if (sl->out)
		fflush(sl->out);
}

static void store_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct store_lines *sl = ctx;
	struct timespec ts;
	uint64_t now;

	if (!sl->tty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	if (done < total && now - sl->last_us < 200000)
		return;
	sl->last_us = now;
	fprintf(stderr, "\rscrub: %3d%%  %llu of %llu MiB",
		total ? (int)(done * 100 / total) : 100,
		(unsigned long long)(done >> 20),
		(unsigned long long)(total >> 20));
	sl->shown = true;
}

/* Whether dir looks like a store (has CURRENT); prints why not. */
static bool is_store(const char *store, FILE *err)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/CURRENT", store);
	if (stat(store, &st) == 0 && S_ISDIR(st.st_mode) && stat(path, &st) == 0)
		return true;
	fprintf(err, "lsmfs: %s is not an lsmfs store\n", store);
	return false;
}

/* lsm_check under the store's LOCK.  Returns 0, or an exit code. */
static int fsck_store_files(const char *store, FILE *out,
			    struct lsm_check_report *rep)
{
	struct store_lines sl = {.out = out};
	struct lsm_check_opts co = {.problem = store_problem, .ctx = &sl};
	lsm_env *env = lsm_env_posix();
	lsm_file *lock = NULL;
	char path[PATH_MAX];
	int rc;

	snprintf(path, sizeof(path), "%s/LOCK", store);
	if ((rc = env->lock(env, path, &lock))) {
		if (rc == LSM_EBUSY)
			fprintf(stderr, "lsmfs: %s is in use (mounted?): "
				"unmount it first, or use lsmfs scrub\n", store);
		else
			fprintf(stderr, "lsmfs: %s: %s\n", store,
				lsm_last_error());
		return 8;
	}
	rc = lsm_check(store, &co, rep);
	env->unlock(env, lock);
	if (rc) {
		fprintf(stderr, "lsmfs: cannot check %s: %s\n", store,
			lsm_last_error());
		return 8;
	}
	return 0;
}

int fs_fsck(const char *store, const struct fs_fsck_opts *o,
	    struct fs_fsck_result *res)
{
	struct lsm_check_report rep;
	struct lsm_options opt;
	struct ck c = {0}, v = {0};
	FILE *out = o->out ? o->out : stdout;
	lsm_db *db = NULL;
	uint64_t store_left, fs_left;
	bool repair_fs;
	int rc, code = 8;

	memset(res, 0, sizeof(*res));
	if (!is_store(store, stderr))
		return 8;
	if ((code = fsck_store_files(store, out, &rep)))
		return code;
	code = 8;
	store_left = rep.errors;
	res->notes = rep.notes;
	lsm_options_init(&opt);
	opt.create_if_missing = 0;
	opt.salvage = o->repair && rep.log_errors;
	if ((rc = lsm_open(store, &opt, &db))) {
		if (rc == LSM_EBUSY)
			fprintf(stderr, "lsmfs: %s is in use (mounted?): "
				"unmount it first, or use lsmfs scrub\n", store);
		else if (rc == LSM_ENOMEM || !rep.errors)
			fprintf(stderr, "lsmfs: cannot open %s: %s\n", store,
				lsm_last_error());
		if (rc == LSM_ENOMEM || rc == LSM_EBUSY || !rep.errors)
			goto out;
		fprintf(out, "cannot check the filesystem: the store does not "
			"open: %s\n", lsm_last_error());
		if (rep.log_errors)
			fprintf(out, "(fsck --repair opens it in salvage mode, "
				"dropping each damaged log from the damage on; "
				"mount with -o ro,salvage to copy files out "
				"first)\n");
		res->found = rep.errors;
		res->left = rep.errors;
		code = 4;
		goto summary;
	}
	if (opt.salvage) {
		fprintf(out, "repair: opened the store in salvage mode: each "
			"damaged log was cut at its damage\n");
		store_left -= rep.log_errors;
	}
	repair_fs = o->repair && store_left == 0;
	if (o->repair && !repair_fs)
		fprintf(out, "not repairing the filesystem: the store's files "
			"are damaged (mount with -o ro to copy out what is "
			"intact)\n");
	c.db = db;
	c.out = out;
	c.repair = repair_fs;
	ck_analyse(&c);
	if (repair_fs && !c.failed && !c.oserr && (c.errors || c.notes) &&
	    (rc = ck_repair(&c)) && !c.oserr)
		c.oserr = rc;
	fs_left = c.errors;
	if (repair_fs && !c.oserr && c.errors) {
		v.db = db;
		v.out = NULL;
		ck_analyse(&v);
		if (v.errors) {
			fprintf(out, "left after the repair:\n");
			ck_free(&v);
			memset(&v, 0, sizeof(v));
			v.db = db;
			v.out = out;
			ck_analyse(&v);
		}
		fs_left = v.errors;
		if (v.oserr)
			c.oserr = v.oserr;
	}
	res->found = rep.errors + c.errors;
	res->left = store_left + fs_left;
	res->fixed = res->found > res->left ? res->found - res->left : 0;
	res->notes += c.notes;
	res->inodes = c.ninodes;
	res->entries = c.nentries;
	res->chunks = c.nchunks;
	res->xattrs = c.nxattrs;
	if ((rc = lsm_close(db)) && !c.oserr) {
		fprintf(stderr, "lsmfs: closing %s: %s\n", store,
			lsm_strerror(rc));
		c.oserr = fs_errno(rc);
	}
	db = NULL;
	if (c.oserr) {
		fprintf(stderr, "lsmfs: fsck of %s stopped: %s\n", store,
			strerror(c.oserr));
		code = 8;
		goto out;
	}
	code = !res->found ? 0 : !res->left ? 1 : 4;
summary:
	if (!res->found)
		fprintf(out, "%s: clean: %llu inodes, %llu entries, %llu "
			"chunks, %llu xattrs; %llu store files, %llu MiB "
			"checked\n", store, (unsigned long long)res->inodes,
			(unsigned long long)res->entries,
			(unsigned long long)res->chunks,
			(unsigned long long)res->xattrs,
			(unsigned long long)rep.files,
			(unsigned long long)(rep.bytes >> 20));
	else
		fprintf(out, "%s: %llu errors found, %llu fixed, %llu left\n",
			store, (unsigned long long)res->found,
			(unsigned long long)res->fixed,
			(unsigned long long)res->left);
out:
	if (db)
		lsm_close(db);
	ck_free(&c);
	ck_free(&v);
	fflush(out);
	return code;
}

int fs_scrub(const char *store, FILE *out, struct lsm_check_report *rep)
{
	struct store_lines sl = {.out = out ? out : stdout,
				 .tty = isatty(STDERR_FILENO) == 1};
	struct lsm_check_opts co = {.problem = store_problem,
				    .progress = store_progress, .ctx = &sl};
	int rc;

	if (!is_store(store, stderr))
		return 8;
	rc = lsm_check(store, &co, rep);
	progress_clear(&sl);
	if (rc) {
		fprintf(stderr, "lsmfs: cannot scrub %s: %s\n", store,
			lsm_last_error());
		return 8;
	}
	fprintf(sl.out, "%s: scrub: %llu tables, %llu logs, %llu MiB read: "
		"%s", store, (unsigned long long)rep->tables,
		(unsigned long long)rep->logs,
		(unsigned long long)(rep->bytes >> 20),
		rep->errors ? "" : "clean\n");
	if (rep->errors)
		fprintf(sl.out, "%llu errors\n", (unsigned long long)rep->errors);
	fflush(sl.out);
	return rep->errors ? 4 : 0;
}

static void fsck_usage(FILE *f)
{
	fprintf(f,
"usage: lsmfs fsck STORE [--repair]\n"
"       lsmfs scrub STORE\n"
"fsck checks an unmounted store: every checksum, then the filesystem's\n"
"invariants; --repair fixes what needs no guess (see lsmfs --help).\n"
"Exit: 0 clean, 1 errors fixed, 4 errors left, 8 operational error.\n"
"scrub checks every checksum of a store, mounted or not.\n"
"Exit: 0 clean, 4 damage found, 8 operational error.\n");
}

int fs_fsck_main(int argc, char **argv)
{
	struct fs_fsck_opts o = {0};
	struct fs_fsck_result res;
	struct lsm_check_report rep;
	bool scrub = !strcmp(argv[0], "scrub");
	const char *store = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fsck_usage(stdout);
			return 0;
		} else if (!scrub && !strcmp(argv[i], "--repair")) {
			o.repair = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "lsmfs %s: unknown option: %s\n", argv[0],
				argv[i]);
			fsck_usage(stderr);
			return 8;
		} else if (!store) {
			store = argv[i];
		} else {
			fprintf(stderr, "lsmfs %s: unexpected argument: %s\n",
				argv[0], argv[i]);
			fsck_usage(stderr);
			return 8;
		}
	}
	if (!store) {
		fsck_usage(stderr);
		return 8;
	}
	if (scrub)
		return fs_scrub(store, stdout, &rep);
	return fs_fsck(store, &o, &res);
}
