#!/usr/bin/env bash
# Save time against the virtual size, in the same run: a save must cost
# what is allocated, not what is addressable.
#
#   tests/bench/huge-disk.sh
#
# For each disk size (1 GiB, 1 TiB, 1 PiB, 2^63-1 bytes): `nbdkit memdisk
# size=SIZE snapshot=FILE`, the same data written (BENCH_SPOTS runs of
# BENCH_RUN bytes of random data, spread evenly over the disk to its last
# byte), a save (full), then 4 KiB rewritten in every other run, and a save
# (incremental: copies the frames of the runs nothing touched), then
# SIGTERM after another such change (the exit save, incremental too).
# Prints the wall time of each save (`memdisk-tool save` returns once the
# file is in place; the exit save is timed from SIGTERM to the server's
# exit) and its ratio to the 1 GiB disk's.  Goal: every ratio near 1 (the
# page table's depth grows from 2 to 4 levels, nothing else with the size).
#
# Environment: MEMDISK_PLUGIN (default build/nbdkit-memdisk-plugin.so),
# MEMDISK_TOOL (default build/memdisk-tool), BENCH_SPOTS (default 64),
# BENCH_RUN (default 1M), BENCH_DIR (default /var/tmp).  Prints figures;
# asserts nothing.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

MEMDISK_PLUGIN=$(realpath "${MEMDISK_PLUGIN:-build/nbdkit-memdisk-plugin.so}")
MEMDISK_TOOL=$(realpath "${MEMDISK_TOOL:-build/memdisk-tool}")
BENCH_SPOTS=${BENCH_SPOTS:-64}
BENCH_RUN=$(numfmt --from=iec "${BENCH_RUN:-1M}")
die () { echo "huge-disk: $*" >&2; exit 1; }
for cmd in nbdkit bc; do
  command -v "$cmd" >/dev/null || die "$cmd is not installed"
done

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/memdisk-huge.XXXXXX")
pid=
cleanup () {
  [[ -z $pid ]] || kill "$pid" 2>/dev/null || true
  rm -rf -- "$work"
}
trap cleanup EXIT

now () { date +%s.%N; }

# change SIZE ROUND: ROUND 0 writes every run whole; later rounds rewrite
# the first 4 KiB of every other run (odd runs in odd rounds).
change () {
  /usr/bin/python3 - "$work/sock" "$1" "$2" "$BENCH_SPOTS" "$BENCH_RUN" <<'PY'
import random, sys
import nbd
sock, size, rnd, spots, run = sys.argv[1], *map(int, sys.argv[2:])
gen = random.Random(rnd)
h = nbd.NBD()
h.connect_unix(sock)
for i in range(spots):
    off = min((size // spots) * i // 4096 * 4096, size - run)
    if rnd == 0:
        h.pwrite(gen.randbytes(run), off)
    elif i % 2 == rnd % 2:
        h.pwrite(gen.randbytes(4096), off)
h.shutdown()
PY
}

sizes=(1073741824 1099511627776 1125899906842624 9223372036854775807)
names=("1 GiB" "1 TiB" "1 PiB" "2^63-1 B")
declare -a full incr exit_save
for k in "${!sizes[@]}"; do
  size=${sizes[k]}
  rm -f "$work/disk.snap" "$work/sock" "$work/pid"
  nbdkit -P "$work/pid" -U "$work/sock" "$MEMDISK_PLUGIN" size="$size" \
    snapshot="$work/disk.snap" || die "nbdkit did not start for $size bytes"
  # The daemon writes its pid file once it is ready.
  for ((i = 0; i < 600; i++)); do [[ -s $work/pid ]] && break; sleep 0.05; done
  pid=$(cat "$work/pid")
  change "$size" 0
  t=$(now); "$MEMDISK_TOOL" save "$work/disk.snap" >/dev/null; full[k]=$(echo "$(now) - $t" | bc)
  change "$size" 1
  t=$(now); "$MEMDISK_TOOL" save "$work/disk.snap" >/dev/null; incr[k]=$(echo "$(now) - $t" | bc)
  change "$size" 2
  t=$(now); kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
  exit_save[k]=$(echo "$(now) - $t" | bc)
  pid=
  "$MEMDISK_TOOL" verify "$work/disk.snap" >/dev/null || die "the file of the $size byte disk does not verify"
done

echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $BENCH_SPOTS runs of $BENCH_RUN bytes"
printf '%-10s %12s %7s %12s %7s %12s %7s\n' disk "full (s)" ratio "incr (s)" ratio "exit (s)" ratio
for k in "${!sizes[@]}"; do
  printf '%-10s %12.3f %6.2fx %12.3f %6.2fx %12.3f %6.2fx\n' "${names[k]}" \
    "${full[k]}" "$(echo "${full[k]} / ${full[0]}" | bc -l)" \
    "${incr[k]}" "$(echo "${incr[k]} / ${incr[0]}" | bc -l)" \
    "${exit_save[k]}" "$(echo "${exit_save[k]} / ${exit_save[0]}" | bc -l)"
done
