#!/usr/bin/env bash
# Build a raw disk image holding a real file system, once, for benchmarks:
#
#   tests/bench/make-fs-image.sh CACHE-DIR
#
# prints the image's path, CACHE-DIR/usr-share-ext4.img: a 2 GiB ext4 file
# system made with `mkfs.ext4 -d /usr/share` (about 0.9 GiB of real files:
# text, binaries, images, already-compressed data), sparse where the file
# system is empty.  A second run finds the image and prints its path at
# once; delete it to rebuild.  The image is made under a temporary name and
# renamed, so an interrupted build leaves no half image behind.
#
# Environment: BENCH_FS_SIZE (default 2G), BENCH_FS_SOURCE (default
# /usr/share).  Messages go to stderr; stdout is only the path.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

if (($# != 1)); then
  echo "usage: $0 CACHE-DIR" >&2
  exit 2
fi
cache=$1
size=${BENCH_FS_SIZE:-2G}
source_dir=${BENCH_FS_SOURCE:-/usr/share}
name=${source_dir#/}
image=$cache/${name//\//-}-ext4.img
[[ $size == 2G ]] || image=${image%.img}-$size.img

if [[ -s $image ]]; then
  echo "$image"
  exit 0
fi

command -v mkfs.ext4 >/dev/null || { echo "make-fs-image: mkfs.ext4 is not installed (e2fsprogs)" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp "$image.XXXXXX")
trap 'rm -f "$tmp"' EXIT

echo "make-fs-image: building $image ($size ext4 of $source_dir) ..." >&2
truncate -s "$size" "$tmp"
# -F: a file, not a block device.  An unreadable file under the source
# makes mkfs fail: better than a silently different image.
mkfs.ext4 -q -F -L memdisk-bench -d "$source_dir" "$tmp" >&2
mv "$tmp" "$image"
trap - EXIT
echo "make-fs-image: $(du -h --apparent-size "$image" | cut -f1) apparent, $(du -h "$image" | cut -f1) allocated" >&2
echo "$image"
