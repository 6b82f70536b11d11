#!/usr/bin/env bash
# Build the snapshot reader's libFuzzer harness with clang under ASan and
# UBSan, and fuzz it for DURATION seconds (default 60), starting from the
# seed corpus.  Crashes are saved in $MEMDISK_FUZZ_ARTIFACTS (default: the
# work folder's crashes/); see README.md for turning one into a regression.
#
#   tests/fuzz/run.sh [DURATION] [-- extra libFuzzer options]
#
# Exit status: 0 when no crash was found, non-zero otherwise.
set -euo pipefail

duration=${1:-60}
shift || true
[[ ${1:-} == -- ]] && shift

here=$(cd "$(dirname "$0")" && pwd)
src=$here/../../src
work=${MEMDISK_FUZZ_DIR:-$(mktemp -d /tmp/memdisk-fuzz.XXXXXX)}
artifacts=${MEMDISK_FUZZ_ARTIFACTS:-$work/crashes}
mkdir -p "$work/corpus" "$artifacts"
clang=${CLANG:-clang}

# The reader and what it needs, nothing else of libmemdisk.
sources=(snapshot/format/cbor snapshot/format/digest snapshot/format/index
         snapshot/format/metadata snapshot/format/touchorder
         snapshot/read/loader snapshot/read/reader snapshot/read/decoder
         snapshot/read/readat snapshot/read/padding snapshot/read/urlsource files/trust
         remote/url remote/http remote/httpparse
         common/threads common/fullio
         common/iszero common/error common/username)
files=()
for s in "${sources[@]}"; do files+=("$src/$s.c"); done
"$clang" -std=c11 -D_GNU_SOURCE -DMEMDISK_VERSION='"fuzz"' -g -O1 \
  -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -fno-omit-frame-pointer -I"$src" \
  "$here/fuzz_snapread.c" "${files[@]}" \
  $(pkg-config --cflags --libs libzstd libcbor libxxhash libcurl) -lpthread \
  -o "$work/fuzz_snapread"

echo "fuzzing the snapshot reader for ${duration}s (work dir $work)"
# Fuzz into a scratch corpus seeded from ours, so the repository's stays small.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$work/fuzz_snapread" "$work/corpus" "$here/corpus" "$here/regressions" \
  -max_total_time="$duration" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 "$@"
