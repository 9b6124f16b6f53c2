/*
 * fsx.c — a file system exerciser in the manner of fsx (BSD/Apple, now in
 * xfstests): random operations on one file, each checked against an
 * in-memory copy of what the file must hold.
 *
 * Operations: read (pread), write (pwrite, often far past EOF, which
 * leaves a hole), mmap read, mmap write (MAP_SHARED + msync; the file is
 * extended with ftruncate first when the write passes EOF), truncate up
 * and down, fallocate (default mode and FALLOC_FL_KEEP_SIZE), fsync and
 * fdatasync, close and reopen (sometimes with O_TRUNC), a read through a
 * second descriptor (fresh or kept open), O_DIRECT reads and writes
 * through a descriptor of their own (when the file system takes O_DIRECT),
 * SEEK_DATA/SEEK_HOLE (no model byte that is not zero may lie in a hole),
 * dropping the page cache of a range (POSIX_FADV_DONTNEED, so that later
 * reads reach the file system instead of the kernel's copy),
 * copy_file_range between two ranges of the file that do not overlap,
 * a write far past the largest size (up to 1 TiB, one in eight up to
 * 2^62: a huge hole, read back, then truncated away again), and every -f
 * operations a read of the whole file (with -b also a check of st_blocks
 * after an fsync).  Some writes go through an O_APPEND descriptor; some mmap writes
 * leave the write-back to munmap instead of msync.  After every operation
 * fstat's size must equal the model's, and after a write, a truncation or
 * an msync st_mtime and st_ctime must lie within the operation.
 *
 * Data: the byte at file offset o written by operation n is
 * 1 + (31 n + o) mod 255, never 0, so a zero where data belongs is a lost
 * write or a hole, and a wrong nonzero byte names the operation that wrote
 * it (n mod 255 = 181 (b - 1 - o) mod 255, 181 being the inverse of 31).
 * Offsets are drawn uniformly, near multiples of the chunk size (-c,
 * default 64 KiB, the store's chunk), near pages and near EOF, so that
 * operations straddle chunk and page boundaries often.
 *
 * On a mismatch it prints the failing operation, the file offset of the
 * first bad byte with the expected and actual bytes after it, and the
 * last -L operations of the log; with -P DIR it leaves DIR/NAME.fsxgood
 * (the model) and DIR/NAME.fsxbad (the file as read); then it exits 1.
 * Exit 2 is a usage or set-up error.
 *
 * -i FILE starts from FILE's contents (the target must already hold them:
 * that is checked first) and -s FILE saves the model at the end, so that
 * a run can be split around an unmount and remount.
 *
 * -T N: N processes share the file, sized -l once, each with its own
 * descriptors, seed (seed + its number) and model.  The file is cut into
 * stripes of -w bytes (default 3 pages, so that a 64 KiB chunk holds
 * stripes of several processes), dealt out in turn; a process writes
 * (pwrite, mmap, O_DIRECT) only inside its own stripes, reads anywhere and
 * checks its own bytes.  No truncation, append, far hole or copy then:
 * the size stays -l; and no check of the times.  This puts concurrent writes to one chunk through the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum fsx_op {
	OP_READ, OP_WRITE, OP_MAPREAD, OP_MAPWRITE, OP_TRUNCATE, OP_FALLOC,
	OP_FSYNC, OP_REOPEN, OP_READ2, OP_DREAD, OP_DWRITE, OP_SEEK,
	OP_FARHOLE, OP_DROP, OP_COPY, OP_CHECK, OP_NTYPES
};

static const char *const op_names[OP_NTYPES] = {
	"READ", "WRITE", "MAPREAD", "MAPWRITE", "TRUNCATE", "FALLOC",
	"FSYNC", "REOPEN", "READ2", "DREAD", "DWRITE", "SEEK", "FARHOLE",
	"DROP", "COPY", "CHECK",
};

/* Relative weights of the random operations (OP_CHECK is periodic). */
static unsigned op_weight[OP_NTYPES] = {
	[OP_READ] = 20, [OP_WRITE] = 24, [OP_MAPREAD] = 8, [OP_MAPWRITE] = 8,
	[OP_TRUNCATE] = 8, [OP_FALLOC] = 6, [OP_FSYNC] = 3, [OP_REOPEN] = 3,
	[OP_READ2] = 6, [OP_DREAD] = 4, [OP_DWRITE] = 4, [OP_SEEK] = 3,
	[OP_FARHOLE] = 1, [OP_DROP] = 4, [OP_COPY] = 3,
};

/* One logged operation. */
struct log_ent {
	uint64_t n;         /* operation number, from 1 */
	enum fsx_op op;
	uint64_t off, len;  /* range; TRUNCATE: off = new size */
	uint64_t size0;     /* model size before */
	uint64_t flag;      /* op-specific: fallocate mode, COPY source... */
	const char *note;   /* static string or NULL */
};

#define LOG_CAP 1024

static struct {
	const char *fname;
	int fd, fd2;                 /* fd2: kept second descriptor or -1 */
	uint8_t *good;               /* model, maxlen bytes, zero past size */
	uint8_t *tmp;                /* read buffer, maxlen + maxoplen bytes */
	uint64_t size;               /* model size */
	uint64_t maxlen, maxoplen, chunk;
	uint64_t nops, opnum, check_every, progress;
	uint64_t seed, rng;
	uint64_t corrupt_at;         /* -C: self-test, spoil the file at op n */
	unsigned nprocs, id;         /* -T: processes sharing the file, mine */
	uint64_t stripe;             /* -w: bytes of a stripe */
	long page;
	bool quiet, verbose, direct_ok, huge_ok, check_blocks;
	bool check_times, times_due; /* times_due: set by the ops that must
					update st_mtime and st_ctime */
	unsigned log_show;
	const char *dump_dir, *init_file, *save_file;
	struct log_ent log[LOG_CAP];
	uint64_t nlog;
	uint64_t counts[OP_NTYPES];
} g;

/* ---------------------------------------------------------------- random */

static uint64_t rnd64(void)
{
	uint64_t z = (g.rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. */
static uint64_t rnd_below(uint64_t n)
{
	return rnd64() % n;
}

static uint64_t clamp_u64(int64_t v, uint64_t lo, uint64_t hi)
{
	if (v < (int64_t)lo)
		return lo;
	if ((uint64_t)v > hi)
		return hi;
	return (uint64_t)v;
}

/* An offset in [0, limit], biased toward chunk, page and EOF boundaries. */
static uint64_t pick_off(uint64_t limit)
{
	uint64_t r = rnd_below(10), k;

	if (limit == 0)
		return 0;
	switch (r) {
	case 0: case 1: case 2: case 3:
		return rnd_below(limit + 1);
	case 4: case 5: case 6:
		k = rnd_below(limit / g.chunk + 1);
		return clamp_u64((int64_t)(k * g.chunk) +
				 (int64_t)rnd_below(8193) - 4096, 0, limit);
	case 7: case 8:
		k = rnd_below(limit / (uint64_t)g.page + 1);
		return clamp_u64((int64_t)(k * (uint64_t)g.page) +
				 (int64_t)rnd_below(129) - 64, 0, limit);
	default:
		return clamp_u64((int64_t)g.size + (int64_t)rnd_below(8193) - 4096,
				 0, limit);
	}
}

/* A length in [1, g.maxoplen]: tiny, page-ish, chunk-ish or uniform. */
static uint64_t pick_len(void)
{
	uint64_t n;

	switch (rnd_below(5)) {
	case 0:
		n = 1 + rnd_below(64);
		break;
	case 1:
		n = 1 + rnd_below(2 * (uint64_t)g.page);
		break;
	case 2:
		n = clamp_u64((int64_t)g.chunk + (int64_t)rnd_below(1025) - 512,
			      1, UINT64_MAX);
		break;
	default:
		n = 1 + rnd_below(g.maxoplen);
		break;
	}
	return n < g.maxoplen ? n : g.maxoplen;
}

/* ---------------------------------------------------------------- log */

static struct log_ent *log_add(enum fsx_op op, uint64_t off, uint64_t len,
			       uint64_t flag, const char *note)
{
	struct log_ent *e = &g.log[g.nlog++ % LOG_CAP];

	*e = (struct log_ent){g.opnum, op, off, len, g.size, flag, note};
	return e;
}

static void log_print_ent(FILE *f, const struct log_ent *e)
{
	fprintf(f, "%8" PRIu64 " %-8s", e->n, op_names[e->op]);
	switch (e->op) {
	case OP_TRUNCATE:
		fprintf(f, " from 0x%" PRIx64 " to 0x%" PRIx64 " (%s)", e->size0,
			e->off, e->off > e->size0 ? "up" :
			e->off < e->size0 ? "down" : "same size");
		break;
	case OP_FSYNC:
		fprintf(f, " %s", e->flag ? "fdatasync" : "fsync");
		break;
	case OP_REOPEN:
		fprintf(f, " %s", e->flag ? "O_TRUNC" : "");
		break;
	case OP_CHECK:
		fprintf(f, " whole file, size 0x%" PRIx64, e->size0);
		break;
	case OP_SEEK:
		fprintf(f, " %s from 0x%" PRIx64, e->flag ? "SEEK_HOLE" : "SEEK_DATA",
			e->off);
		break;
	case OP_FARHOLE:
		fprintf(f, " 0x%" PRIx64 " thru 0x%" PRIx64 " (0x%" PRIx64
			" bytes), then truncate back to 0x%" PRIx64, e->off,
			e->off + e->len - 1, e->len, e->size0);
		break;
	default:
		fprintf(f, " 0x%" PRIx64 " thru 0x%" PRIx64 " (0x%" PRIx64
			" bytes)", e->off, e->off + e->len - 1, e->len);
		if (e->op == OP_FALLOC)
			fprintf(f, " %s", e->flag ? "KEEP_SIZE" : "mode 0");
		if (e->op == OP_COPY)
			fprintf(f, " from 0x%" PRIx64, e->flag);
		if ((e->op == OP_WRITE || e->op == OP_MAPWRITE || e->op == OP_COPY ||
		     e->op == OP_DWRITE || e->op == OP_FALLOC) &&
		    e->off + e->len > e->size0)
			fprintf(f, e->off > e->size0 ? " past EOF 0x%" PRIx64
				: " extends EOF 0x%" PRIx64, e->size0);
		break;
	}
	if (e->note)
		fprintf(f, " [%s]", e->note);
	fputc('\n', f);
}

static void log_dump(FILE *f)
{
	uint64_t n = g.nlog < g.log_show ? g.nlog : g.log_show;

	if (n > LOG_CAP)
		n = LOG_CAP;
	fprintf(f, "LOG: the last %" PRIu64 " operations (size before each):\n", n);
	for (uint64_t i = g.nlog - n; i < g.nlog; i++) {
		const struct log_ent *e = &g.log[i % LOG_CAP];

		fprintf(f, "  [size 0x%06" PRIx64 "]", e->size0);
		log_print_ent(f, e);
	}
}

/* ---------------------------------------------------------------- failure */

static void dump_file(const char *suffix, const uint8_t *buf, uint64_t n)
{
	char path[4096];
	const char *base = strrchr(g.fname, '/');
	FILE *f;

	if (g.nprocs > 1) /* -T: one pair per process */
		snprintf(path, sizeof(path), "%s/%s.%u%s", g.dump_dir,
			 base ? base + 1 : g.fname, g.id, suffix);
	else
		snprintf(path, sizeof(path), "%s/%s%s", g.dump_dir,
			 base ? base + 1 : g.fname, suffix);
	if (!(f = fopen(path, "w")) || fwrite(buf, 1, n, f) != n) {
		fprintf(stderr, "fsx: cannot save %s: %s\n", path, strerror(errno));
	} else {
		fprintf(stderr, "fsx: saved %s (%" PRIu64 " bytes)\n", path, n);
	}
	if (f)
		fclose(f);
}

/* Prints msg, the log and the seed; saves the files with -P; exits 1. */
static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "\nfsx: FAILED at operation %" PRIu64 " (seed %" PRIu64
		", file %s)\n", g.opnum, g.seed, g.fname);
	if (g.nprocs > 1)
		fprintf(stderr, "(process %u of %u, -T %u -S %" PRIu64
			"; it checks only its own stripes of %" PRIu64 " bytes)\n",
			g.id, g.nprocs, g.nprocs, g.seed - g.id, g.stripe);
	if (g.nlog) {
		fprintf(stderr, "failing operation:");
		log_print_ent(stderr, &g.log[(g.nlog - 1) % LOG_CAP]);
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	log_dump(stderr);
	if (g.dump_dir) {
		uint64_t n = 0;
		int fd = open(g.fname, O_RDONLY);

		dump_file(".fsxgood", g.good, g.size);
		if (fd >= 0) {
			ssize_t r;

			while (n < g.maxlen + g.maxoplen &&
			       (r = pread(fd, g.tmp + n, g.maxlen + g.maxoplen - n,
					  (off_t)n)) > 0)
				n += (uint64_t)r;
			close(fd);
			dump_file(".fsxbad", g.tmp, n);
		}
	}
	fprintf(stderr, "fsx: reproduce with -S %" PRIu64 "\n", g.seed - g.id);
	exit(1);
}

#define die_sys(what) fail("%s: %s (errno %d)", what, strerror(errno), errno)

/* -T: whether the byte at file offset o is this process's. */
static bool own(uint64_t o)
{
	return (o / g.stripe) % g.nprocs == g.id;
}

/* -T: the bytes of other processes in buf (n bytes read at off) are
 * replaced by the model's (zeros: never written by this process). */
static void mask_others(uint8_t *buf, uint64_t off, uint64_t n)
{
	for (uint64_t i = 0; i < n;) {
		uint64_t o = off + i, end = (o / g.stripe + 1) * g.stripe - off;

		if (end > n)
			end = n;
		if (!own(o))
			memcpy(buf + i, g.good + o, end - i);
		i = end;
	}
}

/* -T: a range inside one of this process's stripes: [*off, *off+*len),
 * page-aligned when aligned is set (stripes are page multiples). */
static void own_range(bool aligned, uint64_t *off, uint64_t *len)
{
	uint64_t nstripes = (g.maxlen + g.stripe - 1) / g.stripe;
	uint64_t mine = (nstripes - g.id + g.nprocs - 1) / g.nprocs;
	uint64_t s = rnd_below(mine) * g.nprocs + g.id;
	uint64_t lo = s * g.stripe, hi = lo + g.stripe, pg = (uint64_t)g.page;

	if (hi > g.maxlen)
		hi = g.maxlen;
	*off = lo + rnd_below(hi - lo);
	*len = 1 + rnd_below(rnd_below(4) ? hi - *off : (hi - *off + 15) / 16);
	if (aligned) {
		*off &= ~(pg - 1);
		*len = (*len + pg - 1) & ~(pg - 1);
		if (*off + *len > hi)
			*len = hi - *off;
	}
}

/* Compares got (n bytes read at file offset off) with the model. */
static void check_buf(const uint8_t *got, uint64_t off, uint64_t n,
		      const char *how)
{
	const uint8_t *want = g.good + off;
	uint64_t i, j, bad = 0, first = 0;
	char line[256];
	size_t ll;

	if (g.nprocs > 1)
		mask_others((uint8_t *)got, off, n);
	if (!memcmp(got, want, n))
		return;
	for (i = 0; i < n; i++)
		if (got[i] != want[i] && bad++ == 0)
			first = i;
	fflush(stdout);
	fprintf(stderr, "%s: %" PRIu64 " bad bytes in 0x%" PRIx64 " thru 0x%"
		PRIx64 "\n", how, bad, off, off + n - 1);
	fprintf(stderr, "first bad byte at file offset 0x%" PRIx64 " (%" PRIu64
		")\n", off + first, off + first);
	fprintf(stderr, "  OFFSET      GOOD  BAD   (op that wrote BAD, mod 255)\n");
	for (j = first; j < n && j < first + 16; j++) {
		uint64_t o = off + j;

		ll = (size_t)snprintf(line, sizeof(line),
				      "  0x%08" PRIx64 "  0x%02x  0x%02x", o,
				      want[j], got[j]);
		if (got[j] == 0)
			snprintf(line + ll, sizeof(line) - ll, "  zero: hole or lost write");
		else
			snprintf(line + ll, sizeof(line) - ll, "  %" PRIu64,
				 (181 * ((got[j] + 254 + 255 - o % 255) % 255)) % 255);
		fprintf(stderr, "%s%s\n", line, got[j] != want[j] ? "" : "  (same)");
	}
	fprintf(stderr, "  (this run's operation %" PRIu64 " is %" PRIu64
		" mod 255)\n", g.opnum, g.opnum % 255);
	fail("%s: data mismatch", how);
}

static void check_size(const char *when)
{
	struct stat st;

	if (fstat(g.fd, &st))
		die_sys("fstat");
	if ((uint64_t)st.st_size != g.size)
		fail("%s: st_size 0x%" PRIx64 " (%" PRIu64 "), expected 0x%"
		     PRIx64 " (%" PRIu64 ")", when, (uint64_t)st.st_size,
		     (uint64_t)st.st_size, g.size, g.size);
}

/* ---------------------------------------------------------------- helpers */

static void fill_pattern(uint8_t *p, uint64_t off, uint64_t len)
{
	uint64_t base = (31 * (g.opnum % 255)) % 255;

	for (uint64_t i = 0; i < len; i++)
		p[i] = (uint8_t)(1 + (base + (off + i) % 255) % 255);
}

static void model_write(const uint8_t *data, uint64_t off, uint64_t len)
{
	memcpy(g.good + off, data, len);
	if (off + len > g.size)
		g.size = off + len;
}

static void model_truncate(uint64_t ns)
{
	if (ns < g.size)
		memset(g.good + ns, 0, g.size - ns);
	g.size = ns;
}

/* Reads n bytes at off from fd into buf; a short count is returned. */
static uint64_t pread_full(int fd, uint8_t *buf, uint64_t n, uint64_t off,
			   const char *what)
{
	uint64_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, buf + done, n - done, (off_t)(off + done));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			die_sys(what);
		}
		if (r == 0)
			break;
		done += (uint64_t)r;
	}
	return done;
}

static void pwrite_full(int fd, const uint8_t *buf, uint64_t n, uint64_t off,
			const char *what)
{
	uint64_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, buf + done, n - done, (off_t)(off + done));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			die_sys(what);
		}
		if (r == 0)
			fail("%s: pwrite returned 0", what);
		done += (uint64_t)r;
	}
}

static int open_file(int flags)
{
	int fd = open(g.fname, flags, 0644);

	if (fd < 0)
		die_sys("open");
	return fd;
}

/* Reads [off, off+len) through fd and checks it, also that a read
 * reaching past EOF is short by exactly the right amount. */
static void read_check(int fd, uint64_t off, uint64_t len, const char *how)
{
	uint64_t want = off >= g.size ? 0 : (off + len > g.size ? g.size - off : len);
	uint64_t got = pread_full(fd, g.tmp, len, off, how);

	if (got != want)
		fail("%s: read 0x%" PRIx64 " bytes, expected 0x%" PRIx64
		     " (size 0x%" PRIx64 ")", how, got, want, g.size);
	check_buf(g.tmp, off, got, how);
}

/* ---------------------------------------------------------------- ops */

static void do_read(void)
{
	uint64_t off, len;

	if (g.size == 0) {
		log_add(OP_READ, 0, 0, 0, "skipped: empty file");
		return;
	}
	off = rnd_below(10) ? pick_off(g.size - 1) : pick_off(g.maxlen);
	len = pick_len();
	log_add(OP_READ, off, len, 0, off + len > g.size ? "past EOF" : NULL);
	read_check(g.fd, off, len, "READ");
}

/* A write through a fresh O_APPEND descriptor: the kernel picks the
 * offset from its idea of the size. */
static void write_append(void)
{
	uint64_t off = g.size, len = pick_len();
	ssize_t r;
	int fd;

	if (off + len > g.maxlen)
		len = g.maxlen - off;
	log_add(OP_WRITE, off, len, 0, "O_APPEND");
	fill_pattern(g.tmp, off, len);
	fd = open_file(O_WRONLY | O_APPEND);
	if ((r = write(fd, g.tmp, len)) < 0)
		die_sys("WRITE O_APPEND");
	if ((uint64_t)r != len)
		fail("WRITE O_APPEND: wrote 0x%zx of 0x%" PRIx64 " bytes", r, len);
	model_write(g.tmp, off, len);
	g.times_due = true;
	if (close(fd))
		die_sys("WRITE O_APPEND close");
}

static void do_write(void)
{
	uint64_t off, len;

	if (g.nprocs > 1) {
		own_range(false, &off, &len);
	} else if (rnd_below(16) == 0 && g.size < g.maxlen) {
		write_append();
		return;
	} else if (rnd_below(8) == 0 && g.size < g.maxlen - 1) {
		/* One write in eight lands anywhere past EOF: a hole before it. */
		off = g.size + rnd_below(g.maxlen - g.size - 1);
		len = pick_len();
	} else {
		off = pick_off(g.maxlen - 1);
		len = pick_len();
	}
	if (off + len > g.maxlen)
		len = g.maxlen - off;
	log_add(OP_WRITE, off, len, 0, NULL);
	fill_pattern(g.tmp, off, len);
	pwrite_full(g.fd, g.tmp, len, off, "WRITE");
	model_write(g.tmp, off, len);
	g.times_due = true;
}

static void do_mapread(void)
{
	uint64_t off, len, pg;
	uint8_t *p;

	if (g.size == 0) {
		log_add(OP_MAPREAD, 0, 0, 0, "skipped: empty file");
		return;
	}
	off = pick_off(g.size - 1);
	len = pick_len();
	if (off + len > g.size)
		len = g.size - off;
	log_add(OP_MAPREAD, off, len, 0, NULL);
	pg = off & ~(uint64_t)(g.page - 1);
	p = mmap(NULL, len + off - pg, PROT_READ, MAP_SHARED, g.fd, (off_t)pg);
	if (p == MAP_FAILED)
		die_sys("MAPREAD mmap");
	memcpy(g.tmp, p + (off - pg), len);
	if (munmap(p, len + off - pg))
		die_sys("MAPREAD munmap");
	check_buf(g.tmp, off, len, "MAPREAD");
}

static void do_mapwrite(void)
{
	uint64_t off = pick_off(g.maxlen - 1), len = pick_len(), pg;
	bool sync = rnd_below(4) != 0;
	const char *note;
	uint8_t *p;

	if (g.nprocs > 1)
		own_range(false, &off, &len);
	if (off + len > g.maxlen)
		len = g.maxlen - off;
	if (off + len > g.size)
		note = sync ? "ftruncate up first, msync" : "ftruncate up first, no msync";
	else
		note = sync ? "msync" : "no msync";
	log_add(OP_MAPWRITE, off, len, 0, note);
	if (off + len > g.size) {
		if (ftruncate(g.fd, (off_t)(off + len)))
			die_sys("MAPWRITE ftruncate");
		model_truncate(off + len);
		check_size("MAPWRITE after ftruncate");
	}
	pg = off & ~(uint64_t)(g.page - 1);
	p = mmap(NULL, len + off - pg, PROT_READ | PROT_WRITE, MAP_SHARED, g.fd,
		 (off_t)pg);
	if (p == MAP_FAILED)
		die_sys("MAPWRITE mmap");
	fill_pattern(g.tmp, off, len);
	memcpy(p + (off - pg), g.tmp, len);
	model_write(g.tmp, off, len);
	if (sync && msync(p, len + off - pg, MS_SYNC))
		die_sys("MAPWRITE msync");
	/* POSIX: marked for update by the msync (without one: some time). */
	g.times_due = sync;
	if (munmap(p, len + off - pg))
		die_sys("MAPWRITE munmap");
}

static void do_truncate(void)
{
	uint64_t ns;

	switch (rnd_below(4)) {
	case 0:
		ns = rnd_below(g.maxlen + 1);
		break;
	case 1:
		ns = pick_off(g.maxlen);
		break;
	case 2: /* a little down */
		ns = g.size - (g.size ? rnd_below(g.size < 8192 ? g.size : 8192) : 0);
		break;
	default: /* a little up */
		ns = clamp_u64((int64_t)(g.size + rnd_below(8192)), 0, g.maxlen);
		break;
	}
	log_add(OP_TRUNCATE, ns, 0, 0, NULL);
	if (ftruncate(g.fd, (off_t)ns))
		die_sys("TRUNCATE");
	model_truncate(ns);
	g.times_due = true;
}

static void do_falloc(void)
{
	uint64_t off = pick_off(g.maxlen - 1), len = pick_len();
	int keep = (int)rnd_below(2);

	if (off + len > g.maxlen)
		len = g.maxlen - off;
	log_add(OP_FALLOC, off, len, keep, NULL);
	if (fallocate(g.fd, keep ? FALLOC_FL_KEEP_SIZE : 0, (off_t)off,
		      (off_t)len)) {
		if (errno == EOPNOTSUPP) {
			op_weight[OP_FALLOC] = 0;
			printf("fsx: fallocate not supported here; no more FALLOC\n");
			return;
		}
		die_sys("FALLOC");
	}
	if (!keep && off + len > g.size)
		model_truncate(off + len);
}

static void do_fsync(void)
{
	int data = (int)rnd_below(2);

	log_add(OP_FSYNC, 0, 0, data, NULL);
	if (data ? fdatasync(g.fd) : fsync(g.fd))
		die_sys("FSYNC");
}

static void do_reopen(void)
{
	int trunc = rnd_below(10) == 0 && g.nprocs < 2;

	log_add(OP_REOPEN, 0, 0, trunc, NULL);
	if (close(g.fd))
		die_sys("REOPEN close");
	g.fd = open_file(O_RDWR | (trunc ? O_TRUNC : 0));
	if (trunc)
		model_truncate(0);
	/* The kept second descriptor is reopened now and then too. */
	if (g.fd2 >= 0 && rnd_below(2)) {
		close(g.fd2);
		g.fd2 = -1;
	}
}

static void do_read2(void)
{
	uint64_t off, len;
	bool fresh = rnd_below(2) || g.fd2 < 0;
	int fd;

	off = g.size ? pick_off(g.size - 1) : 0;
	len = pick_len();
	log_add(OP_READ2, off, len, 0, fresh ? "fresh descriptor" : "kept descriptor");
	if (fresh) {
		fd = open_file(O_RDONLY);
		read_check(fd, off, len, "READ2");
		if (g.fd2 < 0 && rnd_below(2)) {
			g.fd2 = fd;
			return;
		}
		if (close(fd))
			die_sys("READ2 close");
	} else {
		read_check(g.fd2, off, len, "READ2");
	}
}

/* O_DIRECT: offsets and lengths in pages, so that any file system that
 * takes O_DIRECT at all takes them. */
static void direct_range(uint64_t limit, uint64_t *off, uint64_t *len)
{
	uint64_t pg = (uint64_t)g.page;

	*off = pick_off(limit) & ~(pg - 1);
	*len = (pick_len() + pg - 1) & ~(pg - 1);
	if (*off + *len > g.maxlen)
		*len = (g.maxlen - *off) & ~(pg - 1);
	if (*len == 0) {
		*off = 0;
		*len = pg;
	}
}

static void do_direct(bool write)
{
	uint64_t off, len, got, want;
	uint8_t *buf = NULL;
	int fd;

	if (write && g.nprocs > 1)
		own_range(true, &off, &len);
	else
		direct_range(write ? g.maxlen - 1 : (g.size ? g.size - 1 : 0),
			     &off, &len);
	log_add(write ? OP_DWRITE : OP_DREAD, off, len, 0, NULL);
	if ((fd = open(g.fname, O_RDWR | O_DIRECT)) < 0)
		die_sys("O_DIRECT open");
	if (posix_memalign((void **)&buf, (size_t)g.page, len))
		fail("posix_memalign");
	if (write) {
		fill_pattern(buf, off, len);
		pwrite_full(fd, buf, len, off, "DWRITE");
		model_write(buf, off, len);
		g.times_due = true;
	} else {
		want = off >= g.size ? 0 : (off + len > g.size ? g.size - off : len);
		got = pread_full(fd, buf, len, off, "DREAD");
		if (got != want)
			fail("DREAD: read 0x%" PRIx64 " bytes, expected 0x%" PRIx64,
			     got, want);
		check_buf(buf, off, got, "DREAD");
	}
	free(buf);
	if (close(fd))
		die_sys("O_DIRECT close");
}

/* The model's first nonzero byte in [off, end), or end. */
static uint64_t model_nonzero(uint64_t off, uint64_t end)
{
	while (off < end && g.good[off] == 0)
		off++;
	return off;
}

/* SEEK_DATA and SEEK_HOLE need not find every hole, but a hole they
 * report must read as zeros, and they must stay within the size. */
static void do_seek(void)
{
	uint64_t off = g.size ? pick_off(g.size - 1) : 0, nz;
	int hole = (int)rnd_below(2);
	off_t r;

	log_add(OP_SEEK, off, 0, hole, NULL);
	r = lseek(g.fd, (off_t)off, hole ? SEEK_HOLE : SEEK_DATA);
	if (r < 0 && errno != ENXIO)
		die_sys("SEEK");
	nz = model_nonzero(off, g.size);
	if (r < 0) { /* ENXIO */
		if (off < g.size && (hole || nz < g.size))
			fail("SEEK: ENXIO at 0x%" PRIx64 " below the size 0x%"
			     PRIx64 "%s", off, g.size, hole ? "" :
			     " though data follows");
		return;
	}
	if (off >= g.size)
		fail("SEEK: 0x%jx from 0x%" PRIx64 ", at or past the size 0x%"
		     PRIx64 " (expected ENXIO)", (intmax_t)r, off, g.size);
	if ((uint64_t)r < off || (uint64_t)r > g.size)
		fail("SEEK: 0x%jx from 0x%" PRIx64 ", outside [0x%" PRIx64
		     ", size 0x%" PRIx64 "]", (intmax_t)r, off, off, g.size);
	if (!hole && (uint64_t)r > nz)
		fail("SEEK_DATA: 0x%jx from 0x%" PRIx64 " skips the nonzero byte"
		     " at 0x%" PRIx64, (intmax_t)r, off, nz);
	if (!hole && (uint64_t)r == g.size)
		fail("SEEK_DATA: returned the size 0x%jx", (intmax_t)r);
}

/* A short write at up to 1 TiB (one in eight: up to 2^62), far past -l:
 * the size, the data and a bit of the hole before it are checked, then
 * the file is cut back. */
static void do_farhole(void)
{
	bool huge = g.huge_ok && rnd_below(8) == 0;
	uint64_t off = g.maxlen + 1 + rnd_below(huge ? 1ull << 62 : 1ull << 40);
	uint64_t hmax = off - g.maxlen < g.maxlen ? off - g.maxlen : g.maxlen;
	uint64_t hoff = off - 1 - rnd_below(hmax), len = pick_len(), got;
	struct stat st;

	/* g.tmp holds g.maxlen + g.maxoplen bytes: twice len, or the hole. */
	if (len > g.maxlen / 2)
		len = g.maxlen / 2;
	log_add(OP_FARHOLE, off, len, 0, huge ? "huge" : NULL);
	fill_pattern(g.tmp, off, len);
	if (huge && pwrite(g.fd, g.tmp, len, (off_t)off) < 0 && errno == EFBIG) {
		g.huge_ok = false;
		printf("fsx: EFBIG at 0x%" PRIx64 ": no more huge holes\n", off);
		return;
	}
	pwrite_full(g.fd, g.tmp, len, off, "FARHOLE");
	if (fstat(g.fd, &st))
		die_sys("FARHOLE fstat");
	if ((uint64_t)st.st_size != off + len)
		fail("FARHOLE: st_size 0x%jx, expected 0x%" PRIx64,
		     (intmax_t)st.st_size, off + len);
	got = pread_full(g.fd, g.tmp + len, len, off, "FARHOLE");
	if (got != len || memcmp(g.tmp, g.tmp + len, len))
		fail("FARHOLE: the data at 0x%" PRIx64 " does not read back", off);
	got = pread_full(g.fd, g.tmp, off - hoff, hoff, "FARHOLE");
	if (got != off - hoff)
		fail("FARHOLE: short read in the hole at 0x%" PRIx64, hoff);
	for (uint64_t i = 0; i < got; i++)
		if (g.tmp[i])
			fail("FARHOLE: byte 0x%02x at 0x%" PRIx64 " in the hole",
			     g.tmp[i], hoff + i);
	if (ftruncate(g.fd, (off_t)g.size))
		die_sys("FARHOLE ftruncate back");
}

/* copy_file_range of [src, src+len) to [off, off+len), which do not
 * overlap; a source reaching past EOF copies up to EOF.  Only that much
 * is asked for: a copy that extends the file would otherwise go on to
 * copy the source's new tail on the next call of the loop. */
static void do_copy(void)
{
	uint64_t src, off, len = pick_len(), want, done = 0;
	loff_t in, out;

	if (len > g.maxlen / 2)
		len = g.maxlen / 2;
	src = pick_off(g.maxlen - len);
	do {
		off = pick_off(g.maxlen - len);
	} while (off < src + len && src < off + len);
	want = src >= g.size ? 0 : (src + len > g.size ? g.size - src : len);
	if (want)
		memcpy(g.tmp, g.good + src, want);
	log_add(OP_COPY, off, len, src, src + len > g.size ? "source past EOF" : NULL);
	while (done < (want ? want : 1)) {
		ssize_t r;

		in = (loff_t)(src + done);
		out = (loff_t)(off + done);
		r = copy_file_range(g.fd, &in, g.fd, &out,
				    want ? want - done : len, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (done == 0 && (errno == EOPNOTSUPP || errno == ENOSYS ||
					  errno == EXDEV)) {
				op_weight[OP_COPY] = 0;
				printf("fsx: copy_file_range: %s; no more COPY\n",
				       strerror(errno));
				return;
			}
			die_sys("COPY copy_file_range");
		}
		if (r == 0)
			break;
		done += (uint64_t)r;
	}
	if (done != want)
		fail("COPY: copied 0x%" PRIx64 " bytes, expected 0x%" PRIx64
		     " (size 0x%" PRIx64 ")", done, want, g.size);
	if (done) {
		model_write(g.tmp, off, done);
		g.times_due = true;
	}
}

/* Drops the kernel's clean cached pages of a range or of the whole file:
 * the reads after it go to the file system (the daemon, through FUSE). */
static void do_drop(void)
{
	uint64_t off = 0, len = 0;

	if (rnd_below(2)) {
		off = pick_off(g.maxlen - 1);
		len = pick_len();
	}
	log_add(OP_DROP, off, len, 0, len ? NULL : "whole file");
	errno = posix_fadvise(g.fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
	if (errno)
		die_sys("DROP posix_fadvise");
}

/* The whole file, and that nothing follows its end. */
/* -b: after an fsync, st_blocks must cover every nonzero byte of the
 * model (data takes space) and, as lsmfs stores nothing past the size,
 * stay within the size rounded up to 4 KiB.  File systems that compress,
 * inline small files or keep blocks past EOF break these: hence an
 * option. */
static void check_blocks(const char *how)
{
	uint64_t nz = 0, bytes, cap = (g.size + 4095) / 4096 * 4096;
	struct stat st;

	if (fsync(g.fd))
		die_sys("fsync before st_blocks");
	if (fstat(g.fd, &st))
		die_sys("fstat");
	for (uint64_t i = 0; i < g.size; i++)
		nz += g.good[i] != 0;
	bytes = (uint64_t)st.st_blocks * 512;
	if (bytes < nz || bytes > cap)
		fail("%s: st_blocks %jd (0x%" PRIx64 " bytes) outside [0x%" PRIx64
		     " nonzero bytes, 0x%" PRIx64 " size in 4 KiB blocks]", how,
		     (intmax_t)st.st_blocks, bytes, nz, cap);
}

static void do_check(const char *how)
{
	uint64_t got;

	log_add(OP_CHECK, 0, 0, 0, how);
	/* Every other time from the file system rather than the cache. */
	if (g.nlog % 2 && (errno = posix_fadvise(g.fd, 0, 0, POSIX_FADV_DONTNEED)))
		die_sys("CHECK posix_fadvise");
	got = pread_full(g.fd, g.tmp, g.size + 1, 0, how);
	if (got != g.size)
		fail("%s: read 0x%" PRIx64 " bytes of the whole file, expected 0x%"
		     PRIx64, how, got, g.size);
	check_buf(g.tmp, 0, got, how);
	if (g.check_blocks)
		check_blocks(how);
}

/* -C: spoils one byte of the file behind the model's back, just before
 * a whole-file check (a self-test of the checker: the run must fail). */
static void corrupt(void)
{
	uint64_t off = g.size ? rnd_below(g.size) : 0;
	uint8_t b = (uint8_t)(g.good[off] ^ 0x5a);
	int fd = open_file(O_RDWR);

	printf("fsx: -C: spoiling the byte at 0x%" PRIx64 " on purpose\n", off);
	pwrite_full(fd, &b, 1, off, "corrupt");
	close(fd);
	if (off >= g.size)
		g.size = off + 1; /* the file grew: keep the size check quiet */
}

static enum fsx_op pick_op(void)
{
	unsigned total = 0, r;
	int i;

	for (i = 0; i < OP_NTYPES; i++)
		total += op_weight[i];
	r = (unsigned)rnd_below(total);
	for (i = 0; i < OP_NTYPES; i++) {
		if (r < op_weight[i])
			return (enum fsx_op)i;
		r -= op_weight[i];
	}
	return OP_READ;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* After an operation that changed the data or the size (g.times_due):
 * st_mtime and st_ctime lie within it, give or take FSX_TIME_SLACK_NS
 * (kernels stamp times from a clock that ticks in jiffies). */
#define FSX_TIME_SLACK_NS 20000000
static void check_times(const char *what, int64_t t0, int64_t t1)
{
	struct stat st;
	int64_t m, c;

	if (fstat(g.fd, &st))
		die_sys("fstat");
	m = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	c = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
	if (m < t0 - FSX_TIME_SLACK_NS || m > t1 + FSX_TIME_SLACK_NS ||
	    c < t0 - FSX_TIME_SLACK_NS || c > t1 + FSX_TIME_SLACK_NS)
		fail("%s: st_mtime %+.6f s, st_ctime %+.6f s from the start of the "
		     "operation, which took %.6f s: not updated", what,
		     (double)(m - t0) / 1e9, (double)(c - t0) / 1e9,
		     (double)(t1 - t0) / 1e9);
}

static void run_op(enum fsx_op op)
{
	int64_t t0 = g.check_times ? now_ns() : 0;

	g.counts[op]++;
	g.times_due = false;
	switch (op) {
	case OP_READ: do_read(); break;
	case OP_WRITE: do_write(); break;
	case OP_MAPREAD: do_mapread(); break;
	case OP_MAPWRITE: do_mapwrite(); break;
	case OP_TRUNCATE: do_truncate(); break;
	case OP_FALLOC: do_falloc(); break;
	case OP_FSYNC: do_fsync(); break;
	case OP_REOPEN: do_reopen(); break;
	case OP_READ2: do_read2(); break;
	case OP_DREAD: do_direct(false); break;
	case OP_DWRITE: do_direct(true); break;
	case OP_SEEK: do_seek(); break;
	case OP_FARHOLE: do_farhole(); break;
	case OP_DROP: do_drop(); break;
	case OP_COPY: do_copy(); break;
	case OP_CHECK: do_check("CHECK"); break;
	case OP_NTYPES: break;
	}
	if (g.verbose)
		log_print_ent(stdout, &g.log[(g.nlog - 1) % LOG_CAP]);
	check_size(op_names[op]);
	if (g.check_times && g.times_due)
		check_times(op_names[op], t0, now_ns());
}

/* ---------------------------------------------------------------- set-up */

static void load_init(void)
{
	FILE *f = fopen(g.init_file, "r");
	size_t n;

	if (!f) {
		fprintf(stderr, "fsx: %s: %s\n", g.init_file, strerror(errno));
		exit(2);
	}
	n = fread(g.good, 1, g.maxlen + 1, f);
	fclose(f);
	if (n > g.maxlen) {
		fprintf(stderr, "fsx: %s is larger than -l %" PRIu64 "\n",
			g.init_file, g.maxlen);
		exit(2);
	}
	g.size = n;
}

static void save_model(void)
{
	FILE *f = fopen(g.save_file, "w");

	if (!f || fwrite(g.good, 1, g.size, f) != g.size || fclose(f)) {
		fprintf(stderr, "fsx: cannot save the model to %s: %s\n",
			g.save_file, strerror(errno));
		exit(2);
	}
}

/* Whether fname takes O_DIRECT (tmpfs before Linux 6.6 does not). */
static bool probe_direct(void)
{
	int fd = open(g.fname, O_RDONLY | O_DIRECT);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static uint64_t parse_num(const char *s, char opt)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		goto bad;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	default: break;
	}
	if (*end)
		goto bad;
	return v;
bad:
	fprintf(stderr, "fsx: bad number for -%c: %s\n", opt, s);
	exit(2);
}

static void usage(void)
{
	fprintf(stderr,
"usage: fsx [options] FILE\n"
"  -N n      operations (default 10000)\n"
"  -S seed   random seed (default: from the clock; printed either way)\n"
"  -l size   largest file size (default 2M)\n"
"  -o size   largest operation (default 256K)\n"
"  -c size   chunk size to straddle (default 64K)\n"
"  -f n      read the whole file every n operations (default 1000, 0 never)\n"
"  -p n      a progress line every n operations (0 never)\n"
"  -L n      operations shown from the log on failure (default 50)\n"
"  -P dir    on failure save FILE.fsxgood and FILE.fsxbad in dir\n"
"  -i file   start from this content (FILE must already hold it)\n"
"  -s file   save the expected content at the end\n"
"  -M -F -D -R  no mmap / no fallocate / no O_DIRECT / no reopen\n"
"  -b        at each whole-file check, fsync and check st_blocks (lsmfs)\n"
"  -t        do not check that writes and truncates update st_mtime/st_ctime\n"
"  -C n      self-test: spoil a byte of FILE before operation n\n"
"  -T n      n processes share FILE, each writing its own stripes\n"
"  -w size   stripe size with -T (default 3 pages; a multiple of the page)\n"
"  -q -v     quiet / print every operation\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	bool seeded = false;
	int c;

	g.nops = 10000;
	g.maxlen = 2 << 20;
	g.maxoplen = 256 << 10;
	g.chunk = 64 << 10;
	g.check_every = 1000;
	g.check_times = true;
	g.log_show = 50;
	while ((c = getopt(argc, argv, "N:S:l:o:c:f:p:L:P:i:s:MFDRC:T:w:btqvh")) != -1) {
		switch (c) {
		case 'N': g.nops = parse_num(optarg, 'N'); break;
		case 'S': g.seed = parse_num(optarg, 'S'); seeded = true; break;
		case 'l': g.maxlen = parse_num(optarg, 'l'); break;
		case 'o': g.maxoplen = parse_num(optarg, 'o'); break;
		case 'c': g.chunk = parse_num(optarg, 'c'); break;
		case 'f': g.check_every = parse_num(optarg, 'f'); break;
		case 'p': g.progress = parse_num(optarg, 'p'); break;
		case 'L': g.log_show = (unsigned)parse_num(optarg, 'L'); break;
		case 'P': g.dump_dir = optarg; break;
		case 'i': g.init_file = optarg; break;
		case 's': g.save_file = optarg; break;
		case 'M': op_weight[OP_MAPREAD] = op_weight[OP_MAPWRITE] = 0; break;
		case 'F': op_weight[OP_FALLOC] = 0; break;
		case 'D': op_weight[OP_DREAD] = op_weight[OP_DWRITE] = 0; break;
		case 'R': op_weight[OP_REOPEN] = 0; break;
		case 'C': g.corrupt_at = parse_num(optarg, 'C'); break;
		case 'T': g.nprocs = (unsigned)parse_num(optarg, 'T'); break;
		case 'w': g.stripe = parse_num(optarg, 'w'); break;
		case 'b': g.check_blocks = true; break;
		case 't': g.check_times = false; break;
		case 'q': g.quiet = true; break;
		case 'v': g.verbose = true; break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	g.fname = argv[optind];
	if (g.maxlen < 2 || g.maxoplen < 1 || g.chunk < 1 || g.log_show > LOG_CAP) {
		fprintf(stderr, "fsx: need -l >= 2, -o >= 1, -c >= 1, -L <= %d\n",
			LOG_CAP);
		exit(2);
	}
	if (!g.stripe)
		g.stripe = 3 * (uint64_t)g.page;
	if (g.nprocs > 1) {
		if (g.stripe % (uint64_t)g.page || g.init_file || g.save_file ||
		    g.corrupt_at || g.maxlen < g.nprocs * g.stripe) {
			fprintf(stderr, "fsx: -T wants -w a multiple of the page, "
				"-l of at least n stripes, and no -i, -s or -C\n");
			exit(2);
		}
		/* The size stays -l: nothing that changes it. */
		op_weight[OP_TRUNCATE] = op_weight[OP_SEEK] = 0;
		/* Another process may write between an operation and its
		 * fstat (and a getattr of another process racing a
		 * write-back may leave the kernel with older times): no
		 * time checks. */
		g.check_times = false;
		op_weight[OP_FARHOLE] = op_weight[OP_COPY] = 0;
	}
	if (!seeded) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		g.seed = ((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
			  (uint64_t)getpid()) % 1000000000;
	}
	g.rng = g.seed;
}

/* The operations of one process, then the final checks.  Returns 0 or
 * does not return (fail). */
static int run(void)
{
	for (g.opnum = 1; g.opnum <= g.nops; g.opnum++) {
		if (g.corrupt_at == g.opnum)
			corrupt();
		if (g.corrupt_at == g.opnum ||
		    (g.check_every && g.opnum % g.check_every == 0))
			run_op(OP_CHECK);
		else
			run_op(pick_op());
		if (!g.quiet && g.progress && g.opnum % g.progress == 0)
			printf("fsx: %" PRIu64 " operations, size 0x%" PRIx64 "\n",
			       g.opnum, g.size);
	}
	/* The end: the whole file, then again after a close and reopen. */
	do_check("final check");
	if (g.fd2 >= 0)
		close(g.fd2);
	if (close(g.fd))
		die_sys("final close");
	g.fd = open_file(O_RDONLY);
	check_size("after the final reopen");
	do_check("final check after reopen");
	close(g.fd);
	if (g.save_file)
		save_model();
	if (g.nprocs > 1)
		printf("fsx: process %u: ", g.id);
	else
		printf("fsx: ");
	printf("%" PRIu64 " operations OK (seed %" PRIu64 "):", g.nops, g.seed);
	for (int i = 0; i < OP_NTYPES; i++)
		printf(" %s %" PRIu64, op_names[i], g.counts[i]);
	printf("\n");
	return 0;
}

/* -T: sizes the file, forks the processes and waits for them all.
 * Returns 0 when every one passed, else 1. */
static int run_shared(void)
{
	pid_t *pids = calloc(g.nprocs, sizeof(*pids));
	int rc = 0, st;

	if (!pids) {
		fprintf(stderr, "fsx: out of memory\n");
		return 2;
	}
	if (ftruncate(g.fd, (off_t)g.maxlen))
		die_sys("ftruncate to -l");
	close(g.fd);
	g.size = g.maxlen;
	fflush(stdout);
	for (unsigned i = 0; i < g.nprocs; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die_sys("fork");
		if (pid == 0) {
			g.id = i;
			g.seed += i;
			g.rng = g.seed;
			g.fd = open_file(O_RDWR);
			exit(run());
		}
		pids[i] = pid;
	}
	for (unsigned i = 0; i < g.nprocs; i++) {
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st)) {
			fprintf(stderr, "fsx: process %u (seed %" PRIu64 ") failed\n",
				i, g.seed + i);
			rc = 1;
		}
	}
	free(pids);
	if (!rc)
		printf("fsx: %u processes x %" PRIu64 " operations OK (seed %"
		       PRIu64 ")\n", g.nprocs, g.nops, g.seed);
	return rc;
}

int main(int argc, char **argv)
{
	int rc;

	g.page = sysconf(_SC_PAGESIZE);
	parse_args(argc, argv);
	g.fd2 = -1;
	g.huge_ok = true;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!(g.good = calloc(1, g.maxlen + 1)) ||
	    !(g.tmp = malloc(g.maxlen + g.maxoplen + 1))) {
		fprintf(stderr, "fsx: out of memory\n");
		return 2;
	}
	printf("fsx: seed %" PRIu64 " ops %" PRIu64 " maxlen %" PRIu64
	       " maxop %" PRIu64 " chunk %" PRIu64 " file %s\n", g.seed, g.nops,
	       g.maxlen, g.maxoplen, g.chunk, g.fname);
	if (g.nprocs > 1)
		printf("fsx: %u processes, stripes of %" PRIu64 " bytes\n",
		       g.nprocs, g.stripe);
	if (g.init_file) {
		load_init();
		g.fd = open_file(O_RDWR);
		check_size("initial contents");
		do_check("initial contents (-i)");
	} else {
		g.fd = open_file(O_RDWR | O_CREAT | O_TRUNC);
	}
	g.direct_ok = probe_direct() && g.maxlen >= (uint64_t)g.page;
	if (!g.direct_ok && (op_weight[OP_DREAD] || op_weight[OP_DWRITE])) {
		printf("fsx: O_DIRECT not taken here; no DREAD/DWRITE\n");
		op_weight[OP_DREAD] = op_weight[OP_DWRITE] = 0;
	}
	rc = g.nprocs > 1 ? run_shared() : run();
	free(g.good);
	free(g.tmp);
	return rc;
}
