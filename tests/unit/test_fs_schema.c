/*
 * test_fs_schema.c — keys and records of fs/schema.c: key order, record
 * round trips, and decoders that reject every malformed input with an
 * error (random bytes, truncations, bit flips) without crashing.
 * LSM_SEED overrides the random seed.
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

static uint64_t seed = 12345;

static uint64_t rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : (al > bl) - (al < bl);
}

static void test_key_order(void **state)
{
	uint8_t a[FS_KEY_MAX], b[FS_KEY_MAX];
	size_t al, bl;

	(void)state;
	/* chunk keys: numeric order of (ino, idx) */
	al = fs_key_chunk(a, 1, 255);
	bl = fs_key_chunk(b, 1, 256);
	assert_true(keycmp(a, al, b, bl) < 0);
	al = fs_key_chunk(a, 255, UINT64_MAX);
	bl = fs_key_chunk(b, 256, 0);
	assert_true(keycmp(a, al, b, bl) < 0);
	/* a directory's entries sit under its 9-byte prefix, before the
	 * next directory's */
	al = fs_key_dirent(a, 7, "zzzz", 4);
	bl = fs_key_dirent(b, 8, "a", 1);
	assert_true(keycmp(a, al, b, bl) < 0);
	bl = fs_key_prefix(b, FS_K_DIRENT, 7);
	assert_int_equal(bl, 9);
	assert_memory_equal(a, b, 9);
	al = fs_key_inode(a, 0x0102030405060708ull);
	assert_int_equal(al, 9);
	assert_int_equal(a[0], 'I');
	assert_int_equal(a[1], 1);
	assert_int_equal(a[8], 8);
	assert_int_equal(fs_get_u64be(a + 1), 0x0102030405060708ull);
	assert_int_equal(fs_key_super(a), 1);
	assert_int_equal(fs_key_orphan(a, 3), 9);
	assert_int_equal(a[0], 'O');
	al = fs_key_xattr(a, 3, "user.x", 6);
	assert_int_equal(al, 15);
}

static struct fs_attr sample_attr(void)
{
	struct fs_attr a = {0};

	a.ino = 42;
	a.mode = S_IFREG | 04755;
	a.uid = 1000;
	a.gid = 100;
	a.nlink = 3;
	a.size = 123456789012ull;
	a.rdev = 0;
	a.gen = 1;
	a.stored = 65536;
	a.atime = -86400;
	a.atime_ns = 999999999;
	a.mtime = 1700000000;
	a.mtime_ns = 1;
	a.ctime = 0;
	a.ctime_ns = 0;
	return a;
}

static void test_inode_roundtrip(void **state)
{
	uint8_t buf[FS_INODE_REC_MAX];
	struct fs_attr a = sample_attr();
	struct fs_inode_rec r;
	size_t n;

	(void)state;
	n = fs_inode_encode(&a, NULL, 0, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(fs_inode_decode(buf, n, &r), 0);
	r.a.ino = a.ino;
	assert_memory_equal(&r.a, &a, sizeof(a));
	assert_int_equal(r.target_len, 0);

	/* a symlink with a target, a directory with a parent */
	a.mode = S_IFLNK | 0777;
	a.stored = 0;
	n = fs_inode_encode(&a, "some/where", 10, buf, sizeof(buf));
	assert_int_equal(fs_inode_decode(buf, n, &r), 0);
	assert_int_equal(r.target_len, 10);
	assert_memory_equal(r.target, "some/where", 10);
	a.mode = S_IFDIR | 0755;
	a.parent = 1;
	n = fs_inode_encode(&a, NULL, 0, buf, sizeof(buf));
	assert_int_equal(fs_inode_decode(buf, n, &r), 0);
	assert_int_equal(r.a.parent, 1);

	/* a buffer too small is reported, not overrun */
	assert_int_equal(fs_inode_encode(&a, NULL, 0, buf, 10), 0);
}

static void test_inode_reject(void **state)
{
	uint8_t buf[FS_INODE_REC_MAX], bad[FS_INODE_REC_MAX + 8];
	struct fs_attr a = sample_attr();
	struct fs_inode_rec r;
	size_t n = fs_inode_encode(&a, NULL, 0, buf, sizeof(buf));

	(void)state;
	/* every truncation fails */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(fs_inode_decode(buf, i, &r), EIO);
	/* trailing bytes fail */
	memcpy(bad, buf, n);
	bad[n] = 0;
	assert_int_equal(fs_inode_decode(bad, n + 1, &r), EIO);
	/* not a map */
	assert_int_equal(fs_inode_decode("\x82\x01\x02", 3, &r), EIO);
	/* missing nlink (key 4): {0: 0x81a4} */
	assert_int_equal(fs_inode_decode("\xa1\x00\x19\x81\xa4", 5, &r), EIO);
	/* repeated key: {0: 1, 0: 1} */
	assert_int_equal(fs_inode_decode("\xa2\x00\x01\x00\x01", 5, &r), EIO);
	/* nsec out of range: {0: 1, 4: 1, 6: 1000000000} */
	assert_int_equal(fs_inode_decode("\xa3\x00\x01\x04\x01\x06\x1a\x3b\x9a\xca\x00",
					 11, &r), EIO);
	/* a symlink without a target */
	assert_int_equal(fs_inode_decode("\xa2\x00\x19\xa1\xff\x04\x01", 7, &r), EIO);
	/* a valid minimal record: {0: S_IFREG|0644, 4: 1} */
	assert_int_equal(fs_inode_decode("\xa2\x00\x19\x81\xa4\x04\x01", 7, &r), 0);
	assert_int_equal(r.a.mode, S_IFREG | 0644);
	assert_int_equal(r.a.nlink, 1);
	/* bit flips never crash; they decode or fail cleanly */
	for (int i = 0; i < 20000; i++) {
		memcpy(bad, buf, n);
		for (int k = 0; k < 1 + (int)(rnd() % 3); k++)
			bad[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
		int rc = fs_inode_decode(bad, n, &r);

		assert_true(rc == 0 || rc == EIO);
	}
	/* random bytes */
	for (int i = 0; i < 20000; i++) {
		size_t len = rnd() % 64;

		for (size_t k = 0; k < len; k++)
			bad[k] = (uint8_t)rnd();
		int rc = fs_inode_decode(bad, len, &r);

		assert_true(rc == 0 || rc == EIO);
	}
}

static void test_super(void **state)
{
	struct fs_super_rec s = {FS_FORMAT_VERSION, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
						    11, 12, 13, 14, 15, 16},
				 65536, 1025};
	struct fs_super_rec d;
	uint8_t buf[128], bad[128];
	size_t n = fs_super_encode(&s, buf, sizeof(buf));

	(void)state;
	assert_true(n > 0);
	assert_int_equal(fs_super_decode(buf, n, &d), 0);
	assert_memory_equal(&s, &d, sizeof(s));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(fs_super_decode(buf, i, &d), EIO);
	/* a newer version is told apart from corruption */
	s.version = FS_FORMAT_VERSION + 1;
	n = fs_super_encode(&s, buf, sizeof(buf));
	assert_int_equal(fs_super_decode(buf, n, &d), EPROTONOSUPPORT);
	/* a wrong magic is corruption */
	s.version = FS_FORMAT_VERSION;
	n = fs_super_encode(&s, buf, sizeof(buf));
	memcpy(bad, buf, n);
	bad[3] ^= 0x20; /* inside "lsmfs" */
	assert_int_equal(fs_super_decode(bad, n, &d), EIO);
	for (int i = 0; i < 20000; i++) {
		memcpy(bad, buf, n);
		bad[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
		int rc = fs_super_decode(bad, n, &d);

		assert_true(rc == 0 || rc == EIO || rc == EPROTONOSUPPORT);
	}
}

static void test_dirent(void **state)
{
	uint8_t buf[32];
	uint64_t ino;
	uint32_t type;
	size_t n = fs_dirent_encode(0x123456789ull, 4, buf, sizeof(buf));

	(void)state;
	assert_int_equal(fs_dirent_decode(buf, n, &ino, &type), 0);
	assert_int_equal(ino, 0x123456789ull);
	assert_int_equal(type, 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(fs_dirent_decode(buf, i, &ino, &type), EIO);
	/* inode 0, a type over 15, three elements, a map */
	assert_int_equal(fs_dirent_decode("\x82\x00\x04", 3, &ino, &type), EIO);
	assert_int_equal(fs_dirent_decode("\x82\x01\x10", 3, &ino, &type), EIO);
	assert_int_equal(fs_dirent_decode("\x83\x01\x04\x00", 4, &ino, &type), EIO);
	assert_int_equal(fs_dirent_decode("\xa1\x01\x04", 3, &ino, &type), EIO);
	/* indefinite array */
	assert_int_equal(fs_dirent_decode("\x9f\x01\x04\xff", 4, &ino, &type), EIO);
}

static void test_errno_map(void **state)
{
	(void)state;
	assert_int_equal(fs_errno(LSM_OK), 0);
	assert_int_equal(fs_errno(LSM_ENOSPC), ENOSPC);
	assert_int_equal(fs_errno(LSM_ENOMEM), ENOMEM);
	assert_int_equal(fs_errno(LSM_ECORRUPT), EIO);
	assert_int_equal(fs_errno(LSM_EIO), EIO);
}

int main(void)
{
	const char *s = getenv("LSM_SEED");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_order),
		cmocka_unit_test(test_inode_roundtrip),
		cmocka_unit_test(test_inode_reject),
		cmocka_unit_test(test_super),
		cmocka_unit_test(test_dirent),
		cmocka_unit_test(test_errno_map),
	};

	if (s)
		seed = strtoull(s, NULL, 0) | 1;
	printf("# LSM_SEED=%llu\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
