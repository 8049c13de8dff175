#!/usr/bin/env bash
# The project's test command (the one README.md gives): builds the workspace in release mode (the same
# static binary users ship) and runs every test: unit tests, the PID-1 and tracer end-to-end tests (some
# as PID 1 of a fresh PID namespace), the FROM-scratch container proof and the gVisor (runsc) runs.
# Needs root (unshare, runsc, docker). Prints cargo's per-suite "test result:" lines and a final
# "N passed, N failed" summary.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "integration/test.sh: run as root (the tests use PID namespaces, gVisor and Docker)" >&2
    exit 2
fi

cargo build --workspace --release --locked
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --release --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | grep -E '^[0-9]+' -o | awk '{s+=$1} END {print s+0}')
echo
echo "${passed} passed, ${failed} failed"
exit "$status"
