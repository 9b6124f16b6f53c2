/*
 * xattr.c — extended attributes, one key per attribute: "X" ino name ->
 * the raw value.  A set or remove also rewrites the inode record (ctime)
 * in the same batch, under the inode's lock, which also serializes the
 * XATTR_CREATE / XATTR_REPLACE checks against concurrent setters.
 *
 * POSIX ACLs: the kernel (without FUSE_CAP_POSIX_ACL) passes
 * system.posix_acl_access through as an xattr, and tools such as cp -a
 * set a file's mode that way.  So, as a local filesystem does, setting
 * it updates the mode (owner, group-or-mask and other bits) and an ACL
 * that a mode can express is not stored at all; chmod rewrites a stored
 * ACL's owner, mask (or group) and other entries.  The kernel does not
 * enforce named ACL entries (default_permissions checks the mode only),
 * and default ACLs are stored but not inherited.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "fs.h"

#define ACL_NAME "system.posix_acl_access"
#define ACL_DEFAULT_NAME "system.posix_acl_default"
#define TRUSTED_PREFIX "trusted."

static int check_xname(const char *name, size_t *nlen)
{
	*nlen = strlen(name);
	if (*nlen == 0)
		return EINVAL;
	if (*nlen > FS_XATTR_NAME_MAX)
		return ERANGE;
	return 0;
}

/* The namespaces of a local filesystem.  FUSE passes any name through,
 * so, as ext4 and tmpfs do, setting a name of another namespace is
 * EOPNOTSUPP and a bare prefix ("user.") EINVAL.  (Only set checks: a
 * name stored by an older version can still be read and removed.) */
static const char *const xattr_prefixes[] = {"user.", TRUSTED_PREFIX,
					     "security.", NULL};

static int check_xnamespace(const char *name, size_t nlen)
{
	if (!strcmp(name, ACL_NAME) || !strcmp(name, ACL_DEFAULT_NAME))
		return 0;
	for (const char *const *p = xattr_prefixes; *p; p++) {
		size_t plen = strlen(*p);

		if (!strncmp(name, *p, plen))
			return nlen > plen ? 0 : EINVAL;
	}
	return EOPNOTSUPP;
}

#define FS_XATTR_LIST_MAX 65536 /* the kernel's XATTR_LIST_MAX */

/* ip->mu held.  ENOSPC when one more name of nlen bytes would make the
 * name list longer than listxattr can return: a file whose attributes
 * no tool can list (E2BIG) is worse than a refused set, and ext4 too
 * says ENOSPC when an inode's xattr space is full. */
static int xattr_list_room(struct fs *fs, uint64_t ino, size_t nlen)
{
	size_t len = 0;
	int rc = fs_xattr_list(fs, ino, NULL, 0, &len);

	if (rc)
		return rc;
	return len + nlen + 1 > FS_XATTR_LIST_MAX ? ENOSPC : 0;
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

#define ACL_VERSION 2
enum { ACL_USER_OBJ = 1, ACL_USER = 2, ACL_GROUP_OBJ = 4, ACL_GROUP = 8,
       ACL_MASK = 16, ACL_OTHER = 32 };

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/*
 * Parses an access ACL in the kernel's xattr form (version:u32le, then
 * entries tag:u16le perm:u16le id:u32le).  *perm gets the permission
 * bits it implies; *minimal is true when the mode says it all.  EINVAL
 * when malformed.
 */
static int acl_parse(const uint8_t *v, size_t n, uint32_t *perm, bool *minimal)
{
	uint32_t u = 0, g = 0, o = 0, m = 0, seen = 0;

	if (n < 4 || (n - 4) % 8 || le32(v) != ACL_VERSION)
		return EINVAL;
	*minimal = true;
	for (size_t i = 4; i < n; i += 8) {
		uint32_t tag = v[i] | (uint32_t)v[i + 1] << 8;
		uint32_t p = (v[i + 2] | (uint32_t)v[i + 3] << 8) & 7;

		switch (tag) {
		case ACL_USER_OBJ: u = p; break;
		case ACL_GROUP_OBJ: g = p; break;
		case ACL_OTHER: o = p; break;
		case ACL_MASK: m = p; *minimal = false; break;
		case ACL_USER: case ACL_GROUP: *minimal = false; break;
		default: return EINVAL;
		}
		if ((tag & (ACL_USER_OBJ | ACL_GROUP_OBJ | ACL_OTHER | ACL_MASK)) &&
		    (seen & tag))
			return EINVAL;
		seen |= tag;
	}
	if ((seen & (ACL_USER_OBJ | ACL_GROUP_OBJ | ACL_OTHER)) !=
	    (ACL_USER_OBJ | ACL_GROUP_OBJ | ACL_OTHER))
		return EINVAL;
	if ((seen & (ACL_USER | ACL_GROUP)) && !(seen & ACL_MASK))
		return EINVAL;
	*perm = u << 6 | ((seen & ACL_MASK) ? m : g) << 3 | o;
	return 0;
}

int fs_acl_chmod(struct fs *fs, uint64_t ino, uint32_t mode, lsm_batch *b)
{
	uint8_t k[FS_KEY_MAX];
	size_t klen = fs_key_xattr(k, ino, ACL_NAME, strlen(ACL_NAME)), vlen = 0;
	uint8_t *val = NULL;
	bool has_mask = false;
	uint32_t perm;
	bool minimal;
	int rc;

	rc = lsm_get(fs->db, NULL, k, klen, (void **)&val, &vlen);
	if (rc == LSM_ENOTFOUND)
		return 0;
	if ((rc = fs_errno(rc)))
		goto out;
	if (acl_parse(val, vlen, &perm, &minimal)) {
		rc = EIO;
		goto out;
	}
	for (size_t i = 4; i < vlen; i += 8)
		has_mask |= val[i] == ACL_MASK;
	for (size_t i = 4; i < vlen; i += 8) {
		uint32_t tag = val[i] | (uint32_t)val[i + 1] << 8, p = 0xffff;

		if (tag == ACL_USER_OBJ)
			p = mode >> 6 & 7;
		else if (tag == ACL_MASK || (tag == ACL_GROUP_OBJ && !has_mask))
			p = mode >> 3 & 7;
		else if (tag == ACL_OTHER)
			p = mode & 7;
		if (p != 0xffff) {
			val[i + 2] = (uint8_t)p;
			val[i + 3] = 0;
		}
	}
	rc = fs_errno(lsm_batch_put(b, k, klen, val, vlen));
out:
	free(val);
	return rc;
}

/* Sets (val non-NULL) or removes (val NULL) name; *mode_changed tells
 * whether the inode's mode changed with it. */
static int xattr_change(struct fs *fs, uint64_t ino, const char *name,
			const void *val, size_t size, int flags,
			bool *mode_changed)
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
	rc = ip->xnone ? ENODATA : xattr_exists(fs, ino, name, nlen);
	if (rc && rc != ENODATA)
		goto out;
	if (val && !strcmp(name, ACL_NAME)) {
		/* Minimal ACLs live in the mode: flags cannot be honoured. */
	} else if (!val || (flags & XATTR_REPLACE)) {
		if (rc)
			goto out; /* ENODATA */
	} else if ((flags & XATTR_CREATE) && !rc) {
		rc = EEXIST;
		goto out;
	}
	if (val && rc == ENODATA && strcmp(name, ACL_NAME) && !ip->xnone &&
	    (rc = xattr_list_room(fs, ino, nlen)))
		goto out;
	a = ip->a;
	fs_now(&a.ctime, &a.ctime_ns);
	klen = fs_key_xattr(k, ino, name, nlen);
	if ((rc = fs_errno(lsm_batch_create(&b))))
		goto out;
	if (val && !strcmp(name, ACL_NAME)) {
		uint32_t perm;
		bool minimal;

		if ((rc = acl_parse(val, size, &perm, &minimal)))
			goto out;
		a.mode = (a.mode & ~0777u) | perm;
		if (minimal)
			val = NULL; /* the mode says it all: store no ACL */
	}
	if (val)
		rc = fs_errno(lsm_batch_put(b, k, klen, val, size));
	else if (!ip->xnone)
		rc = fs_errno(lsm_batch_delete(b, k, klen));
	if (rc || (rc = fs_inode_put_rec(b, &a, ip)) || (rc = fs_commit(fs, b)))
		goto out;
	*mode_changed = a.mode != ip->a.mode;
	ip->a = a;
	if (val)
		ip->xnone = false;
out:
	pthread_mutex_unlock(&ip->mu);
	fs_inode_put(fs, ip);
	lsm_batch_destroy(b);
	return rc;
}

int fs_xattr_set_m(struct fs *fs, uint64_t ino, const char *name,
		   const void *val, size_t size, int flags, bool *mode_changed)
{
	size_t nlen;
	int rc;

	*mode_changed = false;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
		return EINVAL;
	if ((rc = check_xname(name, &nlen)) || (rc = check_xnamespace(name, nlen)))
		return rc;
	return xattr_change(fs, ino, name, val ? val : "", size, flags,
			    mode_changed);
}

int fs_xattr_set(struct fs *fs, uint64_t ino, const char *name,
		 const void *val, size_t size, int flags)
{
	bool changed;

	return fs_xattr_set_m(fs, ino, name, val, size, flags, &changed);
}

int fs_xattr_remove_m(struct fs *fs, uint64_t ino, const char *name,
		      bool *mode_changed)
{
	*mode_changed = false;
	return xattr_change(fs, ino, name, NULL, 0, 0, mode_changed);
}

int fs_xattr_remove(struct fs *fs, uint64_t ino, const char *name)
{
	bool changed;

	return fs_xattr_remove_m(fs, ino, name, &changed);
}

/* true when inode ino is known to have no stored xattr (fs_inode.xnone);
 * false when unknown or on any error (the store then answers). */
static bool xattr_known_none(struct fs *fs, uint64_t ino)
{
	struct fs_inode *ip = NULL;
	bool none;

	if (fs_inode_get(fs, ino, &ip))
		return false;
	pthread_mutex_lock(&ip->mu);
	none = ip->xnone;
	pthread_mutex_unlock(&ip->mu);
	fs_inode_put(fs, ip);
	return none;
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
	if (xattr_known_none(fs, ino))
		return ENODATA;
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

static int xattr_list_scan(struct fs *fs, const struct fs_ctx *ctx,
			   uint64_t ino, char *buf, size_t size, size_t *len);

/* (Called by xattr_list_room with ip->mu held: asks the store only.) */
int fs_xattr_list(struct fs *fs, uint64_t ino, char *buf, size_t size,
		  size_t *len)
{
	return xattr_list_scan(fs, NULL, ino, buf, size, len);
}

int fs_xattr_list_for(struct fs *fs, const struct fs_ctx *ctx, uint64_t ino,
		      char *buf, size_t size, size_t *len)
{
	*len = 0;
	if (xattr_known_none(fs, ino))
		return 0;
	return xattr_list_scan(fs, ctx, ino, buf, size, len);
}

static int xattr_list_scan(struct fs *fs, const struct fs_ctx *ctx,
			   uint64_t ino, char *buf, size_t size, size_t *len)
{
	/* As local filesystems do, trusted.* is listed only to a privileged
	 * caller (root here; the kernel already hides its values). */
	bool hide_trusted = ctx && ctx->uid != 0;
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
		if (hide_trusted && kl - plen >= strlen(TRUSTED_PREFIX) &&
		    !memcmp(key + plen, TRUSTED_PREFIX, strlen(TRUSTED_PREFIX)))
			continue;
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
