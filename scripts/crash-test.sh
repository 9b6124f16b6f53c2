#!/usr/bin/env bash
# scripts/crash-test.sh — the long crash loops of issue 4: kill -9 of the daemon and a
# simulated power cut (fs/faultmode.c), each for many rounds (tests/crash/crash.sh says
# what a round does and checks).  ctest runs the same loops for 5 rounds each.
#
#   scripts/crash-test.sh [--rounds N] [--seed S] [--mode kill9|powercut|both]
#                         [--lsmfs PATH] [-- MORE crash.sh OPTIONS]
#
# Defaults: 50 rounds of each mode, a fresh random seed (printed; pass it back with
# --seed to rerun), lsmfs built into $BUILD (default build/) unless --lsmfs is given.
# Needs /dev/fuse and fusermount3 (run as root in the test VM).  Exit 0 only when
# every round of every mode passed; the summary names the failed rounds and the seed.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=50 SEED= MODES=(kill9 powercut) LSMFS= EXTRA=()
while (($#)); do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--mode) [[ $2 == both ]] && MODES=(kill9 powercut) || MODES=("$2"); shift 2 ;;
	--lsmfs) LSMFS=$2; shift 2 ;;
	--) shift; EXTRA=("$@"); break ;;
	-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "crash-test.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
[[ -n $SEED ]] || SEED=$(( $(od -An -N4 -tu4 /dev/urandom) % 1000000000 ))
if [[ -z $LSMFS ]]; then
	BUILD=${BUILD:-$REPO/build}
	echo "== build ($BUILD)"
	cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
		cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target lsmfs ||
		exit 2
	LSMFS=$BUILD/lsmfs
fi
echo "== crash loops: seed=$SEED rounds=$ROUNDS modes=${MODES[*]} lsmfs=$LSMFS"
declare -A RESULT=()
rc=0
for mode in "${MODES[@]}"; do
	echo "== $mode: $ROUNDS rounds, seed $SEED"
	log=$(mktemp "/tmp/lsmfs-crash-$mode.XXXXXX.log")
	bash "$REPO/tests/crash/crash.sh" --mode "$mode" --rounds "$ROUNDS" --seed "$SEED" \
		"${EXTRA[@]}" "$LSMFS" 2>&1 | tee "$log"
	r=${PIPESTATUS[0]}
	RESULT[$mode]="$(grep -E '^# seed=.*(passed|failed)' "$log" | tail -n 1 | sed 's/^# //') (exit $r; log $log)"
	((r == 0)) || rc=1
done
echo "== summary (seed $SEED)"
for mode in "${MODES[@]}"; do echo "$mode: ${RESULT[$mode]}"; done
exit $rc
