#!/usr/bin/env bash
# Benchmarks provision-http against nginx serving the same rendered file as a
# static file, in one run, then the edge's cold path (every request a cache
# miss: token resolved by inventory, file rendered by config-renderer).
#
#   bench/wrk_vs_nginx.sh            # defaults
#   DURATION=30s CONNECTIONS=128 THREADS=2 PHONES=2000 ./wrk_vs_nginx.sh
#
# Needs wrk and nginx (apt-get install -y wrk nginx). Everything listens on
# loopback; nginx runs as a child with its own prefix in a temporary
# directory and is stopped at the end, as is the edge.
set -euo pipefail

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PHONES=${PHONES:-2000}
ACCESS_LOG=${ACCESS_LOG:-true}

here=$(cd "$(dirname "$0")" && pwd)
module=$(cd "$here/../cmd" && pwd) # cmd/edgebench: the edge with the real inventory and renderer
for bin in wrk nginx go; do
	command -v "$bin" >/dev/null || { echo "missing $bin (apt-get install -y wrk nginx)" >&2; exit 1; }
done

work=$(mktemp -d)
chmod 755 "$work" # nginx workers run as an unprivileged user when started as root
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

echo "building edgebench..." >&2
(cd "$module" && GOWORK=off go build -o "$work/edgebench" ./edgebench)

# start_edge MODE DIR: starts edgebench and loads its KEY=VALUE lines.
start_edge() {
	local mode=$1 dir=$2
	mkdir -p "$dir"
	chmod 755 "$dir"
	"$work/edgebench" -mode "$mode" -phones "$PHONES" -dir "$dir" -access-log="$ACCESS_LOG" >"$dir/out" 2>"$dir/err" &
	pids+=($!)
	for _ in $(seq 1 600); do
		grep -q '^READY=1' "$dir/out" 2>/dev/null && break
		kill -0 "${pids[-1]}" 2>/dev/null || { cat "$dir/err" >&2; exit 1; }
		sleep 0.1
	done
	grep -q '^READY=1' "$dir/out" || { echo "edgebench ($mode) did not start" >&2; cat "$dir/err" >&2; exit 1; }
	# shellcheck disable=SC1090
	source <(grep -E '^[A-Z_]+=' "$dir/out" | sed -E "s/^([A-Z_]+)=(.*)$/\1='\2'/")
}

stop_last() {
	local pid=${pids[-1]}
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset 'pids[-1]'
}

# bench NAME wrk-args...: runs wrk and prints "req/s p99".
bench() {
	local name=$1
	shift
	local out
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
	echo "$out" >"$work/$name.wrk"
	local rps p99 non2xx
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(awk '$1=="99%" {print $2}' <<<"$out")
	non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
	if [[ -n "$non2xx" ]]; then
		echo "$name: $non2xx non-2xx answers" >&2
		echo "$out" >&2
		exit 1
	fi
	echo "$rps $p99"
}

# ---- warm: edge vs nginx
start_edge warm "$work/warm"
echo "upstreams: $UPSTREAMS" >&2
ng="$work/nginx"
mkdir -p "$ng/logs" "$ng/tmp"
nginx_log="access_log $ng/logs/access.log;"
[[ "$ACCESS_LOG" == true ]] || nginx_log="access_log off;"
cat >"$ng/nginx.conf" <<CONF
worker_processes auto;
pid $ng/nginx.pid;
error_log $ng/logs/error.log warn;
events { worker_connections 4096; }
http {
	$nginx_log
	client_body_temp_path $ng/tmp/body;
	proxy_temp_path $ng/tmp/proxy;
	fastcgi_temp_path $ng/tmp/fastcgi;
	uwsgi_temp_path $ng/tmp/uwsgi;
	scgi_temp_path $ng/tmp/scgi;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$FREE_PORT;
		root $work/warm/static;
		default_type "text/plain; charset=utf-8";
		add_header Cache-Control no-store;
		location / { try_files \$uri =404; }
	}
}
CONF
nginx -p "$ng" -c "$ng/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 1 50); do
	curl -fs -o /dev/null "http://127.0.0.1:$FREE_PORT/$STATIC_FILE" 2>/dev/null && break
	sleep 0.1
done
nginx_url="http://127.0.0.1:$FREE_PORT/$STATIC_FILE"
cmp <(curl -fs -A "$USER_AGENT" "$EDGE_URL") <(curl -fs "$nginx_url") || { echo "edge and nginx serve different bytes" >&2; exit 1; }
size=$(stat -c %s "$work/warm/static/$STATIC_FILE")

echo "warm edge..." >&2
read -r edge_rps edge_p99 < <(bench edge-warm -H "User-Agent: $USER_AGENT" "$EDGE_URL")
echo "nginx..." >&2
read -r nginx_rps nginx_p99 < <(bench nginx "$nginx_url")
stop_last # nginx
stop_last # warm edge

# ---- cold: every request a cache miss
start_edge cold "$work/cold"
echo "cold edge ($PHONES phones, caches off)..." >&2
read -r cold_rps cold_p99 < <(bench edge-cold -s "$work/cold/cold.lua" "$EDGE_BASE")
stop_last

ratio=$(awk -v a="$edge_rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')
cat <<REPORT

provision-http vs nginx — wrk -t$THREADS -c$CONNECTIONS -d$DURATION, keep-alive, loopback, $(nproc) CPUs
file: $size bytes; access logs: $ACCESS_LOG; upstreams: $UPSTREAMS

  target                 req/s        p99
  edge (warm cache)      $(printf '%-12s %s' "$edge_rps" "$edge_p99")
  nginx (static file)    $(printf '%-12s %s' "$nginx_rps" "$nginx_p99")
  edge / nginx           $ratio        (aim >= 0.5)
REPORT
printf '  edge (cold: %s phones, token and file caches off)\n' "$PHONES"
printf '                         %-12s %s        (aim >= 2000)\n' "$cold_rps" "$cold_p99"
