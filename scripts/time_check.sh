#!/usr/bin/env bash
# Time the README's full check (`make check`, what CI runs) on this machine, stage by stage: `make setup`, `make test`
# (with pytest's summary of each of its two stages) and `make test-slow`; then the device and versions. Stops at the
# first stage that fails. Usage: bash scripts/time_check.sh | tee timing.txt
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp "${TMPDIR:-/tmp}/time-check.XXXXXX")
trap 'rm -f "$log"' EXIT
echo "tree: $(git rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout'); CI=${CI:-unset}; HOME=$HOME"
for target in setup test test-slow; do
    start=$(date +%s)
    make "$target" >"$log" 2>&1
    rc=$?
    grep -E "(passed|failed|error)[^=]* in [0-9.]+s|^setup: " "$log" || true
    echo "make $target: $(( $(date +%s) - start )) s, exit $rc"
    if [ "$rc" != 0 ]; then
        tail -n 40 "$log"
        exit "$rc"
    fi
done
.venv/bin/python -c "import json; from helpers.core import versions; print(json.dumps(versions.describe()))"
