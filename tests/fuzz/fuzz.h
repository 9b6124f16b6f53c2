/*
 * fuzz.h — what the fuzz targets of tests/fuzz/ share (fuzz_env.c): an
 * in-memory lsm_env, so that a "file written from the input" costs a
 * memcpy instead of a round of system calls, and a switch that makes
 * every checksum of the store a constant.
 *
 * Why the switch.  Every WAL frame, SSTable block and manifest carries a
 * CRC32C, so a fuzzer that flips a byte mostly meets "bad checksum" and
 * never reaches the structure behind it.  The fuzz binaries are linked
 * with -Wl,--wrap=lsm_crc32c: the readers' calls land in
 * __wrap_lsm_crc32c, which answers the real CRC32C normally and
 * FUZZ_FAKE_CRC while fuzz_fake_crc is set.  Inputs whose first byte is
 * odd run in that mode, and the seeds of that mode were written by the
 * store's own encoders in the same mode (gen_corpus.c), so that every
 * checksum field of them holds FUZZ_FAKE_CRC and mutations of the
 * structure get past the checks: a reader must then survive whatever a
 * file that passes its checksums can hold.  Inputs with an even first
 * byte use the real CRC32C (libFuzzer's comparison tracing still finds
 * some matching checksums).  The code under test is unchanged: only the
 * linker redirects the calls.
 *
 * Property violations call FUZZ_CHECK, which aborts: libFuzzer reports
 * it as a crash with the input that caused it.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lsm_int.h"

#define FUZZ_FAKE_CRC 0x5eed5eedu

/* Set: every checksum the store computes is FUZZ_FAKE_CRC. */
extern bool fuzz_fake_crc;

/* The in-memory env (static, never destroyed).  Paths are plain names in
 * one flat table; "directories" are name prefixes ending in '/'. */
lsm_env *fuzz_env(void);
/* Forgets every file.  Handles still open at that point are a leak of the
 * code under test: LeakSanitizer reports them. */
void fuzz_env_reset(void);
/* Creates (or replaces) path with n bytes of p. */
void fuzz_env_put(const char *path, const void *p, size_t n);
/* The bytes of path (borrowed until the next call on the env), or NULL
 * when there is no such file; *n its size. */
const uint8_t *fuzz_env_get(const char *path, size_t *n);

#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s (%s)\n",  \
				__FILE__, __LINE__, #cond,                 \
				lsm_last_error());                         \
			abort();                                           \
		}                                                          \
	} while (0)

/* FNV-1a, to compare sequences of records or keys cheaply. */
static inline uint64_t fuzz_hash(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}
#define FUZZ_HASH_INIT 0xcbf29ce484222325ull

#endif /* FUZZ_H */
