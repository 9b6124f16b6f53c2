/*
 * test_fs_badinput.c — bad input to the filesystem's record decoders
 * (fs/schema.c), for what test_fs_schema.c leaves out (it covers every
 * truncation, random bit flips and random bytes, a newer superblock
 * version): oversized lengths and counts in the CBOR heads, values one
 * past each documented limit, and the superblock's version at both ends.
 * Every case must be EIO (EPROTONOSUPPORT for a newer version), and the
 * value at each limit must still decode.  The store's readers have the
 * same kind of cases in test_badinput.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

/* A CBOR record being written by hand. */
struct rec {
	uint8_t b[8192];
	size_t n;
};

static void head(struct rec *r, int major, uint64_t v)
{
	int len = v < 24 ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2
		  : v <= 0xffffffffu ? 4 : 8;

	assert_true(r->n + 9 <= sizeof(r->b));
	r->b[r->n++] = (uint8_t)(major << 5 |
				 (len == 0 ? v : len == 1 ? 24 : len == 2 ? 25
						 : len == 4 ? 26 : 27));
	for (int i = len - 1; i >= 0; i--)
		r->b[r->n++] = (uint8_t)(v >> (8 * i));
}

static void uint_(struct rec *r, uint64_t v) { head(r, 0, v); }

static void bytes(struct rec *r, int major, const void *p, size_t n)
{
	head(r, major, n);
	assert_true(r->n + n <= sizeof(r->b));
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

/* ---- superblock --------------------------------------------------------- */

/* A superblock with every field; version, chunk size and next inode as
 * given, and the map head's count as given (5 when count is 0). */
static void super_rec(struct rec *r, uint64_t count, uint64_t version,
		      uint64_t chunk, uint64_t next)
{
	static const uint8_t uuid[16] = { 1 };

	r->n = 0;
	head(r, 5, count ? count : 5);
	uint_(r, 0);
	bytes(r, 3, "lsmfs", 5);
	uint_(r, 1);
	uint_(r, version);
	uint_(r, 2);
	bytes(r, 2, uuid, sizeof(uuid));
	uint_(r, 3);
	uint_(r, chunk);
	uint_(r, 4);
	uint_(r, next);
}

static void test_super_limits(void **state)
{
	struct fs_super_rec s;
	struct rec r;

	(void)state;
	super_rec(&r, 0, 1, FS_CHUNK_MIN, 2);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), 0);
	super_rec(&r, 0, 1, FS_CHUNK_MAX, UINT64_MAX);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), 0);

	/* versions: 0 is corrupt, any above ours is "newer", even past
	 * 32 bits (then it is out of range: corrupt) */
	super_rec(&r, 0, 0, FS_CHUNK_DEFAULT, 2);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);
	super_rec(&r, 0, UINT32_MAX, FS_CHUNK_DEFAULT, 2);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EPROTONOSUPPORT);
	super_rec(&r, 0, UINT64_C(1) << 32, FS_CHUNK_DEFAULT, 2);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);

	/* values one past each limit */
	super_rec(&r, 0, 1, FS_CHUNK_MIN - 1, 2);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);
	super_rec(&r, 0, 1, FS_CHUNK_MAX + 1, 2);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);
	super_rec(&r, 0, 1, FS_CHUNK_DEFAULT, FS_ROOT_INO);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);

	/* map counts: one more than present, 17, 2^32, 2^64 - 1 */
	super_rec(&r, 6, 1, FS_CHUNK_DEFAULT, 2);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);
	super_rec(&r, 17, 1, FS_CHUNK_DEFAULT, 2);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);
	super_rec(&r, UINT64_C(1) << 32, 1, FS_CHUNK_DEFAULT, 2);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);
	super_rec(&r, UINT64_MAX, 1, FS_CHUNK_DEFAULT, 2);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);
}

static void test_super_lengths(void **state)
{
	static const uint8_t uuid17[17] = { 0 };
	struct fs_super_rec s;
	struct rec r;

	(void)state;
	/* the magic's head claims 2^32 bytes */
	r.n = 0;
	head(&r, 5, 2);
	uint_(&r, 0);
	head(&r, 3, UINT64_C(1) << 32);
	memcpy(r.b + r.n, "lsmfs", 5);
	r.n += 5;
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);
	/* a 17-byte uuid */
	r.n = 0;
	head(&r, 5, 3);
	uint_(&r, 0);
	bytes(&r, 3, "lsmfs", 5);
	uint_(&r, 1);
	uint_(&r, 1);
	uint_(&r, 2);
	bytes(&r, 2, uuid17, sizeof(uuid17));
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);
	/* an unknown key (allowed: judged by version) whose value claims
	 * 2^63 bytes */
	r.n = 0;
	head(&r, 5, 1);
	uint_(&r, 9);
	head(&r, 2, UINT64_C(1) << 63);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);
	/* a key past 63 */
	super_rec(&r, 6, 1, FS_CHUNK_DEFAULT, 2);
	uint_(&r, 64);
	uint_(&r, 0);
	assert_int_equal(fs_super_decode(r.b, r.n, &s), EIO);
}

/* ---- inode -------------------------------------------------------------- */

/* {0: mode, 4: 1, then the given key and value bytes} with the map head
 * counting count pairs (3 when 0). */
static void inode_rec(struct rec *r, uint64_t count, uint32_t mode)
{
	r->n = 0;
	head(r, 5, count ? count : 3);
	uint_(r, 0);
	uint_(r, mode);
	uint_(r, 4);
	uint_(r, 1);
}

static void test_inode_limits(void **state)
{
	static char target[FS_SYMLINK_MAX + 2];
	struct fs_inode_rec ir;
	struct rec r;

	(void)state;
	memset(target, 't', sizeof(target));
	/* a symlink target of FS_SYMLINK_MAX bytes, then one more */
	inode_rec(&r, 0, S_IFLNK | 0777);
	uint_(&r, 13);
	bytes(&r, 2, target, FS_SYMLINK_MAX);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), 0);
	assert_int_equal(ir.target_len, FS_SYMLINK_MAX);
	inode_rec(&r, 0, S_IFLNK | 0777);
	uint_(&r, 13);
	bytes(&r, 2, target, FS_SYMLINK_MAX + 1);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);
	/* a target holding a NUL, and one whose head claims 2^63 bytes */
	inode_rec(&r, 0, S_IFLNK | 0777);
	uint_(&r, 13);
	bytes(&r, 2, "a\0b", 3);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);
	inode_rec(&r, 0, S_IFLNK | 0777);
	uint_(&r, 13);
	head(&r, 2, UINT64_C(1) << 63);
	memcpy(r.b + r.n, "abc", 3);
	r.n += 3;
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);

	/* size: INT64_MAX is the largest */
	r.n = 0;
	head(&r, 5, 3);
	uint_(&r, 0);
	uint_(&r, S_IFREG | 0644);
	uint_(&r, 3);
	uint_(&r, INT64_MAX);
	uint_(&r, 4);
	uint_(&r, 1);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), 0);
	assert_true(ir.a.size == INT64_MAX);
	r.n = 0;
	head(&r, 5, 3);
	uint_(&r, 0);
	uint_(&r, S_IFREG | 0644);
	uint_(&r, 3);
	uint_(&r, (uint64_t)INT64_MAX + 1);
	uint_(&r, 4);
	uint_(&r, 1);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);

	/* nlink past 32 bits; a time below INT64_MIN (-1 - 2^63) */
	r.n = 0;
	head(&r, 5, 2);
	uint_(&r, 0);
	uint_(&r, S_IFREG | 0644);
	uint_(&r, 4);
	uint_(&r, UINT64_C(1) << 32);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);
	inode_rec(&r, 0, S_IFREG | 0644);
	uint_(&r, 5);
	head(&r, 1, (uint64_t)INT64_MAX + 1);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);
	inode_rec(&r, 0, S_IFREG | 0644);
	uint_(&r, 5);
	head(&r, 1, (uint64_t)INT64_MAX); /* INT64_MIN itself is fine */
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), 0);
	assert_true(ir.a.atime == INT64_MIN);
	/* a key past 15 */
	inode_rec(&r, 0, S_IFREG | 0644);
	uint_(&r, 16);
	uint_(&r, 0);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);
}

static void test_inode_counts(void **state)
{
	struct fs_inode_rec ir;
	struct rec r;

	(void)state;
	/* map heads of 17 pairs, 2^32 and 2^64 - 1, with 2 present */
	inode_rec(&r, 17, S_IFREG | 0644);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);
	inode_rec(&r, UINT64_C(1) << 32, S_IFREG | 0644);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);
	inode_rec(&r, UINT64_MAX, S_IFREG | 0644);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);
	/* an array where the map belongs, of 2^64 - 1 items */
	r.n = 0;
	head(&r, 4, UINT64_MAX);
	uint_(&r, 0);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);
	/* a value that is itself a huge array or map */
	inode_rec(&r, 0, S_IFREG | 0644);
	uint_(&r, 12);
	head(&r, 4, UINT64_MAX);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);
	inode_rec(&r, 0, S_IFREG | 0644);
	uint_(&r, 12);
	head(&r, 5, 1);
	uint_(&r, 0);
	uint_(&r, 0);
	assert_int_equal(fs_inode_decode(r.b, r.n, &ir), EIO);
}

/* ---- directory entry ---------------------------------------------------- */

static void test_dirent_limits(void **state)
{
	struct rec r;
	uint64_t ino;
	uint32_t type;

	(void)state;
	/* array heads of 2^32 and 2^64 - 1 items, 2 present */
	r.n = 0;
	head(&r, 4, UINT64_C(1) << 32);
	uint_(&r, 5);
	uint_(&r, 4);
	assert_int_equal(fs_dirent_decode(r.b, r.n, &ino, &type), EIO);
	r.b[0] = 0x9b;
	memset(r.b + 1, 0xff, 8);
	assert_int_equal(fs_dirent_decode(r.b, r.n, &ino, &type), EIO);
	/* the largest inode number and type 15 are fine */
	r.n = 0;
	head(&r, 4, 2);
	uint_(&r, UINT64_MAX);
	uint_(&r, 15);
	assert_int_equal(fs_dirent_decode(r.b, r.n, &ino, &type), 0);
	assert_true(ino == UINT64_MAX && type == 15);
	/* a negative inode number, an inode number as bytes */
	r.n = 0;
	head(&r, 4, 2);
	head(&r, 1, 0);
	uint_(&r, 4);
	assert_int_equal(fs_dirent_decode(r.b, r.n, &ino, &type), EIO);
	r.n = 0;
	head(&r, 4, 2);
	bytes(&r, 2, "\1\2\3\4\5\6\7\10", 8);
	uint_(&r, 4);
	assert_int_equal(fs_dirent_decode(r.b, r.n, &ino, &type), EIO);
	/* a type past 32 bits */
	r.n = 0;
	head(&r, 4, 2);
	uint_(&r, 5);
	uint_(&r, UINT64_C(1) << 32 | 4);
	assert_int_equal(fs_dirent_decode(r.b, r.n, &ino, &type), EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_super_limits),
		cmocka_unit_test(test_super_lengths),
		cmocka_unit_test(test_inode_limits),
		cmocka_unit_test(test_inode_counts),
		cmocka_unit_test(test_dirent_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
