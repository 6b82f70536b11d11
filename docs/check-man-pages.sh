#!/usr/bin/env bash
# The docs/man-pages test (see docs/CMakeLists.txt):
#
#   check-man-pages.sh SOURCE-DIR BUILD-DIR PAGE...
#
# For each PAGE, fails when:
#   - SOURCE-DIR/PAGE.pod holds a character outside ASCII;
#   - podchecker reports an error or a warning in SOURCE-DIR/PAGE.pod;
#   - groff warns about BUILD-DIR/PAGE.1 (-ww: all warnings, for a UTF-8
#     and an ASCII terminal), or `man -l` warns in the C locale, in
#     C.UTF-8 or with no locale set, or renders it empty, or without NAME, SYNOPSIS, DESCRIPTION
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
  local rendered=$1 help first rest name names=() params
  [[ -n ${MEMDISK_PLUGIN:-} ]] || { fail "MEMDISK_PLUGIN is not set"; return; }
  help=$(nbdkit "$MEMDISK_PLUGIN" --help) || { fail "nbdkit $MEMDISK_PLUGIN --help failed"; return; }
  # The plugin's parameter lines start "[size=]<SIZE>" or "snapshot=<FILE>".
  while read -r first rest; do
    [[ $first =~ ^\[?([a-z][a-z-]*)=\]?\< ]] && names+=("${BASH_REMATCH[1]}")
  done <<<"$help"
  ((${#names[@]} > 0)) || { fail "no parameters found in the plugin's --help"; return; }
  # Into a file first: `awk | grep -q` fails under pipefail when grep
  # exits at its match while awk is still writing (SIGPIPE).
  rendered_parameters "$rendered" >"$tmp/parameters"
  for name in "${names[@]}"; do
    grep -Eq "^ +\[?$name=" "$tmp/parameters" ||
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

  # A character outside ASCII vanishes or turns into "X" on a terminal in
  # the C locale: keep the sources ASCII.
  if LC_ALL=C grep -n '[^[:print:][:space:]]' "$pod" >"$tmp/nonascii"; then
    fail "$pod has characters outside ASCII (they do not render in the C locale): $(head -3 "$tmp/nonascii")"
  fi

  # -k: preconv, as man(1) does.  -Tascii too: what a C locale gets.
  for device in utf8 ascii; do
    groff -k -man -T"$device" -ww -z "$man" 2>"$tmp/groff" || fail "groff -T$device failed on $man"
    [[ ! -s $tmp/groff ]] || fail "groff -T$device warnings on $man: $(cat "$tmp/groff")"
  done

  # A user's locale decides how man renders the page: plain C, C.UTF-8,
  # and none at all (a minimal container), each without a warning.
  for locale in LANG=C LC_ALL=C.UTF-8 none; do
    env=(env -u LANG -u LANGUAGE -u LC_ALL -u LC_CTYPE -u LC_MESSAGES)
    [[ $locale == none ]] || env+=("$locale")
    MANWIDTH=80 "${env[@]}" man --warnings -l "$man" 2>"$tmp/man.err" | col -b >"$tmp/rendered" ||
      fail "man -l $man failed ($locale)"
    [[ ! -s $tmp/man.err ]] || fail "man -l $man warned ($locale): $(cat "$tmp/man.err")"
  done
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
