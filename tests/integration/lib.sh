# tests/integration/lib.sh: shared helpers for the lsmfs integration tests.
#
# Each test is `bash tests/integration/t_NAME.sh /path/to/lsmfs`, run by ctest one at a
# time.  A test sources this file first thing; the file takes the lsmfs binary from $1 and
# sets up:
#   - a private temp dir $T_DIR (mktemp -d under /tmp) for stores, mount points, logs;
#   - an EXIT trap that ALWAYS unmounts every mount this test made (kill -9 of its daemon
#     and a lazy unmount as the last resort), kills its watchdog, removes its temp dirs
#     (never while something is still mounted below them) and prints the summary line
#     "N passed, M failed";
#   - a watchdog that, shortly before ctest's 900 s timeout, kills this test's daemons (so
#     that a hung filesystem turns into ENOTCONN instead of a process stuck in the kernel)
#     and then the test, so that the trap still gets to clean up.
# Exit code: 0 when every assertion passed and at least one ran, 1 otherwise.  (ctest does
# not treat 77 as a skip here, so nothing exits 77.)
#
# Mounts:   mount_lsmfs STORE MNT [OPT...]     (OPTs joined with commas into one -o)
#           umount_lsmfs MNT                   (returns non-zero if it needed -z or the
#                                               daemon did not exit, i.e. the store was not
#                                               closed cleanly)
#           remount_lsmfs STORE MNT [OPT...]
#           kill9_lsmfs MNT [PID...]           (kill -9 of the daemon, wait for PIDs, then
#                                               fusermount3 -u)
# Asserts:  ok, not_ok, assert_eq, assert_ne, assert_true, assert_false, assert_match,
#           assert_same_files, assert_tree_same; die (fatal: fail and exit).
# Trees:    tree_stat_listing DIR, tree_manifest DIR, diff_tree A B.
# Misc:     t_time VAR CMD... (elapsed seconds into VAR), note MSG, py (python3 -).
#
# Dry runs only: LSMFS may be any command taking `STORE MNT [-f] [-o OPTS]`, e.g. a wrapper
# around libfuse's example passthrough_ll; nothing here depends on lsmfs beyond that.

set -u -o pipefail
export LC_ALL=C

if [[ $# -lt 1 || -z $1 ]]; then
	echo "usage: bash $0 /path/to/lsmfs" >&2
	exit 2
fi
LSMFS=$(realpath -e -- "$1") || { echo "$0: no such lsmfs binary: $1" >&2; exit 2; }
[[ -x $LSMFS ]] || { echo "$0: not executable: $LSMFS" >&2; exit 2; }
shift
T_NAME=$(basename "$0" .sh)
PY=$(command -v /usr/bin/python3 || command -v python3) || { echo "$0: python3 needed" >&2; exit 2; }

T_PASS=0
T_FAIL=0
T_DONE=0              # set by finish
T_MOUNTS=()           # canonical mount points currently mounted by this test
declare -A T_PID=()   # mount point -> daemon pid
T_TMPDIRS=()
T_WATCHDOG=
T_DEADLINE=${LSMFS_ITEST_DEADLINE:-840}

T_DIR=$(mktemp -d "/tmp/lsmfs-itest-$T_NAME.XXXXXX") || { echo "mktemp failed" >&2; exit 2; }
T_TMPDIRS+=("$T_DIR")
T_PIDFILE=$T_DIR/.daemon-pids
: >"$T_PIDFILE"

# ---------------------------------------------------------------- messages and asserts

note() { printf '# %s\n' "$*"; }

ok() {
	T_PASS=$((T_PASS + 1))
	printf 'ok %d - %s\n' "$((T_PASS + T_FAIL))" "$*"
}

# not_ok MSG [DETAIL...]: record a failure; DETAIL lines go out indented.
not_ok() {
	T_FAIL=$((T_FAIL + 1))
	printf 'FAIL %d - %s\n' "$((T_PASS + T_FAIL))" "$1"
	shift
	local l
	for l in "$@"; do printf '%s\n' "$l" | sed 's/^/    /'; done
}

# die MSG [DETAIL...]: a failure after which the test cannot go on.
die() {
	not_ok "$@"
	exit 1
}

assert_eq() {   # EXPECTED GOT MSG
	if [[ "$1" == "$2" ]]; then ok "$3"; else
		not_ok "$3" "expected: $(printf '%q' "$1")" "got:      $(printf '%q' "$2")"
		return 1
	fi
}

assert_ne() {   # UNEXPECTED GOT MSG
	if [[ "$1" != "$2" ]]; then ok "$3"; else
		not_ok "$3" "expected anything but: $(printf '%q' "$1")"
		return 1
	fi
}

# assert_match ERE STRING MSG: case-insensitive extended-regex match.
assert_match() {
	if printf '%s' "$2" | grep -Eqi -- "$1"; then ok "$3"; else
		not_ok "$3" "expected to match /$1/ (case-insensitive)" "got: $(printf '%q' "$2")"
		return 1
	fi
}

# assert_true MSG CMD...: CMD must exit 0.  Its output is shown only on failure.
assert_true() {
	local msg=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if ((rc == 0)); then ok "$msg"; else
		not_ok "$msg" "command: $(printf '%q ' "$@")" "expected exit 0, got $rc" \
			"$(printf '%s\n' "$out" | head -n 20)"
		return 1
	fi
}

# assert_false MSG CMD...: CMD must exit non-zero.
assert_false() {
	local msg=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if ((rc != 0)); then ok "$msg"; else
		not_ok "$msg" "command: $(printf '%q ' "$@")" "expected a non-zero exit, got 0" \
			"$(printf '%s\n' "$out" | head -n 20)"
		return 1
	fi
}

# assert_same_files EXPECTED_FILE GOT_FILE MSG: byte-identical, else show the diff's head.
assert_same_files() {
	if cmp -s -- "$1" "$2"; then ok "$3"; else
		not_ok "$3" "diff (expected vs got):" "$(diff -- "$1" "$2" | head -n 30 | cut -c 1-300)"
		return 1
	fi
}

# ---------------------------------------------------------------- temp dirs and timing

# t_mktemp: a new temp dir, removed on exit.  Prints its path.
t_mktemp() {
	local d
	d=$(mktemp -d "/tmp/lsmfs-itest-$T_NAME.XXXXXX") || die "mktemp failed"
	T_TMPDIRS+=("$d")
	printf '%s\n' "$d"
}

# t_time VAR CMD...: run CMD; put its wall time in seconds (3 decimals) into VAR.
# Returns CMD's exit code.
t_time() {
	local __var=$1 t0 t1 rc
	shift
	t0=$(date +%s%N)
	"$@"
	rc=$?
	t1=$(date +%s%N)
	printf -v "$__var" '%d.%03d' $(((t1 - t0) / 1000000000)) $((((t1 - t0) / 1000000) % 1000))
	return $rc
}

py() { "$PY" - "$@"; }

# ---------------------------------------------------------------- mounts

# Mount points are compared in /proc/mounts form (space, tab, newline, backslash as \ooo).
mounts_escape() {
	local s=$1
	s=${s//\\/\\134}
	s=${s// /\\040}
	s=${s//$'\t'/\\011}
	s=${s//$'\n'/\\012}
	printf '%s' "$s"
}

is_mounted() {   # MNT (canonical)
	local m
	m=$(mounts_escape "$1")
	awk -v m="$m" '$2 == m { f = 1 } END { exit !f }' /proc/mounts
}

# Any mount at or below DIR?
mounted_below() {
	local m
	m=$(mounts_escape "$1")
	awk -v m="$m" '$2 == m || index($2, m "/") == 1 { f = 1 } END { exit !f }' /proc/mounts
}

canon() { realpath -m -- "$1"; }

# daemon_pid MNT [STORE]: pid of the process serving MNT: one that has /dev/fuse open and
# either has MNT among its arguments or (when STORE is given) a file under STORE open.
# Prints nothing and fails if there is none.
daemon_pid() {
	local mnt=$1 store=${2:+$(canon "$2")} p pid arg fd t fuse found
	local -a argv
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		fuse=0 found=0
		for fd in "$p"/fd/*; do
			t=$(readlink "$fd" 2>/dev/null) || continue
			[[ $t == /dev/fuse ]] && fuse=1
			[[ -n $store && ($t == "$store" || $t == "$store"/*) ]] && found=1
		done
		((fuse)) || continue
		if ((!found)); then
			mapfile -d "" argv 2>/dev/null <"$p/cmdline" || continue
			((${#argv[@]} > 1)) || continue
			for arg in "${argv[@]:1}"; do
				if [[ $arg == "$mnt" ]]; then found=1; break; fi
			done
		fi
		if ((found)); then
			printf '%s\n' "$pid"
			return 0
		fi
	done
	return 1
}

pid_alive() {   # PID: exists and is not a zombie
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

# wait_pid_exit PID SECONDS
wait_pid_exit() {
	local i n=$(($2 * 10))
	for ((i = 0; i < n; i++)); do
		pid_alive "$1" || return 0
		sleep 0.1
	done
	! pid_alive "$1"
}

# wait_mounted MNT SECONDS
wait_mounted() {
	local i n=$(($2 * 10))
	for ((i = 0; i < n; i++)); do
		is_mounted "$1" && return 0
		sleep 0.1
	done
	return 1
}

t_forget_mount() {   # MNT: drop MNT from T_MOUNTS and T_PID
	local m keep=()
	for m in "${T_MOUNTS[@]}"; do [[ $m == "$1" ]] || keep+=("$m"); done
	T_MOUNTS=("${keep[@]}")
	unset 'T_PID[$1]'
}

# t_register_mount MNT [STORE]: after a mount made some other way (mount -t, lsmfs -f),
# remember it and its daemon so that the trap will unmount it.  MNT must be canonical.
t_register_mount() {
	local pid
	T_MOUNTS+=("$1")
	pid=$(daemon_pid "$1" "${2:-}") || pid=
	T_PID[$1]=$pid
	[[ -n $pid ]] && echo "$pid" >>"$T_PIDFILE"
	return 0
}

# mount_lsmfs STORE MNT [OPT...]: "$LSMFS" STORE MNT [-o OPT,OPT...] (it daemonizes), then
# wait up to 10 s for MNT in /proc/mounts.  Fatal on failure: the test cannot go on.
mount_lsmfs() {
	local store=$1 mnt log rc opts
	mnt=$(canon "$2")
	shift 2
	local -a args=("$store" "$mnt")
	if (($#)); then
		opts=$(IFS=,; printf '%s' "$*")
		args+=(-o "$opts")
	fi
	is_mounted "$mnt" && die "mount_lsmfs: $mnt is already mounted"
	log=$T_DIR/.mount.log
	"$LSMFS" "${args[@]}" </dev/null >"$log" 2>&1
	rc=$?
	if ((rc != 0)); then
		die "mount_lsmfs: $(printf '%q ' "$LSMFS" "${args[@]}") exited $rc" "$(head -n 20 "$log")"
	fi
	if ! wait_mounted "$mnt" 10; then
		die "mount_lsmfs: $mnt not in /proc/mounts 10 s after lsmfs returned" "$(head -n 20 "$log")"
	fi
	t_register_mount "$mnt" "$store"
	[[ -n ${T_PID[$mnt]} ]] || note "mount_lsmfs: warning: no daemon process found for $mnt"
	return 0
}

# umount_lsmfs MNT: fusermount3 -u (retried for up to ~10 s while busy), -z as the last
# resort, then wait up to 120 s for the daemon to exit (so its store is closed).
# Returns 0 only for a clean unmount with the daemon gone.
umount_lsmfs() {
	local mnt pid i rc=0 err
	mnt=$(canon "$1")
	pid=${T_PID[$mnt]:-}
	[[ -z $pid ]] && pid=$(daemon_pid "$mnt")
	for ((i = 0; i < 40; i++)); do
		is_mounted "$mnt" || break
		err=$(fusermount3 -u -- "$mnt" 2>&1) && break
		sleep 0.25
	done
	if is_mounted "$mnt"; then
		note "umount_lsmfs: fusermount3 -u $mnt keeps failing (${err:-?}); lazy unmount"
		fusermount3 -u -z -- "$mnt" 2>/dev/null || umount -l -- "$mnt" 2>/dev/null
		rc=1
	fi
	if [[ -n $pid ]] && ! wait_pid_exit "$pid" 120; then
		note "umount_lsmfs: daemon $pid for $mnt still running 120 s after unmount; kill -9"
		kill -9 "$pid" 2>/dev/null
		wait_pid_exit "$pid" 10
		rc=1
	fi
	t_forget_mount "$mnt"
	return $rc
}

remount_lsmfs() {   # STORE MNT [OPT...]
	umount_lsmfs "$2" || not_ok "clean unmount of $2 before remount"
	mount_lsmfs "$@"
}

# kill9_lsmfs MNT [PID...]: kill -9 the daemon serving MNT, wait for it to die, wait (up
# to 30 s) for the given processes that were using the mount to exit (they get ENOTCONN),
# then fusermount3 -u.
kill9_lsmfs() {
	local mnt pid i p
	mnt=$(canon "$1")
	shift
	pid=$(daemon_pid "$mnt") || pid=${T_PID[$mnt]:-}
	[[ -n $pid ]] || { not_ok "kill9_lsmfs: no daemon found for $mnt"; return 1; }
	kill -9 "$pid" 2>/dev/null
	wait_pid_exit "$pid" 20 || { not_ok "kill9_lsmfs: daemon $pid did not die"; return 1; }
	for p in "$@"; do
		wait_pid_exit "$p" 30 || note "kill9_lsmfs: process $p still running 30 s after the kill"
	done
	for ((i = 0; i < 40; i++)); do
		is_mounted "$mnt" || break
		fusermount3 -u -- "$mnt" 2>/dev/null && break
		sleep 0.25
	done
	is_mounted "$mnt" && fusermount3 -u -z -- "$mnt" 2>/dev/null
	t_forget_mount "$mnt"
	return 0
}

# ---------------------------------------------------------------- trees

# tree_stat_listing DIR: the brief's stat line of every entry under DIR, in name order,
# names relative to DIR.  Directory sizes differ between filesystems, so directories get
# the line without %s; rsync and tar do not keep the mtime of FIFOs and device nodes, so
# those get it without %Y.
tree_stat_listing() {
	(
		cd -- "$1" || exit 1
		find . ! -type d ! -type p ! -type c ! -type b ! -type s -print0 | sort -z |
			xargs -0r stat -c '%n %a %s %Y %u %g %F %h' &&
			find . \( -type p -o -type c -o -type b -o -type s \) -print0 | sort -z |
			xargs -0r stat -c '%n %a %s - %u %g %F %h %t:%T' &&
			find . -type d -print0 | sort -z | xargs -0r stat -c '%n %a - %Y %u %g %F %h'
	)
}

# tree_mtime_ns DIR: name and mtime with nanoseconds of every entry but special files.
tree_mtime_ns() {
	(cd -- "$1" && find . ! -type p ! -type c ! -type b ! -type s -print0 | sort -z | xargs -0r stat -c '%n %.9Y')
}

# tree_manifest DIR: one line per entry (name in Python repr, so newlines are safe) with
# type, mode, uid, gid, size (not for dirs), mtime_ns (not for special files), nlink, symlink target, user.*
# xattrs, sha256 of regular files, and the hard-link group (the first name of the inode,
# so that the partition into hard-link groups is compared, not inode numbers).
tree_manifest() {
	py "$1" <<'EOF'
import errno, hashlib, os, stat, sys
root = sys.argv[1]
ents = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        ents.append(os.path.relpath(os.path.join(d, n), root).encode('utf-8', 'surrogateescape'))
ents.append(b'.')
ents.sort()
first = {}
for rel in ents:
    p = os.path.join(root.encode(), rel)
    st = os.lstat(p)
    if not stat.S_ISDIR(st.st_mode):
        first.setdefault((st.st_dev, st.st_ino), rel)
out = []
for rel in ents:
    p = os.path.join(root.encode(), rel)
    st = os.lstat(p)
    m = st.st_mode
    special = stat.S_ISFIFO(m) or stat.S_ISCHR(m) or stat.S_ISBLK(m) or stat.S_ISSOCK(m)
    f = [repr(rel), 'mode=%o' % m, 'uid=%d' % st.st_uid, 'gid=%d' % st.st_gid,
         'mtime=%s' % ('-' if special else st.st_mtime_ns), 'nlink=%d' % st.st_nlink]
    if not stat.S_ISDIR(m):
        f.append('size=%d' % st.st_size)
        f.append('group=%r' % first[(st.st_dev, st.st_ino)])
    if stat.S_ISLNK(m):
        f.append('target=%r' % os.readlink(p))
    if stat.S_ISCHR(m) or stat.S_ISBLK(m):
        f.append('rdev=%d,%d' % (os.major(st.st_rdev), os.minor(st.st_rdev)))
    if stat.S_ISREG(m):
        h = hashlib.sha256()
        with open(p, 'rb') as fh:
            for b in iter(lambda: fh.read(1 << 20), b''):
                h.update(b)
        f.append('sha256=' + h.hexdigest())
    if not stat.S_ISLNK(m):
        try:
            xs = sorted(x for x in os.listxattr(p, follow_symlinks=False) if x.startswith('user.'))
            for x in xs:
                f.append('xattr:%s=%r' % (x, os.getxattr(p, x, follow_symlinks=False)))
        except OSError as e:
            f.append('xattr-error=%s' % errno.errorcode.get(e.errno, e.errno))
    out.append(' '.join(f))
sys.stdout.write('\n'.join(out) + '\n')
EOF
}

# diff_tree A B: diff -r --no-dereference, except that diff's complaint about two special
# files of the same type ("File a is a fifo while file b is a fifo") is not a difference.
diff_tree() {
	local out rc
	out=$(diff -r --no-dereference -- "$1" "$2" 2>&1)
	rc=$?
	((rc == 0)) && return 0
	out=$(printf '%s\n' "$out" | grep -Ev '^File .* is a (fifo|socket|character special file|block special file) while file .* is a \1$')
	[[ -z $out ]] && return 0
	printf '%s\n' "$out" | head -n 30
	return 1
}

# assert_tree_same A B MSG: diff_tree, stat listings and manifests all equal.
assert_tree_same() {
	local a=$1 b=$2 msg=$3 out
	if out=$(diff_tree "$a" "$b"); then ok "$msg: diff -r"; else not_ok "$msg: diff -r" "$out"; fi
	tree_stat_listing "$a" >"$T_DIR/.la" 2>&1
	tree_stat_listing "$b" >"$T_DIR/.lb" 2>&1
	assert_same_files "$T_DIR/.la" "$T_DIR/.lb" "$msg: stat listing (mode size mtime owner type nlink)"
	tree_manifest "$a" >"$T_DIR/.ma" 2>&1
	tree_manifest "$b" >"$T_DIR/.mb" 2>&1
	assert_same_files "$T_DIR/.ma" "$T_DIR/.mb" "$msg: manifest (content, mtime ns, hard links, xattrs, symlinks)"
}

# make_odd_tree DIR: a tree with everything a backup must keep: hard links (3-way, 2-way,
# empty), symlinks (relative, absolute, dangling, to a dir, long target), user.* xattrs
# (empty, binary, on a dir, 2000 bytes, 200-byte name), sparse files, empty files and dirs,
# odd names (spaces, newline, tab, 255 bytes, 255 bytes of UTF-8, glob characters), a FIFO,
# a device node when mknod is allowed, setuid/sticky/000 modes, other owners, and fixed
# times with nanoseconds (symlinks' and dirs' included).  Runs in a subshell with set -e:
# call it as a command of its own and test $? after it (in an || list set -e is off).
make_odd_tree() (
	s=$1
	set -e
	mkdir -p "$s"
	mkdir -p "$s/dir1/sub/deeper" "$s/dir2" "$s/emptydir" "$s/dir with spaces"
	printf 'hello\n' >"$s/plain.txt"
	head -c 300000 /dev/urandom >"$s/dir1/random.bin"
	head -c 2000000 /dev/urandom >"$s/dir1/sub/deeper/two_megs.bin"
	seq 1 20000 >"$s/dir with spaces/numbers.txt"

	# Hard links: a group of three across directories, a group of two, a linked empty file.
	printf 'linked data\n' >"$s/hl_a"
	ln "$s/hl_a" "$s/dir1/hl_b"
	ln "$s/hl_a" "$s/dir2/hl_c"
	head -c 100000 /dev/urandom >"$s/dir1/sub/big_hl"
	ln "$s/dir1/sub/big_hl" "$s/big_hl2"
	: >"$s/empty_hl"
	ln "$s/empty_hl" "$s/dir2/empty_hl2"

	# Symlinks: relative, absolute, dangling, to a directory, upward, long target.
	ln -s plain.txt "$s/rel_link"
	ln -s /etc/hostname "$s/abs_link"
	ln -s does/not/exist "$s/dangling"
	ln -s dir1 "$s/dir_link"
	ln -s ../plain.txt "$s/dir2/up_link"
	ln -s "$(printf 'long/%.0s' {1..300})end" "$s/long_target"

	# Extended attributes: text, empty, binary, on a directory, on a hard link, a big one.
	setfattr -n user.color -v blue "$s/plain.txt"
	setfattr -n user.empty "$s/plain.txt"
	setfattr -n user.bin -v 0x00ff10ee00 "$s/dir1/random.bin"
	setfattr -n user.dir -v yes "$s/dir1"
	setfattr -n user.linked -v shared "$s/hl_a"
	setfattr -n user.big -v "0x$(head -c 2000 /dev/urandom | od -An -v -tx1 | tr -d " \n")" "$s/dir2"
	setfattr -n "user.$(printf 'n%.0s' {1..200})" -v longname "$s/emptydir"

	# Sparse files: all hole; data in the middle then a hole to the end; holes around data.
	truncate -s 64M "$s/sparse_empty"
	dd if=/dev/urandom of="$s/sparse_mid" bs=64K count=1 seek=512 conv=notrunc status=none
	truncate -s 48M "$s/sparse_mid"
	printf 'start' >"$s/sparse_ends"
	dd if=/dev/urandom of="$s/sparse_ends" bs=4096 count=3 seek=5000 conv=notrunc status=none

	# Empty files and an empty directory (above).
	: >"$s/empty"
	: >"$s/dir2/empty2"

	# Odd names.
	n255=$(printf 'x%.0s' {1..255})
	u255=$(printf '日%.0s' {1..85})   # 85 x 3 bytes = 255 bytes of UTF-8
	printf 'space\n' >"$s/with space"
	printf 'newline\n' >"$s/new"$'\n'"line"
	printf 'tab\n' >"$s/tab"$'\t'"here"
	printf '255\n' >"$s/$n255"
	printf 'u255\n' >"$s/dir1/$u255"
	mkdir "$s/dir2/$n255"
	printf 'deep\n' >"$s/dir2/$n255/$n255"
	printf 'utf8\n' >"$s/héllo wörld — 日本語 ✓.txt"
	printf 'dash\n' >"$s/-leading-dash"
	printf 'lead\n' >"$s/ leading space"
	printf 'trail\n' >"$s/trailing space "
	printf 'glob\n' >"$s/*?[glob] \\back\\slash 'q\" \$x"
	printf 'dot\n' >"$s/..dotdot"
	printf 'hidden\n' >"$s/.hidden"

	# Special files (rsync -a includes -D).
	mkfifo "$s/fifo"
	mknod "$s/dir1/null_dev" c 1 3 2>/dev/null || true

	# Modes and owners.
	chmod 600 "$s/plain.txt"
	chmod 4755 "$s/dir1/random.bin"
	chmod 000 "$s/dir2/empty2"
	chmod 1777 "$s/dir2"
	chmod 700 "$s/dir1/sub"
	chown 1234:5678 "$s/with space"
	chown 4321:8765 "$s/dir with spaces"
	chown -h 42:43 "$s/rel_link"

	# Times: fixed with nanoseconds on files and symlinks; directories last.
	touch -d '2001-02-03 04:05:06.123456789' "$s/plain.txt" "$s/$n255" "$s/sparse_mid"
	# (rsync does not set a symlink's time when it is in the same second as the source's.)
	find "$s" -type l -exec touch -h -d '2005-05-05 05:05:05.555' {} +
	touch -h -d '1999-12-31 23:59:59.5' "$s/rel_link" "$s/dangling"
	touch -d '1970-01-02 00:00:00' "$s/empty"
	touch -d '2038-01-19 03:14:08' "$s/dir1/sub/big_hl"
	find "$s" -depth -type d -exec touch -d '2010-10-10 10:10:10.101010101' {} +
)

# ---------------------------------------------------------------- watchdog and cleanup

t_watchdog_start() {
	local me=$$
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "$T_DEADLINE" &
		s=$!
		wait "$s"
		echo "WATCHDOG: $T_NAME still running after $T_DEADLINE s; killing its lsmfs daemons and the test" >&2
		while read -r p; do kill -9 "$p" 2>/dev/null; done <"$T_PIDFILE"
		sleep 2
		kill -TERM "$me" 2>/dev/null
	) &
	T_WATCHDOG=$!
}

t_cleanup() {
	local rc=$? m d i
	trap - EXIT INT TERM
	cd / || true
	if [[ -n $T_WATCHDOG ]]; then
		kill -TERM "$T_WATCHDOG" 2>/dev/null
		wait "$T_WATCHDOG" 2>/dev/null
	fi
	for ((i = ${#T_MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${T_MOUNTS[i]}
		note "cleanup: unmounting $m"
		umount_lsmfs "$m" || note "cleanup: unmount of $m was not clean"
	done
	# Mounts made outside mount_lsmfs (a test that failed half-way through mount -t ...).
	for d in "${T_TMPDIRS[@]}"; do
		while mounted_below "$d"; do
			m=$(awk -v m="$(mounts_escape "$d")" '$2 == m || index($2, m "/") == 1 { print $2 }' /proc/mounts | tail -n 1)
			m=$(printf '%b' "${m//\\/\\0}")
			note "cleanup: stray mount $m"
			pid=$(daemon_pid "$m") && kill -9 "$pid" 2>/dev/null
			fusermount3 -u -z -- "$m" 2>/dev/null || umount -l -- "$m" 2>/dev/null || break
		done
	done
	for d in "${T_TMPDIRS[@]}"; do
		if mounted_below "$d"; then
			note "cleanup: NOT removing $d: something is still mounted below it"
		else
			rm -rf -- "$d"
		fi
	done
	if ((T_DONE == 0)); then
		((rc == 0)) && rc=1
		note "$T_NAME ended early (exit $rc)"
	fi
	((T_FAIL > 0)) && rc=1
	((T_PASS == 0)) && rc=1
	printf '%d passed, %d failed\n' "$T_PASS" "$T_FAIL"
	exit $rc
}

# finish: the end of a test.  The summary is printed by the trap.
finish() {
	T_DONE=1
	exit 0
}

trap t_cleanup EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated"; exit 143' TERM
t_watchdog_start
note "$T_NAME: lsmfs=$LSMFS tmp=$T_DIR"
