#!/bin/bash
# cp -a of a real tree of many files (/usr/include) into lsmfs: diff -r and identical stat
# of modes, sizes, times, owners, types and link counts; again after unmount and remount.
# Prints the time of the copy beside the same cp -a into a plain directory on the same disk.
source "$(dirname "$0")/lib.sh"

SRC=${LSMFS_ITEST_TREE:-/usr/include}
[[ -d $SRC ]] || die "source tree $SRC missing"
STORE=$T_DIR/store
MNT=$T_DIR/mnt
PLAIN=$T_DIR/plain
mkdir -p "$MNT" "$PLAIN"

note "source: $SRC ($(find "$SRC" | wc -l) entries, $(du -sh "$SRC" | cut -f1))"
tree_stat_listing "$SRC" >"$T_DIR/src.stat"
tree_mtime_ns "$SRC" >"$T_DIR/src.mtime"

# Warm the page cache for the source, so that neither timed copy pays for reading it.
tar cf - "$SRC" 2>/dev/null >/dev/null

t_time T_PLAIN cp -a "$SRC" "$PLAIN/tree" || not_ok "cp -a into a plain directory"
sync -f "$PLAIN"

mount_lsmfs "$STORE" "$MNT"
if t_time T_LSMFS cp -a "$SRC" "$MNT/tree"; then
	ok "cp -a $SRC into the mount"
else
	not_ok "cp -a $SRC into the mount exited non-zero"
fi
check_tree() {   # WHEN
	local out
	if out=$(diff_tree "$SRC" "$MNT/tree"); then ok "$1: diff -r $SRC equal"; else
		not_ok "$1: diff -r $SRC differs" "$out"
	fi
	tree_stat_listing "$MNT/tree" >"$T_DIR/mnt.stat"
	assert_same_files "$T_DIR/src.stat" "$T_DIR/mnt.stat" \
		"$1: stat '%n %a %s %Y %u %g %F %h' of every entry equal"
	tree_mtime_ns "$MNT/tree" >"$T_DIR/mnt.mtime"
	assert_same_files "$T_DIR/src.mtime" "$T_DIR/mnt.mtime" "$1: mtimes equal to the nanosecond"
	assert_eq "$(find "$SRC" | wc -l)" "$(find "$MNT/tree" | wc -l)" "$1: number of entries"
}

# First on the live mount (data may still sit in the daemon's buffers), then after an
# unmount (which must close the store cleanly) and a new mount with a cold kernel cache.
check_tree "after the copy"
t_time T_UMOUNT umount_lsmfs "$MNT" && ok "clean unmount after the copy" ||
	not_ok "clean unmount after the copy"
mount_lsmfs "$STORE" "$MNT"
check_tree "after remount"

# The plain copy must match too, or the comparison itself is wrong.
tree_stat_listing "$PLAIN/tree" >"$T_DIR/plain.stat"
assert_same_files "$T_DIR/src.stat" "$T_DIR/plain.stat" "sanity: the plain copy has the same stat listing"

# df on the mount works and reports something.
assert_true "df on the mount" df -P "$MNT"

umount_lsmfs "$MNT" && ok "clean final unmount" || not_ok "clean final unmount"
printf 'TIME cp -a %s: lsmfs %s s (+ unmount %s s), plain directory on the same disk %s s\n' \
	"$SRC" "$T_LSMFS" "$T_UMOUNT" "$T_PLAIN"
finish
