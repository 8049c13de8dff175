#!/usr/bin/env python3
"""runwarden benchmarks: bare vs tini vs runwarden vs strace --seccomp-bpf, alternated in one run.

See README.md next to this file (and docs/PERFORMANCE.md) for what is measured and why.
Run through run.sh; `run.sh --help` lists the options.  Python 3 standard library only.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import measure  # noqa: E402

TARGET_TRIPLE = "x86_64-unknown-linux-gnu"
VARIANTS = ["bare", "tini", "runwarden", "rw-ptrace", "strace"]
ALL_WORKLOADS = ["exec-heavy", "syscall-heavy", "thread-heavy", "cold-start", "memory", "http"]

# Targets from PERFORMANCE.md: (wall ratio, cpu ratio) upper bounds; None = no target.
TARGETS = {
    "exec-heavy": (1.10, 1.20),
    "syscall-heavy": (1.02, None),
    "thread-heavy": (1.05, None),
}

# Servers (and anything else started in its own session) still running; killed on exit or signal.
_LIVE_SESSIONS = set()


# ----------------------------------------------------------------------------------------------------
# helpers

def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def default_runwarden():
    cands = []
    if os.environ.get("BENCH_RUNWARDEN"):
        return os.environ["BENCH_RUNWARDEN"]
    if os.environ.get("CARGO_TARGET_DIR"):
        cands.append(os.path.join(os.environ["CARGO_TARGET_DIR"], TARGET_TRIPLE, "release", "runwarden"))
    cands.append(f"/work/target/{TARGET_TRIPLE}/release/runwarden")
    cands.append(os.path.join(REPO, "target", TARGET_TRIPLE, "release", "runwarden"))
    for c in cands:
        if os.path.exists(c):
            return c
    return cands[0]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def fmt_s(x):
    return "n/a" if x != x else f"{x:.3f}"


def fmt_ratio(xs):
    if not xs:
        return "n/a"
    return f"{median(xs):.2f}x [{min(xs):.2f}-{max(xs):.2f}]"


def per_op(seconds, n):
    us = seconds / n * 1e6
    return f"{us * 1000:+.1f} ns" if abs(us) < 1 else f"{us:+.1f} us"


def mib(kb):
    return "n/a" if kb is None else f"{kb / 1024:.1f}"


def session_pids(sid):
    """Pids of every live process whose session id is sid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
            rest = st[st.rindex(")") + 2:].split()
            if int(rest[3]) == sid:
                out.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return out


def session_cpu_seconds(sid):
    """utime+stime+cutime+cstime summed over the live processes of session sid (all threads included)."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
            rest = st[st.rindex(")") + 2:].split()
            total += sum(int(x) for x in rest[11:15])
        except (OSError, ValueError, IndexError):
            pass
    return total / tck


def cpu_busy_fraction(interval=1.0):
    """Fraction of all CPUs' time spent not idle over `interval` seconds (from /proc/stat)."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + (v[4] if len(v) > 4 else 0)
    t0, i0 = snap()
    time.sleep(interval)
    t1, i1 = snap()
    return 0.0 if t1 == t0 else 1.0 - (i1 - i0) / (t1 - t0)


def kill_session(sid, sig=signal.SIGKILL):
    for pid in session_pids(sid):
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def cleanup_all(*_):
    for sid in list(_LIVE_SESSIONS):
        kill_session(sid)
        try:
            os.waitpid(sid, os.WNOHANG)
        except OSError:
            pass
        _LIVE_SESSIONS.discard(sid)


def on_signal(signum, _frame):
    cleanup_all()
    log(f"interrupted by signal {signum}; servers stopped")
    sys.exit(128 + signum)


# ----------------------------------------------------------------------------------------------------
# variants

class Bench:
    def __init__(self, args):
        self.args = args
        self.rw_orig = os.path.abspath(args.runwarden)
        self.tmp = tempfile.mkdtemp(prefix="runwarden-bench.")
        # A private copy: a concurrent cargo build must not swap the binary in the middle of a run.
        self.rw = os.path.join(self.tmp, "runwarden")
        shutil.copy2(self.rw_orig, self.rw)
        with open(self.rw, "rb") as f:
            self.rw_sha = hashlib.sha256(f.read()).hexdigest()[:12]
        self.env = dict(os.environ)
        self.env.pop("BENCH_RUNWARDEN", None)
        self.rw_env = dict(self.env)
        self.rw_env["RUNWARDEN_LOG"] = args.runwarden_log
        # The same binary with the ptrace sensor, whatever `auto` would choose here (on a host where
        # runwarden is root with CAP_SYS_ADMIN, auto is the seccomp sensor).
        self.ptrace_env = dict(self.rw_env)
        self.ptrace_env["RUNWARDEN_SENSOR"] = "ptrace"
        self.variants = []
        self.skipped = {}
        for v in VARIANTS:
            if v in args.skip_variant:
                self.skipped[v] = "--skip-variant"
            elif v == "tini" and not shutil.which("tini"):
                self.skipped[v] = "tini not found (Debian package tini)"
            elif v == "strace" and not shutil.which("strace"):
                self.skipped[v] = "strace not found (Debian package strace)"
            else:
                self.variants.append(v)
        self.failures = 0
        self.out = []  # markdown lines
        self.busy_note = ""
        self.raw = {}

    def wrap(self, variant, argv):
        if variant == "bare":
            return list(argv), self.env
        if variant == "tini":
            return ["tini", "-s", "--"] + list(argv), self.env
        if variant == "runwarden":
            return [self.rw, "--"] + list(argv), self.rw_env
        if variant == "rw-ptrace":
            return [self.rw, "--"] + list(argv), self.ptrace_env
        if variant == "strace":
            return ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=execve", "-o", "/dev/null"] \
                + list(argv), self.env
        raise ValueError(variant)

    def errlog(self, name, variant):
        path = os.path.join(self.tmp, f"{name}.{variant}.stderr")
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), path

    def run_once(self, name, variant, argv, **kw):
        cmd, env = self.wrap(variant, argv)
        fd, path = self.errlog(name, variant)
        try:
            r = measure.run(cmd, env=env, stderr=fd, **kw)
        finally:
            os.close(fd)
        if r["rc"] != 0:
            tail = ""
            try:
                with open(path, errors="replace") as f:
                    tail = f.read()[-600:]
            except OSError:
                pass
            self.failures += 1
            log(f"{name}/{variant}: exit {r['rc']} ({' '.join(cmd)[:120]}); stderr tail: {tail!r}")
        return r

    def wait_idle(self, name):
        """Before a workload: wait (at most --wait-idle seconds) until the machine is quiet, and note how busy it
        was, so a table taken next to a compiler run can be recognised as such."""
        limit = self.args.wait_idle
        deadline = time.monotonic() + limit
        busy = cpu_busy_fraction(0.5)
        n = 0
        while limit > 0 and busy > self.args.idle_threshold and time.monotonic() < deadline:
            if n % 8 == 0:
                log(f"{name}: machine {busy:.0%} busy, waiting for < {self.args.idle_threshold:.0%} "
                    f"({deadline - time.monotonic():.0f} s left)")
            n += 1
            busy = cpu_busy_fraction(2.0)
        self.busy_note = (f"Machine {busy:.0%} busy (all CPUs, /proc/stat) and load average "
                          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} just before this workload.")

    def rotated(self, i):
        k = i % len(self.variants)
        return self.variants[k:] + self.variants[:k]

    def emit(self, line=""):
        self.out.append(line)
        print(line, flush=True)

    # ------------------------------------------------------------------------------------------------
    # header

    def header(self):
        cpu_model = "unknown"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu_model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        try:
            rw_version = subprocess.run([self.rw, "--version"], capture_output=True, text=True,
                                        env=self.rw_env, timeout=10).stdout.strip()
        except Exception as e:  # noqa: BLE001
            rw_version = f"unavailable ({e})"
        try:
            st = os.stat(self.rw_orig)
            rw_mtime = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc).strftime(
                "%Y-%m-%d %H:%M:%S UTC")
        except OSError:
            rw_mtime = "?"

        def git(*a):
            try:
                return subprocess.run(["git", "-C", REPO] + list(a), capture_output=True, text=True,
                                      timeout=10).stdout.strip()
            except Exception:  # noqa: BLE001
                return ""
        commit = git("rev-parse", "--short", "HEAD")
        dirty = " (uncommitted changes under shim/)" if git("status", "--porcelain", "--", "shim") else ""

        def ver(cmd):
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
                return (p.stdout or p.stderr).strip().splitlines()[0]
            except Exception:  # noqa: BLE001
                return "not found"
        mem_total = "?"
        try:
            with open("/proc/meminfo") as f:
                mem_total = f"{int(f.readline().split()[1]) // 1024} MiB"
        except (OSError, ValueError, IndexError):
            pass
        aff = sorted(os.sched_getaffinity(0))
        self.emit("# runwarden benchmark results")
        self.emit()
        self.emit(f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')}")
        self.emit(f"- machine: {os.cpu_count()} CPUs (nproc {len(aff)}; harness affinity {aff}), "
                  f"{cpu_model}, {mem_total} RAM")
        self.emit(f"- kernel: {platform.release()} ({platform.machine()}); load average at start: "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        self.emit(f"- runwarden: `{self.rw_orig}` ({rw_version}, built {rw_mtime}, sha256 {self.rw_sha}...); repo HEAD {commit}{dirty}; "
                  f"RUNWARDEN_LOG={self.args.runwarden_log}")
        self.emit(f"- references: {ver(['tini', '--version'])}; {ver(['strace', '-V'])}; "
                  f"{ver(['wrk', '-v'])}; python {platform.python_version()}")
        skipped = "; ".join(f"{k}: {v}" for k, v in self.skipped.items()) or "none"
        self.emit(f"- variants: {', '.join(self.variants)} (skipped: {skipped}); "
                  "strace = `strace -f -qq --seccomp-bpf -e trace=execve -o /dev/null`; tini = `tini -s --`")
        self.emit(f"- mode: {'quick' if self.args.quick else 'full'}, {self.args.runs} alternated rounds per "
                  "timed workload (variant order rotated every round, one discarded warm-up round first)")
        self.emit()
        self.emit("Ratios are per-round ratios (variant / bare of the same round): median [min-max]. "
                  "CPU = user+sys of the whole process tree (wait4 rusage). Times in seconds unless marked.")
        self.emit()

    # ------------------------------------------------------------------------------------------------
    # timed workloads (wall + CPU)

    def timed(self, name, title, argv, runs, note="", ops=None):
        log(f"{name}: {runs} rounds x {len(self.variants)} variants: {' '.join(argv)[:100]}")
        res = {v: [] for v in self.variants}
        for v in self.variants:  # warm-up round (page cache, lazy binding), discarded
            self.run_once(name, v, argv)
        for i in range(runs):
            for v in self.rotated(i):
                res[v].append(self.run_once(name, v, argv))
            log(f"{name}: round {i + 1}/{runs}: " + ", ".join(
                f"{v} {res[v][-1]['wall']:.3f}s/{res[v][-1]['cpu']:.3f}cpu" for v in self.variants))
        # runwarden's own peak RSS: one extra, untimed run in which the workload itself reads runwarden's
        # VmHWM (/proc/$PPID/status: runwarden is the parent of the workload's first process) at its end.
        hwm = self.runwarden_hwm(name, argv)
        self.raw[name] = {v: [{k: r[k] for k in ("wall", "user", "sys", "maxrss_tree_kb", "rc")}
                              for r in rs] for v, rs in res.items()}
        self.raw[name]["runwarden_self_hwm_kb"] = hwm

        self.emit(f"## {name}: {title}")
        self.emit()
        self.emit(f"`{shlex.join(argv)}`{note}; {runs} alternated rounds. {self.busy_note}")
        self.emit()
        self.emit("| variant | wall median | wall min-max | CPU median | CPU min-max | wall / bare | "
                  "CPU / bare | failed runs |")
        self.emit("|---|---|---|---|---|---|---|---|")
        ratios = {}
        for v in self.variants:
            ok = [(i, r) for i, r in enumerate(res[v]) if r["rc"] == 0]
            walls = [r["wall"] for _, r in ok]
            cpus = [r["cpu"] for _, r in ok]
            wr, cr = [], []
            if "bare" in res:
                for i, r in ok:
                    b = res["bare"][i]
                    if b["rc"] == 0 and b["wall"] > 0:
                        wr.append(r["wall"] / b["wall"])
                        if b["cpu"] > 0:
                            cr.append(r["cpu"] / b["cpu"])
            ratios[v] = (wr, cr)
            self.emit(f"| {v} | {fmt_s(median(walls))} | {fmt_s(min(walls) if walls else float('nan'))}-"
                      f"{fmt_s(max(walls) if walls else float('nan'))} | {fmt_s(median(cpus))} | "
                      f"{fmt_s(min(cpus) if cpus else float('nan'))}-{fmt_s(max(cpus) if cpus else float('nan'))}"
                      f" | {fmt_ratio(wr)} | {fmt_ratio(cr)} | {len(res[v]) - len(ok)} |")
        self.emit()
        if ops and "bare" in res:
            bw = median([r["wall"] for r in res["bare"] if r["rc"] == 0])
            bc = median([r["cpu"] for r in res["bare"] if r["rc"] == 0])
            parts = []
            for v in self.variants:
                if v == "bare":
                    continue
                w = median([r["wall"] for r in res[v] if r["rc"] == 0])
                c = median([r["cpu"] for r in res[v] if r["rc"] == 0])
                parts.append(f"{v} {per_op(w - bw, ops[0])} wall, {per_op(c - bc, ops[0])} CPU")
            self.emit(f"Added per {ops[1]} (median - bare median, / {ops[0]}; includes the fixed start-up cost, "
                      f"see cold-start): {'; '.join(parts)}.")
            self.emit()
        if "runwarden" in self.variants:
            self.emit(f"runwarden's own peak RSS (VmHWM at the end of an extra untimed run): {mib(hwm)} MiB.")
            tgt = TARGETS.get(name)
            if tgt:
                wr, cr = ratios["runwarden"]
                parts = []
                for label, lim, xs in (("wall", tgt[0], wr), ("CPU", tgt[1], cr)):
                    if lim is None or not xs:
                        continue
                    m = median(xs)
                    parts.append(f"{label} {m:.2f}x vs target <= {lim:.2f}x: "
                                 f"{'met' if m <= lim else 'NOT met'}")
                self.emit(f"Target (PERFORMANCE.md), runwarden median: {'; '.join(parts)}.")
            self.emit()
        self.emit("<details><summary>raw runs (wall s / CPU s, in round order)</summary>")
        self.emit()
        self.emit("```")
        for v in self.variants:
            self.emit(f"{v:10} " + "  ".join(f"{r['wall']:.3f}/{r['cpu']:.3f}"
                                              + ("" if r["rc"] == 0 else f"(rc {r['rc']})") for r in res[v]))
        self.emit("```")
        self.emit()
        self.emit("</details>")
        self.emit()
        return hwm

    def runwarden_hwm(self, name, argv):
        if "runwarden" not in self.variants:
            return None
        outf = os.path.join(self.tmp, f"{name}.hwm")
        script = 'f=$1; shift; "$@"; s=$?; grep VmHWM /proc/$PPID/status > "$f"; exit $s'
        r = self.run_once(name + "-rss", "runwarden", ["sh", "-c", script, "sh", outf] + list(argv))
        try:
            with open(outf) as f:
                return int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            log(f"{name}: could not read runwarden's VmHWM (rc {r['rc']})")
            return None

    # ------------------------------------------------------------------------------------------------

    def exec_heavy(self):
        n = self.args.exec_loops
        argv = ["sh", "-c", f"i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done"]
        return self.timed("exec-heavy", f"{n} fork+exec of /bin/true from a shell loop", argv, self.args.runs,
                          ops=(n, "exec"))

    def syscall_heavy(self):
        n = self.args.dd_count
        argv = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={n}"]
        return self.timed("syscall-heavy", f"{2 * n} read/write syscalls (dd bs=1)", argv, self.args.runs,
                          ops=(2 * n, "syscall"))

    def threads_bin(self):
        if self.args.threads_bin:
            return self.args.threads_bin
        gcc = shutil.which("gcc") or shutil.which("cc")
        if not gcc:
            return None
        out = os.path.join(self.tmp, "threads")
        p = subprocess.run([gcc, "-O2", "-pthread", "-o", out, os.path.join(HERE, "threads.c")],
                           capture_output=True, text=True)
        if p.returncode != 0:
            log(f"threads.c did not compile: {p.stderr[-400:]}")
            return None
        return out

    def first_bin(self):
        """The cold-start workload (first.c, static), or None without a C compiler and static libc."""
        gcc = shutil.which("gcc") or shutil.which("cc")
        if not gcc:
            return None
        out = os.path.join(self.tmp, "first")
        p = subprocess.run([gcc, "-O2", "-static", "-o", out, os.path.join(HERE, "first.c")],
                           capture_output=True, text=True)
        if p.returncode != 0:
            log(f"first.c did not compile: {p.stderr[-400:]}")
            return None
        return out

    def thread_heavy(self):
        tb = self.threads_bin()
        if not tb:
            self.emit("## thread-heavy: SKIPPED (no gcc/cc to compile threads.c and no --threads-bin)")
            self.emit()
            return None
        n = self.args.threads
        runs = self.args.runs * 3
        return self.timed("thread-heavy", f"{n} threads created and joined, 50 at a time",
                          [tb, str(n), "50"], runs,
                          note=" (threads.c; 3x the rounds of the other rows because one run is short)",
                          ops=(n, "thread"))

    # ------------------------------------------------------------------------------------------------

    def cold_start(self):
        iters = self.args.cold_iters
        block = 10
        first = self.first_bin()
        argv = [first] if first else ["/bin/true"]
        log(f"cold-start: {iters} runs per variant in alternated blocks of {block}")
        res = {v: [] for v in self.variants}
        stamp_path = os.path.join(self.tmp, "first.out")

        def once(v):
            fd = os.open(stamp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                r = self.run_once("cold-start", v, argv, stdout=fd)
            finally:
                os.close(fd)
            r["first"] = None
            if first:
                try:
                    with open(stamp_path) as f:
                        r["first"] = int(f.read().split()[0]) / 1e9 - r["t0"]
                except (OSError, ValueError, IndexError):
                    pass
            return r
        for v in self.variants:
            for _ in range(5):
                once(v)
        nblocks = (iters + block - 1) // block
        for b in range(nblocks):
            for v in self.rotated(b):
                for _ in range(min(block, iters - b * block)):
                    res[v].append(once(v))
        self.raw["cold-start"] = {v: [(r["wall"], r["cpu"], r["rc"], r["first"]) for r in rs]
                                  for v, rs in res.items()}
        self.emit(f"## cold-start: `VARIANT {'first' if first else '/bin/true'}`")
        self.emit()
        self.emit(f"{iters} runs per variant, alternated in blocks of {block} (rotated order). First instruction = "
                  "when the workload's main() read CLOCK_MONOTONIC (first.c, static) minus when the harness "
                  "called posix_spawn; lifetime = spawn to wait4 (runwarden's start, the workload, and runwarden's "
                  "drain and exit). Added = variant median - bare median. " + self.busy_note)
        self.emit()
        self.emit("| variant | first instruction, median (ms) | p10-p90 (ms) | added (ms) | lifetime median (ms) | "
                  "p10-p90 (ms) | added (ms) | CPU median (ms) | failed runs |")
        self.emit("|---|---|---|---|---|---|---|---|---|")
        ok = lambda v: [r for r in res.get(v, []) if r["rc"] == 0]  # noqa: E731
        bare_wall = median([r["wall"] for r in ok("bare")]) * 1000 if ok("bare") else 0.0
        bare_first = [r["first"] * 1000 for r in ok("bare") if r["first"] is not None]
        bare_first = median(bare_first) if bare_first else None
        added_rw = None
        for v in self.variants:
            walls = [r["wall"] * 1000 for r in ok(v)]
            cpus = [r["cpu"] * 1000 for r in ok(v)]
            firsts = [r["first"] * 1000 for r in ok(v) if r["first"] is not None]
            if not walls:
                self.emit(f"| {v} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | {len(res[v])} |")
                continue
            if firsts and bare_first is not None:
                added_first = median(firsts) - bare_first
                fcols = f"{median(firsts):.2f} | {pct(firsts, 10):.2f}-{pct(firsts, 90):.2f} | {added_first:+.2f}"
                if v == "runwarden":
                    added_rw = added_first
            else:
                fcols = "n/a | n/a | n/a"
            self.emit(f"| {v} | {fcols} | {median(walls):.2f} | {pct(walls, 10):.2f}-{pct(walls, 90):.2f} | "
                      f"{median(walls) - bare_wall:+.2f} | {median(cpus):.2f} | {len(res[v]) - len(walls)} |")
        self.emit()
        if added_rw is not None:
            self.emit(f"Target (PERFORMANCE.md): runwarden adds <= 10 ms before the workload's first instruction: "
                      f"{added_rw:+.2f} ms, {'met' if added_rw <= 10 else 'NOT met'}.")
            self.emit()

    # ------------------------------------------------------------------------------------------------

    def memory(self):
        if "runwarden" not in self.variants:
            return
        log("memory: runwarden's own VmHWM under several workloads")
        rows = [("`/bin/true`", ["/bin/true"]),
                (f"exec-heavy ({self.args.exec_loops} execs)",
                 ["sh", "-c", f"i=0; while [ $i -lt {self.args.exec_loops} ]; do /bin/true; i=$((i+1)); done"]),
                (f"exec storm ({self.args.storm} execs)",
                 ["sh", "-c", f"i=0; while [ $i -lt {self.args.storm} ]; do /bin/true; i=$((i+1)); done"])]
        tb = self.threads_bin()
        if tb:
            rows.append((f"thread-heavy ({self.args.threads} threads)", [tb, str(self.args.threads), "50"]))
        self.emit("## memory: runwarden's own peak RSS")
        self.emit()
        self.emit(self.busy_note)
        self.emit()
        self.emit("Method: the workload is wrapped in `sh -c '\"$@\"; grep VmHWM /proc/$PPID/status'`; runwarden is "
                  "the parent of that shell, so this is runwarden's own high-water mark (all its threads, not its "
                  "children's) at the end of the workload. A second figure polls /proc/<runwarden>/status every 5 ms "
                  "from the harness (last value before exit, includes teardown).")
        self.emit()
        self.emit("| workload | VmHWM at workload end (MiB) | VmHWM polled to exit (MiB) |")
        self.emit("|---|---|---|")
        worst = None
        mem = {}
        for label, argv in rows:
            hwm = self.runwarden_hwm("memory", argv)
            cmd, env = self.wrap("runwarden", argv)
            polled = measure.run(cmd, env=env, poll_rss=True)["self_hwm_kb"]
            mem[label] = (hwm, polled)
            for x in (hwm, polled):
                if x is not None:
                    worst = x if worst is None else max(worst, x)
            self.emit(f"| {label} | {mib(hwm)} | {mib(polled)} |")
        self.raw["memory"] = mem
        self.emit()
        if worst is not None:
            self.emit(f"Target (PERFORMANCE.md): <= 24 MiB: worst {worst / 1024:.1f} MiB, "
                      f"{'met' if worst <= 24 * 1024 else 'NOT met'}.")
            self.emit()

    # ------------------------------------------------------------------------------------------------

    def http(self):
        wrk = shutil.which("wrk")
        if not wrk:
            self.emit("## http: SKIPPED: `wrk` not found (Debian package wrk); no load generator, no row.")
            self.emit()
            log("http: skipped, wrk not found")
            return
        dur = self.args.http_duration
        runs = self.args.runs
        www = os.path.join(self.tmp, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<html><body>" + "runwarden benchmark " * 50 + "</body></html>\n")
        log(f"http: {runs} rounds x {len(self.variants)} variants, wrk -t2 -c20 -d{dur}s")
        res = {v: [] for v in self.variants}
        for i in range(runs):
            for v in self.rotated(i):
                r = self.http_once(v, www, wrk, dur)
                res[v].append(r)
                log(f"http: round {i + 1}/{runs} {v}: " + (
                    f"{r['rps']:.0f} req/s p99 {r['p99_ms']:.2f} ms cpu {r['cpu']:.2f}s" if r.get("ok")
                    else f"failed: {r.get('error')}"))
        self.raw["http"] = res
        self.emit(f"## http: python http.server (ThreadingHTTPServer, {self.args.http_proto}) on 127.0.0.1, "
                  f"`wrk -t2 -c20 -d{dur}s --latency`")
        self.emit()
        keep = ("HTTP/1.0: the server closes every connection, so every request is a new connection and a new "
                "thread (a clone event)" if self.args.http_proto == "HTTP/1.0" else
                "HTTP/1.1 keep-alive: one thread per wrk connection")
        self.emit(f"Server: `{os.path.basename(sys.executable)} -m http.server`'s classes with listen backlog 128 and "
                  f"no access log; {keep}. "
                  f"{runs} alternated rounds; a new server (random free port) per run. Server CPU = "
                  "utime+stime (+ reaped children) of every process in the server's session during the wrk "
                  "window, from /proc/<pid>/stat; the server is CPU-bound (one Python process, GIL), so compare the CPU per request. wrk runs on the same CPUs as the server. " + self.busy_note)
        self.emit()
        self.emit("| variant | req/s median | req/s min-max | p99 median (ms) | p99 min-max (ms) | req/s / bare | "
                  "p99 / bare | server CPU median (s) | server CPU per request median (us) | CPU per request / bare | "
                  "socket errors (sum) | failed runs |")
        self.emit("|---|---|---|---|---|---|---|---|---|---|---|---|")
        rw_rt = None
        for v in self.variants:
            ok = [(i, r) for i, r in enumerate(res[v]) if r.get("ok")]
            rps = [r["rps"] for _, r in ok]
            p99 = [r["p99_ms"] for _, r in ok]
            cpu = [r["cpu"] for _, r in ok]
            cpq = [r["cpu_per_req_us"] for _, r in ok]
            rr, lr, cr = [], [], []
            for i, r in ok:
                b = res["bare"][i] if "bare" in res else None
                if b and b.get("ok"):
                    rr.append(r["rps"] / b["rps"])
                    lr.append(r["p99_ms"] / b["p99_ms"] if b["p99_ms"] > 0 else float("nan"))
                    if b["cpu_per_req_us"] > 0:
                        cr.append(r["cpu_per_req_us"] / b["cpu_per_req_us"])
            if v == "runwarden":
                rw_rt = (rr, lr)
            errs = sum(r["errors"] for _, r in ok)
            if not ok:
                self.emit(f"| {v} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | {len(res[v])} |")
                continue
            self.emit(f"| {v} | {median(rps):.0f} | {min(rps):.0f}-{max(rps):.0f} | {median(p99):.2f} | "
                      f"{min(p99):.2f}-{max(p99):.2f} | {fmt_ratio(rr)} | {fmt_ratio(lr)} | {median(cpu):.2f} | "
                      f"{median(cpq):.0f} | {fmt_ratio(cr)} | {errs} | {len(res[v]) - len(ok)} |")
        self.emit()
        hw = [r["runwarden_hwm_kb"] for r in res.get("runwarden", []) if r.get("runwarden_hwm_kb")]
        if hw:
            self.emit(f"runwarden's own peak RSS (VmHWM read right after wrk, max over runs): {mib(max(hw))} MiB.")
        if rw_rt and rw_rt[0]:
            m1, m2 = median(rw_rt[0]), median(rw_rt[1])
            self.emit(f"Target (PERFORMANCE.md), runwarden median: throughput {m1:.2f}x vs >= 0.98x: "
                      f"{'met' if m1 >= 0.98 else 'NOT met'}; p99 {m2:.2f}x vs <= 1.05x: "
                      f"{'met' if m2 <= 1.05 else 'NOT met'}.")
        self.emit()

    def http_once(self, variant, www, wrk, dur):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        argv = [sys.executable, "-c", HTTP_SERVER.format(port=port, proto=self.args.http_proto)]
        cmd, env = self.wrap(variant, argv)
        fd, errpath = self.errlog("http", variant)
        old = os.getcwd()
        os.chdir(www)
        try:
            pid = os.posix_spawnp(cmd[0], cmd, env, setsid=True, file_actions=[
                (os.POSIX_SPAWN_DUP2, measure._devnull(), 0), (os.POSIX_SPAWN_DUP2, measure._devnull(), 1),
                (os.POSIX_SPAWN_DUP2, fd, 2)])
        finally:
            os.chdir(old)
            os.close(fd)
        _LIVE_SESSIONS.add(pid)
        url = f"http://127.0.0.1:{port}/index.html"
        out = {"ok": False, "variant": variant}
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=2) as resp:
                        resp.read()
                    break
                except Exception:  # noqa: BLE001
                    if time.monotonic() > deadline or os.waitpid(pid, os.WNOHANG)[0] == pid:
                        out["error"] = f"server did not come up (stderr in {errpath})"
                        return out
                    time.sleep(0.05)
            cpu0 = session_cpu_seconds(pid)
            p = subprocess.run([wrk, "-t2", "-c20", f"-d{dur}s", "--latency", url], capture_output=True,
                               text=True, timeout=dur + 60)
            cpu1 = session_cpu_seconds(pid)
            if variant == "runwarden":
                out["runwarden_hwm_kb"] = measure.read_vm_hwm_kb(pid)
            parsed = parse_wrk(p.stdout)
            if parsed is None:
                out["error"] = f"could not parse wrk output: {p.stdout[-300:]!r} {p.stderr[-300:]!r}"
                return out
            out.update(parsed)
            out["cpu"] = cpu1 - cpu0
            n = out.get("requests") or out["rps"] * dur
            out["cpu_per_req_us"] = out["cpu"] / n * 1e6 if n else float("nan")
            out["ok"] = True
            return out
        finally:
            self.stop_server(pid)

    def stop_server(self, pid):
        # SIGTERM to every process of the server's session (strace -o FILE ignores SIGTERM and would not pass it
        # on), then SIGKILL to whatever is left.  CPU was read before, so how it stops does not matter.
        kill_session(pid, signal.SIGTERM)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
            time.sleep(0.02)
        else:
            kill_session(pid)
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        kill_session(pid)
        _LIVE_SESSIONS.discard(pid)


# `python3 -m http.server --bind 127.0.0.1 PORT` (ThreadingHTTPServer: one thread per connection), with two
# changes: a listen backlog of 128 instead of socketserver's 5 (with 5, 20 wrk connections overflow the accept
# queue and p99 becomes the 1 s SYN retransmission timer, whatever the variant), and the access log off.
HTTP_SERVER = """
import http.server as h
class Q(h.SimpleHTTPRequestHandler):
    protocol_version = {proto!r}
    def log_message(self, *a): pass
class S(h.ThreadingHTTPServer):
    request_queue_size = 128
S(("127.0.0.1", {port}), Q).serve_forever()
"""

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def parse_wrk(text):
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    l99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    if not m or not l99:
        return None
    errors = 0
    total = re.search(r"(\d+) requests in", text)
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if se:
        errors += sum(int(x) for x in se.groups())
    nx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if nx:
        errors += int(nx.group(1))
    return {"rps": float(m.group(1)), "p99_ms": float(l99.group(1)) * _UNIT_MS[l99.group(2)], "errors": errors,
            "requests": int(total.group(1)) if total else None}


# ----------------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="run.sh",
        description="runwarden benchmarks: bare vs tini vs runwarden vs strace --seccomp-bpf, alternated "
                    "(A B A B) in one run; markdown on stdout, progress on stderr.")
    p.add_argument("--runs", type=int, default=None, help="alternated rounds per timed workload (default 5, "
                   "--quick 2); thread-heavy does 3x this many; http does this many")
    p.add_argument("--quick", action="store_true", help="smoke check: 2 rounds, shorter loops, 3 s wrk")
    p.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(ALL_WORKLOADS))
    p.add_argument("--runwarden", default=default_runwarden(),
                   help="runwarden binary (default: $BENCH_RUNWARDEN, else "
                        f"$CARGO_TARGET_DIR/{TARGET_TRIPLE}/release/runwarden, else /work/target/...)")
    p.add_argument("--build", action="store_true", help="cargo build --release -p runwarden first")
    p.add_argument("--threads-bin", default="", help="prebuilt threads.c binary (default: compile with gcc)")
    p.add_argument("--out", default="", help="also write the markdown to this file")
    p.add_argument("--json", default="", help="also write every raw measurement as JSON to this file")
    p.add_argument("--cpus", default="", help="pin the harness and everything it starts to these CPUs, "
                   "e.g. 0 or 0,1 (default: no pinning)")
    p.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                   help="before each workload wait up to SECONDS for the machine to be less busy than "
                        "--idle-threshold (default 0: do not wait; busy-ness is reported either way)")
    p.add_argument("--idle-threshold", type=float, default=0.25, help="busy fraction of all CPUs (default 0.25)")
    p.add_argument("--skip-variant", action="append", default=[], choices=VARIANTS, help="leave a variant out")
    p.add_argument("--runwarden-log", default="error", help="RUNWARDEN_LOG for the runwarden rows (default error)")
    p.add_argument("--exec-loops", type=int, default=None, help="exec-heavy iterations (default 1500)")
    p.add_argument("--dd-count", type=int, default=None, help="syscall-heavy dd count (default 1048576)")
    p.add_argument("--threads", type=int, default=None, help="thread-heavy thread count (default 2000)")
    p.add_argument("--cold-iters", type=int, default=None, help="cold-start runs per variant (default 200)")
    p.add_argument("--storm", type=int, default=None, help="exec storm size for the memory row (default 20000)")
    p.add_argument("--http-proto", default="HTTP/1.0", choices=["HTTP/1.0", "HTTP/1.1"],
                   help="server protocol: HTTP/1.0 (default, stock http.server: a connection and a thread per "
                        "request) or HTTP/1.1 (keep-alive)")
    p.add_argument("--http-duration", type=int, default=None, help="wrk -d seconds (default 10)")
    a = p.parse_args(argv)
    q = a.quick
    for name, full, quick in (("runs", 5, 2), ("exec_loops", 1500, 300), ("dd_count", 1048576, 131072),
                              ("threads", 2000, 500), ("cold_iters", 200, 30), ("storm", 20000, 2000),
                              ("http_duration", 10, 3)):
        if getattr(a, name) is None:
            setattr(a, name, quick if q else full)
    a.only = [w.strip() for w in a.only.split(",") if w.strip()] or list(ALL_WORKLOADS)
    bad = [w for w in a.only if w not in ALL_WORKLOADS]
    if bad:
        p.error(f"unknown workload(s) {bad}; choose from {ALL_WORKLOADS}")
    if a.runs < 1:
        p.error("--runs must be >= 1")
    return a


def main(argv):
    args = parse_args(argv)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    if args.cpus:
        cpus = {int(x) for x in args.cpus.split(",") if x.strip()}
        os.sched_setaffinity(0, cpus)
    if args.build:
        env = dict(os.environ)
        env.setdefault("CARGO_TARGET_DIR", "/work/target")
        log(f"building runwarden (CARGO_TARGET_DIR={env['CARGO_TARGET_DIR']})")
        subprocess.run(["cargo", "build", "--release", "-p", "runwarden"], cwd=REPO, env=env, check=True)
        if not os.environ.get("BENCH_RUNWARDEN") and args.runwarden == default_runwarden():
            args.runwarden = os.path.join(env["CARGO_TARGET_DIR"], TARGET_TRIPLE, "release", "runwarden")
    if not os.access(args.runwarden, os.X_OK):
        print(f"run.sh: runwarden binary not found or not executable: {args.runwarden}\n"
              "  build it (export CARGO_TARGET_DIR=/work/target; cargo build --release -p runwarden), or pass "
              "--runwarden PATH / BENCH_RUNWARDEN=PATH, or --build", file=sys.stderr)
        return 2
    b = Bench(args)
    try:
        b.header()
        steps = {"exec-heavy": b.exec_heavy, "syscall-heavy": b.syscall_heavy, "thread-heavy": b.thread_heavy,
                 "cold-start": b.cold_start, "memory": b.memory, "http": b.http}
        for w in ALL_WORKLOADS:
            if w in args.only:
                b.wait_idle(w)
                steps[w]()
        b.emit(f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    finally:
        cleanup_all()
        if args.out:
            with open(args.out, "w") as f:
                f.write("\n".join(b.out) + "\n")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(b.raw, f, indent=1, default=str)
        if b.failures:
            log(f"{b.failures} run(s) failed; their stderr is kept in {b.tmp}")
        else:
            shutil.rmtree(b.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
