/*
 * test_badinput.c — bad input to each reader of the store, for what the
 * readers' own tests (test_wal.c, test_batch.c, test_sst.c,
 * test_version.c) leave out.  Those cover truncation at every offset,
 * flipped bits, zero tails and newer format versions.  Here:
 *   - oversized lengths inside records whose checksum is right (a CBOR
 *     head claiming 2^32 ops or a 2^63-byte key, a block entry longer
 *     than its block, 2^32 restart points, a block handle past the file):
 *     the reader must say LSM_ECORRUPT, naming the file and where, without
 *     trusting (or allocating) the claimed size;
 *   - the shapes a later version could write (a WAL payload of three
 *     items, a manifest version 2^64-1);
 *   - a restart array that disagrees with its block's entries, which
 *     lsm_sst_verify must catch since seeks and backward scans trust it.
 * The filesystem's records have the same kind of cases in
 * test_fs_badinput.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lsm_int.h"

/* ---- fixture: a temp dir ------------------------------------------------ */

struct fx {
	char dir[64];
	char path[128]; /* a file in dir, per test */
	lsm_env *env;
};

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	strcpy(fx->dir, "/tmp/test_badinput.XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	fx->env = lsm_env_posix();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	nftw(fx->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void file_put(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Reads all of path into b. */
static void file_get(const char *path, struct lsm_buf *b)
{
	FILE *f = fopen(path, "rb");
	uint8_t chunk[4096];
	size_t n;

	assert_non_null(f);
	lsm_buf_clear(b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(lsm_buf_append(b, chunk, n), LSM_OK);
	assert_int_equal(fclose(f), 0);
}

static void expect_msg(const char *a, const char *b)
{
	const char *msg = lsm_last_error();

	if ((a && !strstr(msg, a)) || (b && !strstr(msg, b)))
		fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", msg,
			 a ? a : "", b ? b : "");
}

/* ---- WAL ---------------------------------------------------------------- */

/* Appends a frame holding payload p[n] (right length and crc) to b. */
static void frame_append(struct lsm_buf *b, const void *p, size_t n)
{
	uint8_t h[LSM_FRAME_HDR];

	lsm_put_u32le(h, (uint32_t)n);
	lsm_put_u32le(h + 4, lsm_crc32c(0, p, n));
	assert_int_equal(lsm_buf_append(b, h, sizeof(h)), LSM_OK);
	assert_int_equal(lsm_buf_append(b, p, n), LSM_OK);
}

/* Appends a good record: put(key, "v") at seq. */
static void good_record(struct lsm_buf *b, uint64_t seq, const char *key)
{
	struct lsm_buf frame = { 0 };
	lsm_batch *batch;

	assert_int_equal(lsm_batch_create(&batch), LSM_OK);
	assert_int_equal(lsm_batch_put(batch, key, strlen(key), "v", 1),
			 LSM_OK);
	assert_int_equal(lsm_wal_encode(&frame, seq, batch), LSM_OK);
	assert_int_equal(lsm_buf_append(b, frame.data, frame.len), LSM_OK);
	lsm_batch_destroy(batch);
	lsm_buf_free(&frame);
}

static int count_fn(void *ctx, uint64_t seq, const uint8_t *ops,
		    size_t opslen, uint32_t count)
{
	(void)seq, (void)ops, (void)opslen, (void)count;
	++*(int *)ctx;
	return 0;
}

/* A log of: good record, bad payload, good record.  Replay says
 * LSM_ECORRUPT naming the file and the bad record's offset, and salvage
 * keeps the first record.  Alone at the end, the bad record is a torn
 * tail.  lsm_wal_decode rejects the payload by itself too. */
static void expect_bad_payload(struct fx *fx, const uint8_t *p, size_t n,
			       const char *why)
{
	struct lsm_buf log = { 0 };
	struct lsm_wal_report rep;
	const uint8_t *ops;
	size_t opslen, bad_off;
	uint32_t count;
	uint64_t seq;
	char off[32];
	int records = 0;

	assert_int_equal(lsm_wal_decode(p, n, &seq, &ops, &opslen, &count),
			 LSM_ECORRUPT);
	expect_msg("WAL payload", why);

	good_record(&log, 1, "a");
	bad_off = log.len;
	frame_append(&log, p, n);
	good_record(&log, 2, "b");
	file_put(fx->path, log.data, log.len);
	assert_int_equal(lsm_wal_replay(fx->env, fx->path, false, count_fn,
					&records, &rep),
			 LSM_ECORRUPT);
	snprintf(off, sizeof(off), "offset %zu ", bad_off);
	expect_msg(fx->path, off);
	assert_int_equal(records, 1);

	records = 0;
	assert_int_equal(lsm_wal_replay(fx->env, fx->path, true, count_fn,
					&records, &rep),
			 LSM_OK);
	assert_int_equal(records, 1);
	assert_false(rep.torn);
	assert_int_equal(rep.good_bytes, bad_off);
	assert_int_equal(rep.dropped_bytes, log.len - bad_off);

	/* The same record last in the file: a torn tail, cut off. */
	log.len = bad_off;
	frame_append(&log, p, n);
	file_put(fx->path, log.data, log.len);
	records = 0;
	assert_int_equal(lsm_wal_replay(fx->env, fx->path, false, count_fn,
					&records, &rep),
			 LSM_OK);
	assert_int_equal(records, 1);
	assert_true(rep.torn);
	assert_int_equal(rep.good_bytes, bad_off);
	lsm_buf_free(&log);
}

#define BAD_PAYLOAD(fx, why, ...)                                          \
	do {                                                               \
		static const uint8_t p_[] = { __VA_ARGS__ };               \
		expect_bad_payload(fx, p_, sizeof(p_), why);               \
	} while (0)

static void test_wal_oversized_lengths(void **state)
{
	struct fx *fx = *state;

	snprintf(fx->path, sizeof(fx->path), "%s/000001.log", fx->dir);
	/* 2^32 - 1 ops claimed, none present */
	BAD_PAYLOAD(fx, "fewer ops", 0x82, 0x05, 0x9a, 0xff, 0xff, 0xff, 0xff);
	/* 2^32 ops: more than a record may hold */
	BAD_PAYLOAD(fx, "op list", 0x82, 0x05, 0x9b, 0x00, 0x00, 0x00, 0x01,
		    0x00, 0x00, 0x00, 0x00);
	/* a key of 2^63 - 1 bytes claimed */
	BAD_PAYLOAD(fx, "cut short", 0x82, 0x05, 0x81, 0x82, 0x00, 0x5b, 0x7f,
		    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'k');
	/* a value of 2^32 - 1 bytes claimed, one present */
	BAD_PAYLOAD(fx, "cut short", 0x82, 0x05, 0x81, 0x83, 0x01, 0x41, 'k',
		    0x5a, 0xff, 0xff, 0xff, 0xff, 'v');
	/* an op array of 2^64 - 1 items */
	BAD_PAYLOAD(fx, "op is not", 0x82, 0x05, 0x81, 0x9b, 0xff, 0xff, 0xff,
		    0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
	/* a sequence number past LSM_SEQ_MAX */
	BAD_PAYLOAD(fx, "sequence", 0x82, 0x1b, 0x01, 0x00, 0x00, 0x00, 0x00,
		    0x00, 0x00, 0x00, 0x80);
	/* ops whose sequence numbers would pass LSM_SEQ_MAX */
	BAD_PAYLOAD(fx, "out of range", 0x82, 0x1b, 0x00, 0xff, 0xff, 0xff,
		    0xff, 0xff, 0xff, 0xff, 0x82, 0x82, 0x00, 0x41, 'a', 0x82,
		    0x00, 0x41, 'b');
}

/* What a later version might write: the reader must not take it for
 * version 1 (WAL payloads carry no version number: wal.c's essay). */
static void test_wal_later_shapes(void **state)
{
	struct fx *fx = *state;

	snprintf(fx->path, sizeof(fx->path), "%s/000002.log", fx->dir);
	/* [seq, ops, extra] */
	BAD_PAYLOAD(fx, "2-item array", 0x83, 0x05, 0x80, 0x01);
	/* a map instead of the array */
	BAD_PAYLOAD(fx, "2-item array", 0xa2, 0x00, 0x05, 0x01, 0x80);
	/* an op code 2 */
	BAD_PAYLOAD(fx, "op code", 0x82, 0x05, 0x81, 0x83, 0x02, 0x41, 'k',
		    0x41, 'v');
	/* a tagged payload */
	BAD_PAYLOAD(fx, "2-item array", 0xd8, 0x20, 0x82, 0x05, 0x80);
}

/* Frame lengths at the extremes, in the middle of a log. */
static void test_wal_frame_len_extremes(void **state)
{
	static const uint32_t lens[] = { UINT32_MAX, (uint32_t)LSM_WAL_MAX_PAYLOAD + 1,
					 0x80000000u };
	struct fx *fx = *state;
	struct lsm_buf log = { 0 };
	struct lsm_wal_report rep;
	size_t bad_off;
	int records;

	snprintf(fx->path, sizeof(fx->path), "%s/000003.log", fx->dir);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		lsm_buf_clear(&log);
		good_record(&log, 1, "a");
		bad_off = log.len;
		good_record(&log, 2, "b");
		good_record(&log, 3, "c");
		lsm_put_u32le(log.data + bad_off, lens[i]);
		file_put(fx->path, log.data, log.len);
		records = 0;
		assert_int_equal(lsm_wal_replay(fx->env, fx->path, false,
						count_fn, &records, &rep),
				 lens[i] > LSM_WAL_MAX_PAYLOAD ? LSM_ECORRUPT
							       : LSM_OK);
		assert_int_equal(records, 1);
		if (lens[i] > LSM_WAL_MAX_PAYLOAD) {
			expect_msg(fx->path, "out of range");
		} else {
			/* In range but past the end: looks torn (the essay:
			 * the CRC does not cover the header). */
			assert_true(rep.torn);
			assert_int_equal(rep.good_bytes, bad_off);
		}
	}
	lsm_buf_free(&log);
}

/* ---- SSTable ------------------------------------------------------------ */

#define SST_NUM 9

/* Builds fx->path with n entries "key00".."key{n-1}" (restart interval
 * restart, bloom filter), returns its bytes in img. */
static void sst_make(struct fx *fx, int n, int restart, struct lsm_buf *img)
{
	struct lsm_sst_opts o = { 4096, restart, 10 };
	struct lsm_sst_builder *b;
	struct lsm_buf ik = { 0 };
	uint64_t size;

	snprintf(fx->path, sizeof(fx->path), "%s/%06d.sst", fx->dir, SST_NUM);
	assert_int_equal(lsm_sst_builder_create(fx->env, fx->path, &o, &b),
			 LSM_OK);
	for (int i = 0; i < n; i++) {
		char key[16];
		int klen = snprintf(key, sizeof(key), "key%02d", i);
		assert_int_equal(lsm_ikey_make(&ik, key, (size_t)klen, 10,
					       LSM_KIND_VAL),
				 LSM_OK);
		assert_int_equal(lsm_sst_builder_add(b, ik.data, ik.len,
						     (const uint8_t *)"val", 3),
				 LSM_OK);
	}
	assert_int_equal(lsm_sst_builder_finish(b, &size), LSM_OK);
	file_get(fx->path, img);
	assert_int_equal(img->len, size);
	lsm_buf_free(&ik);
}

struct sst_layout {
	uint64_t index_off, index_size, filter_off, filter_size;
	uint64_t data_off, data_size; /* the first data block */
};

static void sst_parse(const struct lsm_buf *img, struct sst_layout *l)
{
	const uint8_t *foot = img->data + img->len - 56, *p, *end;
	uint64_t shared, unshared, vlen;

	l->index_off = lsm_get_u64le(foot);
	l->index_size = lsm_get_u64le(foot + 8);
	l->filter_off = lsm_get_u64le(foot + 16);
	l->filter_size = lsm_get_u64le(foot + 24);
	/* the first index entry's value is the first data block's handle */
	p = img->data + l->index_off;
	end = p + l->index_size;
	assert_int_equal(lsm_varint_get(&p, end, &shared), 0);
	assert_int_equal(lsm_varint_get(&p, end, &unshared), 0);
	assert_int_equal(lsm_varint_get(&p, end, &vlen), 0);
	p += unshared;
	assert_int_equal(lsm_varint_get(&p, end, &l->data_off), 0);
	assert_int_equal(lsm_varint_get(&p, end, &l->data_size), 0);
}

/* Rewrites the checksum of the block (off, size) of img. */
static void fix_block_crc(struct lsm_buf *img, uint64_t off, uint64_t size)
{
	uint8_t *p = img->data + off;

	lsm_put_u32le(p + size + 1,
		      lsm_crc32c(lsm_crc32c(0, p, size), p + size, 1));
}

static void fix_footer_crc(struct lsm_buf *img)
{
	uint8_t *foot = img->data + img->len - 56;

	lsm_put_u32le(foot + 52, lsm_crc32c(0, foot, 52));
}

static void test_sst_oversized_lengths(void **state)
{
	struct fx *fx = *state;
	struct lsm_buf img = { 0 }, val = { 0 }, ik = { 0 };
	struct sst_layout l;
	char where[64];
	bool found;
	int kind;
	lsm_sst *t = NULL;

	sst_make(fx, 3, 16, &img);
	sst_parse(&img, &l);

	/* The first entry's key length claims 127 bytes of a short block:
	 * the table opens (the index is fine) but every read of the block
	 * is LSM_ECORRUPT naming the file and the block. */
	assert_true(l.data_size < 127);
	img.data[l.data_off + 1] = 0x7f;
	fix_block_crc(&img, l.data_off, l.data_size);
	file_put(fx->path, img.data, img.len);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, SST_NUM, img.len,
				      NULL, &t),
			 LSM_OK);
	assert_int_equal(lsm_ikey_make(&ik, "key01", 5, 10, LSM_KIND_VAL),
			 LSM_OK);
	assert_int_equal(lsm_sst_get(t, ik.data, ik.len, &found, &kind, &val,
				     NULL),
			 LSM_ECORRUPT);
	snprintf(where, sizeof(where), "bad block at offset %llu",
		 (unsigned long long)l.data_off);
	expect_msg(fx->path, where);
	assert_int_equal(lsm_sst_verify(t), LSM_ECORRUPT);
	expect_msg(fx->path, where);
	lsm_sst_unref(t);
	t = NULL;

	/* The index block claims 2^32 - 1 restart points. */
	sst_make(fx, 3, 16, &img);
	lsm_put_u32le(img.data + l.index_off + l.index_size - 4, UINT32_MAX);
	fix_block_crc(&img, l.index_off, l.index_size);
	file_put(fx->path, img.data, img.len);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, SST_NUM, img.len,
				      NULL, &t),
			 LSM_ECORRUPT);
	assert_null(t);
	expect_msg(fx->path, "restart count");

	/* Block handles in the footer past the end of the file, or with a
	 * size that would wrap: refused before any read or allocation. */
	sst_make(fx, 3, 16, &img);
	lsm_put_u64le(img.data + img.len - 56 + 24, UINT64_MAX);
	fix_footer_crc(&img);
	file_put(fx->path, img.data, img.len);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, SST_NUM, img.len,
				      NULL, &t),
			 LSM_ECORRUPT);
	expect_msg(fx->path, "bad block handle");
	sst_make(fx, 3, 16, &img);
	/* one byte more than fits before the footer, with its trailer */
	lsm_put_u64le(img.data + img.len - 56 + 8, l.index_size + 1);
	fix_footer_crc(&img);
	file_put(fx->path, img.data, img.len);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, SST_NUM, img.len,
				      NULL, &t),
			 LSM_ECORRUPT);
	expect_msg(fx->path, "bad block handle");

	/* The footer's entry count disagrees with the blocks: verify. */
	sst_make(fx, 3, 16, &img);
	lsm_put_u64le(img.data + img.len - 56 + 32, 4);
	fix_footer_crc(&img);
	file_put(fx->path, img.data, img.len);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, SST_NUM, img.len,
				      NULL, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_verify(t), LSM_ECORRUPT);
	expect_msg(fx->path, "footer says 4");
	lsm_sst_unref(t);

	lsm_buf_free(&img);
	lsm_buf_free(&val);
	lsm_buf_free(&ik);
}

/* Offset of the i-th restart point of the block (off, size) of img. */
static uint8_t *restart_at(struct lsm_buf *img, uint64_t off, uint64_t size,
			   uint32_t i)
{
	uint8_t *p = img->data + off;
	uint32_t nr = lsm_get_u32le(p + size - 4);

	assert_true(i < nr);
	return p + size - 4 - 4 * (size_t)nr + 4 * (size_t)i;
}

/* A restart array that disagrees with the entries, checksums right:
 * verify reports it (reads would trust it). */
static void test_sst_bad_restarts(void **state)
{
	struct fx *fx = *state;
	struct lsm_buf img = { 0 };
	struct sst_layout l;
	lsm_sst *t = NULL;
	uint8_t *r;

	/* Restart interval 1: every entry is a restart point.  Point 1
	 * moved onto entry 2's: point 2 then lies past the last entry... */
	sst_make(fx, 3, 1, &img);
	sst_parse(&img, &l);
	r = restart_at(&img, l.data_off, l.data_size, 1);
	lsm_put_u32le(r, lsm_get_u32le(r + 4));
	fix_block_crc(&img, l.data_off, l.data_size);
	file_put(fx->path, img.data, img.len);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, SST_NUM, img.len,
				      NULL, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_verify(t), LSM_ECORRUPT);
	expect_msg(fx->path, "restart point");
	lsm_sst_unref(t);

	/* ...one byte into an entry... */
	sst_make(fx, 3, 1, &img);
	r = restart_at(&img, l.data_off, l.data_size, 1);
	lsm_put_u32le(r, lsm_get_u32le(r) + 1);
	fix_block_crc(&img, l.data_off, l.data_size);
	file_put(fx->path, img.data, img.len);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, SST_NUM, img.len,
				      NULL, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_verify(t), LSM_ECORRUPT);
	expect_msg(fx->path, "restart point inside an entry");
	lsm_sst_unref(t);

	/* ...or the first not at 0 (the walk would skip entry 0). */
	sst_make(fx, 3, 1, &img);
	r = restart_at(&img, l.data_off, l.data_size, 0);
	lsm_put_u32le(r, lsm_get_u32le(r + 4));
	fix_block_crc(&img, l.data_off, l.data_size);
	file_put(fx->path, img.data, img.len);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, SST_NUM, img.len,
				      NULL, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_verify(t), LSM_ECORRUPT);
	expect_msg(fx->path, "first restart point");
	lsm_sst_unref(t);

	/* ...or on an entry that shares a prefix with the one before
	 * (entry 2's shared length set to 3: "key" + "key02..." still sorts
	 * after "key01..."). */
	sst_make(fx, 3, 1, &img);
	r = restart_at(&img, l.data_off, l.data_size, 2);
	assert_int_equal(img.data[l.data_off + lsm_get_u32le(r)], 0);
	img.data[l.data_off + lsm_get_u32le(r)] = 3;
	fix_block_crc(&img, l.data_off, l.data_size);
	file_put(fx->path, img.data, img.len);
	assert_int_equal(lsm_sst_open(fx->env, fx->path, SST_NUM, img.len,
				      NULL, &t),
			 LSM_OK);
	assert_int_equal(lsm_sst_verify(t), LSM_ECORRUPT);
	expect_msg(fx->path, "shares a key prefix");
	lsm_sst_unref(t);
	lsm_buf_free(&img);
}

/* ---- manifest ----------------------------------------------------------- */

static void put_head(struct lsm_buf *b, int major, uint64_t v)
{
	uint8_t h[9];
	size_t n;

	if (v < 24) {
		h[0] = (uint8_t)(major << 5 | v);
		n = 1;
	} else {
		h[0] = (uint8_t)(major << 5 | 27);
		for (int i = 0; i < 8; i++)
			h[1 + i] = (uint8_t)(v >> (56 - 8 * i));
		n = 9;
	}
	assert_int_equal(lsm_buf_append(b, h, n), LSM_OK);
}

static void put_ikey(struct lsm_buf *b, const char *k, size_t len)
{
	struct lsm_buf ik = { 0 };

	assert_int_equal(lsm_ikey_make(&ik, k, strlen(k), 5, LSM_KIND_VAL),
			 LSM_OK);
	put_head(b, 2, len ? len : ik.len);
	if (len > ik.len) {
		/* pad the key out to len bytes (a key too long) */
		assert_int_equal(lsm_buf_reserve(&ik, len - ik.len), LSM_OK);
		memset(ik.data + ik.len, 'x', len - ik.len);
		ik.len = len;
	}
	assert_int_equal(lsm_buf_append(b, ik.data, ik.len), LSM_OK);
	lsm_buf_free(&ik);
}

/* The payload head up to the table list: [magic, version, next 20,
 * last_seq 7, log 3, ...] */
static void manifest_head(struct lsm_buf *b, uint64_t version)
{
	lsm_buf_clear(b);
	put_head(b, 4, 6);
	put_head(b, 0, 0x6c736d6d);
	put_head(b, 0, version);
	put_head(b, 0, 20);
	put_head(b, 0, 7);
	put_head(b, 0, 3);
}

/* Writes payload p as manifest 1 of fx->dir (frame len given, or the
 * right one when len is 0), CURRENT naming it, and expects opening to
 * give rc with a message naming the manifest and holding what. */
static void expect_manifest(struct fx *fx, const struct lsm_buf *p,
			    uint64_t len, int rc, const char *what)
{
	static const struct lsm_vset_opts o = { 10000, 4, 1000 };
	struct lsm_vset *vs = NULL;
	struct lsm_buf f = { 0 };
	char path[LSM_PATH_MAX];

	frame_append(&f, p->data, p->len);
	if (len)
		lsm_put_u32le(f.data, (uint32_t)len);
	snprintf(path, sizeof(path), "%s/MANIFEST-000001", fx->dir);
	file_put(path, f.data, f.len);
	snprintf(fx->path, sizeof(fx->path), "%s/CURRENT", fx->dir);
	file_put(fx->path, "MANIFEST-000001\n", 16);
	assert_int_equal(lsm_vset_open(fx->env, fx->dir, &o, false, &vs), rc);
	if (rc) {
		assert_null(vs);
		expect_msg(path, what);
	}
	lsm_vset_close(vs);
	lsm_buf_free(&f);
}

static void test_manifest_oversized_lengths(void **state)
{
	struct fx *fx = *state;
	struct lsm_buf p = { 0 };

	/* control: one table at level 1 */
	manifest_head(&p, 1);
	put_head(&p, 4, 1);
	put_head(&p, 4, 5);
	put_head(&p, 0, 1);
	put_head(&p, 0, 9);
	put_head(&p, 0, 100);
	put_ikey(&p, "a", 0);
	put_ikey(&p, "b", 0);
	expect_manifest(fx, &p, 0, LSM_OK, NULL);

	/* the frame's length: one more than the file holds, one less, and
	 * 2^32 - 1 */
	expect_manifest(fx, &p, p.len + 1, LSM_ECORRUPT, "frame length");
	expect_manifest(fx, &p, p.len - 1, LSM_ECORRUPT, "frame length");
	expect_manifest(fx, &p, UINT32_MAX, LSM_ECORRUPT, "frame length");

	/* a table list of 2^32 (then 2^64 - 1) entries, one present */
	for (int i = 0; i < 2; i++) {
		manifest_head(&p, 1);
		put_head(&p, 4, i ? UINT64_MAX : UINT64_C(1) << 32);
		put_head(&p, 4, 5);
		expect_manifest(fx, &p, 0, LSM_ECORRUPT, "table list");
	}

	/* a table entry of 2^32 fields */
	manifest_head(&p, 1);
	put_head(&p, 4, 1);
	put_head(&p, 4, UINT64_C(1) << 32);
	expect_manifest(fx, &p, 0, LSM_ECORRUPT, "5 fields");

	/* a smallest key of LSM_MAX_KEY + 9 bytes (one over) */
	manifest_head(&p, 1);
	put_head(&p, 4, 1);
	put_head(&p, 4, 5);
	put_head(&p, 0, 1);
	put_head(&p, 0, 9);
	put_head(&p, 0, 100);
	put_ikey(&p, "a", LSM_MAX_KEY + LSM_TRAILER + 1);
	put_ikey(&p, "b", 0);
	expect_manifest(fx, &p, 0, LSM_ECORRUPT, "smallest key");

	/* a largest key whose head claims 2^63 bytes */
	manifest_head(&p, 1);
	put_head(&p, 4, 1);
	put_head(&p, 4, 5);
	put_head(&p, 0, 1);
	put_head(&p, 0, 9);
	put_head(&p, 0, 100);
	put_ikey(&p, "a", 0);
	put_head(&p, 2, UINT64_C(1) << 63);
	assert_int_equal(lsm_buf_append(&p, "b\1\0\0\0\0\0\0\0", 9), 0);
	expect_manifest(fx, &p, 0, LSM_ECORRUPT, "largest key");

	/* a next file number past 2^56 - 1 (a counter that could wrap) */
	for (int i = 0; i < 2; i++) {
		lsm_buf_clear(&p);
		put_head(&p, 4, 6);
		put_head(&p, 0, 0x6c736d6d);
		put_head(&p, 0, 1);
		put_head(&p, 0, i ? UINT64_MAX : LSM_SEQ_MAX + 1);
		put_head(&p, 0, 7);
		put_head(&p, 0, 3);
		put_head(&p, 4, 0);
		expect_manifest(fx, &p, 0, LSM_ECORRUPT, "next file number");
	}

	/* a table number, a level and a size of 2^64 - 1 */
	manifest_head(&p, 1);
	put_head(&p, 4, 1);
	put_head(&p, 4, 5);
	put_head(&p, 0, 1);
	put_head(&p, 0, UINT64_MAX);
	expect_manifest(fx, &p, 0, LSM_ECORRUPT, "table number");
	manifest_head(&p, 1);
	put_head(&p, 4, 1);
	put_head(&p, 4, 5);
	put_head(&p, 0, UINT64_MAX);
	expect_manifest(fx, &p, 0, LSM_ECORRUPT, "level");

	lsm_buf_free(&p);
}

static void test_manifest_versions(void **state)
{
	struct fx *fx = *state;
	struct lsm_buf p = { 0 };

	/* the newest version there can be, with a layout of its own */
	lsm_buf_clear(&p);
	put_head(&p, 4, 3);
	put_head(&p, 0, 0x6c736d6d);
	put_head(&p, 0, UINT64_MAX);
	put_head(&p, 3, 1);
	assert_int_equal(lsm_buf_append(&p, "x", 1), 0);
	expect_manifest(fx, &p, 0, LSM_EVERSION, "manifest version");
	/* version 1 with the layout of another: corruption */
	lsm_buf_clear(&p);
	put_head(&p, 4, 3);
	put_head(&p, 0, 0x6c736d6d);
	put_head(&p, 0, 1);
	put_head(&p, 3, 1);
	assert_int_equal(lsm_buf_append(&p, "x", 1), 0);
	expect_manifest(fx, &p, 0, LSM_ECORRUPT, "fields");
	/* the version as a text string */
	lsm_buf_clear(&p);
	put_head(&p, 4, 6);
	put_head(&p, 0, 0x6c736d6d);
	put_head(&p, 3, 1);
	assert_int_equal(lsm_buf_append(&p, "1", 1), 0);
	expect_manifest(fx, &p, 0, LSM_ECORRUPT, "version");
	lsm_buf_free(&p);
}

/* CURRENT itself: too long, or naming manifest 0. */
static void test_current_bad(void **state)
{
	static const struct lsm_vset_opts o = { 10000, 4, 1000 };
	struct fx *fx = *state;
	struct lsm_vset *vs = NULL;
	char big[200];

	snprintf(fx->path, sizeof(fx->path), "%s/CURRENT", fx->dir);
	memset(big, '1', sizeof(big));
	memcpy(big, "MANIFEST-", 9);
	big[sizeof(big) - 1] = '\n';
	file_put(fx->path, big, sizeof(big));
	assert_int_equal(lsm_vset_open(fx->env, fx->dir, &o, false, &vs),
			 LSM_ECORRUPT);
	expect_msg(fx->path, "too large");
	file_put(fx->path, "MANIFEST-000000\n", 16);
	assert_int_equal(lsm_vset_open(fx->env, fx->dir, &o, false, &vs),
			 LSM_ECORRUPT);
	expect_msg(fx->path, "malformed");
	/* a number too large for 64 bits */
	file_put(fx->path, "MANIFEST-99999999999999999999\n", 30);
	assert_int_equal(lsm_vset_open(fx->env, fx->dir, &o, false, &vs),
			 LSM_ECORRUPT);
	expect_msg(fx->path, "malformed");
	assert_null(vs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wal_oversized_lengths,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_later_shapes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wal_frame_len_extremes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sst_oversized_lengths,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sst_bad_restarts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_manifest_oversized_lengths,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_versions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_current_bad, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
