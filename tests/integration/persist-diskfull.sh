#!/usr/bin/env bash
# A save that does not fit (a 4 MiB tmpfs), or whose folder turned
# read-only, is logged as an error naming the file; the previous file
# stays intact, no temporary is left, the server keeps serving, and the
# next trigger (SIGUSR1, or exit with no write since the failure) saves
# once there is room again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh df

mnt=$MD_TMP/small
persist_mount "$mnt" -t tmpfs -o size=4m,mode=0755 tmpfs
snap=$mnt/disk.zst
size=$((16 * 1024 * 1024))
MiB=$((1024 * 1024))
truncate -s "$size" "$MD_TMP/expected.img"

# write_random OFFSET LENGTH: incompressible data, through the server and
# into expected.img.
write_random ()
{
  head -c "$2" /dev/urandom >"$MD_TMP/patch"
  dd if="$MD_TMP/patch" of="$MD_TMP/expected.img" bs=4096 seek=$(($1 / 4096)) \
     conv=notrunc status=none
  nbdsh -u "$(nbdkit_uri disk)" \
    -c "h.pwrite(open('$MD_TMP/patch', 'rb').read(), $1)" || fail "nbdsh pwrite failed"
}

failures () { grep -c "error: saving $snap (\(SIGUSR1\|request\)) failed, the file is untouched" "$(nbdkit_log disk)" || true; }
has_failures () { (($(failures) >= $1)); }

expect_serving ()
{
  nbdkit_running disk || fail "the server stopped after a failed save"
  persist_disk_image disk "$MD_TMP/readback.img"
  cmp -- "$MD_TMP/expected.img" "$MD_TMP/readback.img" || fail "the server no longer serves its disk"
}

expect_saved_disk ()
{
  persist_verify "$snap"
  persist_snapshot_image "$snap" "$MD_TMP/saved.img"
  cmp -- "$MD_TMP/expected.img" "$MD_TMP/saved.img" || fail "$snap does not hold the disk"
}

expect_old_file_kept ()
{
  cmp -- "$MD_TMP/copy.zst" "$snap" || fail "a failed save changed $snap"
  [[ -z $(persist_temporaries "$snap") ]] ||
    fail "a failed save left its temporary: $(persist_temporaries "$snap")"
}

memdisk_start disk -v "$size" snapshot="$snap"

# 1 MiB fits.
write_random 0 "$MiB"
persist_save "$snap"
expect_saved_disk
cp -- "$snap" "$MD_TMP/copy.zst"

# 6 MiB more does not.
write_random $((4 * MiB)) $((6 * MiB))
persist_signal_save disk "$snap"
has_failures 1 || fail "the failed save was not logged as an error"
grep -q "error: saving $snap (SIGUSR1) failed, the file is untouched: .*No space left on device" \
  "$(nbdkit_log disk)" || fail "the failed save's error does not say the disk is full"
(($(persist_saves disk) == 1)) || fail "a save that cannot fit was logged as saved"
expect_old_file_kept
expect_serving

# Trimming makes room: the next SIGUSR1 saves.
nbdsh -u "$(nbdkit_uri disk)" -c "h.trim($((6 * MiB)), $((4 * MiB)))" || fail "nbdsh trim failed"
truncate -s $((4 * MiB)) "$MD_TMP/expected.img"
truncate -s "$size" "$MD_TMP/expected.img"
persist_save "$snap"
expect_saved_disk
cp -- "$snap" "$MD_TMP/copy.zst"

# Fill the file system with something else, fail a save, free the space:
# exit must save although nothing was written since the failed save.
write_random $((12 * MiB)) "$MiB"
avail=$(df --output=avail -B1 "$mnt" | tail -1)
head -c $((avail - 256 * 1024)) /dev/zero >"$mnt/filler"
persist_save_fails "$snap" "failed, the file is untouched" "No space left on device"
has_failures 2 || fail "the second failed save was not logged as an error"
expect_old_file_kept
expect_serving
rm -- "$mnt/filler"
nbdkit_stop disk
(($(persist_saves disk) == 3)) || fail "exit after a failed save did not save (saves: $(persist_saves disk))"
grep -q "saved $snap (exit)" "$(nbdkit_log disk)" || fail "exit after a failed save did not save"
expect_saved_disk

# A folder that turns read-only under a running server: the same story.
mkdir "$MD_TMP/folder"
rw=$MD_TMP/rw
persist_mount "$rw" --bind "$MD_TMP/folder"
snap=$rw/disk.zst
truncate -s 0 "$MD_TMP/expected.img"
truncate -s "$size" "$MD_TMP/expected.img"
memdisk_start disk -v "$size" snapshot="$snap"
write_random "$MiB" "$MiB"
persist_save "$snap"
cp -- "$snap" "$MD_TMP/copy.zst"
write_random $((8 * MiB)) "$MiB"
mount -o remount,bind,ro "$rw" || fail "cannot remount $rw read-only"
persist_save_fails "$snap" "Read-only file system"
has_failures 1 || fail "the failed save was not logged as an error"
grep "error: saving $snap (request) failed" "$(nbdkit_log disk)" | grep -q "Read-only file system" ||
  fail "the failed save's error does not say the file system is read-only"
expect_old_file_kept
expect_serving
mount -o remount,bind,rw "$rw" || fail "cannot remount $rw read-write"
persist_save "$snap"
expect_saved_disk

echo "ok: a full disk or a read-only folder fails a save cleanly and the next trigger retries"
