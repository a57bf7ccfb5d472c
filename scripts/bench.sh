#!/usr/bin/env bash
# Runs the Go benchmarks of every module, then every script under bench/ and
# services/*/bench/*.sh (each prints its own ratios against a reference measured
# in the same run). BENCH selects benchmarks (default: all).
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for m in $(scripts/modules.sh); do
  echo "=== go test -bench in $m"
  (cd "$m" && go test -run='^$' -bench="${BENCH:-.}" -benchmem -count=1 ./...) || status=1
done
for s in bench/*.sh services/*/bench/*.sh; do
  [ -x "$s" ] || continue
  echo "=== $s"
  "$s" || status=1
done
exit $status
