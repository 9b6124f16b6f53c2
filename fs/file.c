/*
 * file.c — file data: the per-inode write buffer, reads, truncation and
 * the rest of setattr, fallocate, lseek, fsync.
 *
 * Data lives in chunks of fs->chunk_size bytes under "C" ino idx (see
 * schema.c).  The part of a write that covers whole chunks, aligned, goes
 * straight from the caller's buffer (FUSE's) into one store batch with
 * the inode record: a large sequential write copies each byte once here.
 * The rest (the partial chunks at either end) lands in the inode's write
 * buffer, a short sorted array of whole chunks (ip->wb, guarded by
 * ip->mu): a chunk is read from the store once when a write first touches
 * it, then written pieces are copied in; a whole-chunk write replaces a
 * buffered copy of its chunk.  When more than fs->wbuf_chunks chunks are
 * dirty, all but the chunk still being filled go to the store in one
 * batch together with the inode record (size, mtime, stored bytes), so a
 * sequential copy in small pieces writes each chunk once.  flush, fsync,
 * release, truncation, lseek and a read touching a buffered chunk write
 * the whole buffer out first.  ip->a.size and mtime include buffered
 * data, so getattr is right.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

#define FS_FILE_MAX ((uint64_t)INT64_MAX)

void fs_wbuf_free(struct fs_inode *ip)
{
	for (uint32_t i = 0; i < ip->nwb; i++)
		free(ip->wb[i].data);
	free(ip->wb);
	ip->wb = NULL;
	ip->nwb = ip->capwb = 0;
}

/* ip->mu held.  Returns the slot of chunk idx, or where it would go. */
static uint32_t wb_search(const struct fs_inode *ip, uint64_t idx)
{
	uint32_t lo = 0, hi = ip->nwb;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (ip->wb[mid].idx < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The stored value of chunk idx: *val owned (free()), NULL with *len 0
 * for a hole. */
static int chunk_get(struct fs *fs, uint64_t ino, uint64_t idx, void **val,
		     uint32_t *len)
{
	uint8_t k[FS_KEY_MAX];
	size_t vlen = 0;
	int rc;

	*val = NULL;
	*len = 0;
	rc = lsm_get(fs->db, NULL, k, fs_key_chunk(k, ino, idx), val, &vlen);
	if (rc == LSM_ENOTFOUND)
		return 0;
	if (!rc && vlen > fs->chunk_size)
		rc = EIO;
	else if (rc)
		rc = fs_errno(rc);
	if (rc) {
		free(*val);
		*val = NULL;
		return rc;
	}
	*len = (uint32_t)vlen;
	return 0;
}

/* Chunk idx in *data: chunk_size bytes, owned (free()), zero past *len.
 * A full chunk is the store's value buffer itself, not a copy. */
static int chunk_load(struct fs *fs, uint64_t ino, uint64_t idx,
		      uint8_t **data, uint32_t *len)
{
	void *val = NULL;
	uint8_t *d;
	int rc;

	*data = NULL;
	if ((rc = chunk_get(fs, ino, idx, &val, len)))
		return rc;
	if (*len == fs->chunk_size) {
		*data = val;
		return 0;
	}
	if (!(d = malloc(fs->chunk_size))) {
		free(val);
		return ENOMEM;
	}
	if (*len)
		memcpy(d, val, *len);
	free(val);
	memset(d + *len, 0, fs->chunk_size - *len);
	*data = d;
	return 0;
}

/* ip->mu held.  The buffered chunk idx, read from the store if new. */
static int wb_get(struct fs *fs, struct fs_inode *ip, uint64_t idx,
		  struct fs_chunkbuf **out)
{
	uint32_t pos = wb_search(ip, idx);
	struct fs_chunkbuf c = {idx, 0, 0, NULL};
	int rc;

	if (pos < ip->nwb && ip->wb[pos].idx == idx) {
		*out = &ip->wb[pos];
		return 0;
	}
	if (ip->nwb == ip->capwb) {
		uint32_t cap = ip->capwb ? ip->capwb * 2 : 8;
		struct fs_chunkbuf *nv = realloc(ip->wb, cap * sizeof(*nv));

		if (!nv)
			return ENOMEM;
		ip->wb = nv;
		ip->capwb = cap;
	}
	if (idx * fs->chunk_size < ip->a.size) {
		if ((rc = chunk_load(fs, ip->ino, idx, &c.data, &c.len)))
			return rc;
	} else if (!(c.data = calloc(1, fs->chunk_size))) {
		return ENOMEM;
	}
	c.oldlen = c.len;
	memmove(ip->wb + pos + 1, ip->wb + pos, (ip->nwb - pos) * sizeof(c));
	ip->wb[pos] = c;
	ip->nwb++;
	*out = &ip->wb[pos];
	return 0;
}

/* ip->mu held.  Writes every buffered chunk but keep_idx (UINT64_MAX:
 * none kept) and the inode record in one batch. */
static int wb_flush(struct fs *fs, struct fs_inode *ip, uint64_t keep_idx)
{
	uint8_t k[FS_KEY_MAX];
	struct fs_attr a = ip->a;
	lsm_batch *b = NULL;
	uint32_t kept = 0;
	int rc;

	if (!ip->nwb || (ip->nwb == 1 && ip->wb[0].idx == keep_idx))
		return 0;
	if ((rc = fs_batch_get(fs, &b)))
		return rc;
	for (uint32_t i = 0; i < ip->nwb; i++) {
		struct fs_chunkbuf *c = &ip->wb[i];

		if (c->idx == keep_idx)
			continue;
		/* A chunk past a truncation that raced in: drop nothing,
		 * but never store bytes past the size. */
		if (c->idx * fs->chunk_size >= a.size)
			continue;
		if (c->idx * fs->chunk_size + c->len > a.size)
			c->len = (uint32_t)(a.size - c->idx * fs->chunk_size);
		rc = fs_errno(lsm_batch_put(b, k, fs_key_chunk(k, ip->ino, c->idx),
					    c->data, c->len));
		if (rc)
			goto out;
		a.stored += c->len;
		a.stored -= c->oldlen < a.stored ? c->oldlen : a.stored;
	}
	if ((rc = fs_inode_put_rec(b, &a, ip)) || (rc = fs_commit(fs, b)))
		goto out;
	ip->a.stored = a.stored;
	for (uint32_t i = 0; i < ip->nwb; i++) {
		if (ip->wb[i].idx == keep_idx)
			ip->wb[kept++] = ip->wb[i];
		else
			free(ip->wb[i].data);
	}
	ip->nwb = kept;
out:
	fs_batch_put(fs, b);
	return rc;
}

int fs_wbuf_flush_locked(struct fs *fs, struct fs_inode *ip)
{
	return wb_flush(fs, ip, UINT64_MAX);
}

int fs_file_flush(struct fs *fs, struct fs_inode *ip)
{
	int rc;

	pthread_mutex_lock(&ip->mu);
	rc = wb_flush(fs, ip, UINT64_MAX);
	pthread_mutex_unlock(&ip->mu);
	return rc;
}

/* ip->mu held.  As Linux does for a writer without CAP_FSETID: drop
 * set-user-ID, and set-group-ID when group-executable.  The kernel leaves
 * this to us (FUSE_CAP_HANDLE_KILLPRIV). */
static void kill_suid(struct fs_attr *a)
{
	a->mode &= ~(uint32_t)S_ISUID;
	if (a->mode & S_IXGRP)
		a->mode &= ~(uint32_t)S_ISGID;
}

/* What a write does to the attributes: mtime and ctime now (sec, nsec)
 * and, for a writer other than root, no set-user-ID. */
static void write_touch(struct fs_attr *a, bool killpriv, int64_t sec,
			uint32_t nsec)
{
	if (killpriv)
		kill_suid(a);
	a->mtime = a->ctime = sec;
	a->mtime_ns = a->ctime_ns = nsec;
}

/* ip->mu held, chunk idx not buffered.  The length of its stored value
 * (0: a hole).  Nothing is stored at or past the size, so appending
 * costs no lookup. */
static int chunk_stored_len(struct fs *fs, struct fs_inode *ip, uint64_t idx,
			    uint32_t *len)
{
	void *val = NULL;
	int rc;

	*len = 0;
	if (idx * fs->chunk_size >= ip->a.size)
		return 0;
	rc = chunk_get(fs, ip->ino, idx, &val, len);
	free(val);
	return rc;
}

/* ip->mu held.  Drops the buffered copies of chunks [idx, idx + n). */
static void wb_drop(struct fs_inode *ip, uint64_t idx, uint32_t n)
{
	uint32_t lo = wb_search(ip, idx), hi = wb_search(ip, idx + n);

	if (lo == hi)
		return;
	for (uint32_t i = lo; i < hi; i++)
		free(ip->wb[i].data);
	memmove(ip->wb + lo, ip->wb + hi, (ip->nwb - hi) * sizeof(*ip->wb));
	ip->nwb -= hi - lo;
}

/*
 * ip->mu held.  Stores the n whole chunks from chunk idx on straight from
 * buf (n * chunk_size bytes), with the inode record, in one batch; the
 * attributes get the write's times (write_touch), the size and the
 * stored bytes.  A buffered copy of any of these chunks is superseded and
 * dropped.  On error nothing changed.
 */
static int write_whole(struct fs *fs, struct fs_inode *ip, uint64_t idx,
		       uint32_t n, const uint8_t *buf, bool killpriv,
		       int64_t sec, uint32_t nsec)
{
	const uint32_t cs = fs->chunk_size;
	uint8_t k[FS_KEY_MAX];
	struct fs_attr a = ip->a;
	uint64_t end = (idx + n) * cs;
	lsm_batch *b = NULL;
	int rc;

	if ((rc = fs_batch_get(fs, &b)))
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t pos = wb_search(ip, idx + i), old;

		if (pos < ip->nwb && ip->wb[pos].idx == idx + i)
			old = ip->wb[pos].oldlen;
		else if ((rc = chunk_stored_len(fs, ip, idx + i, &old)))
			goto out;
		a.stored += cs;
		a.stored -= old < a.stored ? old : a.stored;
		rc = fs_errno(lsm_batch_put(b, k, fs_key_chunk(k, ip->ino, idx + i),
					    buf + (size_t)i * cs, cs));
		if (rc)
			goto out;
	}
	write_touch(&a, killpriv, sec, nsec);
	if (end > a.size)
		a.size = end;
	if ((rc = fs_inode_put_rec(b, &a, ip)) || (rc = fs_commit(fs, b)))
		goto out;
	ip->a = a;
	wb_drop(ip, idx, n);
out:
	fs_batch_put(fs, b);
	return rc;
}

/* ip->mu held.  Copies the n bytes at buf into the buffered chunk of
 * pos (n does not cross the chunk's end). */
static int write_buffered(struct fs *fs, struct fs_inode *ip, uint64_t pos,
			  const uint8_t *buf, uint32_t n)
{
	uint32_t coff = (uint32_t)(pos % fs->chunk_size);
	struct fs_chunkbuf *c;
	int rc;

	if ((rc = wb_get(fs, ip, pos / fs->chunk_size, &c)))
		return rc;
	memcpy(c->data + coff, buf, n);
	if (coff + n > c->len)
		c->len = coff + n;
	if (pos + n > ip->a.size)
		ip->a.size = pos + n;
	return 0;
}

int fs_file_write(struct fs *fs, struct fs_inode *ip, uint64_t off,
		  const uint8_t *buf, size_t size, bool killpriv,
		  size_t *nwritten)
{
	const uint32_t cs = fs->chunk_size;
	size_t done = 0;
	int64_t sec;
	uint32_t nsec;
	int rc = 0;

	*nwritten = 0;
	if (off > FS_FILE_MAX || size > FS_FILE_MAX - off)
		return EFBIG;
	if (size == 0)
		return 0;
	fs_now(&sec, &nsec);
	pthread_mutex_lock(&ip->mu);
	while (done < size) {
		uint64_t pos = off + done;
		uint32_t coff = (uint32_t)(pos % cs);
		size_t left = size - done;

		if (coff == 0 && left >= cs) {
			/* Whole chunks: no copy into the buffer. */
			uint32_t n = left / cs < fs->wbuf_chunks ?
					     (uint32_t)(left / cs) : fs->wbuf_chunks;

			if ((rc = write_whole(fs, ip, pos / cs, n, buf + done,
					      killpriv, sec, nsec)))
				break;
			done += (size_t)n * cs;
		} else {
			uint32_t n = cs - coff < left ? cs - coff : (uint32_t)left;

			if ((rc = write_buffered(fs, ip, pos, buf + done, n)))
				break;
			done += n;
		}
	}
	if (done) {
		write_touch(&ip->a, killpriv, sec, nsec);
		rc = 0;
	}
	if (!rc && ip->nwb > fs->wbuf_chunks) {
		uint64_t end = off + done, last = (end - 1) / cs;

		/* Keep the chunk still being filled for the next write. */
		rc = wb_flush(fs, ip, end % cs ? last : UINT64_MAX);
	}
	pthread_mutex_unlock(&ip->mu);
	*nwritten = done;
	return done ? 0 : rc;
}

int fs_file_read(struct fs *fs, struct fs_inode *ip, uint64_t off,
		 size_t size, uint8_t *buf, size_t *nread)
{
	const uint32_t cs = fs->chunk_size;
	uint64_t end, pos;
	int rc = 0;

	*nread = 0;
	pthread_mutex_lock(&ip->mu);
	end = ip->a.size;
	if (off >= end || size == 0) {
		pthread_mutex_unlock(&ip->mu);
		return 0;
	}
	if (size < end - off)
		end = off + size;
	if (ip->nwb && ip->wb[ip->nwb - 1].idx >= off / cs &&
	    ip->wb[0].idx <= (end - 1) / cs)
		rc = wb_flush(fs, ip, UINT64_MAX);
	pthread_mutex_unlock(&ip->mu);
	if (rc)
		return rc;
	for (pos = off; pos < end;) {
		uint32_t coff = (uint32_t)(pos % cs), len, have;
		uint32_t n = cs - coff < end - pos ? cs - coff : (uint32_t)(end - pos);
		void *val;

		/* Straight from the store's value into the reply. */
		if ((rc = chunk_get(fs, ip->ino, pos / cs, &val, &len)))
			return rc;
		have = len > coff ? len - coff : 0;
		if (have > n)
			have = n;
		if (have)
			memcpy(buf + (pos - off), (uint8_t *)val + coff, have);
		memset(buf + (pos - off) + have, 0, n - have);
		free(val);
		pos += n;
	}
	*nread = (size_t)(end - off);
	return 0;
}

/* ip->mu held, buffer empty.  Deletes the data past newsize: chunks
 * beyond it (in batches of their own for large files) and the tail of
 * the last chunk (added to b).  Adjusts a->stored. */
static int trunc_data(struct fs *fs, struct fs_inode *ip, uint64_t newsize,
		      lsm_batch *b, struct fs_attr *a)
{
	const uint32_t cs = fs->chunk_size;
	uint8_t k[FS_KEY_MAX], pre[FS_KEY_MAX];
	size_t plen = fs_key_prefix(pre, FS_K_CHUNK, ip->ino);
	uint64_t first = newsize / cs + (newsize % cs ? 1 : 0);
	uint64_t stored0 = a->stored;
	lsm_batch *del = NULL;
	lsm_iter *it = NULL;
	void *data = NULL;
	uint32_t len;
	int rc;

	if ((rc = fs_errno(lsm_batch_create(&del))) ||
	    (rc = fs_errno(lsm_iter_open(fs->db, NULL, &it))))
		goto out;
	for (lsm_iter_seek(it, k, fs_key_chunk(k, ip->ino, first));
	     lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *key = lsm_iter_key(it, &kl);

		if (kl != plen + 8 || memcmp(key, pre, plen))
			break;
		lsm_iter_value(it, &vl);
		if ((rc = fs_errno(lsm_batch_delete(del, key, kl))))
			goto out;
		a->stored -= vl < a->stored ? vl : a->stored;
		if (lsm_batch_count(del) >= 4096) {
			if ((rc = fs_commit_freeing(fs, del)))
				goto out;
			lsm_batch_clear(del);
		}
	}
	if ((rc = fs_errno(lsm_iter_status(it))))
		goto out;
	if (lsm_batch_count(del) && (rc = fs_commit_freeing(fs, del)))
		goto out;
	fs_freed(fs, stored0 - a->stored);
	if (newsize % cs) {
		if ((rc = chunk_get(fs, ip->ino, newsize / cs, &data, &len)))
			goto out;
		if (len > newsize % cs) {
			uint32_t keep = (uint32_t)(newsize % cs);

			rc = fs_errno(lsm_batch_put(b, k,
					fs_key_chunk(k, ip->ino, newsize / cs),
					data, keep));
			a->stored -= (len - keep) < a->stored ? len - keep : a->stored;
		}
	}
out:
	free(data);
	lsm_iter_close(it);
	lsm_batch_destroy(del);
	return rc;
}

static void set_time(int64_t *sec, uint32_t *nsec, const struct timespec *ts)
{
	*sec = ts->tv_sec;
	*nsec = (uint32_t)ts->tv_nsec;
}

/* Applies the attribute changes of setattr to a (no data). */
static void setattr_apply(struct fs_attr *a, const struct fs_ctx *ctx,
			  const struct stat *attr, int to_set, int64_t sec,
			  uint32_t nsec)
{
	if ((to_set & FS_SET_SIZE) && !(to_set & FS_SET_MODE) && ctx->uid != 0)
		kill_suid(a);
	if (to_set & FS_SET_MODE)
		a->mode = (a->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & (FS_SET_UID | FS_SET_GID)) {
		if (to_set & FS_SET_UID)
			a->uid = attr->st_uid;
		if (to_set & FS_SET_GID)
			a->gid = attr->st_gid;
		/* As Linux: a chown of a non-directory clears set-user-ID
		 * and (if group-executable) set-group-ID. */
		if (!(to_set & FS_SET_MODE) && !S_ISDIR(a->mode))
			kill_suid(a);
	}
	if (to_set & FS_SET_ATIME_NOW) {
		a->atime = sec;
		a->atime_ns = nsec;
	} else if (to_set & FS_SET_ATIME) {
		set_time(&a->atime, &a->atime_ns, &attr->st_atim);
	}
	if (to_set & FS_SET_MTIME_NOW) {
		a->mtime = sec;
		a->mtime_ns = nsec;
	} else if (to_set & FS_SET_MTIME) {
		set_time(&a->mtime, &a->mtime_ns, &attr->st_mtim);
	}
	if (to_set & FS_SET_CTIME)
		set_time(&a->ctime, &a->ctime_ns, &attr->st_ctim);
	else {
		a->ctime = sec;
		a->ctime_ns = nsec;
	}
}

int fs_file_setattr(struct fs *fs, const struct fs_ctx *ctx, uint64_t ino,
		    const struct stat *attr, int to_set, struct stat *out)
{
	struct fs_inode *ip = NULL;
	struct fs_attr a;
	lsm_batch *b = NULL;
	int64_t sec;
	uint32_t nsec;
	int rc;

	if ((rc = fs_inode_get(fs, ino, &ip)))
		return rc;
	pthread_mutex_lock(&ip->mu);
	a = ip->a;
	fs_now(&sec, &nsec);
	if ((rc = fs_errno(lsm_batch_create(&b))))
		goto out;
	if (to_set & FS_SET_SIZE) {
		uint64_t ns = (uint64_t)attr->st_size;

		if (S_ISDIR(a.mode)) {
			rc = EISDIR;
			goto out;
		}
		if (!S_ISREG(a.mode) || attr->st_size < 0) {
			rc = EINVAL;
			goto out;
		}
		if ((rc = wb_flush(fs, ip, UINT64_MAX)))
			goto out;
		a = ip->a;
		if (ns < a.size && (rc = trunc_data(fs, ip, ns, b, &a)))
			goto out;
		a.size = ns;
		if (!(to_set & (FS_SET_MTIME | FS_SET_MTIME_NOW))) {
			a.mtime = sec;
			a.mtime_ns = nsec;
		}
	}
	setattr_apply(&a, ctx, attr, to_set, sec, nsec);
	if ((to_set & FS_SET_MODE) && (rc = fs_acl_chmod(fs, ino, a.mode, b)))
		goto out;
	if ((rc = fs_inode_put_rec(b, &a, ip)) || (rc = fs_commit(fs, b)))
		goto out;
	ip->a = a;
	fs_inode_stat_locked(ip, out);
out:
	pthread_mutex_unlock(&ip->mu);
	fs_inode_put(fs, ip);
	lsm_batch_destroy(b);
	return rc;
}

int fs_file_open(struct fs *fs, uint64_t ino, int flags, struct fs_file **out)
{
	struct fs_inode *ip = NULL;
	int rc;

	*out = NULL;
	if ((rc = fs_inode_get(fs, ino, &ip)))
		return rc;
	pthread_mutex_lock(&ip->mu);
	rc = S_ISDIR(ip->a.mode) ? EISDIR : 0;
	pthread_mutex_unlock(&ip->mu);
	if (!rc)
		rc = fs_file_wrap(ip, flags, out);
	if (rc)
		fs_inode_put(fs, ip);
	return rc;
}

int fs_file_wrap(struct fs_inode *ip, int flags, struct fs_file **out)
{
	struct fs_file *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return ENOMEM;
	f->ip = ip;
	f->flags = flags;
	*out = f;
	return 0;
}

int fs_file_release(struct fs *fs, struct fs_file *f)
{
	int rc;

	if (!f)
		return 0;
	rc = fs_file_flush(fs, f->ip);
	fs_inode_put(fs, f->ip);
	free(f);
	return rc;
}

int fs_file_fsync(struct fs *fs, struct fs_inode *ip)
{
	int rc = ip ? fs_file_flush(fs, ip) : 0;

	return rc ? rc : fs_sync(fs);
}

int fs_file_fallocate(struct fs *fs, struct fs_inode *ip, int mode,
		      uint64_t off, uint64_t len)
{
	struct fs_attr a;
	lsm_batch *b = NULL;
	int rc = 0;

	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return EOPNOTSUPP;
	if (len == 0)
		return EINVAL;
	if (off > FS_FILE_MAX || len > FS_FILE_MAX - off)
		return EFBIG;
	pthread_mutex_lock(&ip->mu);
	if (!S_ISREG(ip->a.mode)) {
		rc = S_ISDIR(ip->a.mode) ? EISDIR : ENODEV;
		goto out;
	}
	if ((mode & FALLOC_FL_KEEP_SIZE) || off + len <= ip->a.size)
		goto out;
	a = ip->a;
	a.size = off + len;
	fs_now(&a.ctime, &a.ctime_ns);
	a.mtime = a.ctime;
	a.mtime_ns = a.ctime_ns;
	if ((rc = fs_errno(lsm_batch_create(&b))) ||
	    (rc = fs_inode_put_rec(b, &a, ip)) || (rc = fs_commit(fs, b)))
		goto out;
	ip->a = a;
out:
	pthread_mutex_unlock(&ip->mu);
	lsm_batch_destroy(b);
	return rc;
}

int fs_file_lseek(struct fs *fs, struct fs_inode *ip, uint64_t off,
		  int whence, uint64_t *out)
{
	const uint32_t cs = fs->chunk_size;
	uint8_t k[FS_KEY_MAX], pre[FS_KEY_MAX];
	size_t plen = fs_key_prefix(pre, FS_K_CHUNK, ip->ino);
	lsm_iter *it = NULL;
	uint64_t size, idx = off / cs;
	int rc;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return EINVAL;
	pthread_mutex_lock(&ip->mu);
	rc = wb_flush(fs, ip, UINT64_MAX);
	size = ip->a.size;
	pthread_mutex_unlock(&ip->mu);
	if (rc)
		return rc;
	if (off >= size)
		return ENXIO;
	if ((rc = fs_errno(lsm_iter_open(fs->db, NULL, &it))))
		return rc;
	lsm_iter_seek(it, k, fs_key_chunk(k, ip->ino, idx));
	for (; lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl;
		const uint8_t *key = lsm_iter_key(it, &kl);
		uint64_t ci;

		if (kl != plen + 8 || memcmp(key, pre, plen))
			break;
		ci = fs_get_u64be(key + plen);
		if (whence == SEEK_DATA || ci != idx)
			break;
		idx++; /* SEEK_HOLE: walk the run of present chunks */
	}
	if ((rc = fs_errno(lsm_iter_status(it))))
		goto out;
	if (whence == SEEK_DATA) {
		size_t kl;
		const uint8_t *key = lsm_iter_valid(it) ? lsm_iter_key(it, &kl) : NULL;
		uint64_t pos;

		if (!key || kl != plen + 8 || memcmp(key, pre, plen)) {
			rc = ENXIO;
			goto out;
		}
		pos = fs_get_u64be(key + plen) * cs;
		if (pos < off)
			pos = off;
		if (pos >= size) {
			rc = ENXIO;
			goto out;
		}
		*out = pos;
	} else {
		uint64_t pos = idx * cs;

		if (pos < off)
			pos = off;
		*out = pos < size ? pos : size;
	}
out:
	lsm_iter_close(it);
	return rc;
}
