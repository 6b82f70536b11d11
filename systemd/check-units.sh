#!/usr/bin/env bash
# The systemd/verify test (see systemd/CMakeLists.txt):
#
#   check-units.sh UNIT-DIR
#
# Runs `systemd-analyze verify` on the configured memdisk@.service and
# memdisk@.socket in UNIT-DIR (it instantiates the templates), and fails
# on any message, warnings included ("Unknown key" is only a warning).
# verify checks that the programs of Exec*= exist: before `cmake
# --install`, memdisk-tool is not at its installed path, so a copy of the
# units names the built one (MEMDISK_TOOL) instead.  --man=no: the man
# pages of Documentation= need not be installed.  Exit 77 (skip) without
# systemd-analyze.
set -euo pipefail
export PATH=/usr/bin:/bin:$PATH

(($# == 1)) || { echo "usage: $0 UNIT-DIR" >&2; exit 2; }
unit_dir=$1
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed (apt-get install systemd)"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memdisk-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

for unit in memdisk@.service memdisk@.socket; do
  [[ -s $unit_dir/$unit ]] || { echo "FAIL: $unit_dir/$unit is missing (configure first)" >&2; exit 1; }
  installed_tool=$(sed -n 's|^ExecReload=\([^ ]*memdisk-tool\) .*|\1|p' "$unit_dir/$unit")
  if [[ -n $installed_tool && ! -x $installed_tool ]]; then
    [[ -x ${MEMDISK_TOOL:-} ]] || { echo "FAIL: $installed_tool is not installed and MEMDISK_TOOL is not set" >&2; exit 1; }
    sed "s|$installed_tool|$MEMDISK_TOOL|g" "$unit_dir/$unit" >"$tmp/$unit"
  else
    cp "$unit_dir/$unit" "$tmp/$unit"
  fi
done

status=0
(cd "$tmp" && systemd-analyze verify --man=no memdisk@.service memdisk@.socket) >"$tmp/out" 2>&1 || status=$?
if ((status != 0)) || [[ -s $tmp/out ]]; then
  echo "FAIL: systemd-analyze verify (exit $status):" >&2
  cat "$tmp/out" >&2
  exit 1
fi
echo "systemd units OK: memdisk@.service memdisk@.socket"
