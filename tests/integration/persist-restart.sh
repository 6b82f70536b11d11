#!/usr/bin/env bash
# A disk survives restarts: data written by qemu-img and nbdcopy is saved
# when nbdkit stops (SIGTERM, SIGINT, and SIGTERM with a client still
# connected), the file verifies, and a server started again from the file
# alone (no size=) serves the same size and the same bytes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdinfo qemu-img

snap=$MD_TMP/disk.zst
# Not a multiple of the page size: the exact size must survive.
size=$((40 * 1024 * 1024 + 3 * 4096))

# expect_disk NAME IMAGE: server NAME serves exactly IMAGE.
expect_disk ()
{
  local got
  got=$(nbdinfo --size "$(nbdkit_uri "$1")") || fail "nbdinfo --size failed"
  [[ $got == "$(stat -c %s "$2")" ]] ||
    fail "nbdkit '$1' serves $got bytes, expected $(stat -c %s "$2")"
  persist_disk_image "$1" "$MD_TMP/readback.img"
  cmp -- "$2" "$MD_TMP/readback.img" || fail "nbdkit '$1' does not serve the bytes of $2"
}

# --- SIGTERM: written with qemu-img convert, saved at exit ---
persist_make_image "$MD_TMP/gen1.img" "$size"
memdisk_start disk -v "$size" snapshot="$snap"
[[ ! -e $snap ]] || fail "$snap exists before anything was saved"
qemu-img convert -n -f raw -O raw "$MD_TMP/gen1.img" "$(nbdkit_uri disk)" ||
  fail "qemu-img convert into the disk failed"
nbdkit_stop disk
[[ -f $snap ]] || fail "SIGTERM did not save $snap"
persist_verify "$snap"
# One line per save, with what a user wants to know about it.
# The first save of a new disk is a full one, and says so.
grep -qE "debug: saved $snap \(exit\) in [0-9]+\.[0-9]+ s: [0-9]+ bytes allocated, [0-9]+ bytes in the file, ratio [0-9]+\.[0-9]+, 0 regions cloned, 0 copied, [0-9]+ compressed \(a full save: no previous file\)$" \
  "$(nbdkit_log disk)" || fail "the exit save did not log its one line"
(($(persist_saves disk) == 1)) || fail "one stop, but $(persist_saves disk) saves logged"

# Disk images can hold secrets: a new file is the owner's alone.
[[ $(stat -c %a "$snap") == 600 ]] || fail "a new $snap has mode $(stat -c %a "$snap"), expected 600"

memdisk_start disk -v snapshot="$snap"
expect_disk disk "$MD_TMP/gen1.img"
# A mode the user chose survives the saves that replace the file.
chmod 0640 "$snap"

# --- SIGINT: written with nbdcopy over the loaded disk ---
persist_make_image "$MD_TMP/gen2.img" "$size"
nbdcopy -- "$MD_TMP/gen2.img" "$(nbdkit_uri disk)" || fail "nbdcopy into the disk failed"
nbdkit_signal disk INT
nbdkit_wait_exit disk
persist_verify "$snap"
[[ $(stat -c %a "$snap") == 640 ]] || fail "saving replaced mode 640 of $snap with $(stat -c %a "$snap")"
memdisk_start disk -v snapshot="$snap"
expect_disk disk "$MD_TMP/gen2.img"

# --- SIGTERM while a client is still connected ---
# The client writes, waits for the write to be acknowledged, says so in a
# file and stays connected.  nbdkit must end the connection, then save:
# what was acknowledged is in the file.
cp -- "$MD_TMP/gen2.img" "$MD_TMP/gen3.img"
head -c 65536 /dev/urandom >"$MD_TMP/patch"
dd if="$MD_TMP/patch" of="$MD_TMP/gen3.img" bs=65536 seek=17 conv=notrunc status=none
/usr/bin/python3 - "$(nbdkit_uri disk)" "$MD_TMP/patch" "$MD_TMP/written" \
  >"$MD_TMP/client.out" 2>&1 <<'EOF' &
import nbd, sys, time
h = nbd.NBD()
h.connect_uri(sys.argv[1])
patch = open(sys.argv[2], "rb").read()
h.pwrite(patch, 17 * 65536)
open(sys.argv[3], "w").close()
deadline = time.monotonic() + 60
try:
    while time.monotonic() < deadline:
        h.pread(4096, 0)
        time.sleep(0.05)
    print("the server kept the connection open for 60 s after SIGTERM")
except nbd.Error as e:
    print("connection ended:", e)
EOF
client=$!
wait_until 20 "the client's acknowledged write" test -e "$MD_TMP/written"
nbdkit_stop disk 30
wait "$client" || true
grep -q 'connection ended' "$MD_TMP/client.out" ||
  fail "the client did not see its connection end: $(cat "$MD_TMP/client.out")"
persist_verify "$snap"
persist_snapshot_image "$snap" "$MD_TMP/saved3.img"
cmp -- "$MD_TMP/gen3.img" "$MD_TMP/saved3.img" ||
  fail "a write acknowledged before SIGTERM is not in the saved file"

echo "ok: the disk survives SIGTERM, SIGINT and SIGTERM with a client connected"
