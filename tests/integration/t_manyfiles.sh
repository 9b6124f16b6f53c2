#!/bin/bash
# 100,000 small files in one directory: created, listed (ls | wc -l), stat-ed (find
# -printf, sizes checked), listed again after a remount, read in part, then removed with
# find -delete (readdir while the directory shrinks); the directory is empty and can go.
# Also: the daemon's inode table (getxattr system.lsmfs.inodes) holds what the kernel
# holds and shrinks when the kernel drops its inodes (forget); seekdir back to an early
# entry after the whole directory was read (the open directory keeps only the last
# names, an older offset is found by counting); the whole test runs in under 60 s (180 s sanitized).
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

# The inode table: every inode the kernel holds, and no more once it lets them go.
inodes() { getfattr --only-values -n system.lsmfs.inodes "$MNT" 2>/dev/null; }
held=$(inodes)
assert_true "the daemon holds an inode per file the kernel knows (${held:-?} >= $N)" test "${held:-0}" -ge "$N"
sync
echo 2 >/proc/sys/vm/drop_caches
for ((i = 0; i < 50; i++)); do
	left=$(inodes)
	((${left:-$N} < 100)) && break
	sleep 0.1
done
assert_true "after drop_caches the kernel's forgets empty the table (${left:-?} < 100 inodes)" test "${left:-$N}" -lt 100
assert_eq "$N" "$(ls -f "$D" | grep -vcx '\.\.\?')" "every name is still listed after the forgets"

# seekdir far back: offsets older than the open directory's kept names.
seek_check() {
	py "$D" <<'EOF'
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.opendir.restype = ctypes.c_void_p
libc.opendir.argtypes = [ctypes.c_char_p]
libc.readdir.restype = ctypes.c_void_p
libc.readdir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.closedir.argtypes = [ctypes.c_void_p]
class Dirent(ctypes.Structure):
    _fields_ = [('ino', ctypes.c_uint64), ('off', ctypes.c_int64), ('reclen', ctypes.c_ushort),
                ('type', ctypes.c_ubyte), ('name', ctypes.c_char * 256)]
def name(p):
    return ctypes.cast(p, ctypes.POINTER(Dirent)).contents.name.decode()
d = libc.opendir(sys.argv[1].encode())
names, marks = [], {}
while True:
    p = libc.readdir(d)
    if not p:
        break
    names.append(name(p))
    if len(names) in (10, 5000):
        marks[len(names)] = libc.telldir(d)
bad = 0
for k in (10, 5000):
    libc.seekdir(d, marks[k])
    if name(libc.readdir(d)) != names[k]:
        bad += 1
libc.closedir(d)
print(len(names), bad)
EOF
}
assert_eq "$((N + 2)) 0" "$(seek_check)" "seekdir to entries 10 and 5000 after reading all resumes there"

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
# 60 s for a plain build; a sanitized daemon (ASan: libasan) is 2-3 times slower.
max_s=60
ldd "$LSMFS" 2>/dev/null | grep -q libasan && max_s=180
assert_true "the test ran in under $max_s s ($SECONDS s)" test "$SECONDS" -lt "$max_s"
finish
