#!/usr/bin/env bash
# The per-syscall price of the opt-in syscall mode (RUNWARDEN_SYSCALLS). Not run by CI.
#
#   integration/bench/syscall_mode.sh [--runs N] [--pin CPU] [--gvisor]
#
# `rw-fixture syscall-bench KIND N` makes N calls and prints the ns per call; each kind runs
# bare, under runwarden with the mode off, and with RUNWARDEN_SYSCALLS=personality,connect, alternated
# round by round (A B C A B C: a ratio holds where absolute times drift). The median of the rounds is
# printed with the ratio to bare.
#   getppid      never listed: with the mode on it only pays the filter's evaluation (no stop)
#   personality  listed, a query (0xffffffff): one seccomp stop + registers + resume, nothing to read
#   connect      socket + connect to a closed loopback port + close; the connect is listed: one stop,
#                registers, the sockaddr read from the caller and the socket's protocol
# --pin CPU runs everything (runwarden's tracer included) on one CPU, like a 1-vCPU instance; by default
# the tracer and the workload may sit on different vCPUs, where each stop pays two cross-CPU wake-ups.
# --gvisor runs the three configurations inside `runsc --network=none do` instead (nested; only the
# ratios mean something there).
set -euo pipefail
runs=5
pin=""
gvisor=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --pin) pin="$2"; shift 2 ;;
        --gvisor) gvisor=1; shift ;;
        *) echo "usage: $0 [--runs N] [--pin CPU] [--gvisor]" >&2; exit 2 ;;
    esac
done
target="${CARGO_TARGET_DIR:-/work/target}/x86_64-unknown-linux-gnu/release"
rw="$target/runwarden"
fx="$target/rw-fixture"
[ -x "$rw" ] && [ -x "$fx" ] || { echo "build first: cargo build --workspace --release" >&2; exit 2; }
for v in $(env | grep -o '^RUNWARDEN_[A-Z_]*' || true); do unset "$v"; done

wrap() {
    local prefix=()
    [ -n "$pin" ] && prefix=(taskset -c "$pin")
    if [ "$gvisor" = 1 ]; then prefix+=(runsc --network=none do); fi
    "${prefix[@]}" "$@"
}

one() { # config kind n -> ns per call
    local config="$1" kind="$2" n="$3"
    case "$config" in
        bare) wrap env "$fx" syscall-bench "$kind" "$n" ;;
        off) wrap env RUNWARDEN_LOG=error RUNWARDEN_WATCH=off "$rw" -- "$fx" syscall-bench "$kind" "$n" ;;
        on) wrap env RUNWARDEN_LOG=error RUNWARDEN_WATCH=off RUNWARDEN_SYSCALLS=personality,connect \
            "$rw" -- "$fx" syscall-bench "$kind" "$n" ;;
    esac | awk '{print $3}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

scale=1
[ "$gvisor" = 1 ] && scale=10
echo "# syscall mode price: $(uname -r), $(nproc) CPUs, pin=${pin:-none}, gvisor=$gvisor, $runs rounds, $(date -u +%FT%TZ)"
printf '%-12s %12s %12s %12s %9s %9s\n' kind bare_ns off_ns on_ns off/bare on/bare
for spec in "getppid 10000000" "personality 100000" "connect 20000"; do
    set -- $spec
    kind="$1"; n=$(( $2 / scale ))
    declare -A res=()
    for _ in $(seq "$runs"); do
        for config in bare off on; do
            res[$config]+="$(one "$config" "$kind" "$n") "
        done
    done
    b=$(echo ${res[bare]} | tr ' ' '\n' | median)
    o=$(echo ${res[off]} | tr ' ' '\n' | median)
    s=$(echo ${res[on]} | tr ' ' '\n' | median)
    awk -v k="$kind" -v b="$b" -v o="$o" -v s="$s" \
        'BEGIN {printf "%-12s %12.1f %12.1f %12.1f %9.2f %9.2f\n", k, b, o, s, o/b, s/b}'
    unset res
done
