#!/usr/bin/env bash
# memdisk-tool reset against a restart, on one fixture (issue 25;
# tests/bench/README.md, "reset.sh"):
#
#   tests/bench/reset.sh [IMAGE]
#
# IMAGE (a raw disk image) defaults to the /usr/share ext4 fixture of
# make-fs-image.sh (built once into $BENCH_CACHE), converted to a snapshot
# once (cached next to it).  For 0.1 %, 1 % and 10 % of the fixture's
# data changed by scattered 64 KiB writes, on a warm server (every frame
# loaded, the disk read once): the time `memdisk-tool reset` takes (the
# tool's wall clock and the server's own figure), then a full read of the
# disk; next to a restart with the lazy load and one with the eager load,
# each followed by the same full read.  Prints figures and the ratio of
# each full read to the warm one; asserts nothing.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
export MEMDISK_PLUGIN=${MEMDISK_PLUGIN:-$src/build/nbdkit-memdisk-plugin.so}
export MEMDISK_TOOL=${MEMDISK_TOOL:-$src/build/memdisk-tool}
cache=${BENCH_CACHE:-$src/build/bench-cache}
image=${1:-$("$here/make-fs-image.sh" "$cache")}
snap=$cache/$(basename "$image" .img).snap
mkdir -p "$cache"
if [[ ! -s $snap || $snap -ot $image ]]; then
  echo "reset: converting $image to $snap ..." >&2
  "$MEMDISK_TOOL" convert --force "$image" "$snap" >&2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/memdisk-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
exec /usr/bin/python3 "$here/reset_bench.py" "$snap" "$work"
