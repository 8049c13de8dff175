#!/usr/bin/env python3
"""Container entrypoint: wait for the database port, run migrations, then exec the server."""
import os
import socket
import subprocess
import sys
import time

host = os.environ.get("DB_HOST", "db")
port = int(os.environ.get("DB_PORT", "5432"))
deadline = time.monotonic() + float(os.environ.get("DB_WAIT_SECONDS", "60"))

while True:
    try:
        with socket.create_connection((host, port), timeout=2):
            break
    except OSError as e:
        if time.monotonic() > deadline:
            print(f"database {host}:{port} not reachable: {e}", file=sys.stderr)
            sys.exit(1)
        time.sleep(1)

subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], check=True)
subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], check=True)
os.execvp("gunicorn", ["gunicorn", "-c", "/app/gunicorn.conf.py", "mysite.wsgi"])
