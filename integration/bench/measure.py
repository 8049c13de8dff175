#!/usr/bin/env python3
"""Run one command and report its wall time and the CPU and memory of its whole process tree.

    measure.py [--json] [--poll-rss] [--quiet] -- CMD ARGS...

How the numbers are taken (Linux):
  * wall: time.perf_counter() around posix_spawn() .. wait4() of the command.
  * user, sys: the rusage wait4() returns for the command.  The kernel adds to a process's rusage the
    rusage of every child it has reaped (and, recursively, theirs), so this is the CPU of the command and of
    every descendant it (or a subreaper below it) waited for: the whole tree, all threads included.
    runwarden, tini -s and strace all reap their descendants, so their rows cover the whole tree too.
  * maxrss_tree_kb: ru_maxrss from the same rusage: the LARGEST peak RSS of any single process of the tree
    (the command itself or one descendant), not a sum, and not necessarily the command's own.
  * self_hwm_kb (--poll-rss only): the command's own VmHWM (peak RSS) read from /proc/<pid>/status every
    few milliseconds while it runs; the last value read before it exits.  VmHWM never decreases, so this is
    the peak up to a few ms before exit.  Polling costs CPU, so never use it in a timed comparison.

Exit status: that of the command (128+N if it was killed by signal N).
Importable: bench.py uses run() from here.
"""
import json
import os
import sys
import time

_devnull_fd = None


def _devnull():
    global _devnull_fd
    if _devnull_fd is None:
        _devnull_fd = os.open(os.devnull, os.O_RDWR)
    return _devnull_fd


def read_vm_hwm_kb(pid, name=None):
    """VmHWM of a live process in kB, or None (gone, zombie, no permission, or its Name is not name:
    e.g. the child between posix_spawn and exec)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if name is not None and line.startswith("Name:") and line.split(None, 1)[1].strip() != name:
                    return None
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def run(argv, env=None, stdout=None, stderr=None, cwd=None, poll_rss=False, poll_interval=0.005,
        setsid=False):
    """Run argv to completion; return a dict with wall, user, sys, cpu (seconds), maxrss_tree_kb,
    self_hwm_kb (only with poll_rss), rc (exit code or 128+signal) and pid.

    stdout/stderr: None = /dev/null, "inherit" = the caller's, or an open file descriptor (int)."""
    actions = []
    for target, spec in ((1, stdout), (2, stderr)):
        if spec == "inherit":
            continue
        fd = _devnull() if spec is None else spec
        actions.append((os.POSIX_SPAWN_DUP2, fd, target))
    actions.append((os.POSIX_SPAWN_DUP2, _devnull(), 0))
    if env is None:
        env = os.environ
    old_cwd = None
    if cwd is not None:
        old_cwd = os.getcwd()
        os.chdir(cwd)
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setsid=setsid)
    finally:
        if old_cwd is not None:
            os.chdir(old_cwd)
    hwm = None
    polls = 0
    if poll_rss:
        while True:
            wpid, status, ru = os.wait4(pid, os.WNOHANG)
            if wpid == pid:
                break
            v = read_vm_hwm_kb(pid, os.path.basename(argv[0])[:15])
            if v is not None:
                hwm = v if hwm is None else max(hwm, v)
            # start fast (a short-lived command exits within a few ms), then settle at poll_interval
            time.sleep(min(poll_interval, 0.0002 * 2 ** min(polls, 10)))
            polls += 1
    else:
        _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter()
    if os.WIFSIGNALED(status):
        rc = 128 + os.WTERMSIG(status)
    else:
        rc = os.WEXITSTATUS(status)
    return {
        "wall": t1 - t0,
        "user": ru.ru_utime,
        "sys": ru.ru_stime,
        "cpu": ru.ru_utime + ru.ru_stime,
        "maxrss_tree_kb": ru.ru_maxrss,
        "self_hwm_kb": hwm,
        "rc": rc,
        "pid": pid,
        "t0": t0,
    }


def main():
    args = sys.argv[1:]
    as_json = poll = quiet = False
    while args and args[0] != "--":
        a = args.pop(0)
        if a == "--json":
            as_json = True
        elif a == "--poll-rss":
            poll = True
        elif a == "--quiet":
            quiet = True
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            print(f"measure.py: unknown option {a}", file=sys.stderr)
            return 2
    if not args or args[0] != "--" or len(args) < 2:
        print("usage: measure.py [--json] [--poll-rss] [--quiet] -- CMD ARGS...", file=sys.stderr)
        return 2
    argv = args[1:]
    out = None if quiet else "inherit"
    r = run(argv, stdout=out, stderr=out, poll_rss=poll)
    if as_json:
        print(json.dumps(r), file=sys.stderr)
    else:
        hwm = "" if r["self_hwm_kb"] is None else f" self_hwm_kb={r['self_hwm_kb']}"
        print(f"wall={r['wall']:.4f} user={r['user']:.4f} sys={r['sys']:.4f} cpu={r['cpu']:.4f} "
              f"maxrss_tree_kb={r['maxrss_tree_kb']}{hwm} rc={r['rc']}", file=sys.stderr)
    return r["rc"]


if __name__ == "__main__":
    sys.exit(main())
