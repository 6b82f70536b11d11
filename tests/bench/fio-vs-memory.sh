#!/usr/bin/env bash
# fio against nbdkit memdisk and the references, in the same run.
#
#   tests/bench/fio-vs-memory.sh
#
# Servers: nbdkit memdisk (the built plugin), optionally a second memdisk
# plugin to compare against (BENCH_BASELINE, e.g. main's build), nbdkit
# memory with allocator=sparse and allocator=malloc (what memdisk
# replaces), and nbdkit null (the framework's ceiling: no storage at all).
# Each server is filled once with a sequential write pass, so reads read
# allocated data.  Then, for ROUNDS rounds, every workload runs on every
# server in turn (the server order rotates each round), and the tables
# show the median and the range (min-max) of the rounds, and memdisk's
# ratios to the others, with the goals.
#
# The first-touch workload restarts each server before its run, so it
# writes into a fresh, empty disk: every write allocates.  It writes the
# whole disk once (not time based); the run leaves the disk filled.
#
# Environment:
#   MEMDISK_PLUGIN   the plugin (default build/nbdkit-memdisk-plugin.so)
#   BENCH_BASELINE   another memdisk plugin to run as server memdisk-base
#                    (default: none)
#   BENCH_SIZE       disk size (default 1G)
#   BENCH_RUNTIME    seconds measured per timed job (default 2, after 1 s ramp)
#   BENCH_ROUNDS     rounds (default 10)
#   BENCH_WORKLOADS  workloads to run, space separated (default all:
#                    firsttouch-1M seqwrite-1M randwrite-4k-1c
#                    randwrite-4k-4c randread-4k-1c randread-4k-4c)
#   BENCH_SERVERS    servers to run (default all: memdisk [memdisk-base]
#                    memory-sparse memory-malloc null)
#   BENCH_PERF       1 (default, when perf can count the server's threads):
#                    also count the server's CPU time and context switches
#                    over each timed job's measured seconds, and print them
#                    per request; 0: do not
#
# The per-request figures are what other load on the machine disturbs
# least: throughput under load is largely a matter of how much CPU the
# server gets, its CPU time per request is what it does with it.
#
# This prints figures; it is not a test and asserts nothing.
set -euo pipefail
export PATH=/usr/bin:/bin:$PATH

MEMDISK_PLUGIN=${MEMDISK_PLUGIN:-build/nbdkit-memdisk-plugin.so}
BENCH_BASELINE=${BENCH_BASELINE:-}
BENCH_SIZE=${BENCH_SIZE:-1G}
BENCH_RUNTIME=${BENCH_RUNTIME:-2}
BENCH_ROUNDS=${BENCH_ROUNDS:-10}
all_workloads="firsttouch-1M seqwrite-1M randwrite-4k-1c randwrite-4k-4c randread-4k-1c randread-4k-4c"
BENCH_WORKLOADS=${BENCH_WORKLOADS:-$all_workloads}
default_servers="memdisk${BENCH_BASELINE:+ memdisk-base} memory-sparse memory-malloc null"
BENCH_SERVERS=${BENCH_SERVERS:-$default_servers}
BENCH_PERF=${BENCH_PERF:-1}

for cmd in nbdkit fio jq; do
  command -v "$cmd" >/dev/null || { echo "fio-vs-memory: $cmd is not installed" >&2; exit 1; }
done
for p in "$MEMDISK_PLUGIN" ${BENCH_BASELINE:+"$BENCH_BASELINE"}; do
  if [[ ! -f $p ]]; then
    echo "fio-vs-memory: no plugin at $p (build it, or set MEMDISK_PLUGIN / BENCH_BASELINE)" >&2
    exit 1
  fi
done
if [[ $BENCH_PERF == 1 ]] &&
   ! { command -v perf && perf stat -x, -e task-clock,context-switches -- true; } >/dev/null 2>&1; then
  echo "fio-vs-memory: perf cannot count here: no per-request CPU and context switches" >&2
  BENCH_PERF=0
fi
MEMDISK_PLUGIN=$(realpath "$MEMDISK_PLUGIN")
[[ -z $BENCH_BASELINE ]] || BENCH_BASELINE=$(realpath "$BENCH_BASELINE")

read -r -a servers <<<"$BENCH_SERVERS"
read -r -a workloads <<<"$BENCH_WORKLOADS"
for s in "${servers[@]}"; do
  case $s in
    memdisk|memory-sparse|memory-malloc|null) ;;
    memdisk-base) [[ -n $BENCH_BASELINE ]] || { echo "fio-vs-memory: memdisk-base needs BENCH_BASELINE" >&2; exit 1; } ;;
    *) echo "fio-vs-memory: unknown server '$s'" >&2; exit 1 ;;
  esac
done
for w in "${workloads[@]}"; do
  [[ " $all_workloads " == *" $w "* ]] || { echo "fio-vs-memory: unknown workload '$w'" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memdisk-bench.XXXXXX")

stop_server ()
{
  local pidfile=$tmp/$1.pid pid
  [[ -f $pidfile ]] || return 0
  pid=$(<"$pidfile")
  rm -f "$pidfile"
  kill "$pid" 2>/dev/null || return 0
  # nbdkit is not our child (it daemonized): poll until it is gone.
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$tmp/$1.sock"          # a restart binds it again
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
    memdisk-base)  args=("$BENCH_BASELINE" "size=$BENCH_SIZE") ;;
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
fill_opts="--rw=write --bs=1M --iodepth=4 --numjobs=1"
declare -A workload_opts=(
  [firsttouch-1M]="$fill_opts"
  [seqwrite-1M]="$fill_opts"
  [randwrite-4k-1c]="--rw=randwrite --bs=4k --iodepth=16 --numjobs=1"
  [randwrite-4k-4c]="--rw=randwrite --bs=4k --iodepth=16 --numjobs=4"
  [randread-4k-1c]="--rw=randread --bs=4k --iodepth=16 --numjobs=1"
  [randread-4k-4c]="--rw=randread --bs=4k --iodepth=16 --numjobs=4"
)
declare -A workload_title=(
  [firsttouch-1M]="1 MiB first-touch write"
  [seqwrite-1M]="1 MiB seq rewrite, 1 conn"
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

# run_timed_fio SERVER OUTPUT FIO-OPTIONS...: run_fio for a timed job; with
# BENCH_PERF, perf counts the server's threads (the connections' workers
# are created after it attaches: perf stat follows them) over the measured
# seconds, after fio's 1 s ramp, into OUTPUT.perf.  A count whose window
# outlasted fio (perf slow to start on a loaded machine) is dropped: it
# would count idle time against the requests.
run_timed_fio ()
{
  local server=$1 out=$2 fio_pid
  shift 2
  run_fio "$server" "$out" "$@" --time_based --ramp_time=1 --runtime="$BENCH_RUNTIME" &
  fio_pid=$!
  if [[ $BENCH_PERF == 1 ]]; then
    sleep 1
    perf stat -x, -e task-clock,context-switches -p "$(<"$tmp/$server.pid")" \
      -o "$out.perf" -- sleep "$BENCH_RUNTIME" >/dev/null 2>&1 || rm -f "$out.perf"
    # Still running, not a zombie waiting to be reaped (kill -0 would succeed).
    [[ $(cut -d' ' -f3 "/proc/$fio_pid/stat" 2>/dev/null) == [RSD] ]] || rm -f "$out.perf"
  fi
  wait "$fio_pid" || exit 1     # run_fio said why
}

# per_request OUTPUT: "CPU-us-per-request context-switches-per-request" of
# the server over the measured seconds (from OUTPUT.perf), or nothing.
per_request ()
{
  local out=$1 iops
  [[ -s $out.perf ]] || return 0
  iops=$(jq '.jobs[0] | .read.iops + .write.iops' "$out")
  awk -F, -v n="$(awk -v i="$iops" -v t="$BENCH_RUNTIME" 'BEGIN { print i * t }')" '
    # "<not counted>" (perf attached to no running thread) is no figure.
    $1 ~ /^[0-9.]+$/ && $3 == "task-clock" { cpu = $1 }
    $1 ~ /^[0-9]+$/ && $3 == "context-switches" { cs = $1 }
    END { if (n > 0 && cpu > 0 && cs != "") printf "%.2f %.3f", cpu * 1000 / n, cs / n }' "$out.perf"
}

echo "Starting servers (${servers[*]}; size $BENCH_SIZE) and filling each with one sequential write pass ..."
for s in "${servers[@]}"; do
  start_server "$s"
  # shellcheck disable=SC2086  # the options are words on purpose
  run_fio "$s" "$tmp/fill-$s.json" $fill_opts
done

# results[workload,server] = space-separated per-round figures (bytes/s);
# cpu_us and ctxsw: the server's CPU microseconds and context switches per
# request, per round (timed workloads, with BENCH_PERF).
declare -A results cpu_us ctxsw
for ((round = 0; round < BENCH_ROUNDS; round++)); do
  echo "Round $((round + 1))/$BENCH_ROUNDS ($(cut -d' ' -f1 /proc/loadavg) load) ..."
  for w in "${workloads[@]}"; do
    for ((i = 0; i < ${#servers[@]}; i++)); do
      s=${servers[(i + round) % ${#servers[@]}]}
      out=$tmp/$w-$s-$round.json
      if [[ $w == firsttouch-* ]]; then
        # A fresh server: the pass writes every page for the first time.
        stop_server "$s"
        start_server "$s"
        # shellcheck disable=SC2086
        run_fio "$s" "$out" ${workload_opts[$w]}
      else
        # shellcheck disable=SC2086
        run_timed_fio "$s" "$out" ${workload_opts[$w]}
        read -r c x <<<"$(per_request "$out")" || true
        if [[ -n ${c:-} ]]; then
          cpu_us[$w,$s]+="$c "
          ctxsw[$w,$s]+="$x "
        fi
      fi
      bw=$(jq '.jobs[0] | .read.bw_bytes + .write.bw_bytes' "$out")
      results[$w,$s]+="$bw "
    done
  done
done

# stats FIGURES...: "median min max" of the rounds.
stats ()
{
  tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    print m, v[1], v[NR] }'
}

# figure WORKLOAD BYTES_PER_S...: MiB/s for 1 MiB blocks, kIOPS for 4 KiB.
figure ()
{
  local w=$1
  shift
  case $w in
    *-1M) awk -v b="$*" 'BEGIN { n = split(b, v, " "); for (i = 1; i <= n; i++) printf "%s%.0f", (i > 1 ? " " : ""), v[i] / 1048576 }' ;;
    *)    awk -v b="$*" 'BEGIN { n = split(b, v, " "); for (i = 1; i <= n; i++) printf "%s%.1f", (i > 1 ? " " : ""), v[i] / 4096 / 1000 }' ;;
  esac
}

# cell WORKLOAD "MEDIAN MIN MAX": "median (min-max)".
cell ()
{
  local m lo hi
  read -r m lo hi <<<"$(figure "$1" "$2")"
  printf '%s (%s-%s)' "$m" "$lo" "$hi"
}

ratio () { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "-" }'; }

# goal WORKLOAD VS RATIO: the goal for memdisk/VS and whether it is met.
goal ()
{
  local want=
  case $1,$2 in
    firsttouch-*,memory-malloc) want=1.2 ;;
    seqwrite-*,memory-sparse)   want=1.5 ;;
    seqwrite-*,memory-malloc)   want=0.9 ;;
    rand*,memory-sparse)        want=1.0 ;;
  esac
  [[ -n $want ]] || return 0
  awk -v r="${3%x}" -v w="$want" 'BEGIN { printf " (goal >= %.1fx: %s)", w, (r >= w ? "met" : "MISSED") }'
}

# width "MEDIAN MIN MAX": the range of the rounds in % of their median.
width () { awk -v m="$1" -v lo="$2" -v hi="$3" 'BEGIN { printf "%.0f", (m > 0 ? (hi - lo) / m * 100 : 0) }'; }

echo
echo "fio --ioengine=nbd, disk $BENCH_SIZE, ${BENCH_RUNTIME} s per timed job, $BENCH_ROUNDS rounds"
echo "$(nproc) CPUs, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "memdisk: $MEMDISK_PLUGIN"
[[ -z $BENCH_BASELINE ]] || echo "memdisk-base: $BENCH_BASELINE"
echo "Figures: median (min-max) of the rounds; MiB/s for 1 MiB workloads, kIOPS for 4 KiB."
echo
printf '%-26s' workload
for s in "${servers[@]}"; do printf ' %22s' "$s"; done
printf '\n'
declare -A st
for w in "${workloads[@]}"; do
  printf '%-26s' "${workload_title[$w]}"
  for s in "${servers[@]}"; do
    st[$w,$s]=$(stats <<<"${results[$w,$s]}")
    printf ' %22s' "$(cell "$w" "${st[$w,$s]}")"
  done
  printf '\n'
done

# The server's CPU time and context switches per request, where perf
# counted them: median (min-max) of the rounds.
if [[ $BENCH_PERF == 1 ]]; then
  echo
  echo "The server's CPU time per request (us) / context switches per request,"
  echo "counted by perf over the measured seconds: median (min-max) of the rounds."
  echo "Less disturbed by other load than the throughput above."
  echo
  printf '%-26s' workload
  for s in "${servers[@]}"; do printf ' %28s' "$s"; done
  printf '\n'
  for w in "${workloads[@]}"; do
    [[ $w != firsttouch-* ]] || continue
    printf '%-26s' "${workload_title[$w]}"
    for s in "${servers[@]}"; do
      if [[ -z ${cpu_us[$w,$s]:-} ]]; then
        printf ' %28s' -
        continue
      fi
      read -r cm clo chi <<<"$(stats <<<"${cpu_us[$w,$s]}")"
      read -r xm _ _ <<<"$(stats <<<"${ctxsw[$w,$s]}")"
      printf ' %28s' "$(printf '%.1f (%.1f-%.1f) / %.2f' "$cm" "$clo" "$chi" "$xm")"
    done
    printf '\n'
  done
fi

[[ " ${servers[*]} " == *" memdisk "* ]] || exit 0
echo
echo "memdisk relative to each server (ratio of the medians), and the range of"
echo "the rounds (max-min, in % of the median) against memory sparse's:"
for w in "${workloads[@]}"; do
  read -r m_md lo_md hi_md <<<"${st[$w,memdisk]}"
  line=
  for s in "${servers[@]}"; do
    [[ $s != memdisk ]] || continue
    read -r m _ _ <<<"${st[$w,$s]}"
    r=$(ratio "$m_md" "$m")
    line+="  /$s $r$(goal "$w" "$s" "$r")"
  done
  if [[ -n ${st[$w,memory-sparse]:-} ]]; then
    read -r m_sp lo_sp hi_sp <<<"${st[$w,memory-sparse]}"
    w_md=$(width "$m_md" "$lo_md" "$hi_md")
    w_sp=$(width "$m_sp" "$lo_sp" "$hi_sp")
    line+="  range ${w_md}% vs sparse ${w_sp}%"
    [[ $w != rand* ]] || line+=" ($([[ $w_md -le $w_sp ]] && echo met || echo MISSED))"
  fi
  if [[ -n ${cpu_us[$w,memdisk]:-} && -n ${cpu_us[$w,memory-sparse]:-} ]]; then
    read -r c_md _ _ <<<"$(stats <<<"${cpu_us[$w,memdisk]}")"
    read -r c_sp _ _ <<<"$(stats <<<"${cpu_us[$w,memory-sparse]}")"
    line+="  CPU/request $(ratio "$c_md" "$c_sp") sparse's"
  fi
  printf '%-26s%s\n' "${workload_title[$w]}" "$line"
done
