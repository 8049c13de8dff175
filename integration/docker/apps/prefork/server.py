"""A pre-fork HTTP server (the gunicorn model), for runwarden's container tests: a master process opens
the service port, loads its libraries, forks workers that share the listening socket, replaces workers
that die, rotates its own log (rename + gzip), and on SIGTERM stops its workers and exits 0.

/healthz       -> "ok"
/work          -> ordinary work in a worker: a SQLite query, zlib, a hash (libraries of the image)
/pid           -> the worker's pid (the tests check requests spread over several workers)
/ping?host=    -> VULNERABLE ON PURPOSE: `ping`-style diagnostics built with a shell (command injection)

Environment: PORT (8080), WORKERS (3), LOG_DIR (/var/log/prefork), ROTATE_SECONDS (2),
SHUTDOWN_HOOK: a command the master runs through a shell at shutdown (a "flush" hook; the tests set it
to something suspicious to see findings raised during shutdown delivered before the container is gone).
"""
import ctypes
import ctypes.util
import hashlib
import http.server
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import zlib

PORT = int(os.environ.get("PORT") or "8080")
WORKERS = int(os.environ.get("WORKERS", "3"))
LOG_DIR = os.environ.get("LOG_DIR", "/var/log/prefork")
ROTATE_SECONDS = float(os.environ.get("ROTATE_SECONDS", "2"))
LOG = os.path.join(LOG_DIR, "server.log")


def log(msg):
    with open(LOG, "a") as f:
        f.write("%s pid=%d %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), os.getpid(), msg))


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        log("request " + (fmt % args))

    def reply(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/healthz":
            return self.reply(200, "ok")
        if url.path == "/pid":
            return self.reply(200, str(os.getpid()))
        if url.path == "/work":
            db = sqlite3.connect(":memory:")
            db.execute("create table t (k integer, v text)")
            db.executemany("insert into t values (?, ?)", ((i, "v%d" % i) for i in range(500)))
            (n,) = db.execute("select count(*) from t where k % 7 = 0").fetchone()
            packed = zlib.compress(("x" * 10000).encode())
            digest = hashlib.sha256(packed).hexdigest()[:16]
            return self.reply(200, "rows=%d packed=%d sha=%s" % (n, len(packed), digest))
        if url.path == "/ping":
            host = query.get("host", [""])[0]
            # VULNERABLE ON PURPOSE: shell=True with user input.
            out = subprocess.run("getent hosts " + host, shell=True, capture_output=True, text=True, timeout=20)
            return self.reply(200, out.stdout or "unknown host")
        return self.reply(404, "no")


def worker(sock):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = http.server.HTTPServer(("0.0.0.0", PORT), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    log("worker ready")
    try:
        server.serve_forever()
    finally:
        log("worker exiting")


def spawn(sock):
    pid = os.fork()
    if pid == 0:
        try:
            worker(sock)
        finally:
            os._exit(0)
    return pid


def rotate():
    """Renames the log and compresses the old one with gzip (as logrotate's copy would)."""
    if os.path.exists(LOG) and os.path.getsize(LOG) > 0:
        os.replace(LOG, LOG + ".1")
        subprocess.run(["gzip", "-f", LOG + ".1"], check=False)


def main():
    os.makedirs(LOG_DIR, exist_ok=True)
    # The master loads its native libraries before forking (workers inherit them): zlib through
    # ctypes, SQLite and OpenSSL through their Python modules.
    ctypes.CDLL(ctypes.util.find_library("z") or "libz.so.1")
    import ssl  # noqa: F401 (loads libssl/libcrypto)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", PORT))
    sock.listen(64)
    workers = {spawn(sock) for _ in range(WORKERS)}
    log("master ready with %d workers" % len(workers))

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    last_rotation = time.monotonic()
    while not stopping:
        # Replace workers that died (a crash, an OOM kill).
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pid = 0
        if pid in workers:
            workers.discard(pid)
            workers.add(spawn(sock))
            log("worker %d replaced" % pid)
        if time.monotonic() - last_rotation >= ROTATE_SECONDS:
            rotate()
            last_rotation = time.monotonic()
        time.sleep(0.1)

    log("master stopping %d workers" % len(workers))
    for pid in workers:
        os.kill(pid, signal.SIGTERM)
    for pid in workers:
        os.waitpid(pid, 0)
    hook = os.environ.get("SHUTDOWN_HOOK")
    if hook:
        subprocess.run(hook, shell=True, check=False)
    log("master stopped")
    sys.exit(0)


if __name__ == "__main__":
    main()
