#!/usr/bin/env bash
# size= with snapshot=: optional when the file exists (its size is used);
# a larger size grows the disk (logged, and saved at exit even with no
# write); a smaller one, or no size for a missing file, refuses to start
# with a message and leaves the file alone.  A new disk is saved at exit
# even unwritten, so that its size is known next time.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdinfo

snap=$MD_TMP/disk.zst
small=$((8 * 1024 * 1024))
large=$((24 * 1024 * 1024 + 4096))

disk_size () { nbdinfo --size "$(nbdkit_uri "$1")" || fail "nbdinfo --size failed"; }

# A missing file and no size: nothing says how large the disk is.
persist_expect_refusal snapshot="$snap" -- "size" "$snap" "does not exist"
[[ ! -e $snap ]] || fail "a refused start created $snap"

# A new disk that no client writes is still saved at exit, so that the
# next start knows its size without size=.
fresh=$MD_TMP/fresh.zst
memdisk_start fresh "$small" snapshot="$fresh"
nbdkit_stop fresh
[[ -f $fresh ]] || fail "exit did not create $fresh for a new, unwritten disk"
memdisk_start fresh snapshot="$fresh"
[[ $(disk_size fresh) == "$small" ]] || fail "restart of $fresh serves $(disk_size fresh) bytes"
nbdkit_stop fresh

persist_make_image "$MD_TMP/small.img" "$small"
memdisk_start disk "$small" snapshot="$snap"
nbdcopy -- "$MD_TMP/small.img" "$(nbdkit_uri disk)" || fail "nbdcopy into the disk failed"
nbdkit_stop disk
persist_verify "$snap"

# The same size as the file's: nothing to grow, nothing to save at exit.
memdisk_start disk -v size="$small" snapshot="$snap"
[[ $(disk_size disk) == "$small" ]] || fail "size=$small serves $(disk_size disk) bytes"
id_before=$(persist_file_id "$snap")
nbdkit_stop disk
! grep -q 'growing' "$(nbdkit_log disk)" || fail "size= equal to the snapshot's logged a growth"
[[ $(persist_file_id "$snap") == "$id_before" ]] ||
  fail "an unchanged disk of the snapshot's own size was saved again at exit"

# Larger: the disk grows, the old bytes stay, the new ones read as zeros.
memdisk_start disk -v size="$large" snapshot="$snap"
[[ $(disk_size disk) == "$large" ]] || fail "size=$large serves $(disk_size disk) bytes"
grep -qE "growing the disk of $snap from $small to $large bytes" "$(nbdkit_log disk)" ||
  fail "growing the disk was not logged"
cp -- "$MD_TMP/small.img" "$MD_TMP/large.img"
truncate -s "$large" "$MD_TMP/large.img"
persist_disk_image disk "$MD_TMP/readback.img"
cmp -- "$MD_TMP/large.img" "$MD_TMP/readback.img" || fail "the grown disk does not hold the old data"

# No write, yet the file must record the new size.
nbdkit_stop disk
persist_verify "$snap"
grep -q "saved $snap (exit)" "$(nbdkit_log disk)" || fail "the grown disk was not saved at exit"
memdisk_start disk snapshot="$snap"
[[ $(disk_size disk) == "$large" ]] ||
  fail "after growing to $large and restarting, the disk is $(disk_size disk) bytes"
persist_disk_image disk "$MD_TMP/readback.img"
cmp -- "$MD_TMP/large.img" "$MD_TMP/readback.img" || fail "the grown disk lost data across a restart"
nbdkit_stop disk

# Smaller: refused, naming both sizes; the file is untouched.
cp -p -- "$snap" "$MD_TMP/copy.zst"
id_before=$(persist_file_id "$snap")
persist_expect_refusal size="$small" snapshot="$snap" -- "$small" "$large" "$snap" "smaller"
persist_expect_refusal size=$((large - 1)) snapshot="$snap" -- "$((large - 1))" "$large"
cmp -- "$MD_TMP/copy.zst" "$snap" || fail "a refused start changed $snap"
[[ $(persist_file_id "$snap") == "$id_before" ]] || fail "a refused start replaced $snap"

echo "ok: size= optional with a snapshot, grows it, refuses to shrink it"
