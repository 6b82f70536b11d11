# Helpers for the memdisk-tool tests (tool-*.sh).  Source after lib.sh:
#
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/tool_lib.sh"
#
#   $tool                       the built memdisk-tool (from ctest's MEMDISK_TOOL)
#   run_tool STATUS CMD...      run CMD with stdout in $MD_TMP/out and stderr in
#                               $MD_TMP/err; fail unless it exits with STATUS.
#   out_has TEXT, err_has TEXT  fail unless the last run's stdout (stderr)
#                               contains TEXT (a fixed string).
#   err_is_usage COMMAND        the last run printed a usage hint for COMMAND.
#   json_get FILE EXPR          print the Python expression EXPR evaluated on
#                               the JSON in FILE (bound to j), e.g.
#                               json_get "$MD_TMP/out" 'j["virtual-size"]'.
#   expect_json RAW PAGE_SIZE   what the disk in the raw image RAW should look
#                               like (tool_expect.py), as JSON on stdout.

tool=${MEMDISK_TOOL:?MEMDISK_TOOL must name the built memdisk-tool}
[[ -x $tool ]] || fail "MEMDISK_TOOL=$tool is not an executable (build first)"
tool_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

run_tool ()
{
  local want=$1 status=0
  shift
  "$@" >"$MD_TMP/out" 2>"$MD_TMP/err" </dev/null || status=$?
  [[ $status == "$want" ]] ||
    fail "'$*' exited $status, expected $want; stdout: $(cat "$MD_TMP/out"); stderr: $(cat "$MD_TMP/err")"
}

out_has ()
{
  grep -qF -- "$1" "$MD_TMP/out" || fail "stdout lacks '$1': $(cat "$MD_TMP/out")"
}

err_has ()
{
  grep -qF -- "$1" "$MD_TMP/err" || fail "stderr lacks '$1': $(cat "$MD_TMP/err")"
}

err_is_usage ()
{
  err_has "Try 'memdisk-tool $1 --help'."
}

json_get ()
{
  /usr/bin/python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1" "$2" ||
    fail "cannot evaluate $2 on the JSON in $1: $(cat "$1")"
}

expect_json ()
{
  /usr/bin/python3 "$tool_dir/tool_expect.py" "$1" "$2" || fail "tool_expect.py $1 failed"
}
