#!/usr/bin/env bash
# Links memdisk-tool must not follow (issue 23, item 1): in a sticky
# world-writable folder, nobody plants a link to root's file, a dangling
# link into root's folder, or a link to root's folder; root's `create` and
# `convert`, with and without --force, refuse to write through them, as
# nbdkit memdisk refuses such a snapshot=FILE ("a symbolic link owned by
# nobody ... is not followed"), and leave everything as it was.  The links
# root or the acting user owns are followed as before, and a link in a
# folder others may write without the sticky bit is refused.  Nothing here
# depends on fs.protected_symlinks (off on many systems, and on the test
# machine): the tool checks the links itself.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tool_lib.sh"
require_commands setpriv
((EUID == 0)) || fail "this test plays root against nobody: run it as root"

as_nobody () { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
chmod 0711 "$MD_TMP"
# nobody may not be able to read the build tree (a clone under /root).
cp -- "$tool" "$MD_TMP/memdisk-tool"
chmod 0755 "$MD_TMP/memdisk-tool"

ww=$MD_TMP/ww                   # the sticky world-writable folder (/tmp)
mkdir -m 1777 "$ww"
roots=$MD_TMP/roots             # root's private folder and files
mkdir -m 0700 "$roots"
printf 'secret of root\n' >"$roots/secret.conf"
victim=$MD_TMP/victim           # a folder of root's nobody may not write
mkdir -m 0755 "$victim"

# Inputs: a raw image with data, and a snapshot of it.
head -c 65536 /dev/urandom >"$MD_TMP/in.img"
truncate -s 1M "$MD_TMP/in.img"
"$tool" convert -O snapshot "$MD_TMP/in.img" "$MD_TMP/in.snap" >/dev/null ||
  fail "convert of the input failed"

# The planted links, made by nobody.
as_nobody ln -s "$roots/secret.conf" "$ww/file.snap"      # to root's file
as_nobody ln -s "$roots/new.conf" "$ww/dangling.snap"     # to no file yet
as_nobody ln -s "$victim" "$ww/build"                     # to root's folder
[[ $(stat -c %U "$ww/file.snap") == nobody ]] || fail "the planted link is not nobody's"

secret_id=$(stat -c '%i %s %.9Y' "$roots/secret.conf")
# untouched: nothing was written through the links, nothing left behind.
untouched ()
{
  [[ $(stat -c '%i %s %.9Y' "$roots/secret.conf") == "$secret_id" ]] ||
    fail "$1: root's secret.conf was replaced through nobody's link"
  [[ $(cat "$roots/secret.conf") == "secret of root" ]] || fail "$1: secret.conf changed"
  [[ $(ls -A "$roots") == secret.conf ]] ||
    fail "$1: wrote into root's folder: $(ls -A "$roots")"
  [[ -z $(ls -A "$victim") ]] || fail "$1: wrote into the victim folder: $(ls -A "$victim")"
  [[ -L $ww/file.snap && -L $ww/dangling.snap && -L $ww/build ]] ||
    fail "$1: a planted link was replaced"
  [[ -z $(find "$ww" -name '.*' ! -name . -printf '%f\n') ]] ||
    fail "$1: left files in the sticky folder: $(find "$ww" -name '.*' ! -name .)"
}

# refused OUT ARG...: `memdisk-tool ARG` exits 1 saying that nobody's link
# is not followed, and writes nothing.
refused ()
{
  local link=$1
  shift
  run_tool 1 "$tool" "$@"
  err_has "$link is a symbolic link owned by nobody"
  err_has "is not followed"
  untouched "memdisk-tool $*"
}

for force in -f ''; do
  what="${force:+with -f}${force:-without -f}"
  # A link to root's file; a dangling link into root's folder.  Without
  # -f these names exist, which refuses them too.
  for link in file.snap dangling.snap; do
    if [[ -n $force ]]; then
      refused "$ww/$link" create -f -s 1M "$ww/$link"
      refused "$ww/$link" convert -f "$MD_TMP/in.img" "$ww/$link"
      refused "$ww/$link" convert -f -O raw "$MD_TMP/in.snap" "$ww/$link"
    else
      run_tool 1 "$tool" create -s 1M "$ww/$link"
      untouched "create $what onto $link"
      run_tool 1 "$tool" convert "$MD_TMP/in.img" "$ww/$link"
      untouched "convert $what onto $link"
      run_tool 1 "$tool" convert -O raw "$MD_TMP/in.snap" "$ww/$link"
      untouched "convert -O raw $what onto $link"
    fi
  done
  # A link to root's folder: no file exists at build/disk.snap, so even
  # without -f nothing but the link stops the write.
  # shellcheck disable=SC2086  # $force is one word or none
  refused "$ww/build" create $force -s 1M "$ww/build/disk.snap"
  # shellcheck disable=SC2086
  refused "$ww/build" convert $force "$MD_TMP/in.img" "$ww/build/disk.snap"
  # shellcheck disable=SC2086
  refused "$ww/build" convert $force -O raw "$MD_TMP/in.snap" "$ww/build/disk.img"
done

# A link of root's lying in a folder others may write without the sticky
# bit: anyone could replace it, so it is not followed either.
mkdir -m 0755 "$MD_TMP/open"
ln -s "$roots/open-target.snap" "$MD_TMP/open/disk.snap"
chmod 0777 "$MD_TMP/open"
run_tool 1 "$tool" create -f -s 1M "$MD_TMP/open/disk.snap"
err_has "the folder $MD_TMP/open can be written by every user"
[[ ! -e $roots/open-target.snap ]] || fail "created a file through a link in an open folder"
chmod 0755 "$MD_TMP/open"

# What is followed: root's own links, in the sticky folder too.
mkdir -m 0755 "$MD_TMP/mine"
ln -s "$MD_TMP/mine" "$ww/mylink"
"$tool" create -s 1M "$ww/mylink/a.snap" || fail "create through root's folder link failed"
"$tool" verify "$MD_TMP/mine/a.snap" >/dev/null || fail "mine/a.snap does not verify"
ln -s "$MD_TMP/mine/a.snap" "$ww/mine.snap"
"$tool" convert -f "$MD_TMP/in.img" "$ww/mine.snap" >/dev/null ||
  fail "convert -f through root's own link failed"
[[ -L $ww/mine.snap ]] || fail "convert -f replaced root's link instead of following it"
"$tool" convert -O raw "$MD_TMP/mine/a.snap" - | cmp - "$MD_TMP/in.img" ||
  fail "the file root's link leads to does not hold the converted image"
rm -- "$ww/mylink" "$ww/mine.snap"

# And nobody's own link, for nobody: the acting user's links are followed.
mkdir -m 0755 "$MD_TMP/nobodys"
chown nobody:nogroup "$MD_TMP/nobodys"
as_nobody ln -s "$MD_TMP/nobodys/disk.snap" "$ww/nobodys.snap"
as_nobody "$MD_TMP/memdisk-tool" create -f -s 1M "$ww/nobodys.snap" ||
  fail "nobody's create -f through nobody's own link failed"
[[ $(stat -c %U "$MD_TMP/nobodys/disk.snap") == nobody ]] ||
  fail "nobody's create -f did not write the file nobody's link leads to"
[[ -L $ww/nobodys.snap ]] || fail "nobody's create -f replaced nobody's link"
untouched "the links that are followed"

# The server replaces its file the same way: nobody plants a link at the
# name of a snapshot root's server has not written yet (the start-up
# checks passed: no link was there); the exit save refuses to follow it.
err=$(nbdkit -U - "$MEMDISK_PLUGIN" 1M snapshot="$ww/late.snap" \
      --run "setpriv --reuid=nobody --regid=nogroup --clear-groups ln -s $roots/late.conf $ww/late.snap" \
      </dev/null 2>&1 >/dev/null) || true
[[ ! -e $roots/late.conf ]] || fail "the server's exit save wrote through nobody's link"
grep -qF "$ww/late.snap is a symbolic link owned by nobody" <<<"$err" ||
  fail "the server does not say why its save failed: $err"
[[ -L $ww/late.snap ]] || fail "the exit save replaced nobody's link"
untouched "the server's exit save"

echo "ok: create and convert, with and without -f, and a server's save refuse nobody's links to a file, to nothing and to a folder; trusted links are followed"
