/*
 * kvbench — db_bench-style workloads on the lsm store.
 *
 *   kvbench [-n OPS] [-d DIR] [WORKLOAD...]
 *
 * Workloads: fillseq fillrandom overwrite readrandom readmissing
 * seekrandom deleterandom fillsync.  16-byte keys, 100-byte values, a
 * 4 MiB write buffer, 10 bits-per-key bloom filters, an 8 MiB block
 * cache.  For each workload it prints ops/s; at the end, the bytes the
 * store wrote to its WAL and SSTables per user byte (write amplification).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lsm.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* 16 decimal digits of i (mod 10^16) into k[0..15], NUL at k[16]. */
static void make_key(char *k, uint64_t i)
{
	for (int d = 15; d >= 0; d--, i /= 10)
		k[d] = (char)('0' + i % 10);
	k[16] = 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "kvbench: %s: %s (%s)\n", what, lsm_strerror(rc),
		lsm_last_error());
	exit(1);
}

static uint64_t run(lsm_db *db, const char *w, uint64_t n)
{
	char key[17], val[100];
	uint64_t done = 0, found = 0;

	memset(val, 'v', sizeof(val));
	for (uint64_t i = 0; i < n; i++) {
		uint64_t k = !strcmp(w, "fillseq") ? i : rng() % n;
		void *v;
		size_t vlen;
		int rc;

		make_key(key, k);
		memcpy(val, key, 16);
		if (!strcmp(w, "fillseq") || !strcmp(w, "fillrandom") ||
		    !strcmp(w, "overwrite") || !strcmp(w, "fillsync")) {
			rc = lsm_put(db, key, 16, val, sizeof(val),
				     !strcmp(w, "fillsync") ? LSM_SYNC : 0);
			if (rc)
				die("put", rc);
		} else if (!strcmp(w, "readrandom") || !strcmp(w, "readmissing")) {
			if (w[4] == 'm')
				key[0] = 'x';
			rc = lsm_get(db, NULL, key, 16, &v, &vlen);
			if (rc == LSM_OK) {
				found++;
				free(v);
			} else if (rc != LSM_ENOTFOUND) {
				die("get", rc);
			}
		} else if (!strcmp(w, "deleterandom")) {
			if ((rc = lsm_delete(db, key, 16, 0)))
				die("delete", rc);
		} else if (!strcmp(w, "seekrandom")) {
			lsm_iter *it;
			if ((rc = lsm_iter_open(db, NULL, &it)))
				die("iter", rc);
			lsm_iter_seek(it, key, 16);
			for (int j = 0; j < 10 && lsm_iter_valid(it); j++)
				lsm_iter_next(it);
			found += lsm_iter_valid(it);
			lsm_iter_close(it);
		} else {
			fprintf(stderr, "kvbench: unknown workload %s\n", w);
			exit(2);
		}
		done++;
	}
	(void)found;
	return done;
}

int main(int argc, char **argv)
{
	const char *dir = "/tmp/kvbench";
	uint64_t n = 1000000;
	struct lsm_options o;
	struct lsm_stats st;
	lsm_db *db;
	char cmd[4200];
	int c, rc;

	while ((c = getopt(argc, argv, "n:d:")) != -1) {
		if (c == 'n')
			n = strtoull(optarg, NULL, 10);
		else if (c == 'd')
			dir = optarg;
		else {
			fprintf(stderr, "usage: kvbench [-n OPS] [-d DIR] [WORKLOAD...]\n");
			return 2;
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	lsm_options_init(&o);
	if ((rc = lsm_open(dir, &o, &db)))
		die("open", rc);
	for (int i = optind; i < argc || (optind == argc && i == optind); i++) {
		const char *w = optind == argc ? "fillrandom" : argv[i];
		uint64_t ops = !strcmp(w, "fillsync") ? n / 100 : n;
		double t0 = now_s(), t;

		ops = run(db, w, ops);
		t = now_s() - t0;
		printf("%-14s %10.0f ops/s  (%llu ops in %.2f s)\n", w, ops / t,
		       (unsigned long long)ops, t);
	}
	lsm_stats_get(db, &st);
	printf("user bytes %llu, wal bytes %llu, flush bytes %llu, compaction "
	       "bytes written %llu (read %llu)\n",
	       (unsigned long long)st.user_bytes,
	       (unsigned long long)st.wal_bytes,
	       (unsigned long long)st.flush_bytes,
	       (unsigned long long)st.compact_bytes_written,
	       (unsigned long long)st.compact_bytes_read);
	printf("write amplification %.2f (wal+sst bytes / user bytes); "
	       "flushes %llu, compactions %llu, stalls %llu (%.1f ms), "
	       "slowdowns %llu\n",
	       (double)(st.wal_bytes + st.flush_bytes + st.compact_bytes_written) /
		       (st.user_bytes ? st.user_bytes : 1),
	       (unsigned long long)st.flushes,
	       (unsigned long long)st.compactions,
	       (unsigned long long)st.stalls, st.stall_us / 1000.0,
	       (unsigned long long)st.slowdowns);
	printf("files per level:");
	for (int l = 0; l < LSM_MAX_LEVELS; l++)
		printf(" %d", st.files[l]);
	printf("\n");
	if ((rc = lsm_close(db)))
		die("close", rc);
	return 0;
}
