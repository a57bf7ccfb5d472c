#!/usr/bin/env bash
# Boot storm: N assigned phones (default 2,000) boot at once against `dialtone`.
# dialtone runs in a "pbx" network namespace, phonesim in a "lan" namespace,
# joined by a veth pair on 198.19.0.0/16 (inside the benchmarking range
# 198.18.0.0/15). Every phone has its own link layer: phonesim --own-link sends
# its SIP through a packet socket with the phone's own MAC and its own address
# (198.19.1.0 + i) and answers ARP for it, so dialtone's link-layer check
# (issue 14) sees N distinct hosts.
#
# The storm runs twice in the same invocation, on fresh namespaces and data:
# with --pnp-link-check=require (the default, the figure that counts) and with
# --pnp-link-check=off (the reference); it prints both and the cost of the
# check as a ratio. Prints how many phones were provisioned, the time to the
# last one, and per-phone p50/p99 from SUBSCRIBE to the last file fetched.
# Aim: all 2,000 within 20 s on 2 cores, with the check on.
#
# The kernel's neighbour table is shared by every namespace and holds at most
# net.ipv4.neigh.default.gc_thresh3 entries (1,024 by default); more phones
# than that need it raised, which this script does for its run and restores.
#
# Usage: bench/storm.sh [count] [vendor] [model] [concurrency]   (needs root and iproute2)
#        MODES="require" bench/storm.sh …   runs only the given modes
#        STORM_TMP=/dev/shm bench/storm.sh …  keeps dialtone's data (bbolt, JetStream)
#          there: on tmpfs an fsync costs nothing, which shows what the disk costs
#        PROFILE=/tmp/prof bench/storm.sh …  also writes CPU profiles of dialtone
#          (--admin-pprof, over the storm) and phonesim, and dialtone's mutex and
#          block profiles, to that folder (<mode>-dialtone-cpu.pprof, …)
#
# phonesim's phones fetch over HTTP from the lan namespace's one address, as
# phones behind one NAT do, so the edge's --max-conns-per-source (256) is
# raised to twice the concurrency.
#
# Whether the storm is CPU-bound: it prints the CPU seconds dialtone and
# phonesim used during the storm, against the wall time × 2 cores.
set -euo pipefail
count=${1:-2000}
vendor=${2:-yealink}
model=${3:-T54W}
concurrency=${4:-200}
modes=${MODES:-require off}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(mktemp -d /tmp/dt-storm-bin.XXXXXX)
pid=""
pbx=""
lan=""
work=""
thresh=$(sysctl -n net.ipv4.neigh.default.gc_thresh1 net.ipv4.neigh.default.gc_thresh2 net.ipv4.neigh.default.gc_thresh3 | tr '\n' ' ')

cleanup_run() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  pid=""
  [ -n "$pbx" ] && ip netns del "$pbx" 2>/dev/null || true
  [ -n "$lan" ] && ip netns del "$lan" 2>/dev/null || true
  pbx="" lan=""
  if [ -n "$work" ]; then
    [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
  fi
  work=""
}
cleanup() {
  cleanup_run
  read -r t1 t2 t3 <<<"$thresh"
  sysctl -qw net.ipv4.neigh.default.gc_thresh1="$t1" net.ipv4.neigh.default.gc_thresh2="$t2" net.ipv4.neigh.default.gc_thresh3="$t3" || true
  rm -rf "$bin"
}
trap cleanup EXIT

echo "building…"
(cd "$root/cmd" && go build -o "$bin/" ./dialtone ./dialtonectl ./phonesim)
need=$((count + 1024))
read -r _ _ t3 <<<"$thresh"
if [ "$t3" -lt "$need" ]; then
  sysctl -qw net.ipv4.neigh.default.gc_thresh1=$((need / 4)) net.ipv4.neigh.default.gc_thresh2=$((need / 2)) net.ipv4.neigh.default.gc_thresh3="$need"
fi

# proc_cpu PID: user+system CPU seconds the process has used.
proc_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

# storm_once MODE: one storm on fresh namespaces; appends "MODE wall_s all_s ok" to $results.
results=$(mktemp /tmp/dt-storm-res.XXXXXX)
storm_once() {
  local mode=$1 tag
  tag=$(printf '%04x' $((RANDOM)))
  work=$(mktemp -d "${STORM_TMP:-/tmp}/dt-storm.XXXXXX")
  pbx=dt-st$tag-pbx
  lan=dt-st$tag-lan
  ip netns add "$pbx"
  ip netns add "$lan"
  ip link add "st$tag-a" type veth peer name "st$tag-b"
  ip link set "st$tag-a" netns "$pbx" name eth0
  ip link set "st$tag-b" netns "$lan" name eth0
  ip -n "$pbx" addr add 198.19.0.1/16 dev eth0
  ip -n "$lan" addr add 198.19.0.2/16 dev eth0
  for ns in "$pbx" "$lan"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up multicast on
    ip -n "$ns" route add 224.0.0.0/4 dev eth0
  done

  ctl() { ip netns exec "$pbx" "$bin/dialtonectl" --data-dir "$work/data" --timeout 60s "$@"; }

  ip netns exec "$pbx" "$bin/dialtone" --data-dir "$work/data" --sip-interfaces eth0 \
    --public-host 198.19.0.1 --pbx-host 198.19.0.1 --log-level ${LOG_LEVEL:-warn} --sip-rate-per-source 0 \
    --pnp-link-check "$mode" ${PROFILE:+--admin-pprof} \
    --max-conns-per-source $((concurrency * 2 > 256 ? concurrency * 2 : 256)) \
    >"$work/dialtone.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    grep -q "Dialtone is running" "$work/dialtone.log" && break
    sleep 0.2
  done
  grep -q "Dialtone is running" "$work/dialtone.log" || { cat "$work/dialtone.log"; exit 1; }

  echo "[$mode] assigning $count $vendor $model phones…"
  "$bin/phonesim" macs --vendor "$vendor" --model "$model" --count "$count" --csv \
    --extension-start 10000 --password-prefix pw- >"$work/phones.csv"
  local start_import start_storm provisioned all_ms
  start_import=$(date +%s%N)
  ctl phones import "$work/phones.csv" --concurrency 16 >"$work/import.log" || { tail "$work/import.log"; exit 1; }
  echo "[$mode] import: $(( ($(date +%s%N) - start_import) / 1000000 )) ms"

  echo "[$mode] storm: $count phones, concurrency $concurrency, each with its own MAC and address…"
  local cpu0 cpu1 cpu2 prof_pid=""
  if [ -n "${PROFILE:-}" ]; then
    mkdir -p "$PROFILE"
    # The CPU profile covers the storm and the lag after it (up to 60 s).
    ip netns exec "$pbx" curl -s -o "$PROFILE/$mode-dialtone-cpu.pprof" \
      "http://127.0.0.1:9190/debug/pprof/profile?seconds=${PROFILE_SECONDS:-60}" &
    prof_pid=$!
  fi
  cpu0=$(proc_cpu "$pid")
  start_storm=$(date +%s%N)
  ip netns exec "$lan" "$bin/phonesim" storm --vendor "$vendor" --model "$model" --count "$count" \
    --concurrency "$concurrency" --iface eth0 --own-link 198.19.1.0 --timeout 60s -o json \
    ${PROFILE:+--cpuprofile "$PROFILE/$mode-phonesim-cpu.pprof"} >"$work/storm.json" || true
  cpu1=$(proc_cpu "$pid")

  # The phones are done when inventory lists them provisioned (it consumes the
  # edge's ConfigFetched events); wait up to 60 s more for it to catch up
  # (for the phones that booted: one that gave up is never listed).
  local booted
  booted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ok"])' "$work/storm.json" 2>/dev/null || echo "$count")
  # It also stops after 20 polls without progress: a phone whose last
  # fetch failed stays unlisted until it fetches again.
  local last=-1 still=0
  provisioned=0
  for _ in $(seq 1 120); do
    provisioned=$({ ctl phones list --state provisioned -o json || true; } | grep -o '"mac"' | wc -l)
    [ "$provisioned" -ge "$booted" ] && break
    if [ "$provisioned" -eq "$last" ]; then still=$((still + 1)); else still=0; fi
    last=$provisioned
    [ "$still" -ge 20 ] && break
    sleep 0.5
  done
  all_ms=$(( ($(date +%s%N) - start_storm) / 1000000 ))
  cpu2=$(proc_cpu "$pid")
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); c0,c1,c2,all_s=map(float,sys.argv[3:7]); w=r["wall_ms"]/1000; ps=r.get("cpu_s",0)
print(f"[{sys.argv[2]}] dialtone CPU: {c1-c0:.1f} s during the storm ({(c1-c0)/w:.2f} cores of 2), {c2-c0:.1f} s until all listed ({(c2-c0)/all_s:.2f} cores); phonesim CPU: {ps:.1f} s ({ps/w:.2f} cores)")' \
    "$work/storm.json" "$mode" "$cpu0" "$cpu1" "$cpu2" "$((all_ms))e-3" || true
  if [ -n "$prof_pid" ]; then
    wait "$prof_pid" || true
    for p in mutex block; do
      ip netns exec "$pbx" curl -s -o "$PROFILE/$mode-dialtone-$p.pprof" "http://127.0.0.1:9190/debug/pprof/$p" || true
    done
    cp "$bin/dialtone" "$bin/phonesim" "$work/storm.json" "$PROFILE/" || true
    ip netns exec "$pbx" curl -s -o "$PROFILE/$mode-metrics.txt" http://127.0.0.1:9190/metrics || true
  fi
  python3 - "$work/storm.json" "$count" "$provisioned" "$all_ms" "$mode" "$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
count, prov, all_ms, mode, res = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
p = r["subscribe_to_provisioned_ms"]
print(f"[{mode}] phones: {r['ok']} ok, {r['failed']} failed; inventory: {prov}/{count} provisioned")
if r.get("failures"):
    print(f"[{mode}] failures:", r["failures"])
print(f"[{mode}] phones finished booting after {r['wall_ms']/1000:.2f} s ({r['phones_per_second']:.0f} phones/s)")
print(f"[{mode}] inventory listed {prov} provisioned after {all_ms/1000:.2f} s (polled every 0.5 s)")
print(f"[{mode}] per phone, SUBSCRIBE -> last file: p50 {p['p50']:.0f} ms, p99 {p['p99']:.0f} ms, max {p['max']:.0f} ms")
print(f"[{mode}] aim: all {count} provisioned within 20 s -> {'met' if r['ok']==count and prov==count and all_ms<=20000 else 'NOT met'}")
with open(res, "a") as f:
    f.write(f"{mode} {r['wall_ms']/1000:.3f} {all_ms/1000:.3f} {r['ok']} {p['p50']:.0f} {p['p99']:.0f}\n")
PY
  grep -i "link-layer\|link_layer" "$work/dialtone.log" | head -3 || true
  echo "[$mode] listener counters:"
  ip netns exec "$pbx" curl -s http://127.0.0.1:9190/metrics 2>/dev/null |
    grep -E '^dialtone_pnp_listener_(datagrams_dropped_total\{reason="link|notifies_total\{kind="boot"|subscribes_total)' | grep -v ' 0$' | sed 's/^/    /' || true
  # Issue 20: what the storm cost in events and how well the edge's cache held.
  ip netns exec "$pbx" curl -s http://127.0.0.1:9190/metrics 2>/dev/null | python3 -c '
import re, sys
count, mode = int(sys.argv[1]), sys.argv[2]
v = {}
for line in sys.stdin:
    m = re.match(r"(dialtone_provision_http_cache_lookups_total|dialtone_provision_http_phone_changes_total|dialtone_inventory_phone_changes_total)\{([^}]*)\} (\S+)", line)
    if m:
        labels = dict(re.findall(r"(\w+)=\"([^\"]*)\"", m.group(2)))
        v[(m.group(1), tuple(sorted(labels.items())))] = float(m.group(3))
def total(name, **want):
    return sum(x for (n, l), x in v.items() if n == name and all(dict(l).get(k) == w for k, w in want.items()))
for c in ("token", "file"):
    hit, miss = total("dialtone_provision_http_cache_lookups_total", cache=c, result="hit"), total("dialtone_provision_http_cache_lookups_total", cache=c, result="miss")
    print(f"[{mode}] edge {c} cache: {hit:.0f} hits, {miss:.0f} misses, hit ratio {hit / max(1, hit + miss):.2f}")
ev = total("dialtone_inventory_phone_changes_total")
acts = {a: total("dialtone_provision_http_phone_changes_total", action=a) for a in ("invalidated", "grants", "kept")}
print(f"[{mode}] PhoneChanged: {ev:.0f} events, {ev / max(1, count):.2f} per phone (import and storm); at the edge " + ", ".join(f"{k} {x:.0f}" for k, x in acts.items()))
' "$count" "$mode" || true
  cleanup_run
}

for m in $modes; do
  storm_once "$m"
done

python3 - "$results" "$count" <<'PY'
import sys
rows = {l.split()[0]: l.split()[1:] for l in open(sys.argv[1]) if l.strip()}
count = int(sys.argv[2])
if "require" in rows and "off" in rows:
    r, o = rows["require"], rows["off"]
    print(f"link-layer check cost ({count} phones, same run): phones done {float(r[0]):.2f} s with the check vs {float(o[0]):.2f} s without "
          f"(ratio {float(r[0])/float(o[0]):.2f}); per-phone p50 {r[3]} vs {o[3]} ms, p99 {r[4]} vs {o[4]} ms; ok {r[2]} vs {o[2]}")
PY
rm -f "$results"
