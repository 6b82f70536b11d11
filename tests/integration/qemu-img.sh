#!/usr/bin/env bash
# qemu-img convert a raw image onto the disk over NBD and qemu-img
# compare them; then change one byte on the disk and check that compare
# notices.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands nbdkit qemu-img nbdsh dd

img=$MD_TMP/source.img
size=$((64 * 1024 * 1024))
truncate -s "$size" "$img"
for mib in 0 3 17 40 63; do
  dd if=/dev/urandom of="$img" bs=65536 count=7 seek=$((mib * 16)) \
     conv=notrunc status=none
done

memdisk_start disk "$size"
uri=$(nbdkit_uri disk)
qemu-img convert -n -f raw -O raw "$img" "$uri" ||
  fail "qemu-img convert onto the disk failed"
qemu-img compare -f raw -F raw "$img" "$uri" ||
  fail "qemu-img compare: the disk differs from the image copied in"

# The byte's complement: a fixed value would equal the random one there
# once in 256 runs.
nbdsh -u "$uri" -c "o = $((40 * 1024 * 1024 + 12345)); h.pwrite(bytes([h.pread(1, o)[0] ^ 0xff]), o)"
if qemu-img compare -q -f raw -F raw "$img" "$uri"; then
  fail "qemu-img compare did not notice a changed byte"
fi
