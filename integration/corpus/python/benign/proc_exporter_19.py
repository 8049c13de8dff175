#!/usr/bin/env python3
"""A tiny Prometheus exporter for the container's own /proc figures."""
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def metrics() -> str:
    with open("/proc/loadavg") as f:
        load1 = f.read().split()[0]
    with open("/proc/meminfo") as f:
        mem = {line.split(":")[0]: int(line.split()[1]) for line in f}
    procs = sum(1 for p in os.listdir("/proc") if p.isdigit())
    return (
        f"node_load1 {load1}\n"
        f"node_memory_available_bytes {mem['MemAvailable'] * 1024}\n"
        f"container_processes {procs}\n"
        f"exporter_time_seconds {time.time():.3f}\n"
    )


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = metrics().encode()
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ.get("PORT", "9100"))), Handler).serve_forever()
