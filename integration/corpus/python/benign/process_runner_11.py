#!/usr/bin/env python3
"""Start the programs listed in /etc/runner.conf, restart them when they exit, stop all on SIGTERM."""
import os
import shlex
import signal
import subprocess
import sys
import time

children = {}


def start(cmd):
    p = subprocess.Popen(shlex.split(cmd), start_new_session=True)
    children[p.pid] = (cmd, p)


def stop(signum, frame):
    for _, p in children.values():
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
with open("/etc/runner.conf") as f:
    for line in f:
        line = line.strip()
        if line and not line.startswith("#"):
            start(line)
while True:
    pid, status = os.wait()
    cmd, _ = children.pop(pid, (None, None))
    if cmd:
        print(f"{cmd!r} exited with {status}; restarting", file=sys.stderr)
        time.sleep(1)
        start(cmd)
