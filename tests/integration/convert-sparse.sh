#!/usr/bin/env bash
# Holes in a raw input are skipped, not read: a 2 GiB file with 3 MiB of
# data reads about 3 MiB.  A snapshot converts back to a sparse file of the
# full size.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands cmp stat dd
tool=${MEMDISK_TOOL:?MEMDISK_TOOL must name the built memdisk-tool}

img=$MD_TMP/sparse.img
truncate -s 2G "$img"
head -c 1M /dev/urandom | dd of="$img" bs=1M seek=100 conv=notrunc status=none
head -c 2M /dev/urandom | dd of="$img" bs=1M seek=1500 conv=notrunc status=none
printf 'end' | dd of="$img" bs=1 seek=$(( (2 << 30) - 3 )) conv=notrunc status=none

"$tool" convert -v "$img" "$MD_TMP/sparse.snap" 2>"$MD_TMP/log"
# The summary names what was read: 3 MiB of data plus the last page.
grep -Eq "2 GiB disk, 3\.0 MiB of data, .* (3\.0|3\.1) MiB read" "$MD_TMP/log" \
  || fail "holes were read: $(tail -1 "$MD_TMP/log")"

"$tool" convert "$MD_TMP/sparse.snap" "$MD_TMP/back.img"
cmp "$img" "$MD_TMP/back.img" || fail "bytes differ after the round trip"
[[ $(stat -c %s "$MD_TMP/back.img") == $((2 << 30)) ]] || fail "wrong size"
allocated=$(( $(stat -c %b "$MD_TMP/back.img") * 512 ))
(( allocated < (8 << 20) )) || fail "output not sparse: $allocated bytes allocated"
echo "PASS"
