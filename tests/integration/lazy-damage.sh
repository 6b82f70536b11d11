#!/usr/bin/env bash
# Damage found late: a snapshot whose structure is fine but whose middle
# frame fails its checksum.  An eager load refuses to start; a lazy load
# serves, and requests that touch that frame's pages fail with EIO and an
# error naming the file, the frame and its byte, while the other pages
# serve; no save writes a file without those pages (the save fails, FILE
# is kept); memdisk-tool status counts the damaged frame; the background
# loader reports it and finishes the rest.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh sha256sum

here=$(dirname "$0")
img=$MD_TMP/disk.img
snap=$MD_TMP/disk.snap
snapfile() { /usr/bin/python3 "$here/persist_snapfile.py" "$@"; }
PAGE=32768

persist_make_image "$img" $((64 * 1024 * 1024))
"$MEMDISK_TOOL" convert "$img" "$snap" >/dev/null
mapfile -t frames < <(snapfile frames "$snap")
((${#frames[@]} >= 3)) || fail "expected at least 3 frames, got ${#frames[@]}"
k=$((${#frames[@]} / 2))
read -r _ offset _ first _ <<<"${frames[$k]}"
read -r _ _ _ before_first _ <<<"${frames[$((k - 1))]}"
snapfile damage-frame "$snap" "$k"
sum=$(sha256sum <"$snap")
where="frame $k at byte $offset"

persist_expect_refusal snapshot="$snap" snapshot-load=eager -- "$snap" "$where" "checksum mismatch"

memdisk_start lazy -v snapshot="$snap" snapshot-load-threads=0
# The frame before serves, byte for byte.
nbdsh -u "$(nbdkit_uri lazy)" -c "
import sys
with open('$img', 'rb') as f:
    f.seek($before_first * $PAGE)
    assert h.pread($PAGE, $before_first * $PAGE) == f.read($PAGE)
"
# The damaged frame fails with EIO, every time.
for _ in 1 2; do
  nbdsh -u "$(nbdkit_uri lazy)" -c "
try:
    h.pread(512, $first * $PAGE + 100)
except nbd.Error as e:
    assert e.errno == 'EIO', e
else:
    raise AssertionError('a read of a damaged frame succeeded')
try:
    h.pwrite(b'x' * 10, $first * $PAGE)
except nbd.Error as e:
    assert e.errno == 'EIO', e
else:
    raise AssertionError('a write to a damaged frame succeeded')
"
done
grep -qF "error: snapshot $snap: $where: checksum mismatch" "$(nbdkit_log lazy)" ||
  fail "the log does not name the file, frame and byte: $(grep error "$(nbdkit_log lazy)" | head -3)"
[[ $(persist_status "$snap" 'j["load-progress"]["frames-damaged"]') == 1 ]] ||
  fail "status does not count the damaged frame"
"$MEMDISK_TOOL" status "$snap" | grep -q "1 damaged frame" || fail "status does not show the damaged frame"

# A save fails, naming the frame; FILE is kept.
nbdsh -u "$(nbdkit_uri lazy)" -c "h.pwrite(b'y' * 10, $before_first * $PAGE)"
persist_save_fails "$snap" "$where" "the file is untouched"
[[ $(sha256sum <"$snap") == "$sum" ]] || fail "a failed save changed the file"
# So does the exit save.
nbdkit_stop lazy
grep -q "exit: the changes since the load .* are not saved in $snap: .*$where" "$(nbdkit_log lazy)" ||
  fail "the failed exit save is not reported"
[[ $(sha256sum <"$snap") == "$sum" ]] || fail "the exit save changed the file"

# The background loader reports it and loads the others.
memdisk_start lazy -v snapshot="$snap"
persist_wait_status "$snap" 'j["load"] == "loaded"' 60
[[ $(persist_status "$snap" 'j["load-progress"]["frames-loaded"]') == $((${#frames[@]} - 1)) ]] ||
  fail "the background load did not load every other frame"
grep -qF "damaged frame(s)" "$(nbdkit_log lazy)" || fail "the background load does not report the damage"
nbdkit_stop lazy
echo "ok: a damaged frame fails its requests and every save, and nothing else"
