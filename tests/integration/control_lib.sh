# Helpers of the harden-control-* tests (issue 23): root's servers and
# tools against what the user nobody can do in a sticky world-writable
# folder.  Source it after lib.sh and persist_lib.sh.
#
#   as_nobody CMD...            run CMD as nobody (setpriv).
#   tool ARG...                 root's memdisk-tool.
#   control_fake FILE [--lock] [--silent]
#                               start control_fake.py as nobody for FILE
#                               (killed when the test exits); prints its pid.
#   CONTROL_WW                  a sticky world-writable folder (mode 1777).
#   MD_TMP/plugin.so, MD_TMP/memdisk-tool
#                               copies nobody can run (the build tree may
#                               be unreadable to nobody).
require_commands setpriv python3
((EUID == 0)) || fail "this test plays root against nobody: run it as root"

as_nobody () { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
tool () { "$MEMDISK_TOOL" "$@"; }

chmod 0711 "$MD_TMP"
cp -- "$MEMDISK_PLUGIN" "$MD_TMP/plugin.so"
cp -- "$MEMDISK_TOOL" "$MD_TMP/memdisk-tool"
cp -- "$(dirname "${BASH_SOURCE[0]}")/control_fake.py" "$MD_TMP/control_fake.py"
chmod 0755 "$MD_TMP/plugin.so" "$MD_TMP/memdisk-tool" "$MD_TMP/control_fake.py"
CONTROL_WW=$MD_TMP/ww
mkdir -m 1777 "$CONTROL_WW"

# The fakes' pids, in a file: control_fake runs in $(...), a subshell.
CONTROL_FAKES=$MD_TMP/fakes.pids
control_cleanup ()
{
  local status=$? pid
  set +e
  [[ -f $CONTROL_FAKES ]] && while read -r pid; do
    kill "$pid" 2>/dev/null
  done <"$CONTROL_FAKES"
  (exit "$status")
  md_cleanup
}
trap control_cleanup EXIT

control_fake ()
{
  local file=$1 ready
  shift
  ready=$CONTROL_WW/fake.$RANDOM.ready
  as_nobody /usr/bin/python3 "$MD_TMP/control_fake.py" "$file" "$ready" "$@" \
    </dev/null >/dev/null 2>>"$CONTROL_WW/fake.err" &
  echo "$!" >>"$CONTROL_FAKES"
  wait_until 10 "nobody's fake server of $file" test -s "$ready"
  # Its own pid ($! is the subshell that runs as_nobody).
  cat -- "$ready" >>"$CONTROL_FAKES"
  cat -- "$ready"
}
