#!/usr/bin/env bash
# The docs/version test: the version comes from one place, VERSION, and
# everything that shows it agrees:
#
#   check-version.sh SOURCE-DIR BUILD-DIR
#
# debian/changelog's top entry (its upstream part, before any "-"), the
# `memdisk-tool --version` line, `nbdkit PLUGIN --dump-plugin`'s version=
# and memdisk_version=, and the man pages' footer (pod2man --release).
set -euo pipefail
export PATH=/usr/bin:/bin:$PATH

(($# == 2)) || { echo "usage: $0 SOURCE-DIR BUILD-DIR" >&2; exit 2; }
source_dir=$1 build_dir=$2
failed=0
fail () { echo "FAIL: $*" >&2; failed=1; }

version=$(head -n 1 "$source_dir/VERSION")
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "VERSION holds '$version', not MAJOR.MINOR.PATCH"

# "memdisk (0.1.0) unstable; urgency=medium", or "(0.1.0-1)".
top=$(head -n 1 "$source_dir/debian/changelog")
[[ $top =~ ^memdisk\ \(([^\)]+)\)\  ]] || fail "debian/changelog: top line is not 'memdisk (VERSION) ...': $top"
changelog=${BASH_REMATCH[1]:-}
[[ ${changelog%%-*} == "$version" ]] ||
  fail "debian/changelog's top entry is $changelog, VERSION is $version (add an entry: dch -v $version)"

tool=$("$build_dir/memdisk-tool" --version) || fail "memdisk-tool --version failed"
[[ $tool == "memdisk-tool $version" ]] || fail "memdisk-tool --version says '$tool', VERSION is $version"

dump=$(nbdkit "$MEMDISK_PLUGIN" --dump-plugin) || fail "nbdkit --dump-plugin failed"
for key in version memdisk_version; do
  grep -qxF "$key=$version" <<<"$dump" ||
    fail "--dump-plugin does not show $key=$version: $(grep "^$key=" <<<"$dump")"
done

for page in nbdkit-memdisk-plugin memdisk-tool; do
  grep -q "^\.TH .*\"memdisk-$version\"" "$build_dir/docs/$page.1" ||
    fail "$page.1 does not name memdisk-$version: $(grep '^\.TH' "$build_dir/docs/$page.1")"
done

((failed == 0)) && echo "version $version everywhere"
exit "$failed"
