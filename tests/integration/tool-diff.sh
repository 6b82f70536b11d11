#!/usr/bin/env bash
# memdisk-tool diff: same / one page different / different sizes, across
# page sizes, against a byte-by-byte comparison of the raw images; what a
# client changed in a fixture through the plugin; exit status as cmp.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tool_lib.sh"
require_commands dd truncate nbdsh
cd "$MD_TMP"

# The differing 4 KiB blocks of two raw images (the shorter counts as zeros
# past its end), merged, as diff --json lists them.
expected_extents() {  # A B
  /usr/bin/python3 -c 'import json, sys
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
end = max(len(a), len(b))
a, b = a.ljust(end, b"\0"), b.ljust(end, b"\0")
out = []
for pos in range(0, end, 4096):
    if a[pos:pos + 4096] != b[pos:pos + 4096]:
        length = min(4096, end - pos)
        if out and out[-1]["start"] + out[-1]["length"] == pos:
            out[-1]["length"] += length
        else:
            out.append({"start": pos, "length": length})
print(json.dumps(out))' "$1" "$2"
}
check_diff() {  # SNAP_A SNAP_B RAW_A RAW_B STATUS
  run_tool "$5" "$tool" diff --json "$1" "$2"
  local got want
  got=$(json_get out 'j["extents"]')
  want=$(expected_extents "$3" "$4")
  [[ $got == "$want" ]] || fail "diff $1 $2: extents $got, expected $want"
}

size=$(( 16 << 20 ))
truncate -s $size a.img
head -c 3M /dev/urandom | dd of=a.img bs=1M seek=2 conv=notrunc status=none
printf 'last' | dd of=a.img bs=1 seek=$(( size - 4 )) conv=notrunc status=none
run_tool 0 "$tool" convert a.img a.snap

# Same file; same content stored with other page sizes and levels.
run_tool 0 "$tool" diff a.snap a.snap
[[ $(cat out) == "a.snap and a.snap are the same disk: 16 MiB, content digest "* ]] ||
  fail "diff of a file with itself: $(cat out)"
run_tool 0 "$tool" convert --page-size=4K -l 1 a.img a4k.snap
run_tool 0 "$tool" convert --page-size=1M -l 9 a.img a1m.snap
run_tool 0 "$tool" diff a4k.snap a1m.snap
out_has "a4k.snap and a1m.snap are the same disk"
run_tool 0 "$tool" diff --json a.snap a1m.snap
[[ $(json_get out '[j["same"], j["extents"], j["size-a"] == j["size-b"] == '$size']') == '[true, [], true]' ]] ||
  fail "diff --json of equal disks: $(cat out)"

# Equal digests prove nothing until the pages give them: a damaged data
# frame behind the same digest is trouble (2), not "the same disk".
cp a.snap a-damaged.snap
printf 'XXXX' | dd of=a-damaged.snap bs=1 seek=5000 conv=notrunc status=none
run_tool 2 "$tool" diff a.snap a-damaged.snap
err_has "a-damaged.snap: frame 0 at byte 4096: checksum mismatch"
[[ ! -s out ]] || fail "diff of a damaged file printed a verdict: $(cat out)"
run_tool 2 "$tool" diff -q a-damaged.snap a.snap
run_tool 1 "$tool" verify a-damaged.snap

# One byte changed: one 4 KiB block differs, whatever the page sizes.
cp a.img b.img
# The complement of the byte there (a fixed value equals the random one
# once in 256 runs).
byte=$(od -An -tu1 -j $(( (3 << 20) + 5000 )) -N1 a.img)
printf "\\x$(printf %02x $(( byte ^ 0xff )))" |
  dd of=b.img bs=1 seek=$(( (3 << 20) + 5000 )) conv=notrunc status=none
cmp -s a.img b.img && fail "changing a byte of b.img changed nothing"
run_tool 0 "$tool" convert b.img b.snap
run_tool 0 "$tool" convert --page-size=1M b.img b1m.snap
run_tool 1 "$tool" diff a.snap b.snap
# A forgery: b's pages with a's digest, every checksum made to match.
cp b.snap forged.snap
/usr/bin/python3 "$tool_dir/persist_snapfile.py" set-digest forged.snap \
  "$(json_get <("$tool" info --json a.snap) 'j["digest"]')"
[[ $(json_get <("$tool" info --json forged.snap) 'j["digest"]') == \
   "$(json_get <("$tool" info --json a.snap) 'j["digest"]')" ]] || fail "the forgery has another digest"
run_tool 2 "$tool" diff a.snap forged.snap
err_has "forged.snap: content digest mismatch"
[[ ! -s out ]] || fail "diff of a forged file printed a verdict: $(cat out)"
run_tool 1 "$tool" verify forged.snap
run_tool 1 "$tool" diff a.snap b.snap
cat >want <<END
  offset    length
 3149824      4096
a.snap and b.snap differ in 1 extent, 4 KiB in all
END
diff -u want out || fail "diff with one changed byte: unexpected output"
check_diff a.snap b.snap a.img b.img 1
check_diff a4k.snap b1m.snap a.img b.img 1
check_diff b1m.snap a4k.snap b.img a.img 1

# Several changes: adjacent blocks merge; a page written in B only; a page
# cleared in B; data compared with zeros where one side stores nothing.
cp b.img c.img
head -c 10000 /dev/urandom | dd of=c.img bs=1 seek=$(( (4 << 20) + 4096 )) conv=notrunc status=none
printf 'new' | dd of=c.img bs=1 seek=$(( 10 << 20 )) conv=notrunc status=none
dd if=/dev/zero of=c.img bs=32K seek=$(( (2 << 20) / 32768 )) count=1 conv=notrunc status=none
run_tool 0 "$tool" convert --page-size=64K c.img c.snap
check_diff a.snap c.snap a.img c.img 1
[[ $(json_get out 'len(j["extents"])') == 4 ]] || fail "expected 4 extents: $(cat out)"
run_tool 1 "$tool" diff a4k.snap c.snap
out_has "a4k.snap and c.snap differ in 4 extents"

# Different sizes: the same bytes up to the smaller size, or more.
cp a.img big.img
truncate -s 32M big.img
run_tool 0 "$tool" convert big.img big.snap
run_tool 1 "$tool" diff a.snap big.snap
cat >want <<END
a.snap and big.snap differ in size: 16 MiB (16777216 bytes) and 32 MiB (33554432 bytes)
a.snap and big.snap hold the same bytes up to the smaller size
END
diff -u want out || fail "diff of different sizes: unexpected output"
run_tool 1 "$tool" diff --json a.snap big.snap
[[ $(json_get out '[j["same"], j["size-a"], j["size-b"], j["extents"]]') == '[false, 16777216, 33554432, []]' ]] ||
  fail "diff --json of different sizes: $(cat out)"
printf 'beyond' | dd of=big.img bs=1 seek=$(( 20 << 20 )) conv=notrunc status=none
run_tool 0 "$tool" convert --force big.img big.snap
check_diff a.snap big.snap a.img big.img 1
check_diff big.snap b.snap big.img b.img 1
run_tool 1 "$tool" diff b.snap big.snap
out_has "differ in size: 16 MiB (16777216 bytes) and 32 MiB (33554432 bytes)"
out_has "b.snap and big.snap differ in 2 extents, 8 KiB in all"

# -q: only the exit status.
run_tool 1 "$tool" diff -q a.snap b.snap
[[ ! -s out ]] || fail "diff -q printed: $(cat out)"
run_tool 0 "$tool" diff --quiet a.snap a1m.snap

# CI: what did this run change in the fixture?
cp a.snap fixture.snap
memdisk_start run snapshot="$MD_TMP/run.snap" size=16M
nbdsh -u "$(nbdkit_uri run)" -c '
with open("a.img", "rb") as f:
    h.pwrite(f.read(), 0)
h.pwrite(b"changed", 7 << 20)
h.pwrite(b"\0" * 4096, 2 << 20)        # the first 4 KiB of the data, cleared
'
nbdkit_stop run
run_tool 1 "$tool" diff --json fixture.snap run.snap
[[ $(json_get out 'j["extents"]') == '[{"start": 2097152, "length": 4096}, {"start": 7340032, "length": 4096}]' ]] ||
  fail "diff of the fixture and the run: $(cat out)"

# Across format versions: a 1.0 file (tests/unit/golden/v1.0-*, as the
# writer before format 2.0 made them) and the 2.0 file of the same disk
# are the same disk, with the same (2.0-form) digest whichever comes first,
# though their metadata's digests differ in form; and a 1.0 file differs
# from another disk's 2.0 file.
golden=$MEMDISK_SOURCE_DIR/tests/unit/golden
cp "$golden/v1.0-mixed-4k.snap" old.snap
cp "$golden/mixed-4k.snap" new.snap
run_tool 0 "$tool" info --json old.snap
old_digest=$(json_get out 'j["digest"]')
[[ $(json_get out 'j["format-version"]') == 1.0 ]] || fail "old.snap is not 1.0: $(cat out)"
run_tool 0 "$tool" info --json new.snap
new_digest=$(json_get out 'j["digest"]')
[[ $old_digest != "$new_digest" ]] || fail "1.0 and 2.0 digests should differ in form"
run_tool 0 "$tool" diff old.snap new.snap
out_has "old.snap and new.snap are the same disk: 9.0 MiB, content digest $new_digest"
run_tool 0 "$tool" diff new.snap old.snap
out_has "new.snap and old.snap are the same disk: 9.0 MiB, content digest $new_digest"
# convert turns a 1.0 file into 2.1 (the current format), the same disk.
run_tool 0 "$tool" convert -O snapshot old.snap converted.snap
run_tool 0 "$tool" info --json converted.snap
[[ $(json_get out 'j["format-version"]') == 2.1 && $(json_get out 'j["digest"]') == "$new_digest" ]] ||
  fail "convert of a 1.0 file: $(cat out)"
run_tool 0 "$tool" verify old.snap
run_tool 0 "$tool" diff old.snap converted.snap
cp "$golden/mixed-32k.snap" other.snap
run_tool 1 "$tool" diff -q old.snap other.snap

# Trouble is 2, and names the file.
run_tool 2 "$tool" diff a.snap missing.snap
err_has "missing.snap: cannot open: No such file or directory"
run_tool 2 "$tool" diff a.img a.snap
err_has "a.img: header at byte 0: not a memdisk snapshot"
cp b.snap b-damaged.snap
printf 'XXXX' | dd of=b-damaged.snap bs=1 seek=5000 conv=notrunc status=none
run_tool 2 "$tool" diff a.snap b-damaged.snap
err_has "b-damaged.snap: frame 0 at byte 4096: checksum mismatch"
run_tool 2 "$tool" diff a.snap
err_has "expected two files, A and B"; err_is_usage diff
run_tool 2 "$tool" diff -x a.snap b.snap
err_has "unknown option '-x'"
run_tool 0 "$tool" diff --help
out_has "Usage: memdisk-tool diff"
echo PASS
