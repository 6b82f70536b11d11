# Helpers shared by the persistence tests (persist-*.sh).  Source it after
# lib.sh:
#
#   set -euo pipefail
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/persist_lib.sh"
#
#   persist_make_image FILE SIZE
#                               a raw image of SIZE bytes: random runs
#                               separated by holes (each call different).
#   persist_snapshot_image SNAP OUT
#                               the disk saved in SNAP as a raw image OUT,
#                               read by the plugin itself (snapshot-readonly,
#                               so SNAP and its folder are left alone).
#   persist_disk_image NAME OUT the running server NAME's disk into OUT.
#   persist_verify SNAP         fail unless SNAP passes `zstd -t` and, once
#                               the tool is built, `memdisk-tool verify`.
#   persist_temporaries SNAP    print the temporaries a save of SNAP leaves
#                               (.NAME.tmp.XXXXXX in its folder), one a line.
#   persist_saves NAME          print how many "saved" lines NAME.log holds
#                               (nbdkit -v logs one per successful save);
#                               for checks after the fact, never for waiting.
#   persist_status FILE EXPR    evaluate the Python expression EXPR on the
#                               object j of `memdisk-tool status --json FILE`.
#   persist_save FILE           `memdisk-tool save FILE`: returns once the
#                               save (begun after the call) is in place;
#                               fails the test if it failed.
#   persist_save_fails FILE TEXT...
#                               `memdisk-tool save FILE` must exit 1 with
#                               every TEXT in its message.
#   persist_signal_save NAME FILE [SECONDS]
#                               SIGUSR1 to NAME, and wait until a save ended
#                               after it (counted by the server, from before
#                               the signal), well or not.
#   persist_wait_status FILE EXPR [SECONDS]
#                               wait until persist_status FILE EXPR prints
#                               True.
#   persist_file_id FILE        print FILE's inode, size and mtime (ns):
#                               a save replaces the file, changing the inode.
#   persist_mount DIR MOUNT-ARG...
#                               mkdir DIR and `mount MOUNT-ARG... DIR` (root
#                               only); unmounted when the test exits.
#   persist_expect_refusal ARG... -- TEXT...
#                               nbdkit memdisk ARG must refuse to start: a
#                               non-zero exit that is not a crash, with every
#                               TEXT in its messages.

require_commands nbdkit nbdcopy zstd cmp
[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL is not set (run the tests with ctest)"

persist_make_image ()
{
  local file=$1 size=$2 offset=0 len
  rm -f "$file"
  truncate -s "$size" "$file"
  # Runs of 4 KiB .. 1 MiB of data, then a hole of 0 .. 2 MiB: pages that
  # are full, partly filled, and absent.
  while ((offset < size)); do
    len=$(( (RANDOM % 256 + 1) * 4096 ))
    ((offset + len <= size)) || len=$((size - offset))
    dd if=/dev/urandom of="$file" bs=4096 count=$((len / 4096)) \
       seek=$((offset / 4096)) conv=notrunc status=none iflag=fullblock
    offset=$((offset + len + (RANDOM % 513) * 4096))
  done
}

persist_snapshot_image ()
{
  local snap=$1 out=$2
  rm -f "$out"
  MD_OUT=$out nbdkit -U - "$MEMDISK_PLUGIN" snapshot="$snap" snapshot-readonly=true \
    --run 'nbdcopy -- "$uri" "$MD_OUT"' </dev/null ||
    fail "could not read the disk saved in $snap"
}

persist_disk_image ()
{
  rm -f "$2"
  nbdcopy -- "$(nbdkit_uri "$1")" "$2" || fail "could not read the disk of nbdkit '$1'"
}

persist_verify ()
{
  local snap=$1 out
  out=$(zstd -t -q -- "$snap" 2>&1) || fail "zstd -t $snap failed: $out"
  if [[ -x ${MEMDISK_TOOL:-} ]]; then
    out=$("$MEMDISK_TOOL" verify "$snap" 2>&1) || fail "memdisk-tool verify $snap failed: $out"
  fi
}

persist_temporaries ()
{
  local folder name
  folder=$(dirname -- "$1")
  name=$(basename -- "$1")
  find "$folder" -maxdepth 1 -name ".$name.tmp.??????" -printf '%f\n'
}

persist_saves ()
{
  grep -c ': debug: saved ' "$(nbdkit_log "$1")" || true
}

persist_status ()
{
  local out
  out=$("$MEMDISK_TOOL" status --json "$1") || fail "memdisk-tool status $1 failed"
  /usr/bin/python3 -c 'import json, sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$out" "$2"
}

persist_save ()
{
  local out
  out=$("$MEMDISK_TOOL" save "$1" 2>&1) || fail "memdisk-tool save $1 failed: $out"
}

persist_save_fails ()
{
  local file=$1 out status=0 text
  shift
  out=$("$MEMDISK_TOOL" save "$file" 2>&1) || status=$?
  ((status == 1)) || fail "memdisk-tool save $file: exit $status, expected 1: $out"
  for text in "$@"; do
    [[ $out == *"$text"* ]] || fail "memdisk-tool save $file: the error does not mention '$text': $out"
  done
}

persist_status_true () { [[ $(persist_status "$1" "$2") == True ]]; }

persist_wait_status ()
{
  wait_until "${3:-20}" "$2 in the status of $1" persist_status_true "$1" "$2"
}

persist_signal_save ()
{
  local name=$1 file=$2 before
  before=$(persist_status "$file" 'j["saves"]')
  nbdkit_signal "$name" USR1
  persist_wait_status "$file" "j['saves'] > $before" "${3:-60}"
}

persist_file_id ()
{
  stat -c '%i %s %.9Y' -- "$1"
}

persist_expect_refusal ()
{
  local args=() text status=0 err
  while [[ $1 != -- ]]; do args+=("$1"); shift; done
  shift
  err=$(nbdkit -U - "$MEMDISK_PLUGIN" "${args[@]}" --run true </dev/null 2>&1 >/dev/null) ||
    status=$?
  ((status != 0)) || fail "nbdkit memdisk ${args[*]} started; it should have refused"
  ((status < 128)) || fail "nbdkit memdisk ${args[*]} crashed (exit $status): $err"
  for text in "$@"; do
    grep -qF -- "$text" <<<"$err" ||
      fail "nbdkit memdisk ${args[*]}: the error does not mention '$text': $err"
  done
}

PERSIST_MOUNTS=()

persist_mount ()
{
  local dir=$1
  shift
  ((EUID == 0)) || fail "this test mounts file systems: run it as root"
  mkdir -p -- "$dir"
  mount "$@" "$dir" || fail "mount $* $dir failed"
  PERSIST_MOUNTS=("$dir" "${PERSIST_MOUNTS[@]}")
  trap persist_cleanup EXIT
}

# Unmount (lazily: a server may still be running), then lib.sh's cleanup,
# which must see the test's exit status in $? (and without errexit, which
# would end the trap right there when the status is a failure).
persist_cleanup ()
{
  local status=$? dir
  set +e
  for dir in "${PERSIST_MOUNTS[@]}"; do
    umount -l -- "$dir" 2>/dev/null
  done
  (exit "$status")
  md_cleanup
}

# persist_same_as_full FILE LEVEL: FILE's header, data frames (and padding)
# and index are byte for byte those of `memdisk-tool convert -O snapshot`
# of FILE at LEVEL (a full save of the same disk), its digest the same.
persist_same_as_full () {
  "$MEMDISK_TOOL" convert -f -O snapshot -l "$2" "$1" "$MD_TMP/full.snap" || fail "convert of $1 failed"
  /usr/bin/python3 - "$1" "$MD_TMP/full.snap" <<'PY' || fail "$1 is not what a full save writes"
import struct, sys
def parts(path):
    d = open(path, "rb").read()
    footer = len(d) - 56
    meta, index = struct.unpack_from("<Q", d, footer + 16)[0], struct.unpack_from("<Q", d, footer + 32)[0]
    return d[:meta], d[index:footer]        # header + data frames, index frame
a, b = parts(sys.argv[1]), parts(sys.argv[2])
if a[0] != b[0]:
    sys.exit("the data frames differ")
if a[1] != b[1]:
    sys.exit("the indexes differ")
PY
  [[ $("$MEMDISK_TOOL" info --json "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])') == \
     $("$MEMDISK_TOOL" info --json "$MD_TMP/full.snap" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])') ]] ||
    fail "$1 and its full save have different digests"
}
