#!/usr/bin/env bash
# Parameters: --dump-plugin lists the features, --help documents every
# parameter, good sizes are accepted and bad parameters are refused with
# a message that names the parameter.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands nbdkit nbdinfo grep

plugin=$MEMDISK_PLUGIN

dump=$(nbdkit "$plugin" --dump-plugin) || fail "--dump-plugin failed"
for line in name=memdisk thread_model=parallel errno_is_preserved=1 \
            magic_config_key=size has_pread=1 has_pwrite=1 has_zero=1 \
            has_trim=1 has_flush=1 has_extents=1 has_cache=1 has_can_fua=1 \
            has_can_cache=1 has_can_multi_conn=1 has_can_fast_zero=1 \
            memdisk_page_size=32768 "memdisk_max_size=$((2**63 - 1))"; do
  grep -qxF "$line" <<<"$dump" || fail "--dump-plugin does not show '$line'"
done
grep -qE '^memdisk_version=[0-9]+\.[0-9]+\.[0-9]+$' <<<"$dump" ||
  fail "--dump-plugin does not show memdisk_version"

help=$(nbdkit "$plugin" --help) || fail "--help failed"
grep -q '\[size=\]<SIZE>' <<<"$help" || fail "--help does not document size="
grep -q '^snapshot-memory-check=<BOOL>' <<<"$help" || fail "--help does not document snapshot-memory-check="
grep -q '^snapshot-load=<MODE>' <<<"$help" || fail "--help does not document snapshot-load="
grep -q '^snapshot-load-threads=<N>' <<<"$help" || fail "--help does not document snapshot-load-threads="
grep -q '^snapshot-region-size=<SIZE>' <<<"$help" || fail "--help does not document snapshot-region-size="

# expect_size ARGS... SIZE: the plugin accepts ARGS and serves SIZE bytes.
expect_size ()
{
  local expected=${*: -1} got
  got=$(nbdkit -U - "$plugin" "${@:1:$#-1}" --run 'nbdinfo --size "$uri"') ||
    fail "nbdkit memdisk ${*:1:$#-1} failed to start"
  [[ $got == "$expected" ]] ||
    fail "nbdkit memdisk ${*:1:$#-1}: size is $got, expected $expected"
}
expect_size 1G 1073741824
expect_size size=1M 1048576
expect_size size=0 0
expect_size 12345 12345
expect_size $((2**63 - 1)) $((2**63 - 1))

# expect_error ARGS... -- TEXT...: nbdkit memdisk ARGS fails and every
# TEXT appears in its error output.
expect_error ()
{
  local args=() text status=0 err
  while [[ $1 != -- ]]; do args+=("$1"); shift; done
  shift
  err=$(nbdkit -U - "$plugin" "${args[@]}" --run true 2>&1 >/dev/null) || status=$?
  ((status != 0)) || fail "nbdkit memdisk ${args[*]} was accepted"
  for text in "$@"; do
    grep -qF -- "$text" <<<"$err" ||
      fail "nbdkit memdisk ${args[*]}: error does not mention '$text': $err"
  done
}
expect_error foo=1 -- "'foo'"
expect_error 1G foo=1 -- "'foo'"
expect_error size=abc -- size abc
expect_error abc -- size abc
expect_error size=-1 -- size
expect_error size=$((2**63)) -- size
expect_error size=9E -- size
expect_error size=1G size=2G -- size "more than once"
expect_error -- size required
# The parameter that needs snapshot= is the one named.
expect_error 1M snapshot-readonly=true -- "snapshot-readonly needs snapshot=FILE"
expect_error 1M snapshot-interval=5 -- "snapshot-interval needs snapshot=FILE"
expect_error 1M snapshot-memory-check=maybe -- "snapshot-memory-check: invalid value 'maybe'"

# allocator=: the memory plugin's command lines either work the same
# (sparse, malloc) or say what memdisk does instead (zstd).
expect_size 1M allocator=sparse 1048576
expect_size 1M allocator=malloc 1048576
expect_size 1M allocator=malloc,mlock=false 1048576
expect_error 1M allocator=malloc,foo=1 -- allocator "unknown parameter 'foo=1'" mlock=true
expect_error 1M allocator=malloc,mlock=maybe -- mlock maybe
expect_error 1M allocator=zstd -- allocator "'zstd' is not supported" snapshot-level
expect_error 1M allocator=sparse,mlock=true -- allocator "no parameters" mlock=true
expect_error 1M allocator=foo -- allocator "unknown value 'foo'" "sparse or malloc"
expect_error 1M allocator= -- allocator "unknown value ''"
expect_error 1M mlock=maybe -- mlock maybe
expect_error 1M snapshot-load=maybe -- "snapshot-load: invalid value 'maybe' (expected lazy or eager)"
expect_error 1M snapshot-load-threads=257 -- "snapshot-load-threads" "out of range"
expect_error 1M snapshot-load-threads=x -- "snapshot-load-threads"
expect_size 1M snapshot-load=eager 1048576
expect_size 1M snapshot-load=lazy snapshot-load-threads=0 1048576
