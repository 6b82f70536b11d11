#!/usr/bin/env bash
# snapshot-readonly=true: the file is loaded, writes go to memory only, and
# neither SIGUSR1 nor exit touches the file (same bytes, same inode, same
# mtime, no temporaries).  A missing file is refused.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"

snap=$MD_TMP/disk.zst
size=$((16 * 1024 * 1024))

persist_expect_refusal snapshot="$snap" snapshot-readonly=true -- "$snap" "does not exist"
persist_expect_refusal "$size" snapshot="$snap" snapshot-readonly=true -- "$snap" "does not exist"
[[ ! -e $snap ]] || fail "a refused readonly start created $snap"

persist_make_image "$MD_TMP/saved.img" "$size"
memdisk_start disk "$size" snapshot="$snap"
nbdcopy -- "$MD_TMP/saved.img" "$(nbdkit_uri disk)" || fail "nbdcopy into the disk failed"
nbdkit_stop disk
cp -p -- "$snap" "$MD_TMP/copy.zst"
id_before=$(persist_file_id "$snap")

memdisk_start disk -v snapshot="$snap" snapshot-readonly=true
persist_disk_image disk "$MD_TMP/readback.img"
cmp -- "$MD_TMP/saved.img" "$MD_TMP/readback.img" || fail "the readonly disk does not hold the file's data"

# Writes work, in memory.
persist_make_image "$MD_TMP/new.img" "$size"
nbdcopy -- "$MD_TMP/new.img" "$(nbdkit_uri disk)" || fail "writing to a readonly-snapshot disk failed"
persist_disk_image disk "$MD_TMP/readback.img"
cmp -- "$MD_TMP/new.img" "$MD_TMP/readback.img" || fail "writes to a readonly-snapshot disk were lost"

nbdkit_signal disk USR1
wait_until 20 "SIGUSR1 to be handled" \
  grep -q "SIGUSR1: snapshot-readonly is set, $snap is not written" "$(nbdkit_log disk)"
nbdkit_running disk || fail "SIGUSR1 stopped a readonly server"
nbdkit_stop disk
(($(persist_saves disk) == 0)) || fail "a readonly server logged a save"
cmp -- "$MD_TMP/copy.zst" "$snap" || fail "snapshot-readonly=true changed $snap"
[[ $(persist_file_id "$snap") == "$id_before" ]] ||
  fail "snapshot-readonly=true replaced or touched $snap ($id_before -> $(persist_file_id "$snap"))"
[[ -z $(persist_temporaries "$snap") ]] || fail "a readonly server left temporaries: $(persist_temporaries "$snap")"

# The file still holds the original disk.
persist_snapshot_image "$snap" "$MD_TMP/readback.img"
cmp -- "$MD_TMP/saved.img" "$MD_TMP/readback.img" || fail "the file no longer holds the original disk"

echo "ok: snapshot-readonly=true loads the file and never writes it"
