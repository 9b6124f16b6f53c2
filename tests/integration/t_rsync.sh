#!/bin/bash
# lsmfs as an rsync backup target: rsync -aHAX of a tree with hard links, symlinks, xattrs,
# sparse and empty files, odd names (spaces, newline, 255-byte names, UTF-8), special
# files, owners, modes and times; a second rsync transfers nothing; after a remount
# everything is still identical and a third rsync still transfers nothing.
# Prints the time of the rsync beside the same rsync into a plain directory.
source "$(dirname "$0")/lib.sh"

SRC=$T_DIR/src
STORE=$T_DIR/store
MNT=$T_DIR/mnt
PLAIN=$T_DIR/plain
mkdir -p "$SRC" "$MNT" "$PLAIN"

make_odd_tree "$SRC"
(($? == 0)) || die "building the source tree failed"
note "source: $(find "$SRC" | wc -l) entries"

# ---------------------------------------------------------------- checks
# check_hardlinks DIR WHEN NAME...: the names (those still in the source) have the
# source's link count and share one inode in DIR.
check_hardlinks() {
	local d=$1 w=$2 n exp=() got=() names=()
	shift 2
	for n in "$@"; do [[ -e $SRC/$n ]] && names+=("$n"); done
	for n in "${names[@]}"; do exp+=("$(stat -c %h "$SRC/$n")"); got+=("$(stat -c %h "$d/$n" 2>&1)"); done
	assert_eq "${exp[*]}" "${got[*]}" "$w: nlink of hard links ${names[*]}"
	assert_eq 1 "$(for n in "${names[@]}"; do stat -c %i "$d/$n"; done | sort -u | wc -l)" \
		"$w: hard links ${names[*]} share one inode"
}

# check_all DIR WHEN: everything the issue asks for, each as its own assertion.
check_all() {
	local d=$1 w=$2 out
	if out=$(diff_tree "$SRC" "$d"); then ok "$w: diff -r equal"; else not_ok "$w: diff -r differs" "$out"; fi

	tree_stat_listing "$SRC" >"$T_DIR/a.stat"
	tree_stat_listing "$d" >"$T_DIR/b.stat"
	assert_same_files "$T_DIR/a.stat" "$T_DIR/b.stat" "$w: stat listing (mode size mtime uid gid type nlink)"

	(cd "$SRC" && find . -print0 | sort -z | xargs -0 getfattr -h -d -e hex 2>/dev/null) >"$T_DIR/a.xattr"
	(cd "$d" && find . -print0 | sort -z | xargs -0 getfattr -h -d -e hex 2>/dev/null) >"$T_DIR/b.xattr"
	assert_ne "" "$(cat "$T_DIR/a.xattr")" "$w: source has xattrs (sanity)"
	assert_same_files "$T_DIR/a.xattr" "$T_DIR/b.xattr" "$w: getfattr -d of every entry"

	(cd "$SRC" && find . -type l -printf '%p -> %l\n' | sort) >"$T_DIR/a.links"
	(cd "$d" && find . -type l -printf '%p -> %l\n' | sort) >"$T_DIR/b.links"
	assert_same_files "$T_DIR/a.links" "$T_DIR/b.links" "$w: symlink targets"

	check_hardlinks "$d" "$w" hl_a dir1/hl_b dir2/hl_c
	check_hardlinks "$d" "$w" dir1/sub/big_hl big_hl2
	check_hardlinks "$d" "$w" empty_hl dir2/empty_hl2

	tree_manifest "$SRC" >"$T_DIR/a.man"
	tree_manifest "$d" >"$T_DIR/b.man"
	assert_same_files "$T_DIR/a.man" "$T_DIR/b.man" "$w: manifest (sha256, ns mtimes, link groups, xattrs)"

	assert_eq "$(cmp "$SRC/sparse_mid" "$d/sparse_mid" && echo same)" "same" "$w: sparse file content"
}

# ---------------------------------------------------------------- plain directory
t_time T_PLAIN rsync -aHAX "$SRC/" "$PLAIN/dst/" >"$T_DIR/plain.log" 2>&1 ||
	die "rsync into a plain directory failed" "$(head "$T_DIR/plain.log")"
# The same checks on the plain copy must pass, or the comparison itself is wrong.  They
# are not counted.
check_all "$PLAIN/dst" "sanity, plain directory" >"$T_DIR/sanity.log"
if ((T_FAIL > 0)); then
	cat "$T_DIR/sanity.log"
	die "the copy into a plain directory does not compare equal; the test itself is broken"
fi
note "sanity: the plain copy passes all $T_PASS checks"
T_PASS=0 T_FAIL=0

# ---------------------------------------------------------------- lsmfs
mount_lsmfs "$STORE" "$MNT"
if t_time T_LSMFS rsync -aHAX "$SRC/" "$MNT/dst/" >"$T_DIR/rsync1.log" 2>&1; then
	ok "rsync -aHAX into the mount"
else
	not_ok "rsync -aHAX into the mount exited non-zero" "$(head -n 30 "$T_DIR/rsync1.log")"
fi

out=$(rsync -aHAX --itemize-changes "$SRC/" "$MNT/dst/" 2>&1)
assert_eq "" "$out" "second rsync -aHAX --itemize-changes transfers nothing"

check_all "$MNT/dst" "live mount"

remount_lsmfs "$STORE" "$MNT"
check_all "$MNT/dst" "after remount"
out=$(rsync -aHAX --itemize-changes "$SRC/" "$MNT/dst/" 2>&1)
assert_eq "" "$out" "after remount: rsync -aHAX --itemize-changes transfers nothing"

# An incremental backup: change the source a little; rsync transfers just that.
printf 'changed\n' >>"$SRC/plain.txt"
rm "$SRC/dir2/hl_c"
mkdir "$SRC/newdir" && printf 'new\n' >"$SRC/newdir/newfile"
# (rsync compares directory times to the second; keep them away from "now".)
touch -d '2011-11-11 11:11:11.111' "$SRC" "$SRC/dir2" "$SRC/newdir"
out=$(rsync -aHAX --delete --itemize-changes "$SRC/" "$MNT/dst/" 2>&1)
assert_match 'plain\.txt' "$out" "incremental rsync sends the changed file"
assert_match 'deleting +dir2/hl_c' "$out" "incremental rsync --delete deletes the removed name"
out=$(rsync -aHAX --delete --itemize-changes "$SRC/" "$MNT/dst/" 2>&1)
assert_eq "" "$out" "after the incremental rsync nothing is left to transfer"
check_all "$MNT/dst" "after incremental rsync"

umount_lsmfs "$MNT" && ok "clean final unmount" || not_ok "clean final unmount"
printf 'TIME rsync -aHAX of %s (%s entries, %s apparent): lsmfs %s s, plain directory on the same disk %s s\n' \
	"the test tree" "$(find "$SRC" | wc -l)" "$(du -sh --apparent-size "$SRC" | cut -f1)" "$T_LSMFS" "$T_PLAIN"
finish
