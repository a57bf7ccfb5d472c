#!/usr/bin/env bash
# GetProvisioningProfile by token (gRPC over loopback TCP, platform grpcserver
# with token auth, Redis backend) against `redis-benchmark -t get` on the same
# redis-server, in the same run; prints both rates and their ratio (aim >= 0.25).
# Usage: bench/profile_vs_redis.sh [benchtime]   (default 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
for bin in redis-server redis-benchmark; do
	command -v "$bin" >/dev/null || { echo "$bin not found (apt-get install -y redis-server redis-tools)" >&2; exit 1; }
done
out=$(GOWORK=off go test -run '^$' -bench '^BenchmarkProfileVsRedisGet$' -benchtime "${1:-10s}" ./internal/server/)
echo "$out" | grep -E '^(Benchmark|goos|cpu)'
echo "$out" | awk '/^BenchmarkProfileVsRedisGet/ {
	for (i = 1; i <= NF; i++) { if ($(i+1) == "profiles/s") p = $i; if ($(i+1) == "redis-get/s") r = $i; if ($(i+1) == "ratio") q = $i }
	printf "GetProvisioningProfile: %.0f/s   redis GET: %.0f/s   ratio: %.3f (aim >= 0.25)\n", p, r, q }'
