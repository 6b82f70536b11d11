#!/usr/bin/env bash
# snapshot=URL against the same snapshot downloaded first, and against
# `nbdkit null` (tests/bench/README.md, "url-load.sh"):
#
#   tests/bench/url-load.sh [SNAPSHOT]
#
# SNAPSHOT defaults to a small fixture made here (BENCH_URL_MB MiB of
# random runs, default 64).  nginx serves it on 127.0.0.1 (started here,
# as tests/integration/http_lib.sh does).  In one run, each figure the
# median of BENCH_ROUNDS (default 3):
#   1. start to ready: memdisk on the URL, next to `nbdkit null`;
#   2. the first read of a frame not fetched yet (snapshot-load-threads=0),
#      timed inside the client;
#   3. the whole disk read from a cold start (nbdcopy to /dev/null),
#      against `curl -o` of the file, a local lazy start and the same read.
# Prints figures and ratios; asserts nothing.  Not yet: the same with a
# proxy adding 20 ms per request (issue 28's latency goals).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
export MEMDISK_PLUGIN=${MEMDISK_PLUGIN:-$src/build/nbdkit-memdisk-plugin.so}
export MEMDISK_TOOL=${MEMDISK_TOOL:-$src/build/memdisk-tool}
source "$here/../integration/lib.sh"
source "$here/../integration/persist_lib.sh"
source "$here/../integration/http_lib.sh"
require_commands curl nbdsh nbdcopy
rounds=${BENCH_ROUNDS:-3}
PAGE=32768

www=$MD_TMP/www
mkdir -p "$www"
if [[ -n ${1:-} ]]; then
  cp -- "$1" "$www/disk.snap"
else
  persist_make_image "$MD_TMP/disk.img" $((${BENCH_URL_MB:-64} * 1024 * 1024))
  "$MEMDISK_TOOL" convert "$MD_TMP/disk.img" "$www/disk.snap" >/dev/null
  rm -f "$MD_TMP/disk.img"
fi
http_nginx_start web "$www"
url=http://127.0.0.1:${HTTP_PORT[web]}/disk.snap
mapfile -t frames < <(/usr/bin/python3 "$here/../integration/persist_snapfile.py" frames "$www/disk.snap")
((${#frames[@]} >= 2)) || fail "the fixture needs 2 frames at least"
read -ra f <<<"${frames[1]}"
frame1_byte=$((f[3] * PAGE))

now () { date +%s.%N; }
median () { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

ready_null=() ready_url=() first=() cold_url=() cold_dl=()
for ((r = 0; r < rounds; r++)); do
  t=$(now); nbdkit_start null null 1G; ready_null+=("$(awk -v a="$t" -v b="$(now)" 'BEGIN { print b - a }')")
  nbdkit_stop null
  t=$(now); memdisk_start url snapshot="$url" snapshot-load-threads=0
  ready_url+=("$(awk -v a="$t" -v b="$(now)" 'BEGIN { print b - a }')")
  first+=("$(nbdsh -u "$(nbdkit_uri url)" -c "
import time
t = time.monotonic(); h.pread(4096, $frame1_byte); print(time.monotonic() - t)")")
  nbdkit_stop url

  t=$(now); memdisk_start cold snapshot="$url"
  nbdcopy -- "$(nbdkit_uri cold)" null:
  cold_url+=("$(awk -v a="$t" -v b="$(now)" 'BEGIN { print b - a }')")
  nbdkit_stop cold
  rm -f "$MD_TMP/local.snap"
  t=$(now); curl -sS -o "$MD_TMP/local.snap" "$url"
  memdisk_start local snapshot="$MD_TMP/local.snap" snapshot-readonly=true
  nbdcopy -- "$(nbdkit_uri local)" null:
  cold_dl+=("$(awk -v a="$t" -v b="$(now)" 'BEGIN { print b - a }')")
  nbdkit_stop local
done

size=$(stat -c %s "$www/disk.snap")
printf 'url-load: %s, %d bytes, %d frames, %d rounds (medians)\n' "$url" "$size" "${#frames[@]}" "$rounds"
a=$(median "${ready_url[@]}") b=$(median "${ready_null[@]}")
printf '  start to ready:        URL %.3f s, nbdkit null %.3f s, difference %+.0f ms\n' \
  "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { print (a - b) * 1000 }')"
printf '  first read of a frame not fetched: %.1f ms\n' "$(awk -v a="$(median "${first[@]}")" 'BEGIN { print a * 1000 }')"
a=$(median "${cold_url[@]}") b=$(median "${cold_dl[@]}")
printf '  whole disk, cold:      URL %.3f s, curl -o then lazy %.3f s, ratio %s (goal <= 1.0)\n' \
  "$a" "$b" "$(ratio "$a" "$b")"
