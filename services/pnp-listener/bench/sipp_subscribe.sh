#!/usr/bin/env bash
# Drives PnP SUBSCRIBEs at pnp-listener with sipp on loopback (unicast) and
# prints how many were answered per second, and the p50/p99 time from
# SUBSCRIBE to 200 OK and to the NOTIFY carrying the URL.
#
#   bench/sipp_subscribe.sh [RATE] [CALLS]     (defaults 5000 and 10*RATE)
#   NOTIFY=0 bench/sipp_subscribe.sh …         the answer path alone: inventory
#                                              knows no phone, so no NOTIFY
#   INVENTORY_CONNS=4 …                        gRPC connections to the stub
#
# Each call is one phone booting (distinct MAC, distinct Call-ID):
# SUBSCRIBE → 200 OK → NOTIFY(url) → 200 OK, the scenario
# testdata/sipp/pnp_phone.xml. The listener runs in bench/harness with an
# embedded JetStream (PhoneDiscovered really published) and an inventory
# stub on loopback gRPC. Needs sipp (Debian package sip-tester) and Go.
set -euo pipefail

RATE=${1:-5000}
CALLS=${2:-$((RATE * 10))}
SIP_PORT=${SIP_PORT:-5070}
SIPP_PORT=${SIPP_PORT:-5071}

here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/pnp-bench.XXXXXX)
harness_pid=""
cleanup() {
	if [[ -n $harness_pid ]] && kill -0 "$harness_pid" 2>/dev/null; then
		kill -INT "$harness_pid" 2>/dev/null || true
		wait "$harness_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

command -v sipp >/dev/null || { echo "sipp not found (apt-get install -y sip-tester)" >&2; exit 1; }
(cd "$here" && GOWORK=off go build -o "$work/harness" ./bench/harness)

scenario=pnp_phone.xml
no_url=false
if [[ ${NOTIFY:-1} == 0 ]]; then
	scenario=pnp_phone_200.xml
	no_url=true
fi
"$work/harness" -sip-addr "127.0.0.1:$SIP_PORT" -inventory-conns "${INVENTORY_CONNS:-1}" -no-url="$no_url" >"$work/harness.out" 2>"$work/harness.err" &
harness_pid=$!
for _ in $(seq 1 100); do
	grep -q ready "$work/harness.out" 2>/dev/null && break
	sleep 0.1
done
grep -q ready "$work/harness.out" || { cat "$work/harness.err" >&2; exit 1; }

{
	echo SEQUENTIAL
	awk -v n="$CALLS" 'BEGIN { for (i = 1; i <= n; i++) printf "0015%08x\n", i }'
} >"$work/macs.csv"

cd "$work"
start=$(date +%s.%N)
set +e
/usr/bin/time -f "%U %S" -o "$work/sipp.time" sipp -sf "$here/testdata/sipp/$scenario" -inf "$work/macs.csv" \
	-i 127.0.0.1 -p "$SIPP_PORT" -r "$RATE" -rp 1000 -m "$CALLS" -l $((RATE * 4)) \
	-buff_size 8388608 -nostdin -trace_rtt -rtt_freq 100 -trace_err \
	"127.0.0.1:$SIP_PORT" >"$work/sipp.out" 2>&1
sipp_rc=$?
set -e
end=$(date +%s.%N)

ok=$(awk -F'|' '/Successful call/ { gsub(/ /, "", $3); print $3 }' "$work/sipp.out" | tail -1)
failed=$(awk -F'|' '/Failed call/ { gsub(/ /, "", $3); print $3 }' "$work/sipp.out" | tail -1)
rtt=$(ls "$work"/*_rtt.csv 2>/dev/null | head -1)

pct() { # rtd percentile
	awk -F';' -v rtd="$1" 'NR > 1 && $3 == rtd { print $2 }' "$rtt" | sort -n |
		awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit } i = int(NR * p / 100); if (i < NR * p / 100) i++; if (i < 1) i = 1; print v[i] " ms" }'
}

# CPU seconds the listener process used (utime+stime: it includes the
# embedded NATS server and the inventory stub), read before it exits.
ticks=$(getconf CLK_TCK)
harness_cpu=$(awk -v t="$ticks" '{ print ($14 + $15) / t }' "/proc/$harness_pid/stat")
sipp_cpu=$(tail -1 "$work/sipp.time" | awk '{ print $1 + $2 }')
kill -INT "$harness_pid" 2>/dev/null || true
wait "$harness_pid" 2>/dev/null || true
harness_pid=""

elapsed=$(echo "$end - $start" | bc -l)
printf 'sipp rc=%s  offered rate %s/s  calls %s  elapsed %.2fs\n' "$sipp_rc" "$RATE" "$CALLS" "$elapsed"
printf 'sipp calls successful: %s   failed: %s\n' "${ok:-0}" "${failed:-?}"
# Throughput over the time the NOTIFYs arrived (sipp's rtt log stamps each
# sample with ms since its start), so calls that fail by timeout at the
# end do not dilute it.
if [[ -n $rtt ]]; then
	rtd=2
	what="answered with NOTIFY"
	if [[ $no_url == true ]]; then
		rtd=1
		what="answered (200 OK only)"
	fi
	awk -F';' -v rtd="$rtd" -v what="$what" 'NR > 1 && $3 == rtd { n++; if ($1 > last) last = $1 } END { if (last > 0) printf "SUBSCRIBEs %s per second: %.0f (%d in %.2fs)\n", what, n / (last / 1000), n, last / 1000 }' "$rtt"
fi
if [[ -n $rtt ]]; then
	printf 'SUBSCRIBE → 200 OK   p50 %s   p99 %s   max %s\n' "$(pct 1 50)" "$(pct 1 99)" "$(pct 1 100)"
	if [[ $no_url != true ]]; then
		printf 'SUBSCRIBE → NOTIFY   p50 %s   p99 %s   max %s\n' "$(pct 2 50)" "$(pct 2 99)" "$(pct 2 100)"
	fi
fi
if [[ ${ok:-0} -gt 0 ]]; then
	printf 'CPU per answered SUBSCRIBE: listener %.0f µs (incl. embedded NATS + inventory stub), sipp %.0f µs; load average %s\n' \
		"$(echo "$harness_cpu * 1000000 / $ok" | bc -l)" "$(echo "$sipp_cpu * 1000000 / $ok" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
fi
grep -v '^time=' "$work/harness.err" | sed 's/^/  /' || true
if [[ $sipp_rc -ne 0 ]]; then
	echo "sipp errors (first lines):"
	head -c 2000 "$work"/*_errors.log 2>/dev/null || true
	echo
fi
