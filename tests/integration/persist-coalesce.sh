#!/usr/bin/env bash
# SIGUSR1 sent many times while a save runs: the signals coalesce into one
# more save after it (two in all, not one per signal: a save request
# afterwards is the third), the server keeps serving, and exit then has
# nothing left to save.  And SIGTERM during a
# save: exit waits for it and saves the writes made meanwhile.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"

snap=$MD_TMP/disk.zst
size=$((16 * 1024 * 1024))
signals=20

[[ -f ${MEMDISK_FAULTINJECT:-} ]] || fail "MEMDISK_FAULTINJECT is not set (run the tests with ctest)"
head -c "$size" /dev/urandom >"$MD_TMP/disk.img"
# The first save stands still at its rename (tests/faultinject's "hold")
# until the burst of signals is over: they all come during it, however
# fast or slow the machine.
LD_PRELOAD=$MEMDISK_FAULTINJECT MEMDISK_FAULT_PROGRAM=nbdkit \
MEMDISK_FAULT=rename:1:hold MEMDISK_FAULT_PATH="$MD_TMP/*" \
MEMDISK_FAULT_RELEASE=$MD_TMP/release MEMDISK_FAULT_LOG=$MD_TMP/faults \
  memdisk_start disk -v "$size" snapshot="$snap"
nbdcopy -- "$MD_TMP/disk.img" "$(nbdkit_uri disk)" || fail "nbdcopy into the disk failed"
pid=$(nbdkit_pid disk)

first_save_held () { grep -q ': held$' "$MD_TMP/faults" 2>/dev/null; }

# Whether a SIGUSR1 sent to nbdkit is still pending (ShdPnd, bit 10-1).
# Signals of one kind that are pending together merge in the kernel; the
# burst waits for each to be delivered, so that the plugin sees them all.
usr1_pending ()
{
  local line=
  while read -r line; do
    [[ $line != ShdPnd:* ]] || break
  done <"/proc/$pid/status"
  [[ $line == ShdPnd:* ]] || fail "no ShdPnd in /proc/$pid/status"
  ((16#${line##*[[:space:]]} & 0x200))
}

nbdkit_signal disk USR1
wait_until 60 "the first save to reach its rename" first_save_held
for ((i = 0; i < signals; i++)); do
  kill -USR1 "$pid" || fail "could not send SIGUSR1 to nbdkit"
  for ((n = 0; n < 1000; n++)); do
    usr1_pending || continue 2
    sleep 0.001
  done
  fail "SIGUSR1 number $((i + 1)) was not delivered within a few seconds"
done
(($(persist_saves disk) == 0)) || fail "the first save ended while its rename was held"
touch "$MD_TMP/release"

# Counted from the start: two saves, the first and the coalesced one.
persist_wait_status "$snap" 'j["saves"] >= 2' 60
# A third save for the burst would start at once, from the saver's loop.
# A save request is answered by a save that begins after it arrives, and
# saves run one at a time: once it is answered, every save the burst
# caused has ended and is logged.  The log must then hold the two
# SIGUSR1 saves and the request's, in that order.
persist_save "$snap"
triggers=$(grep -o ': debug: saved [^ ]* ([A-Za-z0-9]*)' "$(nbdkit_log disk)" | grep -o '([A-Za-z0-9]*)$' | tr -d '()' | tr '\n' ' ')
[[ $triggers == "SIGUSR1 SIGUSR1 request " ]] ||
  fail "$signals signals during one save, then a save request, led to the saves: $triggers(expected SIGUSR1 SIGUSR1 request)"

nbdkit_running disk || fail "the server died under a burst of SIGUSR1"
persist_disk_image disk "$MD_TMP/readback.img"
cmp -- "$MD_TMP/disk.img" "$MD_TMP/readback.img" || fail "the disk changed under a burst of SIGUSR1"

nbdkit_stop disk
(($(persist_saves disk) == 3)) || fail "exit saved a disk that did not change since the last save"
persist_verify "$snap"
persist_snapshot_image "$snap" "$MD_TMP/saved.img"
cmp -- "$MD_TMP/disk.img" "$MD_TMP/saved.img" || fail "$snap does not hold the disk"

# SIGTERM during a save: exit waits for it, then saves what was written
# while it ran (acknowledged before SIGTERM, so it must be in the file).
rm -f "$MD_TMP/release" "$MD_TMP/faults"
LD_PRELOAD=$MEMDISK_FAULTINJECT MEMDISK_FAULT_PROGRAM=nbdkit \
MEMDISK_FAULT=rename:1:hold MEMDISK_FAULT_PATH="$MD_TMP/*" \
MEMDISK_FAULT_RELEASE=$MD_TMP/release MEMDISK_FAULT_LOG=$MD_TMP/faults \
  memdisk_start disk -v snapshot="$snap"
before=$(persist_saves disk)
head -c 65536 /dev/urandom >"$MD_TMP/patch"
dd if="$MD_TMP/patch" of="$MD_TMP/disk.img" bs=65536 seek=40 conv=notrunc status=none
nbdsh -u "$(nbdkit_uri disk)" -c "h.pwrite(open('$MD_TMP/patch', 'rb').read(), 40 * 65536)" ||
  fail "nbdsh pwrite failed"
nbdkit_signal disk USR1
wait_until 60 "the SIGUSR1 save to reach its rename" first_save_held
# Written during the save (after its instant): not in it, so exit must save it.
head -c 65536 /dev/urandom >"$MD_TMP/patch"
dd if="$MD_TMP/patch" of="$MD_TMP/disk.img" bs=65536 seek=80 conv=notrunc status=none
nbdsh -u "$(nbdkit_uri disk)" -c "h.pwrite(open('$MD_TMP/patch', 'rb').read(), 80 * 65536)" ||
  fail "nbdsh pwrite failed"
(($(persist_saves disk) == before)) || fail "the SIGUSR1 save ended while its rename was held"
nbdkit_signal disk TERM
touch "$MD_TMP/release"
nbdkit_wait_exit disk
(($(persist_saves disk) == before + 2)) ||
  fail "a write during a SIGUSR1 save, then SIGTERM: $(($(persist_saves disk) - before)) saves, expected 2"
grep -q "saved $snap (exit)" "$(nbdkit_log disk)" || fail "no exit save after a write during a save"
persist_verify "$snap"
persist_snapshot_image "$snap" "$MD_TMP/saved.img"
cmp -- "$MD_TMP/disk.img" "$MD_TMP/saved.img" ||
  fail "a write acknowledged during a save, before SIGTERM, is not in the file"

echo "ok: $signals signals during a save led to one more save; SIGTERM during a save saves again"
