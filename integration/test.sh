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

# Set-up: the Debian packages the tests use, and a throwaway PostgreSQL for the collector's tests
# (they fail, not skip, under CI when it is missing). Not a RUNWARDEN_* name: runwarden refuses
# variables of its prefix it does not know, and the tests run runwarden with their environment.
integration/setup.sh
if [ -z "${RW_TEST_PG_URL:-}" ]; then
    RW_TEST_PG_URL=$(deploy/collector/tests/pg-setup.sh)
    export RW_TEST_PG_URL
fi

cargo build --workspace --release --locked
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --release --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The process tests once more under the other exec sensor: the run above is `auto`, which is the
# seccomp sensor on this host (root with CAP_SYS_ADMIN) and ptrace in the Docker containers (whose
# attack table also runs under the seccomp sensor, container_attacks.rs); here the PID-1, reaping,
# signal, tty, enforcement and detection tests run under ptrace.
echo "== the process tests under RUNWARDEN_SENSOR=ptrace =="
RW_TEST_SENSOR=ptrace cargo test -p runwarden --release --locked --no-fail-fast \
    --test exit_codes --test pid1 --test reaping --test signals --test tty --test passthrough \
    --test enforce --test findings --test evasions --test scanner --test script_corpus --test file_watch 2>&1 | tee -a "$log"
status2=${PIPESTATUS[0]}
[ "$status" = 0 ] && status=$status2
# The soak's short form (integration/bench/soak.py): three minutes of mixed work under runwarden with
# findings flowing to a real collector; fails on a lost finding or a descriptor leak, never on timing.
echo "== soak, short form =="
bin="${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release"
if python3 integration/bench/soak.py --minutes 3 --sample-every 15 --check \
    --runwarden "$bin/runwarden" --collector "$bin/runwarden-collector" 2>&1 | tee -a "$log"; then
    echo "test result: ok. 1 passed; 0 failed (soak, short form)" | tee -a "$log"
else
    echo "test result: FAILED. 0 passed; 1 failed (soak, short form)" | tee -a "$log"
    [ "$status" = 0 ] && status=1
fi
set -e
passed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | grep -E '^[0-9]+' -o | awk '{s+=$1} END {print s+0}')
echo
echo "${passed} passed, ${failed} failed"
exit "$status"
