#!/usr/bin/env python3
"""Soak: a long run of mixed work under runwarden, with findings flowing to a real collector, sampling
runwarden's own RSS, open descriptors and CPU at a fixed interval (issue 14, item 4).

The workload (bash, under runwarden as its supervisor) loops until told to stop: 20 fork+execs, a burst of
50 threads, a TCP connection to a listener the harness runs on loopback, a write to a file under a watched
directory (/etc/ld.so.conf.d, on a tmpfs of a private mount namespace so the host is untouched), and a program
copied to /tmp under a new name and run (a new finding every round: "Program Run from Temporary
Directory", "Added Binary Executed"). runwarden writes findings to a file sink and to the collector
(`runwarden-collector` on loopback, SQLite). At the end the workload gets SIGTERM through runwarden, which
flushes; then every findingId of the file sink must be stored by the collector.

    integration/bench/soak.py [--minutes 30] [--sample-every 60] [--runwarden PATH] [--collector PATH]
                              [--check] [--out FILE]

Targets (PERFORMANCE.md): runwarden's RSS and descriptors flat after warm-up (growth under 1 MiB per hour),
no finding lost. `--check` (the CI form, e.g. `--minutes 3 --sample-every 15`) fails the run on a lost
finding, on descriptors that grow after warm-up, or on a workload or runwarden that did not end cleanly; it
never fails on timing or memory figures (those are for people to read; a 3-minute slope is noise). Needs
root (a private mount namespace), python3, bash, gcc not required.
"""
import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def target_bin(name):
    target = os.environ.get("CARGO_TARGET_DIR", "/work/target")
    return os.path.join(target, "x86_64-unknown-linux-gnu", "release", name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(port, deadline_s=30):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                if b"ok" in c.recv(200):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"soak: the collector did not answer on port {port}")


def accept_forever(listener):
    while True:
        try:
            c, _ = listener.accept()
        except OSError:
            return
        c.close()


def workload(listen_port, stop_file):
    """One bash script: rounds of mixed work until stop_file exists (or SIGTERM)."""
    threads = ("import threading;ts=[threading.Thread(target=lambda:None) for _ in range(50)];"
               "[t.start() for t in ts];[t.join() for t in ts]")
    connect = (f"import socket;s=socket.create_connection(('127.0.0.1',{listen_port}));s.close()")
    return f"""
trap 'exit 0' TERM
n=0
while [ ! -e {stop_file} ]; do
    n=$((n+1))
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do /bin/true; done
    python3 -c "{threads}"
    python3 -c "{connect}"
    echo "# round $n" > /etc/ld.so.conf.d/soak.conf
    cp /bin/true /tmp/soak-prog-$((n % 50)) && /tmp/soak-prog-$((n % 50)) round $n
    sleep 0.2
done
"""


def sample(pid):
    """runwarden's RSS (KiB), open descriptors and utime+stime (ticks)."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return rss, fds, int(rest[11]) + int(rest[12])


def slope_per_hour(points):
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    den = sum((p[0] - mx) ** 2 for p in points)
    return 0.0 if den == 0 else sum((p[0] - mx) * (p[1] - my) for p in points) / den * 3600


def runwarden_pid(outer_pid, binary):
    """runwarden runs under `unshare` and `sh` (which exec it, so the pid is the same); check it."""
    exe = os.path.realpath(f"/proc/{outer_pid}/exe")
    if exe == os.path.realpath(binary):
        return outer_pid
    raise SystemExit(f"soak: expected runwarden at pid {outer_pid}, found {exe!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--sample-every", type=float, default=60.0, help="seconds between samples")
    ap.add_argument("--runwarden", default=os.environ.get("BENCH_RUNWARDEN") or target_bin("runwarden"))
    ap.add_argument("--collector", default=target_bin("runwarden-collector"))
    ap.add_argument("--check", action="store_true", help="fail on a lost finding or growing descriptors")
    ap.add_argument("--out", default="", help="also write the Markdown report here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("soak: run as root (the workload runs in a private mount namespace)")
    for b in (args.runwarden, args.collector):
        if not os.access(b, os.X_OK):
            raise SystemExit(f"soak: {b} not found (cargo build --release --workspace)")

    tmp = tempfile.mkdtemp(prefix="runwarden-soak.")
    port = free_port()
    collector = subprocess.Popen(
        [args.collector],
        env=dict(os.environ, COLLECTOR_ADDR=f"127.0.0.1:{port}", DATABASE_URL=f"sqlite://{tmp}/collector.db",
                 COLLECTOR_LOG="warn"),
        stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/collector.log", "w"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    threading.Thread(target=accept_forever, args=(listener,), daemon=True).start()
    report = []
    rw = None

    def emit(line=""):
        report.append(line)
        print(line, flush=True)

    try:
        wait_http(port)
        sink = f"{tmp}/findings.jsonl"
        stop_file = f"{tmp}/stop"
        env = dict(os.environ, RUNWARDEN_SINKS=f"file:{sink},http://127.0.0.1:{port}/v1/findings",
                   RUNWARDEN_LOG="warn", RUNWARDEN_HEARTBEAT="30s")
        script = workload(listener.getsockname()[1], stop_file)
        # /etc/ld.so.conf.d on a tmpfs of a private mount namespace: watched by runwarden, invisible to the host.
        wrapper = ("mount --make-rprivate / && mount -t tmpfs soak /etc/ld.so.conf.d && "
                   f'exec "$0" -- bash -c "$1"')
        rw = subprocess.Popen(["unshare", "-m", "sh", "-c", wrapper, args.runwarden, script], env=env,
                              stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/runwarden.log", "w"))
        time.sleep(1.0)
        pid = runwarden_pid(rw.pid, args.runwarden)
        start = time.monotonic()
        end = start + args.minutes * 60
        samples = []
        prev_t, prev_cpu = start, sample(pid)[2]
        while True:
            now = time.monotonic()
            if rw.poll() is not None:
                raise SystemExit(f"soak: runwarden ended early (exit {rw.returncode}); see {tmp}/runwarden.log")
            rss, fds, cpu = sample(pid)
            cpu_pct = (cpu - prev_cpu) / TICK / max(now - prev_t, 1e-9) * 100
            prev_t, prev_cpu = now, cpu
            samples.append((now - start, rss, fds, cpu_pct))
            if now >= end:
                break
            time.sleep(min(args.sample_every, max(end - time.monotonic(), 0.1)))
        # Stop: the loop ends at its next round; then SIGTERM through runwarden for the shutdown path.
        open(stop_file, "w").close()
        time.sleep(1.0)
        rw.send_signal(signal.SIGTERM)
        try:
            code = rw.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rw.kill()
            raise SystemExit("soak: runwarden did not exit within 60 s of SIGTERM")

        sent = []
        with open(sink) as f:
            for line in f:
                if line.strip():
                    sent.append(json.loads(line)["findingId"])
        db = sqlite3.connect(f"file:{tmp}/collector.db?mode=ro", uri=True)
        stored = {r[0] for r in db.execute("SELECT finding_id FROM findings")}
        db.close()
        lost = [i for i in sent if i not in stored]

        # Warm-up: the first third of the run (at least one sample) is left out of the slopes.
        warm = [s for s in samples if s[0] >= samples[-1][0] / 3] or samples[-1:]
        rss_slope = slope_per_hour([(s[0], s[1] / 1024) for s in warm])
        fd_slope = slope_per_hour([(s[0], s[2]) for s in warm])
        fds_after = [s[2] for s in warm]
        emit(f"## soak: {args.minutes:g} min of mixed work under runwarden, findings to a collector")
        emit()
        emit(f"- date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; machine: {os.cpu_count()} CPUs, "
             f"kernel {os.uname().release}; runwarden `{args.runwarden}`")
        emit(f"- runwarden exit code after SIGTERM: {code}; findings written to the file sink: {len(sent)}, "
             f"stored by the collector: {len(stored)}, lost: {len(lost)}")
        emit(f"- after warm-up (from {warm[0][0]:.0f} s): RSS {min(s[1] for s in warm) / 1024:.1f}-"
             f"{max(s[1] for s in warm) / 1024:.1f} MiB, slope {rss_slope:+.2f} MiB/h (target < 1); "
             f"descriptors {min(fds_after)}-{max(fds_after)}, slope {fd_slope:+.1f}/h")
        emit()
        emit("| t (s) | RSS (MiB) | open fds | CPU (% of a core since the last sample) |")
        emit("|---|---|---|---|")
        for t, rss, fds, cpu_pct in samples:
            emit(f"| {t:.0f} | {rss / 1024:.1f} | {fds} | {cpu_pct:.1f} |")
        emit()
        if args.out:
            with open(args.out, "w") as f:
                f.write("\n".join(report) + "\n")
        failures = []
        if lost:
            failures.append(f"{len(lost)} findings written to the file sink never reached the collector: {lost[:5]}")
        if not sent:
            failures.append("no finding was written: the workload did not run as planned")
        if code != 0:
            failures.append(f"runwarden exited {code} after SIGTERM (the workload traps it and exits 0)")
        # Descriptors: a few come and go (sink connections, held program files); a leak grows with every round.
        if max(fds_after) - min(fds_after) > 16:
            failures.append(f"descriptors grew after warm-up: {fds_after}")
        if args.check and failures:
            for f in failures:
                print(f"soak: FAIL: {f}", file=sys.stderr)
            print(f"soak: logs in {tmp}", file=sys.stderr)
            sys.exit(1)
        print(f"soak: {'OK' if not failures else 'targets missed: ' + '; '.join(failures)} (logs in {tmp})")
    finally:
        # Never leave the workload behind (an early exit above): it loops until told to stop.
        if rw is not None and rw.poll() is None:
            open(f"{tmp}/stop", "w").close()
            rw.kill()
            rw.wait()
        collector.terminate()
        try:
            collector.wait(timeout=10)
        except subprocess.TimeoutExpired:
            collector.kill()
        listener.close()


if __name__ == "__main__":
    main()
