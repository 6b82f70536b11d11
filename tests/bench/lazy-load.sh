#!/usr/bin/env bash
# snapshot-load=lazy against snapshot-load=eager and `nbdkit null`, on one
# snapshot (tests/bench/README.md, "lazy-load.sh"):
#
#   tests/bench/lazy-load.sh [IMAGE]
#
# IMAGE (a raw disk image) defaults to the /usr/share ext4 fixture of
# make-fs-image.sh (built once into $BENCH_CACHE).  It is converted to a
# snapshot once (cached next to it).  With BENCH_BIG=1 (the default) the
# start-to-ready figures are also taken for a disk of four copies of
# IMAGE side by side (about 4.4 GiB allocated for the fixture), built and
# converted once into the cache; BENCH_BIG=0 skips it.  The first read of
# an unloaded frame (2) is also taken for IMAGE converted at each level of
# BENCH_LEVELS (default "1 3") and region size of BENCH_REGION_SIZES
# (default "256K 1M 4M"), each converted once into the cache, with its file
# size.  Prints figures and ratios; asserts nothing.
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
big_snap=
if [[ ${BENCH_BIG:-1} != 0 ]]; then
  big_snap=$cache/$(basename "$image" .img)-x4.snap
  if [[ ! -s $big_snap || $big_snap -ot $image ]]; then
    echo "lazy-load: building $big_snap (four copies of $image) ..." >&2
    big_img=$(mktemp "$cache/x4.img.XXXXXX")
    trap 'rm -f "$big_img"' EXIT
    bytes=$(stat -c %s "$image")
    truncate -s $((4 * bytes)) "$big_img"
    for i in 0 1 2 3; do
      dd if="$image" of="$big_img" bs=1M seek=$((i * bytes / 1048576)) conv=notrunc,sparse \
         status=none
    done
    "$MEMDISK_TOOL" convert --force "$big_img" "$big_snap" >&2
    rm -f "$big_img"
    trap - EXIT
  fi
fi
# The snapshots of section 2's table: IMAGE at each level and region size.
frame_snaps=()
for level in ${BENCH_LEVELS:-1 3}; do
  for region in ${BENCH_REGION_SIZES:-256K 1M 4M}; do
    s=$cache/$(basename "$image" .img)-l$level-r$region.snap
    if [[ ! -s $s || $s -ot $image ]]; then
      echo "lazy-load: converting $image to $s ..." >&2
      "$MEMDISK_TOOL" convert --force -l "$level" --region-size "$region" "$image" "$s" >&2
    fi
    frame_snaps+=("$s")
  done
done
export BENCH_FRAME_SNAPS="${frame_snaps[*]}"
work=$(mktemp -d "${TMPDIR:-/tmp}/memdisk-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
exec /usr/bin/python3 "$here/lazy_load.py" "$snap" "$work" "$here/../integration/persist_snapfile.py" \
     $big_snap
