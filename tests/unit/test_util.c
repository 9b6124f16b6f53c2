/* test_util.c — util.c: CRC32C (instruction and table agree, known
 * vectors), varints, buffers, internal-key order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "lsm_int.h"

static uint64_t seed = 42;

static uint64_t rnd(void)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return seed;
}

static void test_crc_vectors(void **state)
{
	uint8_t zeros[32] = {0}, ones[32];
	(void)state;

	memset(ones, 0xff, sizeof(ones));
	assert_int_equal(lsm_crc32c(0, "123456789", 9), 0xE3069283);
	assert_int_equal(lsm_crc32c_sw(0, "123456789", 9), 0xE3069283);
	assert_int_equal(lsm_crc32c(0, zeros, 32), 0x8A9136AA);
	assert_int_equal(lsm_crc32c_sw(0, ones, 32), 0x62A8AB43);
	assert_int_equal(lsm_crc32c(0, ones, 32), 0x62A8AB43);
}

/* Every length and alignment up to 64, and random large buffers, split
 * at random points (the continuation form): both versions agree. */
static void test_crc_agree(void **state)
{
	uint8_t buf[4096 + 16];
	(void)state;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd();
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 64; n++)
			assert_int_equal(lsm_crc32c(0, buf + off, n),
					 lsm_crc32c_sw(0, buf + off, n));
	for (int r = 0; r < 200; r++) {
		size_t off = rnd() % 16, n = rnd() % 4096, cut = n ? rnd() % n : 0;
		uint32_t whole = lsm_crc32c_sw(0, buf + off, n);
		uint32_t split = lsm_crc32c(lsm_crc32c(0, buf + off, cut),
					    buf + off + cut, n - cut);
		assert_int_equal(whole, split);
	}
}

/* Random lengths 0..300,000 at random misalignments (through every path
 * of the three-stream instruction code: long and short blocks, their
 * tails, unaligned heads), whole and fed in random pieces: the
 * instruction's CRC equals the table's. */
static void test_crc_random(void **state)
{
	enum { MAX = 300000 };
	uint8_t *buf = malloc(MAX + 64);
	(void)state;

	assert_non_null(buf);
	for (size_t i = 0; i < MAX + 64; i++)
		buf[i] = (uint8_t)rnd();
	for (int r = 0; r < 300; r++) {
		size_t n = rnd() % (MAX + 1), off = rnd() % 64, done = 0;
		uint32_t want, c = 0;

		if (r % 3 == 0)
			n %= 3 * 8192 + 64; /* more of the short-block range */
		want = lsm_crc32c_sw(0, buf + off, n);
		assert_int_equal(lsm_crc32c(0, buf + off, n), want);
		while (done < n) {
			size_t k = rnd() % (n - done + 1);
			if (rnd() & 1)
				k %= 1024; /* small pieces too */
			c = lsm_crc32c(c, buf + off + done, k);
			done += k;
		}
		assert_int_equal(c, want);
	}
	free(buf);
}

static void test_varint(void **state)
{
	uint8_t b[10];
	const uint8_t *p;
	uint64_t v, vals[] = {0, 1, 127, 128, 300, UINT32_MAX, UINT64_MAX};
	(void)state;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		size_t n = lsm_varint_put(b, vals[i]);
		p = b;
		assert_int_equal(lsm_varint_get(&p, b + n, &v), 0);
		assert_true(v == vals[i]);
		assert_ptr_equal(p, b + n);
		p = b; /* truncated */
		assert_int_equal(lsm_varint_get(&p, b + n - 1, &v), -1);
	}
	memset(b, 0xff, sizeof(b)); /* over 64 bits */
	p = b;
	assert_int_equal(lsm_varint_get(&p, b + 10, &v), -1);
}

static void test_ikey_order(void **state)
{
	struct lsm_buf a = {0}, b = {0};
	(void)state;

	lsm_ikey_make(&a, "ab", 2, 5, LSM_KIND_VAL);
	lsm_ikey_make(&b, "ab", 2, 7, LSM_KIND_VAL);
	assert_true(lsm_ikey_cmp(b.data, b.len, a.data, a.len) < 0); /* newer first */
	lsm_ikey_make(&b, "a", 1, 1, LSM_KIND_DEL);
	assert_true(lsm_ikey_cmp(b.data, b.len, a.data, a.len) < 0); /* shorter first */
	lsm_ikey_make(&b, "ab", 2, 5, LSM_KIND_DEL);
	assert_true(lsm_ikey_cmp(a.data, a.len, b.data, b.len) < 0); /* VAL before DEL */
	assert_int_equal(lsm_ikey_seq(b.data, b.len), 5);
	assert_int_equal(lsm_ikey_kind(b.data, b.len), LSM_KIND_DEL);
	lsm_buf_free(&a);
	lsm_buf_free(&b);
}

int main(void)
{
	const char *s = getenv("LSM_SEED");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_vectors),
		cmocka_unit_test(test_crc_agree),
		cmocka_unit_test(test_crc_random),
		cmocka_unit_test(test_varint),
		cmocka_unit_test(test_ikey_order),
	};

	if (s && *s)
		seed = strtoull(s, NULL, 0) | 1;
	printf("test_util: LSM_SEED=%llu\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
