#!/usr/bin/env bash
# nbdkit refuses to start, with a message naming the file and what is
# wrong, and leaves the file as it was, when: the folder cannot be written
# (read-only mount; another user's folder); the file cannot be read; the
# file is damaged (a flipped byte, truncated, empty, not a snapshot, a
# folder); the file is from a newer major version or needs a feature this
# version lacks.  A newer minor version is accepted, and a read-only
# folder is fine with snapshot-readonly=true.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands setpriv

here=$(dirname "$0")
snapfile () { /usr/bin/python3 "$here/persist_snapfile.py" "$@"; }
size=$((4 * 1024 * 1024))

# A good snapshot to start from.
persist_make_image "$MD_TMP/good.img" "$size"
good=$MD_TMP/good.zst
memdisk_start disk "$size" snapshot="$good"
nbdcopy -- "$MD_TMP/good.img" "$(nbdkit_uri disk)" || fail "nbdcopy into the disk failed"
nbdkit_stop disk
persist_verify "$good"

# expect_refused FILE TEXT...: starting on FILE (with and without size=,
# and with the parameters in load=(...))
# is refused with FILE and every TEXT in the message; FILE is untouched
# and no temporary is left next to it.
expect_refused ()
{
  local file=$1 id
  shift
  cp -a -- "$file" "$MD_TMP/before"
  id=$(persist_file_id "$file")
  persist_expect_refusal snapshot="$file" "${load[@]}" -- "$file" "$@"
  persist_expect_refusal "$size" snapshot="$file" "${load[@]}" -- "$file" "$@"
  if [[ -f $file ]]; then
    cmp -- "$MD_TMP/before" "$file" || fail "a refused start changed $file"
  fi
  [[ $(persist_file_id "$file") == "$id" ]] || fail "a refused start replaced $file"
  [[ -z $(persist_temporaries "$file") ]] || fail "temporaries left: $(persist_temporaries "$file")"
  rm -rf -- "$MD_TMP/before"
}

# --- damaged files ---
load=()
file_size=$(stat -c %s "$good")
mkdir "$MD_TMP/damaged"

cp -- "$good" "$MD_TMP/damaged/flipped.zst"
offset=$((file_size / 2))
byte=$(od -An -tu1 -j "$offset" -N1 "$good")
printf "\\x$(printf %02x $((byte ^ 0x40)))" |
  dd of="$MD_TMP/damaged/flipped.zst" bs=1 seek="$offset" conv=notrunc status=none
cmp -s -- "$good" "$MD_TMP/damaged/flipped.zst" && fail "flipping a byte changed nothing"
# A flipped byte in a data frame: an eager load finds it at start; a lazy
# load, when the frame is loaded (lazy-damage.sh).
load=(snapshot-load=eager)
expect_refused "$MD_TMP/damaged/flipped.zst" "checksum mismatch" "byte"
load=()

cp -- "$good" "$MD_TMP/damaged/truncated.zst"
truncate -s $((file_size - 1000)) "$MD_TMP/damaged/truncated.zst"
expect_refused "$MD_TMP/damaged/truncated.zst" "truncated"

: >"$MD_TMP/damaged/empty.zst"
expect_refused "$MD_TMP/damaged/empty.zst" "0 bytes" "too small"

head -c 100000 /dev/urandom >"$MD_TMP/damaged/random.zst"
expect_refused "$MD_TMP/damaged/random.zst" "not a memdisk snapshot"

cp -- "$MD_TMP/good.img" "$MD_TMP/damaged/raw.zst"
expect_refused "$MD_TMP/damaged/raw.zst" "not a memdisk snapshot"

zstd -q -o "$MD_TMP/damaged/plain.zst" -- "$MD_TMP/good.img"
expect_refused "$MD_TMP/damaged/plain.zst" "plain zstd file, not a memdisk snapshot"

mkdir "$MD_TMP/damaged/folder.zst"
expect_refused "$MD_TMP/damaged/folder.zst" "is a directory, not a snapshot"

# --- versions ---
cp -- "$good" "$MD_TMP/damaged/major2.zst"
snapfile set-version "$MD_TMP/damaged/major2.zst" 3 0
expect_refused "$MD_TMP/damaged/major2.zst" "version 3.0" "newer"

cp -- "$good" "$MD_TMP/damaged/delta.zst"
snapfile set-features "$MD_TMP/damaged/delta.zst" 1
expect_refused "$MD_TMP/damaged/delta.zst" "features"

# A newer minor version only adds what this version may ignore.
cp -- "$good" "$MD_TMP/minor.zst"
snapfile set-version "$MD_TMP/minor.zst" 2 9
persist_snapshot_image "$MD_TMP/minor.zst" "$MD_TMP/readback.img"
cmp -- "$MD_TMP/good.img" "$MD_TMP/readback.img" || fail "a 2.9 snapshot did not load as its 2.0 twin"

# --- a folder that does not exist ---
persist_expect_refusal "$size" snapshot="$MD_TMP/missing/disk.zst" -- \
  "cannot find the folder" "$MD_TMP/missing" "No such file or directory"
[[ ! -e $MD_TMP/missing ]] || fail "a refused start created $MD_TMP/missing"

# --- a read-only folder (root ignores permissions; a read-only mount does not) ---
mkdir "$MD_TMP/folder"
cp -p -- "$good" "$MD_TMP/folder/disk.zst"
ro=$MD_TMP/ro
persist_mount "$ro" --bind "$MD_TMP/folder"
mount -o remount,bind,ro "$ro" || fail "cannot remount $ro read-only"
touch "$ro/probe" 2>/dev/null && fail "$ro is writable after remounting it read-only"
expect_refused "$ro/disk.zst" "cannot write the folder" "Read-only file system"
persist_expect_refusal "$size" snapshot="$ro/new.zst" -- "cannot write the folder" "$ro/new.zst"
# Loading without ever writing needs no writable folder.
memdisk_start rodisk snapshot="$ro/disk.zst" snapshot-readonly=true
persist_disk_image rodisk "$MD_TMP/readback.img"
cmp -- "$MD_TMP/good.img" "$MD_TMP/readback.img" || fail "snapshot-readonly=true from a read-only folder"
nbdkit_stop rodisk

# --- another user: a folder it cannot write, a file it cannot read ---
as_nobody () { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
chmod 0711 "$MD_TMP"
mkdir -m 0755 "$MD_TMP/roots"
cp -- "$good" "$MD_TMP/roots/disk.zst"
chmod 0644 "$MD_TMP/roots/disk.zst"
mkdir -m 0755 "$MD_TMP/nobodys"
chown nobody:nogroup "$MD_TMP/nobodys"
cp -- "$good" "$MD_TMP/nobodys/disk.zst"
# nobody's own file, which nobody may not read (root's would be refused
# before it is read: harden-hostile-path).
chown nobody:nogroup "$MD_TMP/nobodys/disk.zst"
chmod 0000 "$MD_TMP/nobodys/disk.zst"
# nobody may not be able to read the build tree (a clone under /root).
cp -- "$MEMDISK_PLUGIN" "$MD_TMP/plugin.so"
chmod 0755 "$MD_TMP/plugin.so"

refused_as_nobody ()
{
  local file=$1 status=0 err
  shift
  err=$(as_nobody nbdkit -U - "$MD_TMP/plugin.so" "$size" snapshot="$file" --run true \
        </dev/null 2>&1 >/dev/null) || status=$?
  ((status != 0 && status < 128)) || fail "as nobody, snapshot=$file: exit $status, expected a refusal"
  for text in "$file" "$@"; do
    grep -qF -- "$text" <<<"$err" || fail "as nobody, snapshot=$file: the error does not mention '$text': $err"
  done
}
refused_as_nobody "$MD_TMP/roots/disk.zst" "is owned by root" "not by nobody"
refused_as_nobody "$MD_TMP/roots/new.zst" "cannot write the folder" "Permission denied"
refused_as_nobody "$MD_TMP/nobodys/disk.zst" "cannot load" "Permission denied"
cmp -- "$good" "$MD_TMP/roots/disk.zst" || fail "a refused start changed roots/disk.zst"
cmp -- "$good" "$MD_TMP/nobodys/disk.zst" || fail "a refused start changed nobodys/disk.zst"
[[ ! -e $MD_TMP/roots/new.zst ]] || fail "a refused start created roots/new.zst"

echo "ok: unwritable folders, unreadable, damaged and newer files are refused"
