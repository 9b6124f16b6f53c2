#!/bin/bash
# tests/posix/run.sh LSMFS SUITE MODE: runs the POSIX conformance suite (posix_suite.c)
# against a fresh lsmfs mount (-o allow_other) in a temp dir.
#
#   MODE root    the suite as root; its fx_ tests make their fixtures as root and check
#                them in a child running as uid 65534 (the mount needs allow_other).
#   MODE nobody  root makes the fx_ fixtures (posix_suite --make-fixtures), then the whole
#                suite runs as nobody: setpriv --reuid=65534 --regid=65534 --groups=4242.
#   MODE plain   no mount: both runs above against a directory of the machine's own
#                filesystem under /tmp, to check the suite itself (it must pass there).
#
# After the root and nobody runs, the tree the suite left behind is compared before and
# after a remount (everything it did must have reached the store), its invariants are
# checked (posix_suite --check-tree), every unmount must be clean, and a read-only mount
# must refuse every change with EROFS (posix_suite --check-ro).  The suite's own counts are added to this script's, so the last line,
# "N passed, M failed", covers every assertion.
source "$(dirname "$0")/../integration/lib.sh"

SUITE_SRC=${1:?usage: run.sh LSMFS SUITE root|nobody|plain}
MODE=${2:?usage: run.sh LSMFS SUITE root|nobody|plain}
[[ $MODE == root || $MODE == nobody || $MODE == plain ]] || die "unknown mode $MODE"
((EUID == 0)) || die "run.sh must run as root (it mounts with allow_other and switches users)"

# The unprivileged user must reach the suite binary and the mount point.
chmod 755 "$T_DIR"
SUITE=$T_DIR/posix_suite
cp -- "$SUITE_SRC" "$SUITE" && chmod 755 "$SUITE" || die "cannot copy $SUITE_SRC"
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --groups=4242 --inh-caps=-all)

# run_suite WHAT CMD...: runs the suite, shows its output, adds its counts to ours.
run_suite() {
	local what=$1 out rc line p f
	shift
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed "s/^/[$what] /"
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
		T_PASS=$((T_PASS + p))
		T_FAIL=$((T_FAIL + f))
		note "$what: $p passed, $f failed (exit $rc)"
		((f == 0 && rc == 0)) || not_ok "$what: the suite reported failures (exit $rc)"
	else
		not_ok "$what: no summary line from the suite (exit $rc)" "$(printf '%s\n' "$out" | tail -n 20)"
	fi
}

# prepare DIR: DIR/suite for the run (owned by the user who runs it), DIR/fx for fixtures.
prepare() {
	local d=$1 owner=$2
	mkdir -p "$d/suite" "$d/fx" || die "mkdir in $d"
	chmod 755 "$d" "$d/suite" "$d/fx"
	chown "$owner" "$d/suite" || die "chown $owner $d/suite"
}

run_mode() {   # root|nobody DIR
	local mode=$1 d=$2
	if [[ $mode == root ]]; then
		prepare "$d" root
		run_suite "root" "$SUITE" "$d/suite"
	else
		prepare "$d" 65534:65534
		run_suite "fixtures" "$SUITE" --make-fixtures "$d/fx"
		run_suite "nobody" "${AS_NOBODY[@]}" "$SUITE" --fixtures "$d/fx" "$d/suite"
	fi
}

if [[ $MODE == plain ]]; then
	PLAIN=$T_DIR/plain
	note "checking the suite on $(stat -f -c %T "$T_DIR") at $PLAIN"
	run_mode root "$PLAIN/r"
	run_mode nobody "$PLAIN/n"
	finish
fi

STORE=$T_DIR/store
MNT=$T_DIR/mnt
mkdir -p "$MNT"
mount_lsmfs "$STORE" "$MNT" allow_other
run_mode "$MODE" "$MNT/t"

# inode_listing DIR: every entry's inode number, type and mode, link count, owner, size,
# blocks, rdev, mtime and ctime in ns and its xattr names, one line each in name order:
# what the kernel was told against what the store kept.
inode_listing() {
	py "$1" <<'PYEOF'
import os, stat, sys
root = sys.argv[1]
rows = []
for d, dirs, files in os.walk(root):
    for n in [None] + dirs + files:
        p = d if n is None else os.path.join(d, n)
        if n is None and d != root:
            continue
        st = os.lstat(p)
        f = [repr(os.path.relpath(p, root).encode('utf-8', 'surrogateescape')),
             'ino=%d' % st.st_ino, 'mode=%o' % st.st_mode, 'nlink=%d' % st.st_nlink,
             'uid=%d' % st.st_uid, 'gid=%d' % st.st_gid, 'size=%d' % st.st_size,
             'blocks=%d' % st.st_blocks, 'rdev=%d' % st.st_rdev,
             'mtime=%d' % st.st_mtime_ns, 'ctime=%d' % st.st_ctime_ns]
        try:
            f.append('xattrs=%s' % ','.join(sorted(os.listxattr(p, follow_symlinks=False))))
        except OSError as e:
            f.append('xattr-error=%d' % e.errno)
        rows.append(' '.join(f))
rows.sort()
sys.stdout.write('\n'.join(rows) + '\n')
PYEOF
}

mkdir "$MNT/ro" && assert_true "a small tree for the read-only checks" "$SUITE" --make-ro-tree "$MNT/ro"

# Everything the suite did survives a remount unchanged.
tree_manifest "$MNT/t" >"$T_DIR/before" 2>&1
inode_listing "$MNT/t" >"$T_DIR/before.ino" 2>&1
umount_lsmfs "$MNT" && ok "clean unmount after the suite" || not_ok "clean unmount after the suite"
mount_lsmfs "$STORE" "$MNT" allow_other
tree_manifest "$MNT/t" >"$T_DIR/after" 2>&1
inode_listing "$MNT/t" >"$T_DIR/after.ino" 2>&1
assert_same_files "$T_DIR/before" "$T_DIR/after" "the suite's tree is the same after a remount"
assert_same_files "$T_DIR/before.ino" "$T_DIR/after.ino" \
	"inodes, link counts, blocks and ctimes are the same after a remount"
note "$(wc -l <"$T_DIR/after.ino") entries compared"
assert_true "after the remount: . and .. of every directory, d_ino and d_type of every entry, link counts (posix_suite --check-tree)" \
	"$SUITE" --check-tree "$MNT/t"
umount_lsmfs "$MNT" && ok "clean unmount after the tree checks" || not_ok "clean unmount after the tree checks"

# Read-only: every change is EROFS, reading works.
mount_lsmfs "$STORE" "$MNT" allow_other ro
run_suite "read-only" "$SUITE" --check-ro "$MNT/ro"
umount_lsmfs "$MNT" && ok "clean final unmount" || not_ok "clean final unmount"
finish
