#!/usr/bin/env bash
# Incremental saves through the plugin: a disk written, zeroed and trimmed
# at random offsets by nbdsh, saved by `memdisk-tool save` round after
# round; after each save the file's header, data frames and index are
# byte for byte those of `memdisk-tool convert -O snapshot` of the file
# itself at the same level (a full save of the same disk), its digest the
# same, its pages the disk's (read back through NBD), and `status --json`
# counts the regions copied and compressed: the first save of a new disk
# is full, later ones copy what did not change.  Then the server is
# restarted on the file, loading it lazily and then eagerly: its first
# save copies from the loaded file (from a lazily loaded one without
# loading any frame for the save).  Then the file is damaged, truncated,
# replaced behind the server's back: the next save is full and good
# (replaced: it still copies from the file it holds).  A lazily loaded
# file damaged before the first save: the save fails, naming the frame.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
source "$(dirname "$0")/incremental_lib.sh"
require_commands nbdsh
[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL is not set (run the tests with ctest)"
tool () { "$MEMDISK_TOOL" "$@"; }
json () { tool status --json "$1" | /usr/bin/python3 -c "import json, sys; j = json.load(sys.stdin); print($2)"; }

snap=$MD_TMP/disk.snap
export SOURCE_DATE_EPOCH=1700000000

# change URI SEED COUNT: COUNT random writes (random and repeated bytes),
# zeroes and trims of up to 200 KiB over the 96 MiB disk.
change () {
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import random, sys
import nbd
uri, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
h = nbd.NBD()
h.connect_uri(uri)
size = h.get_size()
for _ in range(count):
    n = rnd.randint(1, 200 * 1024)
    off = rnd.randrange(0, size - n)
    kind = rnd.randrange(4)
    if kind == 0:
        h.pwrite(rnd.randbytes(n), off)
    elif kind == 1:
        h.pwrite(bytes([rnd.randrange(1, 256)]) * n, off)
    elif kind == 2:
        h.zero(n, off)
    else:
        h.trim(n, off)
h.shutdown()
PY
}

memdisk_start disk -v 96M snapshot="$snap" snapshot-threads=2 snapshot-level=3
uri=$(nbdkit_uri disk)
change "$uri" 1 400
tool save "$snap" >/dev/null || fail "save 1 failed"
same_as_full "$snap"
[[ $(json "$snap" 'j["last-save"]["regions-copied"]') == 0 ]] || fail "the first save copied regions"
copied_total=0
for round in 2 3 4 5 6 7; do
  change "$uri" "$round" $((round % 3 + 1))
  tool save "$snap" >/dev/null || fail "save $round failed"
  same_as_full "$snap"
  holds_disk "$snap" "$uri"
  copied=$(json "$snap" 'j["last-save"]["regions-copied"]')
  compressed=$(json "$snap" 'j["last-save"]["regions-compressed"]')
  ((compressed <= 2 * (round % 3 + 1) + 2)) || fail "save $round compressed $compressed regions for $((round % 3 + 1)) changes"
  copied_total=$((copied_total + copied))
done
((copied_total > 0)) || fail "no save copied a region"
grep -qE "debug: saved $snap \(request\) in .*, (0 regions cloned, [1-9][0-9]* copied|[1-9][0-9]* regions cloned, 0 copied), [0-9]+ compressed( \(the file system cannot clone: [^)]*\))?$" \
  "$(nbdkit_log disk)" || fail "no save logged the regions it copied"
nbdkit_stop disk

# Restarts: the loaded file is the first save's source.  Lazily loaded
# (the default), with no background loader: the frames of unchanged
# regions are copied from the file whether loaded or not, and the save
# loads none (a client's partial write loads the frame it touches, and
# compresses that region).  Then loaded eagerly.
for load in lazy eager; do
  name=disk-$load
  memdisk_start "$name" -v snapshot="$snap" snapshot-threads=2 snapshot-level=3 \
    snapshot-load=$load snapshot-load-threads=0
  uri=$(nbdkit_uri "$name")
  change "$uri" 20 1
  [[ $load == eager ]] || loaded=$(json "$snap" 'j["load-progress"]["frames-loaded"]')
  tool save "$snap" >/dev/null || fail "the save after a restart ($load load) failed"
  copied=$(json "$snap" 'j["last-save"]["regions-copied"]')
  compressed=$(json "$snap" 'j["last-save"]["regions-compressed"]')
  ((copied > 0)) || fail "the save after a restart ($load load) copied nothing"
  ((compressed <= 4)) || fail "the save after a restart ($load load) compressed $compressed regions for one change"
  if [[ $load == lazy ]]; then
    # The save loads the frames of the regions it compresses (a change
    # to a hole of a region leaves its stored pages in the file), never
    # one it copies.
    now=$(json "$snap" 'j["load-progress"]["frames-loaded"]')
    frames=$(json "$snap" 'j["load-progress"]["frames"]')
    ((now <= loaded + compressed && now + copied <= frames)) ||
      fail "the save after a lazy load loaded frames it copied: $loaded loaded before, $now after, $copied copied, $compressed compressed, $frames frames"
  fi
  same_as_full "$snap"
  holds_disk "$snap" "$uri"
  [[ $load == eager ]] || nbdkit_stop "$name"
done

# Damage inside the first data frame (format 2.1: from byte 4096), in place
# (the inode the server holds):
# the next save must not build on it.
printf 'XXXX' | dd of="$snap" bs=1 seek=4196 conv=notrunc status=none
change "$uri" 21 1
tool save "$snap" >/dev/null || fail "the save after damage failed"
tool verify "$snap" >/dev/null || fail "the save after damage is not a good file"
same_as_full "$snap"
holds_disk "$snap" "$uri"
[[ $(json "$snap" 'j["last-save"]["regions-copied"]') == 0 ]] || fail "a save copied from a damaged file"
grep -q "a full save: the previous file failed a check" "$(nbdkit_log disk-eager)" ||
  fail "the log does not say why the save was full"

# Truncated in place: the same.
truncate -s 1000 "$snap"
change "$uri" 22 1
tool save "$snap" >/dev/null || fail "the save after a truncation failed"
same_as_full "$snap"
holds_disk "$snap" "$uri"
[[ $(json "$snap" 'j["last-save"]["regions-copied"]') == 0 ]] || fail "a save copied from a truncated file"

# Renamed away and replaced by another file: the server reads the file it
# wrote through its own descriptor, and copies from it.
mv -- "$snap" "$MD_TMP/moved.snap"
printf 'not a snapshot' >"$snap"
change "$uri" 23 1
tool save "$snap" >/dev/null || fail "the save after a replacement failed"
same_as_full "$snap"
holds_disk "$snap" "$uri"
(($(json "$snap" 'j["last-save"]["regions-copied"]') > 0)) || fail "the save after a replacement copied nothing"
rm -- "$MD_TMP/moved.snap"
nbdkit_stop disk-eager

# A lazily loaded file damaged behind the server's back before its first
# save, in a frame no client touched: the copy finds it, the full save
# tried instead meets it too, and the save fails naming the frame; the
# file is left as it is.
memdisk_start disk-damaged -v snapshot="$snap" snapshot-level=3 snapshot-load-threads=0
printf 'XXXX' | dd of="$snap" bs=1 seek=4196 conv=notrunc status=none
cp -- "$snap" "$MD_TMP/damaged.snap"
nbdsh -u "$(nbdkit_uri disk-damaged)" -c 'h.pwrite(b"x", 95 * 1024 * 1024)' || fail "the client write failed"
if out=$(tool save "$snap" 2>&1); then
  fail "a save from a damaged lazily loaded file succeeded: $out"
fi
[[ $out == *"frame 0 at byte"* ]] || fail "the failed save does not name the damaged frame: $out"
cmp -s -- "$snap" "$MD_TMP/damaged.snap" || fail "the failed save changed the file"
[[ $(json "$snap" 'j["failed-saves"]') == 1 ]] || fail "the status does not count the failed save"
nbdkit_stop disk-damaged || true
echo PASS
