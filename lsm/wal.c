/*
 * wal.c — the write-ahead log: append-only files NNNNNN.log, one record
 * per group commit, replayed into a fresh memtable at open.
 *
 * Every write reaches a log record before the memtable, so after a crash
 * the memtable can be rebuilt from the logs newer than the last flush.
 * This file owns the log format below; batch.c encodes and decodes the
 * CBOR payload (lsm_wal_encode / lsm_wal_decode) and the writer here
 * only appends ready-made frames, syncs, and replays.
 *
 * WAL record format, version LSM_WAL_VERSION (1).  Bump it on any change.
 *
 *   file    := frame*
 *   frame   := len:u32le crc:u32le payload[len]
 *     bytes 0..3  len, little-endian, the payload's length in bytes;
 *                 1 <= len <= LSM_WAL_MAX_PAYLOAD (2 * LSM_MAX_VALUE)
 *     bytes 4..7  crc, little-endian, CRC32C (Castagnoli) of the payload
 *                 bytes only, started from 0
 *     bytes 8..   the payload: one CBOR item (RFC 8949), nothing after it
 *   payload := CBOR array(2) [seq, ops]
 *     seq     uint: the sequence number of the first op
 *     ops     array(count) of op, count <= 2^32-1; the i-th op (from 0)
 *             has sequence number seq + i, and seq + count - 1 must not
 *             pass LSM_SEQ_MAX (2^56 - 1)
 *   op      := array(3) [1, key, value]    put
 *            | array(2) [0, key]           delete
 *     key     bstr of 1..LSM_MAX_KEY bytes
 *     value   bstr of 0..LSM_MAX_VALUE bytes (an empty value is a value)
 *   Every array and byte string has a definite length; no other CBOR
 *   type (negative ints, text, maps, tags, floats, simple values) may
 *   appear.  Integers are written in their shortest form; a longer form
 *   is accepted on reading.
 *
 *   Example: put("k", "v") at seq 5 is the payload
 *     82 05 81 83 01 41 6b 41 76
 *   (array(2), 5, array(1), array(3), 1, bstr "k", bstr "v"), so the
 *   frame is 09 00 00 00, crc32c of those 9 bytes little-endian, payload.
 *
 * Group commit: the writer at the head of db.c's queue concatenates the
 * op items of the waiting batches (lsm_batch_append) and writes ONE
 * record for them all, with the first batch's seq; the batches' ops get
 * consecutive sequence numbers in queue order.  A record is thus atomic:
 * replay applies all of its ops or none.
 *
 * Writing.  A log is written through append windows when the env has
 * them (lsm.h: map_append, commit): the env preallocates the next
 * LSM_WAL_WINDOW bytes (1 MiB, or one frame's size when larger) with
 * posix_fallocate and maps them shared and writable; each frame is
 * copied into the window and committed, with no system call per record.
 * The copy is in the page cache at once, so an acknowledged write
 * survives the death of the process (kill -9) as an appended one does;
 * a sync (fdatasync) makes it durable.  Preallocation means a full disk
 * is met when a window is opened (LSM_ENOSPC: the frame is then
 * appended instead, which may still fit), never by a store through the
 * mapping (SIGBUS).  While the log is open, and after a crash, the file
 * ends with the window's unwritten zeros; a clean close cuts them (that
 * cut is not synced, so a power cut may bring them back).  Without
 * windows (an env without them, LSM_NO_MMAP) every frame is one append.
 * Either way the bytes of the file are the same frames: the format did
 * not change, and logs of either writer read alike.
 *
 * The writer gets a frame in two pieces (lsm_wal_append2): its head
 * (header and CBOR head, from lsm_wal_encode_head) and the batch's ops in
 * place, so op bytes are never copied into a frame buffer.  The window
 * receives them one after the other; appended, they are two appends, and
 * when the second fails the file is cut back to the frame's start.
 *
 * Large frames (LSM_WAL_BIG, 8 KiB, or more: the filesystem's batches
 * of 64 KiB chunks) are appended (a small pwrite of the head, then one
 * of the ops) even when the env has windows: a store through the mapping costs a page fault per 4 KiB page
 * (ext4's page_mkwrite on an unwritten extent), about 5 us, where pwrite
 * copies a page for about 1 us (a WAL-only driver writing 1 GiB of
 * 1 MiB frames: 1.2 s of CPU per GiB through the window, 0.27 s by
 * pwrite; the two break even near 2-4 KiB frames, so small commits keep
 * the window).  The append ends the window and writes at the log's end,
 * inside the window's preallocated zeros or past them, extending the
 * file; the page cache is shared with any mapping, so the bytes are the
 * same either way.  A kill -9 interrupts a pwrite only between pages
 * (the kernel copies forward and checks for a fatal signal per page), so
 * it leaves a prefix of the frame: the file ends inside the frame, or
 * the frame is followed by the zeros it did not write and the window's
 * - a torn tail by the rules below.
 *
 * The payload carries no version field: version 1 is the only shape, and
 * a reader rejects anything else as corrupt rather than misreading it; a
 * version 2 would change the top-level array (e.g. a third item) and
 * name itself in the manifest.
 *
 * Reading (lsm_wal_replay).  Frames are checked in order: len in range,
 * the whole payload present, crc, then the payload decoded.  The writer
 * appends each frame with one call and never writes a bad one, so a bad
 * frame is either a torn tail (the machine stopped in the middle of the
 * last append: the file ends inside the frame, or the file system
 * extended the file but the data never landed, leaving zeros) or real
 * damage.  A bad frame is torn when it reaches the end of the file:
 *   - fewer than 8 header bytes remain, or the payload is cut short by
 *     the end of the file; or
 *   - len is out of range, or the crc does not match, or the payload
 *     does not decode, and every byte after the frame (after the header
 *     when len is out of range) up to the end of the file is zero.  An
 *     all-zero header followed by zeros is the common case: the zeros
 *     of a preallocated window after the last frame; or
 *   - it is bad in that way and holds a lost page (below).
 * A torn tail ends replay cleanly: the file is truncated to the end of
 * the last good frame, so new appends never follow garbage, and the
 * report says how many bytes were dropped.  A bad frame anywhere else is
 * LSM_ECORRUPT ("PATH: corrupt WAL record at offset N (why)"), unless the
 * caller asked for salvage: then replay keeps what came before, drops
 * the rest of the file the same way and says how much.  Note that a
 * damaged len that points past the end of the file looks like a torn
 * tail; the CRC does not cover the header.
 *
 * Lost pages.  A power cut does not keep a prefix of the unsynced bytes:
 * write-back writes pages in its own order (and a disk's volatile cache
 * reorders them again), so a later page of the log may be on disk and
 * an earlier one not.  The missing page reads as zeros (a preallocated
 * or newly allocated block never written), with frames, or pieces of
 * them, after it.  That happens only to bytes after the last sync: a
 * sync leaves no dirty page behind it.  So a bad frame is also taken as
 * torn when it holds a lost page: an aligned LSM_WAL_PAGE (4 KiB, the
 * smallest page write-back works in) block that starts before the
 * frame's end (the end of the header when len is out of range) and
 * whose bytes from the frame's start on, up to the end of the block or
 * of the file, are all zero.  The writer never writes a zero header
 * (len >= 1), and a frame whose pages were all written is good, so a
 * bad frame with such a block is the mark of a page write-back never
 * wrote; what follows it was never synced and is dropped like any torn
 * tail (the report counts it).  Residual risk, accepted: damage to
 * synced bytes that zeroes whole aligned blocks (a disk returning zeros
 * for a lost sector), or a damaged frame that also holds an aligned
 * block of zeros of its own payload, reads as a torn tail instead of
 * LSM_ECORRUPT: replay keeps the frames before it, drops the rest and
 * reports the bytes dropped (what salvage would do), where before it
 * refused to open.  The alternative, refusing, would stop the store
 * after an ordinary power cut.  No version change: the writer writes
 * what it always wrote, and the rule only widens what reads as torn.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lsm_int.h"

#define LSM_WAL_VERSION 1
/* The append window's size: a frame larger than this gets a window of
 * its own size. */
#define LSM_WAL_WINDOW (1u << 20)
/* The smallest page a write-back may lose (see "Lost pages"). */
#define LSM_WAL_PAGE 4096
/* Frames of this size or more are appended (pwrite), not copied into
 * the window (see "Large frames"). */
#define LSM_WAL_BIG (8u << 10)

struct lsm_wal {
	lsm_env *env;
	lsm_file *file; /* owned */
	uint64_t size;  /* bytes appended so far */
	uint8_t *win;   /* the env's append window (borrowed), or NULL */
	size_t win_left; /* bytes of the window not written yet */
	bool no_map;    /* the env cannot map: append only */
	int err;        /* latched: the first failed append or sync */
	char path[];
};

/* ---- writing ------------------------------------------------------------ */

int lsm_wal_create(lsm_env *env, const char *path, lsm_wal **out)
{
	size_t plen = strlen(path);
	lsm_wal *w = NULL;
	int rc;

	*out = NULL;
	if (!(w = calloc(1, sizeof(*w) + plen + 1))) {
		rc = LSM_ERR(LSM_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	memcpy(w->path, path, plen + 1);
	w->env = env;
	w->no_map = !env->map_append || !env->commit;
	if ((rc = env->open(env, path, LSM_O_CREATE, &w->file)))
		goto out;
	*out = w;
	w = NULL;
out:
	free(w);
	return rc;
}

/*
 * Copies n bytes in ascending order, so that a process killed in the
 * middle leaves a prefix of the frame in the window (a torn tail: the
 * frame's header, then zeros).  memcpy gives no such order: for large
 * sizes glibc stores the last bytes first, and a kill -9 then left a
 * zero header followed by the frame's end, which replay must call
 * corruption.  The barrier keeps the compiler from turning the loop back
 * into a memcpy call.
 */
static void wal_copy_forward(uint8_t *dst, const uint8_t *src, size_t n)
{
	enum { STEP = 64 };
	size_t i = 0;

	for (; i + STEP <= n; i += STEP) {
		memcpy(dst + i, src + i, STEP);
		__asm__ volatile("" ::: "memory");
	}
	memcpy(dst + i, src + i, n - i);
}

/*
 * Writes the frame through the append window, opening a new window when
 * it does not fit (LSM_WAL_WINDOW, or the frame's size if larger).
 * Returns 1 when the frame must be appended instead: the env cannot map
 * (then never again), or the disk has no room for a window (LSM_ENOSPC:
 * a plain append of the frame alone may still fit, and the next frame
 * tries a window again).  A failed commit zeroes what the frame wrote
 * into the window, so the file holds nothing of it.
 */
static int wal_map_write(lsm_wal *w, const void *head, size_t hn,
			 const void *body, size_t bn)
{
	size_t n = hn + bn;
	void *addr;
	int rc;

	if (n > w->win_left) {
		w->win = NULL;
		w->win_left = 0;
		rc = w->env->map_append(w->env, w->file,
					n > LSM_WAL_WINDOW ? n : LSM_WAL_WINDOW,
					&addr);
		if (rc == LSM_ENOSPC)
			return 1;
		if (rc) {
			w->no_map = true;
			return 1;
		}
		w->win = addr;
		w->win_left = n > LSM_WAL_WINDOW ? n : LSM_WAL_WINDOW;
	}
	wal_copy_forward(w->win, head, hn);
	if (bn)
		wal_copy_forward(w->win + hn, body, bn);
	if ((rc = w->env->commit(w->env, w->file, n))) {
		memset(w->win, 0, n);
		return rc;
	}
	w->win += n;
	w->win_left -= n;
	return LSM_OK;
}

/* Appends head, then body.  When the body's append fails after the head
 * went in, the file is cut back to where the frame began, so that a full
 * disk leaves the log as it was (a failed cut is reported as the append's
 * error, and the size check of the caller then stops the log). */
static int wal_append_parts(lsm_wal *w, const void *head, size_t hn,
			    const void *body, size_t bn)
{
	int rc;

	if ((rc = w->env->append(w->env, w->file, head, hn)) || !bn)
		return rc;
	if ((rc = w->env->append(w->env, w->file, body, bn)))
		w->env->truncate(w->env, w->file, w->size);
	return rc;
}

/* Appends one frame (from lsm_wal_encode), through the env's append
 * window when it has them, else by an append.  A failed append may leave
 * part of the frame in the file, and a good frame after it would turn a
 * torn tail into corruption in the middle of the log, so the first error
 * of an append or sync is latched: every later append and sync returns
 * it.  The caller must then switch to a new log or stop writing. */
int lsm_wal_append(lsm_wal *w, const void *frame, size_t n)
{
	return lsm_wal_append2(w, frame, n, NULL, 0);
}

/* The frame in two pieces (lsm_wal_encode_head's head, then the ops in
 * place): both go into the window, or are appended one after the other.
 * A kill -9 between the two appends leaves the frame's first bytes at the
 * end of the file, a torn tail as a pwrite stopped between pages leaves
 * (see "Large frames"). */
int lsm_wal_append2(lsm_wal *w, const void *head, size_t hn,
		    const void *body, size_t bn)
{
	size_t n = hn + bn;
	int rc = 1;

	if (w->err)
		return LSM_ERR(w->err, "%s: log stopped by an earlier error",
			       w->path);
	if (!w->no_map && n < LSM_WAL_BIG)
		rc = wal_map_write(w, head, hn, body, bn);
	if (rc == 1) {
		w->win = NULL; /* an append ends the window */
		w->win_left = 0;
		rc = wal_append_parts(w, head, hn, body, bn);
	}
	if (rc) {
		uint64_t size = 0;

		/* A full disk that left the log as it was (the env cuts a
		 * partial append back) is no damage: later appends may work
		 * once space is freed.  Anything else stops the log. */
		if (rc != LSM_ENOSPC ||
		    w->env->size(w->env, w->file, &size) || size != w->size)
			w->err = rc;
		return rc;
	}
	w->size += n;
	return LSM_OK;
}

/* fdatasync: every frame appended so far is durable on LSM_OK.  A failed
 * sync is latched too (after a failed fsync the kernel may have dropped
 * the dirty pages, so a later "successful" one would prove nothing). */
int lsm_wal_sync(lsm_wal *w)
{
	int rc;

	if (w->err)
		return LSM_ERR(w->err, "%s: log stopped by an earlier error",
			       w->path);
	if ((rc = w->env->sync(w->env, w->file)))
		w->err = rc;
	return rc;
}

/* Closes the file without syncing it (sync first if it matters) and
 * frees w, also on error.  NULL is a no-op.  The env's close cuts the
 * window's zeros after the last frame (not synced: a power cut may
 * bring them back, as a torn tail). */
int lsm_wal_close(lsm_wal *w)
{
	int rc;

	if (!w)
		return LSM_OK;
	rc = w->env->close(w->env, w->file);
	free(w);
	return rc;
}

uint64_t lsm_wal_size(const lsm_wal *w)
{
	return w->size;
}

/* ---- replay ------------------------------------------------------------- */

/* Reads the whole of path into *out (owned: free), *size bytes. */
static int wal_read_all(lsm_env *env, const char *path, uint8_t **out,
			uint64_t *size)
{
	lsm_file *f = NULL;
	uint8_t *data = NULL;
	uint64_t want = 0, got = 0;
	size_t nread;
	int rc;

	*out = NULL;
	*size = 0;
	if ((rc = env->open(env, path, LSM_O_READ, &f)))
		goto out;
	if ((rc = env->size(env, f, &want)))
		goto out;
	if (want > SIZE_MAX - 1 || !(data = malloc((size_t)want + 1))) {
		rc = LSM_ERR(LSM_ENOMEM, "%s: out of memory reading %llu "
			     "bytes", path, (unsigned long long)want);
		goto out;
	}
	while (got < want) {
		if ((rc = env->read(env, f, got, data + got,
				    (size_t)(want - got), &nread)))
			goto out;
		if (nread == 0)
			break; /* shrank under us: take what is there */
		got += nread;
	}
	*out = data;
	data = NULL;
	*size = got;
out:
	if (f)
		env->close(env, f);
	free(data);
	return rc;
}

/* Cuts path to size bytes and makes that durable. */
static int wal_truncate(lsm_env *env, const char *path, uint64_t size)
{
	lsm_file *f = NULL;
	int rc;

	if ((rc = env->open(env, path, LSM_O_APPEND, &f)))
		goto out;
	if ((rc = env->truncate(env, f, size)))
		goto out;
	rc = env->sync(env, f);
out:
	if (f) {
		int crc = env->close(env, f);
		if (!rc)
			rc = crc;
	}
	return rc;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

enum frame_verdict { FRAME_GOOD, FRAME_TORN, FRAME_BAD };

struct frame {
	size_t len;          /* frame bytes, header included (GOOD) */
	uint64_t seq;
	const uint8_t *ops;
	size_t opslen;
	uint32_t count;
	char why[256];       /* TORN or BAD: what was wrong */
};

/* Whether a page lost by write-back lies in [from, to) of the file
 * (data, size bytes): an aligned LSM_WAL_PAGE block that starts before
 * to and whose bytes from from on (up to the end of the block or of the
 * file) are all zero.  See "Lost pages" in the essay. */
static bool lost_page(const uint8_t *data, uint64_t size, uint64_t from,
		      uint64_t to)
{
	uint64_t b = from & ~(uint64_t)(LSM_WAL_PAGE - 1);

	for (; b < to && b < size; b += LSM_WAL_PAGE) {
		uint64_t lo = b > from ? b : from;
		uint64_t hi = size - b > LSM_WAL_PAGE ? b + LSM_WAL_PAGE : size;

		if (all_zero(data + lo, (size_t)(hi - lo)))
			return true;
	}
	return false;
}

/* Judges the frame at off of the file (data, size bytes). */
static enum frame_verdict wal_frame(const uint8_t *data, uint64_t size,
				    uint64_t off, struct frame *fr)
{
	const uint8_t *p = data + off;
	size_t avail = (size_t)(size - off);
	size_t len;
	uint32_t crc;

	if (avail < LSM_FRAME_HDR) {
		snprintf(fr->why, sizeof(fr->why), "short header, %zu bytes",
			 avail);
		return FRAME_TORN;
	}
	len = lsm_get_u32le(p);
	crc = lsm_get_u32le(p + 4);
	p += LSM_FRAME_HDR;
	avail -= LSM_FRAME_HDR;
	if (len == 0 || len > LSM_WAL_MAX_PAYLOAD) {
		snprintf(fr->why, sizeof(fr->why), "length %zu out of range",
			 len);
		return all_zero(p, avail) ||
		       lost_page(data, size, off, off + LSM_FRAME_HDR)
			       ? FRAME_TORN
			       : FRAME_BAD;
	}
	if (len > avail) {
		snprintf(fr->why, sizeof(fr->why),
			 "payload of %zu bytes cut to %zu", len, avail);
		return FRAME_TORN;
	}
	if (lsm_crc32c(0, p, len) != crc) {
		snprintf(fr->why, sizeof(fr->why), "bad crc");
		goto bad;
	}
	if (lsm_wal_decode(p, len, &fr->seq, &fr->ops, &fr->opslen,
			   &fr->count)) {
		snprintf(fr->why, sizeof(fr->why), "%s", lsm_last_error());
		goto bad;
	}
	fr->len = LSM_FRAME_HDR + len;
	return FRAME_GOOD;
bad:
	return all_zero(p + len, avail - len) ||
		       lost_page(data, size, off, off + LSM_FRAME_HDR + len)
		       ? FRAME_TORN
		       : FRAME_BAD;
}

int lsm_wal_replay(lsm_env *env, const char *path, bool salvage,
		   lsm_wal_fn fn, void *ctx, struct lsm_wal_report *rep)
{
	uint8_t *data = NULL;
	uint64_t size, off = 0;
	enum frame_verdict v = FRAME_GOOD;
	struct frame fr;
	int rc;

	memset(rep, 0, sizeof(*rep));
	if ((rc = wal_read_all(env, path, &data, &size)))
		goto out;
	while (off < size) {
		v = wal_frame(data, size, off, &fr);
		if (v != FRAME_GOOD)
			break;
		if ((rc = fn(ctx, fr.seq, fr.ops, fr.opslen, fr.count)))
			goto out;
		off += fr.len;
		rep->records++;
		rep->good_bytes = off;
	}
	if (off == size)
		goto out;
	if (v == FRAME_BAD && !salvage) {
		rc = LSM_ERR(LSM_ECORRUPT,
			     "%s: corrupt WAL record at offset %llu (%s)", path,
			     (unsigned long long)off, fr.why);
		goto out;
	}
	rep->torn = v == FRAME_TORN;
	rep->dropped_bytes = size - off;
	rc = wal_truncate(env, path, off);
out:
	free(data);
	return rc;
}
