/*
 * posix_suite.c — a POSIX/Linux conformance suite for a mounted
 * filesystem, in the manner of pjdfstest: each test function performs
 * system calls in a directory of its own and asserts the exact errno and
 * the effects (modes, owners, link counts, sizes, times, contents) that
 * POSIX and Linux specify, as ext4 behaves.  Every failure is printed
 * with its test case, its line, the call, and what was expected against
 * what came; the run ends with "N passed, M failed".
 *
 *   posix_suite [-v] [-t SUBSTR] DIR
 *       runs every test under DIR (an empty directory on the filesystem
 *       to test).  As root, the tests of other users' files ("fx_"
 *       tests) build their fixtures as root and then run their checks
 *       in a child process as uid 65534 (gid 65534, supplementary group
 *       4242), so the mount needs -o allow_other.
 *   posix_suite --make-fixtures FXDIR            (as root)
 *   posix_suite [-v] [-t SUBSTR] --fixtures FXDIR DIR   (as uid 65534)
 *       the unprivileged run: the fixtures are made by root first, then
 *       the whole suite runs as the unprivileged user (setpriv
 *       --reuid=65534 --regid=65534 --groups=4242), root-only tests are
 *       skipped and the fx_ checks run in-process.
 *   posix_suite --check-tree DIR
 *       checks the invariants of the tree under DIR (see check_tree).
 *   posix_suite --make-ro-tree DIR, then (mounted read-only) --check-ro DIR
 *       every change is EROFS on a read-only mount, reads work.
 *
 * Run it on a plain directory of the machine's own filesystem (e.g. under
 * /tmp on ext4) to check the suite itself: it must pass there.
 *
 * Exit status: 0 when no assertion failed and at least one ran, 1
 * otherwise, 2 on a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* The unprivileged user of the fx_ checks and the ids its fixtures use. */
#define U 65534      /* the checking user (nobody) */
#define G 65534      /* its primary group (nogroup) */
#define GM 4242      /* a supplementary group it belongs to */
#define GN 4343      /* a group it does not belong to */
#define UO 1001      /* another user */
#define GO 1001      /* that user's group */

/* ====================================================================
 * Assertions.  Counters live in shared memory so that checks run in a
 * child process (as another user) count too.
 */
struct counters {
	long pass, fail, skip;
};
static struct counters *cnt;
static const char *tcase = "-";
static int verbose;

static const char *ename(int e)
{
	static const struct {
		int e;
		const char *n;
	} names[] = {
#define N(x) {x, #x}
		N(EPERM), N(ENOENT), N(EIO), N(ENXIO), N(E2BIG), N(EBADF),
		N(EAGAIN), N(ENOMEM), N(EACCES), N(EFAULT), N(EBUSY), N(EEXIST),
		N(EXDEV), N(ENODEV), N(ENOTDIR), N(EISDIR), N(EINVAL), N(ENFILE),
		N(EMFILE), N(ETXTBSY), N(EFBIG), N(ENOSPC), N(ESPIPE), N(EROFS),
		N(EMLINK), N(ERANGE), N(ENAMETOOLONG), N(ENOSYS), N(ENOTEMPTY),
		N(ELOOP), N(ENODATA), N(EOPNOTSUPP), N(EOVERFLOW), N(ENOTCONN),
#undef N
	};
	static char buf[32];

	if (e == 0)
		return "OK";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == e)
			return names[i].n;
	snprintf(buf, sizeof(buf), "errno %d", e);
	return buf;
}

static void pass(void)
{
	__atomic_add_fetch(&cnt->pass, 1, __ATOMIC_SEQ_CST);
}

static void fail(int line, const char *fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(&cnt->fail, 1, __ATOMIC_SEQ_CST);
	printf("FAIL [%s] line %d: ", tcase, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void skip(const char *why)
{
	__atomic_add_fetch(&cnt->skip, 1, __ATOMIC_SEQ_CST);
	if (verbose)
		printf("skip [%s]: %s\n", tcase, why);
}

/* A call's result against the expected errno (0: success). */
static long expect_rc(int line, const char *call, long r, int err, int e1,
		      int e2)
{
	int got = r == -1 ? err : 0;

	if (got == e1 || (e2 && got == e2)) {
		pass();
	} else if (e2) {
		fail(line, "%s: expected %s or %s, got %s", call, ename(e1),
		     ename(e2), got ? ename(got) : "success");
	} else {
		fail(line, "%s: expected %s, got %s", call,
		     e1 ? ename(e1) : "success", got ? ename(got) : "success");
	}
	return r;
}

#define OK(call) ({ errno = 0; long r_ = (long)(call); \
	expect_rc(__LINE__, #call, r_, errno, 0, 0); })
#define ERR(e, call) ({ errno = 0; long r_ = (long)(call); \
	expect_rc(__LINE__, #call, r_, errno, (e), 0); })
#define ERR2(e1, e2, call) ({ errno = 0; long r_ = (long)(call); \
	expect_rc(__LINE__, #call, r_, errno, (e1), (e2)); })

static bool expect_eq(int line, const char *what, long long exp, long long got,
		      bool octal)
{
	if (exp == got) {
		pass();
		return true;
	}
	if (octal)
		fail(line, "%s: expected 0%llo, got 0%llo", what, exp, got);
	else
		fail(line, "%s: expected %lld, got %lld", what, exp, got);
	return false;
}

#define EQ(exp, got) expect_eq(__LINE__, #got, (long long)(exp), (long long)(got), false)
#define EQO(exp, got) expect_eq(__LINE__, #got, (long long)(exp), (long long)(got), true)
#define TRUE(cond) ((cond) ? (pass(), true) : (fail(__LINE__, "%s is false", #cond), false))
#define STREQ(exp, got) (strcmp((exp), (got)) == 0 ? (pass(), true) : \
	(fail(__LINE__, "%s: expected \"%s\", got \"%s\"", #got, (exp), (got)), false))

/* ====================================================================
 * Helpers.
 */
static bool is_root;
static char other_fs[PATH_MAX]; /* a writable dir on another filesystem */

/* lstat that fails the test (and returns zeros) when it fails. */
static struct stat lst_(int line, const char *p)
{
	struct stat st;

	if (lstat(p, &st)) {
		fail(line, "lstat(\"%s\"): %s", p, ename(errno));
		memset(&st, 0, sizeof(st));
	}
	return st;
}
#define LST(p) lst_(__LINE__, (p))

static struct stat fst_(int line, int fd)
{
	struct stat st;

	if (fstat(fd, &st)) {
		fail(line, "fstat(%d): %s", fd, ename(errno));
		memset(&st, 0, sizeof(st));
	}
	return st;
}
#define FST(fd) fst_(__LINE__, (fd))

/* Creates (or truncates) p with mode and content; -1 on failure (counted). */
static int mkfile_(int line, const char *p, mode_t mode, const char *content)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ssize_t n;

	if (fd < 0) {
		fail(line, "create \"%s\": %s", p, ename(errno));
		return -1;
	}
	if (content) {
		n = write(fd, content, strlen(content));
		if (n != (ssize_t)strlen(content)) {
			fail(line, "write \"%s\": %s", p, ename(errno));
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}
#define MKFILE(p, mode, content) mkfile_(__LINE__, (p), (mode), (content))

/* Reads up to cap-1 bytes of p into buf (NUL-terminated); length or -1. */
static ssize_t readfile(const char *p, char *buf, size_t cap)
{
	int fd = open(p, O_RDONLY);
	ssize_t n, tot = 0;

	if (fd < 0)
		return -1;
	while ((size_t)tot < cap - 1 && (n = read(fd, buf + tot, cap - 1 - tot)) > 0)
		tot += n;
	close(fd);
	buf[tot] = 0;
	return tot;
}

/* Lets the clock move on, so that a changed time is visible. */
static void tick(void)
{
	struct timespec ts = {0, 20 * 1000 * 1000};

	nanosleep(&ts, NULL);
}

static int tscmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	if (a.tv_nsec != b.tv_nsec)
		return a.tv_nsec < b.tv_nsec ? -1 : 1;
	return 0;
}

static bool expect_time(int line, const char *what, struct timespec before,
			struct timespec after, bool changed)
{
	bool later = tscmp(after, before) > 0, same = tscmp(after, before) == 0;

	if (changed ? later : same) {
		pass();
		return true;
	}
	fail(line, "%s: expected %s, was %lld.%09ld now %lld.%09ld", what,
	     changed ? "a later time" : "no change", (long long)before.tv_sec,
	     before.tv_nsec, (long long)after.tv_sec, after.tv_nsec);
	return false;
}
/* before/after are struct stat; field is st_mtim, st_ctim or st_atim. */
#define NEWER(before, after, field) \
	expect_time(__LINE__, #after "." #field " after the change", (before).field, (after).field, true)
#define SAME(before, after, field) \
	expect_time(__LINE__, #after "." #field " unchanged", (before).field, (after).field, false)

static bool near_now(struct timespec t)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return t.tv_sec >= now.tv_sec - 5 && t.tv_sec <= now.tv_sec + 1;
}

static char *name_of(char c, size_t n)
{
	static char buf[2][PATH_MAX];
	static int which;
	char *b = buf[which ^= 1];

	memset(b, c, n);
	b[n] = 0;
	return b;
}

/* Runs fn in a child as uid:gid with supplementary groups {gid, GM}
 * (root only; otherwise runs fn here if we already are that user). */
static void run_as(uid_t uid, gid_t gid, void (*fn)(void))
{
	gid_t groups[2] = {gid, GM};
	pid_t pid;
	int ws;

	if (!is_root) {
		if (geteuid() == uid)
			fn();
		else
			skip("needs root to switch user");
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fail(__LINE__, "fork: %s", ename(errno));
		return;
	}
	if (pid == 0) {
		if (setgroups(2, groups) || setresgid(gid, gid, gid) ||
		    setresuid(uid, uid, uid)) {
			fail(__LINE__, "cannot become %u:%u: %s", uid, gid, ename(errno));
			_exit(1);
		}
		umask(022);
		fn();
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws))
		fail(__LINE__, "the child running as %u ended abnormally (status 0x%x)",
		     uid, ws);
}

/* Runs argv[0] (a path) in a child; returns its errno from execve (0 if
 * it ran and exited 0, -1 if it ran and failed). */
static int try_exec(const char *path)
{
	int pfd[2], e = 0, ws;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *argv[] = {(char *)path, NULL};
		char *envp[] = {NULL};
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 2);
		execve(path, argv, envp);
		e = errno;
		if (write(pfd[1], &e, sizeof(e)) != sizeof(e))
			_exit(126);
		_exit(127);
	}
	close(pfd[1]);
	if (read(pfd[0], &e, sizeof(e)) != sizeof(e))
		e = 0;
	close(pfd[0]);
	waitpid(pid, &ws, 0);
	if (!e && !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0))
		return -1;
	return e;
}

static int sysctl_int(const char *path)
{
	char buf[32];

	if (readfile(path, buf, sizeof(buf)) <= 0)
		return -1;
	return atoi(buf);
}

static bool in_listxattr(const char *p, const char *name)
{
	char buf[4096];
	ssize_t n = llistxattr(p, buf, sizeof(buf));

	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
		if (!strcmp(buf + i, name))
			return true;
	return false;
}

/* ====================================================================
 * open, creat
 */
static void t_open_create(void)
{
	struct stat d0, d1, s;
	int fd;

	d0 = LST(".");
	tick();
	umask(022);
	fd = OK(open("f", O_CREAT | O_WRONLY, 0666));
	close(fd);
	s = LST("f");
	TRUE(S_ISREG(s.st_mode));
	EQO(0644, s.st_mode & 07777);
	EQ(geteuid(), s.st_uid);
	EQ(getegid(), s.st_gid);
	EQ(1, s.st_nlink);
	EQ(0, s.st_size);
	EQ(0, s.st_blocks);
	TRUE(near_now(s.st_mtim));
	TRUE(near_now(s.st_ctim));
	TRUE(near_now(s.st_atim));
	d1 = LST(".");
	NEWER(d0, d1, st_mtim);
	NEWER(d0, d1, st_ctim);

	umask(077);
	fd = OK(creat("g", 0777));
	close(fd);
	EQO(0700, LST("g").st_mode & 07777);
	umask(0);
	close(OK(open("h", O_CREAT | O_RDWR, 0751)));
	EQO(0751, LST("h").st_mode & 07777);
	umask(022);

	/* O_CREAT without O_EXCL on an existing file: no change. */
	MKFILE("e", 0600, "keep");
	s = LST("e");
	tick();
	fd = OK(open("e", O_CREAT | O_RDWR, 0777));
	close(fd);
	EQO(0600, LST("e").st_mode & 07777);
	EQ(4, LST("e").st_size);
	SAME(s, LST("e"), st_mtim);

	/* Mode 0 at creation still hands the creator a writable fd. */
	fd = OK(open("zero", O_CREAT | O_EXCL | O_RDWR, 0));
	EQ(3, write(fd, "abc", 3));
	close(fd);
	EQO(0, LST("zero").st_mode & 07777);
	EQ(3, LST("zero").st_size);

	/* Names: 255 bytes work, 256 are ENAMETOOLONG, "" is ENOENT. */
	fd = OK(open(name_of('n', 255), O_CREAT | O_WRONLY, 0644));
	close(fd);
	TRUE(LST(name_of('n', 255)).st_nlink == 1);
	ERR(ENAMETOOLONG, open(name_of('n', 256), O_CREAT | O_WRONLY, 0644));
	ERR(ENAMETOOLONG, open(name_of('n', 256), O_RDONLY));
	ERR(ENAMETOOLONG, access(name_of('m', 256), F_OK));
	ERR(ENOENT, open("", O_CREAT | O_WRONLY, 0644));
	ERR(ENOENT, open("nodir/x", O_CREAT | O_WRONLY, 0644));
	ERR(ENOENT, open("missing", O_RDONLY));
	ERR(ENOTDIR, open("f/x", O_CREAT | O_WRONLY, 0644));
	ERR(ENOTDIR, open("f/", O_RDONLY));
	ERR(EISDIR, open("newfile/", O_CREAT | O_WRONLY, 0644));
}

static void t_open_flags(void)
{
	char buf[64];
	struct stat s0, s1;
	int fd;

	MKFILE("f", 0644, "0123456789");
	/* O_EXCL */
	ERR(EEXIST, open("f", O_CREAT | O_EXCL | O_WRONLY, 0644));
	OK(mkdir("d", 0755));
	ERR(EEXIST, open("d", O_CREAT | O_EXCL | O_RDONLY, 0644));
	OK(symlink("nowhere", "dangling"));
	ERR(EEXIST, open("dangling", O_CREAT | O_EXCL | O_WRONLY, 0644));
	ERR(ENOENT, lstat("nowhere", &s0));
	OK(symlink("f", "lf"));
	ERR(EEXIST, open("lf", O_CREAT | O_EXCL | O_WRONLY, 0644));
	/* O_EXCL without O_CREAT is ignored for regular files. */
	close(OK(open("f", O_EXCL | O_RDONLY)));
	/* O_CREAT through a dangling symlink creates its target. */
	fd = OK(open("dangling", O_CREAT | O_WRONLY, 0640));
	close(fd);
	TRUE(S_ISREG(LST("nowhere").st_mode));
	EQO(0640, LST("nowhere").st_mode & 07777);

	/* O_TRUNC empties and updates mtime and ctime. */
	s0 = LST("f");
	tick();
	fd = OK(open("f", O_WRONLY | O_TRUNC));
	close(fd);
	s1 = LST("f");
	EQ(0, s1.st_size);
	NEWER(s0, s1, st_mtim);
	NEWER(s0, s1, st_ctim);
	/* ... also with O_RDONLY (Linux truncates), and on an empty file. */
	MKFILE("g", 0644, "data");
	close(OK(open("g", O_RDONLY | O_TRUNC)));
	EQ(0, LST("g").st_size);
	s0 = LST("g");
	tick();
	close(OK(open("g", O_WRONLY | O_TRUNC)));
	s1 = LST("g");
	NEWER(s0, s1, st_mtim);
	/* O_TRUNC of a directory: EISDIR. */
	ERR(EISDIR, open("d", O_WRONLY | O_TRUNC));
	ERR(EISDIR, open("d", O_RDWR));
	ERR(EISDIR, open("d", O_WRONLY));
	close(OK(open("d", O_RDONLY)));
	close(OK(open("d", O_RDONLY | O_DIRECTORY)));
	ERR(ENOTDIR, open("f", O_RDONLY | O_DIRECTORY));
	ERR(ENOTDIR, open("lf", O_RDONLY | O_DIRECTORY));

	/* O_APPEND: writes go to the end whatever the offset. */
	MKFILE("a", 0644, "abc");
	fd = OK(open("a", O_WRONLY | O_APPEND));
	OK(lseek(fd, 0, SEEK_SET));
	EQ(3, write(fd, "def", 3));
	EQ(6, lseek(fd, 0, SEEK_CUR));
	EQ(3, pwrite(fd, "ghi", 3, 0)); /* Linux: pwrite appends too */
	close(fd);
	EQ(9, readfile("a", buf, sizeof(buf)));
	STREQ("abcdefghi", buf);

	/* Access modes. */
	fd = OK(open("a", O_RDONLY));
	ERR(EBADF, write(fd, "x", 1));
	close(fd);
	fd = OK(open("a", O_WRONLY));
	ERR(EBADF, read(fd, buf, 1));
	ERR(EINVAL, ftruncate(fd, -1));
	close(fd);
	fd = OK(open("a", O_RDWR));
	EQ(9, read(fd, buf, sizeof(buf)));
	EQ(1, write(fd, "j", 1));
	EQ(10, LST("a").st_size);
	close(fd);

	/* O_NOFOLLOW */
	ERR(ELOOP, open("lf", O_RDONLY | O_NOFOLLOW));
	ERR(ELOOP, open("lf", O_WRONLY | O_CREAT | O_NOFOLLOW, 0644));
	close(OK(open("lf", O_PATH | O_NOFOLLOW)));
	close(OK(open("f", O_RDONLY | O_NOFOLLOW)));
	/* An intermediate symlink is followed even with O_NOFOLLOW. */
	OK(symlink("d", "ld"));
	MKFILE("d/in", 0644, NULL);
	close(OK(open("ld/in", O_RDONLY | O_NOFOLLOW)));
}

static void t_open_unlinked(void)
{
	char buf[16];
	struct stat s, s0;
	int fd, fd2;

	MKFILE("f", 0644, "survives");
	fd = OK(open("f", O_RDWR));
	s = FST(fd);
	tick();
	OK(unlink("f"));
	ERR(ENOENT, lstat("f", &s0));
	NEWER(s, FST(fd), st_ctim);
	s = FST(fd);
	EQ(0, s.st_nlink);
	EQ(8, pread(fd, buf, sizeof(buf), 0));
	EQ(0, memcmp(buf, "survives", 8));
	EQ(4, pwrite(fd, "more", 4, 8));
	EQ(12, FST(fd).st_size);
	OK(fchmod(fd, 0600));
	EQO(0600, FST(fd).st_mode & 07777);
	OK(ftruncate(fd, 2));
	EQ(2, FST(fd).st_size);
	/* A new file of the same name is a different inode. */
	fd2 = OK(open("f", O_CREAT | O_RDWR, 0644));
	TRUE(FST(fd2).st_ino != s.st_ino);
	EQ(0, FST(fd2).st_size);
	close(fd2);
	/* linkat of an unlinked file: ENOENT. */
	snprintf(buf, sizeof(buf), "/proc/self/fd/%d", fd);
	ERR(ENOENT, linkat(AT_FDCWD, buf, AT_FDCWD, "back", AT_SYMLINK_FOLLOW));
	close(fd);
}

/* ====================================================================
 * mkdir, rmdir
 */
static void t_mkdir(void)
{
	struct stat d0, d1, s;
	int fd;

	d0 = LST(".");
	tick();
	OK(mkdir("d", 0755));
	s = LST("d");
	TRUE(S_ISDIR(s.st_mode));
	EQO(0755, s.st_mode & 07777);
	EQ(2, s.st_nlink);
	EQ(geteuid(), s.st_uid);
	EQ(getegid(), s.st_gid);
	TRUE(near_now(s.st_mtim));
	d1 = LST(".");
	EQ(d0.st_nlink + 1, d1.st_nlink);
	NEWER(d0, d1, st_mtim);
	NEWER(d0, d1, st_ctim);
	/* mode: umask applies, the sticky bit stays, set-user-ID goes. */
	umask(027);
	OK(mkdir("m", 0777));
	EQO(0750, LST("m").st_mode & 07777);
	umask(0);
	OK(mkdir("sticky", 01777));
	EQO(01777, LST("sticky").st_mode & 07777);
	OK(mkdir("suid", 04777));
	EQO(0777, LST("suid").st_mode & 07777);
	OK(mkdir("zero", 0));
	EQO(0, LST("zero").st_mode & 07777);
	umask(022);
	/* errors */
	ERR(EEXIST, mkdir("d", 0755));
	MKFILE("f", 0644, NULL);
	ERR(EEXIST, mkdir("f", 0755));
	OK(symlink("nowhere", "dl"));
	ERR(EEXIST, mkdir("dl", 0755));
	ERR(EEXIST, mkdir(".", 0755));
	ERR(EEXIST, mkdir("..", 0755));
	ERR(ENOENT, mkdir("no/sub", 0755));
	ERR(ENOTDIR, mkdir("f/sub", 0755));
	ERR(ENOENT, mkdir("", 0755));
	ERR(ENAMETOOLONG, mkdir(name_of('d', 256), 0755));
	OK(mkdir(name_of('d', 255), 0755));
	OK(mkdir("slash/", 0755));
	TRUE(S_ISDIR(LST("slash").st_mode));
	/* Nested: link counts of each level. */
	OK(mkdir("d/a", 0755));
	OK(mkdir("d/b", 0755));
	OK(mkdir("d/b/c", 0755));
	MKFILE("d/file", 0644, NULL);
	EQ(4, LST("d").st_nlink);
	EQ(3, LST("d/b").st_nlink);
	EQ(2, LST("d/b/c").st_nlink);
	/* mkdir in a removed directory: ENOENT. */
	OK(mkdir("gone", 0755));
	fd = OK(open("gone", O_RDONLY | O_DIRECTORY));
	OK(rmdir("gone"));
	ERR(ENOENT, mkdirat(fd, "x", 0755));
	ERR(ENOENT, openat(fd, "y", O_CREAT | O_WRONLY, 0644));
	close(fd);
}

static void t_rmdir(void)
{
	struct stat d0, d1, s;
	int fd;

	OK(mkdir("d", 0755));
	OK(mkdir("d/sub", 0755));
	MKFILE("d/f", 0644, NULL);
	ERR2(ENOTEMPTY, EEXIST, rmdir("d"));
	ERR(ENOTDIR, rmdir("d/f"));
	ERR(ENOENT, rmdir("d/missing"));
	ERR(EINVAL, rmdir("d/sub/."));
	ERR2(ENOTEMPTY, EEXIST, rmdir("d/sub/.."));
	ERR(ENOTDIR, rmdir("d/f/x"));
	OK(symlink("d/sub", "ls"));
	ERR(ENOTDIR, rmdir("ls"));
	TRUE(S_ISDIR(LST("d/sub").st_mode));
	d0 = LST("d");
	tick();
	OK(rmdir("d/sub"));
	d1 = LST("d");
	EQ(d0.st_nlink - 1, d1.st_nlink);
	NEWER(d0, d1, st_mtim);
	NEWER(d0, d1, st_ctim);
	ERR(ENOENT, lstat("d/sub", &s));
	ERR2(ENOTEMPTY, EEXIST, rmdir("d"));
	OK(unlink("d/f"));
	OK(rmdir("d"));
	ERR(ENOENT, rmdir("d"));
	/* A removed directory that is still open: nlink 0, readdir fails or is empty. */
	OK(mkdir("open", 0755));
	fd = OK(open("open", O_RDONLY | O_DIRECTORY));
	OK(rmdir("open"));
	EQ(0, FST(fd).st_nlink);
	{
		char buf[4096];
		long n = getdents64(fd, buf, sizeof(buf));

		TRUE(n == 0 || (n == -1 && errno == ENOENT));
	}
	close(fd);
	/* rmdir with a trailing slash works on directories. */
	OK(mkdir("t", 0755));
	OK(rmdir("t/"));
	/* A directory holding only a removed file is empty again. */
	OK(mkdir("e", 0755));
	MKFILE("e/x", 0644, NULL);
	OK(unlink("e/x"));
	OK(rmdir("e"));
}

/* ====================================================================
 * unlink, link
 */
static void t_unlink(void)
{
	struct stat d0, d1, s0, s1;

	MKFILE("f", 0644, "x");
	OK(link("f", "g"));
	s0 = LST("f");
	d0 = LST(".");
	tick();
	OK(unlink("g"));
	s1 = LST("f");
	d1 = LST(".");
	EQ(1, s1.st_nlink);
	NEWER(s0, s1, st_ctim);
	SAME(s0, s1, st_mtim);
	NEWER(d0, d1, st_mtim);
	NEWER(d0, d1, st_ctim);
	EQ(d0.st_nlink, d1.st_nlink);
	ERR(ENOENT, unlink("g"));
	ERR(ENOENT, unlink("missing/x"));
	ERR(ENOTDIR, unlink("f/x"));
	ERR(ENOENT, unlink(""));
	OK(mkdir("d", 0755));
	ERR(EISDIR, unlink("d"));
	ERR2(EISDIR, ENOTDIR, unlink("f/"));
	ERR(ENAMETOOLONG, unlink(name_of('u', 256)));
	/* Unlinking a symlink removes the link, not the target. */
	OK(symlink("f", "l"));
	OK(symlink("d", "ld"));
	OK(unlink("l"));
	OK(unlink("ld"));
	TRUE(S_ISREG(LST("f").st_mode));
	TRUE(S_ISDIR(LST("d").st_mode));
	/* FIFOs and sockets unlink like files. */
	OK(mkfifo("p", 0644));
	OK(unlink("p"));
	OK(unlink("f"));
	ERR(ENOENT, lstat("f", &s0));
	OK(rmdir("d"));
}

static void t_link(void)
{
	struct stat s0, s1, d0, d1;
	char buf[16];

	MKFILE("f", 0644, "data");
	OK(mkdir("d", 0755));
	s0 = LST("f");
	d0 = LST("d");
	tick();
	OK(link("f", "d/g"));
	s1 = LST("f");
	d1 = LST("d");
	EQ(2, s1.st_nlink);
	EQ(s0.st_ino, LST("d/g").st_ino);
	EQ(2, LST("d/g").st_nlink);
	NEWER(s0, s1, st_ctim);
	SAME(s0, s1, st_mtim);
	NEWER(d0, d1, st_mtim);
	NEWER(d0, d1, st_ctim);
	EQ(2, d1.st_nlink);
	/* Data is shared. */
	MKFILE("d/g", 0644, "changed");
	EQ(7, readfile("f", buf, sizeof(buf)));
	STREQ("changed", buf);
	OK(link("f", "h"));
	EQ(3, LST("f").st_nlink);
	OK(unlink("f"));
	EQ(2, LST("h").st_nlink);
	/* errors */
	ERR(EEXIST, link("h", "d/g"));
	ERR(EEXIST, link("h", "h"));
	ERR(EEXIST, link("h", "d"));
	ERR(EPERM, link("d", "d2"));
	ERR(ENOENT, link("missing", "x"));
	ERR(ENOENT, link("h", "missing/x"));
	ERR(ENOTDIR, link("h", "h/x"));
	ERR(ENOTDIR, link("h/x", "y"));
	ERR(ENAMETOOLONG, link("h", name_of('l', 256)));
	OK(link("h", name_of('l', 255)));
	/* A link to a symlink is a link to the symlink itself. */
	OK(symlink("h", "sl"));
	OK(link("sl", "sl2"));
	TRUE(S_ISLNK(LST("sl2").st_mode));
	EQ(2, LST("sl").st_nlink);
	EQ(LST("sl").st_ino, LST("sl2").st_ino);
	/* ... unless AT_SYMLINK_FOLLOW. */
	OK(linkat(AT_FDCWD, "sl", AT_FDCWD, "fl", AT_SYMLINK_FOLLOW));
	TRUE(S_ISREG(LST("fl").st_mode));
	EQ(LST("h").st_ino, LST("fl").st_ino);
	EQ(4, LST("h").st_nlink);
	/* Special files can be linked. */
	OK(mkfifo("p", 0644));
	OK(link("p", "p2"));
	EQ(2, LST("p").st_nlink);
	TRUE(S_ISFIFO(LST("p2").st_mode));
}

/* ====================================================================
 * symlink, readlink
 */
static void t_symlink(void)
{
	struct stat d0, d1, s;
	char buf[PATH_MAX + 1];
	char *t;

	MKFILE("f", 0644, "target");
	OK(mkdir("d", 0755));
	d0 = LST(".");
	tick();
	OK(symlink("f", "l"));
	d1 = LST(".");
	NEWER(d0, d1, st_mtim);
	NEWER(d0, d1, st_ctim);
	s = LST("l");
	TRUE(S_ISLNK(s.st_mode));
	EQO(0777, s.st_mode & 07777);
	EQ(1, s.st_nlink);
	EQ(1, s.st_size);
	EQ(geteuid(), s.st_uid);
	EQ(getegid(), s.st_gid);
	EQ(1, readlink("l", buf, sizeof(buf)));
	EQ('f', buf[0]);
	TRUE(S_ISREG(({ struct stat x; stat("l", &x); x.st_mode; })));
	/* readlink truncates to the buffer without a NUL. */
	OK(symlink("a/long/target", "l2"));
	memset(buf, 'Z', 8);
	EQ(4, readlink("l2", buf, 4));
	EQ(0, memcmp(buf, "a/lo", 4));
	EQ('Z', buf[4]);
	EQ(13, LST("l2").st_size);
	ERR(EINVAL, readlink("f", buf, sizeof(buf)));
	ERR(EINVAL, readlink("d", buf, sizeof(buf)));
	ERR(ENOENT, readlink("missing", buf, sizeof(buf)));
	/* errors */
	ERR(EEXIST, symlink("x", "f"));
	ERR(EEXIST, symlink("x", "d"));
	ERR(EEXIST, symlink("x", "l"));
	ERR(ENOENT, symlink("", "empty"));
	ERR(ENOENT, symlink("x", "missing/l"));
	ERR(ENOTDIR, symlink("x", "f/l"));
	ERR(ENAMETOOLONG, symlink("x", name_of('s', 256)));
	OK(symlink("x", name_of('s', 255)));
	/* Targets: up to 4095 bytes, 4096 is ENAMETOOLONG. */
	t = malloc(4097);
	memset(t, 'a', 4096);
	for (int i = 100; i < 4095; i += 100)
		t[i] = '/';
	t[4095] = 0;
	OK(symlink(t, "long"));
	EQ(4095, LST("long").st_size);
	EQ(4095, readlink("long", buf, sizeof(buf)));
	EQ(0, memcmp(buf, t, 4095));
	t[4095] = 'a';
	t[4096] = 0;
	ERR(ENAMETOOLONG, symlink(t, "toolong"));
	free(t);
	/* Odd targets are kept byte for byte. */
	t = "../with space/\xe2\x9c\x93//x/./\t\n";
	OK(symlink(t, "odd"));
	EQ(strlen(t), readlink("odd", buf, sizeof(buf)));
	EQ(0, memcmp(buf, t, strlen(t)));
	/* A symlink to a directory: stat follows, lstat does not. */
	OK(symlink("d", "ld"));
	TRUE(S_ISDIR(({ struct stat x; stat("ld", &x); x.st_mode; })));
	TRUE(S_ISLNK(LST("ld").st_mode));
	MKFILE("ld/through", 0644, NULL);
	TRUE(S_ISREG(LST("d/through").st_mode));
	/* Relative targets resolve from the link's directory. */
	OK(symlink("../f", "d/up"));
	EQ(6, readfile("d/up", buf, sizeof(buf)));
}

static void t_eloop(void)
{
	char a[16], b[16];
	struct stat s;

	OK(symlink("b", "a"));
	OK(symlink("a", "b"));
	ERR(ELOOP, open("a", O_RDONLY));
	ERR(ELOOP, stat("a", &s));
	ERR(ELOOP, open("a", O_CREAT | O_WRONLY, 0644));
	ERR(ELOOP, chmod("a", 0644));
	ERR(ELOOP, mkdir("a/x", 0755));
	ERR(ELOOP, truncate("a", 0));
	OK(lstat("a", &s));
	OK(symlink("self", "self"));
	ERR(ELOOP, stat("self", &s));
	ERR(ELOOP, access("self/x", F_OK));
	/* Linux follows at most 40 links in a path. */
	MKFILE("end", 0644, "x");
	OK(symlink("end", "c0"));
	for (int i = 1; i <= 40; i++) {
		snprintf(a, sizeof(a), "c%d", i);
		snprintf(b, sizeof(b), "c%d", i - 1);
		if (symlink(b, a))
			fail(__LINE__, "symlink %s", a);
	}
	OK(stat("c39", &s)); /* 40 links to follow */
	ERR(ELOOP, stat("c40", &s));
}

/* ====================================================================
 * rename
 */

/* d_ino of name in directory dir, or 0. */
static ino_t dirent_ino(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	ino_t ino = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (!strcmp(e->d_name, name))
			ino = e->d_ino;
	closedir(d);
	return ino;
}

static void t_rename_file(void)
{
	struct stat s0, s1, d0, d1, a0, a1, r0;
	char buf[32];
	int fd;

	MKFILE("f", 0644, "one");
	OK(mkdir("a", 0755));
	s0 = LST("f");
	d0 = LST(".");
	a0 = LST("a");
	tick();
	OK(rename("f", "a/g"));
	s1 = LST("a/g");
	d1 = LST(".");
	a1 = LST("a");
	EQ(s0.st_ino, s1.st_ino);
	ERR(ENOENT, lstat("f", &s0));
	NEWER(s0, s1, st_ctim);
	SAME(s0, s1, st_mtim);
	NEWER(d0, d1, st_mtim);
	NEWER(d0, d1, st_ctim);
	NEWER(a0, a1, st_mtim);
	NEWER(a0, a1, st_ctim);
	EQ(d0.st_nlink, d1.st_nlink);
	EQ(a0.st_nlink, a1.st_nlink);
	EQ(1, s1.st_nlink);
	/* Within one directory. */
	OK(rename("a/g", "a/h"));
	EQ(s0.st_ino, LST("a/h").st_ino);
	EQ(s0.st_ino, dirent_ino("a", "h"));
	EQ(0, dirent_ino("a", "g"));
	/* Over an existing file: the old one loses its name, open fds keep it. */
	MKFILE("victim", 0644, "victim");
	r0 = LST("victim");
	OK(link("victim", "victim2"));
	fd = OK(open("victim", O_RDONLY));
	tick();
	OK(rename("a/h", "victim"));
	EQ(s0.st_ino, LST("victim").st_ino);
	EQ(1, LST("victim2").st_nlink);
	NEWER(r0, LST("victim2"), st_ctim);
	EQ(6, read(fd, buf, sizeof(buf)));
	close(fd);
	EQ(3, readfile("victim", buf, sizeof(buf)));
	STREQ("one", buf);
	/* The last name of a file replaced while open: fstat says nlink 0. */
	MKFILE("last", 0644, "last");
	fd = OK(open("last", O_RDONLY));
	OK(rename("victim2", "last"));
	EQ(0, FST(fd).st_nlink);
	close(fd);
	/* Onto itself, or onto another name of the same inode: nothing happens. */
	OK(rename("victim", "victim"));
	OK(link("victim", "alias"));
	OK(rename("victim", "alias"));
	EQ(2, LST("victim").st_nlink);
	EQ(LST("victim").st_ino, LST("alias").st_ino);
	/* Names and errors. */
	ERR(ENOENT, rename("missing", "x"));
	ERR(ENOENT, rename("victim", "missing/x"));
	ERR(ENOTDIR, rename("victim", "alias/x"));
	ERR(ENOTDIR, rename("victim/", "x"));
	ERR2(ENOTDIR, EISDIR, rename("victim", "y/"));
	ERR(EISDIR, rename("victim", "a"));
	ERR(ENAMETOOLONG, rename("victim", name_of('r', 256)));
	OK(rename("victim", name_of('r', 255)));
	OK(rename(name_of('r', 255), "victim"));
	ERR(ENOENT, rename("", "x"));
	ERR(ENOENT, rename("victim", ""));
	/* A symlink moves itself, not its target. */
	OK(symlink("victim", "sl"));
	OK(rename("sl", "a/sl"));
	TRUE(S_ISLNK(LST("a/sl").st_mode));
	TRUE(S_ISREG(LST("victim").st_mode));
	/* FIFOs rename like files. */
	OK(mkfifo("p", 0600));
	OK(rename("p", "a/p"));
	TRUE(S_ISFIFO(LST("a/p").st_mode));
}

static void t_rename_dir(void)
{
	struct stat s0, s1, a0, b0, a1, b1, x;
	int fd;

	OK(mkdir("a", 0755));
	OK(mkdir("b", 0755));
	OK(mkdir("a/d", 0755));
	MKFILE("a/d/f", 0644, "in d");
	s0 = LST("a/d");
	a0 = LST("a");
	b0 = LST("b");
	tick();
	OK(rename("a/d", "b/d"));
	s1 = LST("b/d");
	a1 = LST("a");
	b1 = LST("b");
	EQ(s0.st_ino, s1.st_ino);
	EQ(a0.st_nlink - 1, a1.st_nlink);
	EQ(b0.st_nlink + 1, b1.st_nlink);
	NEWER(a0, a1, st_mtim);
	NEWER(b0, b1, st_mtim);
	NEWER(a0, a1, st_ctim);
	NEWER(b0, b1, st_ctim);
	NEWER(s0, s1, st_ctim);
	EQ(2, s1.st_nlink);
	TRUE(S_ISREG(LST("b/d/f").st_mode));
	/* ".." follows the directory. */
	EQ(b1.st_ino, LST("b/d/..").st_ino);
	EQ(b1.st_ino, dirent_ino("b/d", ".."));
	EQ(s1.st_ino, dirent_ino("b/d", "."));
	/* Over an empty directory. */
	OK(mkdir("a/empty", 0755));
	a0 = LST("a");
	b0 = LST("b");
	fd = OK(open("a/empty", O_RDONLY | O_DIRECTORY));
	OK(rename("b/d", "a/empty"));
	EQ(0, FST(fd).st_nlink);
	close(fd);
	EQ(s0.st_ino, LST("a/empty").st_ino);
	EQ(a0.st_nlink, LST("a").st_nlink);
	EQ(b0.st_nlink - 1, LST("b").st_nlink);
	EQ(a0.st_ino, dirent_ino("a/empty", ".."));
	/* In one directory: its link count does not change. */
	a0 = LST("a");
	OK(rename("a/empty", "a/renamed"));
	EQ(a0.st_nlink, LST("a").st_nlink);
	/* Over a non-empty directory, onto a file, into itself. */
	OK(mkdir("full", 0755));
	MKFILE("full/x", 0644, NULL);
	ERR2(ENOTEMPTY, EEXIST, rename("a/renamed", "full"));
	MKFILE("file", 0644, NULL);
	ERR(ENOTDIR, rename("a/renamed", "file"));
	ERR(EINVAL, rename("a", "a/renamed/inside"));
	ERR(EINVAL, rename("a", "a/x"));
	ERR(EINVAL, rename("a", "a/renamed"));
	/* The target an ancestor of the source: ENOTEMPTY. */
	ERR2(ENOTEMPTY, EEXIST, rename("a/renamed", "a"));
	/* "." and "..": EBUSY. */
	ERR(EBUSY, rename("a/.", "z"));
	ERR(EBUSY, rename("a/..", "z"));
	ERR(EBUSY, rename("file", "a/."));
	ERR2(EBUSY, EEXIST, rename("file", "a/.."));
	ERR(EBUSY, rename(".", "z"));
	/* A trailing slash on a directory is fine. */
	OK(rename("a/renamed/", "b/again/"));
	TRUE(S_ISDIR(LST("b/again").st_mode));
	/* A symlink to a directory moves as a link. */
	OK(symlink("b", "lb"));
	OK(rename("lb", "a/lb"));
	TRUE(S_ISLNK(LST("a/lb").st_mode));
	ERR(ENOENT, lstat("lb", &x));
	/* Link counts after all that. */
	EQ(2, LST("a").st_nlink);
	EQ(3, LST("b").st_nlink);
	EQ(2, LST("b/again").st_nlink);
}

static void t_rename_flags(void)
{
	struct stat f0, g0, a0, b0;

	MKFILE("f", 0644, "f");
	MKFILE("g", 0644, "g");
	f0 = LST("f");
	g0 = LST("g");
	ERR(EEXIST, renameat2(AT_FDCWD, "f", AT_FDCWD, "g", RENAME_NOREPLACE));
	OK(renameat2(AT_FDCWD, "f", AT_FDCWD, "h", RENAME_NOREPLACE));
	EQ(f0.st_ino, LST("h").st_ino);
	OK(renameat2(AT_FDCWD, "h", AT_FDCWD, "g", RENAME_EXCHANGE));
	EQ(f0.st_ino, LST("g").st_ino);
	EQ(g0.st_ino, LST("h").st_ino);
	ERR(ENOENT, renameat2(AT_FDCWD, "h", AT_FDCWD, "none", RENAME_EXCHANGE));
	ERR(EINVAL, renameat2(AT_FDCWD, "h", AT_FDCWD, "g",
			      RENAME_EXCHANGE | RENAME_NOREPLACE));
	/* Exchange a file and a directory across directories. */
	OK(mkdir("a", 0755));
	OK(mkdir("b", 0755));
	OK(mkdir("b/d", 0755));
	OK(rename("g", "a/g"));
	a0 = LST("a");
	b0 = LST("b");
	OK(renameat2(AT_FDCWD, "a/g", AT_FDCWD, "b/d", RENAME_EXCHANGE));
	TRUE(S_ISDIR(LST("a/g").st_mode));
	TRUE(S_ISREG(LST("b/d").st_mode));
	EQ(a0.st_nlink + 1, LST("a").st_nlink);
	EQ(b0.st_nlink - 1, LST("b").st_nlink);
	EQ(LST("a").st_ino, dirent_ino("a/g", ".."));
	/* Two directories across parents: counts unchanged. */
	OK(mkdir("b/e", 0755));
	OK(mkdir("b/e/sub", 0755));
	a0 = LST("a");
	b0 = LST("b");
	OK(renameat2(AT_FDCWD, "a/g", AT_FDCWD, "b/e", RENAME_EXCHANGE));
	EQ(a0.st_nlink, LST("a").st_nlink);
	EQ(b0.st_nlink, LST("b").st_nlink);
	TRUE(S_ISDIR(LST("a/g/sub").st_mode));
	EQ(LST("a").st_ino, dirent_ino("a/g", ".."));
	EQ(LST("b").st_ino, dirent_ino("b/e", ".."));
	/* Exchanging a directory into its own subtree. */
	ERR(EINVAL, renameat2(AT_FDCWD, "a", AT_FDCWD, "a/g/sub", RENAME_EXCHANGE));
}

static void t_exdev(void)
{
	char p[PATH_MAX + 32];
	int fd;

	if (!other_fs[0]) {
		skip("no writable directory on another filesystem");
		return;
	}
	MKFILE("f", 0644, "x");
	OK(mkdir("d", 0755));
	snprintf(p, sizeof(p), "%s/posix_suite_exdev.%d", other_fs, getpid());
	ERR(EXDEV, rename("f", p));
	ERR(EXDEV, rename("d", p));
	ERR(EXDEV, link("f", p));
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	if (fd >= 0) {
		close(fd);
		ERR(EXDEV, rename(p, "g"));
		ERR(EXDEV, rename(p, "f"));
		ERR(EXDEV, link(p, "g"));
		unlink(p);
	}
	TRUE(S_ISREG(LST("f").st_mode));
	TRUE(S_ISDIR(LST("d").st_mode));
}

/* ====================================================================
 * chmod, chown
 */
static void t_chmod(void)
{
	struct stat s0, s1;
	int fd;

	MKFILE("f", 0644, "x");
	s0 = LST("f");
	tick();
	OK(chmod("f", 0600));
	s1 = LST("f");
	EQO(0600, s1.st_mode & 07777);
	TRUE(S_ISREG(s1.st_mode));
	NEWER(s0, s1, st_ctim);
	SAME(s0, s1, st_mtim);
	OK(chmod("f", 0));
	EQO(0, LST("f").st_mode & 07777);
	OK(chmod("f", 01777));
	EQO(01777, LST("f").st_mode & 07777);
	OK(chmod("f", 04755));
	EQO(04755, LST("f").st_mode & 07777);
	/* Bits beyond 07777 are ignored, the type stays. */
	OK(chmod("f", S_IFDIR | 0644));
	TRUE(S_ISREG(LST("f").st_mode));
	EQO(0644, LST("f").st_mode & 07777);
	/* Same mode again: ctime still moves. */
	s0 = LST("f");
	tick();
	OK(chmod("f", 0644));
	NEWER(s0, LST("f"), st_ctim);
	/* fchmod and fchmodat. */
	fd = OK(open("f", O_RDONLY));
	OK(fchmod(fd, 0640));
	EQO(0640, FST(fd).st_mode & 07777);
	close(fd);
	OK(fchmodat(AT_FDCWD, "f", 0444, 0));
	EQO(0444, LST("f").st_mode & 07777);
	/* Through a symlink, the target changes. */
	OK(symlink("f", "l"));
	OK(chmod("l", 0604));
	EQO(0604, LST("f").st_mode & 07777);
	EQO(0777, LST("l").st_mode & 07777);
	/* Directories. */
	OK(mkdir("d", 0755));
	OK(chmod("d", 03775));
	EQO(03775, LST("d").st_mode & 07777);
	TRUE(S_ISDIR(LST("d").st_mode));
	/* Special files. */
	OK(mkfifo("p", 0644));
	OK(chmod("p", 0600));
	EQO(0600, LST("p").st_mode & 07777);
	TRUE(S_ISFIFO(LST("p").st_mode));
	ERR(ENOENT, chmod("missing", 0644));
	ERR(ENOTDIR, chmod("f/x", 0644));
	/* Owner can chmod a file it cannot read. */
	OK(chmod("f", 0));
	OK(chmod("f", 0644));
	EQO(0644, LST("f").st_mode & 07777);
}

/* chown by root: any owner; set-user-ID and set-group-ID (when group
 * executable) are cleared on non-directories, even for root. */
static void t_chown_root(void)
{
	struct stat s0, s1;

	MKFILE("f", 0644, NULL);
	s0 = LST("f");
	tick();
	OK(chown("f", 1234, 5678));
	s1 = LST("f");
	EQ(1234, s1.st_uid);
	EQ(5678, s1.st_gid);
	NEWER(s0, s1, st_ctim);
	SAME(s0, s1, st_mtim);
	OK(chown("f", -1, 42));
	EQ(1234, LST("f").st_uid);
	EQ(42, LST("f").st_gid);
	OK(chown("f", 43, -1));
	EQ(43, LST("f").st_uid);
	EQ(42, LST("f").st_gid);
	OK(chown("f", 0, 0));
	OK(chmod("f", 06755));
	OK(chown("f", 1, 1));
	EQO(0755, LST("f").st_mode & 07777);
	OK(chmod("f", 06745));
	OK(chown("f", 2, 2));
	EQO(02745, LST("f").st_mode & 07777); /* set-group-ID without g+x stays */
	OK(chmod("f", 04711));
	OK(chown("f", 2, 2)); /* same owner */
	EQO(0711, LST("f").st_mode & 07777);
	OK(chmod("f", 06755));
	OK(chown("f", -1, -1)); /* no change of owner at all */
	EQO(0755, LST("f").st_mode & 07777);
	/* Directories keep their bits. */
	OK(mkdir("d", 0755));
	OK(chmod("d", 07755));
	OK(chown("d", 5, 5));
	EQO(07755, LST("d").st_mode & 07777);
	/* lchown changes the link; chown goes through it. */
	OK(symlink("f", "l"));
	OK(lchown("l", 77, 78));
	EQ(77, LST("l").st_uid);
	EQ(78, LST("l").st_gid);
	EQ(2, LST("f").st_uid);
	OK(chown("l", 9, 9));
	EQ(9, LST("f").st_uid);
	EQ(77, LST("l").st_uid);
	/* Large ids. */
	OK(chown("f", 4000000000u, 4000000001u));
	EQ(4000000000u, LST("f").st_uid);
	EQ(4000000001u, LST("f").st_gid);
	/* fchown */
	{
		int fd = OK(open("f", O_RDONLY));

		OK(fchown(fd, 11, 12));
		EQ(11, FST(fd).st_uid);
		close(fd);
	}
	ERR(ENOENT, chown("missing", 1, 1));
	/* Mode bits a root chmod sets on a file of another group stay. */
	OK(chown("f", 1, 1));
	OK(chmod("f", 02755));
	EQO(02755, LST("f").st_mode & 07777);
}

/* The unprivileged caller's own files. */
static void t_chown_self(void)
{
	MKFILE("f", 0644, NULL);
	OK(chown("f", geteuid(), getegid()));
	OK(chown("f", -1, -1));
	EQ(geteuid(), LST("f").st_uid);
	if (is_root)
		return;
	ERR(EPERM, chown("f", geteuid() + 1, -1));
	ERR(EPERM, chown("f", -1, GN));
	OK(chown("f", -1, GM));
	EQ(GM, LST("f").st_gid);
}

/* ====================================================================
 * truncate, ftruncate, write and data
 */
static void t_truncate(void)
{
	struct stat s0, s1;
	char buf[256 * 1024];
	int fd;

	MKFILE("f", 0644, "0123456789");
	s0 = LST("f");
	tick();
	OK(truncate("f", 4));
	s1 = LST("f");
	EQ(4, s1.st_size);
	NEWER(s0, s1, st_mtim);
	NEWER(s0, s1, st_ctim);
	EQ(4, readfile("f", buf, sizeof(buf)));
	STREQ("0123", buf);
	/* Extending adds zeros, not the old bytes. */
	OK(truncate("f", 10));
	EQ(10, readfile("f", buf, sizeof(buf)));
	EQ(0, memcmp(buf, "0123\0\0\0\0\0\0", 10));
	/* Same size: times still move (Linux). */
	s0 = LST("f");
	tick();
	OK(truncate("f", 10));
	s1 = LST("f");
	NEWER(s0, s1, st_mtim);
	NEWER(s0, s1, st_ctim);
	/* Across chunk sizes: 200 KiB of data cut in the middle of a block,
	 * then extended again: the cut part reads as zeros. */
	fd = OK(open("big", O_CREAT | O_RDWR, 0644));
	memset(buf, 'A', sizeof(buf));
	EQ(sizeof(buf), write(fd, buf, sizeof(buf)));
	OK(ftruncate(fd, 70000));
	EQ(70000, FST(fd).st_size);
	OK(ftruncate(fd, 200000));
	memset(buf, 'x', sizeof(buf));
	EQ(200000, pread(fd, buf, sizeof(buf), 0));
	{
		long bad = -1;

		for (long i = 0; i < 200000 && bad < 0; i++)
			if (buf[i] != (i < 70000 ? 'A' : 0))
				bad = i;
		EQ(-1, bad);
	}
	/* Shrink to 0, then write past the end: a hole of zeros. */
	OK(ftruncate(fd, 0));
	EQ(0, FST(fd).st_size);
	EQ(3, pwrite(fd, "end", 3, 100000));
	EQ(100003, FST(fd).st_size);
	memset(buf, 'x', 100003);
	EQ(100003, pread(fd, buf, sizeof(buf), 0));
	{
		long bad = -1;

		for (long i = 0; i < 100000 && bad < 0; i++)
			if (buf[i])
				bad = i;
		EQ(-1, bad);
	}
	EQ(0, memcmp(buf + 100000, "end", 3));
	close(fd);
	/* errors */
	ERR(EINVAL, truncate("f", -1));
	OK(mkdir("d", 0755));
	ERR(EISDIR, truncate("d", 0));
	ERR(ENOENT, truncate("missing", 0));
	ERR(ENOTDIR, truncate("f/x", 0));
	OK(mkfifo("p", 0644));
	ERR(EINVAL, truncate("p", 0));
	fd = OK(open("f", O_RDONLY));
	ERR2(EINVAL, EBADF, ftruncate(fd, 0));
	close(fd);
	fd = OK(open("d", O_RDONLY));
	ERR2(EINVAL, EISDIR, ftruncate(fd, 0));
	close(fd);
	/* Through a symlink. */
	OK(symlink("f", "l"));
	OK(truncate("l", 2));
	EQ(2, LST("f").st_size);
	TRUE(S_ISLNK(LST("l").st_mode));
	/* A very large sparse size. */
	OK(truncate("f", 1LL << 40));
	EQ(1LL << 40, LST("f").st_size);
	OK(truncate("f", 0));
}

static void t_write_data(void)
{
	static char buf[300000], back[300000];
	struct stat s0, s1;
	int fd;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + i / 251);
	fd = OK(open("f", O_CREAT | O_RDWR, 0644));
	s0 = FST(fd);
	tick();
	EQ(sizeof(buf), write(fd, buf, sizeof(buf)));
	s1 = FST(fd);
	EQ(sizeof(buf), s1.st_size);
	NEWER(s0, s1, st_mtim);
	NEWER(s0, s1, st_ctim);
	/* Overwrite a stretch across chunk boundaries. */
	memset(buf + 60000, 'Z', 10000);
	EQ(10000, pwrite(fd, buf + 60000, 10000, 60000));
	/* Unaligned small writes. */
	EQ(3, pwrite(fd, "abc", 3, 131071));
	memcpy(buf + 131071, "abc", 3);
	EQ(sizeof(back), pread(fd, back, sizeof(back), 0));
	EQ(0, memcmp(buf, back, sizeof(buf)));
	/* Reads at and past EOF. */
	EQ(0, pread(fd, back, 10, sizeof(buf)));
	EQ(0, pread(fd, back, 10, sizeof(buf) + 1000));
	EQ(10, pread(fd, back, 10, sizeof(buf) - 10));
	close(fd);
	/* After close and reopen. */
	fd = OK(open("f", O_RDONLY));
	EQ(sizeof(back), read(fd, back, sizeof(back)));
	EQ(0, memcmp(buf, back, sizeof(buf)));
	/* Reading changes neither mtime nor ctime. */
	s0 = FST(fd);
	tick();
	EQ(100, pread(fd, back, 100, 0));
	s1 = FST(fd);
	SAME(s0, s1, st_mtim);
	SAME(s0, s1, st_ctim);
	close(fd);
	/* A zero-length write changes nothing. */
	fd = OK(open("f", O_WRONLY));
	s0 = FST(fd);
	tick();
	EQ(0, write(fd, buf, 0));
	SAME(s0, FST(fd), st_mtim);
	close(fd);
	/* fsync, fdatasync, and fsync of a directory. */
	fd = OK(open("f", O_RDWR));
	OK(fsync(fd));
	OK(fdatasync(fd));
	close(fd);
	fd = OK(open(".", O_RDONLY | O_DIRECTORY));
	OK(fsync(fd));
	close(fd);
}

/* Set-user-ID and set-group-ID on write and truncation by the owner. */
static void t_killpriv_self(void)
{
	int fd;
	mode_t sgx = is_root ? 06755 : 0755; /* root keeps them */

	MKFILE("f", 0644, NULL);
	OK(chmod("f", 06755));
	fd = OK(open("f", O_WRONLY));
	EQ(1, write(fd, "x", 1));
	close(fd);
	EQO(sgx, LST("f").st_mode & 07777);
	OK(chmod("f", 06755));
	OK(truncate("f", 0));
	EQO(sgx, LST("f").st_mode & 07777);
	OK(chmod("f", 02745)); /* set-group-ID without g+x: never cleared */
	fd = OK(open("f", O_WRONLY));
	EQ(1, write(fd, "x", 1));
	close(fd);
	EQO(02745, LST("f").st_mode & 07777);
	OK(chmod("f", 04700));
	fd = OK(open("f", O_WRONLY | O_TRUNC));
	close(fd);
	EQO(is_root ? 04700 : 0700, LST("f").st_mode & 07777);
	/* Directories are not touched by writes into them. */
	OK(mkdir("d", 0755));
	OK(chmod("d", 02755));
	MKFILE("d/x", 0644, "y");
	EQO(02755, LST("d").st_mode & 07777);
}

/* ====================================================================
 * utimensat
 */
static void t_utimens(void)
{
	struct timespec ts[2];
	struct stat s0, s1;
	int fd;

	MKFILE("f", 0644, "x");
	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 123456789;
	ts[1].tv_sec = 1100000000;
	ts[1].tv_nsec = 987654321;
	s0 = LST("f");
	tick();
	OK(utimensat(AT_FDCWD, "f", ts, 0));
	s1 = LST("f");
	EQ(1000000000, s1.st_atim.tv_sec);
	EQ(123456789, s1.st_atim.tv_nsec);
	EQ(1100000000, s1.st_mtim.tv_sec);
	EQ(987654321, s1.st_mtim.tv_nsec);
	NEWER(s0, s1, st_ctim);
	TRUE(near_now(s1.st_ctim));
	/* UTIME_OMIT */
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = 5;
	ts[1].tv_nsec = 0;
	OK(utimensat(AT_FDCWD, "f", ts, 0));
	s1 = LST("f");
	EQ(1000000000, s1.st_atim.tv_sec);
	EQ(5, s1.st_mtim.tv_sec);
	EQ(0, s1.st_mtim.tv_nsec);
	/* UTIME_NOW */
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_OMIT;
	OK(utimensat(AT_FDCWD, "f", ts, 0));
	s1 = LST("f");
	TRUE(near_now(s1.st_atim));
	EQ(5, s1.st_mtim.tv_sec);
	/* NULL: both now. */
	OK(utimensat(AT_FDCWD, "f", NULL, 0));
	s1 = LST("f");
	TRUE(near_now(s1.st_mtim));
	TRUE(near_now(s1.st_atim));
	/* Both UTIME_OMIT: nothing changes, ctime included. */
	s0 = LST("f");
	tick();
	ts[0].tv_nsec = ts[1].tv_nsec = UTIME_OMIT;
	OK(utimensat(AT_FDCWD, "f", ts, 0));
	s1 = LST("f");
	SAME(s0, s1, st_mtim);
	SAME(s0, s1, st_atim);
	SAME(s0, s1, st_ctim);
	/* Before 1970 and after 2038. */
	ts[0].tv_sec = -1000000;
	ts[0].tv_nsec = 5;
	ts[1].tv_sec = 4102444800LL; /* 2100 */
	ts[1].tv_nsec = 999999999;
	OK(utimensat(AT_FDCWD, "f", ts, 0));
	s1 = LST("f");
	EQ(-1000000, s1.st_atim.tv_sec);
	EQ(5, s1.st_atim.tv_nsec);
	EQ(4102444800LL, s1.st_mtim.tv_sec);
	EQ(999999999, s1.st_mtim.tv_nsec);
	/* Bad nanoseconds. */
	ts[0].tv_nsec = 1000000000;
	ERR(EINVAL, utimensat(AT_FDCWD, "f", ts, 0));
	ts[0].tv_nsec = -5;
	ERR(EINVAL, utimensat(AT_FDCWD, "f", ts, 0));
	/* A symlink itself, with AT_SYMLINK_NOFOLLOW. */
	OK(symlink("f", "l"));
	ts[0].tv_sec = 200;
	ts[0].tv_nsec = 1;
	ts[1].tv_sec = 300;
	ts[1].tv_nsec = 2;
	OK(utimensat(AT_FDCWD, "l", ts, AT_SYMLINK_NOFOLLOW));
	EQ(300, LST("l").st_mtim.tv_sec);
	EQ(2, LST("l").st_mtim.tv_nsec);
	EQ(4102444800LL, LST("f").st_mtim.tv_sec);
	OK(utimensat(AT_FDCWD, "l", ts, 0));
	EQ(300, LST("f").st_mtim.tv_sec);
	/* Directories, FIFOs, through an fd (futimens). */
	OK(mkdir("d", 0755));
	OK(utimensat(AT_FDCWD, "d", ts, 0));
	EQ(300, LST("d").st_mtim.tv_sec);
	OK(mkfifo("p", 0644));
	OK(utimensat(AT_FDCWD, "p", ts, 0));
	EQ(200, LST("p").st_atim.tv_sec);
	fd = OK(open("f", O_RDONLY));
	ts[1].tv_sec = 400;
	OK(futimens(fd, ts));
	EQ(400, FST(fd).st_mtim.tv_sec);
	close(fd);
	ERR(ENOENT, utimensat(AT_FDCWD, "missing", NULL, 0));
	/* A write after explicit times sets mtime to now again. */
	MKFILE("f", 0644, "y");
	TRUE(near_now(LST("f").st_mtim));
}

/* ====================================================================
 * mknod
 */
static void t_mknod(void)
{
	struct stat d0, s;
	int fd;

	d0 = LST(".");
	tick();
	OK(mknod("fifo", S_IFIFO | 0640, 0));
	s = LST("fifo");
	TRUE(S_ISFIFO(s.st_mode));
	EQO(0640, s.st_mode & 07777);
	EQ(1, s.st_nlink);
	EQ(0, s.st_size);
	EQ(geteuid(), s.st_uid);
	NEWER(d0, LST("."), st_mtim);
	NEWER(d0, LST("."), st_ctim);
	OK(mkfifo("fifo2", 0600));
	TRUE(S_ISFIFO(LST("fifo2").st_mode));
	OK(mknod("sock", S_IFSOCK | 0600, 0));
	TRUE(S_ISSOCK(LST("sock").st_mode));
	OK(mknod("reg", S_IFREG | 0600, 0));
	TRUE(S_ISREG(LST("reg").st_mode));
	EQ(0, LST("reg").st_size);
	OK(mknod("reg0", 0600, 0)); /* type 0 is a regular file */
	TRUE(S_ISREG(LST("reg0").st_mode));
	umask(077);
	OK(mknod("masked", S_IFIFO | 0666, 0));
	EQO(0600, LST("masked").st_mode & 07777);
	umask(022);
	ERR(EEXIST, mknod("fifo", S_IFIFO | 0644, 0));
	ERR(ENOENT, mknod("missing/x", S_IFIFO | 0644, 0));
	ERR(ENOTDIR, mknod("reg/x", S_IFIFO | 0644, 0));
	ERR(ENAMETOOLONG, mknod(name_of('k', 256), S_IFIFO | 0644, 0));
	ERR2(EPERM, EINVAL, mknod("dir", S_IFDIR | 0755, 0));
	ERR(EINVAL, mknod("bad", 0170000 | 0644, 0));
	/* A FIFO works as a FIFO. */
	fd = OK(open("fifo", O_RDWR));
	EQ(2, write(fd, "hi", 2));
	{
		char b[2];

		EQ(2, read(fd, b, 2));
	}
	close(fd);
	/* A socket can be bound onto a new name. */
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int sfd = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "bound");
		OK(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)));
		TRUE(S_ISSOCK(LST("bound").st_mode));
		close(sfd);
	}
	if (!is_root) {
		ERR(EPERM, mknod("chr", S_IFCHR | 0644, makedev(1, 3)));
		ERR(EPERM, mknod("blk", S_IFBLK | 0644, makedev(7, 0)));
		return;
	}
	OK(mknod("chr", S_IFCHR | 0644, makedev(1, 3)));
	s = LST("chr");
	TRUE(S_ISCHR(s.st_mode));
	EQ(1, major(s.st_rdev));
	EQ(3, minor(s.st_rdev));
	OK(mknod("blk", S_IFBLK | 0600, makedev(259, 123456)));
	s = LST("blk");
	TRUE(S_ISBLK(s.st_mode));
	EQ(259, major(s.st_rdev));
	EQ(123456, minor(s.st_rdev));
	EQ(0, LST("fifo").st_rdev);
	/* A device node on a mount: opening it (nodev aside) reaches the device. */
	fd = open("chr", O_WRONLY);
	if (fd >= 0) {
		EQ(5, write(fd, "hello", 5)); /* /dev/null */
		close(fd);
	} else {
		TRUE(errno == EACCES || errno == EPERM); /* a nodev mount */
	}
	OK(chown("chr", 5, 6));
	EQ(1, major(LST("chr").st_rdev));
	OK(rename("blk", "blk2"));
	EQ(123456, minor(LST("blk2").st_rdev));
}

/* ====================================================================
 * extended attributes
 */
static void t_xattr(void)
{
	char buf[70000], big[65536];
	struct stat s0, s1;
	ssize_t n;
	int fd;

	MKFILE("f", 0644, NULL);
	ERR(ENODATA, getxattr("f", "user.none", buf, sizeof(buf)));
	ERR(ENODATA, removexattr("f", "user.none"));
	EQ(0, listxattr("f", buf, sizeof(buf)) - (long)(in_listxattr("f", "security.selinux") ? 17 : 0));
	s0 = LST("f");
	tick();
	OK(setxattr("f", "user.a", "1", 1, 0));
	s1 = LST("f");
	NEWER(s0, s1, st_ctim);
	SAME(s0, s1, st_mtim);
	EQ(1, getxattr("f", "user.a", buf, sizeof(buf)));
	EQ('1', buf[0]);
	EQ(1, getxattr("f", "user.a", NULL, 0));
	/* flags */
	ERR(EEXIST, setxattr("f", "user.a", "2", 1, XATTR_CREATE));
	ERR(ENODATA, setxattr("f", "user.b", "2", 1, XATTR_REPLACE));
	OK(setxattr("f", "user.a", "three", 5, XATTR_REPLACE));
	OK(setxattr("f", "user.b", "", 0, XATTR_CREATE));
	EQ(5, getxattr("f", "user.a", buf, sizeof(buf)));
	EQ(0, memcmp(buf, "three", 5));
	EQ(0, getxattr("f", "user.b", buf, sizeof(buf)));
	ERR(EINVAL, setxattr("f", "user.c", "x", 1, XATTR_CREATE | XATTR_REPLACE | 4));
	/* A failed set changes nothing. */
	s0 = LST("f");
	tick();
	ERR(EEXIST, setxattr("f", "user.a", "2", 1, XATTR_CREATE));
	SAME(s0, LST("f"), st_ctim);
	/* ERANGE when the buffer is too small. */
	ERR(ERANGE, getxattr("f", "user.a", buf, 2));
	n = listxattr("f", NULL, 0);
	TRUE(n >= 14);
	ERR(ERANGE, listxattr("f", buf, 3));
	TRUE(in_listxattr("f", "user.a"));
	TRUE(in_listxattr("f", "user.b"));
	/* Binary values with NULs. */
	OK(setxattr("f", "user.bin", "\0\1\2\0\377", 5, 0));
	EQ(5, getxattr("f", "user.bin", buf, sizeof(buf)));
	EQ(0, memcmp(buf, "\0\1\2\0\377", 5));
	/* Names: 255 bytes in all are fine, 256 are ERANGE. */
	{
		char nm[300] = "user.";

		memset(nm + 5, 'x', 250);
		nm[255] = 0;
		OK(setxattr("f", nm, "v", 1, 0));
		EQ(1, getxattr("f", nm, buf, sizeof(buf)));
		TRUE(in_listxattr("f", nm));
		nm[255] = 'x';
		nm[256] = 0;
		ERR(ERANGE, setxattr("f", nm, "v", 1, 0));
		ERR(ERANGE, getxattr("f", nm, buf, sizeof(buf)));
	}
	ERR2(EINVAL, ERANGE, setxattr("f", "", "v", 1, 0));
	/* Values: larger than 64 KiB is E2BIG; up to the filesystem's own
	 * limit works (ext4 without ea_inode keeps about a block). */
	memset(big, 'v', sizeof(big));
	ERR(E2BIG, setxattr("f", "user.huge", buf, 65537, 0));
	OK(setxattr("f", "user.k", big, 2000, 0));
	EQ(2000, getxattr("f", "user.k", buf, sizeof(buf)));
	EQ(0, memcmp(buf, big, 2000));
	/* Unknown namespaces are not supported. */
	ERR(EOPNOTSUPP, setxattr("f", "nonamespace", "v", 1, 0));
	ERR(EOPNOTSUPP, setxattr("f", "bogus.name", "v", 1, 0));
	ERR2(EOPNOTSUPP, ENODATA, getxattr("f", "bogus.name", buf, sizeof(buf)));
	ERR(EOPNOTSUPP, setxattr("f", "system.other", "v", 1, 0));
	ERR(EINVAL, setxattr("f", "user.", "v", 1, 0));
	TRUE(!in_listxattr("f", "bogus.name"));
	/* remove */
	s0 = LST("f");
	tick();
	OK(removexattr("f", "user.a"));
	NEWER(s0, LST("f"), st_ctim);
	ERR(ENODATA, getxattr("f", "user.a", buf, sizeof(buf)));
	TRUE(!in_listxattr("f", "user.a"));
	ERR(ENODATA, removexattr("f", "user.a"));
	/* fd and l- variants, directories, symlinks, FIFOs. */
	fd = OK(open("f", O_RDONLY));
	OK(fsetxattr(fd, "user.fd", "z", 1, 0));
	EQ(1, fgetxattr(fd, "user.fd", buf, sizeof(buf)));
	OK(fremovexattr(fd, "user.fd"));
	TRUE(flistxattr(fd, buf, sizeof(buf)) > 0);
	close(fd);
	OK(mkdir("d", 0755));
	OK(setxattr("d", "user.dir", "yes", 3, 0));
	EQ(3, getxattr("d", "user.dir", buf, sizeof(buf)));
	OK(symlink("f", "l"));
	ERR(EPERM, lsetxattr("l", "user.x", "v", 1, 0));
	OK(setxattr("l", "user.through", "v", 1, 0)); /* follows to f */
	EQ(1, getxattr("f", "user.through", buf, sizeof(buf)));
	ERR(ENODATA, lgetxattr("l", "user.through", buf, sizeof(buf)));
	OK(mkfifo("p", 0644));
	ERR(EPERM, setxattr("p", "user.x", "v", 1, 0));
	ERR(ENODATA, getxattr("p", "user.x", buf, sizeof(buf)));
	ERR(ENOENT, setxattr("missing", "user.x", "v", 1, 0));
	/* Attributes follow the inode through rename and link, and go with it. */
	OK(rename("f", "g"));
	EQ(0, getxattr("g", "user.b", buf, sizeof(buf)));
	OK(link("g", "h"));
	OK(setxattr("h", "user.shared", "s", 1, 0));
	EQ(1, getxattr("g", "user.shared", buf, sizeof(buf)));
	OK(unlink("g"));
	OK(unlink("h"));
	MKFILE("g", 0644, NULL);
	ERR(ENODATA, getxattr("g", "user.shared", buf, sizeof(buf)));
	ERR(ENODATA, getxattr("g", "user.b", buf, sizeof(buf)));
	if (is_root) {
		/* trusted.* for root: stored and listed. */
		OK(setxattr("g", "trusted.t", "tv", 2, 0));
		EQ(2, getxattr("g", "trusted.t", buf, sizeof(buf)));
		TRUE(in_listxattr("g", "trusted.t"));
		OK(removexattr("g", "trusted.t"));
	} else {
		ERR(EPERM, setxattr("g", "trusted.t", "tv", 2, 0));
		ERR(EPERM, setxattr("g", "security.s", "sv", 2, 0));
	}
}

/* Many long names: a set may fail (ENOSPC, as ext4 when the inode's
 * xattr space is full) but the names that are there can always be
 * listed (a list over 64 KiB is E2BIG for every caller). */
static void t_xattr_many(void)
{
	char nm[300], *list = NULL;
	int n = 0, err = 0;
	ssize_t sz;

	MKFILE("f", 0644, NULL);
	for (; n < 400; n++) {
		snprintf(nm, sizeof(nm), "user.%03d%s", n, name_of('x', 240));
		if (setxattr("f", nm, "v", 1, XATTR_CREATE)) {
			err = errno;
			break;
		}
	}
	TRUE(n == 400 || err == ENOSPC || err == E2BIG);
	sz = listxattr("f", NULL, 0);
	TRUE(sz >= 0 && sz <= 65536);
	if (sz > 0 && (list = malloc((size_t)sz))) {
		EQ(sz, listxattr("f", list, (size_t)sz));
		free(list);
	}
	if (n > 0) {
		/* Replacing an existing name still works when the list is full. */
		snprintf(nm, sizeof(nm), "user.%03d%s", 0, name_of('x', 240));
		OK(setxattr("f", nm, "w", 1, XATTR_REPLACE));
		OK(removexattr("f", nm));
		OK(setxattr("f", nm, "v", 1, XATTR_CREATE));
	}
	/* A value as large as the filesystem takes reads back whole. */
	{
		static char big[65536], back[65536];

		memset(big, 'B', sizeof(big));
		MKFILE("g", 0644, NULL);
		if (setxattr("g", "user.bigvalue", big, sizeof(big), 0) == 0) {
			EQ(65536, getxattr("g", "user.bigvalue", back, sizeof(back)));
			EQ(0, memcmp(big, back, sizeof(big)));
		} else {
			TRUE(errno == ENOSPC || errno == E2BIG);
		}
	}
}

/* ====================================================================
 * readdir
 */

/* 0 if opendir(p) works, else -1 with errno. */
static long opendir_rc(const char *p)
{
	DIR *d = opendir(p);

	if (!d)
		return -1;
	closedir(d);
	return 0;
}
static void t_readdir(void)
{
	enum { N = 600 };
	static unsigned char seen[N];
	struct dirent *e;
	int dots = 0, dotdots = 0, other = 0, dup = 0, badtype = 0;
	char nm[64];
	DIR *d;

	OK(mkdir("d", 0755));
	for (int i = 0; i < N; i++) {
		snprintf(nm, sizeof(nm), "d/entry-%04d-%s", i, name_of('p', (size_t)(i % 50)));
		int fd = open(nm, O_CREAT | O_WRONLY, 0644);

		if (fd < 0) {
			fail(__LINE__, "create %s: %s", nm, ename(errno));
			return;
		}
		close(fd);
	}
	OK(mkdir("d/sub", 0755));
	OK(symlink("x", "d/sym"));
	OK(mkfifo("d/fifo", 0644));
	d = opendir("d");
	if (!TRUE(d != NULL))
		return;
	while ((e = readdir(d))) {
		int i;

		if (!strcmp(e->d_name, ".")) {
			dots++;
			EQ(LST("d").st_ino, e->d_ino);
			TRUE(e->d_type == DT_DIR || e->d_type == DT_UNKNOWN);
		} else if (!strcmp(e->d_name, "..")) {
			dotdots++;
			EQ(LST(".").st_ino, e->d_ino);
		} else if (sscanf(e->d_name, "entry-%d-", &i) == 1 && i >= 0 && i < N) {
			if (seen[i]++)
				dup++;
			badtype += e->d_type != DT_REG && e->d_type != DT_UNKNOWN;
		} else if (!strcmp(e->d_name, "sub")) {
			other++;
			TRUE(e->d_type == DT_DIR || e->d_type == DT_UNKNOWN);
			EQ(LST("d/sub").st_ino, e->d_ino);
		} else if (!strcmp(e->d_name, "sym")) {
			other++;
			TRUE(e->d_type == DT_LNK || e->d_type == DT_UNKNOWN);
		} else if (!strcmp(e->d_name, "fifo")) {
			other++;
			TRUE(e->d_type == DT_FIFO || e->d_type == DT_UNKNOWN);
		} else {
			fail(__LINE__, "unexpected entry \"%s\"", e->d_name);
		}
	}
	EQ(1, dots);
	EQ(1, dotdots);
	EQ(3, other);
	EQ(0, dup);
	EQ(0, badtype);
	{
		int missing = 0;

		for (int i = 0; i < N; i++)
			missing += !seen[i];
		EQ(0, missing);
	}
	/* rewinddir sees changes made since. */
	OK(unlink("d/entry-0000-"));
	MKFILE("d/late", 0644, NULL);
	rewinddir(d);
	{
		int late = 0, gone = 0, n = 0;

		while ((e = readdir(d))) {
			n++;
			late += !strcmp(e->d_name, "late");
			gone += !strcmp(e->d_name, "entry-0000-");
		}
		EQ(1, late);
		EQ(0, gone);
		EQ(N + 2 + 3, n);
	}
	/* telldir/seekdir return to the same place. */
	rewinddir(d);
	for (int i = 0; i < 100; i++)
		readdir(d);
	{
		long pos = telldir(d);
		char first[256];

		e = readdir(d);
		if (TRUE(e != NULL)) {
			snprintf(first, sizeof(first), "%s", e->d_name);
			for (int i = 0; i < 50; i++)
				readdir(d);
			seekdir(d, pos);
			e = readdir(d);
			TRUE(e && !strcmp(e->d_name, first));
		}
	}
	closedir(d);
	/* An empty directory lists . and .. only. */
	OK(mkdir("empty", 0755));
	d = opendir("empty");
	if (TRUE(d != NULL)) {
		int n = 0;

		while ((e = readdir(d)))
			n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") ? 100 : 1;
		EQ(2, n);
		closedir(d);
	}
	ERR(ENOTDIR, opendir_rc("d/fifo"));
	ERR(ENOENT, opendir_rc("d/sym"));
	ERR(ENOENT, opendir_rc("missing"));
}

/* readdir with small getdents buffers, seeks to saved offsets, and
 * entries removed and added in the middle of a listing. */
static void t_readdir_changes(void)
{
	enum { N = 400 };
	static int count[N + 100];
	char buf[600], p[64];
	long offs[8] = {0};
	int fd, nread = 0, removed_from = -1, bad = 0;

	OK(mkdir("d", 0755));
	for (int i = 0; i < N; i++) {
		snprintf(p, sizeof(p), "d/e%04d", i);
		int f = open(p, O_CREAT | O_WRONLY, 0644);

		if (f < 0)
			bad++;
		else
			close(f);
	}
	EQ(0, bad);
	fd = OK(open("d", O_RDONLY | O_DIRECTORY));
	/* First pass with a tiny buffer: every entry once; keep some d_offs. */
	for (;;) {
		long n = getdents64(fd, buf, sizeof(buf));

		if (n <= 0) {
			TRUE(n == 0);
			break;
		}
		for (long o = 0; o < n;) {
			struct dirent64 *e = (struct dirent64 *)(buf + o);
			int i;

			if (sscanf(e->d_name, "e%d", &i) == 1 && i >= 0 && i < N) {
				count[i]++;
				if (i % 50 == 0 && i / 50 < 8)
					offs[i / 50] = e->d_off;
			}
			o += e->d_reclen;
		}
	}
	{
		int wrong = 0;

		for (int i = 0; i < N; i++)
			wrong += count[i] != 1;
		EQ(0, wrong);
	}
	/* Seeking back to a d_off resumes right after that entry. */
	for (int k = 1; k < 8; k++) {
		if (!offs[k])
			continue;
		OK(lseek(fd, offs[k], SEEK_SET));
		long n = getdents64(fd, buf, sizeof(buf));

		if (TRUE(n > 0)) {
			struct dirent64 *e = (struct dirent64 *)buf;
			int i = -1;

			sscanf(e->d_name, "e%d", &i);
			TRUE(i >= 0 && i != k * 50 && count[i] == 1);
		}
	}
	/* Second pass: read a part, then remove what was read plus the next
	 * ten names, add new ones, and read on.  Every name that existed
	 * all along and was not read yet comes exactly once. */
	memset(count, 0, sizeof(count));
	OK(lseek(fd, 0, SEEK_SET));
	while (nread < N / 2) {
		long n = getdents64(fd, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (long o = 0; o < n; o += ((struct dirent64 *)(buf + o))->d_reclen) {
			int i;

			if (sscanf(((struct dirent64 *)(buf + o))->d_name, "e%d", &i) == 1) {
				count[i]++;
				nread++;
			}
		}
	}
	for (int i = 0; i < N; i++) {
		if (count[i]) {
			snprintf(p, sizeof(p), "d/e%04d", i);
			bad += unlink(p) != 0;
		}
	}
	for (int i = 0, k = 0; i < N && k < 10; i++) {
		if (!count[i]) {
			snprintf(p, sizeof(p), "d/e%04d", i);
			bad += unlink(p) != 0;
			count[i] = -1000; /* removed unread: may or may not come */
			k++;
			if (removed_from < 0)
				removed_from = i;
		}
	}
	for (int i = N; i < N + 100; i++) {
		snprintf(p, sizeof(p), "d/e%04d", i);
		MKFILE(p, 0644, NULL);
	}
	EQ(0, bad);
	for (;;) {
		long n = getdents64(fd, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (long o = 0; o < n; o += ((struct dirent64 *)(buf + o))->d_reclen) {
			int i;

			if (sscanf(((struct dirent64 *)(buf + o))->d_name, "e%d", &i) == 1 &&
			    i >= 0 && i < N + 100)
				count[i] += 1;
		}
	}
	{
		int wrong = 0;

		for (int i = 0; i < N; i++)
			if (count[i] >= 0 && count[i] != 1)
				wrong++;
		EQ(0, wrong);
		/* New names: at most once each. */
		wrong = 0;
		for (int i = N; i < N + 100; i++)
			wrong += count[i] > 1;
		EQ(0, wrong);
	}
	close(fd);
}

/* ====================================================================
 * lseek: SEEK_DATA, SEEK_HOLE
 */
static void t_lseek(void)
{
	char buf[4096];
	off_t h, dpos;
	int fd;

	memset(buf, 'd', sizeof(buf));
	fd = OK(open("f", O_CREAT | O_RDWR, 0644));
	/* Empty file. */
	ERR(ENXIO, lseek(fd, 0, SEEK_DATA));
	ERR(ENXIO, lseek(fd, 0, SEEK_HOLE));
	/* data [0, 4K), hole, data [2M, 2M + 4K), unflushed. */
	EQ(4096, pwrite(fd, buf, 4096, 0));
	EQ(4096, pwrite(fd, buf, 4096, 2 << 20));
	EQ(0, lseek(fd, 0, SEEK_DATA));
	h = lseek(fd, 0, SEEK_HOLE);
	TRUE(h >= 4096 && h < (2 << 20));
	dpos = lseek(fd, h, SEEK_DATA);
	TRUE(dpos > h && dpos <= (2 << 20));
	EQ((2 << 20) + 4096, lseek(fd, 2 << 20, SEEK_HOLE));
	EQ(100, lseek(fd, 100, SEEK_DATA));
	EQ((2 << 20) + 100, lseek(fd, (2 << 20) + 100, SEEK_DATA));
	EQ((2 << 20) + 4095, lseek(fd, (2 << 20) + 4095, SEEK_DATA));
	ERR(ENXIO, lseek(fd, (2 << 20) + 4096, SEEK_DATA));
	ERR(ENXIO, lseek(fd, (2 << 20) + 4096, SEEK_HOLE));
	ERR(ENXIO, lseek(fd, 1LL << 40, SEEK_DATA));
	ERR2(ENXIO, EINVAL, lseek(fd, -1, SEEK_DATA));
	/* A hole at the end. */
	OK(ftruncate(fd, 8 << 20));
	EQ(8 << 20, FST(fd).st_size);
	h = lseek(fd, 2 << 20, SEEK_HOLE);
	TRUE(h >= (2 << 20) + 4096 && h < (8 << 20));
	ERR(ENXIO, lseek(fd, 5 << 20, SEEK_DATA));
	EQ(5 << 20, lseek(fd, 5 << 20, SEEK_HOLE));
	EQ((8 << 20) - 1, lseek(fd, (8 << 20) - 1, SEEK_HOLE));
	close(fd);
	/* After reopening. */
	fd = OK(open("f", O_RDONLY));
	EQ(0, lseek(fd, 0, SEEK_DATA));
	TRUE(lseek(fd, 0, SEEK_HOLE) < (2 << 20));
	ERR(ENXIO, lseek(fd, 4 << 20, SEEK_DATA));
	close(fd);
	/* All hole. */
	fd = OK(open("sparse", O_CREAT | O_RDWR, 0644));
	OK(ftruncate(fd, 1 << 20));
	ERR(ENXIO, lseek(fd, 0, SEEK_DATA));
	EQ(0, lseek(fd, 0, SEEK_HOLE));
	EQ(12345, lseek(fd, 12345, SEEK_HOLE));
	/* All data: the only hole is at EOF. */
	OK(ftruncate(fd, 0));
	EQ(0, lseek(fd, 0, SEEK_SET));
	{
		long short_writes = 0;

		for (int i = 0; i < 64; i++)
			short_writes += write(fd, buf, 4096) != 4096;
		EQ(0, short_writes);
	}
	EQ(256 * 1024, lseek(fd, 0, SEEK_HOLE));
	EQ(1000, lseek(fd, 1000, SEEK_DATA));
	/* The plain whences. */
	EQ(10, lseek(fd, 10, SEEK_SET));
	EQ(15, lseek(fd, 5, SEEK_CUR));
	EQ(256 * 1024 - 6, lseek(fd, -6, SEEK_END));
	EQ(1LL << 41, lseek(fd, 1LL << 41, SEEK_SET));
	ERR(EINVAL, lseek(fd, -1, SEEK_SET));
	ERR(EINVAL, lseek(fd, 0, 77));
	close(fd);
}

/* ====================================================================
 * st_blocks, st_blksize, statfs
 */
static void t_blocks(void)
{
	static char buf[1 << 20];
	struct stat s;
	int fd;

	memset(buf, 'b', sizeof(buf));
	MKFILE("empty", 0644, NULL);
	EQ(0, LST("empty").st_blocks);
	TRUE(LST("empty").st_blksize > 0);
	fd = OK(open("dense", O_CREAT | O_RDWR, 0644));
	EQ(sizeof(buf), write(fd, buf, sizeof(buf)));
	/* Counted at once, before the file is closed (tools that see
	 * st_blocks == 0 with a size take the file for all holes). */
	s = FST(fd);
	TRUE(s.st_blocks >= 2048);
	TRUE(s.st_blocks <= 2048 + 1024);
	close(fd);
	s = LST("dense");
	TRUE(s.st_blocks >= 2048);
	TRUE(s.st_blocks <= 2048 + 1024);
	fd = OK(open("small", O_CREAT | O_RDWR, 0644));
	EQ(1, write(fd, "x", 1));
	TRUE(FST(fd).st_blocks > 0);
	close(fd);
	TRUE(LST("small").st_blocks > 0);
	TRUE(LST("small").st_blocks <= 128);
	/* Sparse: a huge size with little data. */
	fd = OK(open("sparse", O_CREAT | O_RDWR, 0644));
	OK(ftruncate(fd, 1LL << 30));
	EQ(0, FST(fd).st_blocks);
	EQ(4, pwrite(fd, "data", 4, 512 << 20));
	close(fd);
	s = LST("sparse");
	TRUE(s.st_blocks > 0);
	TRUE(s.st_blocks <= 1024);
	/* Truncation gives blocks back. */
	OK(truncate("dense", 0));
	EQ(0, LST("dense").st_blocks);
	/* Symlinks and directories have some sane count. */
	OK(symlink("x", "l"));
	TRUE(LST("l").st_blocks >= 0 && LST("l").st_blocks <= 8);
}

static void t_statfs(void)
{
	struct statvfs v;

	if (!TRUE(statvfs(".", &v) == 0))
		return;
	EQ(255, v.f_namemax);
	TRUE(v.f_bsize > 0);
	TRUE(v.f_frsize > 0);
	TRUE(v.f_blocks > 0);
	TRUE(v.f_bfree <= v.f_blocks);
	TRUE(v.f_bavail <= v.f_bfree);
	TRUE(v.f_ffree <= v.f_files);
	/* statvfs of a file gives the same filesystem. */
	MKFILE("f", 0644, "x");
	OK(statvfs("f", &v));
}

/* ====================================================================
 * Link counts across operations, and ctime on every metadata change
 */
static void t_nlink(void)
{
	OK(mkdir("d", 0755));
	EQ(2, LST("d").st_nlink);
	for (int i = 0; i < 5; i++) {
		char p[32];

		snprintf(p, sizeof(p), "d/s%d", i);
		OK(mkdir(p, 0755));
	}
	EQ(7, LST("d").st_nlink);
	MKFILE("d/f", 0644, NULL);
	OK(symlink("f", "d/l"));
	OK(mkfifo("d/p", 0644));
	EQ(7, LST("d").st_nlink);
	EQ(1, LST("d/l").st_nlink);
	EQ(1, LST("d/p").st_nlink);
	OK(rmdir("d/s0"));
	EQ(6, LST("d").st_nlink);
	OK(rename("d/s1", "d/s1b"));
	EQ(6, LST("d").st_nlink);
	OK(mkdir("e", 0755));
	OK(rename("d/s2", "e/s2"));
	EQ(5, LST("d").st_nlink);
	EQ(3, LST("e").st_nlink);
	OK(rename("e/s2", "d/s3")); /* replaces an empty dir */
	EQ(5, LST("d").st_nlink);
	EQ(2, LST("e").st_nlink);
	for (int i = 0; i < 10; i++) {
		char p[32];

		snprintf(p, sizeof(p), "e/h%d", i);
		OK(link("d/f", p));
	}
	EQ(11, LST("d/f").st_nlink);
	/* Two names of one file: rename does nothing at all. */
	OK(rename("e/h0", "e/h1"));
	EQ(11, LST("d/f").st_nlink);
	EQ(LST("e/h0").st_ino, LST("e/h1").st_ino);
	OK(unlink("d/f"));
	EQ(10, LST("e/h2").st_nlink);
}

static void t_ctime_all(void)
{
	struct timespec ts[2] = {{1, 0}, {2, 0}};
	struct stat s0, s1;
	int fd;

	MKFILE("f", 0644, "abc");
#define CT(op)                                                     \
	do {                                                       \
		s0 = LST("f");                                     \
		tick();                                            \
		OK(op);                                            \
		s1 = LST("f");                                     \
		expect_time(__LINE__, "ctime after " #op, s0.st_ctim, \
			    s1.st_ctim, true);                     \
	} while (0)
	CT(chmod("f", 0600));
	CT(chown("f", -1, getegid()));
	CT(utimensat(AT_FDCWD, "f", ts, 0));
	CT(utimensat(AT_FDCWD, "f", NULL, 0));
	CT(link("f", "g"));
	CT(unlink("g"));
	CT(rename("f", "h") + rename("h", "f"));
	CT(truncate("f", 1));
	CT(truncate("f", 100));
	CT(setxattr("f", "user.x", "1", 1, 0));
	CT(setxattr("f", "user.x", "22", 2, XATTR_REPLACE));
	CT(removexattr("f", "user.x"));
	fd = OK(open("f", O_WRONLY));
	s0 = LST("f");
	tick();
	EQ(1, pwrite(fd, "z", 1, 0));
	NEWER(s0, FST(fd), st_ctim);
	NEWER(s0, FST(fd), st_mtim);
	s0 = FST(fd);
	tick();
	OK(fallocate(fd, 0, 0, 1 << 20));
	NEWER(s0, FST(fd), st_ctim);
	EQ(1 << 20, FST(fd).st_size);
	close(fd);
	/* What does not change metadata leaves ctime alone. */
	s0 = LST("f");
	tick();
	OK(access("f", R_OK));
	{
		char b[8];

		EQ(8, readfile("f", b, sizeof(b)) > 0 ? 8 : 0);
	}
	ERR(ENODATA, getxattr("f", "user.none", NULL, 0));
	OK(listxattr("f", NULL, 0));
	fd = OK(open("f", O_RDONLY));
	close(fd);
	SAME(s0, LST("f"), st_ctim);
	SAME(s0, LST("f"), st_mtim);
	/* Directory ctime and mtime on the operations of t_dir_times. */
#undef CT
}

/* mtime and ctime of the parent on each namespace change. */
static void t_dir_times(void)
{
	struct stat d0, d1;

	OK(mkdir("d", 0755));
	OK(mkdir("e", 0755));
	MKFILE("d/keep", 0644, NULL);
#define DT(dir, op)                                                       \
	do {                                                              \
		d0 = LST(dir);                                            \
		tick();                                                   \
		OK(op);                                                   \
		d1 = LST(dir);                                            \
		expect_time(__LINE__, "mtime of " dir " after " #op,       \
			    d0.st_mtim, d1.st_mtim, true);                \
		expect_time(__LINE__, "ctime of " dir " after " #op,       \
			    d0.st_ctim, d1.st_ctim, true);                \
	} while (0)
	DT("d", close(open("d/f", O_CREAT | O_WRONLY, 0644)));
	DT("d", mkdir("d/sub", 0755));
	DT("d", symlink("x", "d/sl"));
	DT("d", mkfifo("d/fifo", 0644));
	DT("d", link("d/f", "d/f2"));
	DT("d", unlink("d/f2"));
	DT("d", rename("d/f", "d/g"));
	DT("d", rename("d/g", "e/g"));
	DT("e", rename("e/g", "d/g"));
	DT("d", rename("d/sub", "e/sub"));
	DT("e", rmdir("e/sub"));
	DT("d", rmdir(({ mkdir("d/t", 0755); tick(); "d/t"; })));
	/* Attribute changes of the directory itself: ctime only. */
	d0 = LST("d");
	tick();
	OK(setxattr("d", "user.d", "v", 1, 0));
	SAME(d0, LST("d"), st_mtim);
	NEWER(d0, LST("d"), st_ctim);
	d0 = LST("d");
	tick();
	OK(chmod("d", 0750));
	SAME(d0, LST("d"), st_mtim);
	NEWER(d0, LST("d"), st_ctim);
	/* Overwriting an existing name still changes the directory. */
	MKFILE("d/other", 0644, NULL);
	DT("d", rename("d/other", "d/g"));
#undef DT
	/* Writing into a file does not touch its directory. */
	d0 = LST("d");
	tick();
	MKFILE("d/keep", 0644, "data");
	d1 = LST("d");
	SAME(d0, d1, st_mtim);
	SAME(d0, d1, st_ctim);
	/* Nor does a failed create. */
	ERR(EEXIST, mkdir("d/g", 0755));
	SAME(d0, LST("d"), st_mtim);
}

/* access() against the mode, for the caller's own files. */
static void t_access(void)
{
	MKFILE("f", 0644, NULL);
	OK(access("f", F_OK));
	OK(access("f", R_OK | W_OK));
	if (is_root) {
		ERR(EACCES, access("f", X_OK)); /* no x bit at all */
		OK(chmod("f", 0001));
		OK(access("f", X_OK));
		OK(chmod("f", 0));
		OK(access("f", R_OK | W_OK));
	} else {
		ERR(EACCES, access("f", X_OK));
		OK(chmod("f", 0400));
		ERR(EACCES, access("f", W_OK));
		OK(access("f", R_OK));
		OK(chmod("f", 0));
		ERR(EACCES, access("f", R_OK));
		OK(access("f", F_OK));
		OK(chmod("f", 0700));
		OK(access("f", R_OK | W_OK | X_OK));
	}
	ERR(ENOENT, access("missing", F_OK));
	ERR(EINVAL, access("f", 0100));
}

/* ====================================================================
 * More namespace cases: odd names, moves up and down, removed parents
 */
static void t_names(void)
{
	const char *names[] = {"with space", "tab\there", "new\nline", "\xff\xfe-not-utf8",
			       "...", "....", ".hidden", "-dash", "*?[glob]",
			       "back\\slash", "\xe6\x97\xa5\xe6\x9c\xac", "a=b;c&d|e"};
	const size_t n = sizeof(names) / sizeof(names[0]);
	int found[16] = {0}, extra = 0;
	struct dirent *e;
	DIR *d;

	OK(mkdir("d", 0755));
	for (size_t i = 0; i < n; i++) {
		char p[300];

		snprintf(p, sizeof(p), "d/%s", names[i]);
		MKFILE(p, 0644, names[i]);
	}
	d = opendir("d");
	if (!TRUE(d != NULL))
		return;
	while ((e = readdir(d))) {
		size_t i;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		for (i = 0; i < n && strcmp(e->d_name, names[i]); i++)
			;
		if (i < n)
			found[i]++;
		else
			extra++;
	}
	closedir(d);
	for (size_t i = 0; i < n; i++)
		EQ(1, found[i]);
	EQ(0, extra);
	/* Names that differ only in case are different names. */
	MKFILE("d/Case", 0644, "upper");
	MKFILE("d/case", 0644, "lower");
	TRUE(LST("d/Case").st_ino != LST("d/case").st_ino);
	/* 255-byte names in bulk: readdir returns each once. */
	OK(mkdir("long", 0755));
	for (int i = 0; i < 300; i++) {
		char p[300];

		snprintf(p, sizeof(p), "long/%03d%s", i, name_of('L', 252));
		int fd = open(p, O_CREAT | O_WRONLY, 0644);

		if (fd < 0) {
			fail(__LINE__, "create %s: %s", p, ename(errno));
			return;
		}
		close(fd);
	}
	d = opendir("long");
	if (TRUE(d != NULL)) {
		static unsigned char seen[300];
		int bad = 0, dups = 0, total = 0;

		while ((e = readdir(d))) {
			int i;

			if (e->d_name[0] == '.')
				continue;
			total++;
			if (strlen(e->d_name) != 255 || sscanf(e->d_name, "%3d", &i) != 1 ||
			    i < 0 || i >= 300)
				bad++;
			else if (seen[i]++)
				dups++;
		}
		closedir(d);
		EQ(300, total);
		EQ(0, bad);
		EQ(0, dups);
	}
}

static void t_rename_more(void)
{
	struct stat a0, s0;
	int fd;

	/* Move a directory up and down the tree. */
	OK(mkdir("a", 0755));
	OK(mkdir("a/b", 0755));
	OK(mkdir("a/b/c", 0755));
	MKFILE("a/b/c/f", 0644, "deep");
	OK(rename("a/b/c", "a/c"));
	EQ(4, LST("a").st_nlink);
	EQ(2, LST("a/b").st_nlink);
	EQ(LST("a").st_ino, dirent_ino("a/c", ".."));
	OK(rename("a/c", "a/b/c2"));
	EQ(3, LST("a").st_nlink);
	EQ(3, LST("a/b").st_nlink);
	EQ(LST("a/b").st_ino, dirent_ino("a/b/c2", ".."));
	TRUE(S_ISREG(LST("a/b/c2/f").st_mode));
	/* Exchange a directory and a file in one directory: its count stays. */
	MKFILE("a/file", 0644, NULL);
	a0 = LST("a");
	OK(renameat2(AT_FDCWD, "a/b", AT_FDCWD, "a/file", RENAME_EXCHANGE));
	EQ(a0.st_nlink, LST("a").st_nlink);
	TRUE(S_ISDIR(LST("a/file").st_mode));
	TRUE(S_ISREG(LST("a/b").st_mode));
	/* Into and out of a removed directory: ENOENT. */
	OK(mkdir("gone", 0755));
	fd = OK(open("gone", O_RDONLY | O_DIRECTORY));
	OK(rmdir("gone"));
	MKFILE("x", 0644, NULL);
	ERR(ENOENT, renameat(AT_FDCWD, "x", fd, "x"));
	ERR(ENOENT, linkat(AT_FDCWD, "x", fd, "x", 0));
	ERR(ENOENT, symlinkat("t", fd, "l"));
	ERR(ENOENT, mknodat(fd, "p", S_IFIFO | 0644, 0));
	close(fd);
	/* A file renamed while open stays the same open file. */
	fd = OK(open("x", O_RDWR));
	s0 = FST(fd);
	OK(rename("x", "a/y"));
	EQ(2, write(fd, "ok", 2));
	EQ(2, LST("a/y").st_size);
	EQ(s0.st_ino, LST("a/y").st_ino);
	close(fd);
	/* Rename between two names of one file in different directories. */
	OK(link("a/y", "a/file/y2"));
	OK(rename("a/y", "a/file/y2"));
	EQ(2, LST("a/y").st_nlink);
	/* Many hard links. */
	MKFILE("many", 0644, NULL);
	{
		int bad = 0;
		char p[32];

		for (int i = 0; i < 1500; i++) {
			snprintf(p, sizeof(p), "a/file/m%d", i);
			bad += link("many", p) != 0;
		}
		EQ(0, bad);
		EQ(1501, LST("many").st_nlink);
		for (int i = 0; i < 1500; i++) {
			snprintf(p, sizeof(p), "a/file/m%d", i);
			bad += unlink(p) != 0;
		}
		EQ(0, bad);
		EQ(1, LST("many").st_nlink);
	}
}

/* Operations on a file that is open but has no name left. */
static void t_unlinked_ops(void)
{
	char buf[16];
	int fd;

	MKFILE("f", 0644, "abc");
	fd = OK(open("f", O_RDWR));
	OK(unlink("f"));
	OK(fsetxattr(fd, "user.x", "1", 1, 0));
	EQ(1, fgetxattr(fd, "user.x", buf, sizeof(buf)));
	OK(futimens(fd, NULL));
	OK(fchown(fd, geteuid(), getegid()));
	OK(fallocate(fd, 0, 0, 8192));
	EQ(8192, FST(fd).st_size);
	OK(fsync(fd));
	EQ(3, pread(fd, buf, 3, 0));
	EQ(0, memcmp(buf, "abc", 3));
	close(fd);
	/* A directory removed while it is the cwd of someone. */
	OK(mkdir("d", 0755));
	fd = OK(open(".", O_RDONLY | O_DIRECTORY));
	OK(chdir("d"));
	OK(rmdir("../d"));
	ERR(ENOENT, open("new", O_CREAT | O_WRONLY, 0644));
	EQ(0, LST(".").st_nlink);
	OK(fchdir(fd));
	close(fd);
}

/* fallocate, O_DIRECT, fchmodat on a symlink. */
static void t_misc_io(void)
{
	char *buf = NULL;
	int fd;

	fd = OK(open("f", O_CREAT | O_RDWR, 0644));
	OK(fallocate(fd, 0, 0, 100000));
	EQ(100000, FST(fd).st_size);
	OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 300000));
	EQ(100000, FST(fd).st_size);
	OK(posix_fallocate(fd, 50000, 100000));
	EQ(150000, FST(fd).st_size);
	{
		static char z[150000], back[150000];

		EQ(150000, pread(fd, back, sizeof(back), 0));
		EQ(0, memcmp(z, back, sizeof(z)));
	}
	ERR(EINVAL, fallocate(fd, 0, 0, 0));
	ERR(EINVAL, fallocate(fd, 0, -1, 10));
	close(fd);
	fd = OK(open(".", O_RDONLY | O_DIRECTORY));
	ERR2(EISDIR, EBADF, fallocate(fd, 0, 0, 10));
	close(fd);
	fd = OK(open("f", O_RDONLY));
	ERR(EBADF, fallocate(fd, 0, 0, 10));
	close(fd);
	/* O_DIRECT with aligned buffers. */
	if (posix_memalign((void **)&buf, 4096, 8192) == 0) {
		memset(buf, 'D', 8192);
		fd = open("direct", O_CREAT | O_RDWR | O_DIRECT, 0644);
		if (fd < 0 && errno == EINVAL) {
			skip("O_DIRECT not supported");
		} else if (TRUE(fd >= 0)) {
			EQ(8192, pwrite(fd, buf, 8192, 0));
			memset(buf, 0, 8192);
			EQ(8192, pread(fd, buf, 8192, 0));
			EQ('D', buf[0]);
			EQ('D', buf[8191]);
			close(fd);
			EQ(8192, LST("direct").st_size);
		}
		free(buf);
	}
	/* copy_file_range within the mount. */
	{
		char back[32];
		struct stat d0;
		int in, out;

		MKFILE("cin", 0644, "0123456789abcdef");
		MKFILE("cout", 0644, "XXXXXXXXXXXXXXXXXXXX");
		d0 = LST("cout");
		tick();
		in = OK(open("cin", O_RDONLY));
		out = OK(open("cout", O_WRONLY));
		{
			loff_t ioff = 4, ooff = 2;

			EQ(8, copy_file_range(in, &ioff, out, &ooff, 8, 0));
			EQ(12, ioff);
			EQ(10, ooff);
		}
		close(in);
		close(out);
		EQ(20, readfile("cout", back, sizeof(back)));
		STREQ("XX456789abXXXXXXXXXX", back);
		NEWER(d0, LST("cout"), st_mtim);
	}
	/* A symlink's mode cannot be changed. */
	OK(symlink("f", "l"));
	ERR(EOPNOTSUPP, fchmodat(AT_FDCWD, "l", 0600, AT_SYMLINK_NOFOLLOW));
	EQO(0644, LST("f").st_mode & 07777);
	OK(fchmodat(AT_FDCWD, "f", 0600, AT_SYMLINK_NOFOLLOW));
	EQO(0600, LST("f").st_mode & 07777);
}

/* ====================================================================
 * Exclusive creation under contention: of several processes creating
 * the same names at once with O_EXCL, mkdir, link, symlink, mknod or
 * rename(RENAME_NOREPLACE), exactly one wins each name; the others get
 * EEXIST.
 */
static void t_excl_race(void)
{
	enum { P = 6, N = 40, KINDS = 6 };
	int *wins = mmap(NULL, sizeof(int) * KINDS * N * 2, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int *others = wins + KINDS * N;
	const char *kinds[KINDS] = {"open O_EXCL", "mkdir", "link", "symlink", "mknod",
				    "rename NOREPLACE"};

	if (!TRUE(wins != MAP_FAILED))
		return;
	MKFILE("src", 0644, NULL);
	for (int p = 0; p < P; p++)
		for (int i = 0; i < N; i++) {
			char nm[32];

			snprintf(nm, sizeof(nm), "mv%d_%d", p, i);
			MKFILE(nm, 0644, NULL);
		}
	fflush(stdout);
	for (int p = 0; p < P; p++) {
		pid_t pid = fork();

		if (pid == 0) {
			for (int i = 0; i < N; i++) {
				char nm[32], from[32];
				int r[KINDS], fd;

				snprintf(nm, sizeof(nm), "o%d", i);
				fd = open(nm, O_CREAT | O_EXCL | O_WRONLY, 0644);
				r[0] = fd >= 0 ? 0 : errno;
				if (fd >= 0)
					close(fd);
				snprintf(nm, sizeof(nm), "d%d", i);
				r[1] = mkdir(nm, 0755) ? errno : 0;
				snprintf(nm, sizeof(nm), "l%d", i);
				r[2] = link("src", nm) ? errno : 0;
				snprintf(nm, sizeof(nm), "s%d", i);
				r[3] = symlink("src", nm) ? errno : 0;
				snprintf(nm, sizeof(nm), "n%d", i);
				r[4] = mknod(nm, S_IFIFO | 0644, 0) ? errno : 0;
				snprintf(nm, sizeof(nm), "r%d", i);
				snprintf(from, sizeof(from), "mv%d_%d", p, i);
				r[5] = renameat2(AT_FDCWD, from, AT_FDCWD, nm, RENAME_NOREPLACE) ?
				       errno : 0;
				for (int k = 0; k < KINDS; k++) {
					if (r[k] == 0)
						__atomic_add_fetch(&wins[k * N + i], 1, __ATOMIC_SEQ_CST);
					else if (r[k] != EEXIST)
						__atomic_add_fetch(&others[k * N + i], 1, __ATOMIC_SEQ_CST);
				}
			}
			_exit(0);
		}
	}
	for (int p = 0; p < P; p++)
		wait(NULL);
	for (int k = 0; k < KINDS; k++) {
		int notone = 0, odd = 0;

		for (int i = 0; i < N; i++) {
			notone += wins[k * N + i] != 1;
			odd += others[k * N + i];
		}
		if (notone || odd)
			fail(__LINE__, "%s: %d names not won exactly once, %d errors other than EEXIST",
			     kinds[k], notone, odd);
		else
			pass();
	}
	EQ(1 + N, LST("src").st_nlink);
	EQ(2 + N, LST(".").st_nlink);
	munmap(wins, sizeof(int) * KINDS * N * 2);
}

/* ====================================================================
 * POSIX ACLs through their xattrs (what cp -a, rsync -A and tar --acls
 * use): a minimal ACL is the mode, an extended ACL is kept and its mask
 * is the group class; chmod rewrites owner, mask and other.  (Enforcing
 * named entries and inheriting default ACLs are not checked: a FUSE
 * mount without FUSE_POSIX_ACL checks the mode only.)
 */
struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};
#define A_USER_OBJ 0x01
#define A_USER 0x02
#define A_GROUP_OBJ 0x04
#define A_GROUP 0x08
#define A_MASK 0x10
#define A_OTHER 0x20
#define A_UNDEF 0xffffffffu

/* Encodes n entries into buf in the kernel's xattr form; returns bytes. */
static size_t acl_encode(const struct acl_ent *e, int n, unsigned char *buf)
{
	size_t o = 4;

	buf[0] = 2;
	buf[1] = buf[2] = buf[3] = 0;
	for (int i = 0; i < n; i++) {
		buf[o] = e[i].tag & 0xff;
		buf[o + 1] = e[i].tag >> 8;
		buf[o + 2] = e[i].perm & 0xff;
		buf[o + 3] = e[i].perm >> 8;
		for (int k = 0; k < 4; k++)
			buf[o + 4 + k] = (e[i].id >> (8 * k)) & 0xff;
		o += 8;
	}
	return o;
}

/* The perm of the entry with tag (and id) in an xattr-form ACL, or -1. */
static int acl_perm(const unsigned char *buf, ssize_t n, uint16_t tag, uint32_t id)
{
	for (ssize_t o = 4; o + 8 <= n; o += 8) {
		uint16_t t = (uint16_t)(buf[o] | buf[o + 1] << 8);
		uint32_t i = buf[o + 4] | buf[o + 5] << 8 | buf[o + 6] << 16 |
			     (uint32_t)buf[o + 7] << 24;

		if (t == tag && (id == A_UNDEF || i == id))
			return buf[o + 2] | buf[o + 3] << 8;
	}
	return -1;
}

static void t_acl(void)
{
	const char *an = "system.posix_acl_access", *dn = "system.posix_acl_default";
	unsigned char buf[256], back[256];
	struct acl_ent min[] = {{A_USER_OBJ, 6, A_UNDEF}, {A_GROUP_OBJ, 4, A_UNDEF},
				{A_OTHER, 0, A_UNDEF}};
	struct acl_ent ext[] = {{A_USER_OBJ, 7, A_UNDEF}, {A_USER, 6, 4321},
				{A_GROUP_OBJ, 4, A_UNDEF}, {A_MASK, 6, A_UNDEF},
				{A_OTHER, 1, A_UNDEF}};
	struct acl_ent bad[] = {{A_USER_OBJ, 7, A_UNDEF}, {A_USER, 6, 4321},
				{A_GROUP_OBJ, 4, A_UNDEF}, {A_OTHER, 1, A_UNDEF}};
	struct stat s0;
	size_t n;
	ssize_t got;

	MKFILE("f", 0777, NULL);
	OK(chmod("f", 0777));
	s0 = LST("f");
	tick();
	n = acl_encode(min, 3, buf);
	OK(setxattr("f", an, buf, n, 0));
	EQO(0640, LST("f").st_mode & 07777);
	NEWER(s0, LST("f"), st_ctim);
	/* A minimal ACL lives in the mode only. */
	ERR(ENODATA, getxattr("f", an, back, sizeof(back)));
	/* An extended one is kept; its mask shows as the group bits. */
	n = acl_encode(ext, 5, buf);
	OK(setxattr("f", an, buf, n, 0));
	EQO(0761, LST("f").st_mode & 07777);
	got = getxattr("f", an, back, sizeof(back));
	EQ((long)n, got);
	EQ(6, acl_perm(back, got, A_USER, 4321));
	EQ(6, acl_perm(back, got, A_MASK, A_UNDEF));
	TRUE(in_listxattr("f", an));
	/* chmod rewrites the owner, mask and other entries. */
	OK(chmod("f", 0540));
	got = getxattr("f", an, back, sizeof(back));
	EQ((long)n, got);
	EQ(5, acl_perm(back, got, A_USER_OBJ, A_UNDEF));
	EQ(4, acl_perm(back, got, A_MASK, A_UNDEF));
	EQ(0, acl_perm(back, got, A_OTHER, A_UNDEF));
	EQ(6, acl_perm(back, got, A_USER, 4321));
	EQ(4, acl_perm(back, got, A_GROUP_OBJ, A_UNDEF));
	EQO(0540, LST("f").st_mode & 07777);
	/* Removing it leaves the mode. */
	OK(removexattr("f", an));
	ERR(ENODATA, getxattr("f", an, back, sizeof(back)));
	EQO(0540, LST("f").st_mode & 07777);
	/* Malformed: no mask with named entries, bad version, odd size. */
	n = acl_encode(bad, 4, buf);
	ERR(EINVAL, setxattr("f", an, buf, n, 0));
	n = acl_encode(min, 3, buf);
	buf[0] = 3;
	ERR(EOPNOTSUPP, setxattr("f", an, buf, n, 0)); /* an unknown version */
	buf[0] = 2;
	ERR(EINVAL, setxattr("f", an, buf, n - 1, 0));
	EQO(0540, LST("f").st_mode & 07777);
	/* Default ACLs: directories only. */
	OK(mkdir("d", 0755));
	n = acl_encode(ext, 5, buf);
	OK(setxattr("d", dn, buf, n, 0));
	got = getxattr("d", dn, back, sizeof(back));
	EQ((long)n, got);
	EQ(6, acl_perm(back, got, A_USER, 4321));
	EQO(0755, LST("d").st_mode & 07777);
	ERR(EACCES, setxattr("f", dn, buf, n, 0));
	OK(removexattr("d", dn));
	ERR(ENODATA, getxattr("d", dn, back, sizeof(back)));
}

/* Two descriptors with O_APPEND: every write lands at the end. */
static void t_append_two(void)
{
	char buf[64];
	int a, b;

	MKFILE("f", 0644, "start;");
	a = OK(open("f", O_WRONLY | O_APPEND));
	b = OK(open("f", O_WRONLY | O_APPEND));
	for (int i = 0; i < 3; i++) {
		EQ(2, write(a, "a;", 2));
		EQ(2, write(b, "b;", 2));
	}
	close(a);
	close(b);
	EQ(18, readfile("f", buf, sizeof(buf)));
	STREQ("start;a;b;a;b;a;b;", buf);
	/* A plain writer and a reader see each other's data at once. */
	a = OK(open("f", O_RDWR));
	b = OK(open("f", O_RDONLY));
	EQ(18, read(b, buf, sizeof(buf)));
	EQ(5, pwrite(a, "HELLO", 5, 0));
	EQ(5, pread(b, buf, 5, 0));
	EQ(0, memcmp(buf, "HELLO", 5));
	OK(ftruncate(a, 3));
	EQ(3, pread(b, buf, sizeof(buf), 0));
	close(a);
	close(b);
}

/* ====================================================================
 * Other users' files: each fx_ test has a make (as root: creates files
 * with the owners and modes the check needs) and a check (as U, with
 * groups G and GM).
 */

/* Fixture helpers: they fail loudly, a fixture must be exact. */
static void fx_file(const char *p, uid_t uid, gid_t gid, mode_t mode, const char *content)
{
	MKFILE(p, 0600, content);
	if (chown(p, uid, gid) || chmod(p, mode))
		fail(__LINE__, "fixture %s: %s", p, ename(errno));
}

static void fx_dir(const char *p, uid_t uid, gid_t gid, mode_t mode)
{
	if (mkdir(p, 0700) || chown(p, uid, gid) || chmod(p, mode))
		fail(__LINE__, "fixture dir %s: %s", p, ename(errno));
}

/* Search, read and write permission on directories. */
static void fx_dirperm_make(void)
{
	fx_dir("d700", UO, GO, 0700);
	fx_file("d700/f", UO, GO, 0644, "f");
	fx_dir("d744", UO, GO, 0744);
	fx_file("d744/f", UO, GO, 0644, "f");
	fx_dir("d733", UO, GO, 0733);
	fx_file("d733/f", UO, GO, 0644, "f");
	fx_dir("d755", UO, GO, 0755);
	fx_file("d755/f", UO, GO, 0644, "f");
	fx_dir("d755/sub", UO, GO, 0755);
	fx_dir("d777", UO, GO, 0777);
	fx_dir("d770g", UO, GM, 0770); /* group member may do everything */
	fx_dir("d707g", UO, GM, 0707); /* the group class (none) applies */
	fx_dir("d003", UO, GO, 0003);  /* write+search but no read for others */
}

static void fx_dirperm_check(void)
{
	struct stat s;
	char buf[8];

	/* 0700: nothing inside reachable. */
	OK(lstat("d700", &s));
	ERR(EACCES, lstat("d700/f", &s));
	ERR(EACCES, open("d700/f", O_RDONLY));
	ERR(EACCES, open("d700/new", O_CREAT | O_WRONLY, 0644));
	ERR(EACCES, opendir_rc("d700"));
	ERR(EACCES, chdir("d700"));
	ERR(EACCES, mkdir("d700/x", 0755));
	ERR(EACCES, unlink("d700/f"));
	ERR(EACCES, access("d700/f", F_OK));
	/* 0744: names listable, but not reachable. */
	OK(opendir_rc("d744"));
	ERR(EACCES, lstat("d744/f", &s));
	ERR(EACCES, open("d744/f", O_RDONLY));
	/* 0733: reachable and writable, not listable. */
	ERR(EACCES, opendir_rc("d733"));
	EQ(1, readfile("d733/f", buf, sizeof(buf)));
	close(OK(open("d733/new", O_CREAT | O_WRONLY, 0644)));
	OK(unlink("d733/new"));
	OK(mkdir("d733/nd", 0755));
	OK(rmdir("d733/nd"));
	/* 0755: read-only for us. */
	OK(opendir_rc("d755"));
	OK(lstat("d755/f", &s));
	EQ(1, readfile("d755/f", buf, sizeof(buf)));
	ERR(EACCES, open("d755/new", O_CREAT | O_WRONLY, 0644));
	ERR(EACCES, mkdir("d755/x", 0755));
	ERR(EACCES, rmdir("d755/sub"));
	ERR(EACCES, unlink("d755/f"));
	ERR(EACCES, symlink("x", "d755/l"));
	ERR(EACCES, mkfifo("d755/p", 0644));
	ERR(EACCES, rename("d755/f", "d777/f"));
	ERR(EACCES, rename("d755/f", "d755/g"));
	ERR(EACCES, mknod("d755/n", S_IFREG | 0644, 0));
	/* Moving our file into a directory we cannot write. */
	close(OK(open("d777/mine", O_CREAT | O_WRONLY, 0644)));
	ERR(EACCES, rename("d777/mine", "d755/mine"));
	ERR(EACCES, link("d777/mine", "d755/mine"));
	OK(unlink("d777/mine"));
	/* 0777 and group 0770: everything works. */
	close(OK(open("d777/new", O_CREAT | O_WRONLY, 0644)));
	EQ(U, LST("d777/new").st_uid);
	OK(rename("d777/new", "d770g/new"));
	OK(unlink("d770g/new"));
	OK(mkdir("d770g/sub", 0755));
	OK(rmdir("d770g/sub"));
	/* 0707 with our group: the group bits decide, not the others bits. */
	ERR(EACCES, opendir_rc("d707g"));
	ERR(EACCES, open("d707g/new", O_CREAT | O_WRONLY, 0644));
	/* 0003: create and remove by name, no listing. */
	close(OK(open("d003/x", O_CREAT | O_WRONLY, 0600)));
	ERR(EACCES, opendir_rc("d003"));
	OK(unlink("d003/x"));
}

/* Read, write and execute permission on files. */
static void fx_fileperm_make(void)
{
	int in, out;
	ssize_t n;
	char buf[65536];

	fx_file("o600", UO, GO, 0600, "o600");
	fx_file("o644", UO, GO, 0644, "o644");
	fx_file("o666", UO, GO, 0666, "o666");
	fx_file("o604", UO, GO, 0604, "o604");
	fx_file("own000", U, G, 0000, "own000");
	fx_file("own077", U, G, 0077, "own077");
	fx_file("grp060", UO, GM, 0060, "grp060");
	fx_file("grp606", UO, GM, 0606, "grp606");
	fx_file("oth006", UO, GN, 0006, "oth006");
	/* Executables: a copy of /bin/true. */
	in = open("/bin/true", O_RDONLY);
	out = open("tru", O_CREAT | O_WRONLY | O_TRUNC, 0755);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			fail(__LINE__, "copy /bin/true");
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (chown("tru", UO, GO) || chmod("tru", 0755))
		fail(__LINE__, "fixture tru: %s", ename(errno));
	OK(link("tru", "tru_hl"));
	fx_file("tru644", UO, GO, 0644, NULL);
	fx_file("tru700", UO, GO, 0700, NULL);
	fx_file("script", UO, GO, 0755, "#!/bin/sh\nexit 0\n");
	fx_file("script_noread", UO, GO, 0711, "#!/bin/sh\nexit 0\n");
	fx_dir("dir", UO, GO, 0755);
}

static void fx_fileperm_check(void)
{
	char buf[16];

	ERR(EACCES, open("o600", O_RDONLY));
	ERR(EACCES, open("o600", O_WRONLY));
	EQ(4, readfile("o644", buf, sizeof(buf)));
	ERR(EACCES, open("o644", O_WRONLY));
	ERR(EACCES, open("o644", O_RDWR));
	ERR(EACCES, open("o644", O_WRONLY | O_APPEND));
	close(OK(open("o666", O_RDWR)));
	close(OK(open("o604", O_RDONLY)));
	/* Our own mode-000 file: the owner has no bypass. */
	ERR(EACCES, open("own000", O_RDONLY));
	ERR(EACCES, open("own000", O_WRONLY));
	/* Owner class decides for the owner, even if others may. */
	ERR(EACCES, open("own077", O_RDONLY));
	/* Group class for a member. */
	close(OK(open("grp060", O_RDWR)));
	ERR(EACCES, open("grp606", O_RDONLY));
	close(OK(open("oth006", O_RDWR)));
	/* access() agrees. */
	OK(access("o644", R_OK));
	ERR(EACCES, access("o644", W_OK));
	ERR(EACCES, access("o644", X_OK));
	ERR(EACCES, access("o600", R_OK));
	OK(access("o666", R_OK | W_OK));
	ERR(EACCES, access("own077", R_OK));
	OK(access("grp060", R_OK | W_OK));
	ERR(EACCES, access("grp606", R_OK));
	OK(access("tru", X_OK));
	ERR(EACCES, access("tru644", X_OK));
	ERR(EACCES, access("tru700", X_OK));
	/* execve */
	EQ(0, try_exec("./tru"));
	EQ(0, try_exec("./tru_hl"));
	EQ(EACCES, try_exec("./tru644"));
	EQ(EACCES, try_exec("./tru700"));
	EQ(EACCES, try_exec("./dir"));
	EQ(0, try_exec("./script"));
	/* A script the shell cannot read fails in the shell, not in execve. */
	TRUE(try_exec("./script_noread") != 0);
	/* A file in use as a program cannot be opened for writing (ETXTBSY)
	 * on local filesystems; a mount need not enforce it, so not asserted. */
}

/* chmod and chown by the owner and by others. */
static void fx_owner_make(void)
{
	fx_file("mine", U, G, 0644, NULL);
	fx_file("other", UO, GO, 0666, NULL);
	fx_file("mine_suid", U, G, 04755, NULL);
	fx_file("mine_sgid", U, G, 02755, NULL);
	fx_file("mine_gn", U, GN, 0644, NULL);
	fx_file("mine_gm", U, GM, 0644, NULL);
	fx_dir("mydir", U, G, 02755);
	OK(symlink("other", "l_other"));
	OK(lchown("l_other", U, G));
	OK(symlink("mine", "l_mine"));
	OK(lchown("l_mine", UO, GO));
}

static void fx_owner_check(void)
{
	struct stat s0;

	OK(chmod("mine", 0600));
	EQO(0600, LST("mine").st_mode & 07777);
	ERR(EPERM, chmod("other", 0600));
	ERR(EPERM, chmod("l_other", 0600)); /* through our own link */
	OK(chmod("l_mine", 0640));          /* through someone else's link */
	EQO(0640, LST("mine").st_mode & 07777);
	s0 = LST("other");
	tick();
	ERR(EPERM, chmod("other", 0644));
	SAME(s0, LST("other"), st_ctim);
	EQO(0666, LST("other").st_mode & 07777);
	/* chown: never to another user, only to a group we are in. */
	ERR(EPERM, chown("mine", UO, -1));
	ERR(EPERM, chown("mine", -1, GN));
	ERR(EPERM, chown("other", U, -1));
	ERR(EPERM, chown("other", -1, G));
	ERR(EPERM, chown("other", UO, GO));
	OK(chown("mine", U, -1));
	OK(chown("mine", -1, GM));
	EQ(GM, LST("mine").st_gid);
	OK(chown("mine", -1, G));
	EQ(G, LST("mine").st_gid);
	ERR(EPERM, lchown("l_mine", U, G));
	OK(lchown("l_other", -1, GM));
	EQ(GM, LST("l_other").st_gid);
	EQ(GO, LST("other").st_gid);
	/* chgrp clears set-user-ID and set-group-ID (with g+x). */
	OK(chown("mine_suid", -1, GM));
	EQO(0755, LST("mine_suid").st_mode & 07777);
	OK(chown("mine_sgid", -1, GM));
	EQO(0755, LST("mine_sgid").st_mode & 07777);
	/* A directory keeps them. */
	OK(chown("mydir", -1, GM));
	EQO(02755, LST("mydir").st_mode & 07777);
	/* chmod g+s by a non-member of the file's group: silently dropped. */
	OK(chmod("mine_gn", 02755));
	EQO(0755, LST("mine_gn").st_mode & 07777);
	OK(chmod("mine_gm", 02755));
	EQO(02755, LST("mine_gm").st_mode & 07777);
	/* ... while the sticky and set-user-ID bits are ours to set. */
	OK(chmod("mine_gn", 04755));
	EQO(04755, LST("mine_gn").st_mode & 07777);
	OK(chmod("mine_gn", 01755));
	EQO(01755, LST("mine_gn").st_mode & 07777);
}

/* utimensat permissions. */
static void fx_utimes_make(void)
{
	fx_file("mine", U, G, 0644, NULL);
	fx_file("mine000", U, G, 0000, NULL);
	fx_file("o666", UO, GO, 0666, NULL);
	fx_file("o644", UO, GO, 0644, NULL);
}

static void fx_utimes_check(void)
{
	struct timespec ts[2] = {{100, 0}, {200, 0}};
	struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
	struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
	struct timespec half[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};

	OK(utimensat(AT_FDCWD, "mine", ts, 0));
	EQ(200, LST("mine").st_mtim.tv_sec);
	OK(utimensat(AT_FDCWD, "mine000", ts, 0));
	OK(utimensat(AT_FDCWD, "mine000", NULL, 0)); /* owner: no write needed */
	ERR(EPERM, utimensat(AT_FDCWD, "o666", ts, 0));
	OK(utimensat(AT_FDCWD, "o666", NULL, 0));
	OK(utimensat(AT_FDCWD, "o666", now, 0));
	TRUE(near_now(LST("o666").st_mtim));
	ERR(EACCES, utimensat(AT_FDCWD, "o644", NULL, 0));
	ERR(EACCES, utimensat(AT_FDCWD, "o644", now, 0));
	ERR(EPERM, utimensat(AT_FDCWD, "o644", ts, 0));
	OK(utimensat(AT_FDCWD, "o644", omit, 0));
	ERR(EPERM, utimensat(AT_FDCWD, "o644", half, 0));
	ERR(EPERM, utimensat(AT_FDCWD, "o666", half, 0)); /* only "both now" is a touch */
}

/* Sticky directories. */
static void fx_sticky_make(void)
{
	fx_dir("st", 0, 0, 01777);
	fx_file("st/ofile", UO, GO, 0666, NULL);
	fx_file("st/ofile2", UO, GO, 0666, NULL);
	fx_dir("st/odir", UO, GO, 0777);
	fx_file("st/myfile", U, G, 0644, NULL);
	fx_file("st/myfile2", U, G, 0644, NULL);
	fx_dir("st_mine", U, G, 01777);
	fx_file("st_mine/ofile", UO, GO, 0644, NULL);
	fx_dir("nst", 0, 0, 0777);
	fx_file("nst/ofile", UO, GO, 0644, NULL);
	fx_dir("nst/odir", UO, GO, 0755);
	fx_dir("st_nox", 0, 0, 01776); /* sticky, writable, not searchable by us */
}

static void fx_sticky_check(void)
{
	char buf[8];

	ERR(EPERM, unlink("st/ofile"));
	ERR(EPERM, rename("st/ofile", "st/moved"));
	ERR(EPERM, rename("st/ofile", "nst/moved"));
	ERR(EPERM, rename("st/myfile", "st/ofile2")); /* replacing theirs */
	ERR(EPERM, rmdir("st/odir"));
	TRUE(S_ISREG(LST("st/ofile").st_mode));
	/* Their file stays writable by us (mode 0666). */
	EQ(0, readfile("st/ofile", buf, sizeof(buf)));
	close(OK(open("st/ofile", O_WRONLY)));
	/* Our own files come and go. */
	OK(rename("st/myfile", "st/mine"));
	OK(unlink("st/mine"));
	close(OK(open("st/new", O_CREAT | O_WRONLY, 0644)));
	OK(rename("st/new", "st/myfile2")); /* replacing our own */
	OK(unlink("st/myfile2"));
	/* The directory's owner may remove anything. */
	OK(unlink("st_mine/ofile"));
	/* Without the sticky bit, write permission is enough. */
	OK(unlink("nst/ofile"));
	OK(rmdir("nst/odir"));
	/* user.* xattrs on a sticky directory: only its owner. */
	ERR(EPERM, setxattr("st", "user.x", "v", 1, 0));
	OK(setxattr("st_mine", "user.x", "v", 1, 0));
	ERR(EACCES, open("st_nox/x", O_CREAT | O_WRONLY, 0644));
}

/* Set-user-ID and set-group-ID dropped on write and truncation by a
 * non-root writer. */
static void fx_killpriv_make(void)
{
	fx_file("s4755", U, G, 04755, "x");
	fx_file("s6755", U, G, 06755, "x");
	fx_file("s2745", U, G, 02745, "x");
	fx_file("s6745", U, G, 06745, "x");
	fx_file("r4777", 0, 0, 04777, "x");
	fx_file("r6777", 0, 0, 06777, "x");
	fx_file("t4755", U, G, 04755, "x");
	fx_file("ft4755", U, G, 04755, "x");
	fx_file("ot4755", U, G, 04755, "x");
	fx_file("p4755", U, G, 04755, "x");
	fx_file("a6755", U, G, 06755, "x");
	fx_file("fa4755", U, G, 04755, "x");
	fx_file("fk4755", U, G, 04755, "x");
	fx_file("cp4755", U, G, 04755, "x");
	fx_file("src", U, G, 0644, "source data");
	fx_dir("d", U, G, 0755);
}

static void wr1(const char *p, int flags)
{
	int fd = open(p, flags);

	if (fd < 0) {
		fail(__LINE__, "open %s: %s", p, ename(errno));
		return;
	}
	if (write(fd, "y", 1) != 1)
		fail(__LINE__, "write %s: %s", p, ename(errno));
	close(fd);
}

static void fx_killpriv_check(void)
{
	int fd;

	wr1("s4755", O_WRONLY);
	EQO(0755, LST("s4755").st_mode & 07777);
	wr1("s6755", O_WRONLY);
	EQO(0755, LST("s6755").st_mode & 07777);
	wr1("s2745", O_WRONLY);
	EQO(02745, LST("s2745").st_mode & 07777);
	wr1("s6745", O_WRONLY);
	EQO(02745, LST("s6745").st_mode & 07777);
	wr1("r4777", O_WRONLY);
	EQO(0777, LST("r4777").st_mode & 07777);
	wr1("r6777", O_RDWR);
	EQO(0777, LST("r6777").st_mode & 07777);
	wr1("a6755", O_WRONLY | O_APPEND);
	EQO(0755, LST("a6755").st_mode & 07777);
	/* Seen through an open fd at once. */
	fd = OK(open("p4755", O_WRONLY));
	EQ(1, pwrite(fd, "z", 1, 10));
	EQO(0755, FST(fd).st_mode & 07777);
	close(fd);
	OK(truncate("t4755", 0));
	EQO(0755, LST("t4755").st_mode & 07777);
	fd = OK(open("ft4755", O_WRONLY));
	OK(ftruncate(fd, 100));
	close(fd);
	EQO(0755, LST("ft4755").st_mode & 07777);
	close(OK(open("ot4755", O_WRONLY | O_TRUNC)));
	EQO(0755, LST("ot4755").st_mode & 07777);
	/* fallocate that grows the file counts as a write. */
	fd = OK(open("fa4755", O_WRONLY));
	OK(fallocate(fd, 0, 0, 65536));
	close(fd);
	EQO(0755, LST("fa4755").st_mode & 07777);
	/* copy_file_range into it too. */
	{
		int in = OK(open("src", O_RDONLY));

		fd = OK(open("cp4755", O_WRONLY));
		EQ(11, copy_file_range(in, NULL, fd, NULL, 11, 0));
		close(fd);
		close(in);
		EQO(0755, LST("cp4755").st_mode & 07777);
	}
	/* A new file may be created set-user-ID. */
	close(OK(open("d/new", O_CREAT | O_WRONLY, 04755)));
	EQO(04755, LST("d/new").st_mode & 07777);
}

/* Group inheritance from set-group-ID directories. */
static void fx_sgid_make(void)
{
	fx_dir("sg", 0, GM, 02777);
	fx_dir("sgn", 0, GN, 02777);
	fx_dir("plain", 0, GN, 0777);
}

static void fx_sgid_check(void)
{
	struct stat s;

	close(OK(open("sg/f", O_CREAT | O_WRONLY, 0644)));
	EQ(GM, LST("sg/f").st_gid);
	EQ(U, LST("sg/f").st_uid);
	OK(mkdir("sg/d", 0755));
	s = LST("sg/d");
	EQ(GM, s.st_gid);
	EQO(02755, s.st_mode & 07777);
	/* ... and on down. */
	close(OK(open("sg/d/f", O_CREAT | O_WRONLY, 0644)));
	EQ(GM, LST("sg/d/f").st_gid);
	OK(symlink("x", "sg/l"));
	EQ(GM, LST("sg/l").st_gid);
	OK(mkfifo("sg/p", 0644));
	EQ(GM, LST("sg/p").st_gid);
	close(OK(open("sg/f2", O_CREAT | O_WRONLY, 02755))); /* member: kept */
	EQO(02755, LST("sg/f2").st_mode & 07777);
	/* A group we are not in is still inherited, directories keep the bit. */
	close(OK(open("sgn/f", O_CREAT | O_WRONLY, 0644)));
	EQ(GN, LST("sgn/f").st_gid);
	OK(mkdir("sgn/d", 0700));
	EQ(GN, LST("sgn/d").st_gid);
	EQO(02700, LST("sgn/d").st_mode & 07777);
	/* ... but a file may not be set-group-ID to it (with g+x). */
	close(OK(open("sgn/f2", O_CREAT | O_WRONLY, 02755)));
	EQ(GN, LST("sgn/f2").st_gid);
	EQO(0755, LST("sgn/f2").st_mode & 07777);
	/* Outside set-group-ID directories: our own group. */
	close(OK(open("plain/f", O_CREAT | O_WRONLY, 0644)));
	EQ(G, LST("plain/f").st_gid);
	OK(mkdir("plain/d", 0755));
	EQ(G, LST("plain/d").st_gid);
	EQO(0755, LST("plain/d").st_mode & 07777);
	/* Moving into a set-group-ID directory changes nothing. */
	OK(rename("plain/f", "sg/moved"));
	EQ(G, LST("sg/moved").st_gid);
}

/* Extended attributes and other users. */
static void fx_xattr_make(void)
{
	fx_file("o644", UO, GO, 0644, NULL);
	OK(setxattr("o644", "user.a", "A", 1, 0));
	OK(setxattr("o644", "trusted.t", "T", 1, 0));
	fx_file("o666", UO, GO, 0666, NULL);
	fx_file("mine444", U, G, 0444, NULL);
	fx_file("mine", U, G, 0644, NULL);
	fx_file("o600", UO, GO, 0600, NULL);
	OK(setxattr("o600", "user.secret", "S", 1, 0));
}

static void fx_xattr_check(void)
{
	char buf[64];

	EQ(1, getxattr("o644", "user.a", buf, sizeof(buf)));
	ERR(EACCES, setxattr("o644", "user.b", "v", 1, 0));
	ERR(EACCES, removexattr("o644", "user.a"));
	OK(setxattr("o666", "user.b", "v", 1, 0));
	OK(removexattr("o666", "user.b"));
	ERR(EACCES, setxattr("mine444", "user.b", "v", 1, 0));
	OK(setxattr("mine", "user.b", "v", 1, 0));
	ERR(EACCES, getxattr("o600", "user.secret", buf, sizeof(buf)));
	/* trusted.*: invisible and untouchable without CAP_SYS_ADMIN. */
	ERR(ENODATA, getxattr("o644", "trusted.t", buf, sizeof(buf)));
	ERR(EPERM, setxattr("mine", "trusted.t", "v", 1, 0));
	TRUE(in_listxattr("o644", "user.a"));
	TRUE(!in_listxattr("o644", "trusted.t"));
	/* security.*: needs CAP_SYS_ADMIN to set. */
	ERR(EPERM, setxattr("mine", "security.s", "v", 1, 0));
}

/* Devices need CAP_MKNOD; FIFOs, sockets and files do not. */
static void fx_mknod_make(void)
{
	fx_dir("d", U, G, 0755);
}

static void fx_mknod_check(void)
{
	ERR(EPERM, mknod("d/c", S_IFCHR | 0644, makedev(1, 3)));
	ERR(EPERM, mknod("d/b", S_IFBLK | 0644, makedev(7, 0)));
	OK(mknod("d/p", S_IFIFO | 0644, 0));
	OK(mknod("d/s", S_IFSOCK | 0644, 0));
	OK(mknod("d/r", S_IFREG | 0644, 0));
	EQ(U, LST("d/r").st_uid);
}

/* Moving a directory to another parent writes its "..": needs write
 * permission on the directory itself. */
static void fx_rename_perm_make(void)
{
	fx_dir("a", 0, 0, 0777);
	fx_dir("b", 0, 0, 0777);
	fx_dir("a/od", UO, GO, 0755);
	fx_dir("a/od2", UO, GO, 0755);
	fx_dir("a/myd", U, G, 0755);
	fx_file("a/of", UO, GO, 0644, NULL);
	fx_dir("ro", 0, 0, 0755);
	fx_file("ro/of", UO, GO, 0644, NULL);
}

static void fx_rename_perm_check(void)
{
	ERR(EACCES, rename("a/od", "b/od"));
	OK(rename("a/od", "a/od_renamed"));
	OK(rename("a/myd", "b/myd"));
	OK(rename("a/of", "b/of")); /* files have no ".." */
	ERR(EACCES, rename("ro/of", "a/of"));
	ERR(EACCES, rename("b/of", "ro/of"));
	ERR(EACCES, renameat2(AT_FDCWD, "a/od2", AT_FDCWD, "b/myd", RENAME_EXCHANGE));
	EQ(U, LST("b/myd").st_uid);
}

/* Hard links to others' files (fs.protected_hardlinks), and truncation
 * permissions. */
static void fx_link_trunc_make(void)
{
	fx_dir("d", 0, 0, 0777);
	fx_file("d/o600", UO, GO, 0600, "secret");
	fx_file("d/o666", UO, GO, 0666, "open");
	fx_file("d/o644", UO, GO, 0644, "read");
	fx_file("d/mine", U, G, 0600, "mine");
}

static void fx_link_trunc_check(void)
{
	if (sysctl_int("/proc/sys/fs/protected_hardlinks") == 1)
		ERR(EPERM, link("d/o600", "d/l600"));
	else
		OK(link("d/o600", "d/l600"));
	OK(link("d/o666", "d/l666"));
	OK(link("d/mine", "d/lmine"));
	EQ(2, LST("d/mine").st_nlink);
	ERR(EACCES, truncate("d/o644", 0));
	ERR(EACCES, open("d/o644", O_RDONLY | O_TRUNC));
	EQ(4, LST("d/o644").st_size);
	OK(truncate("d/o666", 1));
	EQ(1, LST("d/o666").st_size);
}

/* ====================================================================
 * --check-tree DIR: invariants of a whole tree, e.g. after a remount:
 * in every directory "." and ".." name the directory and its parent,
 * every entry's d_ino and d_type agree with lstat, a directory's link
 * count is 2 + its subdirectories, and a file's link count equals the
 * names it has in the tree (when all of them are in the tree).
 */
struct linkcount {
	ino_t ino;
	nlink_t nlink, seen;
};
static struct linkcount *lc;
static size_t nlc, caplc;

static void lc_note(ino_t ino, nlink_t nlink)
{
	for (size_t i = 0; i < nlc; i++)
		if (lc[i].ino == ino) {
			lc[i].seen++;
			return;
		}
	if (nlc == caplc) {
		caplc = caplc ? caplc * 2 : 256;
		lc = realloc(lc, caplc * sizeof(*lc));
		if (!lc)
			abort();
	}
	lc[nlc++] = (struct linkcount){ino, nlink, 1};
}

static unsigned char dtype_of_mode(mode_t m)
{
	return S_ISREG(m) ? DT_REG : S_ISDIR(m) ? DT_DIR : S_ISLNK(m) ? DT_LNK :
	       S_ISFIFO(m) ? DT_FIFO : S_ISSOCK(m) ? DT_SOCK : S_ISCHR(m) ? DT_CHR :
	       S_ISBLK(m) ? DT_BLK : DT_UNKNOWN;
}

static void check_dir(const char *path, ino_t parent_ino)
{
	struct stat ds, es;
	struct dirent *e;
	nlink_t subdirs = 0;
	int dot = 0, dotdot = 0;
	char p[PATH_MAX];
	DIR *d;

	if (lstat(path, &ds) || !(d = opendir(path))) {
		fail(__LINE__, "%s: %s", path, ename(errno));
		return;
	}
	tcase = "check-tree";
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".")) {
			dot++;
			if (e->d_ino != ds.st_ino)
				fail(__LINE__, "%s/.: d_ino %lu, directory is %lu", path,
				     (unsigned long)e->d_ino, (unsigned long)ds.st_ino);
			else
				pass();
			continue;
		}
		if (!strcmp(e->d_name, "..")) {
			dotdot++;
			if (parent_ino && e->d_ino != parent_ino)
				fail(__LINE__, "%s/..: d_ino %lu, parent is %lu", path,
				     (unsigned long)e->d_ino, (unsigned long)parent_ino);
			else
				pass();
			continue;
		}
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		if (lstat(p, &es)) {
			fail(__LINE__, "lstat %s: %s", p, ename(errno));
			continue;
		}
		if (e->d_ino != es.st_ino ||
		    (e->d_type != DT_UNKNOWN && e->d_type != dtype_of_mode(es.st_mode)))
			fail(__LINE__, "%s: d_ino %lu d_type %u, lstat says %lu type %u", p,
			     (unsigned long)e->d_ino, e->d_type, (unsigned long)es.st_ino,
			     dtype_of_mode(es.st_mode));
		else
			pass();
		if (S_ISDIR(es.st_mode)) {
			subdirs++;
			check_dir(p, ds.st_ino);
		} else {
			lc_note(es.st_ino, es.st_nlink);
		}
	}
	closedir(d);
	if (dot != 1 || dotdot != 1)
		fail(__LINE__, "%s: %d \".\" and %d \"..\" entries", path, dot, dotdot);
	if (ds.st_nlink != 2 + subdirs)
		fail(__LINE__, "%s: nlink %lu with %lu subdirectories", path,
		     (unsigned long)ds.st_nlink, (unsigned long)subdirs);
	else
		pass();
}

/* Files whose names are all in the tree (the suite's tests leave files
 * open-and-unlinked only while they run) must have nlink == names. */
static int check_tree(const char *root)
{
	long bad = 0;

	check_dir(root, 0);
	for (size_t i = 0; i < nlc; i++)
		if (lc[i].seen > lc[i].nlink)
			bad++;
	if (bad)
		fail(__LINE__, "%ld files have more names than their link count", bad);
	else
		pass();
	free(lc);
	printf("%ld passed, %ld failed (tree check of %s, %zu files)\n", cnt->pass,
	       cnt->fail, root, nlc);
	return cnt->fail || !cnt->pass ? 1 : 0;
}

/* ====================================================================
 * --check-ro DIR: on a read-only mount every change is EROFS and
 * reading still works.  DIR must hold a file "f" (with user.x), a
 * directory "d" and a symlink "l" (posix_suite --make-ro-tree DIR makes
 * them before the mount is made read-only).
 */
static int make_ro_tree(const char *dir)
{
	if (chdir(dir))
		return 2;
	MKFILE("f", 0644, "read me");
	OK(setxattr("f", "user.x", "1", 1, 0));
	OK(mkdir("d", 0755));
	OK(symlink("f", "l"));
	printf("%ld passed, %ld failed (read-only tree made)\n", cnt->pass, cnt->fail);
	return cnt->fail ? 1 : 0;
}

static int check_ro(const char *dir)
{
	struct timespec ts[2] = {{1, 0}, {2, 0}};
	char buf[16];
	int fd;

	tcase = "read-only";
	if (chdir(dir)) {
		fail(__LINE__, "chdir %s: %s", dir, ename(errno));
		return 1;
	}
	ERR(EROFS, open("new", O_CREAT | O_WRONLY, 0644));
	ERR(EROFS, open("f", O_WRONLY));
	ERR(EROFS, open("f", O_RDWR));
	ERR(EROFS, open("f", O_RDONLY | O_TRUNC));
	ERR(EROFS, mkdir("nd", 0755));
	ERR(EROFS, rmdir("d"));
	ERR(EROFS, unlink("f"));
	ERR(EROFS, rename("f", "g"));
	ERR(EROFS, link("f", "g"));
	ERR(EROFS, symlink("f", "g"));
	ERR(EROFS, mknod("p", S_IFIFO | 0644, 0));
	ERR(EROFS, chmod("f", 0600));
	ERR(EROFS, chown("f", geteuid(), getegid()));
	ERR(EROFS, truncate("f", 0));
	ERR(EROFS, utimensat(AT_FDCWD, "f", ts, 0));
	ERR(EROFS, utimensat(AT_FDCWD, "f", NULL, 0));
	ERR(EROFS, setxattr("f", "user.y", "1", 1, 0));
	ERR(EROFS, removexattr("f", "user.x"));
	ERR(EROFS, access("f", W_OK));
	OK(access("f", R_OK));
	EQ(7, readfile("f", buf, sizeof(buf)));
	EQ(7, readfile("l", buf, sizeof(buf)));
	EQ(1, getxattr("f", "user.x", buf, sizeof(buf)));
	TRUE(S_ISDIR(LST("d").st_mode));
	OK(opendir_rc("d"));
	fd = OK(open("f", O_RDONLY));
	ERR2(EINVAL, EBADF, ftruncate(fd, 0));
	OK(fsync(fd));
	close(fd);
	{
		struct statvfs v;

		OK(statvfs(".", &v));
		TRUE(v.f_flag & ST_RDONLY);
	}
	printf("%ld passed, %ld failed (read-only checks)\n", cnt->pass, cnt->fail);
	return cnt->fail || !cnt->pass ? 1 : 0;
}

/* ====================================================================
 * The table and main.
 */
enum { T_ANY = 0, T_ROOT = 1 };

struct test {
	const char *name;
	void (*fn)(void);
	int flags;
};

static const struct test tests[] = {
	{"open_create", t_open_create, T_ANY},
	{"open_flags", t_open_flags, T_ANY},
	{"open_unlinked", t_open_unlinked, T_ANY},
	{"mkdir", t_mkdir, T_ANY},
	{"rmdir", t_rmdir, T_ANY},
	{"unlink", t_unlink, T_ANY},
	{"link", t_link, T_ANY},
	{"symlink", t_symlink, T_ANY},
	{"eloop", t_eloop, T_ANY},
	{"rename_file", t_rename_file, T_ANY},
	{"rename_dir", t_rename_dir, T_ANY},
	{"rename_flags", t_rename_flags, T_ANY},
	{"exdev", t_exdev, T_ANY},
	{"chmod", t_chmod, T_ANY},
	{"chown_root", t_chown_root, T_ROOT},
	{"chown_self", t_chown_self, T_ANY},
	{"truncate", t_truncate, T_ANY},
	{"write_data", t_write_data, T_ANY},
	{"killpriv_self", t_killpriv_self, T_ANY},
	{"utimens", t_utimens, T_ANY},
	{"mknod", t_mknod, T_ANY},
	{"xattr", t_xattr, T_ANY},
	{"xattr_many", t_xattr_many, T_ANY},
	{"readdir", t_readdir, T_ANY},
	{"readdir_changes", t_readdir_changes, T_ANY},
	{"lseek", t_lseek, T_ANY},
	{"blocks", t_blocks, T_ANY},
	{"statfs", t_statfs, T_ANY},
	{"nlink", t_nlink, T_ANY},
	{"ctime_all", t_ctime_all, T_ANY},
	{"dir_times", t_dir_times, T_ANY},
	{"access", t_access, T_ANY},
	{"names", t_names, T_ANY},
	{"rename_more", t_rename_more, T_ANY},
	{"unlinked_ops", t_unlinked_ops, T_ANY},
	{"misc_io", t_misc_io, T_ANY},
	{"acl", t_acl, T_ANY},
	{"append_two", t_append_two, T_ANY},
	{"excl_race", t_excl_race, T_ANY},
};

struct fxtest {
	const char *name;
	void (*make)(void);
	void (*check)(void);
};

static const struct fxtest fxtests[] = {
	{"fx_dirperm", fx_dirperm_make, fx_dirperm_check},
	{"fx_fileperm", fx_fileperm_make, fx_fileperm_check},
	{"fx_owner", fx_owner_make, fx_owner_check},
	{"fx_utimes", fx_utimes_make, fx_utimes_check},
	{"fx_sticky", fx_sticky_make, fx_sticky_check},
	{"fx_killpriv", fx_killpriv_make, fx_killpriv_check},
	{"fx_sgid", fx_sgid_make, fx_sgid_check},
	{"fx_xattr", fx_xattr_make, fx_xattr_check},
	{"fx_mknod", fx_mknod_make, fx_mknod_check},
	{"fx_rename_perm", fx_rename_perm_make, fx_rename_perm_check},
	{"fx_link_trunc", fx_link_trunc_make, fx_link_trunc_check},
};

#define NTESTS (sizeof(tests) / sizeof(tests[0]))
#define NFX (sizeof(fxtests) / sizeof(fxtests[0]))

/* A writable directory on a filesystem other than base's. */
static void find_other_fs(const char *base)
{
	const char *cand[] = {"/dev/shm", "/tmp", "/var/tmp", "/run", NULL};
	struct stat b, s;

	if (stat(base, &b))
		return;
	for (int i = 0; cand[i]; i++)
		if (!stat(cand[i], &s) && s.st_dev != b.st_dev &&
		    !access(cand[i], W_OK | X_OK)) {
			snprintf(other_fs, sizeof(other_fs), "%s", cand[i]);
			return;
		}
}

/* mkdir base/name, chdir into it. */
static int enter(int basefd, const char *name, mode_t mode)
{
	if (mkdirat(basefd, name, 0700) || fchmodat(basefd, name, mode, 0)) {
		fail(__LINE__, "mkdir %s: %s", name, ename(errno));
		return -1;
	}
	if (fchdir(basefd) || chdir(name)) {
		fail(__LINE__, "chdir %s: %s", name, ename(errno));
		return -1;
	}
	return 0;
}

static bool selected(const char *name, const char *filter)
{
	return !filter || strstr(name, filter);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: posix_suite [-v] [-t SUBSTR] DIR\n"
		"       posix_suite --make-fixtures FXDIR\n"
		"       posix_suite --check-tree DIR\n"
		"       posix_suite --make-ro-tree DIR | --check-ro DIR\n"
		"       posix_suite [-v] [-t SUBSTR] --fixtures FXDIR DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *filter = NULL, *fxdir = NULL, *makefx = NULL, *base = NULL;
	const char *checktree = NULL, *checkro = NULL, *makero = NULL;
	int basefd, fxfd = -1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strcmp(argv[i], "-t") && i + 1 < argc)
			filter = argv[++i];
		else if (!strcmp(argv[i], "--fixtures") && i + 1 < argc)
			fxdir = argv[++i];
		else if (!strcmp(argv[i], "--make-fixtures") && i + 1 < argc)
			makefx = argv[++i];
		else if (!strcmp(argv[i], "--check-tree") && i + 1 < argc)
			checktree = argv[++i];
		else if (!strcmp(argv[i], "--check-ro") && i + 1 < argc)
			checkro = argv[++i];
		else if (!strcmp(argv[i], "--make-ro-tree") && i + 1 < argc)
			makero = argv[++i];
		else if (argv[i][0] == '-' || base)
			usage();
		else
			base = argv[i];
	}
	if ((base != NULL) + (makefx != NULL) + (checktree != NULL) +
	    (checkro != NULL) + (makero != NULL) != 1)
		usage();
	cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cnt == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	is_root = geteuid() == 0;
	umask(022);
	if (checktree)
		return check_tree(checktree);
	if (makero)
		return make_ro_tree(makero);
	if (checkro)
		return check_ro(checkro);

	if (makefx) {
		if (!is_root) {
			fprintf(stderr, "posix_suite: --make-fixtures needs root\n");
			return 2;
		}
		if ((basefd = open(makefx, O_RDONLY | O_DIRECTORY)) < 0) {
			perror(makefx);
			return 2;
		}
		for (size_t i = 0; i < NFX; i++) {
			tcase = fxtests[i].name;
			if (!selected(tcase, filter) || enter(basefd, tcase, 0755))
				continue;
			fxtests[i].make();
		}
		printf("%ld passed, %ld failed (fixtures)\n", cnt->pass, cnt->fail);
		return cnt->fail ? 1 : 0;
	}

	if ((basefd = open(base, O_RDONLY | O_DIRECTORY)) < 0) {
		perror(base);
		return 2;
	}
	if (fxdir && (fxfd = open(fxdir, O_RDONLY | O_DIRECTORY)) < 0) {
		perror(fxdir);
		return 2;
	}
	find_other_fs(base);
	printf("# posix_suite: %s as uid %u%s%s%s\n", base, (unsigned)geteuid(),
	       fxdir ? ", fixtures in " : "", fxdir ? fxdir : "",
	       other_fs[0] ? "" : " (no other filesystem for EXDEV)");
	for (size_t i = 0; i < NTESTS; i++) {
		long f0 = cnt->fail, p0 = cnt->pass;

		tcase = tests[i].name;
		if (!selected(tcase, filter))
			continue;
		if ((tests[i].flags & T_ROOT) && !is_root) {
			skip("needs root");
			continue;
		}
		umask(022);
		if (enter(basefd, tcase, 0755))
			continue;
		tests[i].fn();
		if (verbose)
			printf("%s %s: %ld passed, %ld failed\n",
			       cnt->fail == f0 ? "ok  " : "FAIL", tcase,
			       cnt->pass - p0, cnt->fail - f0);
	}
	for (size_t i = 0; i < NFX; i++) {
		long f0 = cnt->fail, p0 = cnt->pass;

		tcase = fxtests[i].name;
		if (!selected(tcase, filter))
			continue;
		if (is_root) {
			if (enter(basefd, tcase, 0755))
				continue;
			fxtests[i].make();
			run_as(U, G, fxtests[i].check);
		} else if (fxfd >= 0 && geteuid() == U) {
			if (fchdir(fxfd) || chdir(tcase)) {
				fail(__LINE__, "no fixture %s/%s: %s", fxdir, tcase,
				     ename(errno));
				continue;
			}
			fxtests[i].check();
		} else {
			skip("needs root or --fixtures as uid 65534");
			continue;
		}
		if (verbose)
			printf("%s %s: %ld passed, %ld failed\n",
			       cnt->fail == f0 ? "ok  " : "FAIL", tcase,
			       cnt->pass - p0, cnt->fail - f0);
	}
	if (fchdir(basefd)) {
		/* nothing left to do there */
	}
	printf("%ld passed, %ld failed\n", cnt->pass, cnt->fail);
	if (cnt->skip)
		printf("# %ld skipped\n", cnt->skip);
	return cnt->fail || !cnt->pass ? 1 : 0;
}
