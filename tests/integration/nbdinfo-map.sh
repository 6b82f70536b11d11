#!/usr/bin/env bash
# nbdinfo --map (block status, base:allocation) shows data exactly where
# pages were written and holes everywhere else, also after zero and trim.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands nbdkit nbdinfo nbdsh

page=32768
memdisk_start disk $((32 * page))
uri=$(nbdkit_uri disk)

# MAP_EXPECTED is "offset length description" lines.
check_map ()
{
  local what=$1 expected=$2 got
  got=$(nbdinfo --map "$uri" | awk '{ print $1, $2, $4 }')
  [[ $got == "$expected" ]] ||
    fail "$what: nbdinfo --map shows"$'\n'"$got"$'\n'"expected"$'\n'"$expected"
}

check_map "fresh disk" "0 1048576 hole,zero"

# 20 bytes in page 2; pages 5 and 6 whole; two bytes straddling 9/10;
# zeros written into the hole at page 12 leave it a hole.
nbdsh -u "$uri" -c "
h.pwrite(b'x' * 20, 2 * $page + 100)
h.pwrite(bytes(1000), 12 * $page + 5)
h.pwrite(b'y' * (2 * $page), 5 * $page)
h.pwrite(b'zz', 10 * $page - 1)
"
check_map "after writes" "0 65536 hole,zero
65536 32768 data
98304 65536 hole,zero
163840 65536 data
229376 65536 hole,zero
294912 65536 data
360448 688128 hole,zero"

# Zeroing part of a page's data keeps the page; zeroing or trimming all
# of it frees it.
nbdsh -u "$uri" -c "
h.zero(10, 2 * $page + 100)
h.trim($page, 5 * $page)
h.zero($page + 1, 9 * $page - 1)
"
check_map "after zero and trim" "0 65536 hole,zero
65536 32768 data
98304 98304 hole,zero
196608 32768 data
229376 98304 hole,zero
327680 32768 data
360448 688128 hole,zero"

# A zero that leaves a page all zeros frees it (docs/design.md).
nbdsh -u "$uri" -c "h.zero(10, 2 * $page + 110)"
check_map "after zeroing a page's last data" "0 196608 hole,zero
196608 32768 data
229376 98304 hole,zero
327680 32768 data
360448 688128 hole,zero"

# Everything zeroed: one hole again.
nbdsh -u "$uri" -c "h.zero(h.get_size(), 0)"
check_map "after zeroing the whole disk" "0 1048576 hole,zero"
