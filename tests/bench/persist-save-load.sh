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
#           holes).  Goal <= 1.25x.  The peak is the highest of the rounds:
#           memory that saves free can stay with the process, so later
#           rounds show what repeated saves cost.
#
# Under save and load, a "CPU time" line compares user + system seconds
# (the server's for a save, nbdkit's before it daemonizes for a load, the
# zstd process's for the reference): work done, which other load on the
# machine changes much less than it changes wall time.
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
    nap 0.005
  done
  die "nbdkit $1 wrote no pid file in 60 s"
}

# process_alive PID: running, not a zombie (a daemonized nbdkit is not
# our child: whoever adopted it reaps it, maybe late).
process_alive ()
{
  local _pid _comm state
  read -r _pid _comm state _ 2>/dev/null <"/proc/$1/stat" || return 1
  [[ $state != Z ]]
}

# stop_server NAME: SIGTERM, then wait until the process is gone.
stop_server ()
{
  local pidfile=$work/$1.pid pid i
  [[ -s $pidfile ]] || return 0
  pid=$(<"$pidfile")
  rm -f "$pidfile"
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 2400; i++)); do
    process_alive "$pid" || return 0
    nap 0.05
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

# nap SECONDS: sleep without forking a process (read with a timeout from a
# FIFO nobody writes to).  Every poll loop here naps: on a small machine
# a sleep(1) process per poll would take CPU from what is measured.
mkfifo "$work/nap"
exec {nap_fd}<>"$work/nap"
nap () { read -r -t "$1" -u "$nap_fd" _ || true; }

# --- measuring -----------------------------------------------------------

now () { echo "$EPOCHREALTIME"; }
elapsed () { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# children_cpu: user + system seconds of this shell's finished children
# so far, into $cpu_total.  (`times` writes to a file so that it runs in
# this shell, not in a subshell that has no children.)
children_cpu ()
{
  local user sys
  times >"$work/times"
  { read -r _ _; read -r user sys; } <"$work/times"
  cpu_total=$(awk -v u="$user" -v s="$sys" '
    function seconds(t, a) { split(t, a, /[ms]/); return a[1] * 60 + a[2] }
    BEGIN { printf "%.3f", seconds(u) + seconds(s) }')
}

# process_cpu PID: user + system seconds of the process, all its threads,
# into $cpu_total.
process_cpu ()
{
  local -a stat
  read -r -a stat <"/proc/$1/stat"
  cpu_total=$(awk -v t=$((stat[13] + stat[14])) -v hz="$clock_ticks" 'BEGIN { printf "%.3f", t / hz }')
}
clock_ticks=$(getconf CLK_TCK)

difference () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# measure COMMAND...: run it in this shell; its wall time goes to $wall and
# the CPU time of the processes it ran (and waited for) to $cpu.
measure ()
{
  local start before
  children_cpu
  before=$cpu_total
  start=$(now)
  "$@"
  wall=$(elapsed "$start")
  children_cpu
  cpu=$(difference "$before" "$cpu_total")
}

# A save is done when $snapshot is a new file: the save renames its
# temporary over the old file.  hold_snapshot opens the current file (if
# any) on $held_fd; snapshot_replaced tells, without forking, whether the
# name now points elsewhere (bash's -ef fstat()s /dev/fd/N).
hold_snapshot ()
{
  held_fd=
  [[ ! -e $snapshot ]] || exec {held_fd}<"$snapshot"
}
release_snapshot () { [[ -z $held_fd ]] || exec {held_fd}<&-; held_fd=; }
snapshot_replaced ()
{
  [[ -e $snapshot ]] && { [[ -z $held_fd ]] || ! [[ $snapshot -ef /dev/fd/$held_fd ]]; }
}

# save_once NAME: SIGUSR1 to the server, wait until $snapshot is a new
# file; the seconds go to $wall, the server's CPU seconds to $cpu.
save_once ()
{
  local start i pid before
  pid=$(server_pid "$1")
  hold_snapshot
  process_cpu "$pid"
  before=$cpu_total
  start=$(now)
  kill -USR1 "$pid"
  for ((i = 0; i < 120000; i++)); do
    snapshot_replaced && break
    nap 0.005
  done
  wall=$(elapsed "$start")
  process_cpu "$pid"
  cpu=$(difference "$before" "$cpu_total")
  release_snapshot
  ((i < 120000)) || die "no new $snapshot 600 s after SIGUSR1"
}

# load_once NAME: start memdisk on $snapshot; the seconds until it is
# ready go to $wall, the CPU seconds of loading to $cpu (nbdkit loads
# before it forks, in the process this shell waits for).
load_once ()
{
  measure start_server "$1" "$MEMDISK_PLUGIN" "snapshot=$snapshot" "${threads_arg[@]}"
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

# status_kb PID FIELD: a field of /proc/PID/status in KiB, into $kb
# (without forking, so that sampling costs the server's CPUs little).
status_kb ()
{
  local key value _
  kb=0
  while read -r key value _; do
    [[ $key == "$2:" ]] && { kb=$value; return 0; }
  done <"/proc/$1/status"
}

# sample_rss PID OUTPUT: VmRSS every 10 ms until killed; the max to OUTPUT.
sample_rss ()
{
  local kb
  # Globals of this background subshell: the trap may run inside nap.
  max=0 out=$2
  trap 'echo "$max" >"$out"; exit 0' TERM
  while :; do
    status_kb "$1" VmRSS
    ((kb > max)) && max=$kb
    nap 0.01
  done
}

# send_saves NAME OUTPUT: SIGUSR1 every second until killed; the number of
# saves that completed (new files seen) to OUTPUT.
send_saves ()
{
  local pid i
  # Globals of this background subshell: the trap may run inside nap.
  saves=0 out=$2
  pid=$(server_pid "$1")
  trap 'echo "$saves" >"$out"; exit 0' TERM
  hold_snapshot
  while :; do
    kill -USR1 "$pid"
    for ((i = 0; i < 20; i++)); do
      nap 0.05
      if snapshot_replaced; then
        saves=$((saves + 1))
        release_snapshot
        hold_snapshot
      fi
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
declare -a save_cpu zstd_cpu load_cpu unzstd_cpu
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
  echo "Save round $round/$BENCH_ROUNDS ..."
  save_once fill
  save_s+=("$wall") save_cpu+=("$cpu")
  measure zstd_image
  zstd_s+=("$wall") zstd_cpu+=("$cpu")
  measure today_save
  today_save_s+=("$wall")
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
  load_s+=("$wall") load_cpu+=("$cpu")
  [[ $(allocated_bytes load) == "$allocated" ]] ||
    die "the loaded disk has $(allocated_bytes load) bytes allocated, not $allocated"
  ((round == BENCH_ROUNDS)) || stop_server load
  measure unzstd
  unzstd_s+=("$wall") unzstd_cpu+=("$cpu")
  start_server today memory "$disk_size"
  measure today_load
  today_load_s+=("$wall")
  stop_server today
done

# The last loaded server takes the write load.
pid=$(server_pid load)
status_kb "$pid" VmRSS
rss_loaded_kb=$kb
declare -a base_max base_p999 save_max save_p999 save_count hwm_kb sampled_kb alloc_after
declare -a base_iops save_iops
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
  echo "Stall round $round/$BENCH_ROUNDS: fio ${BENCH_FIO_RUNTIME} s without saves, then with saves ..."
  run_fio load "$work/base.json"
  base_max+=("$(fio_clat "$work/base.json" .max)")
  base_iops+=("$(jq -r '.jobs[0].write.iops | floor' "$work/base.json")")
  base_p999+=("$(fio_clat "$work/base.json" '.percentile["99.900000"]')")

  echo 5 >"/proc/$pid/clear_refs"       # reset VmHWM
  sample_rss "$pid" "$work/sampled" & sampler_pid=$!
  send_saves load "$work/saves" & sender_pid=$!
  run_fio load "$work/save.json"
  status_kb "$pid" VmHWM
  hwm_kb+=("$kb")
  kill "$sender_pid" "$sampler_pid"
  wait "$sender_pid" "$sampler_pid" || true
  sender_pid='' sampler_pid=
  save_count+=("$(<"$work/saves")")
  sampled_kb+=("$(<"$work/sampled")")
  save_max+=("$(fio_clat "$work/save.json" .max)")
  save_iops+=("$(jq -r '.jobs[0].write.iops | floor' "$work/save.json")")
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
m_save_cpu=$(median "${save_cpu[@]}")
m_zstd_cpu=$(median "${zstd_cpu[@]}")
m_load_cpu=$(median "${load_cpu[@]}")
m_unzstd_cpu=$(median "${unzstd_cpu[@]}")
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
row "  CPU time (user + sys)" "$m_save_cpu s" "zstd -T0 -1" "$m_zstd_cpu s" "$(ratio "$m_save_cpu" "$m_zstd_cpu")" ""
r=$(ratio "$m_load" "$m_unzstd")
row "load (start to pid file)" "$m_load s" "zstd -d >/dev/null" "$m_unzstd s" "$r" "<= 1.0x $(verdict "$r" 1.0)"
row "" "" "today: zstd -dc | nbdcopy" "$m_today_load s" "$(ratio "$m_load" "$m_today_load")" ""
row "  CPU time (user + sys)" "$m_load_cpu s" "zstd -d" "$m_unzstd_cpu s" "$(ratio "$m_load_cpu" "$m_unzstd_cpu")" ""
r=$(ratio "$m_save_max" "$m_base_max")
row "stall: max write latency" "$(us "$m_save_max")" "the same without a save" "$(us "$m_base_max")" "$r" "<= 2.0x $(verdict "$r" 2.0)"
row "stall: p99.9 write latency" "$(us "$m_save_p999")" "the same without a save" "$(us "$m_base_p999")" "$(ratio "$m_save_p999" "$m_base_p999")" ""
r=$(ratio "$peak_rss" "$max_alloc")
row "memory: peak RSS during saves" "$(mib "$peak_rss")" "allocated data" "$(mib "$max_alloc")" "$r" "<= 1.25x $(verdict "$r" 1.25)"
row "  RSS after loading, no save yet" "$(mib $((rss_loaded_kb * 1024)))" "allocated data" "$(mib "$allocated")" "$(ratio $((rss_loaded_kb * 1024)) "$allocated")" ""
echo
echo "per round: save ${save_s[*]} s; zstd ${zstd_s[*]} s; today ${today_save_s[*]} s"
echo "           load ${load_s[*]} s; zstd -d ${unzstd_s[*]} s; today ${today_load_s[*]} s"
echo "           CPU: save ${save_cpu[*]} s; zstd ${zstd_cpu[*]} s; load ${load_cpu[*]} s; zstd -d ${unzstd_cpu[*]} s"
echo "           stall max without/with: ${base_max[*]} / ${save_max[*]} ns;" \
     "write IOPS without/with: ${base_iops[*]} / ${save_iops[*]};" \
     "saves completed during fio: ${save_count[*]}"
echo "           VmHWM ${hwm_kb[*]} KiB, sampled VmRSS max ${sampled_kb[*]} KiB," \
     "allocated after ${alloc_after[*]} bytes"
echo "server's own save times: $(grep -o 'in [0-9.]* s:' "$work/fill.log" | awk '{ printf "%s ", $2 }')s"
