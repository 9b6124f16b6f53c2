#!/bin/bash
# Real programs used as a person would, each beside a plain directory (the test's tmp dir,
# usually ext4 or tmpfs) where a comparison makes sense:
#   git     init, ~200 files in subdirs, branch, renames, deletes, gc --aggressive,
#           fsck --full, clone mount->mount and mount->plain, status clean; the commit ids
#           (fixed dates and names) must equal those made in the plain directory;
#   sqlite3 a rollback-journal and a WAL database, thousands of inserts in transactions,
#           a second process reading while one writes (it must only ever see whole
#           transactions), integrity_check, row counts and sums, again after a remount;
#   make    a small C project: built, one source touched, exactly its object rebuilt,
#           `make -q` up to date after;
#   locks   flock(2) and fcntl/lockf from two processes (the second must fail while the
#           first holds the lock), fcntl byte-range conflicts and non-conflicts;
#   mmap    4 MiB written through a shared mapping, msync, read back by another process
#           with read(), and after a remount;
#   df/du   df's used space follows a 64 MiB file written and removed (polled: the store
#           reclaims space lazily), du of a sparse file < its size, du -sb = sum of sizes;
#   restic  and borg: a repository ON the mount, backup, full check (reading the data),
#           restore to a plain dir, diff -r against the source.
source "$(dirname "$0")/lib.sh"

for p in git sqlite3 make cc flock restic borg; do
	command -v "$p" >/dev/null || die "$p is not installed (scripts/deps.sh test)"
done

STORE=$T_DIR/store
MNT=$T_DIR/mnt
PLAIN=$T_DIR/plain
mkdir -p "$MNT" "$PLAIN"
mount_lsmfs "$STORE" "$MNT"
T0=$(date +%s)

# ---------------------------------------------------------------- git
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t
export GIT_COMMITTER_EMAIL=t@example.com GIT_AUTHOR_DATE='2020-01-01T00:00:00Z'
export GIT_COMMITTER_DATE='2020-01-01T00:00:00Z' GIT_CONFIG_NOSYSTEM=1 HOME=$T_DIR/home
mkdir -p "$HOME"
git config --global init.defaultBranch main
git config --global gc.auto 0
git config --global core.fsync all 2>/dev/null

# git_work DIR: the same history in DIR; prints "HEAD-id main-id".  Fails on any error.
git_work() (
	set -e
	mkdir -p "$1" && cd "$1"
	git init -q .
	for d in 0 1 2 3 4 5 6 7 8 9; do
		mkdir -p "src/d$d/sub"
		for i in $(seq 1 10); do
			seq "$((d * 100 + i))" 3 4000 >"src/d$d/f$i.txt"
			printf 'file %d %d\n' "$d" "$i" >"src/d$d/sub/g$i.c"
		done
	done
	head -c 200000 /dev/zero | tr '\0' 'x' >big.txt
	git add -A
	git commit -q -m first
	git checkout -q -b feature
	git mv src/d1 src/renamed
	git mv src/d2/f1.txt src/d3/moved.txt
	git rm -q -r src/d4
	git rm -q src/d5/f2.txt
	echo changed >>src/d6/f3.txt
	git commit -q -a -m second
	git checkout -q main
	echo main >>big.txt
	git commit -q -a -m third
	git merge -q --no-edit feature
	git gc -q --aggressive --prune=now
	git fsck --full --strict >/dev/null 2>&1
	echo "$(git rev-parse HEAD) $(git rev-parse feature)"
)

g_mnt=$(git_work "$MNT/git/repo" 2>&1)
assert_eq 0 $? "git: init, 200 files, branch, rename, delete, merge, gc --aggressive, fsck --full on the mount" ||
	printf '%s\n' "$g_mnt" | tail -n 20
g_plain=$(git_work "$PLAIN/git/repo" 2>&1)
assert_eq "$g_plain" "$g_mnt" "git: the same commit ids as in a plain directory"
(cd "$MNT/git/repo" && git count-objects -v | grep -q '^count: 0') && ok "git: gc packed every object" ||
	not_ok "git: gc packed every object" "$(cd "$MNT/git/repo" && git count-objects -v)"
assert_eq "" "$(cd "$MNT/git/repo" && git status --porcelain 2>&1)" "git: status clean on the mount"
assert_true "git: clone mount -> mount" git clone -q "$MNT/git/repo" "$MNT/git/clone"
assert_true "git: clone --no-local mount -> plain" git clone -q --no-local "$MNT/git/repo" "$PLAIN/git/clone"
for c in "$MNT/git/clone" "$PLAIN/git/clone"; do
	assert_eq "${g_mnt%% *}" "$(cd "$c" && git rev-parse HEAD)" "git: $c has the same HEAD"
	assert_eq "" "$(cd "$c" && git status --porcelain 2>&1)" "git: status clean in $c"
	assert_true "git: fsck --full in $c" git -C "$c" fsck --full --strict
done
assert_true "git: the working tree on the mount equals the plain clone" \
	diff -r --exclude=.git "$MNT/git/repo" "$PLAIN/git/clone"
note "git done at $(($(date +%s) - T0)) s"

# ---------------------------------------------------------------- sqlite3
SQ=$MNT/sqlite
mkdir -p "$SQ"
# sq_fill DB MODE TX ROWS [PAUSE]: TX transactions of ROWS inserts each, PAUSE
# seconds apart (so that a reader meets several of them however fast the machine).
sq_fill() {
	{
		echo "pragma journal_mode=$2;"
		echo "create table if not exists t(id integer primary key, tx integer, v text);"
		local t
		for ((t = 0; t < $3; t++)); do
			echo "begin;"
			echo "with recursive c(i) as (select 1 union all select i+1 from c where i < $4)
			      insert into t(tx, v) select $t, printf('%08d-%s', i, hex(randomblob(24))) from c;"
			echo "commit;"
			[[ -z ${5:-} ]] || sleep "$5"
		done
	} | sqlite3 -bail "$1" >/dev/null
}
# Rollback journal, 40 x 100 rows, then updates and deletes in one transaction.
sq_fill "$SQ/journal.db" delete 40 100
assert_eq 0 $? "sqlite: 4000 inserts in 40 transactions, rollback journal"
sqlite3 -bail "$SQ/journal.db" "begin; update t set v = 'u' || v where id % 7 = 0; delete from t where id % 10 = 0; commit;"
assert_eq 0 $? "sqlite: update and delete in one transaction"
assert_eq "delete" "$(sqlite3 "$SQ/journal.db" 'pragma journal_mode;')" "sqlite: journal mode is delete"

# WAL, a writer and a reader at the same time: every count the reader sees is a whole
# number of 100-row transactions and never goes down.
sq_fill "$SQ/wal.db" wal 1 100 >/dev/null
sq_fill "$SQ/wal.db" wal 60 100 0.02 &
w_pid=$!
"$PY" - "$SQ/wal.db" "$w_pid" >"$T_DIR/reader.out" 2>&1 <<'EOF' &
import os, sqlite3, sys, time
db, wpid = sys.argv[1], int(sys.argv[2])
bad, seen, last, reads = [], set(), 0, 0
def alive():
    try:
        with open('/proc/%d/stat' % wpid) as f:
            return f.read().split(') ')[1][0] not in 'ZX'
    except OSError:
        return False
while True:
    a = alive()
    c = sqlite3.connect(db, timeout=30)
    n, = c.execute('select count(*) from t').fetchone()
    ok, = c.execute('pragma quick_check').fetchone()
    c.close()
    seen.add(n)
    reads += 1
    if n % 100 or n < last or ok != 'ok':
        bad.append((n, ok))
    last = n
    if not a:
        break
    time.sleep(0.05)
print('reads=%d distinct=%d bad=%r last=%d' % (reads, len(seen), bad[:5], last))
EOF
r_pid=$!
wait "$w_pid"
assert_eq 0 $? "sqlite: 6000 more inserts in WAL mode while another process reads"
wait "$r_pid"
r_out=$(cat "$T_DIR/reader.out")
assert_match "bad=\[\] last=6100$" "$r_out" "sqlite: the reader only saw whole transactions, never fewer rows"
distinct=$(sed -n 's/.*distinct=\([0-9]*\).*/\1/p' <<<"$r_out")
((${distinct:-0} >= 3)) && ok "sqlite: the reader ran during the writes ($distinct distinct counts)" ||
	not_ok "sqlite: the reader ran during the writes" "$r_out"
assert_eq "wal" "$(sqlite3 "$SQ/wal.db" 'pragma journal_mode;')" "sqlite: journal mode is wal"

sq_check() {   # label
	assert_eq ok "$(sqlite3 "$SQ/journal.db" 'pragma integrity_check;' 2>&1)" "sqlite: journal.db integrity_check ($1)"
	assert_eq "3600 514" "$(sqlite3 "$SQ/journal.db" "select count(*), sum(v like 'u%') from t;" 2>&1 | tr '|' ' ')" \
		"sqlite: journal.db rows ($1)"
	assert_eq ok "$(sqlite3 "$SQ/wal.db" 'pragma integrity_check;' 2>&1)" "sqlite: wal.db integrity_check ($1)"
	assert_eq "6100 61 $((61 * 5050))" \
		"$(sqlite3 "$SQ/wal.db" "select count(*), count(distinct tx * 1000 + (id - 1) / 100), sum(cast(substr(v, 1, 8) as integer)) from t;" 2>&1 | tr '|' ' ')" \
		"sqlite: wal.db rows ($1)"
}
sq_check "before remount"
# The same statements in the plain dir give the same dump, but for the random blobs.
sq_fill "$PLAIN/journal.db" delete 40 100
sqlite3 "$PLAIN/journal.db" "begin; update t set v = 'u' || v where id % 7 = 0; delete from t where id % 10 = 0; commit;"
q="select id, tx, substr(v, 1, 9) from t order by id;"
assert_eq "$(sqlite3 "$PLAIN/journal.db" "$q" | md5sum)" "$(sqlite3 "$SQ/journal.db" "$q" | md5sum)" \
	"sqlite: journal.db rows equal those of the same statements in a plain dir"
sqlite3 "$SQ/journal.db" 'select sum(length(v)), group_concat(v) from t;' | md5sum >"$T_DIR/jsum"
remount_lsmfs "$STORE" "$MNT"
sq_check "after remount"
assert_eq "$(cat "$T_DIR/jsum")" "$(sqlite3 "$SQ/journal.db" 'select sum(length(v)), group_concat(v) from t;' | md5sum)" \
	"sqlite: journal.db content unchanged by the remount"
note "sqlite done at $(($(date +%s) - T0)) s"

# ---------------------------------------------------------------- make
MK=$MNT/make
mkdir -p "$MK"
for n in a b c d; do
	printf 'int f_%s(int x) { return x + %d; }\n' "$n" "$(printf '%d' "'$n")" >"$MK/$n.c"
done
cat >"$MK/main.c" <<'EOF'
#include <stdio.h>
int f_a(int), f_b(int), f_c(int), f_d(int);
int main(void) { printf("%d\n", f_a(1) + f_b(2) + f_c(3) + f_d(4)); return 0; }
EOF
printf 'prog: main.o a.o b.o c.o d.o\n\tcc -o $@ $^\n%%.o: %%.c\n\tcc -O0 -c -o $@ $<\n' >"$MK/Makefile"
out=$(make -C "$MK" 2>&1)
assert_eq 0 $? "make: the project builds on the mount" || printf '%s\n' "$out"
assert_eq 404 "$("$MK/prog")" "make: the program runs"
assert_true "make -q: up to date after the build" make -q -C "$MK"
sleep 0.05
touch "$MK/c.c"
assert_false "make -q: out of date after touching c.c" make -q -C "$MK"
assert_eq $'cc -O0 -c -o c.o c.c\ncc -o prog main.o a.o b.o c.o d.o' "$(make -s -n -C "$MK" 2>&1)" \
	"make -n: only c.o and the program would be rebuilt"
out=$(make -C "$MK" 2>&1 | grep '^cc')
assert_eq $'cc -O0 -c -o c.o c.c\ncc -o prog main.o a.o b.o c.o d.o' "$out" "make: rebuilt exactly c.o and the program"
assert_true "make -q: up to date after the rebuild" make -q -C "$MK"
assert_eq "make: 'prog' is up to date." "$(make -C "$MK" --no-print-directory 2>&1)" "make: nothing to do"
note "make done at $(($(date +%s) - T0)) s"

# ---------------------------------------------------------------- locks
LK=$MNT/locks
mkdir -p "$LK"
: >"$LK/f"
flock -x "$LK/f" sleep 2 &
h_pid=$!
sleep 0.5
assert_false "flock -n fails while another process holds the flock" flock -n "$LK/f" true
assert_false "flock -n -s fails too" flock -n -s "$LK/f" true
assert_true "flock -w waits until the holder exits" flock -w 10 "$LK/f" true
wait "$h_pid"
assert_true "flock -n succeeds once the holder is gone" flock -n "$LK/f" true
flock -s "$LK/f" sleep 2 &
h_pid=$!
sleep 0.5
assert_true "two shared flocks coexist" flock -n -s "$LK/f" true
assert_false "an exclusive flock conflicts with a shared one" flock -n -x "$LK/f" true
wait "$h_pid"

# fcntl byte-range locks: a holder process locks [0,100) exclusively and [1000,1100) shared.
printf '%4096s' '' >"$LK/r"
"$PY" - "$LK/r" "$T_DIR/held" <<'EOF' &
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 100, 0)
fcntl.lockf(fd, fcntl.LOCK_SH, 100, 1000)
open(sys.argv[2], 'w').close()
time.sleep(2)
EOF
h_pid=$!
for ((i = 0; i < 50; i++)); do [[ -e $T_DIR/held ]] && break; sleep 0.1; done
out=$("$PY" - "$LK/r" <<'EOF'
import errno, fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDWR)
def t(kind, n, start):
    try:
        fcntl.lockf(fd, kind | fcntl.LOCK_NB, n, start)
        fcntl.lockf(fd, fcntl.LOCK_UN, n, start)
        return 'OK'
    except OSError as e:
        return errno.errorcode[e.errno]
r = [t(fcntl.LOCK_EX, 10, 50), t(fcntl.LOCK_SH, 10, 99), t(fcntl.LOCK_EX, 10, 100),
     t(fcntl.LOCK_SH, 10, 1050), t(fcntl.LOCK_EX, 10, 1050), t(fcntl.LOCK_EX, 0, 2000)]
# F_GETLK names the holder.
lk = struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0, 10, 0)
res = struct.unpack('hhqqi', fcntl.fcntl(fd, fcntl.F_GETLK, lk))
r.append('getlk=%s,%d,%d' % ('W' if res[0] == fcntl.F_WRLCK else res[0], res[2], res[3]))
print(' '.join(r))
EOF
)
hold_pid=$h_pid
assert_match "^(EAGAIN|EACCES) (EAGAIN|EACCES) OK OK (EAGAIN|EACCES) OK getlk=W,0,100$" "$out" \
	"fcntl: byte-range conflicts inside the held ranges only, F_GETLK reports the holder"
wait "$hold_pid"
out=$("$PY" - "$LK/r" <<'EOF'
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
print('OK')
EOF
)
assert_eq OK "$out" "fcntl: the whole file can be locked once the holder exited"
note "locks done at $(($(date +%s) - T0)) s"

# ---------------------------------------------------------------- mmap
MM=$MNT/mmap
mkdir -p "$MM"
out=$("$PY" - "$MM/m" <<'EOF'
import hashlib, mmap, os, sys
p, n = sys.argv[1], 4 << 20
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, n)
m = mmap.mmap(fd, n, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
for i in range(0, n, 4096):
    m[i:i + 4096] = hashlib.sha256(b'%d' % i).digest() * 128
m[12345:12350] = b'HELLO'
m.flush()
m.close()
os.close(fd)
h = hashlib.sha256()
for i in range(0, n, 4096):
    b = bytearray(hashlib.sha256(b'%d' % i).digest() * 128)
    if i == 12288:
        b[57:62] = b'HELLO'
    h.update(b)
print(h.hexdigest())
EOF
)
want=$out
assert_eq "$want" "$(sha256sum <"$MM/m" | cut -d' ' -f1)" "mmap: 4 MiB written through MAP_SHARED + msync, read() by another process"
assert_eq $((4 << 20)) "$(stat -c %s "$MM/m")" "mmap: the file size"
# Write through a mapping while another process has the file open and reads it.
out=$("$PY" - "$MM/m" <<'EOF'
import mmap, os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 0)
m[4 << 19:(4 << 19) + 6] = b'middle'
m.flush()
r = subprocess.run(['dd', 'if=' + sys.argv[1], 'bs=1', 'skip=%d' % (4 << 19), 'count=6', 'status=none'],
                   capture_output=True).stdout
print(r.decode())
EOF
)
assert_eq middle "$out" "mmap: a second write, msync, seen by dd while still mapped"
want2=$(sha256sum <"$MM/m" | cut -d' ' -f1)
remount_lsmfs "$STORE" "$MNT"
assert_eq "$want2" "$(sha256sum <"$MM/m" | cut -d' ' -f1)" "mmap: the content survives a remount"
note "mmap done at $(($(date +%s) - T0)) s"

# ---------------------------------------------------------------- df / du
df_used() { df -B1 --output=used "$MNT" | tail -n 1 | tr -d ' '; }
# df_wait CMP LIMIT: poll up to 10 s for the used space to be CMP (-ge/-le) LIMIT.
df_wait() {
	local i u
	for ((i = 0; i < 100; i++)); do
		u=$(df_used)
		[ "$u" "$1" "$2" ] && { echo "$u"; return 0; }
		sleep 0.1
	done
	echo "$u"
	return 1
}
sync
u0=$(df_used)
head -c $((64 << 20)) /dev/urandom >"$MNT/big"
u1=$(df_wait -ge $((u0 + (60 << 20))))
assert_eq 0 $? "df: used grows by >= 60 MiB after writing 64 MiB (before $u0, after $u1)"
rm "$MNT/big"
sync
u2=$(df_wait -le $((u1 - (48 << 20))))
assert_eq 0 $? "df: used shrinks by >= 48 MiB within 10 s of removing it (before $u1, after $u2)"

truncate -s 64M "$MNT/sparse"
dd if=/dev/urandom of="$MNT/sparse" bs=64K count=1 seek=300 conv=notrunc status=none
sync
du_s=$(du -B1 "$MNT/sparse" | cut -f1)
((du_s < (1 << 20) && du_s >= (64 << 10))) && ok "du: a 64 MiB file with 64 KiB of data uses $du_s bytes" ||
	not_ok "du: a sparse file uses less than its size" "du -B1: $du_s"
assert_eq $((64 << 20)) "$(du -b "$MNT/sparse" | cut -f1)" "du -b: the apparent size"
sum=$(find "$MNT/git/repo" "$MNT/make" -printf '%s\n' | awk '{ s += $1 } END { print s }')
assert_eq "$sum" "$(du -sbc "$MNT/git/repo" "$MNT/make" | tail -n 1 | cut -f1)" "du -sb: the sum of all sizes"
note "df/du done at $(($(date +%s) - T0)) s"

# ---------------------------------------------------------------- restic and borg
SRC=$PLAIN/src
mkdir -p "$SRC"
cp -a "$PLAIN/git/clone/src" "$SRC/tree"
head -c $((6 << 20)) /dev/urandom >"$SRC/random.bin"
head -c $((3 << 20)) /dev/zero >"$SRC/zeros.bin"
ln -s tree "$SRC/link"
export RESTIC_PASSWORD=lsmfs-test RESTIC_CACHE_DIR=$T_DIR/restic-cache
assert_true "restic: init a repository on the mount" restic -q -r "$MNT/restic" init
assert_true "restic: backup" bash -c "cd '$SRC' && restic -q -r '$MNT/restic' backup ."
assert_true "restic: check --read-data" restic -q -r "$MNT/restic" check --read-data
remount_lsmfs "$STORE" "$MNT"
assert_true "restic: check --read-data after a remount" restic -q -r "$MNT/restic" check --read-data
assert_true "restic: restore to a plain dir" restic -q -r "$MNT/restic" restore latest --target "$PLAIN/rr"
assert_true "restic: the restored tree equals the source" diff -r --no-dereference "$SRC" "$PLAIN/rr"
note "restic done at $(($(date +%s) - T0)) s"

export BORG_BASE_DIR=$T_DIR/borg-base BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
assert_true "borg: init a repository on the mount" borg init -e none "$MNT/borg"
assert_true "borg: create" bash -c "cd '$SRC' && borg create '$MNT/borg::one' ."
echo more >>"$SRC/tree/d0/f1.txt"
assert_true "borg: a second archive" bash -c "cd '$SRC' && borg create '$MNT/borg::two' ."
assert_true "borg: check --verify-data" borg check --verify-data "$MNT/borg"
mkdir -p "$PLAIN/br"
assert_true "borg: extract to a plain dir" bash -c "cd '$PLAIN/br' && borg extract '$MNT/borg::two'"
assert_true "borg: the extracted tree equals the source" diff -r --no-dereference "$SRC" "$PLAIN/br"
note "borg done at $(($(date +%s) - T0)) s"

umount_lsmfs "$MNT" && ok "clean unmount" || not_ok "clean unmount"
finish
