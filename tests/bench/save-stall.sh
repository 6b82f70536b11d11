#!/usr/bin/env bash
# What a client feels during a save: fio write latency with and without a
# save, the save's steps on the same time axis, and Redis's BGSAVE (fork)
# on the same amount of data, in the same run.
#
#   tests/bench/save-stall.sh
#
# The data: the /usr/share ext4 image of make-fs-image.sh (a 2 GiB image
# holding about 0.95 GiB of files; cached), copied into a fresh
# `nbdkit memdisk size=2G snapshot=FILE` with nbdcopy.  Then, each round:
#
#   without  fio, 4 KiB random writes at queue depth 1 on one connection
#            over the first BENCH_FIO_SIZE of the disk (where the file
#            system's data is), BENCH_FIO_RUNTIME seconds, a per-request
#            latency log (--write_lat_log, --log_unix_epoch);
#   with     the same, and BENCH_SAVE_AT seconds after fio's connection is
#            up (the server logs its handshake) a
#            `memdisk-tool save` (the first save of this server: a full
#            one).  The server's VmHWM is reset just before it
#            (/proc/PID/clear_refs) and read after it: the peak RSS
#            during the save, against the allocated bytes.
#
# The two runs alternate which goes first, round by round.  "During the
# save" is every request whose time in flight overlaps the save, from the
# server's "save timeline" debug line (when the plugin has one; else from
# when memdisk-tool save was started to when it returned).  Printed per
# round and as medians: max, p99.9 and p99 write latency of the requests
# during the save against all requests of the run without, the requests
# completed per second in each (a client that gets more done leaves the
# save less CPU, so a save's length depends on it), the ratios,
# and the goals (issue 16): max during a save <= 2x max without (with a
# 10 ms floor for noise: a max of 10 ms or less passes) in every round,
# p99.9 <= 1.5x, peak RSS during the save <= 1.1x allocated.
#
# MEMDISK_BASELINE=PLUGIN.so adds a second plugin (e.g. one built from
# main before a change), run in the same rounds, alternating with
# MEMDISK_PLUGIN, so that "before" and "after" see the same machine.
#
# The floor (BENCH_FLOOR=1, the default; 0 skips it): what any
# compression running beside a client costs that client on this machine,
# memdisk or not.  The same fio runs against `nbdkit memory 2G` holding the
# same image, and at BENCH_SAVE_AT seconds the zstd CLI compresses the
# image with what a save uses (`nice -n 19 zstd -1 -T<CPUs>`: nice 19 and
# level 1 as memdisk's compressors, as many threads), in the server's
# session as memdisk's own threads are.  Its window is the zstd run.  The
# report then sets memdisk's p99.9 during its save against the p99.9
# during that zstd: a save cannot do better than the CPU time it needs
# lets it, and this ratio is the part that is memdisk's own.
#
# Redis (when redis-server is installed; BENCH_REDIS=0 skips it): a
# private redis-server on a Unix socket, filled with as many 4 KiB values
# of random bytes as the disk has allocated bytes (rdbcompression off:
# LZF finds nothing to compress in them, and would only cost CPU); a client
# (redis_stall.py) SETs random keys at queue depth 1 for BENCH_FIO_RUNTIME
# seconds, with a BGSAVE at BENCH_SAVE_AT seconds, and without one.  Its
# figures are the same as fio's, plus latest_fork_usec (how long fork()
# stopped the server).
#
# The plot (BENCH_PLOT, default BENCH_CACHE/save-stall.png; its path is
# printed): latency of every request over time, the round whose max
# during the save was the highest (the worst case, not a chosen one),
# with and without a save, the save's steps shaded; below it the same for
# Redis across a BGSAVE.
#
# Runtime with the defaults: about 30 s a round (15 s for memdisk, 15 s
# more for the floor, and 15 s more with a baseline), plus about 40 s for
# Redis: 5 to 6 minutes.
#
# Environment:
#   MEMDISK_PLUGIN     the plugin (default build/nbdkit-memdisk-plugin.so)
#   MEMDISK_BASELINE   a second plugin to compare with (default: none)
#   MEMDISK_ARGS       more plugin parameters for MEMDISK_PLUGIN only, e.g.
#                      snapshot-threads=1 (default: none)
#   MEMDISK_TOOL       memdisk-tool (default build/memdisk-tool)
#   BENCH_CACHE        where the image is cached (default /var/tmp/memdisk-bench)
#   BENCH_ROUNDS       rounds (default 10)
#   BENCH_FIO_RUNTIME  seconds per fio run (default 6)
#   BENCH_FIO_SIZE     region fio writes to (default 1G)
#   BENCH_SAVE_AT      seconds into the run the save starts (default 1)
#   BENCH_FLOOR        1 (default) or 0: the zstd CLI beside nbdkit memory
#   BENCH_REDIS        1 (default when redis-server exists) or 0
#   BENCH_REDIS_ROUNDS Redis rounds (default 3)
#   BENCH_PLOT         the PNG to write
#
# This prints figures; it is not a test and asserts nothing.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

bench_dir=$(cd "$(dirname "$0")" && pwd)
MEMDISK_PLUGIN=$(realpath "${MEMDISK_PLUGIN:-build/nbdkit-memdisk-plugin.so}")
MEMDISK_BASELINE=${MEMDISK_BASELINE:+$(realpath "$MEMDISK_BASELINE")}
MEMDISK_TOOL=$(realpath "${MEMDISK_TOOL:-build/memdisk-tool}")
MEMDISK_ARGS=${MEMDISK_ARGS:-}
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/memdisk-bench}
BENCH_ROUNDS=${BENCH_ROUNDS:-10}
BENCH_FIO_RUNTIME=${BENCH_FIO_RUNTIME:-6}
BENCH_FIO_SIZE=${BENCH_FIO_SIZE:-1G}
BENCH_SAVE_AT=${BENCH_SAVE_AT:-1}
BENCH_REDIS_ROUNDS=${BENCH_REDIS_ROUNDS:-3}
BENCH_PLOT=${BENCH_PLOT:-$BENCH_CACHE/save-stall.png}
BENCH_FLOOR=${BENCH_FLOOR:-1}
if [[ -z ${BENCH_REDIS:-} ]]; then
  command -v redis-server >/dev/null && BENCH_REDIS=1 || BENCH_REDIS=0
fi
python=/usr/bin/python3
die () { echo "save-stall: $*" >&2; exit 1; }
for cmd in nbdkit nbdcopy fio jq zstd; do
  command -v "$cmd" >/dev/null || die "$cmd is not installed"
done
"$python" -c 'import matplotlib' 2>/dev/null || die "python3-matplotlib is not installed"

image=$("$bench_dir/make-fs-image.sh" "$BENCH_CACHE")
work=$(mktemp -d "$BENCH_CACHE/stall.XXXXXX")
server_pid=
redis_pid=
cleanup () {
  [[ -n $server_pid ]] && kill -9 "$server_pid" 2>/dev/null || true
  [[ -n $redis_pid ]] && kill -9 "$redis_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now () { date +%s.%N; }
kb_of () { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# One server's round: start, fill, fio without and with a save (ORDER says
# which first), stop.  Appends a line per fio run to the manifest.
memdisk_round () {
  local label=$1 plugin=$2 round=$3 order=$4
  local d=$work/$label-$round args=() extra=()
  mkdir -p "$d"
  if [[ $label == floor ]]; then
    args=(memory 2G)
  else
    args=("$plugin" size=2G snapshot="$d/disk.snap")
    [[ $label == memdisk ]] && read -r -a extra <<<"$MEMDISK_ARGS" && args+=("${extra[@]}")
  fi
  nbdkit -f -v -D nbdkit.backend.datapath=0 -P "$d/pid" -U "$d/sock" "${args[@]}" \
    2>"$d/server.log" &
  server_pid=$!
  while [[ ! -s $d/pid ]]; do
    kill -0 "$server_pid" 2>/dev/null || { cat "$d/server.log" >&2; die "nbdkit failed"; }
    sleep 0.02
  done
  local uri="nbd+unix:///?socket=$d/sock"
  nbdcopy "$image" "$uri"
  local kind
  for kind in $order; do
    local prefix=$d/$kind
    # Connections so far: the save waits for fio's own (its handshake
    # done, so its writes begin), then BENCH_SAVE_AT seconds more.
    local conns
    conns=$(grep -c 'handshake complete' "$d/server.log" || true)
    fio --name=stall --ioengine=nbd --uri="$uri" --rw=randwrite --bs=4k --iodepth=1 \
      --size="$BENCH_FIO_SIZE" --time_based --runtime="$BENCH_FIO_RUNTIME" \
      --write_lat_log="$prefix" --log_unix_epoch=1 --output="$prefix.fio" &
    local fio_pid=$! hwm=0 t0=0 t1=0
    if [[ $kind == with ]]; then
      while (($(grep -c 'handshake complete' "$d/server.log" || true) <= conns)); do
        kill -0 "$fio_pid" 2>/dev/null || die "fio failed: $(cat "$prefix.fio")"
        sleep 0.01
      done
      sleep "$BENCH_SAVE_AT"
      if [[ $label == floor ]]; then
        t0=$(now)
        nice -n 19 zstd -q -1 -T"$(nproc)" -c "$image" >/dev/null
        t1=$(now)
      else
        echo 5 >"/proc/$server_pid/clear_refs"       # reset VmHWM
        t0=$(now)
        "$MEMDISK_TOOL" save "$d/disk.snap" >"$d/save.out"
        t1=$(now)
        hwm=$(kb_of "$server_pid" VmHWM)
      fi
    fi
    wait "$fio_pid"
    local alloc=0 system=floor
    if [[ $label != floor ]]; then
      system=memdisk
      alloc=$("$MEMDISK_TOOL" status --json "$d/disk.snap" | jq -r '.["allocated-size"]')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$label" "$round" "$kind" \
      "${prefix}_lat.1.log" "$d/server.log" "$t0 $t1" "$hwm" "$alloc" >>"$work/manifest"
  done
  kill -9 "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  rm -f "$d/disk.snap" "$d"/.disk.snap.tmp.* "${d}"/*_clat.1.log "${d}"/*_slat.1.log
}

redis_rounds () {
  local d=$work/redis
  mkdir -p "$d"
  redis-server --port 0 --unixsocket "$d/sock" --dir "$d" --dbfilename dump.rdb \
    --save '' --appendonly no --rdbcompression no --daemonize no --logfile "$d/redis.log" &
  redis_pid=$!
  while [[ ! -S $d/sock ]]; do
    kill -0 "$redis_pid" 2>/dev/null || { cat "$d/redis.log" >&2; die "redis-server failed"; }
    sleep 0.02
  done
  "$python" "$bench_dir/redis_stall.py" fill "$d/sock" "$1"
  local round kind
  for round in $(seq "$BENCH_REDIS_ROUNDS"); do
    local order="without with"
    ((round % 2 == 0)) && order="with without"
    for kind in $order; do
      local args=()
      [[ $kind == with ]] && args=(--bgsave-at "$BENCH_SAVE_AT")
      "$python" "$bench_dir/redis_stall.py" run "$d/sock" "$1" --runtime "$BENCH_FIO_RUNTIME" \
        --log "$d/$kind-$round.log" --events "$d/$kind-$round.json" "${args[@]}"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' redis redis "$round" "$kind" \
        "$d/$kind-$round.log" "$d/$kind-$round.json" "0 0" 0 "$1" >>"$work/manifest"
    done
  done
  kill "$redis_pid"
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=
}

echo "save-stall: load average at the start: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs;" \
  "$BENCH_ROUNDS rounds of ${BENCH_FIO_RUNTIME} s runs, save at ${BENCH_SAVE_AT} s, image $image"
: >"$work/manifest"
for round in $(seq "$BENCH_ROUNDS"); do
  order="without with"
  ((round % 2 == 0)) && order="with without"
  if [[ -n $MEMDISK_BASELINE ]] && ((round % 2 == 0)); then
    memdisk_round baseline "$MEMDISK_BASELINE" "$round" "$order"
    memdisk_round memdisk "$MEMDISK_PLUGIN" "$round" "$order"
  else
    memdisk_round memdisk "$MEMDISK_PLUGIN" "$round" "$order"
    [[ -z $MEMDISK_BASELINE ]] || memdisk_round baseline "$MEMDISK_BASELINE" "$round" "$order"
  fi
  ((BENCH_FLOOR == 0)) || memdisk_round floor memory "$round" "$order"
  echo "save-stall: round $round done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
if ((BENCH_REDIS)); then
  alloc=$(awk -F'\t' '$1 == "memdisk" { a = $9 } END { print a }' "$work/manifest")
  redis_rounds "$alloc"
fi
echo "save-stall: load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$python" "$bench_dir/save_stall.py" "$work/manifest" "$BENCH_PLOT"
