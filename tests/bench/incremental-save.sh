#!/usr/bin/env bash
# Incremental saves against a full save of the same disk, in the same run.
#
#   tests/bench/incremental-save.sh
#
# The data: the 2 GiB ext4 image of /usr/share (make-fs-image.sh, cached),
# copied into `nbdkit memdisk` with nbdcopy.  Then:
#
#   full    the first save of the disk (no previous file: every region is
#           compressed), by `memdisk-tool save FILE`, which returns once the
#           file is in place;
#   0.1 %, 1 %, 10 %
#           that share of the allocated bytes changed, in runs of
#           BENCH_CHANGE_RUN bytes (default 1 MiB: a file rewritten) at
#           random offsets inside the data extents (each overwritten with
#           bytes copied from another random data offset, so the data stays
#           as compressible as it was), then a save, which copies the frames
#           of the regions nothing touched.  BENCH_CHANGE_RUN=4K is the
#           worst case: 1 % of the data in 4 KiB blocks scattered uniformly
#           touches nearly every 4 MiB region (a region of 4 MiB holds 1024
#           such blocks), and nearly everything is compressed again.
#
#   lazy 1 %
#           the server restarted on the file with the default lazy load and
#           no background loader (snapshot-load-threads=0), 1 % changed
#           again, then its first save: it copies the unchanged regions'
#           frames from the loaded file without decompressing them (the
#           changes themselves load the frames they touch: that CPU time
#           is printed apart, not in the row).
#
# For each: wall time of `memdisk-tool save`, the server's CPU time (user +
# system, from /proc/PID/stat) during it, the regions copied and compressed
# (status --json), the file size; and the ratios to the full save.  The file
# of an incremental save is byte for byte a full save's (the tests prove
# it); its size is compared with the size of a convert of the same file,
# which is a full save of the same disk.  Goals at 1 %: CPU <= 0.05x,
# wall <= 0.25x, size within 1 %.  The machine's load is printed: other
# work changes wall time much more than CPU time.
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
# /var/tmp/memdisk-bench), BENCH_CHANGE_RUN (default 1M), BENCH_LEVEL
# (snapshot-level=, default 1, the plugin's default), BENCH_FS_SIZE and
# BENCH_FS_SOURCE (make-fs-image.sh: a smaller fixture for a quick check,
# e.g. BENCH_FS_SIZE=256M BENCH_FS_SOURCE=/usr/share/doc), BENCH_XFS
# (default 1).  Prints figures; asserts nothing.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

bench_dir=$(cd "$(dirname "$0")" && pwd)
MEMDISK_PLUGIN=$(realpath "${MEMDISK_PLUGIN:-build/nbdkit-memdisk-plugin.so}")
MEMDISK_TOOL=$(realpath "${MEMDISK_TOOL:-build/memdisk-tool}")
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/memdisk-bench}
BENCH_CHANGE_RUN=$(numfmt --from=iec "${BENCH_CHANGE_RUN:-1M}")
BENCH_LEVEL=${BENCH_LEVEL:-1}
die () { echo "incremental-save: $*" >&2; exit 1; }
for cmd in nbdkit nbdcopy nbdinfo jq; do
  command -v "$cmd" >/dev/null || die "$cmd is not installed"
done

image=$("$bench_dir/make-fs-image.sh" "$BENCH_CACHE")
work=$(mktemp -d "$BENCH_CACHE/incr.XXXXXX")
snap=$work/disk.snap
sock=$work/disk.sock
cleanup () {
  [[ -s $work/disk.pid ]] && kill "$(cat "$work/disk.pid")" 2>/dev/null || true
  for _ in $(seq 200); do [[ -e /proc/$(cat "$work/disk.pid" 2>/dev/null || echo 0) ]] || break; sleep 0.05; done
  if mountpoint -q "$work/xfs" 2>/dev/null; then umount "$work/xfs" || umount -l "$work/xfs"; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs;" \
  "changes in runs of $BENCH_CHANGE_RUN bytes, level $BENCH_LEVEL"
# start_server ARG...: nbdkit memdisk on $snap, $pid its pid.
start_server () {
  rm -f "$work/disk.pid"
  nbdkit -P "$work/disk.pid" -U "$sock" "$MEMDISK_PLUGIN" size="${BENCH_FS_SIZE:-2G}" snapshot="$snap" \
    snapshot-level="$BENCH_LEVEL" "$@" 2>"$work/disk.log" || { cat "$work/disk.log"; die "nbdkit failed"; }
  while [[ ! -s $work/disk.pid ]]; do sleep 0.01; done
  pid=$(cat "$work/disk.pid")
}
start_server
uri="nbd+unix:///?socket=$sock"
nbdcopy "$image" "$uri"

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

# change FRACTION [SEED]: that share of the allocated bytes, in runs of
# BENCH_CHANGE_RUN bytes (4 KiB aligned) within the data extents.
change () {
  nbdinfo --map --json "$uri" >"$work/map.json"
  /usr/bin/python3 - "$uri" "$work/map.json" "$1" "$BENCH_CHANGE_RUN" "${2:-13}" <<'PY'
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

read -r fw fc _ fz fs < <(save)
printf '%-6s %9s %9s %8s %8s %12s %8s %8s %8s\n' "" "wall s" "CPU s" "copied" "compr." "file bytes" "wall x" "CPU x" "size x"
printf '%-6s %9.3f %9.3f %8s %8s %12s %8s %8s %8s\n' full "$fw" "$fc" 0 "$fz" "$fs" 1 1 1
for pct in 0.1 1 10; do
  change "$(echo "$pct / 100" | bc -l)"
  read -r w c copied compressed size < <(save)
  "$MEMDISK_TOOL" convert -f -O snapshot -l "$BENCH_LEVEL" "$snap" "$work/full.snap"
  full_size=$(stat -c %s "$work/full.snap")
  printf '%-6s %9.3f %9.3f %8s %8s %12s %8.3f %8.3f %8.4f\n' "$pct%" "$w" "$c" "$copied" "$compressed" \
    "$size" "$(echo "$w / $fw" | bc -l)" "$(echo "$c / $fc" | bc -l)" "$(echo "$size / $full_size" | bc -l)"
done

# The same file loaded lazily by a new server: its first save copies from it.
kill "$pid"
tail --pid="$pid" -f /dev/null      # until it has exited (nothing to save)
rm -f "$sock"
start_server snapshot-load-threads=0
c0=$(cpu_ticks)
change 0.01 14
c1=$(cpu_ticks)
read -r w c copied compressed size < <(save)
"$MEMDISK_TOOL" convert -f -O snapshot -l "$BENCH_LEVEL" "$snap" "$work/full.snap"
full_size=$(stat -c %s "$work/full.snap")
printf '%-6s %9.3f %9.3f %8s %8s %12s %8.3f %8.3f %8.4f\n' "lazy1%" "$w" "$c" "$copied" "$compressed" \
  "$size" "$(echo "$w / $fw" | bc -l)" "$(echo "$c / $fc" | bc -l)" "$(echo "$size / $full_size" | bc -l)"
echo "(lazy1%: the server's CPU while the changes loaded the frames they touched: $(echo "($c1 - $c0) / $tick" | bc -l | cut -c1-5) s, not in the row)"
echo "(size x: against a convert of the same file, a full save of the same disk)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- XFS: unchanged frames cloned; what the save writes ---
if [[ ${BENCH_XFS:-1} == 0 ]]; then
  exit 0
fi
if ((EUID != 0)); then
  echo "xfs: skipped (mounting an XFS image needs root)"
  exit 0
fi
kill "$pid"
tail --pid="$pid" -f /dev/null
rm -f "$sock"
mkdir "$work/xfs"
truncate -s "$(($(stat -c %s "$image") * 2))" "$work/xfs.img"
mkfs.xfs -q -m reflink=1 "$work/xfs.img"
mount -o loop "$work/xfs.img" "$work/xfs" || die "cannot mount the XFS image"
cp "$snap" "$work/xfs/disk.snap"
snap=$work/xfs/disk.snap
start_server
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
