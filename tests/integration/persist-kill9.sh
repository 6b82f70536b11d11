#!/usr/bin/env bash
# kill -9 at any instant of a save leaves the file either the previous
# complete snapshot or the new complete one, never a mix or a torn file;
# and the temporaries a killed save leaves behind are removed at the next
# start.  Each generation of the disk has distinct random contents, so the
# file's contents say which generation it holds.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands md5sum

snap=$MD_TMP/disk.zst
size=$((24 * 1024 * 1024))
iterations=15                   # a multiple of 3

disk_md5 () { nbdcopy -- "$(nbdkit_uri disk)" - | md5sum | cut -d' ' -f1; }
image_md5 () { md5sum <"$1" | cut -d' ' -f1; }
count_removals ()
{
  grep -c "removed the temporary $(dirname -- "$snap")/\.$(basename -- "$snap")\.tmp\.[A-Za-z0-9]\{6\} left by an interrupted save" \
    "$(nbdkit_log disk)" || true
}

# Generation 0, saved normally; how long that takes sets the range of the
# kill instants.
head -c "$size" /dev/urandom >"$MD_TMP/gen.img"
memdisk_start disk -v "$size" snapshot="$snap"
nbdcopy -- "$MD_TMP/gen.img" "$(nbdkit_uri disk)" || fail "nbdcopy into the disk failed"
persist_save "$snap"
old_md5=$(image_md5 "$MD_TMP/gen.img")
save_ms=$(persist_status "$snap" 'round(j["last-save"]["duration"] * 1000)')
# Capped: a loaded machine can make one save very slow.
max_delay_ms=$((save_ms * 3 / 2 + 20))
((max_delay_ms <= 1000)) || max_delay_ms=1000
echo "a save takes ${save_ms} ms; killing at 0 .. ${max_delay_ms} ms after SIGUSR1"

# wait_for_save_phase writing|renamed ID: poll (every few ms, to land
# inside the save) until the save writes its temporary, or until it has
# renamed it over the file (whose identity was ID); a save that already
# finished ends the wait too.
wait_for_save_phase ()
{
  local n
  for ((n = 0; n < 3000; n++)); do
    [[ $(persist_file_id "$snap") == "$2" ]] || return 0
    [[ $1 != writing || -z $(persist_temporaries "$snap") ]] || return 0
    sleep 0.003
  done
  fail "timed out waiting for the save to reach phase '$1'"
}

# Three ways to pick the instant, in turn: a delay after SIGUSR1 (from 0,
# before the save starts); a delay after the temporary appears (while the
# save writes); right after the rename (while the folder is fsync'd).
kept_old=0 got_new=0 left_temporaries=0
for ((i = 0; i < iterations; i++)); do
  head -c "$size" /dev/urandom >"$MD_TMP/gen.img"
  new_md5=$(image_md5 "$MD_TMP/gen.img")
  nbdcopy -- "$MD_TMP/gen.img" "$(nbdkit_uri disk)" || fail "nbdcopy into the disk failed"

  id=$(persist_file_id "$snap")
  round=$((i / 3)) rounds=$((iterations / 3))
  nbdkit_signal disk USR1
  # Spreading the kill over the save is the point of these sleeps.
  case $((i % 3)) in
    0) delay_ms=$((max_delay_ms * round / (rounds - 1))); when="${delay_ms} ms after SIGUSR1" ;;
    1) wait_for_save_phase writing "$id"
       delay_ms=$((max_delay_ms / 2 * round / (rounds - 1))); when="${delay_ms} ms into writing" ;;
    2) wait_for_save_phase renamed "$id"; delay_ms=0; when="right after the rename" ;;
  esac
  ((delay_ms == 0)) || sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
  nbdkit_signal disk KILL
  nbdkit_wait_exit disk 10

  temporaries=$(persist_temporaries "$snap")
  [[ -z $temporaries ]] || left_temporaries=$((left_temporaries + 1))
  persist_verify "$snap"

  # The next start removes what the killed save left, and says so.
  removals=$(count_removals)
  memdisk_start disk -v snapshot="$snap"
  [[ -z $(persist_temporaries "$snap") ]] ||
    fail "after a restart, temporaries remain: $(persist_temporaries "$snap")"
  if [[ -n $temporaries ]] && (($(count_removals) == removals)); then
    fail "removing stale temporaries was not logged"
  fi

  got_md5=$(disk_md5)
  if [[ $got_md5 == "$new_md5" ]]; then
    got_new=$((got_new + 1))
    old_md5=$new_md5
    outcome=new
  elif [[ $got_md5 == "$old_md5" ]]; then
    kept_old=$((kept_old + 1))
    outcome=old
  else
    fail "killed ${when}: the file holds neither the old disk nor the new one"
  fi
  echo "killed ${when}: ${outcome}${temporaries:+, temporary left}"
done

echo "old kept: $kept_old, new saved: $got_new, temporaries left: $left_temporaries"
# Otherwise the kills missed the save and proved nothing.
((kept_old > 0)) || fail "no kill came before a save completed"
((got_new > 0)) || fail "no save completed before the kill"
((left_temporaries > 0)) || fail "no kill interrupted a save while it was writing"
# Only this file's temporaries are stale: another disk's in the same
# folder (its save may be running) and look-alikes stay.
nbdkit_stop disk
folder=$(dirname -- "$snap")
keep=(.other.zst.tmp.ABCDEF .disk.zst.tmp.ABCDEFG .disk.zst.tmp.ABCDE disk.zst.tmp.ABCDEF .disk.zst.tmp)
for f in "${keep[@]}" .disk.zst.tmp.ABCDEF; do : >"$folder/$f"; done
memdisk_start disk -v snapshot="$snap"
[[ ! -e $folder/.disk.zst.tmp.ABCDEF ]] || fail "the stale .disk.zst.tmp.ABCDEF was not removed"
for f in "${keep[@]}"; do
  [[ -e $folder/$f ]] || fail "starting on $snap removed $f, which is not its temporary"
done

echo "ok: kill -9 during a save leaves the old file or the new one"
