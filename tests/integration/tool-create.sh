#!/usr/bin/env bash
# memdisk-tool create: an empty snapshot of the given size that verifies,
# that the plugin serves at that size reading zeros, sizes in plain words
# (512M, 10G) or bytes, an existing FILE kept unless --force.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tool_lib.sh"
require_commands nbdinfo nbdsh stat
cd "$MD_TMP"

for spec in 512M:536870912 10G:10737418240 1t:1099511627776 4096:4096 \
            3K:3072 2m:2097152 1s:512 3S:1536 512b:512 7B:7 0:0 1E:1152921504606846976; do
  run_tool 0 "$tool" create --size "${spec%%:*}" "s-${spec%%:*}.snap"
  run_tool 0 "$tool" info --json "s-${spec%%:*}.snap"
  [[ $(json_get out '[j["virtual-size"], j["allocated-size"], j["frames"], j["digest"]]') == \
     "[${spec#*:}, 0, 0, \"ef46db3751d8e999\"]" ]] || fail "create --size ${spec%%:*}: $(cat out)"
done
run_tool 0 "$tool" verify s-10G.snap
out_has "s-10G.snap: OK: format 2.1, 10 GiB disk, 0 bytes of data in 0 frames"
[[ $(stat -c %a s-10G.snap) == 600 ]] || fail "a new snapshot should be mode 0600"

# The plugin serves it: the size, and zeros.
memdisk_start srv snapshot="$MD_TMP/s-10G.snap" snapshot-readonly=true
[[ $(nbdinfo --size "$(nbdkit_uri srv)") == 10737418240 ]] || fail "nbdinfo --size disagrees"
nbdsh -u "$(nbdkit_uri srv)" -c 'assert h.pread(65536, 5 << 30) == bytes(65536)'
nbdkit_stop srv

# Page size and stdout.
run_tool 0 "$tool" create -s 1G --page-size=1M big-pages.snap
[[ $(json_get <("$tool" info --json big-pages.snap) 'j["page-size"]') == 1048576 ]] ||
  fail "--page-size=1M not recorded"
"$tool" create -s 1G - >stdout.snap || fail "create to stdout failed"
run_tool 0 "$tool" create -s 1G ref.snap
run_tool 0 "$tool" diff stdout.snap ref.snap

# An existing FILE stays unless --force.
echo precious >keep.snap
run_tool 1 "$tool" create -s 1G keep.snap
err_has "keep.snap: already exists; not overwritten (use --force to replace it)"
[[ $(cat keep.snap) == precious ]] || fail "create overwrote an existing file"
run_tool 0 "$tool" create -s 2G --force keep.snap
[[ $(json_get <("$tool" info --json keep.snap) 'j["virtual-size"]') == 2147483648 ]] ||
  fail "create --force did not replace the file"
run_tool 1 "$tool" create -s 1G no-such-dir/x.snap
err_has "no-such-dir/x.snap: "

# Bad sizes and arguments are usage errors (2) that say what is wrong.
# Sizes are nbdkit's: 10GB, 1MiB and 1kB are not sizes (1kB is not 1024).
for bad in 10X 1.5G -1 "" G 10GG 10GB 1MiB 1kB 1sB 99999999999999999999 16E 8E; do
  run_tool 2 "$tool" create --size "$bad" bad.snap
  [[ -e bad.snap ]] && fail "create --size '$bad' wrote a file"
  case $bad in
    16E|8E|9*) err_has "size '$bad' is larger than the maximum, 2^63-1 bytes" ;;
    -1) err_has "size '$bad' is negative" ;;
    *) err_has "size '$bad' is not a size: a number of bytes, optionally followed by one letter" ;;
  esac
done

# One grammar: nbdkit memdisk reads every size as the tool does.
for spec in 10G 1s 512b 3K 7E 0 "+5" " 4k" 10GB 1MiB 1kB 8E 1.5G -1 ""; do
  tool_size=none nbdkit_size=none
  if "$tool" create -s "$spec" tool-size.snap --force 2>/dev/null; then
    tool_size=$(json_get <("$tool" info --json tool-size.snap) 'j["virtual-size"]')
  fi
  nbdkit_size=$(nbdkit -U - "$MEMDISK_PLUGIN" size="$spec" --run 'nbdinfo --size "$uri"' 2>/dev/null) ||
    nbdkit_size=none
  [[ $tool_size == "$nbdkit_size" ]] ||
    fail "size '$spec': memdisk-tool reads $tool_size, nbdkit memdisk $nbdkit_size"
done
run_tool 2 "$tool" create bad.snap
err_has "--size is required"; err_is_usage create
run_tool 2 "$tool" create -s 1G
err_has "expected one FILE"
run_tool 2 "$tool" create -s
err_has "option '-s' needs a value"
run_tool 2 "$tool" create --page-size=3000 -s 1G bad.snap
err_has "page size 3000 is not a power of two from 4K to 1M"
run_tool 0 "$tool" create --help
out_has "Usage: memdisk-tool create -s SIZE"
echo PASS
