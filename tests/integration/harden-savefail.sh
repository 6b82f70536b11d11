#!/usr/bin/env bash
# Every step of a save fails in turn, through tests/faultinject (an
# LD_PRELOAD shim in nbdkit): creating the temporary, copying the mode,
# each write (EIO, and ENOSPC for the first), fsync, close, rename, and the
# folder's open, fsync and close after the rename.  Each write is also made
# short once, which is not an error.
#
# A step that fails before the rename must leave the old file byte for byte
# and no temporary, and log an error that names the file and the cause.
# One after the rename leaves the new file, complete.  Either way the
# server keeps serving the disk, and the next SIGUSR1 saves it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh nbdcopy cmp
[[ -f ${MEMDISK_FAULTINJECT:-} ]] || fail "MEMDISK_FAULTINJECT is not set (run the tests with ctest)"

# The shim fails calls only on paths under this folder.
dir=$MD_TMP/snapdir
mkdir "$dir"
snap=$dir/disk.zst
size=$((8 * 1024 * 1024))
persist_make_image "$MD_TMP/gen1.img" "$size"
persist_make_image "$MD_TMP/gen2.img" "$size"

# server_with_fault NAME FAULT: a server of snapshot=$snap under the shim,
# failing FAULT (MEMDISK_FAULT syntax; empty: none, trace every call).
server_with_fault ()
{
  local name=$1 fault=$2
  rm -f "$MD_TMP/$name.faults"
  LD_PRELOAD=$MEMDISK_FAULTINJECT MEMDISK_FAULT_PROGRAM=nbdkit \
  MEMDISK_FAULT=$fault MEMDISK_FAULT_PATH="$dir*" \
  MEMDISK_FAULT_LOG=$MD_TMP/$name.faults MEMDISK_FAULT_TRACE=$([[ -z $fault ]] && echo 1) \
    memdisk_start "$name" -v snapshot="$snap" snapshot-threads=2
}

# save NAME: SIGUSR1, and wait until the save ends, well or not (the
# server counts its saves: memdisk-tool status).
save ()
{
  persist_signal_save "$1" "$snap"
}

expect_disk_saved ()
{
  persist_verify "$snap"
  persist_snapshot_image "$snap" "$MD_TMP/saved.img"
  cmp -s -- "$MD_TMP/gen2.img" "$MD_TMP/saved.img" || fail "$1: $snap does not hold the disk"
}

# --- the old file: generation 1 ---
memdisk_start setup "$size" snapshot="$snap"
nbdcopy -- "$MD_TMP/gen1.img" "$(nbdkit_uri setup)" || fail "nbdcopy into the disk failed"
nbdkit_stop setup
persist_verify "$snap"
cp -p -- "$snap" "$MD_TMP/old.zst"

# --- the steps of a save: a traced run ---
server_with_fault trace ""
nbdcopy -- "$MD_TMP/gen2.img" "$(nbdkit_uri trace)" || fail "nbdcopy into the disk failed"
echo "--- save" >>"$MD_TMP/trace.faults"
save trace
nbdkit_stop trace
expect_disk_saved "a save under the shim, with no fault"
# The writer lock file (.disk.zst.lock) is no step of a save, nor is the
# close at exit of the file the disk was lazily loaded from (replaced by
# the save, so "(deleted)").
mapfile -t steps < <(sed -n '/^--- save$/,$ s/^faultinject: \([a-z]*\) #\([0-9]*\) \(.*\)$/\1:\2 \3/p' \
                     "$MD_TMP/trace.faults" | grep -v -e '\.lock\( (deleted)\)\?$' \
                     -e "^close:[0-9]* $snap (deleted)\$")
((${#steps[@]} >= 8)) || fail "the traced save made only ${#steps[@]} file calls: ${steps[*]} (trace: $(cat "$MD_TMP/trace.faults"))"
printf 'steps of a save: %s\n' "${steps[*]%% *}"

failed_steps=0 i=0
for step in "${steps[@]}"; do
  call=${step%%:*} n=${step%% *} n=${n#*:} path=${step#* }
  faults=(EIO)
  [[ $call == write ]] && faults+=(short)
  [[ $call == write && $n == "$(sed -n '/^--- save$/,$ s/^faultinject: write #\([0-9]*\) .*/\1/p' \
                                  "$MD_TMP/trace.faults" | head -1)" ]] && faults+=(ENOSPC)
  for how in "${faults[@]}"; do
    what="$call #$n ($how) on ${path#"$MD_TMP/"}"
    # A server of its own per case: its log holds this case alone.
    i=$((i + 1)) disk=disk$i
    cp -p -- "$MD_TMP/old.zst" "$snap"
    server_with_fault "$disk" "$call:$n:$how"
    nbdcopy -- "$MD_TMP/gen2.img" "$(nbdkit_uri "$disk")" || fail "$what: nbdcopy into the disk failed"
    save "$disk"
    grep -q ": failed with $how$\|: short write$" "$MD_TMP/$disk.faults" 2>/dev/null ||
      fail "$what: the shim did not fail the call (log: $(cat "$MD_TMP/$disk.faults" 2>/dev/null))"
    log=$(nbdkit_log "$disk")

    if [[ $how == short || ($call == close && $path == "$dir") ]]; then
      # Not an error: a short write is continued; a folder's close after
      # its fsync cannot lose anything.
      grep -q ': debug: saved ' "$log" || fail "$what: the save failed: $(grep error "$log")"
      expect_disk_saved "$what"
    elif [[ $path == "$dir" ]]; then
      # After the rename: the new file is in place and complete; only the
      # rename's durability is in doubt, and the error must say that the
      # folder could not be synced, and that the new file is in place.
      grep -q "error: saving $snap (SIGUSR1) failed, the new file is in place but may not survive a crash: cannot fsync the folder $dir: Input/output error" "$log" ||
        fail "$what: the error does not say the folder could not be synced: $(grep error "$log")"
      expect_disk_saved "$what"
      failed_steps=$((failed_steps + 1))
    else
      error=$(grep "error: saving $snap (SIGUSR1) failed, the file is untouched: " "$log") ||
        fail "$what: no error naming $snap: $(grep -i 'error\|saved' "$log")"
      case $how in
        EIO) reason="Input/output error" ;;
        ENOSPC) reason="No space left on device" ;;
      esac
      [[ $error == *"$reason"* ]] || fail "$what: the error does not say '$reason': $error"
      cmp -s -- "$MD_TMP/old.zst" "$snap" || fail "$what: the old file was changed"
      [[ -z $(persist_temporaries "$snap") ]] ||
        fail "$what: a temporary was left: $(persist_temporaries "$snap")"
      failed_steps=$((failed_steps + 1))
    fi

    # The server still serves the disk, and the next trigger saves it.
    nbdkit_running "$disk" || fail "$what: the server stopped"
    persist_disk_image "$disk" "$MD_TMP/readback.img"
    cmp -s -- "$MD_TMP/gen2.img" "$MD_TMP/readback.img" || fail "$what: the server's disk changed"
    saves=$(persist_saves "$disk")
    save "$disk"
    (($(persist_saves "$disk") == saves + 1)) || fail "$what: the next SIGUSR1 did not save"
    expect_disk_saved "$what, then SIGUSR1 again"
    nbdkit_stop "$disk"
    echo "ok: $what"
  done
done
((failed_steps >= 7)) || fail "only $failed_steps steps made a save fail"
echo "ok: every step of a save failed in turn; the old file survived each failure before the rename"
