#!/usr/bin/env bash
# snapshot-load=lazy: the server serves before its frames are loaded.
# With snapshot-load-threads=0 nothing loads in the background, so every
# check below meets frames still in the file, deterministically:
#   - block status before anything is loaded (nbdinfo --map = the file's map),
#     and reads of holes load nothing;
#   - a partial write, a partial zero and a whole-page trim of pages not
#     loaded keep the bytes they do not touch;
#   - a save (memdisk-tool save) while frames are still in the file is the
#     disk at its instant;
#   - the whole disk read (nbdcopy) equals the image, and the differential
#     test against nbdkit memory filled with the same image agrees;
#   - kill -9 while loading leaves FILE unchanged;
#   - with background threads the load ends ("loaded") and the disk is the
#     image.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh nbdinfo sha256sum

here=$(dirname "$0")
img=$MD_TMP/disk.img
snap=$MD_TMP/disk.snap
snapfile() { /usr/bin/python3 "$here/persist_snapfile.py" "$@"; }
frames_loaded() { persist_status "$snap" 'j["load-progress"]["frames-loaded"]'; }
PAGE=32768

persist_make_image "$img" $((96 * 1024 * 1024 + 12345))
"$MEMDISK_TOOL" convert "$img" "$snap" >/dev/null
mapfile -t frames < <(snapfile frames "$snap")
((${#frames[@]} >= 6)) || fail "expected at least 6 frames, got ${#frames[@]}"
# first_page K: the first page of frame K.
first_page() { local f; read -ra f <<<"${frames[$1]}"; echo "${f[3]}"; }

memdisk_start lazy snapshot="$snap" snapshot-load-threads=0
[[ $(persist_status "$snap" 'j["load"]') == loading ]] || fail "status does not say loading"
[[ $(frames_loaded) == 0 ]] || fail "frames were loaded before any request"
[[ $(persist_status "$snap" 'j["load-progress"]["frames"]') == "${#frames[@]}" ]] ||
  fail "status counts the wrong number of frames"
# Every allocated byte is still in the file, none in memory.
[[ $(persist_status "$snap" '[j["resident-size"], j["in-file-size"] == j["allocated-size"] == j["load-progress"]["bytes-total"], j["allocator"]]') == "[0, True, 'sparse']" ]] ||
  fail "status does not show the pages in the file: $("$MEMDISK_TOOL" status "$snap")"

# Block status before anything is loaded: exactly the file's map.
nbdinfo --map "$(nbdkit_uri lazy)" | awk '{ print $1, $2, ($3 == 0 ? "data" : "hole") }' >"$MD_TMP/map.served"
"$MEMDISK_TOOL" map "$snap" | awk 'NR > 1 { print $1, $2, $3 }' >"$MD_TMP/map.file"
cmp -s "$MD_TMP/map.served" "$MD_TMP/map.file" ||
  fail "block status during the load differs from the file's map: $(diff "$MD_TMP/map.served" "$MD_TMP/map.file" | head)"
# A read of a hole loads nothing.
hole=$(awk '$3 == "hole" { print $1; exit }' "$MD_TMP/map.file")
[[ -n $hole ]] || fail "the image has no hole"
nbdsh -u "$(nbdkit_uri lazy)" -c "assert h.pread(4096, $hole) == bytes(4096)"
[[ $(frames_loaded) == 0 ]] || fail "block status or a read of a hole loaded a frame"
# Changes to pages not loaded yet, mirrored into the image.
p2=$(first_page 2) p3=$(first_page 3) p4=$(first_page 4)
nbdsh -u "$(nbdkit_uri lazy)" -c "
h.pwrite(b'\xab' * 100, $p2 * $PAGE + 1000)
h.zero(10, $p3 * $PAGE + 7)
h.trim($PAGE, $p4 * $PAGE)
"
/usr/bin/python3 - "$img" <<EOF
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek($p2 * $PAGE + 1000); f.write(b'\xab' * 100)
    f.seek($p3 * $PAGE + 7); f.write(bytes(10))
    f.seek($p4 * $PAGE); f.write(bytes($PAGE))
EOF
[[ $(frames_loaded) == 3 ]] || fail "expected 3 frames loaded by the changes, $(frames_loaded) are"
# A read of data loads its frame: its pages move from the file to memory.
nbdsh -u "$(nbdkit_uri lazy)" -c "h.pread(4096, $(first_page 0) * $PAGE)"
[[ $(persist_status "$snap" '[j["resident-size"] > 0, j["in-file-size"] == j["load-progress"]["bytes-total"] - j["load-progress"]["bytes-loaded"], j["resident-size"] + j["in-file-size"] == j["allocated-size"]]') == "[True, True, True]" ]] ||
  fail "status after a frame's load: $("$MEMDISK_TOOL" status "$snap")"
"$MEMDISK_TOOL" status "$snap" | grep -q "^memory: .* resident, .* still in the file (allocator=sparse)$" ||
  fail "memdisk-tool status does not show the memory line: $("$MEMDISK_TOOL" status "$snap")"

# A save while the other frames are still in the file.
before=$(sha256sum <"$snap")
persist_save "$snap"
[[ $(sha256sum <"$snap") != "$before" ]] || fail "the save did not replace the file"
persist_verify "$snap"
persist_snapshot_image "$snap" "$MD_TMP/saved.img"
cmp "$MD_TMP/saved.img" "$img" || fail "the save during the load is not the disk"

# The save decoded the frames still in the file (and keeps them).
[[ $(persist_status "$snap" 'j["load"]') == loaded ]] || fail "the save left frames in the file"
nbdkit_stop lazy

# The whole disk, read while every frame is still in the file.
memdisk_start lazy snapshot="$snap" snapshot-load-threads=0
[[ $(frames_loaded) == 0 ]] || fail "frames were loaded before any request"
nbdcopy "$(nbdkit_uri lazy)" "$MD_TMP/read.img"
cmp "$MD_TMP/read.img" "$img" || fail "nbdcopy during the load differs from the image"
[[ $(persist_status "$snap" 'j["load"]') == loaded ]] || fail "status does not say loaded"
nbdkit_stop lazy

# The differential test, from a disk whose frames are all in the file,
# against nbdkit memory holding the same image.
size=$(stat -c %s "$img")
memdisk_start lazy snapshot="$snap" snapshot-load-threads=0 snapshot-readonly=true
nbdkit_start memory memory "$size"
nbdcopy "$img" "$(nbdkit_uri memory)"
/usr/bin/python3 "$here/differential.py" 1 3000 "$(nbdkit_uri lazy)" "$(nbdkit_uri memory)" ||
  fail "a lazily loaded memdisk and nbdkit memory disagree"
nbdkit_stop lazy
nbdkit_stop memory

# kill -9 while frames are still in the file, after a write: FILE unchanged.
memdisk_start lazy snapshot="$snap" snapshot-load-threads=0
nbdsh -u "$(nbdkit_uri lazy)" -c "h.pwrite(b'\x01' * 512, $p2 * $PAGE)"
before=$(sha256sum <"$snap")
nbdkit_signal lazy KILL
nbdkit_wait_exit lazy
[[ $(sha256sum <"$snap") == "$before" ]] || fail "kill -9 during the load changed the file"

# With background threads (the default): the load ends, the disk is the image.
memdisk_start lazy snapshot="$snap"
persist_wait_status "$snap" 'j["load"] == "loaded"' 60
[[ $(frames_loaded) == "${#frames[@]}" ]] || fail "loaded, but not every frame counted"
nbdcopy "$(nbdkit_uri lazy)" "$MD_TMP/read.img"
cmp "$MD_TMP/read.img" "$img" || fail "the disk after the background load differs from the image"
nbdkit_stop lazy
echo "ok: lazy load serves, changes, saves and copies before its frames are loaded"
