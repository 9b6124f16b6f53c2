#!/bin/bash
# kill -9 of the daemon in the middle of a copy: after fusermount3 -u and a new mount,
# every file that was fsync-ed (file and directory) before the kill has its content, and
# the filesystem is consistent: ls -R works, every entry stats, every file reads, and new
# files can be written and everything removed.  Three rounds on the same store, the kill
# coming at a different moment each time.
source "$(dirname "$0")/lib.sh"

STORE=$T_DIR/store
MNT=$T_DIR/mnt
mkdir -p "$MNT"
SRC=${LSMFS_ITEST_TREE:-/usr/include}

# synced_writer DIR MANIFEST: writes files of random sizes (up to 3 MiB), fsyncs each file
# and its directory, and only then appends "sha256  name" to MANIFEST (on the plain disk).
# Runs until killed or until the filesystem fails under it.
synced_writer() {
	py "$1" "$2" <<'EOF'
import hashlib, os, random, sys
d, manifest = sys.argv[1], sys.argv[2]
rnd = random.Random(os.getpid())
os.makedirs(d, exist_ok=True)
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.fsync(os.open(os.path.dirname(d), os.O_RDONLY | os.O_DIRECTORY))
m = open(manifest, 'a')
i = 0
try:
    while True:
        name = 's%05d' % i
        data = os.urandom(rnd.choice([0, 1, 100, 4096, 65536 + 3, 200000, 1 << 20, 3 << 20]))
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        off = 0
        while off < len(data):
            off += os.write(fd, data[off:off + 100000])
        os.fsync(fd)
        os.close(fd)
        os.fsync(dfd)
        m.write('%s  %s/%s\n' % (hashlib.sha256(data).hexdigest(), d, name))
        m.flush()
        i += 1
except OSError:
    pass
EOF
}

# check_consistent WHEN: ls -R, stat of every entry, read of every file.
check_consistent() {
	local out
	if out=$(ls -R "$MNT" 2>&1 >/dev/null); [[ -z $out ]]; then ok "$1: ls -R works"; else
		not_ok "$1: ls -R reports errors" "$(printf '%s\n' "$out" | head)"
	fi
	if out=$(find "$MNT" -printf '%i %n %s %y\n' 2>&1 >/dev/null); [[ -z $out ]]; then
		ok "$1: every entry stats ($(find "$MNT" | wc -l) entries)"
	else
		not_ok "$1: some entries do not stat" "$(printf '%s\n' "$out" | head)"
	fi
	if out=$(find "$MNT" -type f -exec cat {} + 2>&1 >/dev/null); [[ -z $out ]]; then
		ok "$1: every file reads"
	else
		not_ok "$1: some files do not read" "$(printf '%s\n' "$out" | head)"
	fi
	out=$(find "$MNT" -type f -printf '%s %b %p\n' | awk '$1 < 0 { print }')
	assert_eq "" "$out" "$1: no negative sizes"
}

# check_synced MANIFEST WHEN
check_synced() {
	local n out
	n=$(wc -l <"$1")
	if ((n == 0)); then
		not_ok "$2: the writer fsync-ed no file before the kill; the round proves nothing"
		return
	fi
	if out=$(sha256sum --quiet -c "$1" 2>&1); then
		ok "$2: all $n files fsync-ed before the kill are intact"
	else
		not_ok "$2: files fsync-ed before the kill are damaged or missing" "$(printf '%s\n' "$out" | head)"
	fi
}

# round R DELAY: mount, start cp -a and the synced writer, kill -9 after DELAY seconds,
# unmount, remount, check.
round() {
	local r=$1 delay=$2 cp_pid sw_pid man=$T_DIR/manifest.$1
	: >"$man"
	mount_lsmfs "$STORE" "$MNT"
	cp -a "$SRC" "$MNT/copy$r" 2>/dev/null &
	cp_pid=$!
	synced_writer "$MNT/synced$r" "$man" &
	sw_pid=$!
	sleep "$delay"
	if pid_alive "$cp_pid"; then
		ok "round $r: the copy is still running when the daemon is killed"
	else
		note "round $r: the copy had already finished before the kill"
	fi
	kill9_lsmfs "$MNT" "$cp_pid" "$sw_pid" && ok "round $r: kill -9 of the daemon and fusermount3 -u" ||
		not_ok "round $r: kill -9 of the daemon"
	wait "$cp_pid" 2>/dev/null
	wait "$sw_pid" 2>/dev/null
	note "round $r: $(wc -l <"$man") files were fsync-ed before the kill"
	mount_lsmfs "$STORE" "$MNT"
	ok "round $r: the store mounts again after kill -9"
	local k
	for ((k = 1; k <= r; k++)); do check_synced "$T_DIR/manifest.$k" "round $r, synced files of round $k"; done
	check_consistent "round $r"
	# The filesystem still takes writes, also into the directories the copy was filling.
	assert_true "round $r: a new file can be written and read" \
		bash -c "printf 'after\n' >'$MNT/after$r' && [[ \$(cat '$MNT/after$r') == after ]]"
	assert_true "round $r: the interrupted copy's tree can be removed" rm -rf "$MNT/copy$r"
	umount_lsmfs "$MNT" && ok "round $r: clean unmount" || not_ok "round $r: clean unmount"
}

round 1 3
round 2 6
round 3 1.5

# Final: one more mount, everything consistent, all synced files intact, all removable.
mount_lsmfs "$STORE" "$MNT"
for k in 1 2 3; do check_synced "$T_DIR/manifest.$k" "final, synced files of round $k"; done
check_consistent "final"
assert_true "final: rm -rf of everything" find "$MNT" -mindepth 1 -delete
assert_eq "" "$(ls -A "$MNT")" "final: the mount is empty"
umount_lsmfs "$MNT" && ok "final: clean unmount" || not_ok "final: clean unmount"
finish
