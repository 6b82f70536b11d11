# Shared helpers for the integration tests.  Source it first:
#
#   set -euo pipefail
#   source "$(dirname "$0")/lib.sh"
#
# On sourcing it:
#   - puts /usr/bin first in PATH, so nbdsh runs Debian's python3 (the one
#     with the libnbd module);
#   - checks that MEMDISK_PLUGIN (set by ctest) names the built plugin;
#   - makes a private temporary directory, $MD_TMP;
#   - installs an EXIT trap that stops every nbdkit started with
#     nbdkit_start (TERM, then KILL if it does not exit), shows the servers'
#     logs if the test failed, and removes $MD_TMP.
#
# Servers are known by a NAME (letters, digits, - and _).  Each NAME owns
# three files in $MD_TMP: NAME.pid, NAME.sock and NAME.log.  Restarting a
# NAME reuses them, so a test can stop a server and start it again on the
# same socket.  nbdkit runs daemonized; it writes its pid file only once it
# is ready to accept clients, so nothing here sleeps: everything polls.
# Note: nbdkit 1.32 writes the pid file just BEFORE it calls the plugin's
# .after_fork, so anything a test relies on right after nbdkit_start (such
# as a SIGUSR1 handler) must be set up in .config_complete or .get_ready.
#
# Functions (all fail the test with a clear message on error):
#
#   fail MESSAGE...             print "FAIL: MESSAGE" on stderr and exit 1.
#   require_commands CMD...     fail unless every CMD is on PATH.
#   wait_until SECONDS WHAT CMD...
#                               run CMD every 50 ms until it succeeds; fail
#                               saying "timed out waiting for WHAT".
#
#   nbdkit_start NAME ARG...    run `nbdkit -P NAME.pid -U NAME.sock
#                               --log=stderr -D nbdkit.backend.datapath=0
#                               ARG...` (no line per request) and wait for the pid
#                               file (up to $MD_START_TIMEOUT seconds, default
#                               60).  Fails if nbdkit exits with an error or
#                               never becomes ready.
#                               nbdkit's stderr is appended to NAME.log; after
#                               the fork nbdkit keeps stderr only with -v, so
#                               pass -v in ARG if the test reads its messages.
#   memdisk_start NAME ARG...   nbdkit_start NAME "$MEMDISK_PLUGIN" ARG...
#   nbdkit_restart NAME [ARG...]
#                               nbdkit_stop NAME, then nbdkit_start NAME with
#                               ARG, or with the arguments of its last start
#                               if there are none.
#   nbdkit_stop NAME [SECONDS]  SIGTERM, then wait until the process is gone
#                               (default 60 s; the caller may time a clean
#                               shutdown, e.g. one that saves a snapshot).
#   nbdkit_signal NAME SIGNAL   send SIGNAL (e.g. USR1) to the server.
#   nbdkit_wait_exit NAME [SECONDS]
#                               wait until the server's process is gone.
#   nbdkit_running NAME         succeed if the server's process is alive.
#   nbdkit_pid NAME             print the server's pid (from NAME.pid).
#   nbdkit_uri NAME             print nbd+unix:///?socket=$MD_TMP/NAME.sock
#   nbdkit_socket NAME, nbdkit_pidfile NAME, nbdkit_log NAME
#                               print the path of that file.
#
# Sanitizer builds (cmake -DMEMDISK_SANITIZE=...; ctest then sets
# MEMDISK_SANITIZE and MEMDISK_NBDKIT_PRELOAD, see tests/README.md):
#   - `nbdkit` is a wrapper, first in PATH, that runs the real nbdkit with
#     LD_PRELOAD=$MEMDISK_NBDKIT_PRELOAD (the build tree's libraries copied
#     to $MD_TMP, for users who cannot read the tree): nbdkit is not
#     instrumented, so the plugin's sanitizer runtime must be the first
#     library it loads.
#     Only nbdkit gets it (not python, qemu-img or the clients of --run).
#     It works however a test runs nbdkit: nbdkit_start, --run, setpriv.
#   - every instrumented process (nbdkit with the plugin, memdisk-tool)
#     writes its sanitizer reports to $MD_TMP/sanitizer/ (a daemonized
#     nbdkit has no stderr) and dies on the first error; leaks do not make
#     nbdkit's exit status non-zero (nbdkit itself leaks a little at exit).
#   - the EXIT trap, once every server has exited, fails the test and
#     shows the reports if there is any, except a leak report in which no
#     stack frame is ours (a file under MEMDISK_SOURCE_DIR or
#     MEMDISK_BUILD_DIR): those are nbdkit's or the C library's.

export PATH=/usr/bin:/bin:$PATH

MD_START_TIMEOUT=${MD_START_TIMEOUT:-60}
MD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/memdisk-test.XXXXXX")
MD_SANITIZER_DIR=
if [[ -n ${MEMDISK_SANITIZE:-} ]]; then
  # World-writable: tests run nbdkit as another user too.
  MD_SANITIZER_DIR=$MD_TMP/sanitizer
  mkdir -m 1777 "$MD_SANITIZER_DIR"
  # abort_on_error: a sanitizer error is a signal (134), never an exit
  # status a test could take for an expected failure.
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$MD_SANITIZER_DIR/asan:abort_on_error=1"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$MD_SANITIZER_DIR/ubsan:abort_on_error=1"
  export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$MD_SANITIZER_DIR/tsan"
  if [[ -n ${MEMDISK_NBDKIT_PRELOAD:-} ]] && command -v nbdkit >/dev/null; then
    mkdir -m 0755 "$MD_TMP/sanitizer-bin"
    # Tests run nbdkit as another user too, who may not be able to read the
    # build tree (a clone in a private folder): copy what is ours.  A
    # library that cannot be preloaded is skipped with a mere warning.
    md_preload=
    IFS=: read -ra md_libs <<<"$MEMDISK_NBDKIT_PRELOAD"
    for md_lib in "${md_libs[@]}"; do
      if [[ $md_lib != /usr/* ]]; then
        cp -- "$md_lib" "$MD_TMP/sanitizer-bin/" && chmod 0755 "$MD_TMP/sanitizer-bin/${md_lib##*/}"
        md_lib=$MD_TMP/sanitizer-bin/${md_lib##*/}
      fi
      md_preload+=${md_preload:+:}$md_lib
    done
    # exitcode=0: LeakSanitizer then reports nbdkit's leaks without
    # changing its exit status (nbdkit --run returns its client's);
    # errors still abort.
    cat >"$MD_TMP/sanitizer-bin/nbdkit" <<WRAPPER
#!/bin/sh
ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}exitcode=0" \\
LD_PRELOAD="$md_preload\${LD_PRELOAD:+:\$LD_PRELOAD}" \\
  exec $(command -v nbdkit) "\$@"
WRAPPER
    chmod 0755 "$MD_TMP/sanitizer-bin/nbdkit"
    PATH=$MD_TMP/sanitizer-bin:$PATH
  fi
fi
MD_NBDKIT_NAMES=()
declare -A MD_NBDKIT_ARGS       # NAME -> its last start's arguments, quoted

fail ()
{
  echo "FAIL: $*" >&2
  exit 1
}

require_commands ()
{
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null || fail "required command '$cmd' is not installed"
  done
}

wait_until ()
{
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${seconds}s waiting for $what"
    sleep 0.05
  done
}

nbdkit_pidfile () { echo "$MD_TMP/$1.pid"; }
nbdkit_socket () { echo "$MD_TMP/$1.sock"; }
nbdkit_log () { echo "$MD_TMP/$1.log"; }
nbdkit_uri () { echo "nbd+unix:///?socket=$MD_TMP/$1.sock"; }

nbdkit_pid ()
{
  local pid
  pid=$(cat "$(nbdkit_pidfile "$1")" 2>/dev/null) ||
    fail "nbdkit '$1' has no pid file"
  [[ $pid =~ ^[0-9]+$ ]] || fail "nbdkit '$1': bad pid file contents '$pid'"
  echo "$pid"
}

# A daemonized nbdkit is not our child, so it cannot be wait(2)ed for:
# it is alive while /proc has it and it is not a zombie awaiting its reaper.
md_pid_alive ()
{
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

nbdkit_running ()
{
  [[ -s $(nbdkit_pidfile "$1") ]] && md_pid_alive "$(nbdkit_pid "$1")"
}

# The last MD_LOG_LINES (default 200) lines of NAME.log: a failing test
# shows where it failed, not a whole log.
md_show_log ()
{
  local log lines keep=${MD_LOG_LINES:-200}
  log=$(nbdkit_log "$1")
  if [[ -s $log ]]; then
    lines=$(wc -l <"$log")
    if ((lines > keep)); then
      echo "--- nbdkit '$1' log ($log), its last $keep of $lines lines:" >&2
    else
      echo "--- nbdkit '$1' log ($log):" >&2
    fi
    tail -n "$keep" -- "$log" >&2
    echo "---" >&2
  fi
}

nbdkit_start ()
{
  local name=$1
  shift
  [[ $name =~ ^[A-Za-z0-9_-]+$ ]] || fail "nbdkit_start: bad server name '$name'"
  local pidfile sock log deadline
  pidfile=$(nbdkit_pidfile "$name")
  sock=$(nbdkit_socket "$name")
  log=$(nbdkit_log "$name")

  if nbdkit_running "$name"; then
    fail "nbdkit_start: server '$name' is already running"
  fi
  # nbdkit leaves both behind when it exits; a stale pid file would make
  # us think the new server is ready.
  rm -f "$pidfile" "$sock"
  [[ " ${MD_NBDKIT_NAMES[*]} " == *" $name "* ]] || MD_NBDKIT_NAMES+=("$name")
  MD_NBDKIT_ARGS[$name]=$(printf '%q ' "$@")

  # The foreground part does all configuration (config, config_complete,
  # get_ready) and exits non-zero if any of it fails.
  # -D nbdkit.backend.datapath=0: with -v, the plugin's lines and
  # nbdkit's own, but not one line per request (a load test makes
  # millions).
  if ! nbdkit -P "$pidfile" -U "$sock" --log=stderr -D nbdkit.backend.datapath=0 "$@" \
         </dev/null 2>>"$log"; then
    fail "nbdkit '$name' failed to start: nbdkit $*"
  fi
  deadline=$((SECONDS + MD_START_TIMEOUT))
  until [[ -s $pidfile ]]; do
    ((SECONDS < deadline)) ||
      fail "nbdkit '$name' did not write its pid file within ${MD_START_TIMEOUT}s"
    sleep 0.05
  done
  nbdkit_running "$name" || fail "nbdkit '$name' exited right after starting"
}

memdisk_start ()
{
  local name=$1
  shift
  nbdkit_start "$name" "$MEMDISK_PLUGIN" "$@"
}

nbdkit_signal ()
{
  kill -s "$2" "$(nbdkit_pid "$1")" || fail "could not send $2 to nbdkit '$1'"
}

nbdkit_wait_exit ()
{
  local name=$1 seconds=${2:-60} pid
  pid=$(nbdkit_pid "$name")
  wait_until "$seconds" "nbdkit '$name' (pid $pid) to exit" \
    eval "! md_pid_alive $pid"
}

nbdkit_stop ()
{
  local name=$1 seconds=${2:-60}
  nbdkit_running "$name" || fail "nbdkit_stop: server '$name' is not running"
  nbdkit_signal "$name" TERM
  nbdkit_wait_exit "$name" "$seconds"
}

nbdkit_restart ()
{
  local name=$1
  shift
  nbdkit_stop "$name"
  if (($# > 0)); then
    nbdkit_start "$name" "$@"
  else
    eval "nbdkit_start \"\$name\" ${MD_NBDKIT_ARGS[$name]}"
  fi
}

# Succeed if REPORT is not ours: only leaks, none with a frame of ours.
md_sanitizer_report_is_foreign ()
{
  awk -v src="${MEMDISK_SOURCE_DIR:-/nonexistent}/" -v build="${MEMDISK_BUILD_DIR:-/nonexistent}/" '
    /ERROR: LeakSanitizer: detected memory leaks/ { leaks = 1; next }
    /ERROR:|WARNING:|runtime error:/ { other = 1 }
    /^ *#[0-9]+ / && (index($0, src) || index($0, build)) { ours = 1 }
    END { exit !(leaks && !other && !ours) }
  ' "$1"
}

# Show the sanitizer reports that are ours; fail if there is any.
md_sanitizer_check ()
{
  local report found=0
  for report in "$MD_SANITIZER_DIR"/*; do
    [[ -f $report ]] || continue
    if md_sanitizer_report_is_foreign "$report"; then
      echo "note: ignoring $(grep -c '^\(Direct\|Indirect\) leak' "$report") leak(s) without a frame of ours in ${report##*/}" >&2
      continue
    fi
    echo "--- sanitizer report ${report##*/}:" >&2
    cat "$report" >&2
    found=1
  done
  ((found == 0))
}

md_cleanup ()
{
  local status=$? name pid
  for name in "${MD_NBDKIT_NAMES[@]}"; do
    nbdkit_running "$name" 2>/dev/null || continue
    pid=$(nbdkit_pid "$name")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      md_pid_alive "$pid" || continue 2
      sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ -n $MD_SANITIZER_DIR ]] && ! md_sanitizer_check; then
    echo "FAIL: sanitizer reports (above)" >&2
    ((status != 0)) || status=1
  fi
  if ((status != 0)); then
    for name in "${MD_NBDKIT_NAMES[@]}"; do md_show_log "$name"; done
  fi
  rm -rf "$MD_TMP"
  exit "$status"
}
trap md_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ -n ${MEMDISK_PLUGIN:-} ]] || fail "MEMDISK_PLUGIN is not set (run the tests with ctest)"
[[ -f $MEMDISK_PLUGIN ]] || fail "MEMDISK_PLUGIN=$MEMDISK_PLUGIN does not exist (build first)"
