#!/bin/bash
# The lsmfs command: every bad input gets a one-line "lsmfs: ..." on stderr and a non-zero
# exit, and nothing is mounted; --help and --version exit 0; -f stays in the foreground;
# a missing or empty STORE is created; relative paths work; -o allow_other; and
# `mount -t fuse.lsmfs STORE MNT` works with lsmfs on PATH.
source "$(dirname "$0")/lib.sh"

MNT=$T_DIR/mnt
mkdir -p "$MNT"

# bad_input MSG ERE ARG...: lsmfs ARG... must exit non-zero within 30 s with exactly one
# line on stderr, starting "lsmfs: " and matching ERE (case-insensitive), and mount nothing.
bad_input() {
	local msg=$1 re=$2 rc err nl before after
	shift 2
	before=$(mounts_below_list)
	timeout 30 "$LSMFS" "$@" </dev/null >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	err=$(cat "$T_DIR/err")
	nl=$(grep -c '' "$T_DIR/err")
	if ((rc == 124)); then
		not_ok "$msg: exits non-zero" "lsmfs $* was still running after 30 s (timeout killed it)"
	elif ((rc == 0)); then
		not_ok "$msg: exits non-zero" "command: lsmfs $*" "expected a non-zero exit, got 0"
	else
		ok "$msg: exits non-zero ($rc)"
	fi
	if [[ $nl == 1 && $err == lsmfs:\ * ]]; then
		ok "$msg: one line \"lsmfs: ...\" on stderr"
	else
		not_ok "$msg: one line \"lsmfs: ...\" on stderr" "got $nl lines:" "$(head -n 5 "$T_DIR/err")"
	fi
	assert_match "$re" "$err" "$msg: the message says /$re/"
	after=$(mounts_below_list)
	if [[ $before != "$after" ]]; then
		not_ok "$msg: nothing was mounted" "mounts below $T_DIR before: ${before:-none}" "after: $after"
		local m
		for m in $after; do
			[[ $before == *"$m"* ]] && continue
			t_register_mount "$m"
			umount_lsmfs "$m"
		done
	fi
}

mounts_below_list() {
	awk -v d="$T_DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort
}

# ---------------------------------------------------------------- --help, --version
out=$("$LSMFS" --help 2>&1)
rc=$?
assert_eq 0 "$rc" "lsmfs --help exits 0"
assert_match 'usage' "$out" "lsmfs --help prints a usage"
assert_match 'STORE' "$out" "lsmfs --help names STORE"
out=$("$LSMFS" --version 2>&1)
rc=$?
assert_eq 0 "$rc" "lsmfs --version exits 0"
assert_match 'lsmfs.*[0-9]' "$out" "lsmfs --version prints a name and a version number"

# ---------------------------------------------------------------- bad input
bad_input "no arguments" 'usage|missing|store|mount' 
bad_input "only STORE" 'usage|missing|mount ?point' "$T_DIR/s0"
bad_input "missing mount point" 'mount ?point|no such|not exist' "$T_DIR/s1" "$T_DIR/no/such/dir"
: >"$T_DIR/afile"
bad_input "mount point is a file" 'mount ?point|not a directory' "$T_DIR/s2" "$T_DIR/afile"
bad_input "three positional arguments" 'usage|argument|extra|too many' "$T_DIR/s3" "$MNT" "$T_DIR/third"
bad_input "unknown -o option" 'unknown|invalid|unrecogni[sz]ed|bad' -o no_such_option_xyz "$T_DIR/s4" "$MNT"
bad_input "unknown -o option after the paths" 'unknown|invalid|unrecogni[sz]ed|bad' "$T_DIR/s4" "$MNT" -o frobnicate=7
bad_input "unknown long option" 'unknown|invalid|unrecogni[sz]ed|bad' --frobnicate "$T_DIR/s5" "$MNT"

mkdir -p "$T_DIR/notastore/sub"
printf 'precious\n' >"$T_DIR/notastore/data.txt"
printf 'more\n' >"$T_DIR/notastore/sub/x"
before=$(cd "$T_DIR/notastore" && find . -printf '%p %s %T@\n' | sort)
bad_input "STORE is a non-empty directory of other files" 'not an lsmfs store' "$T_DIR/notastore" "$MNT"
assert_eq "$before" "$(cd "$T_DIR/notastore" && find . -printf '%p %s %T@\n' | sort)" \
	"the foreign directory is left untouched"
printf 'just a file\n' >"$T_DIR/storefile"
bad_input "STORE is a regular file" 'store|directory|not' "$T_DIR/storefile" "$MNT"
assert_eq "just a file" "$(cat "$T_DIR/storefile")" "the file given as STORE is untouched"

# Store held by another lsmfs.
mount_lsmfs "$T_DIR/held" "$MNT"
mkdir -p "$T_DIR/mnt2"
bad_input "STORE already mounted by another lsmfs" 'in use|locked|held|busy|another|already' "$T_DIR/held" "$T_DIR/mnt2"
printf 'still fine\n' >"$MNT/f"
assert_eq "still fine" "$(cat "$MNT/f")" "the first mount still works after the refused second one"
umount_lsmfs "$MNT" && ok "clean unmount of the held store" || not_ok "clean unmount of the held store"

# No /dev/fuse: a private mount namespace with an empty tmpfs on /dev (and /dev/null).
if unshare -m true 2>/dev/null; then
	cat >"$T_DIR/nofuse.sh" <<'EOF'
mount -t tmpfs none /dev || exit 99
mknod -m 666 /dev/null c 1 3 || exit 99
exec "$@"
EOF
	timeout 30 unshare -m bash "$T_DIR/nofuse.sh" "$LSMFS" "$T_DIR/s6" "$MNT" </dev/null >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	if ((rc == 99)); then
		note "cannot hide /dev/fuse in a mount namespace here; the no-/dev/fuse case is not tested"
	else
		assert_ne 0 "$rc" "no /dev/fuse: exits non-zero"
		assert_match '^lsmfs: .*fuse' "$(head -n 1 "$T_DIR/err")" "no /dev/fuse: \"lsmfs: ...\" names fuse"
		assert_eq 1 "$(grep -c '' "$T_DIR/err")" "no /dev/fuse: one line on stderr"
	fi
else
	note "unshare -m is not allowed here; the no-/dev/fuse case is not tested"
fi

# ---------------------------------------------------------------- good input
# A missing STORE is created; an empty directory as STORE is used.
mount_lsmfs "$T_DIR/newstore" "$MNT"
ok "a missing STORE is created"
umount_lsmfs "$MNT"
assert_true "the new store directory has files" test -n "$(ls -A "$T_DIR/newstore")"
mkdir "$T_DIR/empty"
mount_lsmfs "$T_DIR/empty" "$MNT"
ok "an empty directory as STORE is used"
printf 'x\n' >"$MNT/x"
umount_lsmfs "$MNT" && ok "clean unmount" || not_ok "clean unmount"
mount_lsmfs "$T_DIR/empty" "$MNT"
assert_eq "x" "$(cat "$MNT/x" 2>&1)" "the store made in an empty directory reopens with its data"
umount_lsmfs "$MNT"

# Relative paths (the daemon changes directory when it daemonizes).
if (cd "$T_DIR" && "$LSMFS" rel-store mnt </dev/null >"$T_DIR/out" 2>&1); then
	if wait_mounted "$MNT" 10; then
		t_register_mount "$MNT" "$T_DIR/rel-store"
		ok "relative STORE and MOUNTPOINT mount"
		printf 'rel\n' >"$MNT/r"
		umount_lsmfs "$MNT"
		assert_true "the relative STORE was created relative to the caller's directory" test -d "$T_DIR/rel-store"
		mount_lsmfs "$T_DIR/rel-store" "$MNT"
		assert_eq "rel" "$(cat "$MNT/r" 2>&1)" "the store named relatively holds the data"
		umount_lsmfs "$MNT"
	else
		not_ok "relative STORE and MOUNTPOINT mount" "lsmfs exited 0 but nothing is mounted at $MNT"
	fi
else
	not_ok "relative STORE and MOUNTPOINT mount" "$(head "$T_DIR/out")"
fi

# -f: stays in the foreground until unmounted, then exits 0.
"$LSMFS" "$T_DIR/fg" "$MNT" -f </dev/null >"$T_DIR/fg.log" 2>&1 &
fg_pid=$!
if wait_mounted "$MNT" 10; then
	t_register_mount "$MNT" "$T_DIR/fg"
	ok "lsmfs -f mounts"
	sleep 0.5
	assert_true "lsmfs -f is still in the foreground (the started process serves the mount)" pid_alive "$fg_pid"
	fusermount3 -u "$MNT"
	wait "$fg_pid"
	rc=$?
	assert_eq 0 "$rc" "lsmfs -f exits 0 after fusermount3 -u"
	t_forget_mount "$MNT"
else
	not_ok "lsmfs -f mounts" "$(head "$T_DIR/fg.log")"
	kill "$fg_pid" 2>/dev/null
fi

# -o allow_other.
mount_lsmfs "$T_DIR/ao" "$MNT" allow_other
assert_match 'allow_other' "$(awk -v m="$MNT" '$2 == m { print $4 }' /proc/mounts)" "-o allow_other shows in /proc/mounts"
umount_lsmfs "$MNT"

# mount -t fuse.lsmfs STORE MNT.  mount(8) runs /sbin/mount.fuse3, which runs
# `sh -c 'lsmfs STORE MNT -o rw,...'`; mount(8) drops PATH for its helpers, so the shell
# only searches the default PATH.  Two checks: mount.fuse3 called the way mount(8) calls
# it, with lsmfs on a PATH of our own; and the real mount -t in a private mount namespace
# whose /usr/local/bin is a temp dir holding the lsmfs symlink.
MOUNT_FUSE=$(command -v mount.fuse3 || command -v /sbin/mount.fuse3 || command -v /usr/sbin/mount.fuse3)
if [[ -z $MOUNT_FUSE ]]; then
	not_ok "mount -t fuse.lsmfs" "mount.fuse3 (package fuse3) is not installed"
else
	mkdir -p "$T_DIR/bin"
	ln -s "$LSMFS" "$T_DIR/bin/lsmfs"
	if PATH=$T_DIR/bin:$PATH timeout 30 "$MOUNT_FUSE" "$T_DIR/mt-store" "$MNT" -o rw -t fuse.lsmfs >"$T_DIR/mt.log" 2>&1 &&
		wait_mounted "$MNT" 10; then
		t_register_mount "$MNT" "$T_DIR/mt-store"
		ok "mount.fuse3 STORE MNT -o rw -t fuse.lsmfs (as mount -t calls it), lsmfs on PATH"
		assert_match '^fuse' "$(awk -v m="$MNT" '$2 == m { print $3 }' /proc/mounts)" \
			"/proc/mounts shows a fuse filesystem type"
		printf 'via mount\n' >"$MNT/m"
		assert_eq "via mount" "$(cat "$MNT/m")" "the filesystem mounted through mount.fuse3 works"
		umount_lsmfs "$MNT" && ok "clean unmount of the mount.fuse3 mount" || not_ok "clean unmount of the mount.fuse3 mount"
		mount_lsmfs "$T_DIR/mt-store" "$MNT"
		assert_eq "via mount" "$(cat "$MNT/m" 2>&1)" "the store mounted through mount.fuse3 holds the data"
		umount_lsmfs "$MNT"
	else
		is_mounted "$MNT" && t_register_mount "$MNT" "$T_DIR/mt-store"
		not_ok "mount.fuse3 STORE MNT -o rw -t fuse.lsmfs, lsmfs on PATH" "$(head "$T_DIR/mt.log")"
	fi

	cat >"$T_DIR/ns.sh" <<'EOF'
bin=$1 store=$2 mnt=$3 out=$4 r=0
mount --bind "$bin" /usr/local/bin || exit 99
timeout 30 mount -t fuse.lsmfs "$store" "$mnt" || exit 10
awk -v m="$mnt" '$2 == m { print $3 }' /proc/mounts >"$out"
printf 'ns\n' >"$mnt/n" && [ "$(cat "$mnt/n")" = ns ] || r=11
umount "$mnt" || fusermount3 -u "$mnt" || { fusermount3 -u -z "$mnt"; r=12; }
exit $r
EOF
	timeout 120 unshare -m bash "$T_DIR/ns.sh" "$T_DIR/bin" "$T_DIR/ns-store" "$MNT" "$T_DIR/ns.type" >"$T_DIR/ns.log" 2>&1
	rc=$?
	if ((rc == 99)); then
		note "no private mount namespace here; the real mount -t fuse.lsmfs is not tested"
	else
		assert_eq 0 "$rc" "mount -t fuse.lsmfs STORE MNT, write, read, umount (in a private mount namespace)" ||
			note "$(head "$T_DIR/ns.log")"
		assert_match '^fuse' "$(cat "$T_DIR/ns.type" 2>/dev/null)" "mount -t fuse.lsmfs: /proc/mounts shows a fuse type"
		for ((i = 0; i < 600; i++)); do daemon_pid "" "$T_DIR/ns-store" >/dev/null || break; sleep 0.1; done
		if p=$(daemon_pid "" "$T_DIR/ns-store"); then
			not_ok "the daemon of the mount -t mount exits after umount" "pid $p still has the store open after 60 s"
			kill -9 "$p"
		else
			ok "the daemon of the mount -t mount exits after umount"
		fi
		if ((rc == 0)); then
			mount_lsmfs "$T_DIR/ns-store" "$MNT"
			assert_eq "ns" "$(cat "$MNT/n" 2>&1)" "the store mounted with mount -t holds the data"
			umount_lsmfs "$MNT"
		fi
	fi
fi

finish
