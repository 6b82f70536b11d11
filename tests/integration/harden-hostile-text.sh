#!/usr/bin/env bash
# Terminal safety (issue 11): control bytes in a file name and in a
# snapshot's creator string (ESC sequences, BEL, the C1 CSI U+009B, a
# lone 0x9B) never reach the terminal raw: not from info, verify, diff,
# convert -v, error messages or usage errors; info --json escapes them,
# C1 included, as \u00XX, and stays valid JSON.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tool_lib.sh"
here=$(dirname "$0")
cd "$MD_TMP"

creator=$'cr\e[31meator\xc2\x9b2J\x9b\a'
name=$'evil\e]0;pwned\a\e[2J\xc2\x9b31m\x9b.snap'
safe_name='evil?]0;pwned??[2J?31m?.snap'
/usr/bin/python3 "$here/persist_snapfile.py" bomb "$name" /dev/null 0 "$creator"
run_tool 0 "$tool" verify "$name"
cp -- "$name" good.snap

# clean FILE WHAT: FILE holds no control byte but newlines, no C1 control
# and nothing that is not UTF-8.
clean ()
{
  /usr/bin/python3 -c 'import re, sys
data = open(sys.argv[1], "rb").read()
try:
    text = data.decode("utf-8")
except UnicodeDecodeError as e:
    sys.exit("not UTF-8 at byte %d: %r" % (e.start, data[max(0, e.start - 20):e.start + 20]))
bad = re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)
if bad:
    sys.exit("control character %r at %d: %r" % (bad.group(), bad.start(), text[max(0, bad.start() - 20):bad.start() + 20]))' "$1" ||
    fail "$2 printed raw control bytes"
}

run_tool 0 "$tool" info "$name"
clean out "info"
out_has "file: $safe_name"
out_has "creator: cr?[31meator?2J??"

run_tool 0 "$tool" info --json "$name"
clean out "info --json"
[[ $(json_get out 'j["creator"] == "cr\x1b[31meator\x9b2J\ufffd\x07"') == true ]] ||
  fail "info --json: the creator does not decode to the original: $(cat out)"
grep -qF '\u009b' out || fail "info --json does not escape the C1 CSI as \\u009b: $(cat out)"
[[ $(json_get out 'j["filename"].startswith("evil\x1b]0;pwned\x07")') == true ]] ||
  fail "info --json: the file name does not decode to the original: $(cat out)"

run_tool 0 "$tool" verify "$name"
clean out "verify"
out_has "$safe_name: OK: format 1.0"

run_tool 0 "$tool" diff good.snap "$name"
clean out "diff"
out_has "good.snap and $safe_name are the same disk"
run_tool 0 "$tool" diff --json good.snap "$name"
clean out "diff --json"

run_tool 0 "$tool" convert -v "$name" "$name.img"
clean err "convert -v"
err_has "$safe_name -> $safe_name.img: 1 MiB disk"

# Error messages: a damaged file, a missing one, an existing OUT, a usage
# error, an unknown command.
cp -- "$name" "$name.bad"
printf 'X' | dd of="$name.bad" bs=1 seek=40 conv=notrunc status=none
run_tool 1 "$tool" verify "$name.bad"
clean err "verify of a damaged file"
err_has "$safe_name.bad: "
run_tool 1 "$tool" info "$name.missing"
clean err "info of a missing file"
err_has "$safe_name.missing: cannot open"
run_tool 1 "$tool" convert -O snapshot good.snap "$name"
clean err "convert onto an existing file"
run_tool 2 "$tool" convert --page-size=$'\e[2J' good.snap x.snap
clean err "a bad page size"
run_tool 2 "$tool" $'\e[2Jcmd'
clean err "an unknown command"
run_tool 2 "$tool" $'-\e[2J'
clean err "an unknown option"

echo "ok: control bytes in names and creators are shown as '?' and escaped in JSON"
