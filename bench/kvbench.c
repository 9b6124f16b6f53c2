/*
 * kvbench — db_bench's workloads on the lsm store, LevelDB and RocksDB,
 * side by side in one run.
 *
 *   kvbench [-n OPS] [-r ROUNDS] [-t THREADS] [-d DIR] [-e ENGINES]
 *           [-w WORKLOADS] [-p WORKLOAD] [-A] [-v]
 *
 *   -n OPS        operations per workload (default 1,000,000; fillsync
 *                 does OPS/100)
 *   -r ROUNDS     rounds; the engines take turns within each (default 2)
 *   -t THREADS    threads of fillrandom2/readrandom2 (default 2)
 *   -d DIR        scratch directory (default /tmp/kvbench), emptied first
 *   -e ENGINES    comma list of lsm,leveldb,rocksdb (default: all built in)
 *   -w WORKLOADS  comma list (default: all, in the order below)
 *   -p WORKLOAD   profile only that workload: write "enable"/"disable" to
 *                 the fifo named by $KVBENCH_PERF_CTL around it (perf
 *                 record --control=fifo:CTL,ACK -D -1; see scripts/bench.sh)
 *   -A            print where lsm's allocations during fillrandom come from
 *   -v            print each round's figures as they come
 *
 * Workloads, as in LevelDB's db_bench: fillseq; fillrandom (every key of
 * a random permutation once), overwrite (random keys again), readrandom
 * (keys that exist), readmissing (keys between existing ones, so bloom
 * filters, not key ranges, must answer), seekrandom (seek, then 10
 * nexts), deleterandom; fillsync (OPS/100 random puts, each synced);
 * fillrandom2 and readrandom2 (the same with THREADS threads, OPS in
 * all).  fillseq, fillrandom, fillsync and fillrandom2 start from an
 * empty store; the others use the store the fill before them left (and
 * when only a reader is asked for, its fill runs untimed).  Keys are 16
 * decimal digits, values 100 bytes.  Every engine has a 4 MiB write
 * buffer, 10 bits-per-key bloom filters, an 8 MiB block cache, no
 * compression and otherwise its defaults.
 *
 * Each round of each engine runs in a forked child, so that its peak RSS
 * (ru_maxrss) and its bytes written (/proc/self/io write_bytes: every
 * page the process dirtied, background threads included) are its own.
 * The report gives each engine's median ops/s over the rounds and lsm's
 * ratio to each other engine, the write amplification (bytes written to
 * disk per byte of key and value written by the user) for fillrandom
 * (from its first put to the close that follows it) and for the whole
 * run, the size on disk after fillrandom+overwrite (closed), and peak RSS.
 *
 * When built with KVBENCH_COUNT_MALLOC (CMake links kvbench with
 * -Wl,--wrap=malloc,...: the calls from kvbench and the statically
 * linked lsm library go through the counters below, those from the
 * shared LevelDB/RocksDB libraries do not) it also reports lsm's heap
 * allocations per put in fillrandom and overwrite: on the writing thread
 * and in all threads (flushes and compactions included).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lsm.h"
#ifdef KVBENCH_LEVELDB
#include <leveldb/c.h>
#endif
#ifdef KVBENCH_ROCKSDB
#include <rocksdb/c.h>
#endif

#define KEY_LEN 16
#define VAL_LEN 100
#define WRITE_BUFFER (4u << 20)
#define BLOCK_CACHE (8u << 20)
#define BLOOM_BITS 10
#define SEEK_NEXTS 10
#define MAX_ROUNDS 16
#define MAX_THREADS 16

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kvbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* ---------------------------------------------------------------------
 * Allocation counting (lsm build only).
 */
#ifdef KVBENCH_COUNT_MALLOC
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

static atomic_int count_on;
static atomic_ullong count_all;
static _Thread_local unsigned long long count_here;
static int count_sites;

/* Call sites of allocations (return addresses), when -A asks for them. */
#define SITES 512
static _Atomic(uintptr_t) site_pc[SITES];
static atomic_ullong site_n[SITES];

static void count_alloc(void *pc)
{
	if (!atomic_load_explicit(&count_on, memory_order_relaxed))
		return;
	atomic_fetch_add_explicit(&count_all, 1, memory_order_relaxed);
	count_here++;
	if (!count_sites)
		return;
	for (unsigned i = (unsigned)((uintptr_t)pc >> 3) % SITES, j = 0;
	     j < SITES; j++, i = (i + 1) % SITES) {
		uintptr_t want = 0;

		if (atomic_load(&site_pc[i]) == (uintptr_t)pc ||
		    atomic_compare_exchange_strong(&site_pc[i], &want,
						   (uintptr_t)pc) ||
		    want == (uintptr_t)pc) {
			atomic_fetch_add_explicit(&site_n[i], 1,
						  memory_order_relaxed);
			return;
		}
	}
}

void *__wrap_malloc(size_t n)
{
	count_alloc(__builtin_return_address(0));
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	count_alloc(__builtin_return_address(0));
	return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	count_alloc(__builtin_return_address(0));
	return __real_realloc(p, n);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
	count_alloc(__builtin_return_address(0));
	return __real_posix_memalign(p, align, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	count_alloc(__builtin_return_address(0));
	return __real_aligned_alloc(align, n);
}

/* Prints the busiest call sites, named by addr2line. */
static void print_sites(void)
{
	uintptr_t pc[SITES];
	unsigned long long n[SITES];
	int k = 0;

	for (int i = 0; i < SITES; i++)
		if (atomic_load(&site_pc[i])) {
			pc[k] = atomic_load(&site_pc[i]);
			n[k++] = atomic_load(&site_n[i]);
		}
	for (int i = 0; i < k; i++)
		for (int j = i + 1; j < k; j++)
			if (n[j] > n[i]) {
				uintptr_t tp = pc[i];
				unsigned long long tn = n[i];

				pc[i] = pc[j], n[i] = n[j];
				pc[j] = tp, n[j] = tn;
			}
	fprintf(stderr, "lsm allocation sites during the timed workloads (count, caller):\n");
	for (int i = 0; i < k && i < 15; i++) {
		Dl_info di;
		char cmd[512], line[512];
		FILE *p;

		if (!dladdr((void *)pc[i], &di) || !di.dli_fname) {
			fprintf(stderr, "  %10llu  %#lx\n", n[i], (unsigned long)pc[i]);
			continue;
		}
		snprintf(cmd, sizeof(cmd), "addr2line -f -i -p -e '%s' %#lx 2>/dev/null",
			 di.dli_fname, (unsigned long)(pc[i] - 1 - (uintptr_t)di.dli_fbase));
		fprintf(stderr, "  %10llu  ", n[i]);
		if ((p = popen(cmd, "r"))) {
			int first = 1;

			while (fgets(line, sizeof(line), p)) {
				fprintf(stderr, "%s%s", first ? "" : "              ", line);
				first = 0;
			}
			pclose(p);
			if (!first)
				continue;
		}
		fprintf(stderr, "%s+%#lx\n", di.dli_fname,
			(unsigned long)(pc[i] - (uintptr_t)di.dli_fbase));
	}
}
#endif

static void count_start(void)
{
#ifdef KVBENCH_COUNT_MALLOC
	atomic_store(&count_all, 0);
	count_here = 0;
	atomic_store(&count_on, 1);
#endif
}

/* Stops counting; *here and *all get the counts since count_start. */
static void count_stop(unsigned long long *here, unsigned long long *all)
{
#ifdef KVBENCH_COUNT_MALLOC
	atomic_store(&count_on, 0);
	*here = count_here;
	*all = atomic_load(&count_all);
#else
	*here = *all = 0;
#endif
}

/* ---------------------------------------------------------------------
 * Engines: open/close a store in a directory and do one operation.
 */
struct engine {
	const char *name;
	void *(*open)(const char *dir);
	void (*close)(void *h);
	void (*put)(void *h, const char *k, const char *v, int sync);
	int (*get)(void *h, const char *k); /* 1 found, 0 not */
	void (*del)(void *h, const char *k);
	int (*seek)(void *h, const char *k, int nexts); /* keys visited */
};

static void lsm_die(const char *what, int rc)
{
	die("lsm: %s: %s (%s)", what, lsm_strerror(rc), lsm_last_error());
}

static void *e_lsm_open(const char *dir)
{
	struct lsm_options o;
	lsm_db *db;
	int rc;

	lsm_options_init(&o);
	o.write_buffer_size = WRITE_BUFFER;
	o.block_cache_size = BLOCK_CACHE;
	o.bloom_bits_per_key = BLOOM_BITS;
	if ((rc = lsm_open(dir, &o, &db)))
		lsm_die("open", rc);
	return db;
}

static void e_lsm_close(void *h)
{
	int rc;

	if ((rc = lsm_close(h)))
		lsm_die("close", rc);
}

static void e_lsm_put(void *h, const char *k, const char *v, int sync)
{
	int rc;

	if ((rc = lsm_put(h, k, KEY_LEN, v, VAL_LEN, sync ? LSM_SYNC : 0)))
		lsm_die("put", rc);
}

static int e_lsm_get(void *h, const char *k)
{
	void *v;
	size_t vlen;
	int rc = lsm_get(h, NULL, k, KEY_LEN, &v, &vlen);

	if (rc == LSM_ENOTFOUND)
		return 0;
	if (rc)
		lsm_die("get", rc);
	free(v);
	return 1;
}

static void e_lsm_del(void *h, const char *k)
{
	int rc;

	if ((rc = lsm_delete(h, k, KEY_LEN, 0)))
		lsm_die("delete", rc);
}

static int e_lsm_seek(void *h, const char *k, int nexts)
{
	lsm_iter *it;
	int n = 0, rc;

	if ((rc = lsm_iter_open(h, NULL, &it)))
		lsm_die("iter", rc);
	lsm_iter_seek(it, k, KEY_LEN);
	for (; n <= nexts && lsm_iter_valid(it); n++)
		if (n < nexts)
			lsm_iter_next(it);
	if ((rc = lsm_iter_status(it)))
		lsm_die("iter", rc);
	lsm_iter_close(it);
	return n;
}

static const struct engine engine_lsm = {
	"lsm", e_lsm_open, e_lsm_close, e_lsm_put, e_lsm_get, e_lsm_del, e_lsm_seek,
};

#ifdef KVBENCH_LEVELDB
struct ldb {
	leveldb_t *db;
	leveldb_options_t *o;
	leveldb_cache_t *cache;
	leveldb_filterpolicy_t *bloom;
	leveldb_readoptions_t *ro;
	leveldb_writeoptions_t *wo, *wo_sync;
};

static void ldb_check(const char *what, char *err)
{
	if (err)
		die("leveldb: %s: %s", what, err);
}

static void *e_ldb_open(const char *dir)
{
	struct ldb *d = calloc(1, sizeof(*d));
	char *err = NULL;

	if (!d)
		die("out of memory");
	d->o = leveldb_options_create();
	d->cache = leveldb_cache_create_lru(BLOCK_CACHE);
	d->bloom = leveldb_filterpolicy_create_bloom(BLOOM_BITS);
	leveldb_options_set_create_if_missing(d->o, 1);
	leveldb_options_set_write_buffer_size(d->o, WRITE_BUFFER);
	leveldb_options_set_cache(d->o, d->cache);
	leveldb_options_set_filter_policy(d->o, d->bloom);
	leveldb_options_set_compression(d->o, leveldb_no_compression);
	d->ro = leveldb_readoptions_create();
	d->wo = leveldb_writeoptions_create();
	d->wo_sync = leveldb_writeoptions_create();
	leveldb_writeoptions_set_sync(d->wo_sync, 1);
	d->db = leveldb_open(d->o, dir, &err);
	ldb_check("open", err);
	return d;
}

static void e_ldb_close(void *h)
{
	struct ldb *d = h;

	leveldb_close(d->db);
	leveldb_readoptions_destroy(d->ro);
	leveldb_writeoptions_destroy(d->wo);
	leveldb_writeoptions_destroy(d->wo_sync);
	leveldb_options_destroy(d->o);
	leveldb_filterpolicy_destroy(d->bloom);
	leveldb_cache_destroy(d->cache);
	free(d);
}

static void e_ldb_put(void *h, const char *k, const char *v, int sync)
{
	struct ldb *d = h;
	char *err = NULL;

	leveldb_put(d->db, sync ? d->wo_sync : d->wo, k, KEY_LEN, v, VAL_LEN, &err);
	ldb_check("put", err);
}

static int e_ldb_get(void *h, const char *k)
{
	struct ldb *d = h;
	char *err = NULL, *v;
	size_t vlen;

	v = leveldb_get(d->db, d->ro, k, KEY_LEN, &vlen, &err);
	ldb_check("get", err);
	if (!v)
		return 0;
	leveldb_free(v);
	return 1;
}

static void e_ldb_del(void *h, const char *k)
{
	struct ldb *d = h;
	char *err = NULL;

	leveldb_delete(d->db, d->wo, k, KEY_LEN, &err);
	ldb_check("delete", err);
}

static int e_ldb_seek(void *h, const char *k, int nexts)
{
	struct ldb *d = h;
	leveldb_iterator_t *it = leveldb_create_iterator(d->db, d->ro);
	char *err = NULL;
	int n = 0;

	leveldb_iter_seek(it, k, KEY_LEN);
	for (; n <= nexts && leveldb_iter_valid(it); n++)
		if (n < nexts)
			leveldb_iter_next(it);
	leveldb_iter_get_error(it, &err);
	ldb_check("iter", err);
	leveldb_iter_destroy(it);
	return n;
}

static const struct engine engine_leveldb = {
	"leveldb", e_ldb_open, e_ldb_close, e_ldb_put, e_ldb_get, e_ldb_del, e_ldb_seek,
};
#endif

#ifdef KVBENCH_ROCKSDB
struct rdb {
	rocksdb_t *db;
	rocksdb_options_t *o;
	rocksdb_block_based_table_options_t *t;
	rocksdb_cache_t *cache;
	rocksdb_readoptions_t *ro;
	rocksdb_writeoptions_t *wo, *wo_sync;
};

static void rdb_check(const char *what, char *err)
{
	if (err)
		die("rocksdb: %s: %s", what, err);
}

static void *e_rdb_open(const char *dir)
{
	struct rdb *d = calloc(1, sizeof(*d));
	char *err = NULL;

	if (!d)
		die("out of memory");
	d->o = rocksdb_options_create();
	d->t = rocksdb_block_based_options_create();
	d->cache = rocksdb_cache_create_lru(BLOCK_CACHE);
	rocksdb_block_based_options_set_block_cache(d->t, d->cache);
	/* The table options take the filter policy over. */
	rocksdb_block_based_options_set_filter_policy(
		d->t, rocksdb_filterpolicy_create_bloom(BLOOM_BITS));
	rocksdb_options_set_block_based_table_factory(d->o, d->t);
	rocksdb_options_set_create_if_missing(d->o, 1);
	rocksdb_options_set_write_buffer_size(d->o, WRITE_BUFFER);
	rocksdb_options_set_compression(d->o, rocksdb_no_compression);
	d->ro = rocksdb_readoptions_create();
	d->wo = rocksdb_writeoptions_create();
	d->wo_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(d->wo_sync, 1);
	d->db = rocksdb_open(d->o, dir, &err);
	rdb_check("open", err);
	return d;
}

static void e_rdb_close(void *h)
{
	struct rdb *d = h;

	rocksdb_close(d->db);
	rocksdb_readoptions_destroy(d->ro);
	rocksdb_writeoptions_destroy(d->wo);
	rocksdb_writeoptions_destroy(d->wo_sync);
	rocksdb_options_destroy(d->o);
	rocksdb_block_based_options_destroy(d->t);
	rocksdb_cache_destroy(d->cache);
	free(d);
}

static void e_rdb_put(void *h, const char *k, const char *v, int sync)
{
	struct rdb *d = h;
	char *err = NULL;

	rocksdb_put(d->db, sync ? d->wo_sync : d->wo, k, KEY_LEN, v, VAL_LEN, &err);
	rdb_check("put", err);
}

static int e_rdb_get(void *h, const char *k)
{
	struct rdb *d = h;
	char *err = NULL, *v;
	size_t vlen;

	v = rocksdb_get(d->db, d->ro, k, KEY_LEN, &vlen, &err);
	rdb_check("get", err);
	if (!v)
		return 0;
	rocksdb_free(v);
	return 1;
}

static void e_rdb_del(void *h, const char *k)
{
	struct rdb *d = h;
	char *err = NULL;

	rocksdb_delete(d->db, d->wo, k, KEY_LEN, &err);
	rdb_check("delete", err);
}

static int e_rdb_seek(void *h, const char *k, int nexts)
{
	struct rdb *d = h;
	rocksdb_iterator_t *it = rocksdb_create_iterator(d->db, d->ro);
	char *err = NULL;
	int n = 0;

	rocksdb_iter_seek(it, k, KEY_LEN);
	for (; n <= nexts && rocksdb_iter_valid(it); n++)
		if (n < nexts)
			rocksdb_iter_next(it);
	rocksdb_iter_get_error(it, &err);
	rdb_check("iter", err);
	rocksdb_iter_destroy(it);
	return n;
}

static const struct engine engine_rocksdb = {
	"rocksdb", e_rdb_open, e_rdb_close, e_rdb_put, e_rdb_get, e_rdb_del, e_rdb_seek,
};
#endif

static const struct engine *const all_engines[] = {
	&engine_lsm,
#ifdef KVBENCH_LEVELDB
	&engine_leveldb,
#endif
#ifdef KVBENCH_ROCKSDB
	&engine_rocksdb,
#endif
};
#define N_ALL_ENGINES (int)(sizeof(all_engines) / sizeof(all_engines[0]))

/* ---------------------------------------------------------------------
 * Workloads.
 */
enum wl {
	W_FILLSEQ, W_FILLRANDOM, W_OVERWRITE, W_READRANDOM, W_READMISSING,
	W_SEEKRANDOM, W_DELETERANDOM, W_FILLSYNC, W_FILLRANDOM2, W_READRANDOM2,
	N_WL
};
static const char *const wl_name[N_WL] = {
	"fillseq", "fillrandom", "overwrite", "readrandom", "readmissing",
	"seekrandom", "deleterandom", "fillsync", "fillrandom2", "readrandom2",
};

/* Per-thread xorshift64* generator. */
static uint64_t rng(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* Key of index i: 16 decimal digits of 2i (existing keys are even,
 * missing ones odd, so a missing key falls between two stored ones). */
static void make_key(char *k, uint64_t i)
{
	for (int d = KEY_LEN - 1; d >= 0; d--, i /= 10)
		k[d] = (char)('0' + i % 10);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct job {
	const struct engine *e;
	void *h;
	enum wl w;
	const uint32_t *perm; /* fills: the keys in random order */
	uint64_t begin, end;  /* this thread's share of the ops */
	uint64_t nkeys;       /* keys in the store (reads) */
	uint64_t seed;
	uint64_t found;
	unsigned long long allocs_here;
};

static void *job_run(void *arg)
{
	struct job *j = arg;
	char key[KEY_LEN], val[VAL_LEN];
	uint64_t s = j->seed;

	memset(val, 'v', sizeof(val));
	for (uint64_t i = j->begin; i < j->end; i++) {
		switch (j->w) {
		case W_FILLSEQ:
			make_key(key, 2 * i);
			memcpy(val, key, KEY_LEN);
			j->e->put(j->h, key, val, 0);
			break;
		case W_FILLRANDOM:
		case W_FILLRANDOM2:
			make_key(key, 2 * (uint64_t)j->perm[i]);
			memcpy(val, key, KEY_LEN);
			j->e->put(j->h, key, val, 0);
			break;
		case W_OVERWRITE:
		case W_FILLSYNC:
			make_key(key, 2 * (rng(&s) % j->nkeys));
			memcpy(val, key, KEY_LEN);
			j->e->put(j->h, key, val, j->w == W_FILLSYNC);
			break;
		case W_READRANDOM:
		case W_READRANDOM2:
			make_key(key, 2 * (rng(&s) % j->nkeys));
			j->found += j->e->get(j->h, key);
			break;
		case W_READMISSING:
			make_key(key, 2 * (rng(&s) % j->nkeys) + 1);
			j->found += j->e->get(j->h, key);
			break;
		case W_SEEKRANDOM:
			make_key(key, 2 * (rng(&s) % j->nkeys));
			j->found += j->e->seek(j->h, key, SEEK_NEXTS) > 0;
			break;
		case W_DELETERANDOM:
			make_key(key, 2 * (rng(&s) % j->nkeys));
			j->e->del(j->h, key);
			break;
		default:
			die("bad workload");
		}
	}
#ifdef KVBENCH_COUNT_MALLOC
	j->allocs_here = count_here;
#endif
	return NULL;
}

/* ---------------------------------------------------------------------
 * What one child (one engine, one round) measures.
 */
struct result {
	double ops_s[N_WL];     /* 0: not run */
	uint64_t ops[N_WL], found[N_WL];
	uint64_t wa_fill_disk, wa_fill_user; /* fillrandom through its close */
	uint64_t wa_all_disk, wa_all_user;   /* the whole child */
	uint64_t size_after_overwrite;       /* bytes, store closed */
	unsigned long long allocs_here[N_WL], allocs_all[N_WL];
	uint64_t lsm_flushes, lsm_compactions, lsm_stalls, lsm_stall_us,
		lsm_slowdowns;
	long maxrss_kib; /* filled by the parent */
	int ok;
};

struct cfg {
	uint64_t n;
	int rounds, threads, verbose, sites;
	const char *dir;
	int want[N_WL];
	int profile; /* workload index or -1 */
	const struct engine *engines[N_ALL_ENGINES];
	int n_engines;
};

static uint64_t proc_write_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "write_bytes: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

static uint64_t du_total;

static int du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path, (void)flag, (void)ftw;
	du_total += (uint64_t)st->st_blocks * 512;
	return 0;
}

static uint64_t du(const char *dir)
{
	du_total = 0;
	nftw(dir, du_one, 16, FTW_PHYS);
	return du_total;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

static void empty_dir(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void perf_ctl(const char *cmd)
{
	const char *ctl = getenv("KVBENCH_PERF_CTL"), *ack = getenv("KVBENCH_PERF_ACK");
	char buf[16];
	int fd;

	if (!ctl)
		return;
	if ((fd = open(ctl, O_WRONLY)) < 0)
		die("open %s: %s", ctl, strerror(errno));
	if (write(fd, cmd, strlen(cmd)) < 0)
		die("write %s: %s", ctl, strerror(errno));
	close(fd);
	if (ack && (fd = open(ack, O_RDONLY)) >= 0) {
		if (read(fd, buf, sizeof(buf)) < 0)
			die("read %s: %s", ack, strerror(errno));
		close(fd);
	}
}

/* Runs workload w with nthreads threads over ops [0, ops) and records it.
 * Only lsm's allocations are counted (the others are not wrapped). */
static void timed(const struct cfg *c, const struct engine *e, void *h, enum wl w,
		  const uint32_t *perm, uint64_t ops, uint64_t nkeys, int nthreads,
		  struct result *r, int record)
{
	struct job jobs[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	unsigned long long here = 0, all = 0;
	uint64_t found = 0;
	double t0, t;

	for (int i = 0; i < nthreads; i++) {
		jobs[i] = (struct job){
			.e = e, .h = h, .w = w, .perm = perm,
			.begin = ops * i / nthreads, .end = ops * (i + 1) / nthreads,
			.nkeys = nkeys, .seed = 0x9E3779B97F4A7C15ull * (w + 1) + i + 1,
		};
	}
	if (record && c->profile == (int)w)
		perf_ctl("enable\n");
	count_start();
	t0 = now_s();
	if (nthreads == 1) {
		job_run(&jobs[0]);
	} else {
		for (int i = 0; i < nthreads; i++)
			if (pthread_create(&tid[i], NULL, job_run, &jobs[i]))
				die("pthread_create failed");
		for (int i = 0; i < nthreads; i++)
			pthread_join(tid[i], NULL);
	}
	t = now_s() - t0;
	count_stop(&here, &all);
	if (record && c->profile == (int)w)
		perf_ctl("disable\n");
	for (int i = 0; i < nthreads; i++)
		found += jobs[i].found;
	if (nthreads > 1) {
		here = 0;
		for (int i = 0; i < nthreads; i++)
			here += jobs[i].allocs_here;
	}
	if (!record)
		return;
	r->ops_s[w] = ops / t;
	r->ops[w] = ops;
	r->found[w] = found;
	r->allocs_here[w] = here;
	r->allocs_all[w] = all;
}

static void lsm_internals(void *h, struct result *r)
{
	struct lsm_stats st;

	if (lsm_stats_get(h, &st))
		return;
	r->lsm_flushes = st.flushes;
	r->lsm_compactions = st.compactions;
	r->lsm_stalls = st.stalls;
	r->lsm_stall_us = st.stall_us;
	r->lsm_slowdowns = st.slowdowns;
}

/* -v: tables per level before or after a read workload (what a read
 * merges), for lsm and LevelDB. */
static void shape(const struct engine *e, void *h, const char *when,
		  const char *wl)
{
	struct lsm_stats st;

	if (e == &engine_lsm && !lsm_stats_get(h, &st)) {
		fprintf(stderr, "lsm %s %s: tables per level", when, wl);
		for (int l = 0; l < LSM_MAX_LEVELS; l++)
			fprintf(stderr, " %d", st.files[l]);
		fprintf(stderr, "\n");
	}
#ifdef KVBENCH_LEVELDB
	if (e == &engine_leveldb) {
		char *v = leveldb_property_value(((struct ldb *)h)->db,
						 "leveldb.num-files-at-level0");
		fprintf(stderr, "leveldb %s %s: tables per level", when, wl);
		for (int l = 0; l < 7; l++) {
			char prop[64];

			snprintf(prop, sizeof(prop),
				 "leveldb.num-files-at-level%d", l);
			free(v);
			v = leveldb_property_value(((struct ldb *)h)->db, prop);
			fprintf(stderr, " %s", v ? v : "?");
		}
		free(v);
		fprintf(stderr, "\n");
	}
#endif
}

static uint32_t *make_perm(uint64_t n)
{
	uint32_t *p = malloc(n * sizeof(*p));
	uint64_t s = 42;

	if (!p)
		die("out of memory");
	for (uint64_t i = 0; i < n; i++)
		p[i] = (uint32_t)i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = rng(&s) % (i + 1);
		uint32_t t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

static int any(const struct cfg *c, int from, int to)
{
	for (int w = from; w <= to; w++)
		if (c->want[w])
			return 1;
	return 0;
}

/* One engine, one round: every wanted workload, in order. */
static void child(const struct cfg *c, const struct engine *e, struct result *r)
{
	uint64_t n = c->n, w0, all0 = proc_write_bytes(), user = 0;
	const uint64_t kv = KEY_LEN + VAL_LEN;
	uint32_t *perm = make_perm(n);
	int is_lsm = e == &engine_lsm;
	void *h;

	memset(r, 0, sizeof(*r));
	if (c->want[W_FILLSEQ]) {
		empty_dir(c->dir);
		h = e->open(c->dir);
		timed(c, e, h, W_FILLSEQ, perm, n, n, 1, r, 1);
		user += n * kv;
		e->close(h);
	}
	if (any(c, W_FILLRANDOM, W_DELETERANDOM)) {
		empty_dir(c->dir);
		w0 = proc_write_bytes();
		h = e->open(c->dir);
		timed(c, e, h, W_FILLRANDOM, perm, n, n, 1, r, c->want[W_FILLRANDOM]);
		user += n * kv;
		if (is_lsm)
			lsm_internals(h, r);
		e->close(h);
		r->wa_fill_disk = proc_write_bytes() - w0;
		r->wa_fill_user = n * kv;
		h = e->open(c->dir);
		if (c->want[W_OVERWRITE]) {
			timed(c, e, h, W_OVERWRITE, perm, n, n, 1, r, 1);
			user += n * kv;
			e->close(h);
			r->size_after_overwrite = du(c->dir);
			h = e->open(c->dir);
		}
		for (int w = W_READRANDOM; w <= W_DELETERANDOM; w++)
			if (c->want[w]) {
				if (c->verbose)
					shape(e, h, "before", wl_name[w]);
				timed(c, e, h, w, perm, n, n, 1, r, 1);
				if (c->verbose)
					shape(e, h, "after", wl_name[w]);
				if (w == W_DELETERANDOM)
					user += n * KEY_LEN;
			}
		e->close(h);
	}
	if (c->want[W_FILLSYNC]) {
		empty_dir(c->dir);
		h = e->open(c->dir);
		timed(c, e, h, W_FILLSYNC, perm, n / 100 ? n / 100 : 1, n, 1, r, 1);
		user += (n / 100 ? n / 100 : 1) * kv;
		e->close(h);
	}
	if (any(c, W_FILLRANDOM2, W_READRANDOM2)) {
		empty_dir(c->dir);
		h = e->open(c->dir);
		timed(c, e, h, W_FILLRANDOM2, perm, n, n, c->threads, r,
		      c->want[W_FILLRANDOM2]);
		user += n * kv;
		if (c->want[W_READRANDOM2])
			timed(c, e, h, W_READRANDOM2, perm, n, n, c->threads, r, 1);
		e->close(h);
	}
	r->wa_all_disk = proc_write_bytes() - all0;
	r->wa_all_user = user;
	empty_dir(c->dir);
	free(perm);
	r->ok = 1;
}

/* Forks a child for (engine, round) and collects its result and RSS. */
static int run_child(const struct cfg *c, const struct engine *e, struct result *r)
{
	int fd[2], status;
	struct rusage ru;
	pid_t pid;
	ssize_t got;

	fflush(NULL);
	if (pipe(fd))
		die("pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		struct result mine;

		close(fd[0]);
		child(c, e, &mine);
#ifdef KVBENCH_COUNT_MALLOC
		if (c->sites && e == &engine_lsm)
			print_sites();
#endif
		if (write(fd[1], &mine, sizeof(mine)) != sizeof(mine))
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	got = read(fd[0], r, sizeof(*r));
	close(fd[0]);
	if (wait4(pid, &status, 0, &ru) < 0)
		die("wait4: %s", strerror(errno));
	if (got != sizeof(*r) || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "kvbench: %s: the run failed\n", e->name);
		memset(r, 0, sizeof(*r));
		return -1;
	}
	r->maxrss_kib = ru.ru_maxrss;
	return 0;
}

/* ---------------------------------------------------------------------
 * The report.
 */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median over the rounds of the figure f(result) of engine ei. */
static double med_of(const struct cfg *c, struct result res[][N_ALL_ENGINES], int ei,
		     double (*f)(const struct result *, int), int arg)
{
	double v[MAX_ROUNDS];
	int k = 0;

	for (int r = 0; r < c->rounds; r++)
		if (res[r][ei].ok && f(&res[r][ei], arg) > 0)
			v[k++] = f(&res[r][ei], arg);
	return median(v, k);
}

static double f_ops(const struct result *r, int w) { return r->ops_s[w]; }
static double f_wa_fill(const struct result *r, int w)
{
	(void)w;
	return r->wa_fill_user ? (double)r->wa_fill_disk / r->wa_fill_user : 0;
}
static double f_wa_all(const struct result *r, int w)
{
	(void)w;
	return r->wa_all_user ? (double)r->wa_all_disk / r->wa_all_user : 0;
}
static double f_size(const struct result *r, int w)
{
	(void)w;
	return r->size_after_overwrite / 1048576.0;
}
static double f_rss(const struct result *r, int w)
{
	(void)w;
	return r->maxrss_kib / 1024.0;
}
static double f_allocs_here(const struct result *r, int w)
{
	return r->ops[w] ? (double)r->allocs_here[w] / r->ops[w] + 1e-12 : 0;
}
static double f_allocs_all(const struct result *r, int w)
{
	return r->ops[w] ? (double)r->allocs_all[w] / r->ops[w] + 1e-12 : 0;
}

static void report(const struct cfg *c, struct result res[][N_ALL_ENGINES])
{
	int lsm = -1;

	for (int i = 0; i < c->n_engines; i++)
		if (c->engines[i] == &engine_lsm)
			lsm = i;
	printf("\n| workload | ");
	for (int i = 0; i < c->n_engines; i++)
		printf("%s ops/s | ", c->engines[i]->name);
	for (int i = 0; i < c->n_engines; i++)
		if (i != lsm && lsm >= 0)
			printf("lsm/%s | ", c->engines[i]->name);
	printf("\n|---|");
	for (int i = 0; i < c->n_engines; i++)
		printf("---:|%s", i != lsm && lsm >= 0 ? "---:|" : "");
	printf("\n");
	for (int w = 0; w < N_WL; w++) {
		double m[N_ALL_ENGINES];

		if (!c->want[w])
			continue;
		printf("| %s | ", wl_name[w]);
		for (int i = 0; i < c->n_engines; i++) {
			m[i] = med_of(c, res, i, f_ops, w);
			printf("%.0f | ", m[i]);
		}
		for (int i = 0; i < c->n_engines; i++)
			if (i != lsm && lsm >= 0)
				printf("%.2f | ", m[i] > 0 ? m[lsm] / m[i] : 0);
		printf("\n");
	}
	printf("\n| engine | WA fillrandom | WA whole run | size after overwrite (MiB) | peak RSS (MiB) |\n");
	printf("|---|---:|---:|---:|---:|\n");
	for (int i = 0; i < c->n_engines; i++)
		printf("| %s | %.2f | %.2f | %.1f | %.1f |\n", c->engines[i]->name,
		       med_of(c, res, i, f_wa_fill, 0), med_of(c, res, i, f_wa_all, 0),
		       med_of(c, res, i, f_size, 0), med_of(c, res, i, f_rss, 0));
	printf("\nWA: bytes the process wrote to disk (/proc/self/io write_bytes) per byte "
	       "of key and value it put; user data after overwrite: %.1f MiB.\n",
	       c->n * (double)(KEY_LEN + VAL_LEN) / 1048576);
#ifdef KVBENCH_COUNT_MALLOC
	if (lsm >= 0)
		for (int w = W_FILLRANDOM; w <= W_OVERWRITE; w++)
			if (c->want[w])
				printf("lsm heap allocations per put, %s: %.4f on the "
				       "writing thread, %.4f in all threads\n",
				       wl_name[w], med_of(c, res, lsm, f_allocs_here, w),
				       med_of(c, res, lsm, f_allocs_all, w));
#endif
	if (lsm >= 0 && c->want[W_FILLRANDOM]) {
		const struct result *r = &res[0][lsm];

		printf("lsm fillrandom (round 1): %llu flushes, %llu compactions, "
		       "%llu stalls (%.0f ms), %llu slowdowns\n",
		       (unsigned long long)r->lsm_flushes,
		       (unsigned long long)r->lsm_compactions,
		       (unsigned long long)r->lsm_stalls, r->lsm_stall_us / 1000.0,
		       (unsigned long long)r->lsm_slowdowns);
	}
}

static void verbose_line(const struct cfg *c, int round, const struct engine *e,
			 const struct result *r)
{
	fprintf(stderr, "round %d %-8s", round + 1, e->name);
	for (int w = 0; w < N_WL; w++)
		if (c->want[w] && r->ops_s[w] > 0)
			fprintf(stderr, " %s=%.0f", wl_name[w], r->ops_s[w]);
	fprintf(stderr, " rss=%.0fMiB\n", r->maxrss_kib / 1024.0);
}

static void check_found(const struct engine *e, const struct result *r)
{
	/* Every read of readrandom must find its key, none of readmissing. */
	if (r->ops[W_READRANDOM] && r->found[W_READRANDOM] != r->ops[W_READRANDOM])
		die("%s: readrandom found %llu of %llu keys", e->name,
		    (unsigned long long)r->found[W_READRANDOM],
		    (unsigned long long)r->ops[W_READRANDOM]);
	if (r->ops[W_READRANDOM2] && r->found[W_READRANDOM2] != r->ops[W_READRANDOM2])
		die("%s: readrandom2 found %llu of %llu keys", e->name,
		    (unsigned long long)r->found[W_READRANDOM2],
		    (unsigned long long)r->ops[W_READRANDOM2]);
	if (r->found[W_READMISSING])
		die("%s: readmissing found %llu keys", e->name,
		    (unsigned long long)r->found[W_READMISSING]);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: kvbench [-n OPS] [-r ROUNDS] [-t THREADS] [-d DIR] "
		"[-e ENGINES] [-w WORKLOADS] [-p WORKLOAD] [-A] [-v]\nengines:");
	for (int i = 0; i < N_ALL_ENGINES; i++)
		fprintf(stderr, " %s", all_engines[i]->name);
	fprintf(stderr, "\nworkloads:");
	for (int w = 0; w < N_WL; w++)
		fprintf(stderr, " %s", wl_name[w]);
	fprintf(stderr, "\n");
	exit(2);
}

static int wl_find(const char *s)
{
	for (int w = 0; w < N_WL; w++)
		if (!strcmp(s, wl_name[w]))
			return w;
	return -1;
}

int main(int argc, char **argv)
{
	static struct result res[MAX_ROUNDS][N_ALL_ENGINES];
	struct cfg c = { .n = 1000000, .rounds = 2, .threads = 2,
			 .dir = "/tmp/kvbench", .profile = -1 };
	char *engines = NULL, *wls = NULL, *tok, *save;
	int opt;

	while ((opt = getopt(argc, argv, "n:r:t:d:e:w:p:Av")) != -1) {
		switch (opt) {
		case 'n': c.n = strtoull(optarg, NULL, 10); break;
		case 'r': c.rounds = atoi(optarg); break;
		case 't': c.threads = atoi(optarg); break;
		case 'd': c.dir = optarg; break;
		case 'e': engines = optarg; break;
		case 'w': wls = optarg; break;
		case 'p':
			if ((c.profile = wl_find(optarg)) < 0)
				usage();
			break;
		case 'A': c.sites = 1; break;
		case 'v': c.verbose = 1; break;
		default: usage();
		}
	}
	if (optind != argc || c.n < 100 || c.n > UINT32_MAX || c.rounds < 1 ||
	    c.rounds > MAX_ROUNDS || c.threads < 1 || c.threads > MAX_THREADS)
		usage();
#ifdef KVBENCH_COUNT_MALLOC
	count_sites = c.sites;
#endif
	for (tok = engines ? strtok_r(engines, ",", &save) : NULL; engines && tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int i;

		for (i = 0; i < N_ALL_ENGINES && strcmp(tok, all_engines[i]->name); i++)
			;
		if (i == N_ALL_ENGINES)
			die("engine %s is not built in", tok);
		c.engines[c.n_engines++] = all_engines[i];
	}
	if (!engines)
		for (int i = 0; i < N_ALL_ENGINES; i++)
			c.engines[c.n_engines++] = all_engines[i];
	for (tok = wls ? strtok_r(wls, ",", &save) : NULL; wls && tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int w = wl_find(tok);

		if (w < 0)
			usage();
		c.want[w] = 1;
	}
	if (!wls)
		for (int w = 0; w < N_WL; w++)
			c.want[w] = 1;
	if (mkdir(c.dir, 0755) && errno != EEXIST)
		die("mkdir %s: %s", c.dir, strerror(errno));

	printf("kvbench: %llu ops, %d-byte keys, %d-byte values, %d round(s), "
	       "%d threads for fillrandom2/readrandom2, engines:",
	       (unsigned long long)c.n, KEY_LEN, VAL_LEN, c.rounds, c.threads);
	for (int i = 0; i < c.n_engines; i++)
		printf(" %s", c.engines[i]->name);
	printf("\n");
	for (int r = 0; r < c.rounds; r++)
		for (int k = 0; k < c.n_engines; k++) {
			/* Each round starts with a different engine. */
			int i = (k + r) % c.n_engines;

			if (run_child(&c, c.engines[i], &res[r][i]) == 0)
				check_found(c.engines[i], &res[r][i]);
			if (c.verbose)
				verbose_line(&c, r, c.engines[i], &res[r][i]);
		}
	report(&c, res);
	return 0;
}
