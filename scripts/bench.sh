#!/usr/bin/env bash
# scripts/bench.sh [OPTIONS]: lsmfs and its store beside their baselines, in one call.
#
#   1. installs what is missing (build tools, fio, fsmark, rsync, python3, LevelDB and
#      RocksDB development packages), builds lsmfs and kvbench into build-bench/ and
#      libfuse's passthrough_ll example from the source libfuse3-dev ships;
#   2. store: bench/kvbench (lsm, LevelDB, RocksDB; see the top of bench/kvbench.c);
#   3. filesystem: the same workloads, in turns, on an lsmfs mount, a passthrough_ll
#      mount of a directory on the same disk, and a directory of that disk itself:
#      fio sequential write (1 MiB blocks, final fsync) and cold read of a 1 GiB file,
#      4 KiB random writes then cold random reads on a 256 MiB file (20 s each),
#      fs_mark creating 20,000 files of 4 KiB in one directory, and on a tree of many
#      small files (default /usr/include): cp -a, ls -lR (cold), rm -rf, tar x, rsync -a
#      and a second rsync -a with nothing to do.  "Cold" means caches dropped
#      (echo 3 > /proc/sys/vm/drop_caches) and the FUSE file systems remounted.
#      It prints a table with each place's figure and lsmfs's speed ratio to the others
#      (above 1: lsmfs is faster), the daemons' peak RSS (VmHWM) during the sequential
#      write and the bytes each daemon wrote (/proc/PID/io write_bytes) per byte written;
#   4. memory: a copy (dd, 1 MiB blocks, fsync) of a 4 GiB file into each place while
#      the daemon's VmRSS is sampled; prints its peak (VmHWM) beside lsmfs's budget:
#      2 memtables (FS_WRITE_BUFFER_DEFAULT of fs/fs.h: the one filling and the one
#      being flushed) + the block cache (FS_BLOCK_CACHE_DEFAULT) + 64 MiB.
#
# Options:
#   --quick          small sizes for a fast check (128 MiB, 32 MiB for 3 s, 2,000 files,
#                    /usr/include/linux, a 512 MiB copy, kvbench -n 100000 -r 1)
#   --only LIST      only these file system workloads (comma-separated names as for
#                    --perf, and bigcopy; a workload's dependency runs too)
#   --kv-only, --fs-only
#   --rounds N       rounds of the file system workloads (median is shown; default 1)
#   --dir DIR        scratch directory on the disk under test (default /var/tmp/lsmfs-bench)
#   --tree DIR       the small-file tree (default /usr/include)
#   --kv-args ARGS   arguments for kvbench (default "-n 1000000 -r 2")
#   --perf WORKLOAD  perf record the lsmfs daemon during that file system workload
#                    (seqwrite seqread randwrite randread fsmark cp lsR rm tar rsync rsync2
#                    bigcopy)
#                    into DIR/perf-WORKLOAD.data, and print its top functions
#   --out FILE       also write the tables to FILE
# Run as root (packages, drop_caches, FUSE mounts).
set -uo pipefail
export LC_ALL=C

die() {
	echo "bench.sh: $*" >&2
	exit 1
}
note() { echo "== $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || die "cannot find the repository"
BUILD=$REPO/build-bench
QUICK=0 DO_KV=1 DO_FS=1 ROUNDS=1 BASE=/var/tmp/lsmfs-bench TREE= KV_ARGS= PERF_WL= OUT= ONLY=
while (($#)); do
	case $1 in
	--quick) QUICK=1 ;;
	--kv-only) DO_FS=0 ;;
	--fs-only) DO_KV=0 ;;
	--rounds) ROUNDS=${2:?}; shift ;;
	--dir) BASE=${2:?}; shift ;;
	--tree) TREE=${2:?}; shift ;;
	--kv-args) KV_ARGS=${2:?}; shift ;;
	--perf) PERF_WL=${2:?}; shift ;;
	--only) ONLY=${2:?}; shift ;;
	--out) OUT=${2:?}; shift ;;
	-h | --help) sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
	shift
done
[[ $(id -u) == 0 ]] || die "run as root (packages, drop_caches, mounts)"
BASE=$(realpath -m -- "$BASE")
if ((QUICK)); then
	SEQ_MB=128 RAND_MB=32 RAND_S=3 NFILES=2000 QUIET_MAX=10 BIG_MB=512
	: "${TREE:=/usr/include/linux}" "${KV_ARGS:=-n 100000 -r 1}"
else
	SEQ_MB=1024 RAND_MB=256 RAND_S=20 NFILES=20000 QUIET_MAX=60 BIG_MB=4096
	: "${TREE:=/usr/include}" "${KV_ARGS:=-n 1000000 -r 2}"
fi
[[ -d $TREE ]] || die "no tree $TREE"

# ---------------------------------------------------------------- 1. packages and build
# shellcheck source=scripts/deps.sh
. "$REPO/scripts/deps.sh"
lsmfs_install_deps test || die "could not install the build and test packages"
extra=()
for p in fio fsmark rsync python3 tar libleveldb-dev librocksdb-dev linux-perf; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || extra+=("$p")
done
if ((${#extra[@]})); then
	note "installing ${extra[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	# linux-perf is only for --perf: do not fail without it.
	if ! apt-get install -y -q --no-install-recommends "${extra[@]}" >/dev/null; then
		need=()
		for p in "${extra[@]}"; do [[ $p == linux-perf ]] || need+=("$p"); done
		((${#need[@]} == 0)) || apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null ||
			die "apt-get install ${need[*]} failed"
	fi
fi
for c in fio fs_mark rsync python3 cmake fusermount3; do
	command -v "$c" >/dev/null || die "$c not found after installing packages"
done

note "building lsmfs and kvbench in $BUILD"
log=$(mktemp /tmp/lsmfs-bench-build.XXXXXX) || die "mktemp failed"
if ! { cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
	cmake --build "$BUILD" -j "$(nproc)" --target lsmfs kvbench; } >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	die "the build failed (last lines above)"
fi
rm -f "$log"
LSMFS=$BUILD/lsmfs KVBENCH=$BUILD/kvbench PT=$BUILD/passthrough_ll
EX=$(dirname "$(dpkg -L libfuse3-dev 2>/dev/null | grep '/passthrough_ll\.c$' | head -n 1)")
[[ -f $EX/passthrough_ll.c ]] || EX=/usr/share/doc/libfuse3-dev/examples
[[ -f $EX/passthrough_ll.c ]] || die "libfuse3-dev ships no passthrough_ll.c"
if [[ ! -x $PT || $EX/passthrough_ll.c -nt $PT ]]; then
	# shellcheck disable=SC2046
	gcc -O2 -Wall -I"$EX" "$EX/passthrough_ll.c" $(pkg-config fuse3 --cflags --libs) \
		-o "$PT" || die "cannot build passthrough_ll"
fi

mkdir -p "$BASE" || die "cannot create $BASE"
if [[ -n $OUT ]]; then
	: >"$OUT" || die "cannot write $OUT"
fi
out() { # the report: stdout and --out
	echo "$@"
	[[ -z $OUT ]] || echo "$@" >>"$OUT"
}

machine() {
	local disk
	disk=$(df --output=source "$BASE" | tail -n 1)
	out "machine: $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, kernel $(uname -r)"
	out "disk: $BASE on $disk ($(findmnt -n -o FSTYPE --target "$BASE"), $(lsblk -dno SIZE,ROTA "$disk" 2>/dev/null | awk '{ print "size " $1 ", rotational " $2 }'))"
}

# ---------------------------------------------------------------- 2. the store
if ((DO_KV)); then
	note "kvbench $KV_ARGS (the engines take turns; this takes a while)"
	out ""
	out "## Store: kvbench $KV_ARGS"
	machine
	# shellcheck disable=SC2086
	"$KVBENCH" -d "$BASE/kv" $KV_ARGS -v >"$BASE/kvbench.out" || die "kvbench failed"
	while IFS= read -r l; do out "$l"; done <"$BASE/kvbench.out"
	rm -rf "$BASE/kv"
fi
((DO_FS)) || exit 0

# ---------------------------------------------------------------- 3. the file systems
PLACES=(lsmfs passthrough bare)
declare -A MNT PID
MNT[lsmfs]=$BASE/lsmfs-mnt MNT[passthrough]=$BASE/pt-mnt MNT[bare]=$BASE/bare
STORE=$BASE/lsmfs-store PT_SRC=$BASE/pt-src

mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }

mount_place() { # place
	local p=$1 m=${MNT[$1]} i
	[[ $p == bare ]] && return 0
	mkdir -p "$m"
	if [[ $p == lsmfs ]]; then
		"$LSMFS" "$STORE" "$m" -f &
	else
		"$PT" -f -o source="$PT_SRC" "$m" 2>>"$BASE/passthrough_ll.log" &
	fi
	PID[$p]=$!
	for ((i = 0; i < 200; i++)); do
		mounted "$m" && return 0
		kill -0 "${PID[$p]}" 2>/dev/null || break
		sleep 0.05
	done
	die "$p did not mount on $m"
}

umount_place() { # place
	local p=$1 m=${MNT[$1]}
	[[ $p == bare || -z ${PID[$p]:-} ]] && return 0
	fusermount3 -u "$m" || { sleep 1; fusermount3 -u "$m"; } || fusermount3 -uz "$m"
	wait "${PID[$p]}" 2>/dev/null
	PID[$p]=
}

cleanup() {
	local p
	for p in lsmfs passthrough; do
		if [[ -n ${PID[$p]:-} ]]; then
			umount_place "$p"
		fi
	done
	[[ -n ${PERF_PID:-} ]] && kill -INT "$PERF_PID" 2>/dev/null
	[[ -n ${SAMPLER:-} ]] && kill "$SAMPLER" 2>/dev/null
}
trap cleanup EXIT

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

cold() { # place: nothing of the data in any cache
	umount_place "$1"
	drop_caches
	mount_place "$1"
}

io_wbytes() { awk '/^write_bytes:/ { print $2 }' "/proc/$1/io"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# Writes into file the largest VmRSS (KiB) of pid seen so far, every 0.2 s, until killed.
SAMPLER=
rss_sampler() { # pid file
	local max=0 v
	while v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null) && [[ -n $v ]]; do
		((v > max)) && max=$v && echo "$max" >"$2"
		sleep 0.2
	done
}

# Waits until pid has written nothing for 2 s (its compactions are done), at most QUIET_MAX s.
wait_quiet() {
	local pid=$1 a b i still=0
	a=$(io_wbytes "$pid")
	for ((i = 0; i < QUIET_MAX && still < 2; i++)); do
		sleep 1
		b=$(io_wbytes "$pid")
		if [[ $a == "$b" ]]; then still=$((still + 1)); else still=0; fi
		a=$b
	done
}

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
fio_json() { # file field: read .jobs[0].FIELD (e.g. write.iops)
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["jobs"][0]
v = d
for k in sys.argv[2].split("."):
    v = v[k]
print("%.1f" % v)' "$1" "$2"
}

FIO_COMMON=(--ioengine=psync --fallocate=none --invalidate=0 --output-format=json)

# Workloads: name, unit, "higher is better" (1) or time (0).
WLS=(seqwrite seqread randwrite randread fsmark cp lsR rm tar rsync rsync2 bigcopy)
declare -A UNIT HIGHER DESC DEP
UNIT=([seqwrite]=MiB/s [seqread]=MiB/s [randwrite]=IOPS [randread]=IOPS [fsmark]=files/s
	[cp]=s [lsR]=s [rm]=s [tar]=s [rsync]=s [rsync2]=s [bigcopy]=MiB/s)
DEP=([seqread]=seqwrite [randread]=randwrite [lsR]=cp [rm]=cp [rsync2]=rsync)
for w in "${WLS[@]}"; do HIGHER[$w]=0; done
HIGHER[seqwrite]=1 HIGHER[seqread]=1 HIGHER[randwrite]=1 HIGHER[randread]=1 HIGHER[fsmark]=1
HIGHER[bigcopy]=1
if [[ -n $ONLY ]]; then # the listed workloads and what they depend on, in the usual order
	sel=()
	for w in "${WLS[@]}"; do
		for o in ${ONLY//,/ }; do
			if [[ $o == "$w" || ${DEP[$o]:-} == "$w" ]]; then
				sel+=("$w")
				break
			fi
		done
	done
	((${#sel[@]})) || die "--only $ONLY: no such workload"
	WLS=("${sel[@]}")
fi
DESC=([seqwrite]="fio write ${SEQ_MB} MiB, 1 MiB blocks, fsync"
	[seqread]="fio read ${SEQ_MB} MiB, 1 MiB blocks, cold"
	[randwrite]="fio 4 KiB randwrite, ${RAND_MB} MiB file, ${RAND_S} s"
	[randread]="fio 4 KiB randread, ${RAND_MB} MiB file, ${RAND_S} s, cold"
	[fsmark]="fs_mark ${NFILES} x 4 KiB files, one dir"
	[cp]="cp -a tree" [lsR]="ls -lR tree, cold" [rm]="rm -rf tree"
	[tar]="tar x tree" [rsync]="rsync -a tree" [rsync2]="rsync -a again, nothing to do"
	[bigcopy]="dd ${BIG_MB} MiB, 1 MiB blocks, fsync")
declare -A FIG       # [wl,place,round] -> figure, or "fail"
declare -A DAEMON    # [place,what,round]

# The sources of cp, tar and rsync in the page cache (a cold step before drops them).
warm_sources() {
	cat "$BASE/tree.tar" >/dev/null
	find "$TREE" -type f -exec cat {} + >/dev/null 2>&1
}

PERF_PID=
perf_start() { # wl place
	[[ $1 == "$PERF_WL" && $2 == lsmfs ]] || return 0
	perf record -F 499 -g -p "${PID[lsmfs]}" -o "$BASE/perf-$1.data" >/dev/null 2>"$BASE/perf-$1.log" &
	PERF_PID=$!
	sleep 1
}
perf_stop() {
	[[ -n $PERF_PID ]] || return 0
	kill -INT "$PERF_PID"
	wait "$PERF_PID" 2>/dev/null
	PERF_PID=
}

# Runs one workload in one place; sets FIG.
run_one() { # wl place round
	local w=$1 p=$2 r=$3 d=${MNT[$2]} t0 t1 fig= js=$BASE/fio.json pid=${PID[$2]:-} w0 ok=1 dep=
	: >"$BASE/cmd.err"
	dep=${DEP[$w]:-}
	if [[ -n $dep && ${FIG[$dep,$p,$r]:-fail} == fail ]]; then
		FIG[$w,$p,$r]=fail
		note "round $r $w $p: not run ($dep failed)"
		return
	fi
	case $w in
	seqwrite)
		if [[ -n $pid ]]; then
			echo 5 >"/proc/$pid/clear_refs" # reset VmHWM
			w0=$(io_wbytes "$pid")
		fi
		perf_start "$w" "$p"
		t0=$(now)
		fio --name=seqwrite --filename="$d/seq" --rw=write --bs=1M --size=${SEQ_MB}M \
			--end_fsync=1 "${FIO_COMMON[@]}" >"$js" 2>"$BASE/cmd.err" || ok=0
		t1=$(now)
		perf_stop
		fig=$(python3 -c "print('%.1f' % ($SEQ_MB / ($t1 - $t0)))")
		if [[ -n $pid ]]; then
			DAEMON[$p,hwm,$r]=$(hwm_kib "$pid")
			wait_quiet "$pid"
			DAEMON[$p,wa,$r]=$(python3 -c "print('%.2f' % (($(io_wbytes "$pid") - $w0) / ($SEQ_MB * 1048576)))")
		fi
		;;
	seqread)
		cold "$p"
		perf_start "$w" "$p"
		t0=$(now)
		fio --name=seqread --filename="$d/seq" --rw=read --bs=1M --size=${SEQ_MB}M \
			"${FIO_COMMON[@]}" >"$js" 2>"$BASE/cmd.err" || ok=0
		t1=$(now)
		perf_stop
		fig=$(python3 -c "print('%.1f' % ($SEQ_MB / ($t1 - $t0)))")
		rm -f "$d/seq"
		;;
	randwrite | randread)
		[[ $w == randread ]] && cold "$p"
		# The lay-out of the file (fio writes it whole first) is not timed by fio.
		perf_start "$w" "$p"
		fio --name="$w" --filename="$d/rand" --rw="$w" --bs=4k --size=${RAND_MB}M \
			--time_based --runtime="$RAND_S" "${FIO_COMMON[@]}" >"$js" 2>"$BASE/cmd.err" || ok=0
		perf_stop
		((ok)) && fig=$(fio_json "$js" "${w#rand}.iops")
		[[ $w == randread ]] && rm -f "$d/rand"
		;;
	bigcopy)
		local smp=$BASE/rss.max
		echo 0 >"$smp"
		if [[ -n $pid ]]; then
			echo 5 >"/proc/$pid/clear_refs"
			rss_sampler "$pid" "$smp" &
			SAMPLER=$!
		fi
		perf_start "$w" "$p"
		t0=$(now)
		dd if=/dev/zero of="$d/big" bs=1M count="$BIG_MB" conv=fsync status=none \
			2>"$BASE/cmd.err" || ok=0
		t1=$(now)
		perf_stop
		fig=$(python3 -c "print('%.1f' % ($BIG_MB / ($t1 - $t0)))")
		if [[ -n $pid ]]; then
			kill "$SAMPLER" 2>/dev/null
			wait "$SAMPLER" 2>/dev/null
			SAMPLER=
			DAEMON[$p,bighwm,$r]=$(hwm_kib "$pid")
			DAEMON[$p,bigrss,$r]=$(cat "$smp")
		fi
		rm -f "$d/big"
		;;
	fsmark)
		rm -rf "$d/fsm" && mkdir "$d/fsm"
		perf_start "$w" "$p"
		# (from $BASE: fs_mark leaves fs_log.txt in its working directory)
		(cd "$BASE" && fs_mark -d "$d/fsm" -n "$NFILES" -s 4096 -S 0 -L 1 -t 1 -k) >"$BASE/fsmark.out" 2>&1 || ok=0
		perf_stop
		((ok)) && fig=$(awk 'f && NF >= 5 { v = $4 } /Files\/sec/ { f = 1 } END { print v }' "$BASE/fsmark.out")
		[[ -n $fig ]] || ok=0
		cp "$BASE/fsmark.out" "$BASE/cmd.err"
		# A failed passthrough_ll holds a descriptor per file: remount it before cleaning up.
		((ok)) || cold "$p"
		rm -rf "$d/fsm"
		;;
	*)
		local -a cmd
		case $w in
		cp) rm -rf "$d/cp"; cmd=(cp -a "$TREE" "$d/cp") ;;
		lsR) cold "$p"; cmd=(ls -lR "$d/cp") ;;
		rm) cmd=(rm -rf "$d/cp") ;;
		tar) rm -rf "$d/tarx" && mkdir "$d/tarx"; cmd=(tar xf "$BASE/tree.tar" -C "$d/tarx") ;;
		rsync | rsync2) cmd=(rsync -a "$TREE/" "$d/rs/") ;;
		esac
		warm_sources
		perf_start "$w" "$p"
		t0=$(now)
		"${cmd[@]}" >/dev/null 2>"$BASE/cmd.err" || ok=0
		t1=$(now)
		perf_stop
		fig=$(elapsed "$t0" "$t1")
		[[ $w == tar ]] && rm -rf "$d/tarx"
		[[ $w == rsync2 ]] && rm -rf "$d/rs"
		;;
	esac
	if ((!ok)) || [[ -z $fig ]]; then
		note "$w on $p failed: $(tail -n 3 "$BASE/cmd.err" 2>/dev/null | tr '\n' ' ' | cut -c1-300)"
		fig=fail
		# Start the next workload from a fresh mount (released descriptors, no stale state).
		[[ $p == bare ]] || cold "$p"
	fi
	FIG[$w,$p,$r]=$fig
	note "round $r $w $p: $fig ${UNIT[$w]}"
}

# Fresh places.
for p in lsmfs passthrough; do mounted "${MNT[$p]}" && die "${MNT[$p]} is mounted already"; done
rm -rf "$STORE" "$PT_SRC" "${MNT[bare]}" "$BASE/tree.tar"
mkdir -p "$STORE" "$PT_SRC" "${MNT[bare]}"
note "the tree: $TREE ($(find "$TREE" | wc -l) entries, $(du -sh "$TREE" | cut -f1)); tar of it in $BASE"
tar cf "$BASE/tree.tar" -C "$(dirname "$TREE")" "$(basename "$TREE")" 2>/dev/null ||
	die "cannot tar $TREE"
# passthrough_ll keeps a file descriptor per inode it has looked up: give it the hard limit.
ulimit -n "$(ulimit -Hn)"
for p in lsmfs passthrough; do mount_place "$p"; done

for ((r = 1; r <= ROUNDS; r++)); do
	for ((i = 0; i < ${#WLS[@]}; i++)); do
		w=${WLS[$i]}
		for ((k = 0; k < 3; k++)); do
			# Each workload starts with another place, round after round.
			run_one "$w" "${PLACES[$(((k + i + r) % 3))]}" "$r"
		done
	done
done
for p in lsmfs passthrough; do umount_place "$p"; done

median() { # values...: median of the numbers, "fail" if none
	python3 -c '
import sys
v = sorted(float(x) for x in sys.argv[1:] if x != "fail")
if not v:
    print("fail")
else:
    m = v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
    print("%.0f" % m if m >= 100 else "%.2f" % m if m >= 1 else "%.3f" % m)' "$@"
}
ratio() { # lsmfs other higher
	python3 -c '
import sys
a, b, h = sys.argv[1:]
if "fail" in (a, b) or float(a) == 0 or float(b) == 0:
    print("n/a")
else:
    print("%.2f" % (float(a) / float(b) if h == "1" else float(b) / float(a)))' "$1" "$2" "$3"
}

out ""
out "## File systems: scripts/bench.sh$( ((QUICK)) && echo ' --quick'), $ROUNDS round(s)"
machine
out "tree: $TREE ($(find "$TREE" -type f | wc -l) files, $(find "$TREE" -type d | wc -l) directories, $(du -sm "$TREE" | cut -f1) MiB)"
out ""
out "| workload | unit | lsmfs | passthrough_ll | bare | lsmfs/passthrough_ll | lsmfs/bare |"
out "|---|---|---:|---:|---:|---:|---:|"
for w in "${WLS[@]}"; do
	declare -A M=()
	for p in "${PLACES[@]}"; do
		vals=()
		for ((r = 1; r <= ROUNDS; r++)); do vals+=("${FIG[$w,$p,$r]:-fail}"); done
		M[$p]=$(median "${vals[@]}")
	done
	out "| ${DESC[$w]} | ${UNIT[$w]} | ${M[lsmfs]} | ${M[passthrough]} | ${M[bare]} | $(ratio "${M[lsmfs]}" "${M[passthrough]}" "${HIGHER[$w]}") | $(ratio "${M[lsmfs]}" "${M[bare]}" "${HIGHER[$w]}") |"
done
out ""
out "Ratios are speeds: above 1 means lsmfs is faster (for times, other/lsmfs)."
for p in lsmfs passthrough; do
	h=() a=()
	for ((r = 1; r <= ROUNDS; r++)); do
		h+=("$(python3 -c "print('%.1f' % (${DAEMON[$p,hwm,$r]:-0} / 1024))")")
		a+=("${DAEMON[$p,wa,$r]:-fail}")
	done
	[[ " ${WLS[*]} " == *" seqwrite "* ]] &&
		out "$p daemon during the ${SEQ_MB} MiB write: peak RSS (VmHWM) $(median "${h[@]}") MiB; bytes written to the disk beneath per user byte $(median "${a[@]}")"
done
# lsmfs's memory budget: its two memtables (the one filling, the one being flushed) and
# its block cache, as fs/fs.h sets them, + 64 MiB.
fs_define_mib() { sed -n "s/^#define $1 (\([0-9]*\)u << 20).*/\1/p" "$REPO/fs/fs.h"; }
WB_MIB=$(fs_define_mib FS_WRITE_BUFFER_DEFAULT) BC_MIB=$(fs_define_mib FS_BLOCK_CACHE_DEFAULT)
for p in lsmfs passthrough; do
	[[ " ${WLS[*]} " == *" bigcopy "* ]] || break
	h=() s=()
	for ((r = 1; r <= ROUNDS; r++)); do
		h+=("$(python3 -c "print('%.1f' % (${DAEMON[$p,bighwm,$r]:-0} / 1024))")")
		s+=("$(python3 -c "print('%.1f' % (${DAEMON[$p,bigrss,$r]:-0} / 1024))")")
	done
	budget=
	if [[ $p == lsmfs && -n $WB_MIB && -n $BC_MIB ]]; then
		budget="; budget 2 x ${WB_MIB} MiB memtables + ${BC_MIB} MiB block cache + 64 MiB = $((2 * WB_MIB + BC_MIB + 64)) MiB"
	fi
	out "$p daemon during the ${BIG_MB} MiB copy: peak RSS (VmHWM) $(median "${h[@]}") MiB, largest sampled VmRSS $(median "${s[@]}") MiB$budget"
done

if [[ -n $PERF_WL && -f $BASE/perf-$PERF_WL.data ]]; then
	out ""
	out "perf: top functions of the lsmfs daemon during $PERF_WL ($BASE/perf-$PERF_WL.data)"
	perf report -i "$BASE/perf-$PERF_WL.data" --no-children --sort symbol --stdio 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -n 25 | while IFS= read -r l; do out "    $l"; done
fi
rm -rf "$STORE" "$PT_SRC" "${MNT[bare]}" "$BASE/tree.tar"
