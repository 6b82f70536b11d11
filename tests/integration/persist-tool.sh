#!/usr/bin/env bash
# The plugin and memdisk-tool share one file format: snapshots the tool
# makes (any page size, an empty disk from `create`) are served by the
# plugin, which keeps their page size when it saves them again; and what
# the plugin saves converts back to the raw disk it served.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh nbdinfo

[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL=${MEMDISK_TOOL:-} is not built"
tool () { "$MEMDISK_TOOL" "$@"; }
page_size () { tool info --json "$1" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["page-size"])'; }

# Not a multiple of any page size.
size=$((12 * 1024 * 1024 + 12345))
persist_make_image "$MD_TMP/disk.img" "$size"

for page in 4096 32768 1048576; do
  snap=$MD_TMP/disk-$page.zst
  tool convert -O snapshot --page-size="$page" "$MD_TMP/disk.img" "$snap" ||
    fail "memdisk-tool convert --page-size=$page failed"

  memdisk_start disk -v snapshot="$snap"
  got=$(nbdinfo --size "$(nbdkit_uri disk)")
  [[ $got == "$size" ]] || fail "page size $page: the plugin serves $got bytes, expected $size"
  persist_disk_image disk "$MD_TMP/readback.img"
  cmp -- "$MD_TMP/disk.img" "$MD_TMP/readback.img" ||
    fail "page size $page: the plugin does not serve the converted image"

  # A write that straddles pages of every size, and one in the last,
  # partial page.
  cp -- "$MD_TMP/disk.img" "$MD_TMP/expected.img"
  head -c 70000 /dev/urandom >"$MD_TMP/patch"
  head -c 345 /dev/urandom >"$MD_TMP/tail"
  dd if="$MD_TMP/patch" of="$MD_TMP/expected.img" bs=1 seek=1044480 conv=notrunc status=none
  dd if="$MD_TMP/tail" of="$MD_TMP/expected.img" bs=1 seek=$((size - 345)) conv=notrunc status=none
  nbdsh -u "$(nbdkit_uri disk)" \
    -c "h.pwrite(open('$MD_TMP/patch', 'rb').read(), 1044480)" \
    -c "h.pwrite(open('$MD_TMP/tail', 'rb').read(), $((size - 345)))" || fail "nbdsh pwrite failed"
  nbdkit_stop disk
  grep -q "saved $snap (exit)" "$(nbdkit_log disk)" || fail "page size $page: no save at exit"

  tool verify "$snap" >/dev/null || fail "page size $page: the plugin's save does not verify"
  [[ $(page_size "$snap") == "$page" ]] ||
    fail "page size $page: the plugin saved page size $(page_size "$snap")"
  rm -f -- "$MD_TMP/converted.img"
  tool convert -O raw "$snap" "$MD_TMP/converted.img" || fail "memdisk-tool convert to raw failed"
  cmp -- "$MD_TMP/expected.img" "$MD_TMP/converted.img" ||
    fail "page size $page: the plugin's save does not convert back to the disk it served"
done

# An empty disk made by `create`: served as zeros of its size, no size=.
tool create -s 5G "$MD_TMP/empty.zst" || fail "memdisk-tool create failed"
memdisk_start empty snapshot="$MD_TMP/empty.zst"
got=$(nbdinfo --size "$(nbdkit_uri empty)")
((got == 5 * 1024 ** 3)) || fail "an empty 5G snapshot is served as $got bytes"
nbdinfo --map "$(nbdkit_uri empty)" | grep -qE '^ +0 +5368709120 +3 +hole,zero$' ||
  fail "an empty snapshot is not served as one hole: $(nbdinfo --map "$(nbdkit_uri empty)")"
nbdkit_stop empty

echo "ok: the plugin and memdisk-tool read each other's snapshots"
