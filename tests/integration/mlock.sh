#!/usr/bin/env bash
# mlock=true keeps the disk out of swap: the server's memory is locked
# (VmLck in /proc/PID/status covers what clients wrote), also after nbdkit
# forks into the background; without it nothing is locked; and a
# RLIMIT_MEMLOCK too small for the disk is refused at start with both
# numbers and how to raise it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands nbdkit nbdsh prlimit setpriv
# ASan and TSan reserve terabytes of shadow memory, which mlockall would
# mark locked too: not a configuration anyone runs.
if [[ -n ${MEMDISK_SANITIZE:-} ]]; then
  echo "SKIP: mlock=true under MEMDISK_SANITIZE=$MEMDISK_SANITIZE"
  exit 77
fi

# vmlck NAME: the server's locked memory in bytes.
vmlck ()
{
  local kib
  kib=$(awk '$1 == "VmLck:" { print $2 }' "/proc/$(nbdkit_pid "$1")/status")
  echo $((kib * 1024))
}

write_mib ()
{
  nbdsh -u "$(nbdkit_uri "$1")" -c "
for i in range($2):
    h.pwrite(bytes([i % 251 + 1]) * (1 << 20), i << 20)
"
}

# As root (CAP_IPC_LOCK) the limit does not bind.  The daemonized server
# (memory locks do not survive fork) has locked at least what was written.
memdisk_start locked 1G mlock=true
write_mib locked 64
locked=$(vmlck locked)
((locked >= 64 << 20)) || fail "mlock=true: VmLck is $locked bytes after writing 64 MiB"
got=$(nbdsh -u "$(nbdkit_uri locked)" -c 'print(h.pread(1 << 20, 63 << 20)[:1].hex())')
[[ $got == $(printf '%02x' $((63 % 251 + 1))) ]] || fail "mlock=true: read back $got"
nbdkit_stop locked

memdisk_start unlocked 1G
write_mib unlocked 16
unlocked=$(vmlck unlocked)
((unlocked == 0)) || fail "without mlock=true VmLck is $unlocked bytes"
nbdkit_stop unlocked

# Without CAP_IPC_LOCK (dropped from the bounding set, so nbdkit, though
# root, does not have it) a 1 MiB limit cannot hold a 1 GiB disk.
err=$(prlimit --memlock=1048576 setpriv --bounding-set=-ipc_lock \
        nbdkit -U - "$MEMDISK_PLUGIN" 1G mlock=true --run true 2>&1) &&
  fail "mlock=true with RLIMIT_MEMLOCK 1 MiB was accepted"
for text in "RLIMIT_MEMLOCK is 1048576 bytes" "disk of 1073741824 bytes" \
            "ulimit -l unlimited" "LimitMEMLOCK=infinity"; do
  grep -qF "$text" <<<"$err" || fail "mlock refusal does not say '$text': $err"
done
# The same limit without mlock=true is no problem.
prlimit --memlock=1048576 setpriv --bounding-set=-ipc_lock \
  nbdkit -U - "$MEMDISK_PLUGIN" 1G --run true ||
  fail "a small RLIMIT_MEMLOCK refused a server without mlock=true"
