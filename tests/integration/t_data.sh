#!/bin/bash
# The data path's read side (fs/main.c): the mount's readahead is raised to 4 MiB
# through sysfs (-o readahead= sets it, 0 keeps the kernel's), so that a cold sequential
# read reaches the daemon as 1 MiB requests; reads spanning several chunks (holes, a
# short last chunk, reads starting and ending inside chunks) must come back exactly,
# cold (after a remount) and warm.
source "$(dirname "$0")/lib.sh"

STORE=$T_DIR/store
MNT=$T_DIR/mnt
mkdir -p "$MNT"
ra_kb() { cat "/sys/class/bdi/$(mountpoint -d "$MNT")/read_ahead_kb"; }

mount_lsmfs "$STORE" "$MNT"
if [[ $(id -u) == 0 ]]; then
	assert_eq 4096 "$(ra_kb)" "default: the mount's readahead is 4 MiB"
else
	note "not root: readahead checks skipped"
fi

# A sparse file: data at odd offsets, holes of whole and partial chunks, a tail.
SRC=$T_DIR/src
py "$SRC" <<'PY'
import os, random, sys
r = random.Random(5)
with open(sys.argv[1], "wb") as f:
    for off, n in [(0, 1000), (70000, 200000), (1 << 20, 65536), (3 * (1 << 20) + 123, 4096),
                   (5 * (1 << 20) - 7, 300001)]:
        f.seek(off)
        f.write(bytes(r.getrandbits(8) for _ in range(n)))
PY
cp --sparse=always "$SRC" "$MNT/f" || die "cp"
cmp "$SRC" "$MNT/f" && ok "warm read of a sparse file" || not_ok "warm read of a sparse file"
umount_lsmfs "$MNT"
sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
mount_lsmfs "$STORE" "$MNT"
cmp "$SRC" "$MNT/f" && ok "cold read of a sparse file" || not_ok "cold read of a sparse file"
# Reads of odd sizes at odd offsets, bypassing the page cache's alignment with O_DIRECT
# where the kernel allows it, else plain.
py "$SRC" "$MNT/f" <<'PY' && ok "reads at odd offsets and sizes" || not_ok "reads at odd offsets and sizes"
import os, random, sys
src = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_RDONLY)
r = random.Random(7)
for _ in range(300):
    off = r.randrange(0, len(src) + 1000)
    n = r.choice([1, 4095, 65536, 65537, 131072 + 17, 1 << 20, 3 << 20])
    got = os.pread(fd, n, off)
    if got != src[off:off + n]:
        sys.exit("mismatch at %d+%d" % (off, n))
PY

if [[ $(id -u) == 0 ]]; then
	remount_lsmfs "$STORE" "$MNT" readahead=1M
	assert_eq 1024 "$(ra_kb)" "-o readahead=1M"
	remount_lsmfs "$STORE" "$MNT" readahead=0
	assert_ne 4096 "$(ra_kb)" "-o readahead=0 keeps the kernel's"
	umount_lsmfs "$MNT"
	assert_false "-o readahead=abc is refused" "$LSMFS" "$STORE" "$MNT" -o readahead=abc
	mount_lsmfs "$STORE" "$MNT"
fi
cmp "$SRC" "$MNT/f" && ok "the data after remounts" || not_ok "the data after remounts"
umount_lsmfs "$MNT" && ok "clean unmount" || not_ok "clean unmount"
finish
