#!/usr/bin/env bash
# The docs/man-pages test (see docs/CMakeLists.txt):
#
#   check-man-pages.sh SOURCE-DIR BUILD-DIR PAGE...
#
# For each PAGE, fails when:
#   - podchecker reports an error or a warning in SOURCE-DIR/PAGE.pod;
#   - groff warns about BUILD-DIR/PAGE.1 (-ww: all warnings), or
#     `man -l` renders it empty, or without NAME, SYNOPSIS, DESCRIPTION
#     and SEE ALSO (and, for an nbdkit-*-plugin page, the sections nbdkit's
#     own plugin pages have);
# and for nbdkit-memdisk-plugin, when a parameter that
# `nbdkit $MEMDISK_PLUGIN --help` lists is missing from PARAMETERS.
set -euo pipefail
export PATH=/usr/bin:/bin:$PATH

(($# >= 3)) || { echo "usage: $0 SOURCE-DIR BUILD-DIR PAGE..." >&2; exit 2; }
source_dir=$1 build_dir=$2
shift 2

failed=0
fail () { echo "FAIL: $*" >&2; failed=1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memdisk-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

page_sections=(NAME SYNOPSIS DESCRIPTION "SEE ALSO")
plugin_page_sections=(EXAMPLES PARAMETERS FILES VERSION)

# The item names of the PARAMETERS section of a rendered page.
rendered_parameters ()
{
  awk '/^PARAMETERS$/ { on = 1; next } /^[A-Z]/ { on = 0 } on' "$1"
}

check_plugin_parameters ()
{
  local rendered=$1 help first rest name names=()
  [[ -n ${MEMDISK_PLUGIN:-} ]] || { fail "MEMDISK_PLUGIN is not set"; return; }
  help=$(nbdkit "$MEMDISK_PLUGIN" --help) || { fail "nbdkit $MEMDISK_PLUGIN --help failed"; return; }
  # The plugin's parameter lines start "[size=]<SIZE>" or "snapshot=<FILE>".
  while read -r first rest; do
    [[ $first =~ ^\[?([a-z][a-z-]*)=\]?\< ]] && names+=("${BASH_REMATCH[1]}")
  done <<<"$help"
  ((${#names[@]} > 0)) || { fail "no parameters found in the plugin's --help"; return; }
  for name in "${names[@]}"; do
    rendered_parameters "$rendered" | grep -Eq "^ +\[?$name=" ||
      fail "nbdkit-memdisk-plugin.1: PARAMETERS does not describe $name= (listed by --help)"
  done
}

for page in "$@"; do
  pod=$source_dir/$page.pod man=$build_dir/$page.1
  [[ -s $man ]] || { fail "$man is missing or empty (build the man-pages target)"; continue; }

  if [[ -n ${PODCHECKER:-} ]]; then
    "$PODCHECKER" "$pod" >"$tmp/podchecker" 2>&1 ||
      fail "podchecker found errors in $pod: $(cat "$tmp/podchecker")"
    if grep -q WARNING "$tmp/podchecker"; then
      fail "podchecker warnings in $pod: $(grep WARNING "$tmp/podchecker")"
    fi
  fi

  # -k: preconv, as man(1) does: the page is UTF-8 (pod2man --utf8).
  groff -k -man -Tutf8 -ww -z "$man" 2>"$tmp/groff" || fail "groff failed on $man"
  [[ ! -s $tmp/groff ]] || fail "groff warnings on $man: $(cat "$tmp/groff")"

  MANWIDTH=80 man --warnings -l "$man" 2>"$tmp/man.err" | col -b >"$tmp/rendered" ||
    fail "man -l $man failed"
  [[ ! -s $tmp/man.err ]] || fail "man -l $man warned: $(cat "$tmp/man.err")"
  (($(wc -l <"$tmp/rendered") > 50)) || fail "man -l $man rendered almost nothing"
  sections=("${page_sections[@]}")
  [[ $page != nbdkit-*-plugin ]] || sections+=("${plugin_page_sections[@]}")
  for section in "${sections[@]}"; do
    grep -qx "$section" "$tmp/rendered" || fail "$page.1 has no $section section"
  done
  grep -q "^ *$page - " "$tmp/rendered" || fail "$page.1: NAME does not start with '$page - '"

  [[ $page != nbdkit-memdisk-plugin ]] || check_plugin_parameters "$tmp/rendered"
done

((failed == 0)) && echo "man pages OK: $*"
exit "$failed"
