#!/usr/bin/env bash
# Every step of an incremental save fails in turn, and kill -9 lands on
# each read, write, fsync and rename in turn, through tests/faultinject
# (an LD_PRELOAD shim in nbdkit).  The steps: the reads of the copied
# frames from the previous file, each write of the temporary, its fsync,
# close and rename, the folder's open, fsync and close after the rename,
# and the first read that opens the new file as the next previous file.  The server loads the old file
# (lazily with no background loader: the copied frames are still in the
# file; then eagerly), one client write changes region 0 of 3, and a
# SIGUSR1 saves: region 0 compressed, regions 1 and 2 copied.
#
# A failed read of the previous file must give a full save (its log line
# says why) that holds the disk.  Any other failure before the rename, and
# a kill -9 at any step before it, must leave the old file byte for byte
# (and verifying); a failure leaves no temporary, a kill's temporary is
# removed at the next start.  A failure or kill after the rename leaves
# the new file, complete (a failed read there only makes the next save
# full).  After a failure the server keeps serving, and
# the next SIGUSR1 saves.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh cmp
[[ -f ${MEMDISK_FAULTINJECT:-} ]] || fail "MEMDISK_FAULTINJECT is not set (run the tests with ctest)"

# The shim counts and fails calls only on paths under this folder.
dir=$MD_TMP/snapdir
mkdir "$dir"
snap=$dir/disk.zst
size=$((12 * 1024 * 1024))      # 3 regions of 4 MiB
# 256 KiB of random bytes at the start of each region, holes between:
# small frames, so that the save has few steps.
truncate -s "$size" "$MD_TMP/gen1.img"
for region in 0 1 2; do
  dd if=/dev/urandom of="$MD_TMP/gen1.img" bs=65536 count=4 seek=$((region * 64)) \
     conv=notrunc status=none iflag=fullblock
done
# Generation 2: 100 new bytes at byte 10, in region 0, in its first page,
# which holds data (persist_make_image starts with data): the write loads
# frame 0 of a lazily loaded file, so the save reads from the previous
# file only the frames it copies.
cp -- "$MD_TMP/gen1.img" "$MD_TMP/gen2.img"
head -c 100 /dev/urandom >"$MD_TMP/new.bin"
dd if="$MD_TMP/new.bin" of="$MD_TMP/gen2.img" bs=1 seek=10 conv=notrunc status=none

# --- the old file: generation 1 ---
memdisk_start setup "$size" snapshot="$snap"
nbdcopy -- "$MD_TMP/gen1.img" "$(nbdkit_uri setup)" || fail "nbdcopy into the disk failed"
nbdkit_stop setup
persist_verify "$snap"
cp -p -- "$snap" "$MD_TMP/old.zst"

# server_with_fault NAME LOAD FAULT: a server of snapshot=$snap under the
# shim, loading it LOAD-ly, failing FAULT (MEMDISK_FAULT syntax; empty:
# none, trace every call, reads too).
server_with_fault ()
{
  local name=$1 load=$2 fault=$3
  rm -f "$MD_TMP/$name.faults"
  LD_PRELOAD=$MEMDISK_FAULTINJECT MEMDISK_FAULT_PROGRAM=nbdkit \
  MEMDISK_FAULT=$fault MEMDISK_FAULT_PATH="$dir*" \
  MEMDISK_FAULT_LOG=$MD_TMP/$name.faults MEMDISK_FAULT_TRACE=$([[ -z $fault ]] && echo all) \
    memdisk_start "$name" -v snapshot="$snap" snapshot-threads=2 \
      snapshot-load="$load" snapshot-load-threads=0
}

# change NAME: generation 2's new bytes, by one client write.
change ()
{
  nbdsh -u "$(nbdkit_uri "$1")" -c "h.pwrite(open('$MD_TMP/new.bin', 'rb').read(), 10)" ||
    fail "the client write failed"
}

expect_disk_saved ()
{
  persist_verify "$snap"
  persist_snapshot_image "$snap" "$MD_TMP/saved.img"
  cmp -s -- "$MD_TMP/gen2.img" "$MD_TMP/saved.img" || fail "$1: $snap does not hold the disk"
}

expect_old_file ()
{
  cmp -s -- "$MD_TMP/old.zst" "$snap" || fail "$1: the old file was changed"
  persist_verify "$snap"
}

for load in lazy eager; do
  # --- the steps of an incremental save: a traced run ---
  server_with_fault "trace-$load" "$load" ""
  change "trace-$load"
  echo "--- save" >>"$MD_TMP/trace-$load.faults"
  persist_signal_save "trace-$load" "$snap"
  grep -qE "debug: saved $snap \(SIGUSR1\) in .*, (0 regions cloned, 2 copied|2 regions cloned, 0 copied), 1 compressed( \(the file system cannot clone: [^)]*\))?$" \
    "$(nbdkit_log "trace-$load")" ||
    fail "the traced save ($load load) was not incremental: $(grep 'saved\|error' "$(nbdkit_log "trace-$load")")"
  nbdkit_stop "trace-$load"
  expect_disk_saved "an incremental save under the shim, with no fault ($load load)"
  cp -p -- "$MD_TMP/old.zst" "$snap"
  # As in harden-savefail: the lock file, and the closes of the read-only
  # descriptors the server keeps of the snapshot, are no steps of a save.
  mapfile -t steps < <(sed -n '/^--- save$/,$ s/^faultinject: \([a-z]*\) #\([0-9]*\) \(.*\)$/\1:\2 \3/p' \
                       "$MD_TMP/trace-$load.faults" | grep -v '\.lock\( (deleted)\)\?$' |
                       grep -v "^close:[0-9]* ${snap//./\\.}\( (deleted)\)\?$")
  reads=$(printf '%s\n' "${steps[@]}" | grep -c "^pread:[0-9]* ${snap//./\\.}$" || true)
  ((reads >= 2)) || fail "the traced save ($load load) read no copied frames from the previous file: ${steps[*]}"
  printf 'steps of an incremental save (%s load): %s\n' "$load" "${steps[*]%% *}"
  # After an eager load, only the copied frames' reads (the other steps
  # are the same as after a lazy load), and of the reads that open the
  # new file after the rename, the first.
  mapfile -t steps < <(printf '%s\n' "${steps[@]}" |
                       awk -v eager=$([[ $load == eager ]] && echo 1 || echo 0) '
                         /^rename:/ { renamed = 1 }
                         eager && !(/^pread:/ && !renamed) { next }
                         /^pread:/ && renamed && reads_after++ { next }
                         { print }')

  i=0 after_rename=false
  for step in "${steps[@]}"; do
    call=${step%%:*} n=${step%% *} n=${n#*:} path=${step#* }
    # The steps after the rename: the folder's, and the reads that open
    # the new file as the next save's previous file.
    # kill -9 at the steps a copying save adds or repeats: the copied
    # frames' reads, the writes, the fsyncs and the rename.
    hows=(EIO)
    case $call in pread | write | fsync | rename) hows+=(kill) ;; esac
    for how in "${hows[@]}"; do
      what="$call #$n ($how) on ${path#"$MD_TMP/"}, $load load"
      i=$((i + 1)) disk=$load$i
      cp -p -- "$MD_TMP/old.zst" "$snap"
      server_with_fault "$disk" "$load" "$call:$n:$how"
      change "$disk"
      log=$(nbdkit_log "$disk")
      if [[ $how == kill ]]; then
        nbdkit_signal "$disk" USR1
        nbdkit_wait_exit "$disk" 60
        grep -q ": killed$" "$MD_TMP/$disk.faults" ||
          fail "$what: the shim did not kill the server (log: $(cat "$MD_TMP/$disk.faults" 2>/dev/null))"
        if $after_rename; then
          expect_disk_saved "$what"
        else
          expect_old_file "$what"
        fi
        # The next start removes what the killed save left.
        memdisk_start "after-$disk" -v snapshot="$snap"
        [[ -z $(persist_temporaries "$snap") ]] ||
          fail "$what: the next start left a temporary: $(persist_temporaries "$snap")"
        nbdkit_stop "after-$disk"
        echo "ok: $what"
        continue
      fi

      persist_signal_save "$disk" "$snap"
      grep -q ": failed with $how$" "$MD_TMP/$disk.faults" 2>/dev/null ||
        fail "$what: the shim did not fail the call (log: $(cat "$MD_TMP/$disk.faults" 2>/dev/null))"
      if [[ $call == pread ]] && ! $after_rename; then
        # The previous file failed: a full save instead, which is good.
        grep -qE "debug: saved $snap \(SIGUSR1\) in .*, 0 regions cloned, 0 copied, 3 compressed \(a full save: the previous file failed a check\)$" "$log" ||
          fail "$what: not a full save saying why: $(grep 'saved\|error' "$log")"
        expect_disk_saved "$what"
      elif [[ ($call == close && $path == "$dir") || $call == pread ]]; then
        # Not an error: a folder's close after its fsync cannot lose
        # anything; the new file could not be opened as the next save's
        # previous file (that save is full).
        grep -q ': debug: saved ' "$log" || fail "$what: the save failed: $(grep error "$log")"
        expect_disk_saved "$what"
      elif $after_rename; then
        # The folder's open or fsync.
        grep -q "error: saving $snap (SIGUSR1) failed, the new file is in place but may not survive a crash" "$log" ||
          fail "$what: the error does not say the new file is in place: $(grep error "$log")"
        expect_disk_saved "$what"
      else
        error=$(grep "error: saving $snap (SIGUSR1) failed, the file is untouched: " "$log") ||
          fail "$what: no error naming $snap: $(grep -i 'error\|saved' "$log")"
        [[ $error == *"Input/output error"* ]] || fail "$what: the error does not give the cause: $error"
        expect_old_file "$what"
        [[ -z $(persist_temporaries "$snap") ]] ||
          fail "$what: a temporary was left: $(persist_temporaries "$snap")"
      fi

      # The server still serves the disk, and the next trigger saves it.
      nbdkit_running "$disk" || fail "$what: the server stopped"
      persist_disk_image "$disk" "$MD_TMP/readback.img"
      cmp -s -- "$MD_TMP/gen2.img" "$MD_TMP/readback.img" || fail "$what: the server's disk changed"
      saves=$(persist_saves "$disk")
      persist_signal_save "$disk" "$snap"
      (($(persist_saves "$disk") == saves + 1)) || fail "$what: the next SIGUSR1 did not save"
      expect_disk_saved "$what, then SIGUSR1 again"
      nbdkit_stop "$disk"
      echo "ok: $what"
    done
    [[ $call != rename ]] || after_rename=true
  done
done
echo "ok: every step of an incremental save failed, and was killed, in turn; the old file survived each before the rename"
