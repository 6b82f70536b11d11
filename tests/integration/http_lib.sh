# Helpers for the tests of a snapshot at a URL (source after lib.sh).
#
#   http_free_port              print a TCP port free on 127.0.0.1 now.
#   http_nginx_start NAME ROOT [TLS-CERT TLS-KEY] [EXTRA-DIRECTIVES]
#                               Debian's nginx, run by this test (no
#                               system service): a config written into
#                               $MD_TMP/NAME.nginx/, serving ROOT on
#                               127.0.0.1 at a free port of its own (http,
#                               or https with CERT and KEY), pid file and
#                               logs in that folder; sets NAME's port in
#                               HTTP_PORT[NAME].  Stopped at exit.
#   http_proxy_start NAME UPSTREAM-PORT ARG...
#                               the fault proxy (http_fault_proxy.py) in
#                               front of 127.0.0.1:UPSTREAM-PORT; its port
#                               in HTTP_PORT[NAME], its log in
#                               $MD_TMP/NAME.proxy.log.  Stopped at exit.
#   http_stop NAME              stop NAME's nginx or proxy now.

require_commands nginx
declare -A HTTP_PORT HTTP_PID
HTTP_NAMES=()

http_free_port ()
{
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

http_stop ()
{
  local pid=${HTTP_PID[$1]:-}
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  wait_until 10 "$1 to exit" bash -c "! kill -0 $pid 2>/dev/null"
  HTTP_PID[$1]=
}

http_stop_all ()
{
  local name
  for name in "${HTTP_NAMES[@]}"; do http_stop "$name"; done
}

http_nginx_config ()
{
  local dir=$1 root=$2 port=$3 cert=$4 key=$5 extra=$6 listen
  listen="listen 127.0.0.1:$port;"
  [[ -z $cert ]] || listen="listen 127.0.0.1:$port ssl; ssl_certificate $cert; ssl_certificate_key $key;"
  cat <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 64; }
http {
  access_log $dir/access.log;
  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
  types { application/octet-stream snap; }
  server {
    $listen
    root $root;
    $extra
  }
}
CONF
}

# nginx binds its port itself: another process may take a port between
# http_free_port and nginx's bind, so a failed start tries another one.
http_nginx_start ()
{
  local name=$1 root=$2 cert=${3:-} key=${4:-} extra=${5:-} dir port try
  dir=$MD_TMP/$name.nginx
  mkdir -p "$dir/tmp"
  # nginx's workers run as nobody when the test runs as root: they must
  # reach ROOT's files (and only traverse $MD_TMP, not list it).
  chmod 0711 "$MD_TMP"
  chmod -R a+rX "$root"
  for try in 1 2 3 4 5; do
    port=$(http_free_port)
    http_nginx_config "$dir" "$root" "$port" "$cert" "$key" "$extra" >"$dir/nginx.conf"
    rm -f "$dir/nginx.pid"
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>>"$dir/start.log" && break
    port=
  done
  [[ -n $port ]] || fail "nginx did not start: $(tail -3 "$dir/start.log" "$dir/error.log")"
  wait_until 10 "nginx's pid file" test -s "$dir/nginx.pid"
  HTTP_PORT[$name]=$port
  HTTP_PID[$name]=$(cat "$dir/nginx.pid")
  HTTP_NAMES+=("$name")
}

http_proxy_start ()
{
  local name=$1 upstream=$2
  shift 2
  rm -f "$MD_TMP/$name.port"
  /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/http_fault_proxy.py" \
    --upstream "$upstream" --port-file "$MD_TMP/$name.port" "$@" \
    >>"$MD_TMP/$name.proxy.log" 2>&1 &
  HTTP_PID[$name]=$!
  HTTP_NAMES+=("$name")
  wait_until 10 "the proxy's port" test -s "$MD_TMP/$name.port"
  HTTP_PORT[$name]=$(cat "$MD_TMP/$name.port")
}

# Stop the servers and proxies (showing their logs when the test failed),
# then lib.sh's cleanup, which must see the test's exit status in $?.
http_cleanup ()
{
  local status=$? name
  set +e
  for name in "${HTTP_NAMES[@]}"; do
    kill "${HTTP_PID[$name]:-}" 2>/dev/null
    if ((status != 0)) && [[ -f $MD_TMP/$name.proxy.log ]]; then
      echo "--- proxy $name:" >&2
      tail -20 "$MD_TMP/$name.proxy.log" >&2
    fi
  done
  (exit "$status")
  md_cleanup
}
trap http_cleanup EXIT
