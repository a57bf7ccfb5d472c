#!/usr/bin/env bash
# GetProvisioningProfile by token (gRPC over loopback TCP, platform grpcserver
# with token auth, Redis backend, profile cache on) against
# `redis-benchmark -t get` on the same redis-server, in the same run; prints
# both rates and their ratio (aim >= 0.25), the CPU time per operation of
# each (the figure other load on the machine does not move much), and the
# cost of a bare gRPC call on the same server (BenchmarkGRPCCallFloor).
# Usage: bench/profile_vs_redis.sh [benchtime [count]]   (default 10s 1)
set -euo pipefail
cd "$(dirname "$0")/.."
for bin in redis-server redis-benchmark; do
	command -v "$bin" >/dev/null || { echo "$bin not found (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(GOWORK=off go test -run '^$' -bench '^(BenchmarkProfileVsRedisGet|BenchmarkGRPCCallFloor)$' \
	-benchtime "${1:-10s}" -count "${2:-1}" ./internal/server/)
echo "$out" | grep -E '^(Benchmark|goos|cpu)'
echo "$out" | awk '
function val(unit,   i) { for (i = 1; i < NF; i++) if ($(i+1) == unit) return $i }
/^BenchmarkProfileVsRedisGet-/ {
	printf "GetProvisioningProfile: %.0f/s   redis GET: %.0f/s   ratio: %.3f (aim >= 0.25)\n", val("profiles/s"), val("redis-get/s"), val("ratio")
	printf "  CPU per op: profile %.1f µs, GET %.1f µs   cpu-ratio: %.3f\n", val("cpu-µs/profile"), val("cpu-µs/get"), val("cpu-ratio") }
/^BenchmarkGRPCCallFloor-/ {
	printf "bare gRPC call (floor): %.0f/s, %.1f µs CPU\n", val("calls/s"), val("cpu-µs/call") }'
