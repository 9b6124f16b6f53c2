#!/bin/bash
# A 1 GiB file written with dd (bs=1M) reads back with the same sha256, before and after a
# remount, also in unaligned pieces; an unaligned overwrite in the middle and a truncate
# down then up keep it right; dd with seek= leaves a hole that reads as zeros and takes
# little space (du, st_blocks).
source "$(dirname "$0")/lib.sh"

STORE=$T_DIR/store
MNT=$T_DIR/mnt
REF=$T_DIR/big.ref      # the reference copy on the plain disk
GiB=$((1024 * 1024 * 1024))
mkdir -p "$MNT"

sha() { sha256sum <"$1" | cut -d' ' -f1; }

# compare_ranges FILE REF WHEN: 200 random (offset, length) reads, many across 4 KiB,
# 64 KiB and 1 MiB boundaries, compared byte for byte.
compare_ranges() {
	local out
	out=$(py "$1" "$2" <<'EOF'
import os, random, sys
a, b = (os.open(p, os.O_RDONLY) for p in sys.argv[1:3])
size = os.fstat(b).st_size
rnd = random.Random(1234)
bad = 0
for i in range(200):
    if i % 2:
        off = rnd.randrange(size)
    else:   # straddle a power-of-two boundary
        unit = rnd.choice([4096, 65536, 1 << 20])
        off = max(0, rnd.randrange(size // unit) * unit - rnd.randrange(1, 5000))
    n = rnd.choice([1, 7, 4095, 4097, 65537, 300000, 1 << 20])
    x, y = os.pread(a, n, off), os.pread(b, n, off)
    if x != y:
        bad += 1
        if bad <= 5:
            print('differ at offset %d length %d (got %d bytes, expected %d)' % (off, n, len(x), len(y)))
print('bad=%d' % bad)
EOF
	)
	if [[ $out == bad=0 ]]; then ok "$3: 200 unaligned reads equal the reference"; else
		not_ok "$3: unaligned reads differ from the reference" "$out"
	fi
}

note "making a 1 GiB reference file of random data on the plain disk"
dd if=/dev/urandom of="$REF" bs=1M count=1024 status=none || die "dd of the reference"
REF_SHA=$(sha "$REF")

mount_lsmfs "$STORE" "$MNT"

# ---- 1 GiB written with dd bs=1M
if t_time T_W dd if="$REF" of="$MNT/big" bs=1M status=none; then
	ok "dd bs=1M of 1 GiB into the mount"
else
	not_ok "dd bs=1M of 1 GiB into the mount exited non-zero"
fi
assert_eq "$GiB" "$(stat -c %s "$MNT/big")" "size of the 1 GiB file"
t_time T_R eval 'GOT=$(sha "$MNT/big")'
assert_eq "$REF_SHA" "$GOT" "sha256 of the 1 GiB file read back"
compare_ranges "$MNT/big" "$REF" "live mount"

remount_lsmfs "$STORE" "$MNT"
t_time T_R2 eval 'GOT=$(sha "$MNT/big")'
assert_eq "$REF_SHA" "$GOT" "after remount: sha256 of the 1 GiB file"
compare_ranges "$MNT/big" "$REF" "after remount"

# ---- an unaligned overwrite across chunk boundaries, in the file and in the reference
dd if=/dev/urandom of="$T_DIR/patch" bs=1000003 count=3 status=none
for f in "$MNT/big" "$REF"; do
	dd if="$T_DIR/patch" of="$f" bs=1000003 seek=123456789 oflag=seek_bytes conv=notrunc status=none ||
		not_ok "dd of the patch into $f"
done
assert_eq "$(sha "$REF")" "$(sha "$MNT/big")" "unaligned 3 MB overwrite at offset 123456789"

# ---- truncate down into the middle of a chunk, then up again: the tail reads as zeros
truncate -s 500000001 "$MNT/big" "$REF" && truncate -s 600000000 "$MNT/big" "$REF"
assert_eq "600000000" "$(stat -c %s "$MNT/big")" "size after truncate down then up"
assert_eq "$(sha "$REF")" "$(sha "$MNT/big")" "truncate down to 500000001 then up to 600000000: content"
assert_true "bytes 500000001.. read as zeros after truncate down and up" \
	cmp -n 99999999 <(tail -c +500000002 "$MNT/big") /dev/zero
REF2_SHA=$(sha "$REF")

# ---- holes left by dd seek=
dd if=/dev/urandom of="$T_DIR/tail" bs=1M count=1 status=none
assert_true "dd bs=1M seek=1023 count=1 (a 1 GiB file with 1 MiB of data at the end)" \
	dd if="$T_DIR/tail" of="$MNT/holey" bs=1M seek=1023 count=1 status=none
assert_eq "$GiB" "$(stat -c %s "$MNT/holey")" "size of the holey file"
printf 'x' | dd of="$MNT/holey2" bs=1 seek=$((5 * 1000 * 1000 * 1000)) status=none
assert_eq "5000000001" "$(stat -c %s "$MNT/holey2")" "a 1-byte write at 5 GB (unaligned) makes a 5000000001-byte file"

check_holes() {   # WHEN
	local blocks size kb
	assert_true "$1: the first 1023 MiB of the holey file read as zeros" \
		cmp -n $((1023 * 1024 * 1024)) "$MNT/holey" /dev/zero
	assert_true "$1: the last MiB of the holey file is the data" \
		cmp <(tail -c $((1024 * 1024)) "$MNT/holey") "$T_DIR/tail"
	read -r size blocks < <(stat -c '%s %b' "$MNT/holey")
	kb=$(du -k "$MNT/holey" | cut -f1)
	if ((blocks * 512 <= 16 * 1024 * 1024)) && ((kb <= 16 * 1024)); then
		ok "$1: the holey 1 GiB file takes little space (st_blocks=$blocks, du ${kb} KiB)"
	else
		not_ok "$1: the holey 1 GiB file takes little space" \
			"expected st_blocks*512 and du <= 16 MiB for 1 MiB of data" \
			"got st_blocks=$blocks (= $((blocks / 2)) KiB), du ${kb} KiB, size $size"
	fi
	read -r size blocks < <(stat -c '%s %b' "$MNT/holey2")
	if ((blocks * 512 <= 1024 * 1024)); then ok "$1: the 5 GB file with 1 byte takes little space ($blocks blocks)"; else
		not_ok "$1: the 5 GB file with 1 byte takes little space" "expected st_blocks*512 <= 1 MiB" "got st_blocks=$blocks"
	fi
	assert_eq "x" "$(tail -c 1 "$MNT/holey2")" "$1: the last byte of the 5 GB file"
	assert_true "$1: 1 MiB before the last byte of the 5 GB file reads as zeros" \
		cmp -n $((1024 * 1024)) <(tail -c $((1024 * 1024 + 1)) "$MNT/holey2") /dev/zero
}
check_holes "live mount"

remount_lsmfs "$STORE" "$MNT"
check_holes "after remount"
assert_eq "$REF2_SHA" "$(sha "$MNT/big")" "after remount: overwritten and truncated file"

# ---- removing the big files works, and the names are gone
assert_true "rm of the big files" rm "$MNT/big" "$MNT/holey" "$MNT/holey2"
assert_eq "" "$(ls -A "$MNT")" "the mount is empty again"

umount_lsmfs "$MNT" && ok "clean final unmount" || not_ok "clean final unmount"
printf 'TIME 1 GiB: dd bs=1M write %s s, sha256 read %s s (after remount %s s); store on disk %s\n' \
	"$T_W" "$T_R" "$T_R2" "$(du -sh "$STORE" | cut -f1)"
finish
