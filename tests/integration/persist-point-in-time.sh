#!/usr/bin/env bash
# SIGUSR1 while several clients write: the saved snapshot must be the disk
# at one instant (point_in_time.py explains the proof), and the checker
# must reject a naive live copy taken the same way `nbdcopy | zstd` would.
# Then the same on a disk loaded lazily from that snapshot.  Each save
# stands still at its rename (tests/faultinject's "hold") until the
# clients have written on, so that writes after its instant and before the
# file is in place exist, and the checker requires some of them missing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands nbdkit nbdcopy

here=$(dirname "$0")
snap=$MD_TMP/disk.zst
pit() { /usr/bin/python3 "$here/point_in_time.py" "$@"; }
[[ -f ${MEMDISK_FAULTINJECT:-} ]] || fail "MEMDISK_FAULTINJECT is not set (run the tests with ctest)"

# held_start NAME ARG...: memdisk_start NAME ARG... with its first save
# held at its rename until $MD_TMP/NAME.release exists ($MD_TMP/NAME.faults
# says "held" when it stands there).
held_start ()
{
  local name=$1
  shift
  LD_PRELOAD=$MEMDISK_FAULTINJECT MEMDISK_FAULT_PROGRAM=nbdkit \
  MEMDISK_FAULT=rename:1:hold MEMDISK_FAULT_PATH="$MD_TMP/*" \
  MEMDISK_FAULT_RELEASE=$MD_TMP/$name.release MEMDISK_FAULT_LOG=$MD_TMP/$name.faults \
    memdisk_start "$name" "$@"
}
# pit_record NAME ARG...: record on the held server NAME.
pit_record ()
{
  local name=$1
  shift
  pit record --uri "$(nbdkit_uri "$name")" --pid "$(nbdkit_pid "$name")" \
      --held "$MD_TMP/$name.faults" --release "$MD_TMP/$name.release" "$@"
}

held_start disk 16M snapshot="$snap"
pit_record disk \
    --snapshot "$snap" --log "$MD_TMP/log.json" --naive "$MD_TMP/naive.img"

memdisk_start restored snapshot="$snap" snapshot-readonly=true
nbdcopy "$(nbdkit_uri restored)" "$MD_TMP/restored.img"
pit check --snapshot-times --log "$MD_TMP/log.json" --image "$MD_TMP/restored.img" ||
  fail "the snapshot saved on SIGUSR1 is not one instant of the disk"

if pit check --log "$MD_TMP/log.json" --image "$MD_TMP/naive.img"; then
  fail "the checker accepted a naive live copy: it cannot tell a torn snapshot"
fi
nbdkit_stop restored

# Again during an incremental save: the server loads that snapshot (the
# previous file of its first save), eagerly, then lazily with no
# background loader (the copied frames are still in the file as the save
# copies them); the clients write the first 8 MiB (regions 0 and 1
# change: compressed), the last 8 MiB stay as loaded (regions 2 and 3:
# their frames copied).
nbdkit_stop disk       # its exit save holds the writes after the SIGUSR1
"$MEMDISK_TOOL" convert -O raw "$snap" "$MD_TMP/loaded.img" || fail "convert of $snap failed"
for load in eager lazy; do
  file=$MD_TMP/incr-$load.zst
  cp -- "$snap" "$file"
  held_start "incr-$load" -v snapshot="$file" snapshot-load=$load snapshot-load-threads=0
  pit_record "incr-$load" --blocks 2048 --seed 2 \
      --snapshot "$file" --log "$MD_TMP/log2-$load.json" --naive "$MD_TMP/naive2.img"
  grep -qE "debug: saved $file \(SIGUSR1\) in .*, (0 regions cloned, 2 copied|2 regions cloned, 0 copied), 2 compressed( \(the file system cannot clone: [^)]*\))?$" "$(nbdkit_log "incr-$load")" ||
    fail "the save after the $load load was not incremental: $(grep 'saved' "$(nbdkit_log "incr-$load")")"
  memdisk_start "restored2-$load" snapshot="$file" snapshot-readonly=true
  nbdcopy "$(nbdkit_uri "restored2-$load")" "$MD_TMP/restored2.img"
  pit check --snapshot-times --log "$MD_TMP/log2-$load.json" --image "$MD_TMP/restored2.img" ||
    fail "the incremental save on SIGUSR1 after the $load load is not one instant of the disk"
  cmp -i $((8 << 20)) -- "$MD_TMP/loaded.img" "$MD_TMP/restored2.img" ||
    fail "the copied regions do not hold what the previous file held ($load load)"
  nbdkit_stop "restored2-$load"
done

# Again on a disk loaded lazily from that snapshot with no background
# loader: the clients' first writes (4 KiB into 32 KiB pages) fault the
# frames in concurrently, and the save meets whatever is still in the file.
cp -- "$snap" "$MD_TMP/lazy.zst"
held_start lazy snapshot="$MD_TMP/lazy.zst" snapshot-load=lazy snapshot-load-threads=0
# The recorder waits for the file to appear; the server reads frames from
# the descriptor it holds, so the name may go.
rm -- "$MD_TMP/lazy.zst"
pit_record lazy \
    --snapshot "$MD_TMP/lazy.zst" --log "$MD_TMP/log3.json" --naive "$MD_TMP/naive3.img"
memdisk_start restored3 snapshot="$MD_TMP/lazy.zst" snapshot-readonly=true
nbdcopy "$(nbdkit_uri restored3)" "$MD_TMP/restored3.img"
pit check --snapshot-times --log "$MD_TMP/log3.json" --image "$MD_TMP/restored3.img" ||
  fail "the snapshot of a lazily loaded disk saved on SIGUSR1 is not one instant of the disk"
echo "ok: snapshot is point-in-time; naive live copy rejected; so are an incremental one and one of a lazily loaded disk"
