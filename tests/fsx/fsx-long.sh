#!/bin/bash
# The long fsx run: a million operations (FSX_OPS) on one file of a fresh lsmfs, in
# FSX_SEGMENTS segments; between segments the store is unmounted and mounted again, the
# file must hold what fsx expects, and the next segment starts from it (fsx -i).
#
#   bash tests/fsx/fsx-long.sh [LSMFS [FSX]]     (default: build/lsmfs, build/tests/fsx/fsx)
#
# Environment: LSM_SEED (default: random, printed; segment k uses seed+k), FSX_OPS
# (1000000), FSX_SEGMENTS (4), FSX_ARGS (more fsx options, e.g. "-l 4M -c 64K"),
# FSX_MOUNT_OPTS (lsmfs -o options, e.g. "chunk_size=4K").  On a failure the fsx report
# and the command that reproduces it are printed, and the files fsx saved are kept in
# /tmp/fsx-long-keep.*.  Exit 0 only when every segment passed.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LSMFS_BIN=${1:-$REPO/build/lsmfs}
FSX_BIN=${2:-$REPO/build/tests/fsx/fsx}
for b in "$LSMFS_BIN" "$FSX_BIN"; do
	[[ -x $b ]] || { echo "fsx-long.sh: no executable $b (build first: cmake -S . -B build && cmake --build build)" >&2; exit 2; }
done
export LSMFS_ITEST_DEADLINE=${LSMFS_ITEST_DEADLINE:-86400}
set -- "$LSMFS_BIN" "$FSX_BIN"
source "$REPO/tests/integration/lib.sh"
FSX=$(realpath -e -- "$FSX_BIN")

OPS=${FSX_OPS:-1000000}
SEGS=${FSX_SEGMENTS:-4}
SEED=${LSM_SEED:-$(($(od -An -N4 -tu4 /dev/urandom) % 1000000000))}
read -r -a XARGS <<<"${FSX_ARGS:-}"
read -r -a MOPTS <<<"${FSX_MOUNT_OPTS:+${FSX_MOUNT_OPTS//,/ }}"
PER=$(((OPS + SEGS - 1) / SEGS))
note "fsx-long: $OPS operations in $SEGS segments, seed $SEED, lsmfs options: ${FSX_MOUNT_OPTS:-(defaults)}, fsx options: ${FSX_ARGS:-(defaults)}"

STORE=$T_DIR/store
MNT=$T_DIR/mnt
mkdir -p "$MNT"
mount_lsmfs "$STORE" "$MNT" "${MOPTS[@]}"
prev=
done_ops=0
for ((k = 0; k < SEGS && done_ops < OPS; k++)); do
	n=$((OPS - done_ops < PER ? OPS - done_ops : PER))
	args=(-q -N "$n" -S "$((SEED + k))" -b -p 0 -P "$T_DIR" -s "$T_DIR/seg$k" "${XARGS[@]}")
	[[ -n $prev ]] && args+=(-i "$prev")
	t0=$(date +%s)
	out=$("$FSX" "${args[@]}" "$MNT/fsx.file" 2>&1)
	rc=$?
	t1=$(date +%s)
	if ((rc != 0)); then
		keep=$(mktemp -d /tmp/fsx-long-keep.XXXXXX)
		cp -- "$T_DIR"/*.fsx* ${prev:+"$prev"} "$keep"/ 2>/dev/null
		die "segment $k ($n operations, seed $((SEED + k))): fsx exited $rc; saved files in $keep; reproduce on a store holding ${prev:-nothing}: $(printf '%q ' "$FSX" "${args[@]}") FILE" \
			"$(printf '%s\n' "$out" | tail -n 80)"
	fi
	ok "segment $k: $n operations in $((t1 - t0)) s: $(printf '%s\n' "$out" | tail -n 1)"
	done_ops=$((done_ops + n))
	prev=$T_DIR/seg$k
	remount_lsmfs "$STORE" "$MNT" "${MOPTS[@]}"
	assert_true "after segment $k and a remount the file holds what fsx expects" \
		cmp -- "$prev" "$MNT/fsx.file" || break
done
assert_eq "$OPS" "$done_ops" "operations run"
umount_lsmfs "$MNT" && ok "clean unmount" || not_ok "clean unmount"
finish
