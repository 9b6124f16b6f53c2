/*
 * main.c — the lsmfs command.
 *
 *   lsmfs STORE MOUNTPOINT [-f] [-d] [-o OPTIONS]
 *
 * Opens (creating when missing or empty) the store in STORE and mounts it
 * on MOUNTPOINT.  Without -f it forks first and the parent waits until
 * the child has opened the store and mounted (or failed), so every error
 * reaches the terminal with a non-zero exit; the store's threads are only
 * started in the child.  The session loop ends on `fusermount3 -u` (or a
 * signal); the store is then closed, which syncs it.  `mount -t
 * fuse.lsmfs STORE MNT -o OPTS` runs `lsmfs STORE MNT -o OPTS` through
 * mount.fuse3.
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#include <fuse_opt.h>

#include "fs.h"

#define LSMFS_VERSION "0.1"
#define FS_WORKERS 4 /* threads for fsync and large reads (ops.c) */
#define FS_CACHE_TIMEOUT 86400.0 /* s: kernel's entry and attribute cache */
/* The kernel's readahead for the mount, in KiB.  FUSE offers the
 * filesystem at most the device default (128 KiB) at INIT, so a cold
 * sequential read came as 128 KiB requests; with 4 MiB the kernel sends
 * 1 MiB requests (max_write's 256 pages), several at once, and the
 * workers serve them in parallel (1 GiB cold: ~500 -> ~750 MiB/s, daemon
 * CPU 1.06 -> 0.90 s).  Set through sysfs after the mount (root only;
 * otherwise the kernel's default stays). */
#define FS_READAHEAD_KB_DEFAULT 4096

struct opts {
	char *store, *mnt;
	char *write_buffer, *chunk_size, *sync, *readahead;
	int help, version, foreground, debug, ro, salvage, error;
	int nonopts;
};

enum { KEY_HELP, KEY_VERSION, KEY_FG, KEY_DEBUG, KEY_SINGLE };

#define OPT(t, f) { t, offsetof(struct opts, f), 0 }
static const struct fuse_opt opt_spec[] = {
	OPT("write_buffer=%s", write_buffer),
	OPT("chunk_size=%s", chunk_size),
	OPT("sync=%s", sync),
	OPT("readahead=%s", readahead),
	{ "salvage", offsetof(struct opts, salvage), 1 },
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FG),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-s", KEY_SINGLE),
	FUSE_OPT_END
};

/* Mount options passed on to libfuse as they are. */
static const char *const pass_opts[] = {
	"allow_other", "allow_root", "auto_unmount", "ro", "rw", "suid",
	"nosuid", "dev", "nodev", "exec", "noexec", "async", "sync", "atime",
	"noatime", "diratime", "nodiratime", "relatime", "norelatime",
	"strictatime", "nostrictatime", "lazytime", "nolazytime", "dirsync",
	"default_permissions", NULL
};
static const char *const pass_prefixes[] = {
	"fsname=", "subtype=", "max_read=", "blksize=", "context=",
	"fscontext=", "defcontext=", "rootcontext=", NULL
};
/* Options of mount(8)/fstab that mean nothing here. */
static const char *const drop_opts[] = {
	"nofail", "_netdev", "noauto", "auto", "user", "users", "nouser",
	"defaults", "owner", "group", NULL
};

static bool in_list(const char *s, const char *const *list, bool prefix)
{
	for (; *list; list++)
		if (prefix ? !strncmp(s, *list, strlen(*list)) : !strcmp(s, *list))
			return true;
	return false;
}

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct opts *o = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		o->help = 1;
		return 0;
	case KEY_VERSION:
		o->version = 1;
		return 0;
	case KEY_FG:
		o->foreground = 1;
		return 0;
	case KEY_DEBUG:
		o->debug = o->foreground = 1;
		return 0;
	case KEY_SINGLE:
		return 0; /* accepted for compatibility; always threaded */
	case FUSE_OPT_KEY_NONOPT:
		if (o->nonopts == 0)
			o->store = strdup(arg);
		else if (o->nonopts == 1)
			o->mnt = strdup(arg);
		else if (!o->error) {
			fprintf(stderr, "lsmfs: unexpected argument: %s\n", arg);
			o->error = 1;
		}
		o->nonopts++;
		return 0;
	case FUSE_OPT_KEY_OPT:
		if (arg[0] != '-') {
			if (!strcmp(arg, "ro"))
				o->ro = 1;
			if (in_list(arg, pass_opts, false) ||
			    in_list(arg, pass_prefixes, true))
				return 1;
			if (in_list(arg, drop_opts, false) ||
			    !strncmp(arg, "x-", 2) || !strncmp(arg, "comment=", 8))
				return 0;
		}
		if (!o->error)
			fprintf(stderr, "lsmfs: unknown option: %s\n", arg);
		o->error = 1;
		return 0;
	}
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: lsmfs STORE MOUNTPOINT [-f] [-d] [-o OPTION[,OPTION...]]\n"
"       lsmfs fsck STORE [--repair]\n"
"       lsmfs scrub STORE\n"
"\n"
"Mounts the lsm store in directory STORE (created when missing or empty)\n"
"on MOUNTPOINT.  Unmount with: fusermount3 -u MOUNTPOINT\n"
"fsck checks an unmounted store: every checksum, then the filesystem's\n"
"invariants; --repair fixes what needs no guess (unlinked inodes go to\n"
"/lost+found as #INO).  Exit 0 clean, 1 fixed, 4 errors left, 8 failure.\n"
"scrub verifies every checksum, also while the store is mounted (exit 0\n"
"clean, 4 damage, 8 failure).  A store named fsck or scrub: write ./fsck.\n"
"\n"
"  -f                     stay in the foreground\n"
"  -d                     debug output (implies -f)\n"
"  -h, --help             this help\n"
"  -V, --version          print the version\n"
"  -o write_buffer=SIZE   memtable size of the store (default 64M, less\n"
"                         on a disk under 1G or a machine under 2G)\n"
"  -o chunk_size=SIZE     data chunk size, only when creating (default 64K)\n"
"  -o sync=MODE           none: fsync does not sync the store;\n"
"                         fsync: fsync syncs it (default);\n"
"                         always: every change is synced before the reply\n"
"  -o readahead=SIZE      the kernel's readahead for the mount (default\n"
"                         4M; 0 keeps the kernel's; needs root)\n"
"  -o allow_other         let other users access the mount\n"
"  -o ro                  mount read-only; a store that fsck finds damaged\n"
"                         still mounts so: damaged files give EIO, the\n"
"                         rest can be copied out\n"
"  -o ro,salvage          also open past a damaged log record, dropping\n"
"                         that log from the damage on (as fsck --repair)\n"
"  -o OPTION              standard mount options (nosuid, nodev, noexec,\n"
"                         noatime, fsname=, auto_unmount, ...)\n"
"SIZE takes a K, M or G suffix (powers of 1024).\n");
}

/* "64K", "4M", "1048576" -> bytes; 0 on error. */
static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	return *end ? 0 : v;
}

/* -o readahead in KiB (0: leave the kernel's); main.c's own setting, no
 * part of the store's configuration. */
static unsigned cfg_readahead_kb;

/* Checks the options; fills cfg.  Prints one line and returns -1 on error. */
static int make_config(struct opts *o, struct fs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sync = FS_SYNC_FSYNC;
	cfg->ro = o->ro;
	cfg->salvage = o->salvage;
	if (o->salvage && !o->ro) {
		fprintf(stderr, "lsmfs: -o salvage needs -o ro\n");
		return -1;
	}
	/* Every change reaches the store through this mount and the kernel
	 * sees it (the one exception, a mode set through an ACL xattr, is
	 * invalidated by ops.c), so the kernel may keep names, absent names
	 * and attributes as long as it likes: a day, as passthrough_ll with
	 * cache=always.  A second rsync of a tree then makes no round trip. */
	cfg->entry_timeout = FS_CACHE_TIMEOUT;
	cfg->attr_timeout = FS_CACHE_TIMEOUT;
	if (o->write_buffer) {
		uint64_t v = parse_size(o->write_buffer);

		if (v < 64 * 1024 || v > (1ull << 32)) {
			fprintf(stderr, "lsmfs: bad write_buffer size: %s "
				"(64K..4G)\n", o->write_buffer);
			return -1;
		}
		cfg->write_buffer_size = (size_t)v;
	}
	if (o->chunk_size) {
		uint64_t v = parse_size(o->chunk_size);

		if (v < FS_CHUNK_MIN || v > FS_CHUNK_MAX || v % 4096) {
			fprintf(stderr, "lsmfs: bad chunk_size: %s (4K..4M, a "
				"multiple of 4K)\n", o->chunk_size);
			return -1;
		}
		cfg->chunk_size = (uint32_t)v;
	}
	cfg_readahead_kb = FS_READAHEAD_KB_DEFAULT;
	if (o->readahead) {
		uint64_t v = parse_size(o->readahead);

		if ((v == 0 && strcmp(o->readahead, "0")) || v > (1ull << 30)) {
			fprintf(stderr, "lsmfs: bad readahead size: %s (0..1G)\n",
				o->readahead);
			return -1;
		}
		cfg_readahead_kb = (unsigned)(v / 1024);
	}
	if (o->sync) {
		if (!strcmp(o->sync, "none"))
			cfg->sync = FS_SYNC_NONE;
		else if (!strcmp(o->sync, "fsync"))
			cfg->sync = FS_SYNC_FSYNC;
		else if (!strcmp(o->sync, "always"))
			cfg->sync = FS_SYNC_ALWAYS;
		else {
			fprintf(stderr, "lsmfs: bad sync mode: %s (none, fsync "
				"or always)\n", o->sync);
			return -1;
		}
	}
	return 0;
}

/* An absolute path for a store that may not exist yet (its parent must). */
static char *abs_store(const char *path)
{
	char *p = strdup(path), *r = NULL, *dir = NULL, *rd = NULL, *slash;
	size_t n;

	if (!p)
		return NULL;
	n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = 0;
	if ((r = realpath(p, NULL)) || errno != ENOENT)
		goto out;
	slash = strrchr(p, '/');
	dir = slash ? strndup(p, (size_t)(slash - p) + (slash == p)) : strdup(".");
	if (dir && (rd = realpath(dir, NULL)) &&
	    asprintf(&r, "%s/%s", strcmp(rd, "/") ? rd : "", slash ? slash + 1 : p) < 0)
		r = NULL;
out:
	free(rd);
	free(dir);
	free(p);
	return r;
}

/* Checks the mount point; prints one line and returns NULL on error. */
static char *check_mnt(const char *mnt)
{
	struct stat st;
	char *r;

	if (stat(mnt, &st)) {
		fprintf(stderr, "lsmfs: mount point %s: %s\n", mnt,
			errno == ENOENT ? "does not exist" : strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "lsmfs: mount point %s is not a directory\n", mnt);
		return NULL;
	}
	if (!(r = realpath(mnt, NULL)))
		fprintf(stderr, "lsmfs: mount point %s: %s\n", mnt, strerror(errno));
	return r;
}

/*
 * Forks: the parent waits for one status byte from the child (0: mounted)
 * and exits with it; the child returns the write end of the pipe.
 */
static int daemon_start(void)
{
	int fds[2];
	pid_t pid;
	unsigned char st = 1;

	if (pipe(fds)) {
		fprintf(stderr, "lsmfs: pipe: %s\n", strerror(errno));
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "lsmfs: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &st, 1) != 1) {
			int ws;

			waitpid(pid, &ws, 0);
			st = 1;
		}
		_exit(st);
	}
	close(fds[0]);
	setsid();
	return fds[1];
}

static void daemon_ready(int fd, unsigned char status)
{
	int null;

	if (fd < 0)
		return;
	if (write(fd, &status, 1) != 1) {
		/* the parent is gone: nothing to tell */
	}
	close(fd);
	if (status == 0 && (null = open("/dev/null", O_RDWR)) >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
}

/* Mount options for libfuse beyond the user's. */
static int add_fixed_opts(struct fuse_args *args, const char *store, int debug)
{
	char *o = NULL, *fsname = NULL;
	int rc = -1;

	if (asprintf(&fsname, "fsname=%s", store) < 0)
		return -1;
	if (fuse_opt_add_opt(&o, "default_permissions") ||
	    fuse_opt_add_opt(&o, "subtype=lsmfs") ||
	    fuse_opt_add_opt_escaped(&o, fsname))
		goto out;
	if (fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, o))
		goto out;
	if (debug && fuse_opt_add_arg(args, "-d"))
		goto out;
	rc = 0;
out:
	free(o);
	free(fsname);
	return rc;
}

/*
 * Sets the readahead of the mount on mnt (cfg_readahead_kb) through
 * /sys/class/bdi/MAJ:MIN/read_ahead_kb, the device number read from
 * /proc/self/mountinfo (a stat of mnt would ask this very daemon, whose
 * loop has not started).  Best effort: without root it stays as it is.
 */
static void set_readahead(const char *mnt)
{
	char line[8192], dev[32] = "", path[96];
	FILE *f;

	if (!cfg_readahead_kb || !(f = fopen("/proc/self/mountinfo", "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char d[32], m[4096];

		/* id parent MAJ:MIN root mountpoint ...; the last line for
		 * mnt is the newest mount (names with spaces are escaped,
		 * and are then left alone). */
		if (sscanf(line, "%*s %*s %31s %*s %4095s", d, m) == 2 &&
		    !strcmp(m, mnt))
			memcpy(dev, d, sizeof(dev));
	}
	fclose(f);
	if (!dev[0])
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	if ((f = fopen(path, "w"))) {
		fprintf(f, "%u\n", cfg_readahead_kb);
		fclose(f);
	}
}

/* Runs the mounted session until unmount; returns the exit status. */
static int serve(struct fs *fs, struct fuse_args *args, const char *mnt,
		 int ready_fd)
{
	struct fuse_session *se = NULL;
	int rc = 1;

	if (!(se = fuse_session_new(args, &fs_ops, sizeof(fs_ops), fs))) {
		fprintf(stderr, "lsmfs: cannot start a FUSE session\n");
		goto out;
	}
	if (fuse_set_signal_handlers(se)) {
		fprintf(stderr, "lsmfs: cannot set signal handlers\n");
		goto out;
	}
	if (fuse_session_mount(se, mnt)) {
		fprintf(stderr, "lsmfs: cannot mount on %s\n", mnt);
		goto out_signals;
	}
	fs->se = se;
	set_readahead(mnt);
	daemon_ready(ready_fd, 0);
	ready_fd = -1;
	if (chdir("/")) {
		/* harmless */
	}
	if (fs_ops_start(fs, FS_WORKERS)) {
		fprintf(stderr, "lsmfs: cannot start worker threads\n");
	} else {
		/* libfuse's multithreaded loop: on an idle 2-CPU machine it
		 * creates 4,400-5,000 files/s (fs_mark) against 3,200-3,400
		 * for one thread running every request inline. */
		struct fuse_loop_config lc = {.clone_fd = 0, .max_idle_threads = 16};

		rc = fuse_session_loop_mt(se, &lc) ? 1 : 0;
		fs_ops_stop(fs);
	}
	fuse_session_unmount(se);
	fs->se = NULL;
out_signals:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	daemon_ready(ready_fd, 1);
	return rc;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct opts o = {0};
	struct fs_config cfg;
	struct fs *fs = NULL;
	char *store = NULL, *mnt = NULL, msg[512];
	int rc = 1, ready_fd = -1, orc;

	if (argc >= 2 && (!strcmp(argv[1], "fsck") || !strcmp(argv[1], "scrub")))
		return fs_fsck_main(argc - 1, argv + 1);
	if (fuse_opt_parse(&args, &o, opt_spec, opt_proc) == -1 || o.error)
		goto out;
	if (o.help) {
		usage(stdout);
		rc = 0;
		goto out;
	}
	if (o.version) {
		printf("lsmfs %s (FUSE library %s, format %d)\n", LSMFS_VERSION,
		       fuse_pkgversion(), FS_FORMAT_VERSION);
		rc = 0;
		goto out;
	}
	if (!o.store) {
		fprintf(stderr, "lsmfs: missing store directory and mount point "
			"(try lsmfs --help)\n");
		goto out;
	}
	if (!o.mnt) {
		fprintf(stderr, "lsmfs: missing mount point (try lsmfs --help)\n");
		goto out;
	}
	if (make_config(&o, &cfg))
		goto out;
	if (!(mnt = check_mnt(o.mnt)))
		goto out;
	if (!(store = abs_store(o.store))) {
		fprintf(stderr, "lsmfs: store %s: %s\n", o.store, strerror(errno));
		goto out;
	}
	cfg.store = store;
	if (access("/dev/fuse", R_OK | W_OK)) {
		fprintf(stderr, "lsmfs: /dev/fuse: %s (is the fuse module "
			"loaded?)\n", strerror(errno));
		goto out;
	}
	if (add_fixed_opts(&args, store, o.debug)) {
		fprintf(stderr, "lsmfs: out of memory\n");
		goto out;
	}
	if (!o.foreground)
		ready_fd = daemon_start();
	/* One malloc arena: a memtable is allocated by whichever FUSE
	 * thread leads the store's write queue and freed by the flush
	 * thread, and per-thread arenas would each keep a memtable's worth
	 * of freed memory (a 4 GiB copy peaked at 285 MiB of RSS with them,
	 * 139 MiB without). */
	mallopt(M_ARENA_MAX, 1);
	if (fs_faultmode_start(&cfg)) { /* tests only; see faultmode.c */
		daemon_ready(ready_fd, 1);
		goto out;
	}
	if ((orc = fs_open(&cfg, &fs, msg, sizeof(msg)))) {
		fprintf(stderr, "lsmfs: %s\n", msg);
		if (orc == FS_OPEN_CORRUPT && !cfg.salvage && strstr(msg, ".log:"))
			fprintf(stderr, "lsmfs: lsmfs fsck %s tells more; -o "
				"ro,salvage mounts it, dropping the damaged log "
				"from the damage on\n", o.store);
		daemon_ready(ready_fd, 1);
		goto out;
	}
	rc = serve(fs, &args, mnt, ready_fd);
	if (fs_close(fs) && rc == 0)
		rc = 1;
out:
	fuse_opt_free_args(&args);
	free(o.store);
	free(o.mnt);
	free(o.write_buffer);
	free(o.chunk_size);
	free(o.sync);
	free(o.readahead);
	free(store);
	free(mnt);
	return rc;
}
