#!/usr/bin/env bash
# Prints the directory of every module in go.work, relative to the repo root, and
# fails when a go.mod exists that go.work does not list (tools/ excepted), so a
# module can never silently drop out of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
listed=$(go work edit -json | sed -n 's/.*"DiskPath": "\.\/\(.*\)".*/\1/p' | sort)
found=$(find . -name go.mod -not -path './tools/*' -not -path './bin/*' -printf '%h\n' | sed 's|^\./||' | sort)
if [ "$listed" != "$found" ]; then
  echo "go.work and the go.mod files disagree:" >&2
  diff <(echo "$listed") <(echo "$found") >&2 || true
  exit 1
fi
echo "$listed"
