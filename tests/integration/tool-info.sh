#!/usr/bin/env bash
# memdisk-tool info on known files: the human output word for word, the
# JSON's numbers against the raw image's real content (tool_expect.py), and
# proof that info reads no data frame: a damaged frame does not bother it
# (verify catches it), a damaged footer does.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tool_lib.sh"
require_commands dd stat truncate
cd "$MD_TMP"
export SOURCE_DATE_EPOCH=1700000000
version=$("$tool" --version)            # "memdisk-tool X.Y.Z"

# An empty 1 GiB disk.
run_tool 0 "$tool" create --size 1G empty.snap
run_tool 0 "$tool" info empty.snap
cat >want <<END
file: empty.snap
format: memdisk snapshot 2.1
virtual size: 1 GiB (1073741824 bytes)
page size: 32 KiB (32768 bytes)
region size: 4 MiB (4194304 bytes)
allocated size: 0 bytes
file size: $(stat -c %s empty.snap) bytes
compression ratio: 0.00
frames: 0
compression level: 3
creator: $version
created: 2023-11-14T22:13:20Z (1700000000)
content digest: ef46db3751d8e999
END
diff -u want out || fail "info on an empty disk: unexpected output"

# 64 MiB + 1000 bytes: one byte in page 5; 5 MiB of random bytes at 8 MiB
# (160 pages, in regions 2 and 3 of 4 MiB); 4 bytes at the very end, in
# the partial last page: 4 regions with data, 4 frames.
size=$(( (64 << 20) + 1000 ))
truncate -s $size disk.img
printf '\001' | dd of=disk.img bs=1 seek=163840 conv=notrunc status=none
head -c 5M /dev/urandom | dd of=disk.img bs=1M seek=8 conv=notrunc status=none
printf 'tail' | dd of=disk.img bs=1 seek=$(( size - 4 )) conv=notrunc status=none
expect_json disk.img 32768 >expect.json
pages=$(json_get expect.json 'j["pages"]')
[[ $pages == 162 ]] || fail "tool_expect.py counts $pages pages, expected 1 + 160 + 1"
run_tool 0 "$tool" convert -l 5 disk.img disk.snap
file_size=$(stat -c %s disk.snap)

run_tool 0 "$tool" info disk.snap
ratio=$(/usr/bin/python3 -c "print('%.2f' % ($pages * 32768 / $file_size))")
digest=$(json_get expect.json 'j["digest"]')
cat >want <<END
file: disk.snap
format: memdisk snapshot 2.1
virtual size: 64.0 MiB ($size bytes)
page size: 32 KiB (32768 bytes)
region size: 4 MiB (4194304 bytes)
allocated size: 5.1 MiB ($(( pages * 32768 )) bytes)
file size: $(/usr/bin/python3 -c "print('%.1f MiB' % ($file_size / 1048576))") ($file_size bytes)
compression ratio: $ratio
frames: 4
compression level: 5
creator: $version
created: 2023-11-14T22:13:20Z (1700000000)
content digest: $digest
END
diff -u want out || fail "info on a 64 MiB disk: unexpected output"

run_tool 0 "$tool" info --json disk.snap
cp out info.json
check() {  # EXPR: a Python expression on j (the output) and e (expected) that must hold
  /usr/bin/python3 -c 'import json, sys
j = json.load(open("info.json")); e = json.load(open("expect.json"))
sys.exit(0 if eval(sys.argv[1]) else 1)' "$1" || fail "info --json: $1 does not hold: $(cat info.json)"
}
check 'j["virtual-size"] == e["virtual-size"] == '$size
check 'j["allocated-size"] == e["allocated-size"]'
check 'j["page-size"] == 32768'
check 'j["file-size"] == '$file_size
check 'j["frames"] == 4'
check 'j["format-version"] == "2.1"'
check 'j["region-size"] == 4194304'
check 'j["compression-level"] == 5'
check 'j["created"] == "2023-11-14T22:13:20Z" and j["creation-time"] == 1700000000'
check 'j["digest"] == e["digest"]'
check 'j["creator"] == "'"$version"'"'
check 'j["filename"] == "disk.snap"'
check 'abs(j["compression-ratio"] - j["allocated-size"] / j["file-size"]) < 0.01'
# verify recomputes the digest from the pages: the same value.
run_tool 0 "$tool" verify disk.snap
out_has "digest $digest"

# The same disk with 4 KiB pages: the same digest, fewer allocated bytes.
run_tool 0 "$tool" convert --page-size=4K disk.img disk4k.snap
expect_json disk.img 4096 >expect.json
run_tool 0 "$tool" info --json disk4k.snap
cp out info.json
check 'j["page-size"] == 4096 and j["allocated-size"] == e["allocated-size"]'
check 'j["digest"] == e["digest"] == "'"$digest"'"'

# The largest disk the format allows.
run_tool 0 "$tool" create -s 9223372036854775807 huge.snap
run_tool 0 "$tool" info huge.snap
out_has "virtual size: 8.0 EiB (9223372036854775807 bytes)"

# File names are escaped in JSON.
name=$'odd "name"\\\twith\ncontrols.snap'
cp empty.snap "$name"
run_tool 0 "$tool" info --json "$name"
[[ $(json_get out 'j["filename"]') == "$name" ]] || fail "filename mangled: $(cat out)"

# info reads no data frame: damage one and info still works, verify does not.
cp disk.snap damaged.snap
printf 'XXXX' | dd of=damaged.snap bs=1 seek=4100 conv=notrunc status=none
run_tool 0 "$tool" info damaged.snap
run_tool 1 "$tool" verify damaged.snap
err_has "damaged.snap: frame 0 at byte 4096: checksum mismatch"

# Damaged or missing files: exit 1, a message naming the file and the problem.
head -c $(( file_size - 1 )) disk.snap >short.snap
run_tool 1 "$tool" info short.snap
err_has "memdisk-tool: short.snap: footer at byte $(( file_size - 1 - 56 )): no snapshot footer"
cp disk.snap badmeta.snap
meta=$(/usr/bin/python3 -c 'import struct,sys
d=open("disk.snap","rb").read(); print(struct.unpack_from("<Q", d, len(d)-56+16)[0])')
printf 'Z' | dd of=badmeta.snap bs=1 seek=$(( meta + 12 )) conv=notrunc status=none
run_tool 1 "$tool" info badmeta.snap
err_has "badmeta.snap: metadata at byte $meta: checksum mismatch"
run_tool 1 "$tool" info missing.snap
err_has "missing.snap: cannot open: No such file or directory"
run_tool 1 "$tool" info disk.img
err_has "disk.img: header at byte 0: not a memdisk snapshot"
[[ ! -s out ]] || fail "info printed something for a bad file: $(cat out)"

# Usage errors.
run_tool 2 "$tool" info
err_has "expected one FILE"; err_is_usage info
run_tool 2 "$tool" info disk.snap empty.snap
err_is_usage info
run_tool 2 "$tool" info --bogus disk.snap
err_has "unknown option '--bogus'"; err_is_usage info
run_tool 0 "$tool" info --help
out_has "Usage: memdisk-tool info [--json] FILE"
echo PASS
