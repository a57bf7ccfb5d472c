#!/usr/bin/env bash
# Boot storm: N assigned phones (default 2,000) boot at once against `dialtone`.
# dialtone runs in a "pbx" network namespace, phonesim in a "lan" namespace
# (addresses in 198.18.0.0/15), joined by a veth pair. Prints how many phones
# were provisioned, the time to the last one, and per-phone p50/p99 from
# SUBSCRIBE to the last file fetched. Aim: all 2,000 within 20 s on 2 cores.
#
# Usage: bench/storm.sh [count] [vendor] [model] [concurrency]   (needs root and iproute2)
set -euo pipefail
count=${1:-2000}
vendor=${2:-yealink}
model=${3:-T54W}
concurrency=${4:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/dt-storm.XXXXXX)
tag=$(printf '%04x' $((RANDOM)))
pbx=dt-st$tag-pbx
lan=dt-st$tag-lan
pid=""

cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  ip netns del "$pbx" 2>/dev/null || true
  ip netns del "$lan" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

echo "building…"
(cd "$root/cmd" && go build -o "$work/" ./dialtone ./dialtonectl ./phonesim)

ip netns add "$pbx"
ip netns add "$lan"
ip link add "st$tag-a" type veth peer name "st$tag-b"
ip link set "st$tag-a" netns "$pbx" name eth0
ip link set "st$tag-b" netns "$lan" name eth0
ip -n "$pbx" addr add 198.18.7.1/24 dev eth0
ip -n "$lan" addr add 198.18.7.2/24 dev eth0
for ns in "$pbx" "$lan"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up multicast on
  ip -n "$ns" route add 224.0.0.0/4 dev eth0
done

ctl() { ip netns exec "$pbx" "$work/dialtonectl" --data-dir "$work/data" --timeout 60s "$@"; }

ip netns exec "$pbx" "$work/dialtone" --data-dir "$work/data" --sip-interfaces eth0 \
  --public-host 198.18.7.1 --pbx-host 198.18.7.1 --log-level ${LOG_LEVEL:-warn} --sip-rate-per-source 0 \
  >"$work/dialtone.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  grep -q "Dialtone is running" "$work/dialtone.log" && break
  sleep 0.2
done
grep -q "Dialtone is running" "$work/dialtone.log" || { cat "$work/dialtone.log"; exit 1; }

echo "assigning $count $vendor $model phones…"
"$work/phonesim" macs --vendor "$vendor" --model "$model" --count "$count" --csv \
  --extension-start 10000 --password-prefix pw- >"$work/phones.csv"
start_import=$(date +%s%N)
ctl phones import "$work/phones.csv" --concurrency 16 >"$work/import.log" || { tail "$work/import.log"; exit 1; }
echo "import: $(( ($(date +%s%N) - start_import) / 1000000 )) ms"

echo "storm: $count phones, concurrency $concurrency…"
start_storm=$(date +%s%N)
ip netns exec "$lan" "$work/phonesim" storm --vendor "$vendor" --model "$model" --count "$count" \
  --concurrency "$concurrency" --iface eth0 --timeout 60s -o json >"$work/storm.json" || true

# The phones are done when inventory lists them provisioned (it consumes the
# edge's ConfigFetched events); wait up to 60 s more for it to catch up.
provisioned=0
for _ in $(seq 1 120); do
  provisioned=$(ctl phones list --state provisioned -o json | grep -o '"mac"' | wc -l)
  [ "$provisioned" -ge "$count" ] && break
  sleep 0.5
done
all_ms=$(( ($(date +%s%N) - start_storm) / 1000000 ))
python3 - "$work/storm.json" "$count" "$provisioned" "$all_ms" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
count, prov, all_ms = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
p = r["subscribe_to_provisioned_ms"]
print(f"phones: {r['ok']} ok, {r['failed']} failed; inventory: {prov}/{count} provisioned")
if r.get("failures"):
    print("failures:", r["failures"])
print(f"phones finished booting after {r['wall_ms']/1000:.2f} s ({r['phones_per_second']:.0f} phones/s)")
print(f"inventory listed {prov} provisioned after {all_ms/1000:.2f} s (polled every 0.5 s)")
print(f"per phone, SUBSCRIBE -> last file: p50 {p['p50']:.0f} ms, p99 {p['p99']:.0f} ms, max {p['max']:.0f} ms")
print(f"aim: all {count} provisioned within 20 s -> {'met' if r['ok']==count and prov==count and all_ms<=20000 else 'NOT met'}")
PY
