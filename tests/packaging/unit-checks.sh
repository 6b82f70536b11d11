#!/bin/bash
# Run by check-in-debootstrap.sh as a one-shot unit inside the booted
# root: memdisk@.socket and memdisk@.service under systemd.  Checks that
#   - the socket unit listens on /run/memdisk/NAME.sock, mode 0660, and
#     the first client starts the service, which serves MEMDISK_SIZE from
#     /etc/memdisk/NAME.conf;
#   - the server runs as a dynamic user that owns /var/lib/memdisk;
#   - with MLOCK=true (set by the caller where LimitMEMLOCK=infinity can
#     work) the server's memory is locked (VmLck);
#   - SIGUSR1 saves while the server keeps serving;
#   - systemctl reload saves when memdisk-tool has a save command, and
#     fails when it does not (a reload must not pretend to save);
#   - systemctl stop saves (the snapshot's digest changes after a write)
#     into a 0600 file of that user; the socket stays;
#   - the next client starts the server again, with the saved disk.
# Writes "ok" to /root/unit-checks.result when every check passed.
set -uo pipefail
name=unit
uri="nbd+unix:///?socket=/run/memdisk/$name.sock"
snap=/var/lib/memdisk/$name.snap
# The caller shows the lines of the console that start "unit-checks: ".
say () { echo "unit-checks: $*"; }
fail ()
{
  say "FAIL: $*"
  journalctl --no-pager -n 30 -u "memdisk@$name.service" -u "memdisk@$name.socket" 2>&1 |
    while IFS= read -r line; do say "journal: $line"; done
  exit 1
}
digest () { memdisk-tool info --json "$snap" | sed -n 's/.*"digest": "\(.*\)".*/\1/p'; }

printf 'MEMDISK_SIZE=64M\nMEMDISK_MLOCK=%s\n' "$MLOCK" >"/etc/memdisk/$name.conf"
systemctl start "memdisk@$name.socket" || fail "systemctl start memdisk@$name.socket"
[[ $(stat -c %a "/run/memdisk/$name.sock") == 660 ]] || fail "the socket is not mode 0660"
[[ $(nbdinfo --size "$uri") == $((64 << 20)) ]] || fail "the first client does not get 64 MiB"
systemctl is-active -q "memdisk@$name.service" || fail "the first client did not start the service"
pid=$(systemctl show -p MainPID --value "memdisk@$name.service")
uid=$(awk '$1 == "Uid:" { print $2 }' "/proc/$pid/status")
((uid != 0)) || fail "the server runs as root"
[[ $(stat -c %u /var/lib/memdisk/) == "$uid" ]] || fail "/var/lib/memdisk is not the server's user's"
say "ok: socket activation, 64 MiB, dynamic user $uid owns /var/lib/memdisk"
if [[ $MLOCK == true ]]; then
  locked=$(awk '$1 == "VmLck:" { print $2 }' "/proc/$pid/status")
  ((locked > 0)) || fail "mlock=true, but VmLck is 0"
  say "ok: mlock=true, VmLck $locked kB"
else
  say "note: mlock not checked (this machine cannot raise RLIMIT_MEMLOCK)"
fi

head -c $((3 << 20)) /dev/urandom >/root/data
nbdcopy /root/data "$uri" || fail "nbdcopy onto the disk"
# What memdisk-tool save asks for, the old way: SIGUSR1 saves in the
# background, inside the sandbox.
systemctl kill -s USR1 "memdisk@$name.service" || fail "systemctl kill -s USR1"
for _ in $(seq 100); do [[ -s $snap ]] && break; sleep 0.1; done
[[ -s $snap ]] || fail "SIGUSR1 did not save $snap"
say "ok: SIGUSR1 (systemctl kill -s USR1) saved while serving"
if memdisk-tool help save >/dev/null 2>&1; then
  systemctl reload "memdisk@$name.service" || fail "systemctl reload failed"
  [[ -s $snap ]] || fail "systemctl reload did not save"
  say "ok: reload saved"
else
  systemctl reload "memdisk@$name.service" 2>/dev/null && fail "reload succeeded without memdisk-tool save"
  systemctl is-active -q "memdisk@$name.service" || fail "a failed reload stopped the server"
  say "ok: reload fails while memdisk-tool has no save command (and the server keeps serving)"
fi
before=$(digest 2>/dev/null)
head -c 4096 /dev/urandom >/root/data2
nbdcopy /root/data2 "$uri" || fail "the second write"
systemctl stop "memdisk@$name.service" || fail "systemctl stop"
[[ -s $snap ]] || fail "systemctl stop did not save"
after=$(digest)
[[ -n $after && $after != "$before" ]] || fail "the stop save does not hold the last write"
[[ $(stat -c '%u %a' "$snap") == "$uid 600" ]] || fail "$snap is $(stat -c '%u %a' "$snap"), not $uid 600"
systemctl is-active -q "memdisk@$name.socket" || fail "the socket went away with the service"
say "ok: stop saved $snap (mode 0600, user $uid), the socket stays"

[[ $(nbdinfo --size "$uri") == $((64 << 20)) ]] || fail "the restarted server does not serve 64 MiB"
nbdcopy "$uri" /root/back || fail "nbdcopy from the restarted server"
cmp -n 4096 /root/back /root/data2 || fail "the restarted server does not serve the last write"
cmp -i 4096:4096 -n $(((3 << 20) - 4096)) /root/back /root/data || fail "the restarted server does not serve the saved disk"
systemctl stop "memdisk@$name.service"
say "ok: the next client started the server with the saved disk"
say "$(systemd-analyze security "memdisk@$name.service" --no-pager | tail -n 1)"
echo ok >/root/unit-checks.result
