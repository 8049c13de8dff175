#!/usr/bin/env python3
"""Latency from an attack to its finding (issue 13, item 6): exec-to-finding and file-to-finding, timed where
a user sees the finding, at the file sink.

A workload under runwarden runs N rounds, each with
  * a new program copied to /dev/shm and run at once (first sight of a binary: hashed, judged, signed):
    "Privilege Escalation: Fileless Execution in /dev/shm";
  * the same already-seen program run again with other arguments (a repeat: the hash cache answers);
  * a write of a cron job under a watched directory (a fake root, `RUNWARDEN_WATCH_ROOT`, so the machine's
    /etc is never touched): "Execution: Suspicious Cron Modification";
with a pause between rounds (default 200 ms) so that latency, not a queue behind a storm, is what is measured
(and the findings of a round, five or so with the drift and LOW rules, stay under runwarden's storm control, 20 a second after a burst of 200).

A thread tails the file sink and stamps each line as it appears (polling every 0.5 ms: the resolution).
For each finding: sink latency = time the line appeared - eventTime (the sensor's time of the exec or of the
file event), and build latency = createTime - eventTime. Reported per kind: p50, p99, worst, count.

    integration/bench/latency.py [--rounds 100] [--pause-ms 200] [--sensor auto|seccomp|ptrace]
                                 [--runwarden PATH] [--json]

Needs nothing but runwarden (a release build). Compare runs on the same machine; the figures depend on load.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime


def target_bin(name):
    target = os.environ.get("CARGO_TARGET_DIR", "/work/target")
    for p in (f"{target}/x86_64-unknown-linux-gnu/release/{name}", f"{target}/release/{name}"):
        if os.path.exists(p):
            return p
    sys.exit(f"{name} not found under {target}: build with cargo build --release first")


def parse_time(s):
    # RFC 3339 with microseconds and Z.
    return datetime.strptime(s.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


class Tail(threading.Thread):
    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.lines = []  # (arrival time, finding)
        self.stop = threading.Event()

    def run(self):
        while not os.path.exists(self.path) and not self.stop.is_set():
            time.sleep(0.0005)
        buf = b""
        with open(self.path, "rb") as f:
            while True:
                chunk = f.read()
                now = time.time()
                if chunk:
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        if line.strip():
                            self.lines.append((now, json.loads(line)))
                elif self.stop.is_set():
                    return
                else:
                    time.sleep(0.0005)


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--pause-ms", type=int, default=200)
    ap.add_argument("--sensor", default="auto")
    ap.add_argument("--runwarden", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rw = a.runwarden or target_bin("runwarden")

    with tempfile.TemporaryDirectory() as d:
        root = os.path.join(d, "root")
        os.makedirs(os.path.join(root, "etc/cron.d"))
        sink = os.path.join(d, "findings.jsonl")
        tag = f"lat{os.getpid()}"
        pause = a.pause_ms / 1000
        script = f"""
cp /bin/true /dev/shm/{tag}-rep
for i in $(seq {a.rounds}); do
  cp /bin/true /dev/shm/{tag}-$i && /dev/shm/{tag}-$i first; rm -f /dev/shm/{tag}-$i
  /dev/shm/{tag}-rep repeat-$i
  echo "* * * * * root /tmp/x$i" > {root}/etc/cron.d/job-$i
  sleep {pause}
done
rm -f /dev/shm/{tag}-rep
sleep 0.5
"""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWARDEN_")}
        env.update({
            "RUNWARDEN_SINKS": f"file:{sink}",
            "RUNWARDEN_SENSOR": a.sensor,
            "RUNWARDEN_WATCH_ROOT": root,
            "RUNWARDEN_LOG": "info",
        })
        tail = Tail(sink)
        tail.start()
        started = time.time()
        p = subprocess.run([rw, "--", "sh", "-c", script], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        elapsed = time.time() - started
        time.sleep(0.05)
        tail.stop.set()
        tail.join()
        if p.returncode != 0:
            sys.exit(f"the workload failed ({p.returncode}): {p.stderr.decode()[-2000:]}")
        sensor = ""
        for line in p.stderr.decode().splitlines():
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if v.get("message") == "workload started":
                sensor = v.get("sensor", "")

    kinds = {"exec, first sight": [], "exec, repeat": [], "file": []}
    build = {k: [] for k in kinds}
    for arrived, f in tail.lines:
        if "rateLimited" in (f.get("sourceProperties") or {}):
            continue
        cat = f.get("category", "")
        args = (f.get("processes") or [{}])[0].get("args") or []
        if cat == "Privilege Escalation: Fileless Execution in /dev/shm":
            kind = "exec, first sight" if "first" in args else "exec, repeat"
        elif cat == "Execution: Suspicious Cron Modification":
            kind = "file"
        else:
            continue
        ev = parse_time(f["eventTime"])
        kinds[kind].append((arrived - ev) * 1000)
        build[kind].append((parse_time(f["createTime"]) - ev) * 1000)

    out = {
        "rounds": a.rounds,
        "pause_ms": a.pause_ms,
        "sensor": sensor or a.sensor,
        "wall_s": round(elapsed, 2),
        "kinds": {
            k: {
                "count": len(v),
                "sink_p50_ms": round(pct(v, 50), 2),
                "sink_p99_ms": round(pct(v, 99), 2),
                "sink_max_ms": round(max(v), 2) if v else None,
                "build_p50_ms": round(pct(build[k], 50), 2),
                "build_p99_ms": round(pct(build[k], 99), 2),
            }
            for k, v in kinds.items()
        },
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }
    if a.json:
        print(json.dumps(out))
        return
    print(f"{a.rounds} rounds, {a.pause_ms} ms apart, sensor {out['sensor']}, {out['wall_s']} s, load {' '.join(out['loadavg'])}")
    print(f"{'kind':<20} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'worst ms':>9}   (createTime-eventTime p50/p99)")
    for k, s in out["kinds"].items():
        print(f"{k:<20} {s['count']:>5} {s['sink_p50_ms']:>8} {s['sink_p99_ms']:>8} {str(s['sink_max_ms']):>9}"
              f"   ({s['build_p50_ms']}/{s['build_p99_ms']})")
    missing = [k for k, s in out["kinds"].items() if s["count"] < a.rounds]
    if missing:
        print(f"fewer findings than rounds for: {', '.join(missing)} (de-duplication or a miss)")


if __name__ == "__main__":
    main()
