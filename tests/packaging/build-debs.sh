#!/usr/bin/env bash
# Build memdisk's Debian packages from a copy of the source tree:
#
#   tests/packaging/build-debs.sh OUT-DIR [DPKG-BUILDPACKAGE-ARG...]
#
# Copies the tree (the files git knows, committed or not, or the whole
# folder without build trees if it is not a git checkout) to OUT-DIR/src,
# runs `dpkg-buildpackage -us -uc -b` there (DEB_BUILD_OPTIONS=nocheck
# unless DEB_BUILD_OPTIONS is set: the test suite is not run) and leaves
# the .deb, .buildinfo and .changes files in OUT-DIR, the log in
# OUT-DIR/build.log.  The source tree itself is not written to.  Prints the
# build's time in seconds.
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

(($# >= 1)) || { echo "usage: $0 OUT-DIR [DPKG-BUILDPACKAGE-ARG...]" >&2; exit 2; }
out=$1
shift
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/src"
mkdir "$out/src"
if git -C "$source_dir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$source_dir" && git ls-files -z --cached --others --exclude-standard |
     xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
     tar --null -T - -cf -) | tar -xf - -C "$out/src"
else
  tar -C "$source_dir" --exclude='./build*' --exclude='./obj-*' --exclude='./debian/tmp' \
      -cf - . | tar -xf - -C "$out/src"
fi

export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS-nocheck}
start=$SECONDS
if ! (cd "$out/src" && dpkg-buildpackage -us -uc -b "$@") >"$out/build.log" 2>&1; then
  tail -n 60 "$out/build.log" >&2
  echo "FAIL: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
fi
echo "built in $((SECONDS - start)) s (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS):" $(cd "$out" && ls -- *.deb)
