#!/usr/bin/env python3
"""runwarden's CPU at rest with N live processes: the cost of the periodic scanner (process
reconciliation, stdio, sockets, libraries). PERFORMANCE.md: with 200 processes, <= 1 % of a core.

The workload under runwarden starts N processes and then sleeps: half are plain `sleep`, half are
`sleep | cat` pipelines (pipes are what the stdio watcher follows), plus one process holding 50 TCP
connections to a local listener (sockets are what the connection watcher attributes). After a
warm-up (first library reads, hashing), runwarden's own utime+stime (all its threads, from
/proc/<pid>/stat) is sampled over a window and reported as a percentage of one core.

runwarden runs as PID 1 of new PID and network namespaces with its own /proc (`unshare --pid --net
--fork --mount-proc`, loopback up), as in a container: there /proc holds the workload's processes only
and the socket counters move with its sockets only. With --host it runs in the host's namespaces,
where every pass lists and reads every process on the machine.

    integration/bench/scanner_cost.py [--runwarden PATH] [--procs 200] [--window 30] [--interval 500ms ...]
Not run by CI; needs python3 and bash. Prints a Markdown table.
"""
import argparse
import os
import signal
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def default_runwarden():
    target = os.environ.get("CARGO_TARGET_DIR", "/work/target")
    return os.path.join(target, "x86_64-unknown-linux-gnu", "release", "runwarden")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # Fields after the command: state(0) ... utime(11) stime(12).
    return int(rest[11]) + int(rest[12])


def workload(procs):
    half = procs // 2
    pipelines = (procs - half) // 2
    sockets = (
        "import socket,time;l=socket.socket();l.bind(('127.0.0.1',0));l.listen(64);"
        "c=[socket.create_connection(l.getsockname()) for _ in range(50)];a=[l.accept() for _ in range(50)];time.sleep(3600)"
    )
    return (
        f"for i in $(seq {half}); do sleep 3600 & done; "
        f"for i in $(seq {pipelines}); do (sleep 3600 | cat) & done; "
        f"python3 -c \"{sockets}\" & wait"
    )


def children(pid):
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def measure(runwarden, procs, interval, warmup, window, host):
    env = dict(os.environ, RUNWARDEN_SCAN_INTERVAL=interval, RUNWARDEN_SINKS="stderr", RUNWARDEN_LOG="warn")
    script = workload(procs) if procs > 0 else "sleep 3600"
    # In a namespace, killing unshare kills its child (--kill-child), runwarden as PID 1, and with it
    # every process of the namespace; on the host the workload is killed by its session.
    cmd = [runwarden, "--", "bash", "-c", script]
    if not host:
        up = 'ip link set lo up && exec "$@"'
        cmd = ["unshare", "--pid", "--net", "--fork", "--mount-proc", "--kill-child", "sh", "-c", up, "sh"] + cmd
    p = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(warmup)
        rw = p.pid if host else children(p.pid)[0]
        live = len(descendants(rw))
        t0, c0 = time.monotonic(), cpu_ticks(rw)
        time.sleep(window)
        t1, c1 = time.monotonic(), cpu_ticks(rw)
        return live, 100.0 * (c1 - c0) / TICK / (t1 - t0)
    finally:
        if host:
            subprocess.run(["pkill", "-KILL", "-s", str(p.pid)], check=False)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runwarden", default=os.environ.get("BENCH_RUNWARDEN", default_runwarden()))
    ap.add_argument("--procs", type=int, nargs="*", default=[0, 200])
    ap.add_argument("--interval", nargs="*", default=["500ms", "100ms"])
    ap.add_argument("--warmup", type=float, default=8.0)
    ap.add_argument("--window", type=float, default=30.0)
    ap.add_argument("--host", action="store_true",
                    help="run in the host's PID namespace (every pass reads every process on the machine)")
    a = ap.parse_args()
    if not os.path.exists(a.runwarden):
        sys.exit(f"scanner_cost.py: no runwarden at {a.runwarden} (build with cargo build --release)")
    where = "in the host's namespaces" if a.host else "as PID 1 of new PID and network namespaces"
    print(f"runwarden at rest, {where}: CPU over {a.window:.0f} s after {a.warmup:.0f} s warm-up, "
          f"{time.strftime('%Y-%m-%d')}")
    print()
    print("| scan interval | processes (live descendants) | runwarden CPU, % of one core |")
    print("|---|---|---|")
    for interval in a.interval:
        for n in a.procs:
            live, pct = measure(a.runwarden, n, interval, a.warmup, a.window, a.host)
            print(f"| {interval} | {n} ({live}) | {pct:.2f} % |", flush=True)


if __name__ == "__main__":
    main()
