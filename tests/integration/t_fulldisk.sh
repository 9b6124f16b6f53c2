#!/bin/bash
# A full disk: the store lives on a 64 MiB tmpfs.  Filling it through the mount gives
# ENOSPC (never EIO, never a crash); the files written before stay readable; deleting
# files and waiting for compaction gives the space back and writing works again; after
# unmount the store is consistent (fsck clean when the command exists) and remounts.
source "$(dirname "$0")/lib.sh"

SMALL=$T_DIR/small
STORE=$SMALL/store
MNT=$T_DIR/mnt
REF=$T_DIR/ref4m
mkdir -p "$SMALL" "$MNT"
mount -t tmpfs -o size=64m tmpfs "$SMALL" || die "cannot mount a 64 MiB tmpfs"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$REF"

mount_lsmfs "$STORE" "$MNT"

# ---- fill: 4 MiB files until a write fails
n=0 err=
for ((i = 0; i < 40; i++)); do
	if ! err=$(dd if="$REF" of="$MNT/f$i" bs=1M conv=fsync 2>&1); then
		break
	fi
	n=$((i + 1))
done
note "wrote $n files of 4 MiB before the disk was full"
assert_true "the disk filled up before 40 files of 4 MiB" test "$n" -lt 40
assert_true "at least 4 files fit" test "$n" -ge 4
assert_match "No space left on device" "$err" "the failing write reports ENOSPC"
if [[ $err == *"Input/output error"* ]]; then
	not_ok "no EIO on a full disk" "$err"
fi
assert_true "the daemon is still alive" is_mounted "$(canon "$MNT")"

# ---- everything written before is intact
bad=0
for ((i = 0; i < n; i++)); do cmp -s "$REF" "$MNT/f$i" || bad=$((bad + 1)); done
assert_eq 0 "$bad" "files written before the disk filled read back intact"
assert_true "ls works on a full disk" ls -l "$MNT"

# ---- deleting files gives the space back
rm -f "$MNT"/f*
assert_eq "" "$(ls -A "$MNT")" "rm works on a full disk"
sync
okw=0
for ((t = 0; t < 60; t++)); do
	if dd if="$REF" of="$MNT/again" bs=1M conv=fsync 2>/dev/null; then
		okw=1
		break
	fi
	sleep 1
done
assert_eq 1 "$okw" "writing works again after deleting files (waited $t s for compaction)"
assert_true "the new file is intact" cmp -s "$REF" "$MNT/again"
note "tmpfs use after reclaiming: $(df -h "$SMALL" | tail -n 1)"

# ---- consistent after unmount
umount_lsmfs "$MNT" && ok "clean unmount" || not_ok "clean unmount"
if "$LSMFS" fsck --help >/dev/null 2>&1 || "$LSMFS" --help 2>&1 | grep -q fsck; then
	out=$("$LSMFS" fsck "$STORE" 2>&1)
	assert_eq 0 $? "fsck of the store after the full disk is clean" "$out"
else
	note "lsmfs has no fsck yet: skipped"
fi
mount_lsmfs "$STORE" "$MNT"
assert_true "after remount the file is intact" cmp -s "$REF" "$MNT/again"
umount_lsmfs "$MNT" && ok "clean final unmount" || not_ok "clean final unmount"
finish
