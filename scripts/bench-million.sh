#!/usr/bin/env bash
# scripts/bench-million.sh [OPTIONS]: one million files in one directory of a fresh lsmfs.
#
#   1. mounts a fresh store (lsmfs -f in the background, so that its pid is known);
#   2. creates N empty files (default 1,000,000) in one directory with a small C loop
#      (open O_CREAT|O_EXCL, close), built on the fly (python3 when there is no cc);
#   3. lists them with ls -f | wc -l and checks the count (N + . and ..);
#   4. asks the daemon how many inodes its table holds (getxattr system.lsmfs.inodes),
#      makes the kernel drop its dentries and inodes (echo 2 > drop_caches) and asks
#      again: the kernel's forget must free the daemon's inode state, so the second
#      figure is small whatever N is;
#   5. removes them (rm -rf of the directory) and checks the mount is empty;
#   6. unmounts, and prints each step's time and the daemon's peak RSS (VmHWM).
# Exits non-zero on any error.
#
# Options:
#   -n N          number of files (default 1000000)
#   --dir DIR     scratch directory (default /var/tmp/lsmfs-million)
#   --lsmfs PATH  the lsmfs binary (default: build/lsmfs of this repository, built with
#                 cmake when missing)
# Run as root (drop_caches).
set -uo pipefail
export LC_ALL=C

die() {
	echo "bench-million.sh: $*" >&2
	exit 1
}
note() { echo "== $*" >&2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || die "cannot find the repository"
N=1000000 BASE=/var/tmp/lsmfs-million LSMFS=
while (($#)); do
	case $1 in
	-n) N=${2:?}; shift ;;
	--dir) BASE=${2:?}; shift ;;
	--lsmfs) LSMFS=${2:?}; shift ;;
	-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
	shift
done
[[ $N =~ ^[0-9]+$ ]] || die "-n needs a number"
[[ $(id -u) == 0 ]] || die "run as root (drop_caches)"
if [[ -z $LSMFS ]]; then
	LSMFS=$REPO/build/lsmfs
	if [[ ! -x $LSMFS ]]; then
		note "building lsmfs in $REPO/build"
		{ cmake -S "$REPO" -B "$REPO/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
			cmake --build "$REPO/build" -j "$(nproc)" --target lsmfs; } >/dev/null ||
			die "the build failed"
	fi
fi
[[ -x $LSMFS ]] || die "no lsmfs binary at $LSMFS"
command -v getfattr >/dev/null || die "getfattr not found (Debian: apt-get install attr)"

STORE=$BASE/store MNT=$BASE/mnt D=$BASE/mnt/many
PID=
mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }
cleanup() {
	if [[ -n $PID ]]; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$BASE/create" "$BASE/create.c"
}
trap cleanup EXIT

mounted "$MNT" && die "$MNT is mounted already"
rm -rf "$BASE"
mkdir -p "$STORE" "$MNT" || die "cannot create $BASE"
"$LSMFS" "$STORE" "$MNT" -f 2>"$BASE/lsmfs.log" &
PID=$!
for ((i = 0; i < 200; i++)); do
	mounted "$MNT" && break
	kill -0 "$PID" 2>/dev/null || die "lsmfs exited: $(tail -n 3 "$BASE/lsmfs.log")"
	sleep 0.05
done
mounted "$MNT" || die "lsmfs did not mount on $MNT"
mkdir "$D" || die "mkdir $D"

# The creator: N files f0..f(N-1) in argv[1]; stops at the first error.
CREATE=()
if command -v cc >/dev/null; then
	cat >"$BASE/create.c" <<'EOF'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	long n = atol(argv[2]);
	char path[4096];

	for (long i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%ld", argv[1], i);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0 || close(fd)) {
			perror(path);
			return 1;
		}
	}
	return 0;
}
EOF
	cc -O2 -o "$BASE/create" "$BASE/create.c" || die "cannot build the creator"
	CREATE=("$BASE/create")
else
	CREATE=(python3 -c '
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open("%s/f%d" % (d, i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))')
fi

now() { date +%s.%N; }
secs() { python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
inodes() { getfattr --only-values -n system.lsmfs.inodes "$MNT" 2>/dev/null; }

note "creating $N files in $D"
t0=$(now)
"${CREATE[@]}" "$D" "$N" || die "creating the files failed"
t1=$(now)
T_CREATE=$(secs "$t0" "$t1")
INODES_HELD=$(inodes) || die "cannot read the daemon's inode count"

note "listing them"
t0=$(now)
got=$(ls -f "$D" | wc -l) || die "ls -f failed"
t1=$(now)
T_LIST=$(secs "$t0" "$t1")
((got == N + 2)) || die "ls -f lists $got names, expected $((N + 2)) (with . and ..)"

sync
echo 2 >/proc/sys/vm/drop_caches
INODES_DROPPED=
for ((i = 0; i < 50; i++)); do # forgets arrive asynchronously
	INODES_DROPPED=$(inodes) || die "cannot read the daemon's inode count"
	((INODES_DROPPED < 1000)) && break
	sleep 0.1
done
((INODES_DROPPED < 1000)) ||
	die "the daemon still holds $INODES_DROPPED inodes after the kernel dropped its cache"

note "removing them"
t0=$(now)
rm -rf "$D" || die "rm -rf failed"
t1=$(now)
T_RM=$(secs "$t0" "$t1")
[[ -z $(ls -A "$MNT") ]] || die "the mount is not empty after rm -rf"
HWM=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$PID/status")
INODES_END=$(inodes)
fusermount3 -u "$MNT" || die "unmount failed"
wait "$PID" || die "lsmfs exited with an error: $(tail -n 3 "$BASE/lsmfs.log")"
PID=

echo "bench-million: $N files in one directory of lsmfs ($(nproc) CPUs, $(findmnt -n -o FSTYPE --target "$BASE") below)"
echo "  create (open O_CREAT|O_EXCL + close): $T_CREATE s ($(python3 -c "print('%.0f' % ($N / max($T_CREATE, 0.001)))") files/s)"
echo "  list (ls -f | wc -l = $got):            $T_LIST s"
echo "  remove (rm -rf):                        $T_RM s ($(python3 -c "print('%.0f' % ($N / max($T_RM, 0.001)))") files/s)"
echo "  daemon inode table: $INODES_HELD after creating, $INODES_DROPPED after drop_caches, $INODES_END at the end"
echo "  daemon peak RSS (VmHWM): $HWM MiB"
rm -rf "$BASE"
