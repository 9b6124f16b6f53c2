/*
 * fuzz_fs_schema.c — libFuzzer target for the filesystem's record
 * decoders (fs/schema.c): every input goes through fs_super_decode,
 * fs_inode_decode and fs_dirent_decode (no mode byte: these records
 * carry no checksum of their own).
 *
 * Each decoder must answer 0 or EIO (the superblock also
 * EPROTONOSUPPORT for a newer version), never crash or read past the
 * input; and whatever decodes must encode again (into a buffer of the
 * documented maximum size) and decode to the same fields.
 */
#include <errno.h>
#include <string.h>

#include "fs.h"
#include "fuzz.h"

static void fuzz_super(const uint8_t *data, size_t size)
{
	struct fs_super_rec s, s2;
	uint8_t buf[256];
	size_t n;
	int rc = fs_super_decode(data, size, &s);

	FUZZ_CHECK(rc == 0 || rc == EIO || rc == EPROTONOSUPPORT);
	if (rc)
		return;
	FUZZ_CHECK(s.version >= 1 && s.version <= FS_FORMAT_VERSION);
	FUZZ_CHECK(s.chunk_size >= FS_CHUNK_MIN &&
		   s.chunk_size <= FS_CHUNK_MAX);
	FUZZ_CHECK(s.next_ino > FS_ROOT_INO);
	n = fs_super_encode(&s, buf, sizeof(buf));
	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(fs_super_decode(buf, n, &s2) == 0);
	FUZZ_CHECK(!memcmp(&s, &s2, sizeof(s)));
}

static void fuzz_inode(const uint8_t *data, size_t size)
{
	static uint8_t buf[FS_INODE_REC_MAX];
	struct fs_inode_rec r, r2;
	size_t n;
	int rc = fs_inode_decode(data, size, &r);

	FUZZ_CHECK(rc == 0 || rc == EIO);
	if (rc)
		return;
	FUZZ_CHECK(r.target_len <= FS_SYMLINK_MAX);
	FUZZ_CHECK(S_ISLNK(r.a.mode) == (r.target_len != 0));
	if (r.target_len)
		FUZZ_CHECK(r.target >= data &&
			   r.target + r.target_len <= data + size &&
			   !memchr(r.target, 0, r.target_len));
	FUZZ_CHECK(r.a.atime_ns < 1000000000 && r.a.mtime_ns < 1000000000 &&
		   r.a.ctime_ns < 1000000000);
	FUZZ_CHECK(r.a.size <= INT64_MAX);
	n = fs_inode_encode(&r.a, (const char *)r.target, r.target_len, buf,
			    sizeof(buf));
	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(fs_inode_decode(buf, n, &r2) == 0);
	FUZZ_CHECK(!memcmp(&r.a, &r2.a, sizeof(r.a)));
	FUZZ_CHECK(r2.target_len == r.target_len);
	if (r.target_len)
		FUZZ_CHECK(!memcmp(r.target, r2.target, r.target_len));
}

static void fuzz_dirent(const uint8_t *data, size_t size)
{
	uint8_t buf[32];
	uint64_t ino, ino2;
	uint32_t type, type2;
	size_t n;
	int rc = fs_dirent_decode(data, size, &ino, &type);

	FUZZ_CHECK(rc == 0 || rc == EIO);
	if (rc)
		return;
	FUZZ_CHECK(ino != 0 && type <= 15);
	n = fs_dirent_encode(ino, type, buf, sizeof(buf));
	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(fs_dirent_decode(buf, n, &ino2, &type2) == 0);
	FUZZ_CHECK(ino2 == ino && type2 == type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libFuzzer hands a heap copy of exactly size bytes: ASan sees
	 * any read past the record. */
	fuzz_super(data, size);
	fuzz_inode(data, size);
	fuzz_dirent(data, size);
	return 0;
}
