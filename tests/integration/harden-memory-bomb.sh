#!/usr/bin/env bash
# A snapshot bomb (issue 11): a file of a few hundred KiB whose frames of
# 64 MiB of highly compressible pages declare more memory than the machine
# has.  nbdkit refuses it before loading, giving both numbers, with a peak
# RSS of a few MiB, not gigabytes; under an RLIMIT_DATA the limit is the
# one named; snapshot-memory-check=false lets the load go ahead (and then
# run out of memory under that limit).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands prlimit tr
here=$(dirname "$0")
bomb () { /usr/bin/python3 "$here/persist_snapfile.py" bomb "$@"; }

# One zstd frame of 64 MiB of 0x01 bytes (2 KiB), repeated.
head -c 64M /dev/zero | tr '\0' '\1' >"$MD_TMP/ones"
zstd -q -o "$MD_TMP/ones.zst" -- "$MD_TMP/ones"
rm -f -- "$MD_TMP/ones"

available=$(( $(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo) * 1024 ))
frames=$(( available / (64 << 20) + 16 ))
bomb "$MD_TMP/bomb.snap" "$MD_TMP/ones.zst" "$frames"
declared=$(( frames * (64 << 20) ))
echo "bomb: $(stat -c %s "$MD_TMP/bomb.snap") bytes declaring $declared bytes of pages; MemAvailable $available"

# run_measured OUT ARG...: run ARG with stderr in OUT; print its exit
# status and its peak RSS in KiB (getrusage of the children).
run_measured ()
{
  local out=$1
  shift
  /usr/bin/python3 -c 'import resource, subprocess, sys
with open(sys.argv[1], "wb") as err:
    status = subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=err).returncode
print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$out" "$@"
}

for readonly in false true; do
  read -r status rss < <(run_measured "$MD_TMP/err" nbdkit -U - "$MEMDISK_PLUGIN" \
    snapshot="$MD_TMP/bomb.snap" snapshot-readonly=$readonly --run true)
  err=$(cat "$MD_TMP/err")
  ((status != 0 && status < 128)) || fail "nbdkit on the bomb: exit $status, expected a refusal: $err"
  for text in "$MD_TMP/bomb.snap holds $declared bytes of pages, more than the" \
              "bytes this server can have (MemAvailable in /proc/meminfo)" \
              "snapshot-memory-check=false"; do
    grep -qF -- "$text" <<<"$err" || fail "the refusal does not say '$text': $err"
  done
  # The number it gives is MemAvailable, give or take what changed since.
  said=$(sed -n 's/.*more than the \([0-9]*\) bytes.*/\1/p' <<<"$err")
  (( said > available / 2 && said < available * 2 )) ||
    fail "the refusal gives $said bytes; MemAvailable was $available"
  # A few MiB for nbdkit (more under sanitizers), never the declared pages.
  (( rss < 256 * 1024 )) || fail "nbdkit's peak RSS was $rss KiB while refusing the bomb"
  echo "refused (snapshot-readonly=$readonly), peak RSS $rss KiB"
done

# Under an RLIMIT_DATA of 512 MiB, a 1 GiB disk: refused, naming the
# limit.  (nbdkit 1.32 itself crashes below about 256 MiB: glibc reserves
# 64 MiB per thread's malloc arena.  Sanitizers reserve terabytes of
# shadow memory: no rlimits there.)
if [[ -z ${MEMDISK_SANITIZE:-} ]]; then
  bomb "$MD_TMP/small.snap" "$MD_TMP/ones.zst" 16
  status=0
  err=$(prlimit --data=$((512 << 20)) nbdkit -U - "$MEMDISK_PLUGIN" snapshot="$MD_TMP/small.snap" \
        --run true </dev/null 2>&1 >/dev/null) || status=$?
  ((status != 0 && status < 128)) || fail "nbdkit under RLIMIT_DATA: exit $status: $err"
  grep -qF "holds $((16 << 26)) bytes of pages" <<<"$err" || fail "under RLIMIT_DATA: $err"
  grep -qF "(RLIMIT_DATA)" <<<"$err" || fail "the refusal does not name RLIMIT_DATA: $err"

  # The override: the (eager) load is attempted, and fails for want of
  # memory.
  status=0
  err=$(prlimit --data=$((512 << 20)) nbdkit -U - "$MEMDISK_PLUGIN" snapshot="$MD_TMP/small.snap" \
        snapshot-memory-check=false snapshot-load=eager --run true </dev/null 2>&1 >/dev/null) || status=$?
  ((status != 0 && status < 128)) || fail "nbdkit with the check off under RLIMIT_DATA: exit $status: $err"
  grep -qF "bytes of pages, more than" <<<"$err" && fail "snapshot-memory-check=false still refused: $err"
  grep -qiF "out of memory" <<<"$err" || fail "with the check off, the load should run out of memory: $err"
fi

# A snapshot that fits loads as before.
memdisk_start ok 8M snapshot="$MD_TMP/fits.snap"
nbdkit_stop ok
memdisk_start ok snapshot="$MD_TMP/fits.snap"
nbdkit_stop ok

echo "ok: the bomb is refused before loading, with both numbers"
