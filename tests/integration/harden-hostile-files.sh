#!/usr/bin/env bash
# Odd files where a snapshot or an image is expected (issue 11): a FIFO, a
# directory, a device node, /dev/zero, a link to /proc/self/fd/1.  Every
# command and nbdkit refuse them at once, with exit status 1 (the tool) or
# a refusal (nbdkit), naming the file and what it is; none blocks (each
# runs under `timeout`, which only bounds a hang); --force replaces only a
# regular file, so a device node stays a device node.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands timeout mkfifo mknod
[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL is not set (run with ctest)"
tool=$MEMDISK_TOOL

cd "$MD_TMP"
"$tool" create -s 1M good.snap || fail "create failed"
mkfifo fifo.snap
mkdir folder.snap
# A device node of our own, where replacing it would be visible (and
# harmless: the same device as /dev/null).
mknod devnull c 1 3 || fail "mknod failed (run as root)"
ln -s /proc/self/fd/1 stdout.snap

# expect_tool STATUS TEXT ARG...: memdisk-tool ARG exits STATUS within
# 20 s and its stderr holds TEXT.
expect_tool ()
{
  local want=$1 text=$2 status=0 err
  shift 2
  err=$(timeout 20 "$tool" "$@" 2>&1 >/dev/null) || status=$?
  ((status != 124)) || fail "memdisk-tool $* hung"
  ((status == want)) || fail "memdisk-tool $*: exit $status, expected $want: $err"
  grep -qF -- "$text" <<<"$err" || fail "memdisk-tool $*: no '$text' in: $err"
}

fifo_msg="fifo.snap: is a FIFO (named pipe), not a snapshot"
for cmd in info map verify; do
  expect_tool 1 "$fifo_msg" "$cmd" fifo.snap
  expect_tool 1 "folder.snap: is a directory, not a snapshot" "$cmd" folder.snap
  expect_tool 1 "devnull: is a character device, not a snapshot" "$cmd" devnull
done
expect_tool 2 "$fifo_msg" diff good.snap fifo.snap
expect_tool 2 "$fifo_msg" diff fifo.snap good.snap
expect_tool 1 "fifo.snap: is a FIFO (named pipe), neither a disk image nor a snapshot" \
  convert fifo.snap out.snap
expect_tool 1 "/dev/zero: is a character device, neither a disk image nor a snapshot" \
  convert /dev/zero out.snap
expect_tool 1 "folder.snap: is a directory, neither" convert folder.snap out.snap
[[ ! -e out.snap ]] || fail "a refused convert wrote out.snap"

# --force replaces a regular file only.
expect_tool 1 "devnull: is a character device; only a regular file is replaced, even with --force" \
  convert -f good.snap devnull
[[ -c devnull ]] || fail "convert --force replaced the device node devnull"
expect_tool 1 "devnull: is a character device; only a regular file" create -f -s 1M devnull
[[ -c devnull ]] || fail "create --force replaced the device node devnull"
expect_tool 1 "fifo.snap: is a FIFO (named pipe); only a regular file" convert -f good.snap fifo.snap
[[ -p fifo.snap ]] || fail "convert --force replaced the FIFO"
expect_tool 1 "folder.snap: is a directory; only a regular file" convert -f -O raw good.snap folder.snap
[[ -d folder.snap ]] || fail "convert --force replaced the folder"
# The link leads to the pipe the command's stdout is: refused, and the
# link stays.
status=0
err=$(timeout 20 "$tool" convert -f good.snap stdout.snap 2>&1 | cat) || status=$?
grep -qF "stdout.snap: is a FIFO (named pipe); only a regular file" <<<"$err" ||
  fail "convert -f onto a link to /proc/self/fd/1: $err"
[[ -L stdout.snap ]] || fail "convert --force replaced the link to /proc/self/fd/1"
# A regular file is still replaced, and '-' is stdout.
cp good.snap old.snap
"$tool" convert -f -O snapshot -l 5 good.snap old.snap || fail "convert --force onto a regular file failed"
"$tool" verify old.snap >/dev/null || fail "the replaced file does not verify"
"$tool" convert good.snap - | cmp - <("$tool" convert good.snap - ) ||
  fail "convert to - is not repeatable"
expect_tool 1 "the output file name is empty" convert good.snap ''
expect_tool 1 "the output file name is empty" create -s 1M ''

# nbdkit: FILE a FIFO, a folder, a device; nothing blocks.
for file in fifo.snap folder.snap devnull; do
  what=$(stat -c %F "$file")
  status=0
  err=$(timeout 20 nbdkit -U - "$MEMDISK_PLUGIN" 1M snapshot="$MD_TMP/$file" --run true \
        </dev/null 2>&1 >/dev/null) || status=$?
  ((status != 124)) || fail "nbdkit snapshot=$file hung"
  ((status != 0 && status < 128)) || fail "nbdkit snapshot=$file: exit $status"
  grep -qF "$MD_TMP/$file is a" <<<"$err" || fail "nbdkit snapshot=$file ($what): $err"
  grep -qF "not a snapshot" <<<"$err" || fail "nbdkit snapshot=$file ($what): $err"
  err=$(timeout 20 nbdkit -U - "$MEMDISK_PLUGIN" snapshot="$MD_TMP/$file" snapshot-readonly=true \
        --run true </dev/null 2>&1 >/dev/null) && fail "nbdkit snapshot-readonly on $file started"
  grep -qF "not a snapshot" <<<"$err" || fail "nbdkit snapshot-readonly on $file: $err"
done
[[ -p fifo.snap && -d folder.snap && -c devnull ]] || fail "nbdkit changed an odd file"

echo "ok: FIFOs, folders, devices and /dev/zero refused without blocking; --force replaces regular files only"
