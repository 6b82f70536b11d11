#!/usr/bin/env bash
# memdisk-tool's command line as a whole: --help and --version, help for
# every command, usage errors exit 2 with a hint, and every command on a
# missing or damaged file exits 1 (diff: 2) with a message naming it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tool_lib.sh"
cd "$MD_TMP"
commands=(info map diff verify convert create)

run_tool 0 "$tool" --help
out_has "Usage: memdisk-tool COMMAND [OPTIONS] ARGS..."
for c in "${commands[@]}"; do
  grep -Eq "^  $c +[a-z]" out || fail "--help does not list $c: $(cat out)"
done
run_tool 0 "$tool" -h
run_tool 0 "$tool" --version
[[ $(cat out) =~ ^memdisk-tool\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version: $(cat out)"
run_tool 0 "$tool" -V

for c in "${commands[@]}"; do
  run_tool 0 "$tool" "$c" --help
  out_has "Usage: memdisk-tool $c"
  out_has "Exit status"
  cp out help1
  run_tool 0 "$tool" help "$c"
  cmp -s out help1 || fail "'help $c' and '$c --help' differ"
  run_tool 0 "$tool" "$c" -h
done

run_tool 2 "$tool"
err_has "Usage: memdisk-tool COMMAND"
run_tool 2 "$tool" frobnicate
err_has "unknown command 'frobnicate'"; err_has "Try 'memdisk-tool --help'."
run_tool 2 "$tool" help frobnicate
err_has "unknown command 'frobnicate'"
run_tool 2 "$tool" --json info x.snap
err_has "unknown option '--json'; the command comes first"
for c in "${commands[@]}"; do
  run_tool 2 "$tool" "$c" --no-such-option x y
  err_has "memdisk-tool $c: unknown option '--no-such-option'"
  err_is_usage "$c"
done

# Missing and damaged files.
export SOURCE_DATE_EPOCH=0
head -c 1M /dev/urandom >raw.img
run_tool 0 "$tool" convert raw.img good.snap
head -c 100 good.snap >short.snap
for c in info map verify; do
  run_tool 1 "$tool" "$c" missing.snap
  err_has "memdisk-tool: missing.snap: cannot open: No such file or directory"
  run_tool 1 "$tool" "$c" short.snap
  err_has "memdisk-tool: short.snap: footer at byte 44: no snapshot footer"
done
run_tool 2 "$tool" diff good.snap missing.snap
err_has "memdisk-tool: missing.snap: cannot open"
run_tool 2 "$tool" diff short.snap good.snap
err_has "memdisk-tool: short.snap: footer at byte 44"
run_tool 1 "$tool" convert short.snap out.img
err_has "memdisk-tool: short.snap: footer at byte 44"
[[ ! -e out.img ]] || fail "convert of a damaged file left OUT behind"
mkdir dir
run_tool 1 "$tool" info dir
err_has "memdisk-tool: dir: "
echo PASS
