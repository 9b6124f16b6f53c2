#!/usr/bin/env bash
# scripts/run.sh [STORE] [MOUNTPOINT]: the README's first command.
#
# On a Debian machine (also a bare debootstrap --variant=minbase one), as root:
#   1. installs the packages lsmfs needs to build and mount when any is missing
#      (apt-get update, then apt-get install -y --no-install-recommends);
#   2. builds lsmfs with cmake into build/ of this repository (RelWithDebInfo);
#   3. mounts STORE (default ./lsmfs-store, created when missing or empty) on MOUNTPOINT
#      (default ./lsmfs-mnt, created), both relative to the CURRENT directory;
#   4. prints where it is mounted and how to unmount.
# Extra mount options can be given in LSMFS_OPTIONS (e.g. LSMFS_OPTIONS=allow_other).
# Exits non-zero with a message on the first failure.
set -uo pipefail

die() {
	echo "run.sh: $*" >&2
	exit 1
}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
fi
(($# <= 2)) || die "usage: scripts/run.sh [STORE] [MOUNTPOINT]"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || die "cannot find the repository"
BUILD=$REPO/build
# Absolute paths, resolved against the caller's directory (the daemon leaves it).
STORE=$(realpath -m -- "${1:-./lsmfs-store}") || die "bad STORE path: ${1:-}"
MNT=$(realpath -m -- "${2:-./lsmfs-mnt}") || die "bad MOUNTPOINT path: ${2:-}"

# ---------------------------------------------------------------- 1. packages
PKGS=(gcc libc6-dev make cmake pkg-config libfuse3-dev fuse3 libcbor-dev libcmocka-dev)
if command -v dpkg-query >/dev/null; then
	missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if ((${#missing[@]})); then
		[[ $(id -u) == 0 ]] ||
			die "missing packages: ${missing[*]}; run as root, or install them: apt-get install ${missing[*]}"
		echo "run.sh: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update || die "apt-get update failed"
		apt-get install -y --no-install-recommends "${missing[@]}" ||
			die "apt-get install ${missing[*]} failed"
	fi
else
	echo "run.sh: not a Debian system (no dpkg-query); assuming ${PKGS[*]} or their equivalents are installed" >&2
fi
for c in cmake cc fusermount3; do
	command -v "$c" >/dev/null || die "$c not found after installing packages"
done

# ---------------------------------------------------------------- checks before the build
[[ -c /dev/fuse ]] ||
	die "/dev/fuse is missing: load the module (modprobe fuse), or give the container the device (docker run --device /dev/fuse --cap-add SYS_ADMIN)"
mounted() {
	local m=${1//\\/\\134}
	m=${m// /\\040}
	awk -v m="$m" '$2 == m { f = 1 } END { exit !f }' /proc/mounts
}
mounted "$MNT" && die "$MNT is already a mount point (unmount it first: fusermount3 -u $MNT)"
if [[ -e $MNT && ! -d $MNT ]]; then die "$MNT exists and is not a directory"; fi

# ---------------------------------------------------------------- 2. build
echo "run.sh: building lsmfs in $BUILD"
log=$(mktemp /tmp/lsmfs-run.XXXXXX) || die "mktemp failed"
trap 'rm -f "$log"' EXIT
if ! cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$log" 2>&1; then
	cat "$log" >&2
	die "cmake configuration failed (output above)"
fi
if ! cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)" --target lsmfs >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	die "the build failed (last lines above)"
fi
LSMFS=$BUILD/lsmfs
[[ -x $LSMFS ]] || die "the build did not produce $LSMFS (are libfuse3-dev and pkg-config installed?)"

# ---------------------------------------------------------------- 3. mount
mkdir -p -- "$MNT" || die "cannot create the mount point $MNT"

args=("$STORE" "$MNT")
[[ -n ${LSMFS_OPTIONS:-} ]] && args+=(-o "$LSMFS_OPTIONS")
"$LSMFS" "${args[@]}" || die "lsmfs could not mount $STORE on $MNT (its message is above)"
for ((i = 0; i < 100; i++)); do
	mounted "$MNT" && break
	sleep 0.1
done
mounted "$MNT" || die "lsmfs returned but $MNT is not mounted after 10 s"

# ---------------------------------------------------------------- 4. tell
cat <<EOF
lsmfs: the store $STORE is mounted on $MNT
  use it:     cp -a SOMETHING $MNT/ ; ls -l $MNT ; df -h $MNT
  backup:     rsync -aHAX --delete SOURCE/ $MNT/backup/
  unmount:    fusermount3 -u $MNT
  mount again: $LSMFS $STORE $MNT
EOF
