#!/usr/bin/env bash
# Issue 25 item 1: `memdisk-tool reset FILE`.  After random writes, zeroes
# and trims, the served disk equals a fresh load of FILE (nbdcopy to raw,
# cmp with `memdisk-tool convert FILE -O raw`) at several page sizes: for
# a lazily loaded base with frames never loaded, an eager base, after a
# save (the base is the new file), and a disk with no file (zeros).  A
# reset never touches FILE, also when the server is killed -9 during it;
# a reset asked for during a save waits for it and then goes back to the
# file that save wrote; with no server the tool exits 2.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh nbdcopy

[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL=${MEMDISK_TOOL:-} is not built"
tool () { "$MEMDISK_TOOL" "$@"; }

size=$((24 * 1024 * 1024))
persist_make_image "$MD_TMP/disk.img" "$size"

# scribble NAME SEED: scattered 64 KiB writes, zeroes and trims.
scribble ()
{
  nbdsh -u "$(nbdkit_uri "$1")" -c "
import random
r = random.Random($2)
for i in range(60):
    off = r.randrange(0, $size - 65536)
    if i % 3 == 0:
        h.pwrite(bytes([r.randrange(1, 256)]) * 65536, off)
    elif i % 3 == 1:
        h.zero(65536 - 100, off + 7)
    else:
        h.trim(65536, off)
h.flush()
" || fail "nbdsh could not change the disk of '$1'"
}

# served_is NAME IMAGE WHAT: the disk NAME serves is IMAGE.
served_is ()
{
  persist_disk_image "$1" "$MD_TMP/served.img"
  cmp -- "$2" "$MD_TMP/served.img" >/dev/null || fail "$3: the disk served is not the base"
}

# file_raw FILE: FILE as a raw image, in $MD_TMP/file.img.
file_raw ()
{
  rm -f -- "$MD_TMP/file.img"
  tool convert -O raw "$1" "$MD_TMP/file.img" || fail "memdisk-tool convert $1 failed"
}

reset_ok ()
{
  local out
  out=$(tool reset "$1" 2>&1) || fail "memdisk-tool reset $1 failed: $out"
  [[ $out == "reset "*" changed regions put back" ]] || fail "memdisk-tool reset said: $out"
}

for page in 4096 32768 1048576; do
  snap=$MD_TMP/p$page.snap
  rm -f -- "$snap"
  tool convert -O snapshot --page-size="$page" "$MD_TMP/disk.img" "$snap" || fail "convert failed"
  file_raw "$snap"
  sum=$(sha256sum <"$snap")

  # Lazy, no background loader: most frames are never loaded.
  memdisk_start lazy -v snapshot="$snap" snapshot-load-threads=0
  scribble lazy "$page"
  reset_ok "$snap"
  served_is lazy "$MD_TMP/file.img" "lazy base, page size $page"
  scribble lazy $((page + 1))
  reset_ok "$snap"
  served_is lazy "$MD_TMP/file.img" "lazy base, page size $page, second reset"
  nbdkit_stop lazy
  [[ $(sha256sum <"$snap") == "$sum" ]] || fail "page size $page: a reset changed FILE"
  grep -q 'up to date, not saved' "$(nbdkit_log lazy)" ||
    fail "page size $page: the disk, reset, still counted as changed at exit"

  # Eager.
  memdisk_start eager snapshot="$snap" snapshot-load=eager
  scribble eager $((page + 2))
  reset_ok "$snap"
  served_is eager "$MD_TMP/file.img" "eager base, page size $page"
  nbdkit_stop eager
done

# During the background load (its threads at work): the frames reset
# are loaded again when touched, the others as the load goes on.
snap=$MD_TMP/p4096.snap
file_raw "$snap"
memdisk_start loading snapshot="$snap" snapshot-load-threads=2
scribble loading 77
reset_ok "$snap"
served_is loading "$MD_TMP/file.img" "a reset during the lazy load"
nbdkit_stop loading

# After a save the base is the file it wrote.
snap=$MD_TMP/p32768.snap
memdisk_start saved snapshot="$snap" snapshot-load-threads=0
scribble saved 1
persist_save "$snap"
file_raw "$snap"
scribble saved 2
reset_ok "$snap"
served_is saved "$MD_TMP/file.img" "after a save"

# A reset asked for during a save waits for it and goes back to its file.
scribble saved 3
tool save "$snap" >/dev/null &
saving=$!
reset_ok "$snap"
wait "$saving" || fail "the save beside the reset failed"
file_raw "$snap"
served_is saved "$MD_TMP/file.img" "a reset during a save"
nbdkit_stop saved

# A disk without a file goes back to zeros (and still makes FILE at exit).
new=$MD_TMP/new.snap
memdisk_start new 8M snapshot="$new"
nbdsh -u "$(nbdkit_uri new)" -c 'h.pwrite(b"x" * 100000, 12345)' || fail "nbdsh failed"
reset_ok "$new"
truncate -s 8M "$MD_TMP/zeros.img"
served_is new "$MD_TMP/zeros.img" "a disk without a file"
nbdkit_stop new
[[ -f $new ]] || fail "a new disk, reset, was not saved at exit"

# kill -9 during a reset: FILE is unchanged and verifies.
snap=$MD_TMP/p4096.snap
sum=$(sha256sum <"$snap")
memdisk_start killed snapshot="$snap"
scribble killed 9
tool reset "$snap" >/dev/null 2>&1 &
resetting=$!
nbdkit_signal killed KILL
wait "$resetting" || true
nbdkit_wait_exit killed
[[ $(sha256sum <"$snap") == "$sum" ]] || fail "kill -9 during a reset changed FILE"
persist_verify "$snap"

# No server: exit 2.
status=0
out=$(tool reset "$snap" 2>&1) || status=$?
((status == 2)) || fail "memdisk-tool reset with no server: exit $status, expected 2: $out"

echo "ok: reset goes back to the file last loaded or saved, never touching it"
