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
# against the goals, and the median CPU time (user + system), which other
# load on the machine disturbs less: when another process takes a core,
# parallel speed-ups vanish from the wall times but not from the CPU times.  Both decompressors write sparse files.  Note that
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

for cmd in zstd cmp /usr/bin/time; do
  command -v "$cmd" >/dev/null || { echo "codec-vs-zstd: $cmd is not installed" >&2; exit 1; }
done
[[ -x $MEMDISK_TOOL ]] || { echo "codec-vs-zstd: no tool at $MEMDISK_TOOL (build it, or set MEMDISK_TOOL)" >&2; exit 1; }

img=$("$here/make-fs-image.sh" "$BENCH_CACHE")
mkdir -p "$BENCH_WORK"
work=$(mktemp -d "$BENCH_WORK/run.XXXXXX")
trap 'rm -rf "$work"' EXIT
snap=$work/img.snap zst=$work/img.zst

# measure CMD...: run CMD, print "WALL CPU" in seconds.
measure ()
{
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$@"
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$work/time"
}

# step NAME: remove NAME's output, then measure its command.
step ()
{
  case $1 in
    ours_c) rm -f "$snap"; measure "$MEMDISK_TOOL" convert -l "$BENCH_LEVEL" "$img" "$snap" ;;
    zstd_c) rm -f "$zst"; measure zstd -q -f -T0 -"$BENCH_LEVEL" "$img" -o "$zst" ;;
    ours_d) rm -f "$work/ours.img"; measure "$MEMDISK_TOOL" convert "$snap" "$work/ours.img" ;;
    zstd_d) rm -f "$work/zstd.img"; measure zstd -q -f -d "$zst" -o "$work/zstd.img" ;;
  esac
}

median ()
{
  sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "codec-vs-zstd: $img ($(du -h --apparent-size "$img" | cut -f1) apparent, $(du -h "$img" | cut -f1) allocated), level $BENCH_LEVEL, $(nproc) CPUs, $BENCH_ROUNDS rounds" >&2
cat "$img" >/dev/null                   # warm the page cache
declare -A wall cpu
for round in $(seq 1 "$BENCH_ROUNDS"); do
  if (( round % 2 )); then order=(ours_c zstd_c ours_d zstd_d); else order=(zstd_c ours_c zstd_d ours_d); fi
  for name in "${order[@]}"; do
    read -r w c < <(step "$name")
    wall[$name]+="$w "
    cpu[$name]+="$c "
    echo "  round $round: $name ${w}s wall, ${c}s CPU" >&2
  done
done

cmp "$img" "$work/ours.img" || { echo "codec-vs-zstd: memdisk round trip differs!" >&2; exit 1; }
cmp "$img" "$work/zstd.img" || { echo "codec-vs-zstd: zstd round trip differs!" >&2; exit 1; }

m() { tr ' ' '\n' <<<"$1" | grep . | median; }
oc=$(m "${wall[ours_c]}") zc=$(m "${wall[zstd_c]}") od=$(m "${wall[ours_d]}") zd=$(m "${wall[zstd_d]}")
occ=$(m "${cpu[ours_c]}") zcc=$(m "${cpu[zstd_c]}") odc=$(m "${cpu[ours_d]}") zdc=$(m "${cpu[zstd_d]}")
os=$(stat -c %s "$snap") zs=$(stat -c %s "$zst")

awk -v oc="$oc" -v zc="$zc" -v od="$od" -v zd="$zd" -v os="$os" -v zs="$zs" \
    -v occ="$occ" -v zcc="$zcc" -v odc="$odc" -v zdc="$zdc" 'BEGIN {
  printf "%-16s %13s %13s %7s %8s %s\n", "", "memdisk-tool", "zstd", "ratio", "goal", ""
  row("compress", oc "s", zc "s", oc / zc, 0.8)
  row("decompress", od "s", zd "s", od / zd, 1.0)
  row("size", sprintf("%.1fMiB", os / 1048576), sprintf("%.1fMiB", zs / 1048576), os / zs, 1.02)
  printf "%-16s %13s %13s %7.3f\n", "compress CPU", occ "s", zcc "s", occ / zcc
  printf "%-16s %13s %13s %7.3f\n", "decompress CPU", odc "s", zdc "s", odc / zdc
}
function row(name, a, b, r, goal) {
  printf "%-16s %13s %13s %7.3f %8s %s\n", name, a, b, r, "<= " goal, r <= goal ? "met" : "MISSED"
}'
