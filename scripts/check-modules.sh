#!/usr/bin/env bash
# Every module must build, vet and be tidy on its own (GOWORK=off), because each
# depends on its in-repo siblings only through require v0.0.0 + replace.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for m in $(scripts/modules.sh); do
  echo "=== $m (GOWORK=off)"
  if ! (cd "$m" && GOWORK=off go build ./... && GOWORK=off go vet ./... && GOWORK=off go mod tidy -diff >/dev/null); then
    echo "--- $m: build, vet or tidy failed (run: cd $m && GOWORK=off go mod tidy -diff)" >&2
    status=1
  fi
done
exit $status
