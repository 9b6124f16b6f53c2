#!/bin/bash
# rename (over files, directory over empty directory, ENOTEMPTY, across directories,
# RENAME_NOREPLACE, RENAME_EXCHANGE, EINVAL into its own subtree), hard links (nlink,
# shared data), unlink of an open file, directory link counts, name length limits; the
# final state survives a remount.
source "$(dirname "$0")/lib.sh"

STORE=$T_DIR/store
MNT=$T_DIR/mnt
mkdir -p "$MNT"
mount_lsmfs "$STORE" "$MNT"
D=$MNT/r
mkdir "$D" || die "mkdir in the mount"
cd "$D" || die "cd into the mount"

# sysc OP ARG...: one system call through python; prints OK or the errno name (ENOENT...).
sysc() {
	py "$@" <<'EOF'
import ctypes, errno, os, sys
op, a = sys.argv[1], sys.argv[2:]
try:
    if op == 'renameat2':
        libc = ctypes.CDLL(None, use_errno=True)
        flags = {'0': 0, 'noreplace': 1, 'exchange': 2, 'both': 3}[a[2]]
        if libc.renameat2(-100, os.fsencode(a[0]), -100, os.fsencode(a[1]), flags) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    elif op == 'rename':
        os.rename(a[0], a[1])
    elif op == 'link':
        os.link(a[0], a[1])
    elif op == 'create':
        os.close(os.open(a[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    elif op == 'mkdir':
        os.mkdir(a[0])
    elif op == 'rmdir':
        os.rmdir(a[0])
    elif op == 'unlink':
        os.unlink(a[0])
    else:
        raise SystemExit('unknown op ' + op)
    print('OK')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}

# expect RESULT MSG OP ARG...
expect() {
	local want=$1 msg=$2
	shift 2
	assert_eq "$want" "$(sysc "$@")" "$msg ($*)"
}

ino() { stat -c %i "$1"; }
nlink() { stat -c %h "$1"; }

# ---------------------------------------------------------------- rename of files
printf 'A\n' >a
printf 'B\n' >b
ino_a=$(ino a)
expect OK "rename a file over an existing file" rename a b
assert_eq "A" "$(cat b)" "the target has the source's data"
assert_eq "$ino_a" "$(ino b)" "the target name now has the source's inode"
assert_false "the source name is gone" test -e a

printf 'T\n' >t && ln t t2
printf 'S\n' >s
expect OK "rename over one name of a hard-linked file" rename s t
assert_eq "S|T|1" "$(cat t)|$(cat t2)|$(nlink t2)" "the other link keeps the old data with nlink 1"

printf 'X\n' >x && ln x x2
expect OK "rename a hard link onto another name of the same inode" rename x x2
assert_eq "2|X|X" "$(nlink x)|$(cat x)|$(cat x2)" "both names remain (POSIX: same inode, nothing happens)"

expect OK "rename a file to its own name" rename b b
assert_eq "A" "$(cat b)" "the file is untouched"
expect ENOENT "rename of a missing file" rename nosuch other

mkdir adir
expect EISDIR "rename a file over a directory" rename b adir
expect ENOTDIR "rename a directory over a file" rename adir b
rmdir adir

# ---------------------------------------------------------------- rename of directories
mkdir d1 d2 && printf 'f\n' >d1/f
ino_d1=$(ino d1)
expect OK "rename a directory over an empty directory" rename d1 d2
assert_eq "f|$ino_d1" "$(cat d2/f)|$(ino d2)" "the directory and its content are under the new name"
assert_false "the old directory name is gone" test -e d1

mkdir e1 e2 && : >e2/x
expect ENOTEMPTY "rename a directory over a non-empty directory" rename e1 e2
assert_true "both directories are still there" test -d e1 -a -f e2/x

mkdir -p p/q/r
expect EINVAL "rename a directory into its own subtree" rename p p/q/r/s
expect EINVAL "rename a directory into its own child" rename p p/q/new
assert_true "the tree is unchanged" test -d p/q/r

# ---------------------------------------------------------------- across directories
mkdir A B && printf 'data\n' >A/f
touch -d '2000-01-01' A B
expect OK "rename a file across directories" rename A/f B/g
assert_eq "data" "$(cat B/g)" "the data is under the new directory"
assert_eq "" "$(ls -A A)" "the old directory is empty"
assert_eq 0 "$(find A B -maxdepth 0 ! -newermt '2000-01-02' | wc -l)" "both parents' mtimes changed"

mkdir A/sub && : >A/sub/inner
assert_eq "3 2" "$(nlink A) $(nlink B)" "nlink of the parents before moving a subdirectory"
expect OK "rename a directory across directories" rename A/sub B/sub
assert_eq "2 3" "$(nlink A) $(nlink B)" "nlink of the parents after moving a subdirectory"
assert_eq "$(ino B)" "$(stat -c %i B/sub/..)" "the moved directory's .. is its new parent"
assert_true "the moved directory's content came along" test -f B/sub/inner

# A directory of 1000 files renamed across directories in one step.
mkdir big
py big <<'EOF'
import os, sys
for i in range(1000):
    with open(os.path.join(sys.argv[1], 'f%04d' % i), 'w') as f:
        f.write('%d\n' % i)
EOF
expect OK "rename a directory of 1000 files across directories" rename big A/big2
assert_eq 1000 "$(ls A/big2 | wc -l)" "all 1000 files are under the new name"
assert_eq "777" "$(cat A/big2/f0777)" "a file in the moved directory reads right"

# ---------------------------------------------------------------- RENAME_NOREPLACE
printf 'N1\n' >n1 && printf 'N2\n' >n2
expect EEXIST "RENAME_NOREPLACE onto an existing name" renameat2 n1 n2 noreplace
assert_eq "N1 N2" "$(cat n1) $(cat n2)" "both files unchanged"
expect OK "RENAME_NOREPLACE onto a free name" renameat2 n1 n3 noreplace
assert_eq "N1" "$(cat n3)" "the file moved"
assert_false "the old name is gone" test -e n1
mkdir nd && expect EEXIST "RENAME_NOREPLACE of a file onto a directory" renameat2 n3 nd noreplace

# ---------------------------------------------------------------- RENAME_EXCHANGE
printf 'X1\n' >x1 && printf 'X2\n' >x2
i1=$(ino x1) i2=$(ino x2)
expect OK "RENAME_EXCHANGE of two files" renameat2 x1 x2 exchange
assert_eq "X2 X1" "$(cat x1) $(cat x2)" "the contents are swapped"
assert_eq "$i2 $i1" "$(ino x1) $(ino x2)" "the inodes are swapped"

mkdir -p E1 E2/edir && printf 'ef\n' >E1/efile && : >E2/edir/in
assert_eq "2 3" "$(nlink E1) $(nlink E2)" "nlink before exchanging a file and a directory"
expect OK "RENAME_EXCHANGE of a file and a directory across directories" renameat2 E1/efile E2/edir exchange
assert_true "E1/efile is now the directory" test -d E1/efile -a -f E1/efile/in
assert_eq "ef" "$(cat E2/edir)" "E2/edir is now the file"
assert_eq "3 2" "$(nlink E1) $(nlink E2)" "nlink of both parents follow the directory"
assert_eq "$(ino E1)" "$(stat -c %i E1/efile/..)" "the exchanged directory's .. is its new parent"
expect ENOENT "RENAME_EXCHANGE with a missing target" renameat2 x1 nosuch exchange
expect EINVAL "RENAME_EXCHANGE|RENAME_NOREPLACE together" renameat2 x1 x2 both
expect EINVAL "RENAME_EXCHANGE of a directory with its own child" renameat2 E1/efile E1/efile/in exchange

# ---------------------------------------------------------------- hard links
mkdir hl && printf 'shared\n' >h1
expect OK "link" link h1 h2
expect OK "link into another directory" link h1 hl/h3
assert_eq "3 3 3" "$(nlink h1) $(nlink h2) $(nlink hl/h3)" "nlink 3 on each name"
assert_eq 1 "$(stat -c %i h1 h2 hl/h3 | sort -u | wc -l)" "the three names share one inode"
printf 'more\n' >>h2
assert_eq "shared more" "$(cat hl/h3 | tr '\n' ' ' | sed 's/ $//')" "data written through one name is read through another"
expect EEXIST "link onto an existing name" link h1 h2
expect EPERM "link of a directory" link hl hl2
expect ENOENT "link of a missing file" link nosuch hnew
rm h1
assert_eq "2 2" "$(nlink h2) $(nlink hl/h3)" "nlink 2 after removing one name"
rm h2
assert_eq "1|shared" "$(nlink hl/h3)|$(head -n 1 hl/h3)" "the last name keeps the data"
rm hl/h3
assert_eq "" "$(ls -A hl)" "the directory is empty after the last name is removed"

# ---------------------------------------------------------------- unlink of an open file
printf 'hello\n' >u
exec 3>>u
rm u
assert_false "the unlinked name is gone" test -e u
printf 'more\n' >&3
assert_eq "hello more" "$(cat /dev/fd/3 | tr '\n' ' ' | sed 's/ $//')" \
	"an unlinked file stays writable (exec 3>>; rm; echo >&3) and readable (/dev/fd/3)"
exec 3>&-

out=$(py "$D/u2" <<'EOF'
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b'a' * 100000)
os.unlink(p)
r = []
r.append('exists=%s' % os.path.exists(p))
r.append('nlink=%d' % os.fstat(fd).st_nlink)
data = os.urandom(300000)
os.pwrite(fd, data, 70000)
r.append('size=%d' % os.fstat(fd).st_size)
r.append('read=%s' % (os.pread(fd, 300000, 70000) == data and os.pread(fd, 70000, 0) == b'a' * 70000))
os.fsync(fd)
os.ftruncate(fd, 1000)
r.append('trunc=%d' % os.fstat(fd).st_size)
fd2 = os.open('/proc/self/fd/%d' % fd, os.O_RDONLY)
r.append('reopen=%s' % (os.read(fd2, 2000) == b'a' * 1000))
os.close(fd2)
os.close(fd)
r.append('listed=%s' % (os.path.basename(p) in os.listdir(os.path.dirname(p))))
print(' '.join(r))
EOF
)
assert_eq "exists=False nlink=0 size=370000 read=True trunc=1000 reopen=True listed=False" "$out" \
	"an open unlinked file: write, read, fsync, ftruncate and reopen through /proc still work"

# ---------------------------------------------------------------- directory link counts
mkdir lc
assert_eq 2 "$(nlink lc)" "a new directory has nlink 2"
mkdir lc/a lc/b lc/c && : >lc/file && ln -s a lc/sym
assert_eq 5 "$(nlink lc)" "nlink 2 + 3 subdirectories (files and symlinks do not count)"
rmdir lc/a
assert_eq 4 "$(nlink lc)" "nlink after rmdir of a subdirectory"
mv lc/b B/
assert_eq 3 "$(nlink lc)" "nlink after moving a subdirectory out"
expect ENOTEMPTY "rmdir of a non-empty directory" rmdir lc
expect ENOTDIR "rmdir of a file" rmdir lc/file
rm -rf lc
assert_false "rm -rf of a directory" test -e lc
nsub=$(find "$MNT" -mindepth 1 -maxdepth 1 -type d | wc -l)
assert_eq $((2 + nsub)) "$(nlink "$MNT")" "nlink of the root is 2 + its subdirectories"
nsub=$(find "$D" -mindepth 1 -maxdepth 1 -type d | wc -l)
assert_eq $((2 + nsub)) "$(nlink "$D")" "nlink of the test directory is 2 + its subdirectories"

# ---------------------------------------------------------------- name lengths
n255=$(printf 'y%.0s' {1..255})
expect OK "a 255-byte name" create "$n255"
expect ENAMETOOLONG "a 256-byte name" create "${n255}y"
expect ENAMETOOLONG "mkdir with a 256-byte name" mkdir "${n255}y"
expect ENAMETOOLONG "rename to a 256-byte name" rename "$n255" "${n255}y"
expect OK "rename a 255-byte name across directories" rename "$n255" "B/$n255"

# ---------------------------------------------------------------- all of it after a remount
cd / || die "cd /"
tree_manifest "$D" >"$T_DIR/before"
tree_stat_listing "$D" >"$T_DIR/before.stat"
remount_lsmfs "$STORE" "$MNT"
tree_manifest "$D" >"$T_DIR/after"
tree_stat_listing "$D" >"$T_DIR/after.stat"
assert_same_files "$T_DIR/before" "$T_DIR/after" "after remount: the same tree (content, links, mtimes)"
assert_same_files "$T_DIR/before.stat" "$T_DIR/after.stat" "after remount: the same stat listing"
assert_eq 1000 "$(ls "$D/A/big2" | wc -l)" "after remount: the renamed directory of 1000 files"
assert_false "after remount: the unlinked open files are gone" test -e "$D/u" -o -e "$D/u2"
assert_true "after remount: rm -rf of everything" rm -rf "$D"
assert_eq "" "$(ls -A "$MNT")" "after remount: the mount is empty"

umount_lsmfs "$MNT" && ok "clean final unmount" || not_ok "clean final unmount"
finish
