#!/usr/bin/env bash
# Incremental saves against a full save of the same disk, in the same run,
# for several region sizes and levels (issue 24: the default region size
# is to be chosen from this table).
#
#   tests/bench/incremental-save.sh
#
# The data: the 2 GiB ext4 image of /usr/share (make-fs-image.sh, cached),
# copied into `nbdkit memdisk` with nbdcopy.  For each level of BENCH_LEVELS
# (default "1 3") and each region size of BENCH_REGION_SIZES (default
# "256K 1M 4M"; snapshot-region-size=), a new server, then:
#
#   full    the first save of the disk (no previous file: every region is
#           compressed), by `memdisk-tool save FILE`, which returns once the
#           file is in place;
#   P% RUN  for each share P of BENCH_FRACTIONS (percent, default "1") and
#           each run length RUN of BENCH_CHANGE_RUNS (default "64K 1M":
#           scattered writes, as a file system or a database makes, and
#           files rewritten): that share of the allocated bytes changed in
#           runs of RUN bytes at random offsets inside the data extents
#           (each overwritten with bytes copied from another random data
#           offset, so the data stays as compressible as it was), then a
#           save, which copies the frames of the regions nothing touched.
#           BENCH_CHANGE_RUNS=4K is the worst case: 1 % in 4 KiB blocks
#           scattered uniformly touches nearly every region.
#   lazy1%  with BENCH_LAZY=1 (the default): the server restarted on the
#           file with the default lazy load and no background loader
#           (snapshot-load-threads=0), 1 % changed again in runs of the
#           last RUN, then its first save: it copies the unchanged regions'
#           frames from the loaded file without decompressing them (the
#           changes themselves load the frames they touch: that CPU time
#           is printed apart, not in the row).
#
# For each: wall time of `memdisk-tool save`, the server's CPU time (user +
# system, from /proc/PID/stat) during it, the regions copied and compressed
# (status --json), the file size; and the ratios to the full save of the
# same level and region size.  The file of an incremental save is byte for
# byte a full save's (the tests prove it); its size is compared with the
# size of a convert of the same file (a full save of the same disk at the
# same region size).  A last table compares each full save's file size and
# time with the 4 MiB one of its level.  The machine's load is printed:
# other work changes wall time much more than CPU time.
#
# XFS (as root; BENCH_XFS=0 skips it): the same disk saved on a
# loop-mounted XFS image (mkfs.xfs -m reflink=1), where an incremental save
# clones the unchanged frames (format 2.1) instead of copying them.  For
# 1 % changed: the server's /proc/PID/io write_bytes during the save
# against the file size and against what the save had to write at least
# (its recompressed frames with their padding, the header, the metadata,
# the index and the footer: tests/bench/frame_bytes.py compares the new
# file's frames with the previous file's); goal: the excess within 1 % of
# the file size.
#
# Environment: MEMDISK_PLUGIN (default build/nbdkit-memdisk-plugin.so),
# MEMDISK_TOOL (default build/memdisk-tool), BENCH_CACHE (default
# /var/tmp/memdisk-bench), BENCH_LEVELS, BENCH_REGION_SIZES,
# BENCH_FRACTIONS, BENCH_CHANGE_RUNS, BENCH_LAZY (above).  BENCH_LEVEL and
# BENCH_CHANGE_RUN, if set, are one level and one run length.  Prints
# figures; asserts nothing.  BENCH_XFS (default 1): the
# XFS case, on a loop-mounted image, as root.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

bench_dir=$(cd "$(dirname "$0")" && pwd)
MEMDISK_PLUGIN=$(realpath "${MEMDISK_PLUGIN:-build/nbdkit-memdisk-plugin.so}")
MEMDISK_TOOL=$(realpath "${MEMDISK_TOOL:-build/memdisk-tool}")
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/memdisk-bench}
BENCH_LEVELS=${BENCH_LEVEL:-${BENCH_LEVELS:-1 3}}
BENCH_REGION_SIZES=${BENCH_REGION_SIZES:-256K 1M 4M}
BENCH_FRACTIONS=${BENCH_FRACTIONS:-1}
BENCH_CHANGE_RUNS=${BENCH_CHANGE_RUN:-${BENCH_CHANGE_RUNS:-64K 1M}}
BENCH_LAZY=${BENCH_LAZY:-1}
die () { echo "incremental-save: $*" >&2; exit 1; }
for cmd in nbdkit nbdcopy nbdinfo jq; do
  command -v "$cmd" >/dev/null || die "$cmd is not installed"
done

image=$("$bench_dir/make-fs-image.sh" "$BENCH_CACHE")
work=$(mktemp -d "$BENCH_CACHE/incr.XXXXXX")
snap=$work/disk.snap
sock=$work/disk.sock
uri="nbd+unix:///?socket=$sock"
pid=
stop_server () {
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  tail --pid="$pid" -f /dev/null      # until it has exited (nothing to save)
  pid=
  rm -f "$sock"
}
cleanup () {
  stop_server
  if mountpoint -q "$work/xfs" 2>/dev/null; then umount "$work/xfs" || umount -l "$work/xfs"; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs;" \
  "levels $BENCH_LEVELS; regions $BENCH_REGION_SIZES; changes of $BENCH_FRACTIONS % in runs of" \
  "$BENCH_CHANGE_RUNS"
# start_server LEVEL REGION ARG...: nbdkit memdisk on $snap, $pid its pid.
start_server () {
  local level=$1 region=$2
  shift 2
  rm -f "$work/disk.pid"
  nbdkit -P "$work/disk.pid" -U "$sock" "$MEMDISK_PLUGIN" size=2G snapshot="$snap" \
    snapshot-level="$level" snapshot-region-size="$region" "$@" 2>"$work/disk.log" ||
    { cat "$work/disk.log"; die "nbdkit failed"; }
  while [[ ! -s $work/disk.pid ]]; do sleep 0.01; done
  pid=$(cat "$work/disk.pid")
}

cpu_ticks () { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
tick=$(getconf CLK_TCK)
# save: prints "WALL CPU COPIED COMPRESSED SIZE"
save () {
  local c0 c1 t0 t1
  c0=$(cpu_ticks); t0=$(date +%s.%N)
  "$MEMDISK_TOOL" save "$snap" >/dev/null
  t1=$(date +%s.%N); c1=$(cpu_ticks)
  "$MEMDISK_TOOL" status --json "$snap" | jq -r --arg w "$(echo "$t1 - $t0" | bc)" \
    --arg c "$(echo "($c1 - $c0) / $tick" | bc -l)" \
    '"\($w) \($c) \(.["last-save"]["regions-copied"]) \(.["last-save"]["regions-compressed"]) \(.["last-save"]["file-size"])"'
}

# change FRACTION RUN [SEED]: that share of the allocated bytes, in runs of
# RUN bytes (4 KiB aligned) within the data extents.
change () {
  nbdinfo --map --json "$uri" >"$work/map.json"
  /usr/bin/python3 - "$uri" "$work/map.json" "$1" "$2" "${3:-13}" <<'PY'
import json, random, sys
import nbd
uri, map_path, fraction, run = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
seed = int(sys.argv[5])
data = [(e["offset"], e["length"]) for e in json.load(open(map_path))
        if not (e["type"] & 1) and e["length"] >= 4096]
allocated = sum(n for _, n in data)
rnd = random.Random(seed)
def run_at():
    o, n = rnd.choices(data, weights=[n for _, n in data])[0]
    length = min(run, n // 4096 * 4096)
    return o + rnd.randrange(0, (n - length) // 4096 + 1) * 4096, length
h = nbd.NBD()
h.connect_uri(uri)
done = 0
while done < allocated * fraction:
    (to, length), (frm, flen) = run_at(), run_at()
    length = min(length, flen)
    h.pwrite(h.pread(length, frm), to)
    done += length
h.shutdown()
PY
}

# ratio A B: A / B, or "-" when B is 0 (a fixture too small to measure).
ratio () { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.4f", a / b }'; }

# row NAME WALL CPU COPIED COMPRESSED SIZE: a line of the table, with the
# ratios to the full save ($fw, $fc) and to a convert of the file.
row () {
  local full_size
  "$MEMDISK_TOOL" convert -f -O snapshot -l "$level" "$snap" "$work/full.snap"
  full_size=$(stat -c %s "$work/full.snap")
  printf '%-5s %-6s %-11s %9.3f %9.3f %8s %8s %12s %8s %8s %8s\n' "$level" "$region" "$1" \
    "$2" "$3" "$4" "$5" "$6" "$(ratio "$2" "$fw")" "$(ratio "$3" "$fc")" \
    "$(ratio "$6" "$full_size")"
}

printf '%-5s %-6s %-11s %9s %9s %8s %8s %12s %8s %8s %8s\n' level region "" "wall s" "CPU s" \
  copied compr. "file bytes" "wall x" "CPU x" "size x"
declare -A full_wall full_cpu full_bytes
for level in $BENCH_LEVELS; do
  for region in $BENCH_REGION_SIZES; do
    rm -f "$snap"
    start_server "$level" "$region"
    nbdcopy "$image" "$uri"
    read -r fw fc _ fz fs < <(save)
    full_wall[$level/$region]=$fw full_cpu[$level/$region]=$fc full_bytes[$level/$region]=$fs
    printf '%-5s %-6s %-11s %9.3f %9.3f %8s %8s %12s %8s %8s %8s\n' "$level" "$region" full \
      "$fw" "$fc" 0 "$fz" "$fs" 1 1 1
    seed=13
    for pct in $BENCH_FRACTIONS; do
      for run in $BENCH_CHANGE_RUNS; do
        change "$(echo "$pct / 100" | bc -l)" "$(numfmt --from=iec "$run")" $((seed++))
        read -r w c copied compressed size < <(save)
        row "$pct% $run" "$w" "$c" "$copied" "$compressed" "$size"
      done
    done
    if [[ $BENCH_LAZY != 0 ]]; then
      # The same file loaded lazily by a new server: its first save copies
      # from it.
      stop_server
      start_server "$level" "$region" snapshot-load-threads=0
      c0=$(cpu_ticks)
      change 0.01 "$(numfmt --from=iec "$run")" 14
      c1=$(cpu_ticks)
      read -r w c copied compressed size < <(save)
      row "lazy1% $run" "$w" "$c" "$copied" "$compressed" "$size"
      echo "      (lazy1%: the server's CPU while the changes loaded the frames they touched:" \
        "$(echo "($c1 - $c0) / $tick" | bc -l | cut -c1-5) s, not in the row)"
    fi
    stop_server
  done
done
echo "(x: ratios to the full save of the same level and region size; size x: against a convert"
echo " of the same file, a full save of the same disk)"

# The full saves side by side: file size and time against the 4 MiB
# regions of the same level (the format's size cost of smaller regions).
echo
printf '%-5s %-6s %12s %9s %9s %8s %8s %8s\n' level region "file bytes" "wall s" "CPU s" "size x" \
  "wall x" "CPU x"
for level in $BENCH_LEVELS; do
  ref=$level/4M
  [[ -n ${full_bytes[$ref]:-} ]] || ref=$level/${BENCH_REGION_SIZES##* }
  for region in $BENCH_REGION_SIZES; do
    k=$level/$region
    printf '%-5s %-6s %12s %9.3f %9.3f %8s %8s %8s\n' "$level" "$region" "${full_bytes[$k]}" \
      "${full_wall[$k]}" "${full_cpu[$k]}" "$(ratio "${full_bytes[$k]}" "${full_bytes[$ref]}")" \
      "$(ratio "${full_wall[$k]}" "${full_wall[$ref]}")" "$(ratio "${full_cpu[$k]}" "${full_cpu[$ref]}")"
  done
done
echo "(x: against the ${ref#*/} regions of the same level)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- XFS: unchanged frames cloned; what the save writes ---
if [[ ${BENCH_XFS:-1} == 0 ]]; then
  exit 0
fi
if ((EUID != 0)); then
  echo "xfs: skipped (mounting an XFS image needs root)"
  exit 0
fi
stop_server
mkdir "$work/xfs"
truncate -s "$(($(stat -c %s "$image") * 2))" "$work/xfs.img"
mkfs.xfs -q -m reflink=1 "$work/xfs.img"
mount -o loop "$work/xfs.img" "$work/xfs" || die "cannot mount the XFS image"
cp "$snap" "$work/xfs/disk.snap"
snap=$work/xfs/disk.snap
start_server "$level" "$region"   # the last full row's file, at its own level and region size
uri="nbd+unix:///?socket=$sock"
# The copied file, loaded lazily, is the first save's previous file.
write_bytes () { awk '$1 == "write_bytes:" { print $2 }' "/proc/$pid/io"; }
change 0.01 15
ln "$snap" "$work/xfs/previous.snap"
w0=$(write_bytes)
read -r w c copied compressed size < <(save)
w1=$(write_bytes)
cloned=$("$MEMDISK_TOOL" status --json "$snap" | jq -r '.["last-save"]["regions-cloned"]')
read -r fsize fresh needed < <(/usr/bin/python3 "$bench_dir/frame_bytes.py" "$work/xfs/previous.snap" "$snap")
written=$((w1 - w0))
echo "xfs 1%: $cloned frames cloned, $copied copied, $compressed compressed ($fresh new frames);" \
  "wall $w s, CPU $c s"
echo "xfs 1%: write_bytes $written for a file of $fsize bytes ($(echo "100 * $written / $fsize" | bc -l | cut -c1-6) %);" \
  "at least needed $needed (new frames, padding, metadata, index);" \
  "excess $((written - needed)) = $(echo "100 * ($written - $needed) / $fsize" | bc -l | cut -c1-6) % of the file (goal <= 1 %)"
