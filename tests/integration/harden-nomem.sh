#!/usr/bin/env bash
# Out of memory at start: every allocation the plugin (and libzstd for it)
# makes while nbdkit starts with snapshot=FILE fails in turn, through
# tests/faultinject.  nbdkit must then refuse to start with a message that
# says so, with an exit status (never a signal), or, where the allocation
# was optional, start and serve exactly the saved disk.  With the default
# lazy load most allocations come after the start, when a frame is loaded:
# the request that needed it fails with ENOMEM and says so (and the frame
# is loaded at the next touch).  The sweep goes on until an allocation
# number is never reached.
#
# Sanitizer builds replace malloc, so the shim cannot fail it there: the
# test is skipped (77).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdcopy cmp
[[ -f ${MEMDISK_FAULTINJECT:-} ]] || fail "MEMDISK_FAULTINJECT is not set (run the tests with ctest)"
if [[ -n ${MEMDISK_SANITIZE:-} ]]; then
  echo "skipped: the sanitizer's malloc comes before the shim's"
  exit 77
fi

snap=$MD_TMP/disk.zst
size=$((4 * 1024 * 1024))
persist_make_image "$MD_TMP/disk.img" "$size"
memdisk_start setup "$size" snapshot="$snap"
nbdcopy -- "$MD_TMP/disk.img" "$(nbdkit_uri setup)" || fail "nbdcopy into the disk failed"
nbdkit_stop setup
persist_verify "$snap"

refused=0 served=0
for ((n = 1; ; n++)); do
  faults=$MD_TMP/faults.$n
  status=0
  err=$(LD_PRELOAD=$MEMDISK_FAULTINJECT MEMDISK_FAULT_PROGRAM=nbdkit \
        MEMDISK_FAULT=alloc:$n MEMDISK_FAULT_LOG=$faults \
        MD_OUT=$MD_TMP/out.img nbdkit -U - "$MEMDISK_PLUGIN" snapshot="$snap" snapshot-threads=2 \
        --run 'nbdcopy -- "$uri" "$MD_OUT"' </dev/null 2>&1 >/dev/null) || status=$?
  ((status < 128)) || fail "allocation $n failing: nbdkit died of signal $((status - 128)): $err"
  if [[ ! -s $faults ]]; then
    # Never reached: every allocation of a start has failed once.
    ((status == 0)) || fail "no allocation failed, yet nbdkit failed: $err"
    ((n > 10)) || fail "only $((n - 1)) allocations at start: is the shim working?"
    break
  fi
  injected=$(cat "$faults")
  if ((status == 0)); then
    cmp -s -- "$MD_TMP/disk.img" "$MD_TMP/out.img" ||
      fail "$injected: nbdkit started but does not serve the saved disk"
    served=$((served + 1))
  else
    # At start (nbdkit: error:), or, with the lazy load, in the request
    # that needed the page (nbdkit: memdisk.N: error:, and nbdcopy fails).
    grep -qE 'nbdkit: (memdisk\.[0-9]+: )?error: .*out of memory' <<<"$err" ||
      fail "$injected: nbdkit failed without saying it is out of memory: $err"
    refused=$((refused + 1))
  fi
  rm -f -- "$MD_TMP/out.img"
done
((refused > 0)) || fail "no failed allocation stopped nbdkit: the sweep tested nothing"
echo "ok: $((n - 1)) allocations failed in turn: $refused refused to start with a message," \
     "$served were optional and the disk was served intact"
