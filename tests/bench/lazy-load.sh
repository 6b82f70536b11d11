#!/usr/bin/env bash
# snapshot-load=lazy against snapshot-load=eager and `nbdkit null`, on one
# snapshot (tests/bench/README.md, "lazy-load.sh"):
#
#   tests/bench/lazy-load.sh [IMAGE]
#
# IMAGE (a raw disk image) defaults to the /usr/share ext4 fixture of
# make-fs-image.sh (built once into $BENCH_CACHE).  It is converted to a
# snapshot once (cached next to it).  Prints figures and ratios; asserts
# nothing.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
export MEMDISK_PLUGIN=${MEMDISK_PLUGIN:-$src/build/nbdkit-memdisk-plugin.so}
export MEMDISK_TOOL=${MEMDISK_TOOL:-$src/build/memdisk-tool}
cache=${BENCH_CACHE:-$src/build/bench-cache}
image=${1:-$("$here/make-fs-image.sh" "$cache")}
snap=$cache/$(basename "$image" .img).snap
if [[ ! -s $snap || $snap -ot $image ]]; then
  echo "lazy-load: converting $image to $snap ..." >&2
  "$MEMDISK_TOOL" convert --force "$image" "$snap" >&2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/memdisk-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
exec /usr/bin/python3 "$here/lazy_load.py" "$snap" "$work" "$here/../integration/persist_snapfile.py"
