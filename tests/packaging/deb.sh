#!/usr/bin/env bash
# The packaging/deb test: build the Debian packages (nocheck) from a copy
# of the source tree with build-debs.sh, then check
#   - each package's file list (dpkg-deb -c) against the list below: the
#     plugin in nbdkit's plugindir, the man pages, the systemd units, the
#     example configuration (a conffile), the tool, its bash completion;
#   - the Depends: nbdkit and memdisk-tool for the plugin, shared
#     libraries for both;
#   - the units name the installed paths;
#   - the packaged plugin serves and the packaged tool runs (from the
#     unpacked .debs);
#   - lintian reports no error and no warning (overrides in debian/ say
#     why for what they hide).
# Exit 77 (skip) when dpkg-buildpackage, debhelper or lintian is missing
# (.ci/install-deps installs them) and in sanitizer builds (the packages
# do not depend on the build; stage 1 of .ci/run checks them).
set -euo pipefail
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

skip () { echo "SKIP: $*"; exit 77; }
[[ -z ${MEMDISK_SANITIZE:-} ]] || skip "sanitizer build (the packages are built without sanitizers)"
for cmd in dpkg-buildpackage dpkg-deb dh lintian; do
  command -v "$cmd" >/dev/null ||
    skip "$cmd is not installed (apt-get install dpkg-dev debhelper lintian)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/memdisk-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=0
fail () { echo "FAIL: $*" >&2; failed=1; }

bash "$here/build-debs.sh" "$tmp"
version=$(head -n 1 "$here/../../VERSION")
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
plugin_deb=$tmp/nbdkit-plugin-memdisk_${version}_$arch.deb
tool_deb=$tmp/memdisk-tool_${version}_$arch.deb
[[ -f $plugin_deb && -f $tool_deb ]] || { ls "$tmp" >&2; fail "the .debs are not named NAME_${version}_$arch.deb"; exit 1; }

# files DEB: the regular files and links in DEB, without ./ and without
# usr/share/doc (copyright, changelog), sorted.
files ()
{
  dpkg-deb -c "$1" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./||' |
    grep -v '^usr/share/doc/' | sort
}
check_files ()
{
  local deb=$1 expected actual
  shift
  expected=$(printf '%s\n' "$@" | sort)
  actual=$(files "$deb")
  [[ $actual == "$expected" ]] ||
    fail "${deb##*/} holds other files than expected:$(diff <(echo "$expected") <(echo "$actual") | sed 's/^/  /')"
}
check_files "$plugin_deb" \
  etc/memdisk/example.conf \
  lib/systemd/system/memdisk@.service \
  lib/systemd/system/memdisk@.socket \
  "usr/lib/$multiarch/nbdkit/plugins/nbdkit-memdisk-plugin.so" \
  usr/share/lintian/overrides/nbdkit-plugin-memdisk \
  usr/share/man/man1/nbdkit-memdisk-plugin.1.gz
check_files "$tool_deb" \
  usr/bin/memdisk-tool \
  usr/share/bash-completion/completions/memdisk-tool \
  usr/share/man/man1/memdisk-tool.1.gz
plugindir=$(pkg-config nbdkit --variable=plugindir)
[[ $plugindir == /usr/lib/$multiarch/nbdkit/plugins ]] ||
  fail "nbdkit's plugindir is $plugindir, the package's /usr/lib/$multiarch/nbdkit/plugins"

depends=$(dpkg-deb -f "$plugin_deb" Depends)
for dep in "nbdkit (>= 1.32)" "memdisk-tool (= $version)" libzstd1 libcbor; do
  [[ $depends == *"$dep"* ]] || fail "nbdkit-plugin-memdisk does not depend on $dep: $depends"
done
depends=$(dpkg-deb -f "$tool_deb" Depends)
[[ $depends == *libc6* && $depends == *libzstd1* ]] || fail "memdisk-tool's Depends lacks its libraries: $depends"
dpkg-deb -I "$plugin_deb" conffiles 2>/dev/null | grep -qx /etc/memdisk/example.conf ||
  fail "/etc/memdisk/example.conf is not a conffile"

mkdir "$tmp/root"
dpkg-deb -x "$plugin_deb" "$tmp/root"
dpkg-deb -x "$tool_deb" "$tmp/root"
unit=$tmp/root/lib/systemd/system/memdisk@.service
for line in 'ExecReload=/usr/bin/memdisk-tool save /var/lib/memdisk/%i.snap' \
            'EnvironmentFile=/etc/memdisk/%i.conf' 'LimitMEMLOCK=infinity'; do
  grep -qxF "$line" "$unit" || fail "memdisk@.service lacks '$line'"
done
grep -q '^ExecStart=/usr/bin/nbdkit .* memdisk ' "$unit" || fail "memdisk@.service does not run /usr/bin/nbdkit memdisk"
grep -qxF 'ListenStream=/run/memdisk/%i.sock' "$tmp/root/lib/systemd/system/memdisk@.socket" ||
  fail "memdisk@.socket does not listen on /run/memdisk/%i.sock"

size=$(nbdkit -U - "$tmp/root/usr/lib/$multiarch/nbdkit/plugins/nbdkit-memdisk-plugin.so" 1G \
         --run 'nbdinfo --size "$uri"') || fail "the packaged plugin does not serve"
[[ ${size:-} == 1073741824 ]] || fail "the packaged plugin serves ${size:-nothing}, not 1 GiB"
tool=$("$tmp/root/usr/bin/memdisk-tool" --version) || fail "the packaged memdisk-tool --version failed"
[[ ${tool:-} == "memdisk-tool $version" ]] || fail "the packaged memdisk-tool says '${tool:-}'"
bash -c "source '$tmp/root/usr/share/bash-completion/completions/memdisk-tool' && complete -p memdisk-tool" \
  >/dev/null || fail "the packaged bash completion does not register memdisk-tool"

# lintian refuses to run on nothing, so its silence means something.
# "running with root privileges is not recommended" is lintian's own note.
status=0
(cd "$tmp" && lintian --info --fail-on error,warning ./*.changes) >"$tmp/lintian" 2>&1 || status=$?
grep -v 'running with root privileges is not recommended' "$tmp/lintian" >"$tmp/lintian.tags" || true
if ((status != 0)) || grep -q '^[EW]: ' "$tmp/lintian.tags"; then
  fail "lintian (exit $status): $(cat "$tmp/lintian.tags")"
elif [[ -s $tmp/lintian.tags ]]; then
  echo "lintian notes (not errors or warnings):"
  cat "$tmp/lintian.tags"
fi

((failed == 0)) && echo "packages OK: $(cd "$tmp" && ls -- *.deb | tr '\n' ' ')"
exit "$failed"
