#!/bin/bash
# Several processes at once: writers of different files (each its own pattern, sizes
# crossing chunk boundaries), appenders to one shared file with O_APPEND (records of up to
# 4 KiB written with one write() each, and short lines from bash's >>), and a process that
# creates and removes files in the same directory meanwhile.  All data is present, no
# record is torn or interleaved, sizes are right, also after a remount.
source "$(dirname "$0")/lib.sh"

STORE=$T_DIR/store
MNT=$T_DIR/mnt
mkdir -p "$MNT"
mount_lsmfs "$STORE" "$MNT"
D=$MNT/c
mkdir "$D" || die "mkdir in the mount"

NW=4          # writers of their own files
NA=4          # python appenders, records up to 4 KiB
NB=3          # bash appenders, short lines
NREC=1500     # records per python appender
NLINE=2000    # lines per bash appender

# writer ID: file w<ID>, 24 MiB + ID*12345 bytes in writes of odd sizes, content a
# function of (ID, offset) so that any misplaced byte shows.
writer() {
	py "$D/w$1" "$1" <<'EOF'
import hashlib, os, sys
p, wid = sys.argv[1], int(sys.argv[2])
size = 24 * 1024 * 1024 + wid * 12345
block = hashlib.sha256(b'writer %d' % wid).digest() * 4096   # 128 KiB pattern
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
off, step = 0, 0
sizes = [4096, 131072, 1000, 65536 + 17, 1 << 20, 77777]
while off < size:
    n = min(sizes[step % len(sizes)], size - off)
    step += 1
    buf = (block[off % len(block):] + block * 9)[:n]
    assert os.write(fd, buf) == n
    off += n
os.close(fd)
EOF
}

# Expected content of writer ID's file, to compare against.
writer_expected() {
	py "$1" <<'EOF'
import hashlib, sys
wid = int(sys.argv[1])
size = 24 * 1024 * 1024 + wid * 12345
block = hashlib.sha256(b'writer %d' % wid).digest() * 4096
h = hashlib.sha256()
full, rest = divmod(size, len(block))
for _ in range(full):
    h.update(block)
h.update(block[:rest])
print(h.hexdigest(), size)
EOF
}

# appender ID: NREC records "<ID> <seq> <len> <payload>\n", each one os.write() with
# O_APPEND, lengths 20..4096 bytes.
appender() {
	py "$D/shared.log" "$1" "$NREC" <<'EOF'
import os, random, sys
p, aid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(aid)
fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for seq in range(n):
    total = rnd.randint(20, 4096)
    head = b'P%d %d %d ' % (aid, seq, total)
    body = bytes([97 + (aid + seq) % 26]) * (total - len(head) - 1)
    rec = head + body + b'\n'
    assert len(rec) == total
    assert os.write(fd, rec) == total
os.close(fd)
EOF
}

# bash appender ID: NLINE short lines with >> (one write per printf).
bash_appender() {
	local i
	for ((i = 0; i < NLINE; i++)); do
		printf 'B%d %d %s\n' "$1" "$i" "bash-appender-line" >>"$D/shared.log"
	done
}

# churner: creates, renames and removes files in the same directory meanwhile.
churner() {
	local i
	for ((i = 0; i < 400; i++)); do
		printf '%d\n' "$i" >"$D/churn.$i" && mv "$D/churn.$i" "$D/churned.$i" && rm "$D/churned.$i" || return 1
	done
	ls -l "$D" >/dev/null
}

pids=()
t0=$(date +%s)
for ((i = 0; i < NW; i++)); do writer "$i" & pids+=($!); done
for ((i = 0; i < NA; i++)); do appender "$i" & pids+=($!); done
for ((i = 0; i < NB; i++)); do bash_appender "$i" & pids+=($!); done
churner & pids+=($!)
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
assert_eq 0 "$failed" "all ${#pids[@]} concurrent processes exited 0 ($(($(date +%s) - t0)) s)"

# check_all WHEN
check_all() {
	local i exp got out
	for ((i = 0; i < NW; i++)); do
		exp=$(writer_expected "$i")
		got="$(sha256sum <"$D/w$i" | cut -d' ' -f1) $(stat -c %s "$D/w$i")"
		assert_eq "$exp" "$got" "$1: writer $i's file: sha256 and size"
	done
	out=$(py "$D/shared.log" "$NA" "$NREC" "$NB" "$NLINE" <<'EOF'
import os, sys
p, na, nrec, nb, nline = sys.argv[1], *map(int, sys.argv[2:])
data = open(p, 'rb').read()
errs, seen = [], {}
expect_size = 0
import random
for aid in range(na):
    rnd = random.Random(aid)
    expect_size += sum(rnd.randint(20, 4096) for _ in range(nrec))
for bid in range(nb):
    expect_size += sum(len(b'B%d %d bash-appender-line\n' % (bid, i)) for i in range(nline))
if len(data) != expect_size:
    errs.append('size %d, expected %d' % (len(data), expect_size))
lines = data.split(b'\n')
if lines[-1] != b'':
    errs.append('file does not end with a newline')
for ln in lines[:-1]:
    f = ln.split(b' ', 3)
    try:
        if ln.startswith(b'P'):
            aid, seq, total = int(f[0][1:]), int(f[1]), int(f[2])
            body = bytes([97 + (aid + seq) % 26]) * (total - len(b' '.join(f[:3])) - 2)
            if len(ln) + 1 != total or f[3] != body:
                raise ValueError('torn record')
            key = ('P', aid)
        elif ln.startswith(b'B'):
            aid, seq = int(f[0][1:]), int(f[1])
            if f[2] != b'bash-appender-line' or len(f) != 3:
                raise ValueError('torn line')
            key = ('B', aid)
        else:
            raise ValueError('bad start')
    except (ValueError, IndexError) as e:
        errs.append('%s: %r' % (e, ln[:80]))
        continue
    prev = seen.get(key, -1)
    if seq != prev + 1:
        errs.append('%s%d: seq %d after %d' % (key[0], key[1], seq, prev))
    seen[key] = seq
for aid in range(na):
    if seen.get(('P', aid), -1) != nrec - 1:
        errs.append('P%d: last seq %d, expected %d' % (aid, seen.get(('P', aid), -1), nrec - 1))
for bid in range(nb):
    if seen.get(('B', bid), -1) != nline - 1:
        errs.append('B%d: last seq %d, expected %d' % (bid, seen.get(('B', bid), -1), nline - 1))
print('OK' if not errs else '%d problems\n' % len(errs) + '\n'.join(errs[:10]))
EOF
	)
	assert_eq OK "$out" "$1: shared O_APPEND file: every record whole, in order per process, size right"
	assert_eq "" "$(ls "$D" | grep churn)" "$1: the churner's files are all gone"
}
check_all "live mount"
remount_lsmfs "$STORE" "$MNT"
check_all "after remount"

# Readers and writers at once: cat the writers' files while they are rewritten.
pids=()
for ((i = 0; i < NW; i++)); do writer "$i" & pids+=($!); done
for ((i = 0; i < NW; i++)); do (for _ in 1 2 3; do cat "$D/w$i" >/dev/null || exit 1; done) & pids+=($!); done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
assert_eq 0 "$failed" "writers rewriting their files while readers read them"
for ((i = 0; i < NW; i++)); do
	assert_eq "$(writer_expected "$i")" "$(sha256sum <"$D/w$i" | cut -d' ' -f1) $(stat -c %s "$D/w$i")" \
		"after concurrent rewrite: writer $i's file"
done

umount_lsmfs "$MNT" && ok "clean final unmount" || not_ok "clean final unmount"
finish
