#!/bin/bash
# 100,000 small files in one directory: created, listed (ls | wc -l), stat-ed (find
# -printf, sizes checked), listed again after a remount, read in part, then removed with
# find -delete (readdir while the directory shrinks); the directory is empty and can go.
source "$(dirname "$0")/lib.sh"

N=${LSMFS_ITEST_NFILES:-100000}
STORE=$T_DIR/store
MNT=$T_DIR/mnt
mkdir -p "$MNT"
mount_lsmfs "$STORE" "$MNT"
D=$MNT/many
mkdir "$D" || die "mkdir in the mount"

# File i is named f<i> and holds "<i>\n", so that every size is known from its name.
create() {
	py "$D" "$N" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    fd = os.open('%s/f%d' % (d, i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b'%d\n' % i)
    os.close(fd)
EOF
}
if t_time T_CREATE create; then ok "created $N files in one directory"; else
	die "creating $N files failed"
fi

# check_all WHEN: count, names, sizes.
check_all() {
	local t
	t_time t eval 'GOT=$(ls "$D" | wc -l)'
	assert_eq "$N" "$GOT" "$1: ls | wc -l (${t} s)"
	assert_eq "$N" "$(ls -f "$D" | grep -vcx '\.\.\?')" "$1: ls -f (unsorted readdir) sees each name once"
	assert_eq "$N" "$(ls -f "$D" | grep -vx '\.\.\?' | sort -u | wc -l)" "$1: readdir returns no duplicates"
	t_time t eval 'find "$D" -mindepth 1 -printf "%f %s %y %n\n" >"$T_DIR/stat.out"'
	assert_eq "$N" "$(wc -l <"$T_DIR/stat.out")" "$1: find -printf stat-ed every file (${t} s)"
	assert_eq 0 "$(awk '{ n = substr($1, 2); if ($2 != length(n) + 1 || $3 != "f" || $4 != 1) bad++ } END { print bad + 0 }' "$T_DIR/stat.out")" \
		"$1: every file has the size of its content, type f, nlink 1"
	assert_eq "$(seq 0 $((N - 1)) | sed 's/^/f/' | sort)" "$(cut -d' ' -f1 "$T_DIR/stat.out" | sort)" \
		"$1: exactly the names f0..f$((N - 1))"
	assert_eq "0 $((N / 3)) $((N - 1))" "$(cat "$D/f0" "$D/f$((N / 3))" "$D/f$((N - 1))" 2>&1 | tr '\n' ' ' | sed 's/ $//')" \
		"$1: sample contents"
	assert_eq "$(seq 0 20 $((N - 1)) | head -n 5000)" "$(cd "$D" && seq 0 20 $((N - 1)) | head -n 5000 | sed 's/^/f/' | xargs cat)" \
		"$1: up to 5000 files read back"
}
check_all "live mount"
remount_lsmfs "$STORE" "$MNT"
check_all "after remount"

# Removal: find -delete reads the directory while unlinking from it.
if t_time T_RM find "$D" -mindepth 1 -delete; then ok "find -delete of $N files"; else
	not_ok "find -delete of $N files exited non-zero"
fi
assert_eq "0" "$(ls -A "$D" | wc -l)" "the directory is empty"
assert_eq 2 "$(stat -c %h "$D")" "the directory's nlink is 2"
assert_true "rmdir of the emptied directory" rmdir "$D"
remount_lsmfs "$STORE" "$MNT"
assert_eq "" "$(ls -A "$MNT")" "after remount: the mount is empty"

umount_lsmfs "$MNT" && ok "clean final unmount" || not_ok "clean final unmount"
printf 'TIME %d files: create %s s, find -delete %s s\n' "$N" "$T_CREATE" "$T_RM"
finish
