#!/usr/bin/env bash
# runwarden benchmarks (see README.md here). Not run by CI; never fails a build.
#   integration/bench/run.sh [--quick] [--runs N] [--only exec-heavy,cold-start,...] [--runwarden PATH]
#                            [--build] [--out FILE] [--json FILE] [--cpus 0] ...   (--help for all)
# runwarden binary: --runwarden PATH, else $BENCH_RUNWARDEN, else
# $CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/runwarden, else /work/target/... (built only with --build).
# Needs bash and python3 (standard library) on the host; optional: tini, strace, gcc, wrk.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${PYTHON:-python3}"
if ! command -v "$py" >/dev/null 2>&1; then
    echo "run.sh: python3 is required on the host (set PYTHON=... to choose one)" >&2
    exit 2
fi
exec "$py" "$here/bench.py" "$@"
