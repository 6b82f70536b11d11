#!/usr/bin/env python3
"""A fake memdisk control server, for the harden-control-* tests: what
another user can do to pass for the server of FILE.

    control_fake.py FILE READY [--lock] [--silent]

Binds the name an old memdisk derived from public facts (FILE's folder's
device and inode, an FNV-1a hash of its base name); with --lock, also
makes FILE's lock file (".NAME.lock", mode 0644), holds its flock and a
POSIX lock on the byte of its pid (as a real holder does), writes a
socket token into it and binds that name too.  Answers every request with
a forged "saved" reply, or with --silent never answers.  Writes its pid
to READY once it listens, then serves until killed.
"""
import fcntl, os, select, socket, struct, sys

file, ready = sys.argv[1], sys.argv[2]
folder, base = os.path.split(os.path.abspath(file))
silent = "--silent" in sys.argv

st = os.stat(folder)
h = 0xcbf29ce484222325
for b in base.encode():
    h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
names = [b"\0memdisk-control/%x/%x/%016x" % (st.st_dev, st.st_ino, h)]

if "--lock" in sys.argv:
    token = os.urandom(16).hex()
    fd = os.open(os.path.join(folder, "." + base + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, (token + "\n").encode())
    fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, os.getpid())
    names.append(b"\0memdisk-control/" + token.encode())

listeners = []
for name in names:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(name)
    s.listen(16)
    listeners.append(s)
with open(ready + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(ready + ".tmp", ready)

forged = (b"result ok\nfile %s\nsave-time 2026-01-01T00:00:00Z\nsave-trigger request\n"
          b"save-duration 0.001\nsave-allocated-size 1\nsave-file-size 1\n"
          b"save-digest 0123456789abcdef\npid %d\nstate serving\nsaves 1\n"
          b"failed-saves 0\n\n" % (file.encode(), os.getpid()))
held = []
while True:
    readable, _, _ = select.select(listeners, [], [])
    for s in readable:
        c, _ = s.accept()
        if silent:
            held.append(c)              # never answered, never closed
            continue
        try:
            c.recv(64)
            c.sendall(forged)
        except OSError:
            pass
        c.close()
