#!/usr/bin/env bash
# memdisk-tool verify: 0 for a good file, 1 for a damaged one with a message
# naming the problem and the byte offset, 2 for usage errors.  A failed
# convert leaves its OUT untouched and no temporary behind.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands dd cmp
tool=${MEMDISK_TOOL:?MEMDISK_TOOL must name the built memdisk-tool}

# expect STATUS OUTFILE CMD...: run CMD, check its exit status.
expect() {
  local want=$1 out=$2; shift 2
  local status=0
  "$@" >"$out" 2>&1 || status=$?
  [[ $status == "$want" ]] || fail "'$*' exited $status, expected $want: $(cat "$out")"
}

img=$MD_TMP/raw.img
head -c 6M /dev/urandom >"$img"
"$tool" convert --page-size=64K "$img" "$MD_TMP/good.snap"
expect 0 "$MD_TMP/out" "$tool" verify "$MD_TMP/good.snap"

# A flipped byte in the middle of the first data frame (format 2.1: it
# starts at 4096).
cp "$MD_TMP/good.snap" "$MD_TMP/bad.snap"
byte=$(( 4096 + 100000 ))
old=$(od -An -tu1 -j$byte -N1 "$MD_TMP/bad.snap" | tr -d ' ')
printf "\\$(printf %03o $(( old ^ 4 )))" | dd of="$MD_TMP/bad.snap" bs=1 seek=$byte conv=notrunc status=none
expect 1 "$MD_TMP/out" "$tool" verify "$MD_TMP/bad.snap"
grep -q "bad.snap: frame 0 at byte 4096: checksum mismatch" "$MD_TMP/out" || fail "message: $(cat "$MD_TMP/out")"

# Truncated.
size=$(stat -c %s "$MD_TMP/good.snap")
head -c $(( size - 10 )) "$MD_TMP/good.snap" >"$MD_TMP/short.snap"
expect 1 "$MD_TMP/out" "$tool" verify "$MD_TMP/short.snap"
grep -q "footer at byte $(( size - 10 - 56 )): no snapshot footer" "$MD_TMP/out" || fail "message: $(cat "$MD_TMP/out")"

# Not a snapshot at all.
expect 1 "$MD_TMP/out" "$tool" verify "$img"
grep -q "not a memdisk snapshot" "$MD_TMP/out" || fail "message: $(cat "$MD_TMP/out")"
expect 1 "$MD_TMP/out" "$tool" verify "$MD_TMP/missing.snap"
grep -q "missing.snap: cannot open: No such file" "$MD_TMP/out" || fail "message: $(cat "$MD_TMP/out")"

# Usage errors and help.
expect 2 "$MD_TMP/out" "$tool" verify
expect 2 "$MD_TMP/out" "$tool" verify --bogus "$MD_TMP/good.snap"
expect 2 "$MD_TMP/out" "$tool" verify -T many "$MD_TMP/good.snap"
grep -q "thread count 'many'" "$MD_TMP/out" || fail "message: $(cat "$MD_TMP/out")"
expect 2 "$MD_TMP/out" "$tool" frobnicate
expect 2 "$MD_TMP/out" "$tool" convert -O qcow2 "$img" "$MD_TMP/x"
expect 2 "$MD_TMP/out" "$tool" convert --page-size=3000 "$img" "$MD_TMP/x"
expect 0 "$MD_TMP/out" "$tool" verify --help
grep -q "Usage: memdisk-tool verify" "$MD_TMP/out" || fail "no verify help"
expect 0 "$MD_TMP/out" "$tool" convert --help
grep -q "Usage: memdisk-tool convert" "$MD_TMP/out" || fail "no convert help"
expect 0 "$MD_TMP/out" "$tool" --help
grep -q "verify" "$MD_TMP/out" || fail "no tool help"

# A failed convert keeps the old OUT (even with --force, which allows
# replacing it) and leaves no temporary.
mkdir "$MD_TMP/dir"
echo "precious" >"$MD_TMP/dir/out.img"
expect 1 "$MD_TMP/out" "$tool" convert --force "$MD_TMP/bad.snap" "$MD_TMP/dir/out.img"
grep -q "frame 0 at byte 4096: checksum mismatch" "$MD_TMP/out" || fail "message: $(cat "$MD_TMP/out")"
[[ $(cat "$MD_TMP/dir/out.img") == precious ]] || fail "a failed convert changed OUT"
[[ $(ls -A "$MD_TMP/dir") == out.img ]] || fail "temporary left behind: $(ls -A "$MD_TMP/dir")"

# A plain zstd file is neither format.
head -c 100000 /dev/zero | zstd -q >"$MD_TMP/plain.zst"
expect 1 "$MD_TMP/out" "$tool" convert "$MD_TMP/plain.zst" "$MD_TMP/dir/x"
grep -q "a plain zstd file" "$MD_TMP/out" || fail "message: $(cat "$MD_TMP/out")"
echo "PASS"
