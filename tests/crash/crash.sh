#!/bin/bash
# tests/crash/crash.sh: the crash loops of issue 4.
#
#   bash tests/crash/crash.sh [--mode kill9|powercut] [--rounds N] [--seed S (default:
#                             $LSM_SEED, else 1)]
#                             [--procs P] [--max-delay SECONDS] [--mount-opt OPT]...
#                             /path/to/lsmfs
# (--max-delay: whole seconds; --mount-opt: -o options of the crashing mounts only, e.g.
# sync=none to see the test catch a filesystem whose fsync does not sync; without it,
# even rounds mount with write_buffer=256K so that crashes often hit a flush.)
#
# Each round, on one store that lives through all rounds:
#   1. mount; tests/crash/workload.py runs P processes of creates, writes, appends,
#      truncates, renames, links, unlinks, mkdir/rmdir and fsyncs of files and
#      directories in MNT/rR, logging outside the mount what each fsync made durable;
#   2. at a random moment (0.3 s .. --max-delay, from the seed):
#        kill9:    kill -9 of the daemon;
#        powercut: the daemon runs with LSMFS_TEST_POWERCUT=SEED (fs/faultmode.c: the
#                  store behind the fault env); SIGUSR1 makes it drop every byte not
#                  synced, as a power cut would, and _exit;
#      then fusermount3 -u;
#   3. `lsmfs fsck STORE` must exit 0 (skipped, with a note, while lsmfs has no fsck);
#   4. a normal mount; every claim in the logs of this round and of the three before
#      must hold (workload.py check: last record per path decides), every entry stats
#      and every file reads; rounds older than three are removed (rm -rf through the
#      mount), so that deletion and its compaction are exercised as well; clean unmount.
# A final mount checks the surviving rounds again and fsck runs on the cleanly closed
# store.  Every line names the round and the seed: rerun one round with
# `--seed S --rounds R` (rounds 1..R-1 rebuild the same history only approximately,
# since the kill moment races with the workload).  The store and logs of a failed
# round (taken right after the crash, before the remount) are kept in
# /tmp/lsmfs-crash-fail.* for diagnosis (not with --no-keep).
set -u
MODE=kill9 ROUNDS=5 SEED= PROCS=4 MAXDELAY=3 MOPTS=() KEEP=1
while [[ $# -gt 1 ]]; do
	case $1 in
	--mode) MODE=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--procs) PROCS=$2; shift 2 ;;
	--max-delay) MAXDELAY=$2; shift 2 ;;
	--mount-opt) MOPTS+=("$2"); shift 2 ;;
	--no-keep) KEEP=0; shift ;;
	*) echo "crash.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
case $MODE in kill9 | powercut) ;; *) echo "crash.sh: --mode kill9 or powercut" >&2; exit 2 ;; esac
[[ -n $SEED ]] || SEED=${LSM_SEED:-1}
[[ $SEED =~ ^[0-9]+$ && $ROUNDS =~ ^[0-9]+$ && $MAXDELAY =~ ^[1-9][0-9]*$ ]] ||
	{ echo "crash.sh: --seed, --rounds and --max-delay take whole numbers" >&2; exit 2; }
# Rounds take a few seconds each; give the lib's watchdog room for long runs.
export LSMFS_ITEST_DEADLINE=${LSMFS_ITEST_DEADLINE:-$((120 + ROUNDS * 40))}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh"
T_NAME=crash_$MODE

STORE=$T_DIR/store
MNT=$T_DIR/mnt
LOGS=$T_DIR/logs
mkdir -p "$MNT" "$LOGS"
note "crash loop: mode=$MODE rounds=$ROUNDS seed=$SEED procs=$PROCS max-delay=${MAXDELAY}s"

HAVE_FSCK=0
if "$LSMFS" --help 2>&1 | grep -qE '(^|[^[:alnum:]_])fsck([^[:alnum:]_]|$)'; then
	HAVE_FSCK=1
else
	note "lsmfs has no fsck subcommand yet (not in lsmfs --help): fsck checks skipped;" \
		"ls -R, stat and reads of every file are checked instead"
fi

# fsck_store WHEN: lsmfs fsck STORE must report a clean store (exit 0).
fsck_store() {
	local out rc
	((HAVE_FSCK)) || return 0
	out=$("$LSMFS" fsck "$STORE" 2>&1)
	rc=$?
	if ((rc == 0)); then ok "$1: fsck clean"; else
		not_ok "$1: lsmfs fsck exit $rc" "$(printf '%s\n' "$out" | head -n 30)"
		return 1
	fi
}

# check_tree WHEN: every entry under the mount stats and every file reads.
check_tree() {
	local out
	out=$( { ls -R "$MNT" >/dev/null && find "$MNT" -printf '%i %n %s %y\n' >/dev/null &&
		find "$MNT" -type f -exec cat {} + >/dev/null; } 2>&1)
	if [[ -z $out ]]; then ok "$1: ls -R, stat and read of every entry"; else
		not_ok "$1: the tree does not list, stat or read" "$(printf '%s\n' "$out" | head)"
		return 1
	fi
}

# check_round K WHEN: the claims of round K's logs against the mount.
check_round() {
	local out rc
	out=$(py check --dir "$MNT/r$1" --log "$LOGS/r$1" --label "$2, round $1's claims" \
		<"$HERE/workload.py" 2>&1)
	rc=$?
	if ((rc == 0)); then ok "$(printf '%s\n' "$out" | tail -n 1)"; else
		not_ok "$2: fsync-ed state of round $1 lost" "$(printf '%s\n' "$out" | head -n 40)"
		return 1
	fi
}

# cut_daemon PID WORKLOAD_PID: the crash of this mode, then fusermount3 -u.
cut_daemon() {
	local pid=$1 wpid=$2 i
	if [[ $MODE == kill9 ]]; then
		kill -9 "$pid" 2>/dev/null
	else
		kill -USR1 "$pid" 2>/dev/null
	fi
	wait_pid_exit "$pid" 20 || { not_ok "round $R: daemon $pid did not end"; kill -9 "$pid"; }
	wait_pid_exit "$wpid" 30 || note "round $R: the workload still runs 30 s after the crash"
	for ((i = 0; i < 40; i++)); do
		is_mounted "$MNT" || break
		fusermount3 -u -- "$MNT" 2>/dev/null && break
		sleep 0.25
	done
	is_mounted "$MNT" && fusermount3 -u -z -- "$MNT" 2>/dev/null
	t_forget_mount "$MNT"
}

# keep_failure R: the post-crash store and the logs, for diagnosis.
keep_failure() {
	((KEEP)) || return 0
	local d=/tmp/lsmfs-crash-fail.$MODE.seed$SEED.round$1
	rm -rf "$d" && mkdir -p "$d" && cp -a "$T_DIR/crashed-store" "$d/store" &&
		cp -a "$LOGS" "$d/logs" && note "kept the store after the crash and the logs in $d"
}

MNT=$(canon "$MNT")
FAILED_ROUNDS=()
for ((R = 1; R <= ROUNDS; R++)); do
	RS=$((SEED * 1000 + R))
	RANDOM=$RS
	DELAY_MS=$((300 + RANDOM % (MAXDELAY * 1000 - 300 + 1)))
	F0=$T_FAIL
	# Even rounds get a small memtable, so that the crash more often falls in a
	# flush, a log switch or a compaction.
	ROPTS=("${MOPTS[@]}")
	((${#MOPTS[@]} == 0 && R % 2 == 0)) && ROPTS=(write_buffer=256K)
	note "round $R/$ROUNDS seed=$SEED ($MODE, round seed $RS, crash after ${DELAY_MS} ms${ROPTS[*]:+, -o ${ROPTS[*]}})"
	if [[ $MODE == powercut ]]; then
		LSMFS_TEST_POWERCUT=$RS mount_lsmfs "$STORE" "$MNT" "${ROPTS[@]}"
	else
		mount_lsmfs "$STORE" "$MNT" "${ROPTS[@]}"
	fi
	DPID=${T_PID[$MNT]}
	[[ -n $DPID ]] || die "round $R: no daemon pid for $MNT"
	py run --dir "$MNT/r$R" --log "$LOGS/r$R" --procs "$PROCS" --seed "$RS" --seconds 120 \
		$([[ $MODE == powercut ]] && echo --powercut) <"$HERE/workload.py" &
	WPID=$!
	sleep "$((DELAY_MS / 1000)).$(printf '%03d' $((DELAY_MS % 1000)))"
	pid_alive "$WPID" || note "round $R: the workload ended before the crash"
	pid_alive "$DPID" || not_ok "round $R seed=$SEED: the daemon died by itself before the $MODE"
	cut_daemon "$DPID" "$WPID"
	wait "$WPID"
	WRC=$?
	((WRC == 0)) || not_ok "round $R seed=$SEED: the workload failed (exit $WRC) other than by the crash"
	rm -rf "$T_DIR/crashed-store" && cp -a "$STORE" "$T_DIR/crashed-store"
	fsck_store "round $R seed=$SEED: after the $MODE"
	mount_lsmfs "$STORE" "$MNT"
	for ((K = R > 3 ? R - 3 : 1; K <= R; K++)); do
		check_round "$K" "round $R seed=$SEED"
	done
	check_tree "round $R seed=$SEED"
	if ((R > 3)); then
		rm -rf "$MNT/r$((R - 3))" || not_ok "round $R: rm -rf of round $((R - 3))"
	fi
	umount_lsmfs "$MNT" || not_ok "round $R seed=$SEED: clean unmount"
	if ((T_FAIL > F0)); then
		FAILED_ROUNDS+=("$R")
		keep_failure "$R"
	fi
done

mount_lsmfs "$STORE" "$MNT"
for ((K = ROUNDS > 2 ? ROUNDS - 2 : 1; K <= ROUNDS; K++)); do
	check_round "$K" "final seed=$SEED"
done
check_tree "final seed=$SEED"
umount_lsmfs "$MNT" || not_ok "final seed=$SEED: clean unmount"
fsck_store "final seed=$SEED: after a clean unmount"
note "store: $(du -sh "$STORE" | cut -f1) after $ROUNDS rounds"
if ((${#FAILED_ROUNDS[@]})); then
	note "seed=$SEED mode=$MODE: rounds that failed: ${FAILED_ROUNDS[*]}"
else
	note "seed=$SEED mode=$MODE: all $ROUNDS rounds passed"
fi
finish
