#!/usr/bin/env bash
# SIGUSR1 while several clients write: the saved snapshot must be the disk
# at one instant (point_in_time.py explains the proof), and the checker
# must reject a naive live copy taken the same way `nbdcopy | zstd` would.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands nbdkit nbdcopy

here=$(dirname "$0")
snap=$MD_TMP/disk.zst
pit() { /usr/bin/python3 "$here/point_in_time.py" "$@"; }

memdisk_start disk 16M snapshot="$snap"
pit record --uri "$(nbdkit_uri disk)" --pid "$(nbdkit_pid disk)" \
    --snapshot "$snap" --log "$MD_TMP/log.json" --naive "$MD_TMP/naive.img"

memdisk_start restored snapshot="$snap" snapshot-readonly=true
nbdcopy "$(nbdkit_uri restored)" "$MD_TMP/restored.img"
pit check --snapshot-times --log "$MD_TMP/log.json" --image "$MD_TMP/restored.img" ||
  fail "the snapshot saved on SIGUSR1 is not one instant of the disk"

if pit check --log "$MD_TMP/log.json" --image "$MD_TMP/naive.img"; then
  fail "the checker accepted a naive live copy: it cannot tell a torn snapshot"
fi
echo "ok: snapshot is point-in-time; naive live copy rejected"
