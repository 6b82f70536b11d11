#!/usr/bin/env bash
# The differential test (differential.py): the same random requests go to
# memdisk and to nbdkit's memory plugin; every read must agree.  Each seed
# gets fresh servers; seeds alternate between a small disk whose size is
# not a multiple of the page size, and the largest disk (2^63-1 bytes).
# Then the same with allocator=malloc on both sides (the small disk only:
# malloc holds every page), whose zero and trim keep the memory.
#
# To reproduce a failure: MEMDISK_DIFF_SEEDS=<seed> ctest -R differential
# (MEMDISK_DIFF_REQUESTS sets the number of requests per seed).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands nbdkit

seeds=${MEMDISK_DIFF_SEEDS:-1 2 3 4 5}
requests=${MEMDISK_DIFF_REQUESTS:-6000}
sizes=($((5 * 1024 * 1024 + 12345)) $((2**63 - 1)))

# compare SEED SIZE [ALLOCATOR]: one seed's requests against fresh servers.
compare ()
{
  local seed=$1 size=$2 allocator=(${3:+allocator=$3})
  memdisk_start memdisk "$size" "${allocator[@]}"
  nbdkit_start memory memory "$size" "${allocator[@]}"
  /usr/bin/python3 "$(dirname "$0")/differential.py" "$seed" "$requests" \
    "$(nbdkit_uri memdisk)" "$(nbdkit_uri memory)" ||
    fail "memdisk and nbdkit memory disagree (seed $seed${3:+, allocator=$3}, see above)"
  nbdkit_stop memdisk
  nbdkit_stop memory
}

for seed in $seeds; do
  compare "$seed" "${sizes[seed % ${#sizes[@]}]}"
done
for seed in $seeds; do
  compare "$seed" "${sizes[0]}" malloc
done
