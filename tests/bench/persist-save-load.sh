#!/usr/bin/env bash
# Saving and loading a real disk: memdisk's snapshots against zstd on the
# same data, in the same run.
#
#   tests/bench/persist-save-load.sh
#
# The data: a 2 GiB ext4 image of /usr/share (about 0.9 GiB of files; built
# once by make-fs-image.sh and cached).  Figures, each next to its
# reference, the ratio and the goal:
#
#   save    SIGUSR1 until the new snapshot file is in place (the save is
#           atomic: the file's inode changes when it is renamed over the old
#           one), against `zstd -T0 -1` of the raw image into a file.  Goal
#           <= 0.8x.  Also "today's way": `nbdcopy URI - | zstd -T0 -1` out
#           of nbdkit memory.
#   load    `nbdkit memdisk snapshot=FILE` until its pid file appears (the
#           snapshot is loaded before nbdkit daemonizes), against `zstd -d`
#           of the zstd -1 file to /dev/null.  Goal <= 1.0x.  Also today's
#           way: `zstd -dc | nbdcopy - URI` into nbdkit memory.
#   stall   fio, 4 KiB random writes at queue depth 1 on one connection, over
#           the first BENCH_FIO_SIZE of the disk (where the file system's data
#           is), first with no save, then while SIGUSR1 is sent every second
#           (saves run back to back).  Max and 99.9th percentile completion
#           latency.  Goal: max during saves <= 2x max without.
#   memory  the server's peak RSS during those saves (VmHWM, reset through
#           /proc/PID/clear_refs just before; cross-checked by sampling VmRSS)
#           against the allocated data (nbdinfo --map: bytes not reported as
#           holes).  Goal <= 1.25x.
#
# Save and load run BENCH_ROUNDS times and the table shows medians; the
# stall runs BENCH_ROUNDS times too (max and p99.9 are medians of the
# per-run figures).  Snapshot and zstd files are written under BENCH_CACHE,
# on disk (the save fsyncs its file and folder; the zstd reference does not).
#
# Environment:
#   MEMDISK_PLUGIN     the plugin (default build/nbdkit-memdisk-plugin.so)
#   BENCH_CACHE        where the image is cached (default /var/tmp/memdisk-bench)
#   BENCH_ROUNDS       rounds (default 3)
#   BENCH_FIO_RUNTIME  seconds per fio run (default 10)
#   BENCH_FIO_SIZE     region fio writes to (default 1G)
#   BENCH_THREADS      snapshot-threads= (default: the plugin's, online CPUs)
#
# This prints figures; it is not a test and asserts nothing.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

bench_dir=$(cd "$(dirname "$0")" && pwd)
MEMDISK_PLUGIN=${MEMDISK_PLUGIN:-build/nbdkit-memdisk-plugin.so}
BENCH_CACHE=${BENCH_CACHE:-/var/tmp/memdisk-bench}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_FIO_RUNTIME=${BENCH_FIO_RUNTIME:-10}
BENCH_FIO_SIZE=${BENCH_FIO_SIZE:-1G}
BENCH_THREADS=${BENCH_THREADS:-}
disk_size=2G

die () { echo "persist-save-load: $*" >&2; exit 1; }

for cmd in nbdkit nbdcopy nbdinfo zstd fio jq mkfs.ext4; do
  command -v "$cmd" >/dev/null || die "$cmd is not installed"
done
[[ -f $MEMDISK_PLUGIN ]] || die "no plugin at $MEMDISK_PLUGIN (build it, or set MEMDISK_PLUGIN)"
MEMDISK_PLUGIN=$(realpath "$MEMDISK_PLUGIN")
threads_arg=()
[[ -z $BENCH_THREADS ]] || threads_arg=("snapshot-threads=$BENCH_THREADS")

image=$("$bench_dir/make-fs-image.sh" "$BENCH_CACHE")
work=$(mktemp -d "$BENCH_CACHE/run.XXXXXX")
snapshot=$work/disk.zst
servers=()

# --- servers -------------------------------------------------------------

server_pid () { cat "$work/$1.pid"; }
server_uri () { echo "nbd+unix:///?socket=$work/$1.sock"; }

# start_server NAME ARG...: nbdkit daemonized on $work/NAME.sock, its
# messages in $work/NAME.log; returns once the pid file is written.
start_server ()
{
  local name=$1
  shift
  rm -f "$work/$name.pid" "$work/$name.sock"
  nbdkit -P "$work/$name.pid" -U "$work/$name.sock" "$@" 2>>"$work/$name.log" || {
    cat "$work/$name.log" >&2
    die "nbdkit $name failed to start"
  }
  servers+=("$name")
  wait_for_pidfile "$name"
}

wait_for_pidfile ()
{
  local i
  for ((i = 0; i < 12000; i++)); do
    [[ -s $work/$1.pid ]] && return 0
    sleep 0.005
  done
  die "nbdkit $1 wrote no pid file in 60 s"
}

# stop_server NAME: SIGTERM, then wait until the process is gone (it is
# not our child: nbdkit daemonized).
stop_server ()
{
  local pidfile=$work/$1.pid pid i
  [[ -s $pidfile ]] || return 0
  pid=$(<"$pidfile")
  rm -f "$pidfile"
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 2400; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup ()
{
  local name
  [[ -z ${sender_pid:-} ]] || kill "$sender_pid" 2>/dev/null || true
  [[ -z ${sampler_pid:-} ]] || kill "$sampler_pid" 2>/dev/null || true
  for name in "${servers[@]}"; do stop_server "$name"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- measuring -----------------------------------------------------------

now () { echo "$EPOCHREALTIME"; }
elapsed () { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# time_cmd COMMAND...: run it, print its wall time in seconds.
time_cmd ()
{
  local start
  start=$(now)
  "$@"
  elapsed "$start"
}

inode_of () { stat -c %i "$1" 2>/dev/null || echo none; }

# save_once NAME: SIGUSR1 to the server, wait until $snapshot is a new
# file; print the seconds.
save_once ()
{
  local old start i
  old=$(inode_of "$snapshot")
  start=$(now)
  kill -USR1 "$(server_pid "$1")"
  for ((i = 0; i < 60000; i++)); do
    [[ $(inode_of "$snapshot") == "$old" ]] || { elapsed "$start"; return 0; }
    sleep 0.01
  done
  die "no new $snapshot 600 s after SIGUSR1"
}

# load_once NAME: start memdisk on $snapshot; the seconds until it is
# ready go to $load_seconds (not printed: the server must be started by
# this shell, not a subshell, for cleanup to know it).
load_once ()
{
  local start
  start=$(now)
  start_server "$1" "$MEMDISK_PLUGIN" "snapshot=$snapshot" "${threads_arg[@]}"
  load_seconds=$(elapsed "$start")
}

allocated_bytes ()
{
  nbdinfo --map --totals "$(server_uri "$1")" | awk '$3 == 0 { n += $1 } END { print n + 0 }'
}

# run_fio NAME OUTPUT: 4 KiB random writes, queue depth 1, JSON to OUTPUT.
run_fio ()
{
  fio --name=stall --ioengine=nbd --uri="$(server_uri "$1")" \
      --rw=randwrite --bs=4k --iodepth=1 --numjobs=1 \
      --offset=0 --size="$BENCH_FIO_SIZE" --randrepeat=0 \
      --time_based --runtime="$BENCH_FIO_RUNTIME" \
      --output-format=json --output="$2" >"$work/fio.log" 2>&1 || {
    cat "$work/fio.log" >&2
    die "fio failed"
  }
}
fio_clat () { jq -r ".jobs[0].write.clat_ns | $2" "$1"; }   # FILE JQ-PATH

# status_kb PID FIELD: a field of /proc/PID/status in KiB (read without
# forking, so that sampling costs the server's CPUs little).
status_kb ()
{
  local key value _
  while read -r key value _; do
    [[ $key == "$2:" ]] && { echo "$value"; return 0; }
  done <"/proc/$1/status"
  echo 0
}

# sample_rss PID OUTPUT: VmRSS every 10 ms until killed; the max to OUTPUT.
sample_rss ()
{
  local max=0 rss
  trap 'echo "$max" >"$2"; exit 0' TERM
  while :; do
    rss=$(status_kb "$1" VmRSS)
    ((rss > max)) && max=$rss
    sleep 0.01
  done
}

# send_saves NAME OUTPUT: SIGUSR1 every second until killed; the number of
# saves that completed (new files seen) to OUTPUT.
send_saves ()
{
  local pid saves=0 last ino i
  pid=$(server_pid "$1")
  last=$(inode_of "$snapshot")
  trap 'echo "$saves" >"$2"; exit 0' TERM
  while :; do
    kill -USR1 "$pid"
    for ((i = 0; i < 20; i++)); do
      sleep 0.05
      ino=$(inode_of "$snapshot")
      [[ $ino == "$last" ]] || { saves=$((saves + 1)); last=$ino; }
    done
  done
}

# The references (pipefail is on: a failing nbdcopy fails the run).
zstd_image () { zstd -q -f -T0 -1 "$image" -o "$work/image.zst"; }
today_save () { nbdcopy "$(server_uri memory)" - | zstd -q -f -T0 -1 -o "$work/today.zst"; }
unzstd () { zstd -q -d -c "$work/image.zst" >/dev/null; }
today_load () { zstd -q -d -c "$work/image.zst" | nbdcopy - "$(server_uri today)"; }

median ()
{
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# --- the run -------------------------------------------------------------

echo "Image: $image"
echo "Reading the image into the page cache ..."
cat "$image" >/dev/null

echo "Filling nbdkit memdisk $disk_size snapshot=... and nbdkit memory $disk_size with the image (nbdcopy) ..."
start_server fill -v "$MEMDISK_PLUGIN" "$disk_size" "snapshot=$snapshot" "${threads_arg[@]}"
start_server memory memory "$disk_size"
nbdcopy "$image" "$(server_uri fill)"
nbdcopy "$image" "$(server_uri memory)"
allocated=$(allocated_bytes fill)

declare -a save_s zstd_s today_save_s load_s unzstd_s today_load_s
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
  echo "Save round $round/$BENCH_ROUNDS ..."
  save_s+=("$(save_once fill)")
  zstd_s+=("$(time_cmd zstd_image)")
  today_save_s+=("$(time_cmd today_save)")
done
# The exit save is skipped: nothing changed since the last SIGUSR1 save.
stop_server fill
stop_server memory
snapshot_bytes=$(stat -c %s "$snapshot")
zstd_bytes=$(stat -c %s "$work/image.zst")
sync

for ((round = 1; round <= BENCH_ROUNDS; round++)); do
  echo "Load round $round/$BENCH_ROUNDS ..."
  load_once load
  load_s+=("$load_seconds")
  [[ $(allocated_bytes load) == "$allocated" ]] ||
    die "the loaded disk has $(allocated_bytes load) bytes allocated, not $allocated"
  ((round == BENCH_ROUNDS)) || stop_server load
  unzstd_s+=("$(time_cmd unzstd)")
  start_server today memory "$disk_size"
  today_load_s+=("$(time_cmd today_load)")
  stop_server today
done

# The last loaded server takes the write load.
pid=$(server_pid load)
declare -a base_max base_p999 save_max save_p999 save_count hwm_kb sampled_kb alloc_after
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
  echo "Stall round $round/$BENCH_ROUNDS: fio ${BENCH_FIO_RUNTIME} s without saves, then with saves ..."
  run_fio load "$work/base.json"
  base_max+=("$(fio_clat "$work/base.json" .max)")
  base_p999+=("$(fio_clat "$work/base.json" '.percentile["99.900000"]')")

  echo 5 >"/proc/$pid/clear_refs"       # reset VmHWM
  sample_rss "$pid" "$work/sampled" & sampler_pid=$!
  send_saves load "$work/saves" & sender_pid=$!
  run_fio load "$work/save.json"
  hwm_kb+=("$(status_kb "$pid" VmHWM)")
  kill "$sender_pid" "$sampler_pid"
  wait "$sender_pid" "$sampler_pid" || true
  sender_pid='' sampler_pid=
  save_count+=("$(<"$work/saves")")
  sampled_kb+=("$(<"$work/sampled")")
  save_max+=("$(fio_clat "$work/save.json" .max)")
  save_p999+=("$(fio_clat "$work/save.json" '.percentile["99.900000"]')")
  alloc_after+=("$(allocated_bytes load)")
done

# --- the table -----------------------------------------------------------

ratio () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
verdict () { awk -v r="${1%x}" -v g="$2" 'BEGIN { print (r <= g ? "met" : "MISSED") }'; }
us () { awk -v n="$1" 'BEGIN { printf "%.0f us", n / 1000 }'; }
mib () { awk -v n="$1" 'BEGIN { printf "%.0f MiB", n / 1048576 }'; }
row () { printf '%-34s %12s   %-34s %12s %8s  %s\n' "$@"; }

m_save=$(median "${save_s[@]}")
m_zstd=$(median "${zstd_s[@]}")
m_today_save=$(median "${today_save_s[@]}")
m_load=$(median "${load_s[@]}")
m_unzstd=$(median "${unzstd_s[@]}")
m_today_load=$(median "${today_load_s[@]}")
m_base_max=$(median "${base_max[@]}")
m_save_max=$(median "${save_max[@]}")
m_base_p999=$(median "${base_p999[@]}")
m_save_p999=$(median "${save_p999[@]}")
max_hwm=$(printf '%s\n' "${hwm_kb[@]}" | sort -g | tail -1)
max_alloc=$(printf '%s\n' "${alloc_after[@]}" "$allocated" | sort -g | tail -1)
peak_rss=$((max_hwm * 1024))

echo
echo "persist-save-load: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), medians of $BENCH_ROUNDS rounds"
echo "memdisk: $MEMDISK_PLUGIN ${threads_arg[*]}"
echo "data: $image, $(mib "$allocated") allocated of $disk_size;" \
     "snapshot $(mib "$snapshot_bytes"), zstd -1 $(mib "$zstd_bytes")"
echo
row "figure" "memdisk" "reference" "" "ratio" "goal"
r=$(ratio "$m_save" "$m_zstd")
row "save (SIGUSR1 to file renamed)" "$m_save s" "zstd -T0 -1 image -o file" "$m_zstd s" "$r" "<= 0.8x $(verdict "$r" 0.8)"
row "" "" "today: nbdcopy | zstd -T0 -1" "$m_today_save s" "$(ratio "$m_save" "$m_today_save")" ""
r=$(ratio "$m_load" "$m_unzstd")
row "load (start to pid file)" "$m_load s" "zstd -d >/dev/null" "$m_unzstd s" "$r" "<= 1.0x $(verdict "$r" 1.0)"
row "" "" "today: zstd -dc | nbdcopy" "$m_today_load s" "$(ratio "$m_load" "$m_today_load")" ""
r=$(ratio "$m_save_max" "$m_base_max")
row "stall: max write latency" "$(us "$m_save_max")" "the same without a save" "$(us "$m_base_max")" "$r" "<= 2.0x $(verdict "$r" 2.0)"
row "stall: p99.9 write latency" "$(us "$m_save_p999")" "the same without a save" "$(us "$m_base_p999")" "$(ratio "$m_save_p999" "$m_base_p999")" ""
r=$(ratio "$peak_rss" "$max_alloc")
row "memory: peak RSS during saves" "$(mib "$peak_rss")" "allocated data" "$(mib "$max_alloc")" "$r" "<= 1.25x $(verdict "$r" 1.25)"
echo
echo "per round: save ${save_s[*]} s; zstd ${zstd_s[*]} s; today ${today_save_s[*]} s"
echo "           load ${load_s[*]} s; zstd -d ${unzstd_s[*]} s; today ${today_load_s[*]} s"
echo "           stall max without/with: ${base_max[*]} / ${save_max[*]} ns;" \
     "saves completed during fio: ${save_count[*]}"
echo "           VmHWM ${hwm_kb[*]} KiB, sampled VmRSS max ${sampled_kb[*]} KiB," \
     "allocated after ${alloc_after[*]} bytes"
echo "server's own save times: $(grep -o 'in [0-9.]* s:' "$work/fill.log" | awk '{ printf "%s ", $2 }')s"
