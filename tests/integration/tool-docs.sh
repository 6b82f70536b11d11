#!/usr/bin/env bash
# memdisk-tool's man page and bash completion as installed by
# `cmake --install`: the page renders with man -l and documents every
# command and every long option the tool's --help lists; the completion
# file loads in a plain bash without errors, registers itself, and offers
# the commands, each command's options, option values and file names.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tool_lib.sh"
require_commands cmake man col bash
build=${MEMDISK_BUILD_DIR:?MEMDISK_BUILD_DIR must name the build directory}

dest=$MD_TMP/dest
DESTDIR=$dest cmake --install "$build" >"$MD_TMP/install.log" 2>&1 ||
  fail "cmake --install failed: $(cat "$MD_TMP/install.log")"
installed() {  # NAME: the one installed file called NAME
  local found
  found=$(find "$dest" -name "$1" \( -type f -o -type l \))
  [[ -n $found && $(wc -l <<<"$found") == 1 ]] || fail "expected one installed $1, found: '$found'"
  echo "$found"
}
page=$(installed memdisk-tool.1)
[[ $page == */man/man1/memdisk-tool.1 ]] || fail "man page installed at $page"
completion=$(find "$dest" -path '*/bash-completion/completions/memdisk-tool')
[[ -n $completion && $(wc -l <<<"$completion") == 1 && -f $completion ]] ||
  fail "expected one installed bash completion, found '$completion'"
[[ -x $(find "$dest" -path '*/bin/memdisk-tool') ]] || fail "memdisk-tool is not installed"

# The long options in the option table of 'memdisk-tool COMMAND --help'.
long_options() {
  "$tool" "$1" --help | grep -Eo -- '^ +(-[A-Za-z], )?--[a-z][a-z-]+' | grep -Eo -- '--[a-z-]+' | sort -u
}
[[ $(long_options convert | wc -l) == 9 ]] || fail "convert --help options: $(long_options convert)"

# The man page renders, and covers what --help offers.
MANWIDTH=100 man -l "$page" 2>"$MD_TMP/man.err" | col -b >"$MD_TMP/man.txt" || fail "man -l $page failed"
[[ ! -s $MD_TMP/man.err ]] || fail "man -l warned: $(cat "$MD_TMP/man.err")"
grep -q "^ *memdisk-tool - " "$MD_TMP/man.txt" || fail "the page has no NAME line"
commands=$("$tool" --help | awk '/^Commands:/ { on = 1; next } /^$/ { on = 0 } on { print $1 }')
[[ $(wc -w <<<"$commands") == 9 ]] || fail "--help lists: $commands"
for c in $commands; do
  grep -Eq "^ *memdisk-tool $c( |$)" "$MD_TMP/man.txt" || fail "the man page has no section for '$c'"
  for opt in $(long_options "$c"); do
    grep -q -- "$opt" "$MD_TMP/man.txt" || fail "the man page does not mention $c $opt"
  done
done
for word in "EXIT STATUS" "SIZES" "SOURCE_DATE_EPOCH" '"data": false, "zero": true'; do
  grep -qF -- "$word" "$MD_TMP/man.txt" || fail "the man page lacks '$word'"
done

# The completion loads without errors in a bash without bash-completion.
out=$(bash --norc --noprofile -c 'source "$1" && complete -p memdisk-tool' _ "$completion" 2>&1) ||
  fail "sourcing $completion failed: $out"
[[ $out == "complete -F _memdisk_tool memdisk-tool" ]] || fail "complete -p says: $out"

# What it offers, asked the way bash asks: COMP_WORDS and COMP_CWORD.
mkdir "$MD_TMP/files" && touch "$MD_TMP/files/disk.snap" "$MD_TMP/files/disk.img" "$MD_TMP/files/other"
offers() {  # WORDS...: the completions for the last word, one line, sorted
  (cd "$MD_TMP/files" && bash --norc --noprofile -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _memdisk_tool memdisk-tool "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" || exit 1
    printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ "$completion" "$@" 2>"$MD_TMP/complete.err") ||
    fail "the completion function failed: $(cat "$MD_TMP/complete.err")"
  [[ ! -s $MD_TMP/complete.err ]] || fail "the completion function printed errors: $(cat "$MD_TMP/complete.err")"
}
check_offers() {  # EXPECTED WORDS...
  local want=$1 got
  shift
  got=$(offers "$@")
  [[ $got == "$want" ]] || fail "completing '$*': got '$got', expected '$want'"
}
check_offers "convert create diff help info map reset save status verify " memdisk-tool ""
check_offers "convert create " memdisk-tool c
check_offers "--help --version " memdisk-tool --
check_offers "--help --json " memdisk-tool info -
check_offers "--help --json --quiet " memdisk-tool diff --
check_offers "--page-size= " memdisk-tool convert --pa
check_offers "--region-size= " memdisk-tool convert --reg
check_offers "16M 1M 256K 4K 4M 64K 64M " memdisk-tool create --region-size = ""
check_offers "raw snapshot " memdisk-tool convert -O ""
check_offers "128K 16K 1M 256K 32K 4K 512K 64K 8K " memdisk-tool create --page-size = ""
check_offers "disk.img disk.snap " memdisk-tool info dis
check_offers "disk.img disk.snap other " memdisk-tool diff disk.snap ""
check_offers "diff " memdisk-tool help d
check_offers "--help --json --timeout " memdisk-tool save --
check_offers "--timeout= " memdisk-tool status --t
# Every long option of every command is offered after "COMMAND --".
for c in $commands; do
  got=$(offers memdisk-tool "$c" --)
  for opt in $(long_options "$c"); do
    [[ " $got" == *" $opt "* || " $got" == *" $opt= "* ]] ||
      fail "completion of '$c --' lacks $opt: $got"
  done
done
echo PASS
