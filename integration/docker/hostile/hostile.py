#!/usr/bin/env python3
"""Hostile input for runwarden, from inside the workload. Each part checks that the workload sees exactly what it
would see without runwarden (argv bytes, exit codes, fds), and the run ends with HOSTILE-OK and exit 0; any
difference prints HOSTILE-FAIL and exits 1. runwarden's side (no panic, no stall, what it could not read said in
the log) is checked by the test from the container's logs."""
import os
import resource
import shutil
import socket
import subprocess
import sys
import time

done = []


def check(name, cond, detail=""):
    if not cond:
        print(f"HOSTILE-FAIL {name} {detail}", flush=True)
        sys.exit(1)
    done.append(name)


# 1. A program whose path and arguments hold newlines, parentheses, blanks and invalid UTF-8, run from /tmp (a
# finding's subject): argv must arrive byte for byte (printf prints each argument NUL-terminated).
odd_dir = b"/tmp/odd dir (x)\n"
os.makedirs(odd_dir, exist_ok=True)
odd = odd_dir + b"/pr)og( \n\xff\xfe"
shutil.copy("/usr/bin/printf", odd)
os.chmod(odd, 0o755)
args = [b"new\nline", b"(paren) ) (", b"\xff\xfe\xfd invalid", b"tab\there", b"", b"-- --", b"x" * 5000]
out = subprocess.run([odd, b"%s\\0"] + args, stdout=subprocess.PIPE, check=True).stdout
check("odd-argv", out == b"\0".join(args) + b"\0", repr(out[:200]))

# 2. A 1 MiB argument list (1,024 arguments of 1,023 bytes): the program runs and sees all of it.
big = [b"y" * 1023] * 1024
r = subprocess.run(["/bin/sh", "-c", 'echo $#; exit 7', "sh"] + big, stdout=subprocess.PIPE)
check("big-argv", r.returncode == 7 and r.stdout.strip() == b"1024", repr((r.returncode, r.stdout[:50])))

# 3. 50,000 open descriptors in one process (a few of them sockets), held over several scanner passes, then a
# child that inherits them all. Where the container's hard limit is lower (Docker hands containers the daemon's
# own limit, 20,000 on some hosts, and raising it needs CAP_SYS_RESOURCE), as many as it allows.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = 50_000 if hard == resource.RLIM_INFINITY else min(50_000, hard - 100)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(want - 8)]
for fd in fds:
    os.set_inheritable(fd, True)
pairs = [socket.socketpair() for _ in range(4)]
time.sleep(1.6)
r = subprocess.run(["/bin/sh", "-c", "ls /proc/self/fd | wc -l"], stdout=subprocess.PIPE, close_fds=False)
# The child sees the inherited ones (the socket pairs are close-on-exec) plus its own few.
check("many-fds", int(r.stdout) >= want - 8, r.stdout)
print(f"held {want} descriptors (hard limit {hard})", flush=True)
for fd in fds:
    os.close(fd)
for a, b in pairs:
    a.close()
    b.close()

# 4. Deep trees and symlink loops under paths runwarden watches (directories created there are watched too).
for top in ["/var/spool/cron/crontabs", "/usr/local/share/ca-certificates", "/etc/cron.d"]:
    os.makedirs(top, exist_ok=True)
    path = top
    for i in range(120):
        path = os.path.join(path, f"d{i}")
        os.mkdir(path)
        if i % 10 == 0:
            os.symlink(".", os.path.join(path, "self"))
            os.symlink("../..", os.path.join(path, "up"))
    with open(os.path.join(path, "leaf"), "w") as f:
        f.write("x\n")
    os.symlink("loop-b", os.path.join(top, "loop-a"))
    os.symlink("loop-a", os.path.join(top, "loop-b"))
time.sleep(1.2)
check("deep-trees", os.path.exists(path + "/leaf"))
for top in ["/var/spool/cron/crontabs", "/usr/local/share/ca-certificates", "/etc/cron.d"]:
    shutil.rmtree(os.path.join(top, "d0"))
    os.unlink(os.path.join(top, "loop-a"))
    os.unlink(os.path.join(top, "loop-b"))

# 5. Processes that exit while runwarden reads them: bursts of short-lived children (some under the odd name),
# started without waiting, for two seconds; every exit code comes back.
deadline = time.monotonic() + 2.0
codes = []
while time.monotonic() < deadline:
    burst = [subprocess.Popen(["/bin/sh", "-c", f"exit {i % 5}"]) for i in range(20)]
    burst.append(subprocess.Popen([odd, b"%s", b"gone"], stdout=subprocess.DEVNULL))
    codes.extend((p.wait(), i % 5 if i < 20 else 0) for i, p in enumerate(burst))
check("exits", all(got == want for got, want in codes) and len(codes) > 100, f"{len(codes)} children")

print("HOSTILE-OK " + " ".join(done), flush=True)
