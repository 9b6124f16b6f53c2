#!/bin/bash
# lsmfs fsck and scrub on a real store: a store populated through the mount is clean
# (exit 0); scrub runs while it is mounted and fsck refuses it then (exit 8); a table
# damaged with dd is reported with its file name (exit 4), the store still mounts with
# -o ro, and every file copied out of it is either intact or fails with EIO (never
# silently wrong); a damaged log needs -o ro,salvage, and fsck --repair fixes it (exit 1,
# then 0).
source "$(dirname "$0")/lib.sh"

STORE=$T_DIR/store
MNT=$T_DIR/mnt
OUT=$T_DIR/out
mkdir -p "$MNT" "$OUT"
SRC=${LSMFS_ITEST_TREE:-/usr/include/linux}

# fsck_run VAR CMD...: run lsmfs CMD..., output into VAR, exit code returned.
fsck_run() {
	local __v=$1 __out __rc
	shift
	__out=$("$LSMFS" "$@" 2>&1)
	__rc=$?
	printf -v "$__v" '%s' "$__out"
	return $__rc
}

# ---------------------------------------------------------------- populate
mount_lsmfs "$STORE" "$MNT" write_buffer=1M
cp -r "$SRC" "$MNT/tree" || die "cp -r $SRC into the mount failed"
head -c 6000000 /dev/urandom >"$T_DIR/big1.orig" && cp "$T_DIR/big1.orig" "$MNT/big1" ||
	die "writing big1 failed"
head -c 3000000 /dev/urandom >"$MNT/big2" || die "writing big2 failed"
for i in $(seq 1 50); do printf 'small file %d\n' "$i" >"$MNT/small$i"; done
mkdir -p "$MNT/d1/d2/d3" && echo deep >"$MNT/d1/d2/d3/f" && ln "$MNT/small1" "$MNT/d1/hl"
ln -s small2 "$MNT/sym"
(cd "$MNT" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$T_DIR/sums"
assert_true "checksums of the populated tree" test -s "$T_DIR/sums"

fsck_run out scrub "$STORE"
assert_eq 0 $? "scrub of the mounted store exits 0"
assert_match "scrub: .* clean" "$out" "scrub of the mounted store reports clean"
fsck_run out fsck "$STORE"
assert_eq 8 $? "fsck of the mounted store exits 8"
assert_match "in use" "$out" "fsck of the mounted store says it is in use"

# Scrub beside writes: the store flushes and compacts while scrub reads.
(for i in $(seq 1 40); do head -c 200000 /dev/urandom >"$MNT/churn$i"; done; rm -f "$MNT"/churn*) &
churn=$!
scrub_fail=0
for i in 1 2 3 4 5; do
	fsck_run out scrub "$STORE" || { scrub_fail=1; note "$out"; }
done
wait $churn
assert_eq 0 "$scrub_fail" "scrub while files are written and removed reports clean"

umount_lsmfs "$MNT" || not_ok "clean unmount after populating"

# ---------------------------------------------------------------- clean fsck
fsck_run out fsck "$STORE"
assert_eq 0 $? "fsck of the unmounted store exits 0"
assert_match "clean" "$out" "fsck says clean"
fsck_run out fsck "$STORE" --repair
assert_eq 0 $? "fsck --repair of a clean store exits 0"
fsck_run out fsck
assert_eq 8 $? "fsck without a store exits 8"
fsck_run out fsck "$T_DIR/nostore"
assert_eq 8 $? "fsck of a missing store exits 8"

# ---------------------------------------------------------------- a damaged table
# The block of the table that holds big1's bytes at 3,000,000 (chunk values are stored
# as they are), so that the damage surely hits live data: big1 must give EIO.
where=$(py "$STORE" "$T_DIR/big1.orig" <<'EOF'
import glob, sys
needle = open(sys.argv[2], 'rb').read()[3000000:3000064]
for p in sorted(glob.glob(sys.argv[1] + '/*.sst')):
    i = open(p, 'rb').read().find(needle)
    if i >= 0:
        print(p, i)
        break
EOF
)
read -r sst off <<<"$where"
[[ -n $sst && -n $off ]] || die "big1's data is in no table file" "$(ls -l "$STORE")"
note "damaging $(basename "$sst") at offset $off (inside big1's data)"
head -c 16 /dev/urandom | dd of="$sst" bs=1 seek="$off" conv=notrunc status=none
fsck_run out fsck "$STORE"
assert_eq 4 $? "fsck of the damaged store exits 4"
assert_match "$(basename "$sst"): bad block" "$out" "fsck names the damaged table"
fsck_run out scrub "$STORE"
assert_eq 4 $? "scrub of the damaged store exits 4"
assert_match "$(basename "$sst")" "$out" "scrub names the damaged table"
fsck_run out fsck "$STORE" --repair
assert_eq 4 $? "fsck --repair leaves a damaged table (exit 4)"

mount_lsmfs "$STORE" "$MNT" ro
(cd "$MNT" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$T_DIR/sums.ro" 2>"$T_DIR/sums.err"
good=0 bad=0 wrong=0
while read -r sum name; do
	got=$(grep -F "  $name" "$T_DIR/sums.ro" | head -n 1 | cut -d' ' -f1)
	if [[ -z $got ]]; then bad=$((bad + 1))
	elif [[ $got == "$sum" ]]; then good=$((good + 1))
	else wrong=$((wrong + 1)); note "wrong content: $name"
	fi
done <"$T_DIR/sums"
note "read-only mount: $good files intact, $bad unreadable"
assert_match "big1" "$(cat "$T_DIR/sums.err")" "big1, whose block is damaged, gives an error"
assert_eq 0 "$wrong" "no file of the damaged store reads back wrong"
assert_true "most files of the damaged store read back intact ($good)" test "$good" -gt 100
errs=$(grep -v 'Input/output error' "$T_DIR/sums.err" | head -n 5)
assert_eq "" "$errs" "unreadable files fail with EIO only"
cp -r "$MNT/tree" "$OUT/" 2>/dev/null
assert_true "files copied out of the ro mount" test -s "$OUT/tree/$(cd "$SRC" && find . -type f | head -n 1)"
assert_false "writing to the ro mount fails" touch "$MNT/new"
umount_lsmfs "$MNT" || not_ok "clean unmount of the ro mount"

# ---------------------------------------------------------------- a damaged log
STORE2=$T_DIR/store2
mount_lsmfs "$STORE2" "$MNT"
for i in 1 2 3 4 5 6; do printf 'record %d\n' "$i" >"$MNT/f$i"; sync "$MNT/f$i"; done
umount_lsmfs "$MNT" || not_ok "clean unmount of store2"
log=$(ls "$STORE2"/*.log | tail -n 1)
lsize=$(stat -c %s "$log")
note "damaging $(basename "$log") ($lsize bytes) at offset $((lsize / 2))"
printf '\xff\xff\xff\xff' | dd of="$log" bs=1 seek=$((lsize / 2)) conv=notrunc status=none
fsck_run out fsck "$STORE2"
assert_eq 4 $? "fsck of a store with a damaged log exits 4"
assert_match "$(basename "$log"): corrupt WAL record" "$out" "fsck names the damaged log"
out=$("$LSMFS" "$STORE2" "$MNT" -o ro 2>&1)
assert_ne 0 $? "-o ro alone refuses a damaged log"
assert_match "salvage" "$out" "the refusal suggests -o ro,salvage"
mount_lsmfs "$STORE2" "$MNT" ro salvage
assert_true "the salvaged store lists" ls "$MNT"
assert_eq "record 1" "$(cat "$MNT/f1")" "the records before the damage are there"
umount_lsmfs "$MNT" || not_ok "clean unmount of the salvaged store"
fsck_run out fsck "$STORE2"
rc=$?
if ((rc == 0)); then
	ok "fsck after the salvage mount is clean"
else
	assert_eq 4 "$rc" "fsck after the salvage mount exits 0 or 4"
	fsck_run out fsck "$STORE2" --repair
	assert_eq 1 $? "fsck --repair fixes it (exit 1)"
	fsck_run out fsck "$STORE2"
	assert_eq 0 $? "the second fsck is clean"
fi

# fsck --repair on a damaged log without a mount in between.
STORE3=$T_DIR/store3
mount_lsmfs "$STORE3" "$MNT"
for i in 1 2 3 4 5 6; do printf 'record %d\n' "$i" >"$MNT/f$i"; sync "$MNT/f$i"; done
umount_lsmfs "$MNT" || not_ok "clean unmount of store3"
log=$(ls "$STORE3"/*.log | tail -n 1)
lsize=$(stat -c %s "$log")
printf '\xff\xff\xff\xff' | dd of="$log" bs=1 seek=$((lsize / 2)) conv=notrunc status=none
fsck_run out fsck "$STORE3" --repair
assert_eq 1 $? "fsck --repair of a damaged log exits 1"
assert_match "salvage" "$out" "fsck --repair says it salvaged the log"
fsck_run out fsck "$STORE3"
assert_eq 0 $? "the second fsck is clean"
mount_lsmfs "$STORE3" "$MNT"
assert_eq "record 1" "$(cat "$MNT/f1")" "the repaired store mounts read-write"
umount_lsmfs "$MNT" || not_ok "clean unmount of store3"

finish
