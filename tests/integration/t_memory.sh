#!/bin/bash
# The daemon's memory during a large copy: 1 GiB written with dd (1 MiB blocks, fsync)
# keeps its peak anonymous RSS below its budget, two memtables + the block cache + 64 MiB
# (issue 5), with the default memtable (64 MiB on this disk) and with -o write_buffer=4M;
# the file reads back as written (zeros, size) after a remount.
source "$(dirname "$0")/lib.sh"

STORE=$T_DIR/store
MNT=$T_DIR/mnt
MiB=$((1024 * 1024))
mkdir -p "$MNT"
FS_H=$(dirname "$0")/../../fs/fs.h
define_mib() { sed -n "s/^#define $1 (\\([0-9]*\\)u << 20).*/\\1/p" "$FS_H"; }
WB=$(define_mib FS_WRITE_BUFFER_DEFAULT) BC=$(define_mib FS_BLOCK_CACHE_DEFAULT)
[[ -n $WB && -n $BC ]] || die "cannot read FS_WRITE_BUFFER_DEFAULT and FS_BLOCK_CACHE_DEFAULT from $FS_H"
# The default shrinks on a small disk or machine (super.c): not here.
(($(df -k --output=size "$T_DIR" | tail -n 1) / 1024 >= 16 * WB)) || die "$T_DIR: disk too small for this test"

# Prints the daemon's peak anonymous RSS (RssAnon, sampled every 50 ms)
# and its VmHWM, in MiB, over a 1 GiB copy into $1.  The store maps its
# tables and its log window (lsm/sst.c, lsm/wal.c): those pages are the
# kernel's page cache, shared and reclaimable, and count in VmHWM but not
# in RssAnon, which is what the daemon itself allocates.
copy_peak() {
	local pid anon=0 a ddpid
	pid=$(daemon_pid "$(canon "$1")") || die "no daemon for $1"
	echo 5 >"/proc/$pid/clear_refs" # resets VmHWM
	dd if=/dev/zero of="$1/big" bs=1M count=1024 conv=fsync status=none &
	ddpid=$!
	while kill -0 "$ddpid" 2>/dev/null; do
		a=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status")
		((a > anon)) && anon=$a
		sleep 0.05
	done
	wait "$ddpid" || not_ok "dd into $1"
	echo $((anon / 1024)) $(($(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status") / 1024))
}

ASAN=0
ldd "$LSMFS" 2>/dev/null | grep -q libasan && ASAN=1
for wb in "$WB" 4; do
	opts=()
	((wb == WB)) || opts=("write_buffer=${wb}M")
	rm -rf "$STORE"
	mount_lsmfs "$STORE" "$MNT" "${opts[@]}"
	read -r peak hwm < <(copy_peak "$MNT")
	budget=$((2 * wb + BC + 64))
	note "write_buffer ${wb} MiB: peak anonymous RSS ${peak} MiB (VmHWM with mapped files ${hwm} MiB), budget ${budget} MiB"
	if ((ASAN)); then # its shadow memory and quarantine are no part of the budget
		note "AddressSanitizer build: RSS not checked"
	else
		assert_true "peak anonymous RSS ${peak} MiB below ${budget} MiB with ${wb} MiB memtables" test "$peak" -lt "$budget"
	fi
	remount_lsmfs "$STORE" "$MNT" "${opts[@]}"
	assert_eq $((1024 * MiB)) "$(stat -c %s "$MNT/big")" "the size after a remount"
	assert_true "the data after a remount" cmp -s -n $((1024 * MiB)) /dev/zero "$MNT/big"
	umount_lsmfs "$MNT" && ok "clean unmount" || not_ok "clean unmount"
done
finish
