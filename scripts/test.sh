#!/usr/bin/env bash
# Runs every module's tests with the race detector (workspace mode), one module at a
# time, and prints one summary line. A module that fails to build fails the run.
# 40m per package: cmd/e2e holds the cluster chaos test (its programs' build, then
# at most 15 minutes of cluster and storm) besides the other end-to-end tests.
# Usage: scripts/test.sh [extra go test flags]
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mods=$(scripts/modules.sh) || exit 1
gotestsum=$root/bin/gotestsum
status=0
for m in $mods; do
  echo "=== module $m"
  json=$out/$(echo "$m" | tr / _).json
  if ! (cd "$m" && "$gotestsum" --format pkgname-and-test-fails --jsonfile "$json" -- \
        -race -count=1 -shuffle=on -timeout 40m "$@" ./...); then
    echo "--- module $m FAILED"
    status=1
  fi
done
passed=$(cat "$out"/*.json | grep -c '"Action":"pass","Package":"[^"]*","Test"' || true)
failed=$(cat "$out"/*.json | grep -c '"Action":"fail","Package":"[^"]*","Test"' || true)
skipped=$(cat "$out"/*.json | grep -c '"Action":"skip","Package":"[^"]*","Test"' || true)
pkgfail=$(cat "$out"/*.json | grep -c '"Action":"fail","Package":"[^"]*","Elapsed"' || true)
echo
echo "modules: $(echo "$mods" | wc -l), packages failing: $pkgfail"
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
