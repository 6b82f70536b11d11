#!/usr/bin/env bash
# memdisk-tool convert as a user sees it: -p shows progress (done, rate,
# time left) on a terminal (script(1) gives it one) and nothing on a pipe;
# -v prints a summary; an existing OUT is kept unless --force; OUT '-' is
# stdout but never a terminal.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tool_lib.sh"
require_commands script cmp truncate dd
cd "$MD_TMP"
export SOURCE_DATE_EPOCH=1700000000

truncate -s 256M disk.img
head -c 20M /dev/urandom | dd of=disk.img bs=1M seek=30 conv=notrunc status=none

# On a terminal: progress lines, redrawn in place, ending at 100%.
on_terminal() {  # CMD...: run CMD with a terminal as stdin, stdout and stderr
  script -qec "$(printf '%q ' "$@")" /dev/null </dev/null >tty.out ||
    fail "'$*' failed on a terminal: $(cat tty.out)"
}
on_terminal "$tool" convert -p disk.img disk.snap
grep -q $'\r' tty.out || fail "no progress redrawn in place: $(cat -A tty.out)"
tr '\r' '\n' <tty.out | grep -Eq '^disk\.img: 100% 256 MiB of 256 MiB, [0-9.]+ [KMG]?i?B(ytes)?/s, [0-9]+:[0-9]{2} in all' ||
  fail "no final progress line: $(tr '\r' '\n' <tty.out)"
on_terminal "$tool" convert -p disk.snap back.img
tr '\r' '\n' <tty.out | grep -q '^disk\.snap: 100% 20 MiB of 20 MiB, .*/s, .* in all' ||
  fail "no progress for snapshot -> raw: $(tr '\r' '\n' <tty.out)"
cmp disk.img back.img || fail "round trip changed the bytes"
# Without -p, nothing even on a terminal.
on_terminal "$tool" convert -O snapshot disk.snap quiet.snap
[[ ! -s tty.out ]] || fail "convert without -p printed: $(cat -A tty.out)"

# On a pipe: nothing at all, -p or not.
"$tool" convert -p disk.img pipe.snap 2>&1 | cat >pipe.out
[[ ! -s pipe.out ]] || fail "convert -p wrote to a pipe: $(cat -A pipe.out)"
cmp disk.snap pipe.snap || fail "the same input gave different snapshots"
# -v: a one-line summary, wherever stderr goes.
run_tool 0 "$tool" convert -v -p disk.img verbose.snap
[[ $(wc -l <err) == 1 ]] || fail "-v: expected one line: $(cat -A err)"
err_has "disk.img -> verbose.snap: 256 MiB disk, 20 MiB of data, "

# An existing OUT is kept, with a message naming it, unless --force.
echo precious >out.img
run_tool 1 "$tool" convert disk.snap out.img
err_has "memdisk-tool: out.img: already exists; not overwritten (use --force to replace it)"
[[ $(cat out.img) == precious ]] || fail "convert overwrote OUT without --force"
run_tool 0 "$tool" convert --force disk.snap out.img
cmp disk.img out.img || fail "convert --force did not write OUT"
run_tool 0 "$tool" convert -f -l 1 disk.img disk.snap
run_tool 1 "$tool" convert disk.img disk.snap
err_has "disk.snap: already exists"

# OUT '-': stdout, never refused on a pipe, refused on a terminal.
"$tool" convert disk.snap - | cmp - disk.img || fail "convert to stdout differs"
"$tool" convert -O snapshot disk.snap - >stdout.snap
run_tool 0 "$tool" diff stdout.snap disk.snap
script -qec "$(printf '%q ' "$tool" convert disk.snap -)" /dev/null </dev/null >tty.out && fail "wrote a disk to a terminal"
grep -q "standard output is a terminal" tty.out || fail "message: $(cat tty.out)"

# Missing and damaged inputs: 1 with the file named; usage errors: 2.
run_tool 1 "$tool" convert nothere.img x.snap
err_has "nothere.img: cannot open: No such file or directory"
[[ ! -e x.snap ]] || fail "a failed convert left OUT"
run_tool 2 "$tool" convert disk.img
err_has "expected IN and OUT"; err_is_usage convert
run_tool 2 "$tool" convert -l 99 disk.img x.snap
err_has "compression level '99'"
run_tool 2 "$tool" convert --page-size=1X disk.img x.snap
err_has "page size '1X' is not a size"
run_tool 2 "$tool" convert --level disk.img
run_tool 2 "$tool" convert --frobnicate disk.img x.snap
err_has "unknown option '--frobnicate'"
echo PASS
