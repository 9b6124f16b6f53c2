#!/bin/bash
# tar c of a tree in the mount and tar x into another directory of the mount: the round
# trip is identical (diff -r, stat of modes, sizes, times, owners, link counts, xattrs,
# hard links); the archive of the mount is byte for byte the archive of the source; a pipe
# round trip; a --sparse round trip keeps holes; everything still holds after a remount.
source "$(dirname "$0")/lib.sh"

SRC=$T_DIR/src
STORE=$T_DIR/store
MNT=$T_DIR/mnt
mkdir -p "$SRC" "$MNT"

make_odd_tree "$SRC"
(($? == 0)) || die "building the source tree failed"
cp -a /usr/include/linux "$SRC/linux" || die "cp -a /usr/include/linux"
touch -d '2012-12-12 12:12:12.121212121' "$SRC"
note "source: $(find "$SRC" | wc -l) entries"

# A deterministic archive: names sorted, PAX format (nanosecond mtimes, xattrs), no atime,
# ctime or pid in the headers.  FIFOs and device nodes are left out of the byte-for-byte
# comparison because rsync does not copy their mtimes.
TAR_DET=(--format=posix --sort=name --numeric-owner --xattrs --xattrs-include='user.*'
	--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime
	--exclude=./fifo --exclude=./dir1/null_dev)
TAR_C=(--format=posix --numeric-owner --xattrs --xattrs-include='user.*')
TAR_X=(--xattrs --xattrs-include='user.*' --numeric-owner -p --warning=no-timestamp)

tar -C "$SRC" -cf "$T_DIR/src.tar" "${TAR_DET[@]}" . || die "tar c of the source on the plain disk"
SRC_SHA=$(sha256sum <"$T_DIR/src.tar" | cut -d' ' -f1)

mount_lsmfs "$STORE" "$MNT"
rsync -aHAX "$SRC/" "$MNT/tree/" >"$T_DIR/rsync.log" 2>&1 ||
	die "rsync -aHAX of the source into the mount" "$(head "$T_DIR/rsync.log")"
assert_tree_same "$SRC" "$MNT/tree" "tree copied into the mount"

# 1. tar c of the tree into a file in the mount, tar x of it into another dir of the mount.
assert_true "tar c of the tree in the mount into the mount" \
	tar -C "$MNT/tree" -cf "$MNT/archive.tar" "${TAR_DET[@]}" .
assert_eq "$SRC_SHA" "$(sha256sum <"$MNT/archive.tar" | cut -d' ' -f1)" \
	"the archive of the mount is byte for byte the archive of the source"
mkdir "$MNT/out"
assert_true "tar x of the archive into the mount" tar -C "$MNT/out" -xf "$MNT/archive.tar" "${TAR_X[@]}"
# The archive left out the FIFO and the device node; so must the comparison.
rm -f "$MNT/tree/fifo" "$MNT/tree/dir1/null_dev" "$SRC/fifo" "$SRC/dir1/null_dev"
touch -d '2010-10-10 10:10:10.101010101' "$SRC/dir1" "$MNT/tree/dir1"
touch -d '2012-12-12 12:12:12.121212121' "$SRC" "$MNT/tree"
assert_tree_same "$MNT/tree" "$MNT/out" "tar c | tar x round trip in the mount"

# 2. A pipe: tar c | tar x inside the mount.
mkdir "$MNT/out2"
if tar -C "$MNT/tree" -cf - "${TAR_C[@]}" . | tar -C "$MNT/out2" -xf - "${TAR_X[@]}"; then
	ok "tar c | tar x through a pipe inside the mount"
else
	not_ok "tar c | tar x through a pipe inside the mount exited non-zero"
fi
assert_tree_same "$MNT/tree" "$MNT/out2" "pipe round trip"

# 3. --sparse: files made sparse in the mount (truncate, dd seek) are archived with their
# holes (found by SEEK_HOLE or st_blocks) and extracted sparse again.
mkdir "$MNT/sp" "$MNT/sp2"
truncate -s 64M "$MNT/sp/hole_only"
printf 'head' >"$MNT/sp/data_hole_data"
dd if=/dev/urandom of="$MNT/sp/data_hole_data" bs=64K count=2 seek=600 conv=notrunc status=none
truncate -s 48M "$MNT/sp/hole_end"
dd if=/dev/urandom of="$MNT/sp/hole_end" bs=4K count=1 seek=1000 conv=notrunc status=none
if tar -C "$MNT/sp" --sparse -cf - "${TAR_C[@]}" . | tar -C "$MNT/sp2" --sparse -xf - "${TAR_X[@]}"; then
	ok "tar c --sparse | tar x --sparse inside the mount"
else
	not_ok "tar c --sparse | tar x --sparse inside the mount exited non-zero"
fi
assert_tree_same "$MNT/sp" "$MNT/sp2" "--sparse round trip"
for f in hole_only data_hole_data hole_end; do
	read -r size blocks < <(stat -c '%s %b' "$MNT/sp2/$f")
	if ((blocks * 512 < size / 8)); then
		ok "tar x --sparse left $f sparse ($blocks blocks for $size bytes)"
	else
		not_ok "tar x --sparse left $f sparse" "expected st_blocks*512 < size/8 = $((size / 8))" \
			"got st_blocks=$blocks (size $size)"
	fi
done

# 4. After a remount: the trees are still identical and archive to the same bytes.
remount_lsmfs "$STORE" "$MNT"
assert_tree_same "$SRC" "$MNT/out" "after remount: source vs tar x output"
assert_tree_same "$MNT/tree" "$MNT/out2" "after remount: pipe output"
assert_tree_same "$MNT/sp" "$MNT/sp2" "after remount: --sparse output"
tar -C "$SRC" -cf "$T_DIR/src2.tar" "${TAR_DET[@]}" . || die "tar c of the source (2)"
assert_eq "$(sha256sum <"$T_DIR/src2.tar" | cut -d' ' -f1)" \
	"$(tar -C "$MNT/out" -cf - "${TAR_DET[@]}" . | sha256sum | cut -d' ' -f1)" \
	"after remount: the archive of the extracted tree equals the archive of the source"
assert_eq "$SRC_SHA" "$(sha256sum <"$MNT/archive.tar" | cut -d' ' -f1)" \
	"after remount: the archive file in the mount is unchanged"
assert_true "tar t of the archive in the mount lists it" tar -tf "$MNT/archive.tar"

umount_lsmfs "$MNT" && ok "clean final unmount" || not_ok "clean final unmount"
finish
