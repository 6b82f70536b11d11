#!/usr/bin/env bash
# Install the built .debs into a fresh Debian 12 and check them there, as
# a user who installs them would:
#
#   tests/packaging/check-in-debootstrap.sh [DEB-DIR]
#
# DEB-DIR holds nbdkit-plugin-memdisk_*.deb and memdisk-tool_*.deb; without
# it they are built first (build-debs.sh, nocheck).  Needs root, the
# network (a Debian mirror: MEMDISK_MIRROR, default deb.debian.org) and
# debootstrap (apt-get install debootstrap).  Makes a `debootstrap
# --variant=minbase bookworm` root in a temporary folder (MEMDISK_KEEP_ROOT=1
# keeps it; MEMDISK_ROOT=DIR uses a kept one instead of a new one), installs the .debs in it with `apt-get install ./*.deb` so
# that their Depends come from the archive, plus libnbd-bin (nbdinfo,
# nbdcopy), man-db, bash-completion and systemd (systemd-socket-activate,
# systemd-analyze), and checks there:
#   - nbdkit -U - memdisk 1G --run 'nbdinfo --size "$uri"' (the plugin in
#     nbdkit's plugindir, found by its name), also with mlock=true;
#   - memdisk-tool --version, man memdisk-tool, man nbdkit-memdisk-plugin;
#   - bash completion loads through bash-completion's loader;
#   - systemd-analyze verify on the installed units;
#   - a socket-activated server (systemd-socket-activate -l SOCKET nbdkit
#     memdisk ..., as memdisk@.socket runs it) serves, saves at SIGTERM,
#     and serves the saved disk at the next start;
#   - with systemd-nspawn (package systemd-container), the units under a
#     real systemd booted in the root (unit-checks.sh says what).
# Not run by ctest or CI: it downloads a root (1 to 2.5 minutes, most of it
# downloading; tests/README.md).
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mirror=${MEMDISK_MIRROR:-http://deb.debian.org/debian}
start=$SECONDS

((EUID == 0)) || { echo "$0: needs root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "$0: apt-get install debootstrap" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/memdisk-debootstrap.XXXXXX")
root=${MEMDISK_ROOT:-$work/root}
cleanup ()
{
  local status=$?
  for m in "$root/proc" "$root/dev"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m"
  done
  if [[ ${MEMDISK_KEEP_ROOT:-} == 1 && -z ${MEMDISK_ROOT:-} ]]; then
    mv "$root" "$work.root" && echo "the root is kept in $work.root"
  fi
  rm -rf --one-file-system "$work"
  exit "$status"
}
trap cleanup EXIT

debs=${1:-}
if [[ -z $debs ]]; then
  debs=$work/debs
  bash "$here/build-debs.sh" "$debs"
fi
plugin_deb=$(ls "$debs"/nbdkit-plugin-memdisk_*.deb)
tool_deb=$(ls "$debs"/memdisk-tool_*.deb)

step () { printf '=== %s (%d s)\n' "$*" $((SECONDS - start)); }

if [[ -n ${MEMDISK_ROOT:-} ]]; then
  step "reusing the root $root"
  [[ -x $root/bin/bash ]] || { echo "FAIL: MEMDISK_ROOT=$root is not a root" >&2; exit 1; }
else
  step "debootstrap --variant=minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; echo "FAIL: debootstrap" >&2; exit 1; }
fi
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
rm -rf "$root/debs" "$root/var/lib/memdisk" "$root/var/lib/private/memdisk" "$root/srv/memdisk-check"
mkdir "$root/debs"
cp "$plugin_deb" "$tool_deb" "$root/debs/"

step "apt-get install ./*.deb libnbd-bin man-db bash-completion systemd"
chroot "$root" /bin/bash -c '
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q &&
  apt-get install -q -y --no-install-recommends --reinstall /debs/*.deb libnbd-bin man-db bash-completion systemd
' >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; echo "FAIL: apt-get install" >&2; exit 1; }

step "checks inside the root"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root /bin/bash -euo pipefail -c '
fail () { echo "FAIL: $*" >&2; exit 1; }

size=$(nbdkit -U - memdisk 1G --run "nbdinfo --size \"\$uri\"") || fail "nbdkit memdisk 1G does not start"
[[ $size == 1073741824 ]] || fail "nbdkit memdisk 1G serves $size bytes"
nbdkit -U - memdisk 1G mlock=true --run "nbdinfo --size \"\$uri\"" >/dev/null || fail "mlock=true does not start"
echo "ok: nbdkit memdisk 1G serves $size bytes (and with mlock=true)"

version=$(memdisk-tool --version) || fail "memdisk-tool --version"
[[ $version == "memdisk-tool "[0-9]* ]] || fail "memdisk-tool --version says $version"
echo "ok: $version"

for page in memdisk-tool nbdkit-memdisk-plugin; do
  man -P cat "$page" 2>/dev/null | grep -q "^ *$page - " || fail "man $page does not show the page"
done
echo "ok: man memdisk-tool, man nbdkit-memdisk-plugin"

# _completion_loader returns 124 ("try again") once it loaded one.
bash -c "source /usr/share/bash-completion/bash_completion;
         _completion_loader memdisk-tool; complete -p memdisk-tool" | grep -q _memdisk_tool ||
  fail "bash-completion does not load memdisk-tool'"'"'s completion"
echo "ok: bash completion loads"

out=$(systemd-analyze verify --man=no /lib/systemd/system/memdisk@.service /lib/systemd/system/memdisk@.socket 2>&1) ||
  fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify: $out"
echo "ok: systemd-analyze verify on the installed units"

# Socket activation, as memdisk@.socket does it: nbdkit gets the socket
# in LISTEN_FDS (and so stays in the foreground).
# Not /var/lib/memdisk: with DynamicUser=yes the unit wants that to be
# its own (a symlink into /var/lib/private), and the next step boots it.
mkdir -p /srv/memdisk-check /run/memdisk
sock=/run/memdisk/check.sock uri="nbd+unix:///?socket=/run/memdisk/check.sock"
snap=/srv/memdisk-check/check.snap
activate ()
{
  rm -f "$sock"
  systemd-socket-activate -l "$sock" nbdkit --log=stderr memdisk "$@" snapshot="$snap" \
    2>>/tmp/activate.log &
  pid=$!
  for _ in $(seq 100); do [[ -S $sock ]] && return 0; sleep 0.1; done
  fail "systemd-socket-activate did not create $sock"
}
stop ()
{
  kill -TERM "$pid"
  wait "$pid" || fail "nbdkit exited with status $? at SIGTERM: $(cat /tmp/activate.log)"
}
head -c $((3 << 20)) /dev/urandom >/tmp/data
activate 64M
[[ $(nbdinfo --size "$uri") == $((64 << 20)) ]] || fail "the socket-activated server does not serve 64 MiB"
nbdcopy /tmp/data "$uri" || fail "nbdcopy onto the socket-activated server"
stop
[[ -s $snap ]] || fail "no snapshot after SIGTERM: $(cat /tmp/activate.log)"
memdisk-tool verify "$snap" || fail "memdisk-tool verify $snap"
activate
[[ $(nbdinfo --size "$uri") == $((64 << 20)) ]] || fail "the restarted server does not take the snapshot'"'"'s size"
nbdcopy "$uri" /tmp/back || fail "nbdcopy from the restarted server"
cmp -n $((3 << 20)) /tmp/back /tmp/data || fail "the restarted server does not serve the saved disk"
stop
echo "ok: socket activation serves, saves at SIGTERM, loads at the next start"
'
# The units under a real systemd: boot the root with systemd-nspawn and
# let a one-shot unit run the checks (systemd/unit-checks.sh).
if ! command -v systemd-nspawn >/dev/null; then
  step "skipped: the units under systemd (apt-get install systemd-container)"
else
  step "the units under systemd (systemd-nspawn)"
  # LimitMEMLOCK=infinity needs CAP_SYS_RESOURCE, which some containers
  # lack; mlock=true then fails at start (as it should: a clear message
  # in the journal).  Check mlock only where the limit can be raised.
  mlock=true
  prlimit --memlock=unlimited:unlimited true 2>/dev/null || mlock=false
  cp "$here/unit-checks.sh" "$root/root/unit-checks.sh"
  rm -f "$root/root/unit-checks.result"
  cat >"$root/etc/systemd/system/memdisk-unit-checks.service" <<UNIT
[Unit]
Description=memdisk's unit checks
After=multi-user.target
[Service]
Type=oneshot
Environment=MLOCK=$mlock
ExecStart=/bin/bash /root/unit-checks.sh
StandardOutput=journal+console
ExecStopPost=/bin/systemctl --no-block poweroff
UNIT
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
  ln -sf ../memdisk-unit-checks.service "$root/etc/systemd/system/multi-user.target.wants/"
  for m in "$root/proc" "$root/dev"; do umount -l "$m"; done
  timeout 300 systemd-nspawn -q --register=no --keep-unit -D "$root" /lib/systemd/systemd \
    >"$work/nspawn.log" 2>&1 || true
  rm -f "$root/etc/systemd/system/multi-user.target.wants/memdisk-unit-checks.service"
  sed -n 's/.*unit-checks: //p' "$work/nspawn.log"
  [[ $(cat "$root/root/unit-checks.result" 2>/dev/null) == ok ]] ||
    { tail -n 40 "$work/nspawn.log" >&2; echo "FAIL: the unit checks under systemd" >&2; exit 1; }
fi
step "all checks passed"
