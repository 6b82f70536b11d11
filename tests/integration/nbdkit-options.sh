#!/usr/bin/env bash
# The plugin reads nbdkit's -u and -g from nbdkit's command line with a
# copy of nbdkit's option table (plugin/nbdkit-options.c, see runas.h):
# the copy must be exactly the installed nbdkit's.  nbdkit lists its
# options (--short-options, --long-options; the two listing options
# themselves are hidden), and its getopt says what each takes: --OPT=x is
# refused ("doesn't allow an argument") when OPT takes no value, --OPT and
# -O alone are refused ("requires an argument") when it needs one.
# Without a plugin on the command line nbdkit never serves, so probing
# each option is harmless.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ -x ${MEMDISK_NBDKIT_OPTIONS_DUMP:-} ]] ||
  fail "MEMDISK_NBDKIT_OPTIONS_DUMP does not name the built nbdkit_options_dump"

# What nbdkit's getopt says about OPTION: none, required, optional or unknown.
takes ()
{
  local option=$1 alone with_value
  alone=$(LC_ALL=C nbdkit "$option" </dev/null 2>&1 || true)
  if grep -qF -e "unrecognized option '$option'" -e "invalid option -- '${option#-}'" <<<"$alone"; then
    echo unknown
  elif grep -qF -e "option '$option' requires an argument" \
                -e "option requires an argument -- '${option#-}'" <<<"$alone"; then
    echo required
  elif [[ $option == -? ]]; then
    echo none
  else
    with_value=$(LC_ALL=C nbdkit "$option=x" </dev/null 2>&1 || true)
    if grep -qF "option '$option' doesn't allow an argument" <<<"$with_value"; then
      echo none
    else
      echo optional
    fi
  fi
}

listed=$(nbdkit --short-options; nbdkit --long-options; echo --long-options; echo --short-options)
[[ $(wc -l <<<"$listed") -gt 20 ]] || fail "nbdkit listed too few options: $listed"
theirs=$(for option in $listed; do echo "$option $(takes "$option")"; done | sort -u)
ours=$("$MEMDISK_NBDKIT_OPTIONS_DUMP" | sort -u)
grep -q "unknown" <<<"$theirs" && fail "nbdkit does not know an option it listed: $(grep unknown <<<"$theirs")"
# The probe itself: -u and --user take a value, --foreground none.
for expect in "-u required" "--user required" "--group required" "--foreground none" "-f none"; do
  grep -qxF -- "$expect" <<<"$theirs" || fail "the probe found no '$expect' in: $theirs"
done

if [[ $ours != "$theirs" ]]; then
  diff <(echo "$ours") <(echo "$theirs") >&2 || true
  fail "plugin/nbdkit-options.c (<) differs from the installed nbdkit's options (>): update it, runas.c reads -u and -g with it"
fi
echo "ok: the plugin's copy of nbdkit's options is nbdkit's own ($(wc -l <<<"$ours") options)"
