#!/bin/bash
# The kernel caches names, absent names and attributes for a day (fs/main.c): every
# change must still be seen at once, by the changer and by another user (allow_other,
# default_permissions).  Each check runs right after the change, with no sleep, so a
# stale cached value would fail it: a mode set through an ACL xattr (setfacl: the one
# change the kernel does not learn from the reply) for the permission checks of another
# user, chmod, chown, nlink and ctime through link/unlink/rename, a directory's nlink and
# mtime after mkdir/rmdir/create, sizes after writes and truncation, and names: looked
# up while absent, then created, renamed over, removed.
source "$(dirname "$0")/lib.sh"

STORE=$T_DIR/store
MNT=$T_DIR/mnt
mkdir -p "$MNT"
chmod 755 "$T_DIR" # another user must reach the mount point
mount_lsmfs "$STORE" "$MNT" allow_other
D=$MNT/c
mkdir "$D" && chmod 755 "$D" || die "mkdir in the mount"
cd "$D" || die "cd"

as_nobody() { su nobody -s /bin/sh -c "$1" 2>/dev/null; }
can_read() { as_nobody "cat '$D/$1' >/dev/null" && echo yes || echo no; }

# ---------------------------------------------------------------- modes and ACLs
echo secret >f
chmod 600 f
assert_eq no "$(can_read f)" "mode 600: another user cannot read"
if command -v setfacl >/dev/null; then
	setfacl -m o::r f
	assert_eq yes "$(can_read f)" "setfacl o::r: another user can read at once"
	setfacl -m o::- f
	assert_eq no "$(can_read f)" "setfacl o::-: another user cannot read at once"
	setfacl -m o::r f
	assert_eq yes "$(can_read f)" "setfacl o::r again: readable at once"
	assert_eq 604 "$(stat -c %a f)" "the ACL set the mode"
else
	note "no setfacl: ACL checks skipped"
fi
chmod 600 f
assert_eq no "$(can_read f)" "chmod 600: not readable at once"
chmod 644 f
assert_eq yes "$(can_read f)" "chmod 644: readable at once"
chown nobody f
chmod 600 f
assert_eq yes "$(can_read f)" "chown nobody + chmod 600: the new owner reads"
assert_eq "nobody 600" "$(stat -c '%U %a' f)" "owner and mode seen at once"

# A write by another user drops set-user-ID.
echo x >s
chown nobody s
chmod 4755 s
as_nobody "echo more >>'$D/s'"
assert_eq 755 "$(stat -c %a s)" "a write by the owner (not root) drops set-user-ID, seen at once"

# ---------------------------------------------------------------- links and names
echo data >a
ln a b
assert_eq "2 2" "$(stat -c %h a b | tr '\n' ' ' | sed 's/ $//')" "link: both names show nlink 2"
c0=$(stat -c %z a)
rm b
assert_eq 1 "$(stat -c %h a)" "unlink of the other name: nlink 1 at once"
echo other >c
mv -f c a
assert_eq "other" "$(cat a)" "rename over: the name shows the new file"
assert_false "rename over: the old name is gone" test -e c
assert_false "a name looked up while absent" test -e late
echo late >late
assert_eq late "$(cat late)" "...then created, is found at once"
rm late
assert_false "...and removed, is gone at once" test -e late
assert_ne "$c0" "$(stat -c %z a)" "the replaced file's name shows a new inode's ctime"

# ---------------------------------------------------------------- directories
n0=$(stat -c %h "$D")
mkdir sub
assert_eq $((n0 + 1)) "$(stat -c %h "$D")" "mkdir: parent nlink +1 at once"
m0=$(stat -c %Y sub)
touch -d '2001-01-01' sub
: >sub/new
assert_ne "978307200" "$(stat -c %Y sub)" "a create in a directory updates its mtime at once"
rm sub/new
rmdir sub
assert_eq "$n0" "$(stat -c %h "$D")" "rmdir: parent nlink back at once"
mkdir -p x/y
mv x/y y
assert_eq "2 2" "$(stat -c %h x y | tr '\n' ' ' | sed 's/ $//')" "moving a directory out: nlinks at once"
assert_eq "$D" "$(cd y/.. && pwd)" "the moved directory's .. is the new parent"

# ---------------------------------------------------------------- sizes
printf '12345' >z
assert_eq 5 "$(stat -c %s z)" "size after a write"
printf '678' >>z
assert_eq 8 "$(stat -c %s z)" "size after an append"
truncate -s 2 z
assert_eq "2 12" "$(stat -c %s z) $(cat z)" "size and data after truncation"

# Everything again from a fresh mount: what the kernel showed is what was stored.
before=$(cd "$D" && stat -c '%n %a %U %h %s' f s a z y x | sort)
cd / || die "cd /"
remount_lsmfs "$STORE" "$MNT" allow_other
assert_eq "$before" "$(cd "$D" && stat -c '%n %a %U %h %s' f s a z y x | sort)" "the same attributes after a remount"
umount_lsmfs "$MNT" && ok "clean unmount" || not_ok "clean unmount"
finish
