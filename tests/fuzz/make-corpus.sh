#!/usr/bin/env bash
# Regenerate the seed corpus: small valid snapshots covering the format's
# shapes (empty, one page, many runs, several frames, every page size
# extreme, a partial last page, regions far apart, regions of one page:
# format 2.1).  Deterministic:
# SOURCE_DATE_EPOCH is fixed.  The v1.0-*.snap seeds, format 1.0 files
# made by the writer before format 2.0, are kept as they are (the reader
# still reads 1.0); control-bytes-creator.snap is 1.0 too (made by
# persist_snapfile.py).
#
#   tests/fuzz/make-corpus.sh BUILD_DIR
set -euo pipefail

tool=${1:?usage: make-corpus.sh BUILD_DIR}/memdisk-tool
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SOURCE_DATE_EPOCH=0

seed() {  # NAME PAGE_SIZE [REGION_SIZE]: convert $tmp/raw into corpus/NAME.snap
  "$tool" convert --page-size="$2" --region-size="${3:-4M}" -l 1 -T 1 "$tmp/raw" \
    "$here/corpus/$1.snap"
}

find "$here/corpus" -name '*.snap' ! -name 'v1.0-*' -delete
: >"$tmp/raw"; seed empty 32K
truncate -s 1G "$tmp/raw"; seed empty-1g 32K
printf 'memdisk' | dd of="$tmp/raw" bs=1 seek=163840 conv=notrunc status=none; seed one-page 32K
rm "$tmp/raw"; truncate -s 10000 "$tmp/raw"
printf 'tail' | dd of="$tmp/raw" bs=1 seek=9990 conv=notrunc status=none; seed partial-last-page 4K
rm "$tmp/raw"; truncate -s 1M "$tmp/raw"
for off in 0 8192 12288 40960 524288 1044480; do
  printf 'run%d' "$off" | dd of="$tmp/raw" bs=1 seek="$off" conv=notrunc status=none
done
seed many-runs 4K
# Three frames of 4 MiB: constant bytes compress to almost nothing.
head -c 9M /dev/zero | tr '\0' 'x' >"$tmp/raw"; seed three-frames 1M
head -c 5M /dev/zero | tr '\0' 'y' >"$tmp/raw"; seed two-frames-4k 4K
# Regions 0, 3 and 9 of 4 MiB hold data, the others none (no frame).
rm "$tmp/raw"; truncate -s 40M "$tmp/raw"
for off in 4096 12582912 12587008 37748736; do
  printf 'region%d' "$off" | dd of="$tmp/raw" bs=1 seek="$off" conv=notrunc status=none
done
seed sparse-regions 32K
# Regions of one 4 KiB page (format 2.1), some of them empty.
rm "$tmp/raw"; truncate -s 256K "$tmp/raw"
for off in 0 4100 8192 65536 200000; do
  printf 'page%d' "$off" | dd of="$tmp/raw" bs=1 seek="$off" conv=notrunc status=none
done
seed page-regions 4K 4K
# The same with a touch order (metadata "touch-order"): regions with a
# frame and one (5) without.
cp "$here/corpus/sparse-regions.snap" "$here/corpus/touch-order.snap"
/usr/bin/python3 "$here/../integration/persist_snapfile.py" add-touch-order \
  "$here/corpus/touch-order.snap" '[9, 0, 5, 3]'
# Terminal controls in the creator string (ESC, the C1 CSI, a lone 0x9b).
/usr/bin/python3 "$here/../integration/persist_snapfile.py" bomb \
  "$here/corpus/control-bytes-creator.snap" /dev/null 0 $'cr\e[31meator\xc2\x9b2J\x9b\a'
ls -l "$here/corpus"
