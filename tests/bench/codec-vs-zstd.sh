#!/usr/bin/env bash
# The snapshot codec against zstd on a real file system image, in one run:
#
#   tests/bench/codec-vs-zstd.sh
#
#   compress:    memdisk-tool convert -l 1 IMG S.snap   vs  zstd -T0 -1 IMG -o Z.zst
#   decompress:  memdisk-tool convert S.snap R.img      vs  zstd -d Z.zst -o R2.img
#   size:        S.snap                                 vs  Z.zst
#
# IMG is the 2 GiB ext4 image of /usr/share from make-fs-image.sh (cached).
# Each of the four commands runs BENCH_ROUNDS times, in alternating order,
# page cache warm; the table shows the median wall time and the ratios
# against the goals.  Both decompressors write sparse files.  Note that
# memdisk-tool fsyncs its output before renaming it into place (that is
# its contract: a failed convert never leaves a half-written OUT) and zstd
# does not; the times include that.
#
# Environment:
#   MEMDISK_TOOL   the tool (default build/memdisk-tool)
#   BENCH_CACHE    where the image is cached (default /var/tmp/memdisk-bench)
#   BENCH_WORK     scratch folder, same file system is best (default
#                  $BENCH_CACHE/codec)
#   BENCH_ROUNDS   rounds (default 3)
#   BENCH_LEVEL    compression level for both (default 1)
#
# This prints figures; it is not a test and asserts nothing (it does check
# that both round trips give back the image).
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

here=$(cd "$(dirname "$0")" && pwd)
MEMDISK_TOOL=${MEMDISK_TOOL:-build/memdisk-tool}
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/memdisk-bench}
BENCH_WORK=${BENCH_WORK:-$BENCH_CACHE/codec}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_LEVEL=${BENCH_LEVEL:-1}

for cmd in zstd cmp; do
  command -v "$cmd" >/dev/null || { echo "codec-vs-zstd: $cmd is not installed" >&2; exit 1; }
done
[[ -x $MEMDISK_TOOL ]] || { echo "codec-vs-zstd: no tool at $MEMDISK_TOOL (build it, or set MEMDISK_TOOL)" >&2; exit 1; }

img=$("$here/make-fs-image.sh" "$BENCH_CACHE")
mkdir -p "$BENCH_WORK"
work=$(mktemp -d "$BENCH_WORK/run.XXXXXX")
trap 'rm -rf "$work"' EXIT
snap=$work/img.snap zst=$work/img.zst

# seconds CMD...: run CMD, print its wall time in seconds.
seconds ()
{
  local start=$EPOCHREALTIME
  "$@"
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'
}

ours_c ()   { rm -f "$snap"; "$MEMDISK_TOOL" convert -l "$BENCH_LEVEL" "$img" "$snap"; }
zstd_c ()   { rm -f "$zst"; zstd -q -f -T0 -"$BENCH_LEVEL" "$img" -o "$zst"; }
ours_d ()   { rm -f "$work/ours.img"; "$MEMDISK_TOOL" convert "$snap" "$work/ours.img"; }
zstd_d ()   { rm -f "$work/zstd.img"; zstd -q -f -d "$zst" -o "$work/zstd.img"; }

median ()
{
  sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "codec-vs-zstd: $img ($(du -h --apparent-size "$img" | cut -f1) apparent, $(du -h "$img" | cut -f1) allocated), level $BENCH_LEVEL, $(nproc) CPUs, $BENCH_ROUNDS rounds" >&2
cat "$img" >/dev/null                   # warm the page cache
declare -A times
for round in $(seq 1 "$BENCH_ROUNDS"); do
  if (( round % 2 )); then order=(ours_c zstd_c ours_d zstd_d); else order=(zstd_c ours_c zstd_d ours_d); fi
  for step in "${order[@]}"; do
    t=$(seconds "$step")
    times[$step]+="$t "
    echo "  round $round: $step ${t}s" >&2
  done
done

cmp "$img" "$work/ours.img" || { echo "codec-vs-zstd: memdisk round trip differs!" >&2; exit 1; }
cmp "$img" "$work/zstd.img" || { echo "codec-vs-zstd: zstd round trip differs!" >&2; exit 1; }

m() { tr ' ' '\n' <<<"${times[$1]}" | grep . | median; }
oc=$(m ours_c) zc=$(m zstd_c) od=$(m ours_d) zd=$(m zstd_d)
os=$(stat -c %s "$snap") zs=$(stat -c %s "$zst")

awk -v oc="$oc" -v zc="$zc" -v od="$od" -v zd="$zd" -v os="$os" -v zs="$zs" 'BEGIN {
  printf "%-12s %14s %14s %8s %8s %s\n", "", "memdisk-tool", "zstd", "ratio", "goal", ""
  row("compress", oc "s", zc "s", oc / zc, 0.8)
  row("decompress", od "s", zd "s", od / zd, 1.0)
  row("size", sprintf("%.1fMiB", os / 1048576), sprintf("%.1fMiB", zs / 1048576), os / zs, 1.02)
}
function row(name, a, b, r, goal) {
  printf "%-12s %14s %14s %8.3f %8s %s\n", name, a, b, r, "<= " goal, r <= goal ? "met" : "MISSED"
}'
