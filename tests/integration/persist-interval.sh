#!/usr/bin/env bash
# snapshot-interval=1: a write reaches the file within a few intervals; an
# idle disk is not rewritten interval after interval (same inode and
# mtime, no save logged); and exit with nothing changed since the last
# save does not rewrite the file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh

snap=$MD_TMP/disk.zst
size=$((8 * 1024 * 1024))
truncate -s "$size" "$MD_TMP/expected.img"

# write_patch OFFSET: write 64 KiB of random data at OFFSET, through the
# server and into expected.img.
write_patch ()
{
  head -c 65536 /dev/urandom >"$MD_TMP/patch"
  dd if="$MD_TMP/patch" of="$MD_TMP/expected.img" bs=65536 seek=$(($1 / 65536)) \
     conv=notrunc status=none
  nbdsh -u "$(nbdkit_uri disk)" \
    -c "h.pwrite(open('$MD_TMP/patch', 'rb').read(), $1)" || fail "nbdsh pwrite failed"
}

expect_saved_disk ()
{
  persist_verify "$snap"
  persist_snapshot_image "$snap" "$MD_TMP/saved.img"
  cmp -- "$MD_TMP/expected.img" "$MD_TMP/saved.img" || fail "$snap does not hold $1"
}

file_replaced () { [[ -e $snap && $(persist_file_id "$snap") != "$1" ]]; }

# thread_wakes PID: "TID WAKES WCHAN" per thread of PID: its voluntary
# context switches, and where in the kernel it waits.
thread_wakes ()
{
  local task n wchan
  for task in /proc/"$1"/task/*; do
    n=$(awk '$1 == "voluntary_ctxt_switches:" { print $2 }' "$task/status" 2>/dev/null) || continue
    wchan=$(<"$task/wchan") 2>/dev/null || continue
    echo "${task##*/} $n ${wchan:-0}"
  done
}

# some_thread_woke N PID BEFORE: a thread of PID that waits in poll has
# woken N times more than BEFORE (thread_wakes's output) says.
some_thread_woke ()
{
  local tid n wchan was
  while read -r tid n wchan; do
    [[ $wchan == *poll* ]] || continue
    was=$(awk -v t="$tid" '$1 == t { print $2 }' <<<"$3")
    [[ -n $was ]] && ((n - was >= $1)) && return 0
  done < <(thread_wakes "$2")
  return 1
}

# The file exists before the start: a new disk counts as changed (its
# first save records the size), so an interval save of the still-empty
# disk could come before the first write and be taken for it.
"$MEMDISK_TOOL" create -s "$size" "$snap" || fail "memdisk-tool create failed"
memdisk_start disk -v snapshot="$snap" snapshot-interval=1

write_patch $((3 * 1024 * 1024))
persist_wait_status "$snap" 'j["saves"] >= 1' 10
expect_saved_disk "the first write"
id=$(persist_file_id "$snap")

# Idle: the saver wakes for three intervals and saves nothing.  Its wakes
# are counted, not guessed from a sleep: a thread blocked in poll counts a
# voluntary context switch per wake-up, and in an idle server the saver is
# the only thread in poll that wakes (no client is connected; nbdkit's
# threads and the control thread poll without a timeout; the page
# refiller and a sanitizer's own thread wait elsewhere).
wakes=$(thread_wakes "$(nbdkit_pid disk)")
wait_until 60 "the saver to wake for three intervals of an idle disk" \
  some_thread_woke 3 "$(nbdkit_pid disk)" "$wakes"
[[ $(persist_file_id "$snap") == "$id" ]] ||
  fail "the idle disk was rewritten ($id -> $(persist_file_id "$snap"))"
(($(persist_saves disk) == 1)) || fail "the idle disk was saved $(persist_saves disk) times, expected once"

write_patch $((5 * 1024 * 1024))
persist_wait_status "$snap" 'j["saves"] >= 2' 10
file_replaced "$id" || fail "the second interval save did not replace the file"
expect_saved_disk "the second write"
id=$(persist_file_id "$snap")

# Every save was an interval save, and one per write.
grep ': debug: saved ' "$(nbdkit_log disk)" | grep -vq "saved $snap (interval) in" &&
  fail "a save other than an interval save was logged"

# Exit with nothing changed since the last save: the file stays as it is.
nbdkit_stop disk
[[ $(persist_file_id "$snap") == "$id" ]] || fail "exit rewrote an up-to-date $snap"
(($(persist_saves disk) == 2)) || fail "$(persist_saves disk) saves logged, expected 2"
grep -q "exit: $snap is up to date, not saved" "$(nbdkit_log disk)" ||
  fail "exit did not log that $snap was up to date"
[[ -z $(persist_temporaries "$snap") ]] || fail "temporaries left: $(persist_temporaries "$snap")"

echo "ok: snapshot-interval saves when the disk changed, and only then"
