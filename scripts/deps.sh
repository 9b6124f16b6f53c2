# scripts/deps.sh — sourced by run.sh and test.sh: installs the Debian
# packages lsmfs needs when any is missing (apt-get update first, so it works
# on a bare debootstrap --variant=minbase system).
lsmfs_install_deps() {
	local pkgs="gcc libc6-dev make cmake pkg-config libfuse3-dev fuse3 libcbor-dev libcmocka-dev"
	if [ "${1:-}" = test ]; then
		# Everything the tests call.
		pkgs="$pkgs rsync attr acl tar diffutils coreutils findutils procps psmisc python3 util-linux clang libclang-rt-14-dev git sqlite3 restic borgbackup"
	fi
	local missing=""
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "lsmfs: missing packages:$missing (run as root to install them)" >&2
		return 1
	fi
	echo "== installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null
}
