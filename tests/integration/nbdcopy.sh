#!/usr/bin/env bash
# nbdcopy a file with data and holes into the disk and back out again
# (nbdcopy uses several connections at once), and compare the bytes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands nbdkit nbdcopy cmp

in=$MD_TMP/in.img out=$MD_TMP/out.img
# Random data, a 3 MiB hole, random data ending in a partial page.
head -c $((1024 * 1024)) /dev/urandom >"$in"
truncate -s $((4 * 1024 * 1024)) "$in"
head -c $((1024 * 1024 + 12345)) /dev/urandom >>"$in"
size=$(stat -c %s "$in")

memdisk_start disk "$size"
nbdcopy --flush "$in" "$(nbdkit_uri disk)"
nbdcopy "$(nbdkit_uri disk)" "$out"
cmp "$in" "$out" || fail "the disk's contents differ from the file copied in"

# Copy again over the same disk with different data: old bytes must go.
head -c "$size" /dev/urandom >"$in"
nbdcopy "$in" "$(nbdkit_uri disk)"
nbdcopy "$(nbdkit_uri disk)" "$out"
cmp "$in" "$out" || fail "the disk's contents differ after overwriting it"
