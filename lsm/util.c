/*
 * util.c — small pieces every module uses: CRC32C, varints, growable
 * buffers, the error buffer, file paths and internal-key comparison.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lsm_int.h"

/* ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) ------------
 * Slicing-by-8 tables, built once. */
static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
#if defined(__x86_64__)
static int crc_have_hw; /* set once by crc_init */
#endif

static void crc_init(void)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	crc_have_hw = __builtin_cpu_supports("sse4.2") &&
		      !getenv("LSM_CRC_SOFTWARE");
#endif
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^
					crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

#if defined(__x86_64__)
/* The SSE4.2 crc32 instruction computes CRC32C itself: 8 bytes a step. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc,
							   const uint8_t *p,
							   size_t n)
{
	uint64_t c = ~crc;

	for (; n && ((uintptr_t)p & 7); n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	for (; n >= 8; n -= 8, p += 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	for (; n; n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

#endif

uint32_t lsm_crc32c(uint32_t crc, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (crc_have_hw)
		return crc_hw(crc, p, n);
#endif
	return lsm_crc32c_sw(crc, p, n);
}

/* The portable table-driven CRC32C (also what tests compare the
 * instruction against). */
uint32_t lsm_crc32c_sw(uint32_t crc, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (n >= 8) {
		uint32_t lo = lsm_get_u32le(p) ^ crc;
		uint32_t hi = lsm_get_u32le(p + 4);
		crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
		      crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^
		      crc_tab[3][hi & 0xff] ^ crc_tab[2][(hi >> 8) & 0xff] ^
		      crc_tab[1][(hi >> 16) & 0xff] ^ crc_tab[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

/* ---- varints --------------------------------------------------------- */
size_t lsm_varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

int lsm_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	const uint8_t *q = *p;
	uint64_t r = 0;

	for (int shift = 0; shift <= 63 && q < end; shift += 7) {
		uint8_t b = *q++;
		if (shift == 63 && b > 1)
			return -1;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			*p = q;
			return 0;
		}
	}
	return -1;
}

/* ---- buffers ---------------------------------------------------------- */
int lsm_buf_reserve(struct lsm_buf *b, size_t extra)
{
	size_t need = b->len + extra, cap = b->cap ? b->cap : 64;
	uint8_t *p;

	if (need < b->len)
		return LSM_ENOMEM;
	if (need <= b->cap)
		return LSM_OK;
	while (cap < need)
		cap *= 2;
	if (!(p = realloc(b->data, cap)))
		return LSM_ERR(LSM_ENOMEM, "out of memory (%zu bytes)", cap);
	b->data = p;
	b->cap = cap;
	return LSM_OK;
}

int lsm_buf_append(struct lsm_buf *b, const void *p, size_t n)
{
	int rc;

	if (n == 0)
		return LSM_OK;
	if ((rc = lsm_buf_reserve(b, n)))
		return rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return LSM_OK;
}

int lsm_buf_set(struct lsm_buf *b, const void *p, size_t n)
{
	b->len = 0;
	return lsm_buf_append(b, p, n);
}

void lsm_buf_free(struct lsm_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- errors ----------------------------------------------------------- */
static _Thread_local char err_msg[1024];

int lsm_error_set(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	return rc;
}

const char *lsm_last_error(void)
{
	return err_msg;
}

int lsm_errno_rc(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return LSM_ENOSPC;
	case ENOENT:
		return LSM_ENOTFOUND;
	case ENOMEM:
		return LSM_ENOMEM;
	default:
		return LSM_EIO;
	}
}

const char *lsm_strerror(int rc)
{
	switch (rc) {
	case LSM_OK: return "ok";
	case LSM_ENOMEM: return "out of memory";
	case LSM_EIO: return "I/O error";
	case LSM_ECORRUPT: return "corrupt data";
	case LSM_ENOTFOUND: return "not found";
	case LSM_EBUSY: return "store is in use by another process";
	case LSM_EINVAL: return "invalid argument";
	case LSM_ENOSPC: return "no space left on device";
	case LSM_EVERSION: return "unsupported format version";
	case LSM_EREADONLY: return "store stopped by an earlier error";
	case LSM_EEXIST: return "store already exists";
	default: return "unknown error";
	}
}

/* ---- paths and keys --------------------------------------------------- */
void lsm_file_path(char *out, const char *dir, uint64_t num, const char *suffix)
{
	snprintf(out, LSM_PATH_MAX, "%s/%06llu.%s", dir,
		 (unsigned long long)num, suffix);
}

int lsm_ikey_make(struct lsm_buf *b, const void *key, size_t klen,
		  uint64_t seq, int kind)
{
	int rc;

	b->len = 0;
	if ((rc = lsm_buf_reserve(b, klen + LSM_TRAILER)))
		return rc;
	if (klen)
		memcpy(b->data, key, klen);
	lsm_put_u64le(b->data + klen, seq << 8 | (uint64_t)kind);
	b->len = klen + LSM_TRAILER;
	return LSM_OK;
}

uint64_t lsm_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}
