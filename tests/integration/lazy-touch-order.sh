#!/usr/bin/env bash
# The touch order (issue 14 item 7): a lazily loaded server records the
# regions its clients touched first, the next save stores them
# ("touch-order", shown by memdisk-tool info), and the next lazy load's
# background loader takes their frames before any other:
#   - a file with no key: no order;
#   - clients read three frames in a known order (no background loader,
#     so every read is a first touch): the save stores exactly those
#     regions, in that order; a save's own walk adds none;
#   - restarted lazily with one background thread and no client: the
#     loader says it loaded the order's frames first, with exactly those
#     frames resident then (the line is written before status says
#     "loaded", which the test waits for);
#   - the next run's touches come first, the file's order after them;
#   - an eager run's save keeps the loaded file's order;
#   - a bad key is refused at start, with a message naming it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh

here=$(dirname "$0")
img=$MD_TMP/disk.img
snap=$MD_TMP/disk.snap
snapfile() { /usr/bin/python3 "$here/persist_snapfile.py" "$@"; }
info_touch_order() { "$MEMDISK_TOOL" info "$1" | sed -n 's/^touch order: //p'; }
PAGE=32768
REGION_PAGES=$(( (4 << 20) / PAGE ))

persist_make_image "$img" $((96 * 1024 * 1024))
"$MEMDISK_TOOL" convert "$img" "$snap" >/dev/null
mapfile -t frames < <(snapfile frames "$snap")
n=${#frames[@]}
((n >= 6)) || fail "expected at least 6 frames, got $n"
first_page() { local f; read -ra f <<<"${frames[$1]}"; echo "${f[3]}"; }
region_of() { echo $(( $(first_page "$1") / REGION_PAGES )); }
[[ -z $(info_touch_order "$snap") ]] || fail "a converted file has a touch order"

# Three frames, read out of file order: the last but one, the second, the middle.
touch=($((n - 2)) 1 $((n / 2)))
want="3 regions: $(region_of "${touch[0]}") $(region_of "${touch[1]}") $(region_of "${touch[2]}")"
memdisk_start lazy snapshot="$snap" snapshot-load-threads=0
nbdsh -u "$(nbdkit_uri lazy)" -c "
for p in ($(first_page "${touch[0]}"), $(first_page "${touch[1]}"), $(first_page "${touch[2]}"), $(first_page "${touch[1]}")):
    h.pread(4096, p * $PAGE)
"
[[ $(persist_status "$snap" 'j["load-progress"]["frames-loaded"]') == 3 ]] ||
  fail "expected the 3 frames read to be loaded"
persist_save "$snap"            # its walk faults every other frame in
persist_save "$snap"            # and the next save still has the same three
nbdkit_stop lazy
persist_verify "$snap"
[[ $(info_touch_order "$snap") == "$want" ]] ||
  fail "the saved touch order is '$(info_touch_order "$snap")', expected '$want'"

# The next lazy load, one background thread, no client: the order's frames first.
memdisk_start lazy -v snapshot="$snap" snapshot-load-threads=1
persist_wait_status "$snap" 'j["load"] == "loaded"' 60
grep -qF "touch order: its 3 frames loaded first; 3 of $n frames resident then" \
     "$(nbdkit_log lazy)" ||
  fail "the loader did not load the touch order's frames first: $(grep -F 'touch order' "$(nbdkit_log lazy)" || echo 'no touch order line')"
nbdkit_stop lazy

# This run's touch first, then the file's order without it.
memdisk_start lazy snapshot="$snap" snapshot-load-threads=0
nbdsh -u "$(nbdkit_uri lazy)" -c "h.pread(4096, $(first_page 0) * $PAGE)
h.pread(4096, $(first_page "${touch[2]}") * $PAGE)"
persist_save "$snap"
nbdkit_stop lazy
want="4 regions: $(region_of 0) $(region_of "${touch[2]}") $(region_of "${touch[0]}") $(region_of "${touch[1]}")"
[[ $(info_touch_order "$snap") == "$want" ]] ||
  fail "the merged touch order is '$(info_touch_order "$snap")', expected '$want'"

# An eager load records nothing and keeps the loaded file's order.
memdisk_start eager snapshot="$snap" snapshot-load=eager
nbdsh -u "$(nbdkit_uri eager)" -c "h.pread(4096, $(first_page 2) * $PAGE)"
persist_save "$snap"
nbdkit_stop eager
[[ $(info_touch_order "$snap") == "$want" ]] ||
  fail "an eager run's save changed the touch order to '$(info_touch_order "$snap")'"

# A bad key: refused by a server, eager or lazy, and by memdisk-tool info.
"$MEMDISK_TOOL" convert "$img" "$MD_TMP/bad.snap" >/dev/null
snapfile add-touch-order "$MD_TMP/bad.snap" '[1, 24]'   # a 96 MiB disk has regions 0 .. 23
for load in lazy eager; do
  persist_expect_refusal snapshot="$MD_TMP/bad.snap" snapshot-load=$load -- \
    "touch-order entry 1, region 24, is beyond the disk's 24 regions" "metadata at byte"
done
"$MEMDISK_TOOL" info "$MD_TMP/bad.snap" >/dev/null 2>&1 && fail "info accepted a bad touch order"
rm "$MD_TMP/bad.snap"
"$MEMDISK_TOOL" convert "$img" "$MD_TMP/bad.snap" >/dev/null
snapfile add-touch-order "$MD_TMP/bad.snap" '"1 2"'
persist_expect_refusal snapshot="$MD_TMP/bad.snap" -- "touch-order" "metadata at byte"
# A good key added by hand is used.
"$MEMDISK_TOOL" convert "$img" "$MD_TMP/good.snap" >/dev/null
snapfile add-touch-order "$MD_TMP/good.snap" "[$(region_of 3)]"
[[ $(info_touch_order "$MD_TMP/good.snap") == "1 region: $(region_of 3)" ]] ||
  fail "info does not show a touch order added by hand"
echo "ok: the touch order is recorded, stored, merged, prefetched first, and checked"
