#!/usr/bin/env python3
"""workload.py — the crash loops' workload and its checker.

  workload.py run   --dir ROUNDDIR --log LOGDIR --procs N --seed S [--seconds T]
                    [--powercut]
  workload.py check --dir ROUNDDIR --log LOGDIR [--label TEXT]

run: forks N processes.  Process P owns ROUNDDIR/pP and its three
subdirectories d0 d1 d2, and uses only the names f00..f11 in each (the
"pool"), so that everything it changes is its own and the set of paths it
can ever claim anything about is finite.  It loops over random operations
until one fails (the daemon was killed: ENOTCONN, EIO) or T seconds pass:
create, overwrite at an offset (also through an fd kept open across the
fsync), append, truncate (shrink and grow, so holes), rename (within and
across directories, over an existing file too), hard link, unlink, mkdir,
rmdir and rename of empty directories, fsync of a file (optionally followed
by an fsync of every directory holding one of its names) and fsync of a
directory.

The log.  Each process appends JSON lines to LOGDIR/pP.log (on the normal
disk, outside the mount), flushed after every record, so that a kill of the
daemon (or a cut of its store) loses none of them:
  {"t":"ready"}                       the process's directories are durable
  {"t":"touch","p":[path,...]}        written BEFORE an operation that may
                                      change these names or their contents
  {"t":"claim","c":{path:state,...}}  written AFTER an fsync returned: what
                                      must hold of each path after a crash
A state is ["absent"], ["dir"], ["file"] (the name exists as a regular
file; its data was not synced since its last change) or
["file", size, sha256] (and its contents are these).  The process keeps a
model: per directory whether its entries changed since its last fsync
(dirty), per inode whether its data changed since its last fsync.  After
each fsync it claims, for every clean directory, the state of every pool
name in it; the file contents only for inodes whose data is clean.  These
are POSIX's promises: fsync(file) makes the data durable, fsync(dir) the
names in it.  lsmfs keeps more (an fsync syncs the whole store), which the
checker does not rely on.

check: for every path, the last record that names it decides: a touch means
nothing is known (the operation may or may not have happened); a claim must
hold exactly.  It also checks that every process directory holds no name
outside the pool.  Prints one line per problem and a summary; exit 1 if any.
"""
import argparse
import errno
import hashlib
import json
import os
import random
import signal
import stat
import sys
import time

NAMES = ['f%02d' % i for i in range(12)]
DIRS = ['d0', 'd1', 'd2']
SIZES = [0, 1, 100, 4095, 4096, 65535, 65536, 65537, 70000, 150000, 300000]


def write_all(fd, data, off=None):
    done = 0
    while done < len(data):
        if off is None:
            done += os.write(fd, data[done:])
        else:
            done += os.pwrite(fd, data[done:], off + done)


class Inode:
    def __init__(self, kind):
        self.kind = kind          # 'file' or 'dir'
        self.data = bytearray()
        self.names = set()        # (dir, name)
        self.clean = False        # data durable (files)


class Proc:
    def __init__(self, root, logpath, seed):
        self.root = root
        self.rnd = random.Random(seed)
        self.log = open(logpath, 'a')
        self.ents = {d: {} for d in DIRS}     # dir -> name -> Inode
        self.dirty = {d: True for d in DIRS}  # entries changed since fsync
        self.ops = 0

    # ---- the log

    def rec(self, r):
        self.log.write(json.dumps(r, separators=(',', ':')) + '\n')
        self.log.flush()

    def path(self, d, n):
        return os.path.join(self.root, d, n)

    def rel(self, d, n):
        return '%s/%s' % (d, n)

    def touch(self, *dn):
        self.rec({'t': 'touch', 'p': sorted({self.rel(d, n) for d, n in dn})})

    def claim(self):
        c = {}
        for d in DIRS:
            if self.dirty[d]:
                continue
            for n in NAMES:
                ip = self.ents[d].get(n)
                if ip is None:
                    c[self.rel(d, n)] = ['absent']
                elif ip.kind == 'dir':
                    c[self.rel(d, n)] = ['dir']
                elif ip.clean:
                    c[self.rel(d, n)] = ['file', len(ip.data),
                                         hashlib.sha256(ip.data).hexdigest()]
                else:
                    c[self.rel(d, n)] = ['file']
        if c:
            self.rec({'t': 'claim', 'c': c})

    # ---- picking

    def existing(self, kind=None):
        l = [(d, n) for d in DIRS for n, ip in self.ents[d].items()
             if kind is None or ip.kind == kind]
        return self.rnd.choice(l) if l else None

    def free(self):
        l = [(d, n) for d in DIRS for n in NAMES if n not in self.ents[d]]
        return self.rnd.choice(l) if l else None

    def bytes(self, n):
        return self.rnd.randbytes(n)

    # ---- model updates

    def bind(self, d, n, ip):
        self.ents[d][n] = ip
        ip.names.add((d, n))
        self.dirty[d] = True

    def unbind(self, d, n):
        ip = self.ents[d].pop(n)
        ip.names.discard((d, n))
        self.dirty[d] = True
        return ip

    def changed(self, ip):
        ip.clean = False

    # ---- operations

    def op_create(self):
        dn = self.free()
        if not dn:
            return
        data = self.bytes(self.rnd.choice(SIZES))
        self.touch(dn)
        fd = os.open(self.path(*dn), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        ip = Inode('file')
        self.bind(*dn, ip)
        try:
            write_all(fd, data)
            ip.data[:] = data
            if self.rnd.random() < 0.3:
                self.fsync_fd(fd, ip)
        finally:
            os.close(fd)

    def op_write(self):
        dn = self.existing('file')
        if not dn:
            return
        ip = self.ents[dn[0]][dn[1]]
        off = self.rnd.randrange(len(ip.data) + 70000)
        data = self.bytes(self.rnd.choice(SIZES[1:]))
        self.touch(*ip.names)
        self.changed(ip)
        fd = os.open(self.path(*dn), os.O_WRONLY)
        try:
            write_all(fd, data, off)
            if off > len(ip.data):
                ip.data.extend(bytes(off - len(ip.data)))
            ip.data[off:off + len(data)] = data
            if self.rnd.random() < 0.3:
                self.fsync_fd(fd, ip)
        finally:
            os.close(fd)

    def op_append(self):
        dn = self.existing('file')
        if not dn:
            return
        ip = self.ents[dn[0]][dn[1]]
        data = self.bytes(self.rnd.choice(SIZES[1:8]))
        self.touch(*ip.names)
        self.changed(ip)
        fd = os.open(self.path(*dn), os.O_WRONLY | os.O_APPEND)
        try:
            write_all(fd, data)
            ip.data.extend(data)
        finally:
            os.close(fd)

    def op_truncate(self):
        dn = self.existing('file')
        if not dn:
            return
        ip = self.ents[dn[0]][dn[1]]
        size = self.rnd.choice([0, self.rnd.randrange(len(ip.data) + 1),
                                len(ip.data) + self.rnd.randrange(200000)])
        self.touch(*ip.names)
        self.changed(ip)
        os.truncate(self.path(*dn), size)
        if size <= len(ip.data):
            del ip.data[size:]
        else:
            ip.data.extend(bytes(size - len(ip.data)))

    def op_rename(self):
        src = self.existing()
        if not src:
            return
        sip = self.ents[src[0]][src[1]]
        if sip.kind == 'dir' or self.rnd.random() < 0.5:
            dst = self.free()
        else:
            dst = self.existing('file')
        if not dst or dst == src:
            return
        dip = self.ents[dst[0]].get(dst[1])
        if dip is sip:
            return  # two links of one inode: rename does nothing
        self.touch(src, dst)
        os.rename(self.path(*src), self.path(*dst))
        if dip is not None:
            self.unbind(*dst)
        self.unbind(*src)
        self.bind(*dst, sip)

    def op_link(self):
        src = self.existing('file')
        dst = self.free()
        if not src or not dst:
            return
        ip = self.ents[src[0]][src[1]]
        self.touch(dst)
        os.link(self.path(*src), self.path(*dst))
        self.bind(*dst, ip)

    def op_unlink(self):
        dn = self.existing('file')
        if not dn:
            return
        self.touch(dn)
        os.unlink(self.path(*dn))
        self.unbind(*dn)

    def op_mkdir(self):
        dn = self.free()
        if not dn:
            return
        self.touch(dn)
        os.mkdir(self.path(*dn))
        self.bind(*dn, Inode('dir'))

    def op_rmdir(self):
        dn = self.existing('dir')
        if not dn:
            return
        self.touch(dn)
        os.rmdir(self.path(*dn))
        self.unbind(*dn)

    def fsync_fd(self, fd, ip):
        os.fsync(fd)
        ip.clean = True
        self.claim()

    def fsync_dir(self, d):
        fd = os.open(os.path.join(self.root, d), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.dirty[d] = False

    def op_fsync_file(self):
        dn = self.existing('file')
        if not dn:
            return
        ip = self.ents[dn[0]][dn[1]]
        fd = os.open(self.path(*dn), os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        ip.clean = True
        if self.rnd.random() < 0.7:
            for d in sorted({d for d, _ in ip.names}):
                self.fsync_dir(d)
        self.claim()

    def op_fsync_dir(self):
        self.fsync_dir(self.rnd.choice(DIRS))
        self.claim()

    OPS = [(op_create, 10), (op_write, 10), (op_append, 4), (op_truncate, 5),
           (op_rename, 6), (op_link, 4), (op_unlink, 5), (op_mkdir, 1),
           (op_rmdir, 1), (op_fsync_file, 8), (op_fsync_dir, 4)]

    def setup(self):
        os.mkdir(self.root)
        for d in DIRS:
            os.mkdir(os.path.join(self.root, d))
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(fd)
        os.close(fd)
        for d in DIRS:
            self.fsync_dir(d)
        self.rec({'t': 'ready'})
        self.claim()

    def run(self, deadline):
        fns = [f for f, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        while time.time() < deadline:
            self.rnd.choices(fns, weights)[0](self)
            self.ops += 1


def run(args):
    os.makedirs(args.log, exist_ok=True)
    # The round directory must be durable before the processes claim
    # anything below it.
    os.mkdir(args.dir)
    for d in (os.path.dirname(args.dir.rstrip('/')), args.dir):
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(fd)
        os.close(fd)
    deadline = time.time() + args.seconds
    kids = []
    for p in range(args.procs):
        pid = os.fork()
        if pid == 0:
            code = 0
            pr = Proc(os.path.join(args.dir, 'p%d' % p),
                      os.path.join(args.log, 'p%d.log' % p),
                      args.seed * 1000 + p)
            try:
                pr.setup()
                pr.run(deadline)
            except OSError as e:
                # The daemon went away under us: the normal end of a round.
                # After a power cut the daemon answers for a moment before it
                # exits, with the store's latched error (EROFS).
                benign = [errno.ENOTCONN, errno.EIO, errno.ECONNABORTED,
                          errno.ENODEV] + [errno.EROFS] * args.powercut
                if e.errno not in benign:
                    sys.stderr.write('workload p%d: unexpected %r after %d ops\n'
                                     % (p, e, pr.ops))
                    code = 3
            pr.rec({'t': 'end', 'ops': pr.ops})
            os._exit(code)
        kids.append(pid)
    rc = 0
    for pid in kids:
        _, st = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(st) not in (0, -signal.SIGKILL):
            rc = 1
    return rc


def state_of(path):
    """The state of path on the mount, as a claim would state it."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return ['absent']
    if stat.S_ISDIR(st.st_mode):
        return ['dir']
    if not stat.S_ISREG(st.st_mode):
        return ['other %o' % st.st_mode]
    h = hashlib.sha256()
    n = 0
    with open(path, 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    if n != st.st_size:
        return ['file', st.st_size, 'read %d bytes of %d' % (n, st.st_size)]
    return ['file', n, h.hexdigest()]


def short(state):
    return ' '.join(str(x)[:16] for x in state)


def check(args):
    label = args.label + ': ' if args.label else ''
    bad = 0
    nclaims = ndata = nprocs = nready = nops = 0
    for p in range(64):
        logpath = os.path.join(args.log, 'p%d.log' % p)
        if not os.path.exists(logpath):
            break
        nprocs += 1
        root = os.path.join(args.dir, 'p%d' % p)
        last = {}
        ready = False
        with open(logpath) as f:
            for line in f:
                if not line.endswith('\n'):
                    break  # the workload was killed in mid-line (not by us)
                r = json.loads(line)
                if r['t'] == 'ready':
                    ready = True
                elif r['t'] == 'touch':
                    for q in r['p']:
                        last[q] = None
                elif r['t'] == 'claim':
                    last.update(r['c'])
                elif r['t'] == 'end':
                    nops += r['ops']
        if not ready:
            continue
        nready += 1
        for q, want in sorted(last.items()):
            if want is None:
                continue
            nclaims += 1
            ndata += len(want) == 3
            got = state_of(os.path.join(root, q))
            ok = got == want if len(want) == 3 else got[0] == want[0]
            if not ok:
                bad += 1
                print('%sLOST p%d/%s: expected %s, found %s'
                      % (label, p, q, short(want), short(got)))
        for d in DIRS:
            try:
                names = os.listdir(os.path.join(root, d))
            except OSError as e:
                bad += 1
                print('%sp%d/%s: cannot list: %s' % (label, p, d, e))
                continue
            for n in names:
                if n not in NAMES:
                    bad += 1
                    print('%sp%d/%s: unexpected name %r' % (label, p, d, n))
    print('%s%d processes (%d ready), %d ops, %d claims checked (%d of '
          'contents), %d problems' % (label, nprocs, nready, nops, nclaims,
                                      ndata, bad))
    return 1 if bad or not nready else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('cmd', choices=['run', 'check'])
    ap.add_argument('--dir', required=True)
    ap.add_argument('--log', required=True)
    ap.add_argument('--procs', type=int, default=4)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--seconds', type=float, default=60)
    ap.add_argument('--label', default='')
    ap.add_argument('--powercut', action='store_true',
                    help='run: EROFS too is the end of a round')
    args = ap.parse_args()
    sys.exit(run(args) if args.cmd == 'run' else check(args))


if __name__ == '__main__':
    main()
