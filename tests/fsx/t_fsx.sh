#!/bin/bash
# The fsx checker (fsx.c) against a plain directory and against a fresh lsmfs mount.
#
#   bash tests/fsx/t_fsx.sh LSMFS FSX MODE
#
# MODE plain:   the checker checks itself: FSX_OPS operations on a directory under /tmp (no
#               mount), and a run that spoils a byte of the file on purpose must fail with
#               the report (first bad byte, the log).
#      mount:   FSX_OPS operations (default 100000) on one file of a fresh lsmfs, whose
#               64 KiB chunks and a 2 MiB largest file make cross-chunk operations frequent;
#               then unmount and remount, and the file must still hold what fsx expects.
#      remount: half of the operations, unmount, remount, the file must be as fsx left it,
#               then the other half starting from that content (fsx -i), with 4 KiB chunks
#               and a small memtable so that the store flushes and compacts under it.
#      shared:  fsx -T 4: four processes on one file, each writing its own 12 KiB stripes
#               (several to a 64 KiB chunk) and checking them, FSX_OPS (10000) each.
# On lsmfs, fsx -b also checks st_blocks at each whole-file check (tar and cp take a file
# with no blocks for all holes).  The seed is LSM_SEED (default fixed) and is printed; a failure prints the command that
# reproduces it.  The mounts are always unmounted (lib.sh's trap).
source "$(dirname "$0")/../integration/lib.sh"

FSX=$(realpath -e -- "${1:?usage: t_fsx.sh LSMFS FSX MODE}") || die "no fsx binary"
MODE=${2:?usage: t_fsx.sh LSMFS FSX MODE}
SEED=${LSM_SEED:-20240611}
note "seed $SEED (set LSM_SEED to change it)"

# run_fsx MSG ARGS...: fsx must exit 0; on failure its report is shown.
run_fsx() {
	local msg=$1 out rc t0 t1 keep
	shift
	t0=$(date +%s)
	out=$("$FSX" -q "$@" 2>&1)
	rc=$?
	t1=$(date +%s)
	if ((rc == 0)); then
		ok "$msg ($((t1 - t0)) s): $(printf '%s\n' "$out" | tail -n 1)"
	else
		# fsx -P left the expected and the actual content in $T_DIR, which
		# the trap removes: keep them.
		keep=$(mktemp -d /tmp/fsx-keep.XXXXXX) && cp -- "$T_DIR"/*.fsx* "$keep"/ 2>/dev/null
		not_ok "$msg: fsx exited $rc; reproduce: $(printf '%q ' "$FSX" "$@"); files kept in ${keep:-?}" \
			"$(printf '%s\n' "$out" | tail -n 80)"
	fi
	return $rc
}

# fresh_mount NAME [OPT...]: a new store and mount point under $T_DIR.
fresh_mount() {
	local name=$1
	shift
	mkdir -p "$T_DIR/$name.mnt"
	mount_lsmfs "$T_DIR/$name.store" "$T_DIR/$name.mnt" "$@"
}

case $MODE in
plain)
	OPS=${FSX_OPS:-50000}
	mkdir -p "$T_DIR/plain"
	run_fsx "fsx, $OPS operations on a plain directory under /tmp" \
		-N "$OPS" -S "$SEED" -P "$T_DIR" "$T_DIR/plain/file"
	out=$("$FSX" -q -N 3000 -S "$SEED" -C 1500 "$T_DIR/plain/spoiled" 2>&1)
	rc=$?
	assert_eq 1 "$rc" "fsx exits 1 when the file is spoiled behind its back"
	assert_match 'first bad byte at file offset 0x' "$out" "the report names the first bad byte"
	assert_match 'failing operation: +1500 CHECK' "$out" "the report names the failing operation"
	n=$(printf '%s\n' "$out" | grep -cE '^  \[size 0x[0-9a-f]+\] +[0-9]+ ')
	assert_eq 50 "$n" "the report shows the last 50 operations"
	run_fsx "fsx -T 3 (three processes, own stripes), 5000 operations each, plain directory" \
		-T 3 -N 5000 -S "$SEED" -P "$T_DIR" "$T_DIR/plain/shared"
	;;
mount)
	OPS=${FSX_OPS:-100000}
	fresh_mount m
	MNT=$T_DIR/m.mnt
	run_fsx "fsx, $OPS operations on lsmfs" -N "$OPS" -S "$SEED" -l 2M -c 64K -b -f 250 \
		-p 0 -P "$T_DIR" -s "$T_DIR/m.expected" "$MNT/fsx.file"
	rc=$?
	if ((rc == 0)); then
		remount_lsmfs "$T_DIR/m.store" "$MNT"
		assert_true "after a remount the file holds what fsx expects" \
			cmp -- "$T_DIR/m.expected" "$MNT/fsx.file"
	fi
	umount_lsmfs "$MNT" && ok "clean unmount" || not_ok "clean unmount"
	;;
remount)
	OPS=${FSX_OPS:-60000}
	HALF=$((OPS / 2))
	fresh_mount r chunk_size=4K write_buffer=256K
	MNT=$T_DIR/r.mnt
	if run_fsx "fsx, first $HALF operations (4 KiB chunks)" -N "$HALF" -S "$SEED" -b \
		-l 1M -c 4K -P "$T_DIR" -s "$T_DIR/r.half" "$MNT/fsx.file"; then
		remount_lsmfs "$T_DIR/r.store" "$MNT"
		assert_true "after the remount the file holds what fsx expects" \
			cmp -- "$T_DIR/r.half" "$MNT/fsx.file"
		run_fsx "fsx, $HALF more operations from the remounted content" -N "$HALF" \
			-S "$((SEED + 1))" -b -l 1M -c 4K -P "$T_DIR" -i "$T_DIR/r.half" \
			-s "$T_DIR/r.end" "$MNT/fsx.file" &&
			remount_lsmfs "$T_DIR/r.store" "$MNT" &&
			assert_true "after a second remount the file holds what fsx expects" \
				cmp -- "$T_DIR/r.end" "$MNT/fsx.file"
	fi
	umount_lsmfs "$MNT" && ok "clean unmount" || not_ok "clean unmount"
	;;
shared)
	OPS=${FSX_OPS:-10000}
	fresh_mount s write_buffer=256K
	run_fsx "fsx -T 4 (four processes, own stripes), $OPS operations each, on lsmfs" \
		-T 4 -N "$OPS" -S "$SEED" -b -l 2M -P "$T_DIR" "$T_DIR/s.mnt/fsx.file"
	umount_lsmfs "$T_DIR/s.mnt" && ok "clean unmount" || not_ok "clean unmount"
	;;
*)
	die "unknown mode $MODE (plain, mount, remount or shared)"
	;;
esac
finish
