#!/usr/bin/env bash
# The touch order's cold start (tests/bench/README.md, "touch-order.sh"):
# a client that reads a fixed scattered set of a disk's extents right after
# a lazy start, with and without the file's "touch-order" key, alternated
# in one run:
#
#   tests/bench/touch-order.sh
#
# The disk (BENCH_TOUCH_SIZE, default 1G, every 4 MiB region holding
# random data that zstd halves) is built and converted once into
# $BENCH_CACHE.  The keyed file is made by the product itself: a lazy
# server with no background loader, the set read once, memdisk-tool save.
# Prints figures and ratios; asserts nothing.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
export MEMDISK_PLUGIN=${MEMDISK_PLUGIN:-$src/build/nbdkit-memdisk-plugin.so}
export MEMDISK_TOOL=${MEMDISK_TOOL:-$src/build/memdisk-tool}
cache=${BENCH_CACHE:-$src/build/bench-cache}
size=${BENCH_TOUCH_SIZE:-1G}
mkdir -p "$cache"
snap=$cache/touch-$size.snap
if [[ ! -s $snap ]]; then
  echo "touch-order: building $snap ..." >&2
  img=$(mktemp "$cache/touch.img.XXXXXX")
  trap 'rm -f "$img"' EXIT
  /usr/bin/python3 - "$img" "$size" <<'PY'
import os, sys
path, size = sys.argv[1], sys.argv[2]
n = int(size[:-1]) << {"M": 20, "G": 30}[size[-1]]
with open(path, "wb") as f:
    for _ in range(n // 8192):          # half random, half zeros: zstd halves it
        f.write(os.urandom(4096) + bytes(4096))
PY
  "$MEMDISK_TOOL" convert --force "$img" "$snap" >&2
  rm -f "$img"
  trap - EXIT
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/memdisk-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
exec /usr/bin/python3 "$here/touch_order.py" "$snap" "$work" "$here/../integration/persist_snapfile.py"
