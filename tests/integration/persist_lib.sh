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
#                               (nbdkit -v logs one per successful save).
#   persist_wait_saves NAME N [SECONDS]
#                               wait until NAME.log holds at least N of them.
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

persist_has_saves ()
{
  (($(persist_saves "$1") >= $2))
}

persist_wait_saves ()
{
  local name=$1 count=$2 seconds=${3:-20}
  wait_until "$seconds" "$count save(s) in the log of nbdkit '$name'" \
    persist_has_saves "$name" "$count"
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

