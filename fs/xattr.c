/*
 * xattr.c — extended attributes, one key per attribute: "X" ino name ->
 * the raw value.  A set or remove also rewrites the inode record (ctime)
 * in the same batch, under the inode's lock, which also serializes the
 * XATTR_CREATE / XATTR_REPLACE checks against concurrent setters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fs.h"

static int check_xname(const char *name, size_t *nlen)
{
	*nlen = strlen(name);
	if (*nlen == 0)
		return EINVAL;
	if (*nlen > FS_XATTR_NAME_MAX)
		return ERANGE;
	return 0;
}

/* ip->mu held.  0 if present, ENODATA if absent, or an error. */
static int xattr_exists(struct fs *fs, uint64_t ino, const char *name,
			size_t nlen)
{
	uint8_t k[FS_KEY_MAX];
	void *val = NULL;
	size_t vlen;
	int rc;

	rc = lsm_get(fs->db, NULL, k, fs_key_xattr(k, ino, name, nlen), &val, &vlen);
	free(val);
	if (rc == LSM_ENOTFOUND)
		return ENODATA;
	return fs_errno(rc);
}

/* Sets (val non-NULL) or removes (val NULL) name. */
static int xattr_change(struct fs *fs, uint64_t ino, const char *name,
			const void *val, size_t size, int flags)
{
	struct fs_inode *ip = NULL;
	uint8_t k[FS_KEY_MAX];
	struct fs_attr a;
	lsm_batch *b = NULL;
	size_t nlen, klen;
	int rc;

	if ((rc = check_xname(name, &nlen)))
		return rc;
	if (val && size > FS_XATTR_SIZE_MAX)
		return E2BIG;
	if ((rc = fs_inode_get(fs, ino, &ip)))
		return rc;
	pthread_mutex_lock(&ip->mu);
	rc = xattr_exists(fs, ino, name, nlen);
	if (rc && rc != ENODATA)
		goto out;
	if (!val || (flags & XATTR_REPLACE)) {
		if (rc)
			goto out; /* ENODATA */
	} else if ((flags & XATTR_CREATE) && !rc) {
		rc = EEXIST;
		goto out;
	}
	a = ip->a;
	fs_now(&a.ctime, &a.ctime_ns);
	klen = fs_key_xattr(k, ino, name, nlen);
	if ((rc = fs_errno(lsm_batch_create(&b))))
		goto out;
	if (val)
		rc = fs_errno(lsm_batch_put(b, k, klen, val, size));
	else
		rc = fs_errno(lsm_batch_delete(b, k, klen));
	if (rc || (rc = fs_inode_put_rec(b, &a, ip)) || (rc = fs_commit(fs, b)))
		goto out;
	ip->a = a;
out:
	pthread_mutex_unlock(&ip->mu);
	fs_inode_put(fs, ip);
	lsm_batch_destroy(b);
	return rc;
}

int fs_xattr_set(struct fs *fs, uint64_t ino, const char *name,
		 const void *val, size_t size, int flags)
{
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return EINVAL;
	return xattr_change(fs, ino, name, val ? val : "", size, flags);
}

int fs_xattr_remove(struct fs *fs, uint64_t ino, const char *name)
{
	return xattr_change(fs, ino, name, NULL, 0, 0);
}

int fs_xattr_get(struct fs *fs, uint64_t ino, const char *name, void *buf,
		 size_t size, size_t *len)
{
	uint8_t k[FS_KEY_MAX];
	void *val = NULL;
	size_t nlen, vlen = 0;
	int rc;

	*len = 0;
	if ((rc = check_xname(name, &nlen)))
		return rc == ERANGE ? ENODATA : rc;
	rc = lsm_get(fs->db, NULL, k, fs_key_xattr(k, ino, name, nlen), &val, &vlen);
	if (rc == LSM_ENOTFOUND) {
		rc = ENODATA;
		goto out;
	}
	if ((rc = fs_errno(rc)))
		goto out;
	*len = vlen;
	if (size == 0)
		goto out;
	if (size < vlen) {
		rc = ERANGE;
		goto out;
	}
	if (vlen)
		memcpy(buf, val, vlen);
out:
	free(val);
	return rc;
}

int fs_xattr_list(struct fs *fs, uint64_t ino, char *buf, size_t size,
		  size_t *len)
{
	uint8_t pre[FS_KEY_MAX];
	size_t plen = fs_key_prefix(pre, FS_K_XATTR, ino), total = 0;
	lsm_iter *it = NULL;
	int rc;

	*len = 0;
	if ((rc = fs_errno(lsm_iter_open(fs->db, NULL, &it))))
		return rc;
	for (lsm_iter_seek(it, pre, plen); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl;
		const uint8_t *key = lsm_iter_key(it, &kl);

		if (kl <= plen || memcmp(key, pre, plen))
			break;
		if (size) {
			if (total + (kl - plen) + 1 > size) {
				rc = ERANGE;
				goto out;
			}
			memcpy(buf + total, key + plen, kl - plen);
			buf[total + (kl - plen)] = 0;
		}
		total += kl - plen + 1;
	}
	rc = fs_errno(lsm_iter_status(it));
	*len = total;
out:
	lsm_iter_close(it);
	return rc;
}
