#!/usr/bin/env bash
# fio against nbdkit memdisk and the references, in the same run.
#
#   tests/bench/fio-vs-memory.sh
#
# Servers: nbdkit memdisk (the built plugin), nbdkit memory with
# allocator=sparse and allocator=malloc (what memdisk replaces), and
# nbdkit null (the framework's ceiling: no storage at all).  Each server is
# filled once with a sequential write pass, so reads read allocated data.
# Then, for ROUNDS rounds, every workload runs on every server in turn
# (the server order rotates each round), and the table shows the median
# of the rounds and memdisk's ratios to the others, with the goals.
#
# Environment:
#   MEMDISK_PLUGIN  the plugin (default build/nbdkit-memdisk-plugin.so)
#   BENCH_SIZE      disk size (default 1G)
#   BENCH_RUNTIME   seconds measured per job (default 4, after 1 s ramp)
#   BENCH_ROUNDS    rounds (default 3)
#
# This prints figures; it is not a test and asserts nothing.
set -euo pipefail
export PATH=/usr/bin:/bin:$PATH

MEMDISK_PLUGIN=${MEMDISK_PLUGIN:-build/nbdkit-memdisk-plugin.so}
BENCH_SIZE=${BENCH_SIZE:-1G}
BENCH_RUNTIME=${BENCH_RUNTIME:-4}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}

for cmd in nbdkit fio jq; do
  command -v "$cmd" >/dev/null || { echo "fio-vs-memory: $cmd is not installed" >&2; exit 1; }
done
if [[ ! -f $MEMDISK_PLUGIN ]]; then
  echo "fio-vs-memory: no plugin at $MEMDISK_PLUGIN (build it, or set MEMDISK_PLUGIN)" >&2
  exit 1
fi
MEMDISK_PLUGIN=$(realpath "$MEMDISK_PLUGIN")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memdisk-bench.XXXXXX")
servers=(memdisk memory-sparse memory-malloc null)

stop_server ()
{
  local pidfile=$tmp/$1.pid pid
  [[ -f $pidfile ]] || return 0
  pid=$(<"$pidfile")
  rm -f "$pidfile"
  kill "$pid" 2>/dev/null || return 0
  # nbdkit is not our child (it daemonized): poll until it is gone.
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup ()
{
  local s
  for s in "${servers[@]}"; do stop_server "$s"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start server NAME daemonized on $tmp/NAME.sock; nbdkit writes the pid file
# once it accepts clients.
start_server ()
{
  local name=$1 args
  case $name in
    memdisk)       args=("$MEMDISK_PLUGIN" "size=$BENCH_SIZE") ;;
    memory-sparse) args=(memory "size=$BENCH_SIZE" allocator=sparse) ;;
    memory-malloc) args=(memory "size=$BENCH_SIZE" allocator=malloc) ;;
    null)          args=(null "size=$BENCH_SIZE") ;;
  esac
  nbdkit -P "$tmp/$name.pid" -U "$tmp/$name.sock" "${args[@]}" 2>"$tmp/$name.log" || {
    echo "fio-vs-memory: nbdkit $name failed to start:" >&2
    cat "$tmp/$name.log" >&2
    exit 1
  }
  for _ in $(seq 1 1200); do
    [[ -s $tmp/$name.pid ]] && return 0
    sleep 0.05
  done
  echo "fio-vs-memory: nbdkit $name wrote no pid file in 60 s" >&2
  exit 1
}

# Workloads: name, then fio options.
workloads=(seqwrite-1M randwrite-4k-1c randwrite-4k-4c randread-4k-1c randread-4k-4c)
declare -A workload_opts=(
  [seqwrite-1M]="--rw=write --bs=1M --iodepth=4 --numjobs=1"
  [randwrite-4k-1c]="--rw=randwrite --bs=4k --iodepth=16 --numjobs=1"
  [randwrite-4k-4c]="--rw=randwrite --bs=4k --iodepth=16 --numjobs=4"
  [randread-4k-1c]="--rw=randread --bs=4k --iodepth=16 --numjobs=1"
  [randread-4k-4c]="--rw=randread --bs=4k --iodepth=16 --numjobs=4"
)
declare -A workload_title=(
  [seqwrite-1M]="1 MiB seq write, 1 conn"
  [randwrite-4k-1c]="4 KiB rand write, 1 conn"
  [randwrite-4k-4c]="4 KiB rand write, 4 conn"
  [randread-4k-1c]="4 KiB rand read, 1 conn"
  [randread-4k-4c]="4 KiB rand read, 4 conn"
)

# run_fio SERVER OUTPUT FIO-OPTIONS...: one fio run (each job is its own
# NBD connection), JSON to OUTPUT.
run_fio ()
{
  local server=$1 out=$2
  shift 2
  fio --name=bench --ioengine=nbd --uri="nbd+unix:///?socket=$tmp/$server.sock" \
      --group_reporting --output-format=json --output="$out" "$@" \
      >"$tmp/fio.log" 2>&1 || {
    echo "fio-vs-memory: fio failed on $server:" >&2
    cat "$tmp/fio.log" >&2
    exit 1
  }
}

echo "Starting servers (size $BENCH_SIZE) and filling each with one sequential write pass ..."
for s in "${servers[@]}"; do
  start_server "$s"
  run_fio "$s" "$tmp/fill-$s.json" --rw=write --bs=1M --iodepth=4
done

# results[workload,server] = space-separated per-round figures (bytes/s).
declare -A results
for ((round = 0; round < BENCH_ROUNDS; round++)); do
  echo "Round $((round + 1))/$BENCH_ROUNDS ..."
  for w in "${workloads[@]}"; do
    for ((i = 0; i < ${#servers[@]}; i++)); do
      s=${servers[(i + round) % ${#servers[@]}]}
      out=$tmp/$w-$s-$round.json
      # shellcheck disable=SC2086  # the options are words on purpose
      run_fio "$s" "$out" ${workload_opts[$w]} \
        --time_based --ramp_time=1 --runtime="$BENCH_RUNTIME"
      bw=$(jq '.jobs[0] | .read.bw_bytes + .write.bw_bytes' "$out")
      results[$w,$s]+="$bw "
    done
  done
done

median ()
{
  tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# figure WORKLOAD BYTES_PER_S: MiB/s for 1 MiB blocks, kIOPS for 4 KiB.
figure ()
{
  case $1 in
    seqwrite-*) awk -v b="$2" 'BEGIN { printf "%7.0f MiB/s", b / 1048576 }' ;;
    *)          awk -v b="$2" 'BEGIN { printf "%6.1f kIOPS", b / 4096 / 1000 }' ;;
  esac
}

# spread FIGURES...: half the range of the rounds, in % of their median.
spread ()
{
  tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "+-%.0f%%", (m > 0 ? (v[NR] - v[1]) / 2 / m * 100 : 0) }'
}

ratio () { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "-" }'; }

# goal WORKLOAD VS RATIO: the goal for memdisk/VS and whether it is met.
goal ()
{
  local want=
  case $1,$2 in
    seqwrite-*,memory-sparse) want=1.5 ;;
    seqwrite-*,memory-malloc) want=0.9 ;;
    rand*,memory-sparse)      want=1.0 ;;
  esac
  [[ -n $want ]] || return 0
  awk -v r="${3%x}" -v w="$want" 'BEGIN { printf " (goal >= %.1fx: %s)", w, (r >= w ? "met" : "MISSED") }'
}

echo
echo "fio --ioengine=nbd, disk $BENCH_SIZE, ${BENCH_RUNTIME} s per job, median of $BENCH_ROUNDS rounds"
echo "(+-N%: half the range of the rounds); $(nproc) CPUs, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "memdisk: $MEMDISK_PLUGIN"
echo
printf '%-26s %19s %19s %19s %19s\n' workload memdisk memory-sparse memory-malloc null
for w in "${workloads[@]}"; do
  declare -A med=()
  for s in "${servers[@]}"; do
    med[$s]=$(median <<<"${results[$w,$s]}")
  done
  printf '%-26s' "${workload_title[$w]}"
  for s in "${servers[@]}"; do
    printf ' %19s' "$(figure "$w" "${med[$s]}") $(spread <<<"${results[$w,$s]}")"
  done
  printf '\n'
done
echo
printf '%-26s %s\n' workload "memdisk relative to each server"
for w in "${workloads[@]}"; do
  declare -A med=()
  for s in "${servers[@]}"; do
    med[$s]=$(median <<<"${results[$w,$s]}")
  done
  line=
  for s in memory-sparse memory-malloc null; do
    r=$(ratio "${med[memdisk]}" "${med[$s]}")
    line+="  /$s $r$(goal "$w" "$s" "$r")"
  done
  printf '%-26s%s\n' "${workload_title[$w]}" "$line"
done
