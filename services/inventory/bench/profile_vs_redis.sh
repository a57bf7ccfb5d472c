#!/usr/bin/env bash
# GetProvisioningProfile by token (gRPC over loopback TCP, platform grpcserver
# with token auth, Redis backend, profile cache on, 50 callers) against
# `redis-benchmark -t get -c 50` on the same redis-server, in the same run;
# prints both rates and their ratio (aim >= 0.25), the CPU time per operation
# of each (the figure other load on the machine does not move much), and the
# cost of a bare gRPC call on the same server (BenchmarkGRPCCallFloor).
# It runs twice: with Go's default GOGC, and with GOGC=200 as deploy/k8s
# runs inventory and provision-http (the benchmark process holds both the
# server and the edge's client).
# Usage: bench/profile_vs_redis.sh [benchtime [count]]   (default 10s 1)
set -euo pipefail
cd "$(dirname "$0")/.."
for bin in redis-server redis-benchmark; do
	command -v "$bin" >/dev/null || { echo "$bin not found (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done
GOWORK=off go test -c -o /tmp/inventory-server.bench.test ./internal/server/
trap 'rm -f /tmp/inventory-server.bench.test' EXIT
for gogc in default 200; do
	echo "== GOGC=$gogc   load: $(cut -d' ' -f1-3 /proc/loadavg)"
	env=()
	[ "$gogc" = default ] && env=(env -u GOGC) || env=(env GOGC="$gogc")
	out=$(cd internal/server && "${env[@]}" /tmp/inventory-server.bench.test -test.run '^$' \
		-test.bench '^(BenchmarkProfileVsRedisGet|BenchmarkGRPCCallFloor)$' \
		-test.benchtime "${1:-10s}" -test.count "${2:-1}")
	echo "$out" | grep -E '^Benchmark'
	echo "$out" | awk '
	function val(unit,   i) { for (i = 1; i < NF; i++) if ($(i+1) == unit) return $i }
	/^BenchmarkProfileVsRedisGet-/ {
		printf "GetProvisioningProfile: %.0f/s   redis GET: %.0f/s   ratio: %.3f (aim >= 0.25)\n", val("profiles/s"), val("redis-get/s"), val("ratio")
		printf "  CPU per op: profile %.1f µs, GET %.1f µs   cpu-ratio: %.3f\n", val("cpu-µs/profile"), val("cpu-µs/get"), val("cpu-ratio")
		printf "  profile latency (50 callers): p50 %.0f µs, p99 %.0f µs\n", val("p50-µs"), val("p99-µs") }
	/^BenchmarkGRPCCallFloor-/ {
		printf "bare gRPC call (floor): %.0f/s, %.1f µs CPU\n", val("calls/s"), val("cpu-µs/call") }'
done
