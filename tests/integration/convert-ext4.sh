#!/usr/bin/env bash
# A real file system image through raw -> snapshot -> raw: identical bytes,
# a sparse result, `zstd -t` and `memdisk-tool verify` pass on the snapshot,
# and the snapshot is the same whatever the thread count.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands mkfs.ext4 zstd cmp du stat
tool=${MEMDISK_TOOL:?MEMDISK_TOOL must name the built memdisk-tool}

# 256 MiB of ext4 holding real files: shared libraries (few, large:
# mkfs.ext4 -d is slow on many small files), locale sources, and the
# Python and Perl libraries our test dependencies install, whichever of
# them this machine has (a bare Debian with our packages has the last two).
img=$MD_TMP/disk.img
mkdir "$MD_TMP/content"
content_kib=0
for f in /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1 /usr/lib/x86_64-linux-gnu/libicudata.so.72.1 \
         /usr/share/i18n /usr/lib/python3.11 /usr/share/perl; do
  [[ -e $f ]] || continue
  kib=$(du -sk "$f" | cut -f1)
  ((content_kib + kib < 180 * 1024)) || continue   # keep within the image
  cp -r "$f" "$MD_TMP/content/"
  content_kib=$((content_kib + kib))
done
((content_kib > 20 * 1024)) || fail "found only ${content_kib} KiB of files to put in the image"
truncate -s 256M "$img"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d "$MD_TMP/content" "$img"
rm -rf "$MD_TMP/content"

export SOURCE_DATE_EPOCH=1700000000
"$tool" convert -l 3 -T 1 "$img" "$MD_TMP/t1.snap"
"$tool" convert -l 3 -T 2 "$img" "$MD_TMP/t2.snap"
"$tool" convert -l 3 -v "$img" "$MD_TMP/disk.snap" 2>"$MD_TMP/convert.log"
cmp "$MD_TMP/t1.snap" "$MD_TMP/t2.snap" || fail "1 and 2 threads wrote different files"
cmp "$MD_TMP/t1.snap" "$MD_TMP/disk.snap" || fail "default threads wrote a different file"
grep -q "256 MiB disk" "$MD_TMP/convert.log" || fail "no summary: $(cat "$MD_TMP/convert.log")"

[[ $(stat -c %a "$MD_TMP/disk.snap") == 600 ]] || fail "new snapshot is not mode 0600"
zstd -q -t "$MD_TMP/disk.snap" || fail "zstd -t rejects the snapshot"
"$tool" verify "$MD_TMP/disk.snap" >"$MD_TMP/verify.out" || fail "verify failed"
grep -q ": OK: format 2.1, 256 MiB disk" "$MD_TMP/verify.out" || fail "verify said: $(cat "$MD_TMP/verify.out")"

"$tool" convert "$MD_TMP/disk.snap" "$MD_TMP/back.img"
cmp "$img" "$MD_TMP/back.img" || fail "raw -> snapshot -> raw changed the bytes"
[[ $(stat -c %s "$MD_TMP/back.img") == $((256 << 20)) ]] || fail "wrong size"
allocated=$(( $(stat -c %b "$MD_TMP/back.img") * $(stat -c %B "$MD_TMP/back.img") ))
original=$(( $(stat -c %b "$img") * $(stat -c %B "$img") ))
(( allocated <= original )) || fail "output not sparse: $allocated bytes allocated, input $original"
(( allocated < (200 << 20) )) || fail "output not sparse: $allocated bytes allocated"

# To stdout, in order, zeros included.
"$tool" convert "$MD_TMP/disk.snap" - | cmp - "$img" || fail "stdout output differs"

# Snapshot -> snapshot recompresses and keeps the content.
"$tool" convert -O snapshot -l 1 "$MD_TMP/disk.snap" "$MD_TMP/fast.snap"
"$tool" verify "$MD_TMP/fast.snap" >/dev/null || fail "recompressed snapshot does not verify"
digest() { "$1" verify "$2" | sed 's/.*digest //'; }
[[ $(digest "$tool" "$MD_TMP/fast.snap") == $(digest "$tool" "$MD_TMP/disk.snap") ]] \
  || fail "recompression changed the content digest"
"$tool" convert "$MD_TMP/fast.snap" "$MD_TMP/back2.img"
cmp "$img" "$MD_TMP/back2.img" || fail "recompressed snapshot converts to different bytes"
echo "PASS"
