#!/usr/bin/env bash
# Hostile snapshot paths (issue 11): another user, nobody, plants files and
# links in a world-writable sticky folder, or owns a folder on the path.
# A server run by root refuses such a FILE at start, saying why and what
# to do, and leaves it as it was; a FILE that root may trust (its own
# file, its own link) is loaded and replaced, the link followed and the
# file it leads to replaced, with its rwx bits but never setuid, setgid or
# sticky.  A server run by nobody refuses root's file in a sticky folder
# at start instead of failing every save.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands setpriv nbdsh
((EUID == 0)) || fail "this test plays root against nobody: run it as root"

size=$((4 * 1024 * 1024))
as_nobody () { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
chmod 0711 "$MD_TMP"
# nobody may not be able to read the build tree (a clone under /root).
cp -- "$MEMDISK_PLUGIN" "$MD_TMP/plugin.so"
chmod 0755 "$MD_TMP/plugin.so"

# A good snapshot, world-readable so that nobody can copy it.
persist_make_image "$MD_TMP/good.img" "$size"
good=$MD_TMP/good.snap
memdisk_start disk "$size" snapshot="$good"
nbdcopy -- "$MD_TMP/good.img" "$(nbdkit_uri disk)" || fail "nbdcopy into the disk failed"
nbdkit_stop disk
chmod 0644 "$good"

ww=$MD_TMP/ww
mkdir -m 1777 "$ww"
roots=$MD_TMP/roots
mkdir -m 0755 "$roots"

# unchanged FILE ID: FILE still has the identity persist_file_id gave.
unchanged ()
{
  [[ $(persist_file_id "$1") == "$2" ]] || fail "a refused start changed $1"
  [[ -z $(persist_temporaries "$1") ]] || fail "temporaries left next to $1"
}

# --- nobody's file, mode 6777, in the sticky folder ---
as_nobody cp -- "$good" "$ww/planted.snap"
as_nobody chmod 6777 "$ww/planted.snap"
id=$(persist_file_id "$ww/planted.snap")
persist_expect_refusal "$size" snapshot="$ww/planted.snap" -- \
  "$ww/planted.snap is owned by nobody" "chown it to root"
unchanged "$ww/planted.snap" "$id"
[[ $(stat -c '%a %U' "$ww/planted.snap") == "6777 nobody" ]] || fail "the planted file's mode or owner changed"

# --- nobody's link to root's secret ---
printf 'secret of root\n' >"$roots/secret.snap"
chmod 6777 "$roots/secret.snap"
as_nobody ln -s ../roots/secret.snap "$ww/link.snap"
id=$(persist_file_id "$roots/secret.snap")
persist_expect_refusal "$size" snapshot="$ww/link.snap" -- \
  "$ww/link.snap is a symbolic link owned by nobody" "is not followed"
unchanged "$roots/secret.snap" "$id"
[[ -L $ww/link.snap ]] || fail "nobody's link was replaced"

# A link in a folder nobody owns (not a link of nobody's: root made it).
mkdir -m 0755 "$MD_TMP/nobodys"
ln -s ../roots/secret.snap "$MD_TMP/nobodys/rootlink.snap"
chown nobody:nogroup "$MD_TMP/nobodys"
persist_expect_refusal "$size" snapshot="$MD_TMP/nobodys/rootlink.snap" -- \
  "the folder $MD_TMP/nobodys is owned by nobody"
unchanged "$roots/secret.snap" "$id"
# A new file in nobody's folder.
persist_expect_refusal "$size" snapshot="$MD_TMP/nobodys/new.snap" -- \
  "the folder $MD_TMP/nobodys is owned by nobody" "use a folder owned by root"
[[ ! -e $MD_TMP/nobodys/new.snap ]] || fail "a refused start created nobodys/new.snap"

# --- folders others may write, without the sticky bit ---
mkdir -m 0755 "$MD_TMP/open"
cp -- "$good" "$MD_TMP/open/disk.snap"
chmod 0777 "$MD_TMP/open"
id=$(persist_file_id "$MD_TMP/open/disk.snap")
persist_expect_refusal "$size" snapshot="$MD_TMP/open/disk.snap" -- \
  "the folder $MD_TMP/open can be written by every user (mode 0777)" "no sticky bit" "chmod go-w"
unchanged "$MD_TMP/open/disk.snap" "$id"
chmod 0770 "$MD_TMP/open"
persist_expect_refusal "$size" snapshot="$MD_TMP/open/disk.snap" -- \
  "can be written by its group (mode 0770)"
# A folder above it counts too.
chmod 0755 "$MD_TMP/open"
mkdir -m 0755 "$MD_TMP/open/sub"
chmod 0777 "$MD_TMP/open"
persist_expect_refusal "$size" snapshot="$MD_TMP/open/sub/new.snap" -- \
  "the folder $MD_TMP/open can be written by every user"
chmod 0755 "$MD_TMP/open"

# --- nbdkit run by nobody, root's file in the sticky folder ---
cp -- "$good" "$ww/roots.snap"
chmod 0666 "$ww/roots.snap"
id=$(persist_file_id "$ww/roots.snap")
status=0
err=$(as_nobody nbdkit -U - "$MD_TMP/plugin.so" "$size" snapshot="$ww/roots.snap" --run true \
      </dev/null 2>&1 >/dev/null) || status=$?
((status != 0 && status < 128)) || fail "nobody's server on root's file: exit $status, expected a refusal: $err"
for text in "$ww/roots.snap is owned by root" "not by nobody" "could not even replace"; do
  grep -qF -- "$text" <<<"$err" || fail "nobody's server on root's file: no '$text' in: $err"
done
unchanged "$ww/roots.snap" "$id"

# --- nbdkit -u nobody -g nogroup: the checks hold for nobody, who saves ---
# (nbdkit switches users after loading and does not tell plugins; the
# plugin reads -u and -g from nbdkit's command line.)
as_user ()  # EXPECTED-STATUS ARG...: nbdkit -u nobody -g nogroup ARG
{
  local want=$1 status=0
  shift
  err=$(nbdkit -U - "$@" --run 'nbdsh -u "$uri" -c "h.pwrite(b\"by nobody\" * 64, 0)"' \
        </dev/null 2>&1 >/dev/null) || status=$?
  ((status == want)) || fail "nbdkit $*: exit $status, expected $want: $err"
}
as_user 1 -u nobody -g nogroup "$MD_TMP/plugin.so" snapshot="$ww/roots.snap"
grep -qF "$ww/roots.snap is owned by root (uid 0), not by nobody" <<<"$err" ||
  fail "-u nobody on root's file: $err"
unchanged "$ww/roots.snap" "$id"
# A folder root may write but nobody may not: the probe runs as nobody.
as_user 1 --user=nobody --group nogroup "$MD_TMP/plugin.so" 1M snapshot="$roots/new.snap"
grep -qF "cannot write the folder of $roots/new.snap (saves would fail): as user nobody and group nogroup:" <<<"$err" ||
  fail "-u nobody in root's folder: $err"
grep -qF "Permission denied" <<<"$err" || fail "-u nobody in root's folder: $err"
[[ ! -e $roots/new.snap ]] || fail "a refused start created $roots/new.snap"
# nobody's folder and file: served, and saved by nobody.
mkdir -m 0755 "$MD_TMP/nobodys-own"
chown nobody:nogroup "$MD_TMP/nobodys-own"
as_user 0 -u nobody -g nogroup "$MD_TMP/plugin.so" 1M snapshot="$MD_TMP/nobodys-own/disk.snap"
[[ $(stat -c '%U %a' "$MD_TMP/nobodys-own/disk.snap") == "nobody 600" ]] ||
  fail "the save as nobody: $(stat -c '%U %a' "$MD_TMP/nobodys-own/disk.snap")"
as_user 0 -u nobody -g nogroup "$MD_TMP/plugin.so" snapshot="$MD_TMP/nobodys-own/disk.snap"
persist_verify "$MD_TMP/nobodys-own/disk.snap"

# --- what root may trust: its own link, its own file ---
cp -- "$good" "$roots/real.snap"
chmod 6750 "$roots/real.snap"
mkdir -m 0755 "$MD_TMP/links"
ln -s ../roots/real.snap "$MD_TMP/links/disk.snap"
memdisk_start mine snapshot="$MD_TMP/links/disk.snap"
nbdsh -u "$(nbdkit_uri mine)" -c 'h.pwrite(b"written through a link" * 100, 65536)' ||
  fail "nbdsh could not write"
persist_disk_image mine "$MD_TMP/expected.img"
nbdkit_stop mine
[[ -L $MD_TMP/links/disk.snap ]] || fail "the save replaced the link instead of following it"
[[ $(stat -c '%a %U' "$roots/real.snap") == "750 root" ]] ||
  fail "the saved file has mode $(stat -c '%a %U' "$roots/real.snap"), expected 750 root (rwx bits only)"
persist_verify "$roots/real.snap"
persist_snapshot_image "$roots/real.snap" "$MD_TMP/saved.img"
cmp -- "$MD_TMP/expected.img" "$MD_TMP/saved.img" || fail "the file behind the link does not hold the disk"
[[ -z $(persist_temporaries "$roots/real.snap") ]] || fail "temporaries left in $roots"

# A link of root's to a file that does not exist yet: the save creates it.
ln -s ../roots/later.snap "$MD_TMP/links/later.snap"
memdisk_start later "$size" snapshot="$MD_TMP/links/later.snap"
nbdkit_stop later
[[ -L $MD_TMP/links/later.snap ]] || fail "the first save replaced the link"
[[ $(stat -c '%a' "$roots/later.snap") == 600 ]] || fail "a new file is not 0600"
persist_verify "$roots/later.snap"

# --- snapshot-readonly reads anyone's regular file: it is never written ---
memdisk_start ro snapshot="$ww/planted.snap" snapshot-readonly=true
persist_disk_image ro "$MD_TMP/readback.img"
cmp -- "$MD_TMP/good.img" "$MD_TMP/readback.img" || fail "snapshot-readonly=true of nobody's file"
nbdkit_stop ro

echo "ok: planted files, links and open folders refused; trusted links followed; modes rwx only"
