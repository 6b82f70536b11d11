#!/usr/bin/env bash
# snapshot=URL: a snapshot served straight from a web server (Debian's
# nginx, started here on 127.0.0.1 with a port of its own), through a
# fault proxy (http_fault_proxy.py) where a check needs one:
#   - every byte read through the URL is the fixture's (nbdcopy, cmp with
#     memdisk-tool convert of the snapshot to raw); writes stay in memory
#     and read back; a SIGUSR1 writes nothing; info, verify, map and diff
#     take the URL;
#   - what a URL refuses: snapshot-load=eager, snapshot-interval;
#   - the network as it is: 503s and dropped connections are tried again;
#     a frame spoilt once on the way is fetched again, one spoilt every
#     time fails its pages with EIO naming the URL, the frame and the byte;
#     a server that ignores Range, a 404, a file whose ETag changed: clear
#     errors, and the whole file is never downloaded;
#   - credentials (userinfo, query string, a bearer token from +FILE) are
#     in no line of nbdkit -v's log nor of the tool's output;
#   - https with a CA made here by openssl: refused without it, served
#     with snapshot-http-cafile.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
source "$(dirname "$0")/http_lib.sh"
require_commands nbdsh nbdcopy openssl

here=$(dirname "$0")
www=$MD_TMP/www
mkdir -p "$www"
img=$MD_TMP/disk.img
snap=$www/disk.snap
PAGE=32768

persist_make_image "$img" $((24 * 1024 * 1024))
"$MEMDISK_TOOL" convert "$img" "$snap" >/dev/null
"$MEMDISK_TOOL" convert "$snap" "$MD_TMP/expected.img" >/dev/null
mapfile -t frames < <(/usr/bin/python3 "$here/persist_snapfile.py" frames "$snap")
((${#frames[@]} >= 4)) || fail "expected at least 4 frames, got ${#frames[@]}"
frame_field() { local f; read -ra f <<<"${frames[$1]}"; echo "${f[$2]}"; }
# Requests for data frames only: from byte 32 to the end of the last frame.
last=$((${#frames[@]} - 1))
frames_end=$(($(frame_field $last 1) + $(frame_field $last 2)))
frame_offset() { frame_field "$1" 1; }
frame_byte() { echo $(($(frame_field "$1" 3) * PAGE)); }

http_nginx_start web "$www" "" "" \
  'location /private/ { alias '"$www"'/; if ($http_authorization != "Bearer s3cr3t-t0ken") { return 403; } }'
web=${HTTP_PORT[web]}
url=http://127.0.0.1:$web/disk.snap

# --- every byte, writes in memory, no save ---
memdisk_start plain -v snapshot="$url"
nbdcopy -- "$(nbdkit_uri plain)" "$MD_TMP/served.img"
cmp "$MD_TMP/served.img" "$MD_TMP/expected.img" || fail "the disk read through the URL differs"
at=$(frame_byte 1)
nbdsh -u "$(nbdkit_uri plain)" -c "
h.pwrite(b'\x5a' * 5000, $at + 100)
assert h.pread(5000, $at + 100) == b'\x5a' * 5000
"
nbdkit_signal plain USR1
wait_until 10 "the SIGUSR1 message" grep -q 'SIGUSR1: snapshot-readonly is set' "$(nbdkit_log plain)"
nbdsh -u "$(nbdkit_uri plain)" -c "assert h.pread(5000, $at + 100) == b'\x5a' * 5000"
nbdkit_stop plain
"$MEMDISK_TOOL" info "$url" >"$MD_TMP/info.url"
"$MEMDISK_TOOL" info "$snap" | sed "s|^file: .*|file: $url|" | cmp - "$MD_TMP/info.url" ||
  fail "memdisk-tool info of the URL differs from the file's: $(cat "$MD_TMP/info.url")"
"$MEMDISK_TOOL" verify "$url" | grep -q ': OK: ' || fail "memdisk-tool verify $url failed"
cmp <("$MEMDISK_TOOL" map "$url") <("$MEMDISK_TOOL" map "$snap") || fail "memdisk-tool map of the URL differs"
"$MEMDISK_TOOL" diff "$url" "$snap" >"$MD_TMP/diff.out" || fail "memdisk-tool diff: $(cat "$MD_TMP/diff.out")"

# --- what a URL refuses ---
persist_expect_refusal snapshot="$url" snapshot-load=eager -- "snapshot-load=eager" "lazily only"
persist_expect_refusal snapshot="$url" snapshot-interval=5 -- "snapshot-interval" "never written"
persist_expect_refusal snapshot="http://127.0.0.1:$web/missing.snap?X-Sig=hidden" -- \
  "http://127.0.0.1:$web/missing.snap:" "answered 404"

# --- 503, then success; connections dropped mid-body ---
http_proxy_start p503 "$web" --fault status --status 503 --count 2 --min-offset 32 --max-offset "$frames_end"
memdisk_start p503 -v snapshot="http://127.0.0.1:${HTTP_PORT[p503]}/disk.snap" snapshot-load-threads=0
nbdcopy -- "$(nbdkit_uri p503)" "$MD_TMP/p503.img"
cmp "$MD_TMP/p503.img" "$MD_TMP/expected.img" || fail "the disk read after 503s differs"
[[ $(grep -c 'status 503' "$MD_TMP/p503.proxy.log") == 2 ]] || fail "the proxy did not answer 503 twice"
nbdkit_stop p503

http_proxy_start drop "$web" --fault drop --count 3 --min-offset 32 --max-offset "$frames_end"
memdisk_start drop -v snapshot="http://127.0.0.1:${HTTP_PORT[drop]}/disk.snap" snapshot-load-threads=0
nbdcopy -- "$(nbdkit_uri drop)" "$MD_TMP/drop.img"
cmp "$MD_TMP/drop.img" "$MD_TMP/expected.img" || fail "the disk read after dropped connections differs"
[[ $(grep -c ' drop ' "$MD_TMP/drop.proxy.log") == 3 ]] || fail "the proxy did not drop 3 connections"
nbdkit_stop drop

# --- wrong bytes: once (fetched again), always (EIO naming URL, frame, byte) ---
# A frame's request starts where the one before it ends: at its padding
# (format 2.1), which is read and checked with it.
k=2 off=$(($(frame_field 1 1) + $(frame_field 1 2))) end=$(frame_offset 2)
http_proxy_start once "$web" --fault corrupt --count 1 --min-offset "$off" --max-offset $((end + 1))
memdisk_start once -v snapshot="http://127.0.0.1:${HTTP_PORT[once]}/disk.snap" snapshot-load-threads=0
nbdsh -u "$(nbdkit_uri once)" -c "h.pread(4096, $(frame_byte $k))"
nbdcopy -- "$(nbdkit_uri once)" "$MD_TMP/once.img"
cmp "$MD_TMP/once.img" "$MD_TMP/expected.img" || fail "the disk read after a spoilt frame differs"
[[ $(grep -c ' corrupt ' "$MD_TMP/once.proxy.log") == 1 ]] || fail "the proxy did not spoil the frame"
nbdkit_stop once

http_proxy_start always "$web" --fault corrupt --min-offset "$off" --max-offset $((end + 1))
memdisk_start always -v snapshot="http://127.0.0.1:${HTTP_PORT[always]}/disk.snap?X-Amz-Signature=qs-secret" \
  snapshot-load-threads=0
nbdsh -u "$(nbdkit_uri always)" -c "
try:
    h.pread(4096, $(frame_byte $k))
    assert False, 'a spoilt frame was served'
except nbd.Error as e:
    assert e.errno == 'EIO', e
"
grep -q "snapshot http://127.0.0.1:${HTTP_PORT[always]}/disk.snap: frame $k at byte $end: checksum mismatch" \
  "$(nbdkit_log always)" || fail "the error does not name the URL, frame $k and byte $end"
[[ $(grep -c ' corrupt ' "$MD_TMP/always.proxy.log") == 2 ]] || fail "the spoilt frame was not fetched exactly twice"
# nbdkit -v itself logs each parameter as given (hence snapshot=+FILE,
# below); no line of ours may show the query string.
! grep qs-secret "$(nbdkit_log always)" | grep -vq '^nbdkit: debug: memdisk: config key=snapshot, value=' ||
  fail "the query string is in the log: $(grep qs-secret "$(nbdkit_log always)" | head -3)"
nbdkit_stop always

# --- a server that ignores Range: refused, the file never downloaded ---
http_proxy_start full "$web" --fault full
persist_expect_refusal snapshot="http://127.0.0.1:${HTTP_PORT[full]}/disk.snap" -- "ignored the range request"
sent=$(awk '{ sub("sent=", "", $NF); s += $NF } END { print s + 0 }' "$MD_TMP/full.proxy.log")
size=$(stat -c %s "$snap")
((sent < size / 2)) || fail "the proxy sent $sent of the file's $size bytes: the whole file was downloaded"

# --- the file changed on the server while it is read ---
http_proxy_start etag "$web" --fault etag --min-offset 32 --max-offset "$frames_end"
memdisk_start etag -v snapshot="http://127.0.0.1:${HTTP_PORT[etag]}/disk.snap" snapshot-load-threads=0
nbdsh -u "$(nbdkit_uri etag)" -c "
try:
    h.pread(4096, $(frame_byte 0))
    assert False, 'a frame of a changed file was served'
except nbd.Error:
    pass
"
grep -q "the file changed on the server" "$(nbdkit_log etag)" || fail "no 'changed on the server' error"
nbdkit_stop etag

# --- credentials: userinfo, query string, a bearer token from +FILE ---
printf 'Authorization: Bearer s3cr3t-t0ken\n' >"$MD_TMP/auth"
private="http://user:pa55word@127.0.0.1:$web/private/disk.snap?X-Amz-Signature=qs-secret"
printf '%s\n' "$private" >"$MD_TMP/url"
persist_expect_refusal snapshot="+$MD_TMP/url" -- "answered 403"
memdisk_start cred -v snapshot="+$MD_TMP/url" snapshot-http-header=+"$MD_TMP/auth"
nbdcopy -- "$(nbdkit_uri cred)" "$MD_TMP/cred.img"
cmp "$MD_TMP/cred.img" "$MD_TMP/expected.img" || fail "the disk read with a bearer token differs"
nbdkit_stop cred
"$MEMDISK_TOOL" info "$private" >"$MD_TMP/tool.out" 2>&1 || true
"$MEMDISK_TOOL" diff "$private" "$snap" >>"$MD_TMP/tool.out" 2>&1 || true
for secret in s3cr3t-t0ken pa55word qs-secret; do
  ! grep -q "$secret" "$(nbdkit_log cred)" "$MD_TMP/tool.out" ||
    fail "a credential ($secret) is in a log line: $(grep -h "$secret" "$(nbdkit_log cred)" "$MD_TMP/tool.out" | head -3)"
done
grep -q "127.0.0.1:$web/private/disk.snap" "$(nbdkit_log cred)" || fail "the log does not name the URL"

# --- https with a CA of our own ---
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=memdisk-test-ca \
  -keyout "$MD_TMP/ca.key" -out "$MD_TMP/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
  -keyout "$MD_TMP/server.key" -out "$MD_TMP/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$MD_TMP/san.ext"
openssl x509 -req -in "$MD_TMP/server.csr" -CA "$MD_TMP/ca.pem" -CAkey "$MD_TMP/ca.key" \
  -CAcreateserial -days 2 -extfile "$MD_TMP/san.ext" -out "$MD_TMP/server.pem" 2>/dev/null
chmod a+r "$MD_TMP/server.key"
http_nginx_start tls "$www" "$MD_TMP/server.pem" "$MD_TMP/server.key"
tls_url=https://127.0.0.1:${HTTP_PORT[tls]}/disk.snap
persist_expect_refusal snapshot="$tls_url" -- "https://127.0.0.1:${HTTP_PORT[tls]}/disk.snap" "certificate"
memdisk_start tls snapshot="$tls_url" snapshot-http-cafile="$MD_TMP/ca.pem"
nbdcopy -- "$(nbdkit_uri tls)" "$MD_TMP/tls.img"
cmp "$MD_TMP/tls.img" "$MD_TMP/expected.img" || fail "the disk read over https differs"
nbdkit_stop tls
