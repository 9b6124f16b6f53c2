#!/usr/bin/env bash
# tests/fuzz/run-fuzz.sh TARGET SEEDS WORK SECONDS [libFuzzer args...]
# Runs the libFuzzer binary TARGET for SECONDS over a fresh copy of the
# seed corpus SEEDS made in WORK (new inputs and crash artifacts go there,
# never into the source tree), and fails on any crash, hang, leak or
# sanitizer report.  Prints the executions done.  ctest calls it; so can
# a person, with a longer time.
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 TARGET SEEDS WORK SECONDS [args]" >&2; exit 2; }
target=$1 seeds=$2 work=$3 secs=$4
shift 4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp -R "$seeds"/. "$work/corpus/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
"$target" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" \
	"$work/corpus" >"$work/log" 2>&1 || rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
echo "$(basename "$target"): ${execs:-?} executions in ${secs} s, exit $rc"
if [ "$rc" != 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
	tail -n 60 "$work/log"
	echo "artifacts: $(ls "$work/artifacts")"
	exit 1
fi
