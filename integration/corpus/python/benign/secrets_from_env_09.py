#!/usr/bin/env python3
"""Write base64-encoded secrets passed by the platform into files the app reads."""
import base64
import os
import sys

MAPPING = {
    "TLS_KEY_B64": "/run/secrets/tls.key",
    "TLS_CERT_B64": "/run/secrets/tls.crt",
    "GOOGLE_CREDENTIALS_B64": "/run/secrets/sa.json",
}

os.makedirs("/run/secrets", mode=0o700, exist_ok=True)
for var, path in MAPPING.items():
    value = os.environ.pop(var, None)
    if not value:
        continue
    try:
        data = base64.b64decode(value, validate=True)
    except ValueError:
        sys.exit(f"{var} is not valid base64")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
os.execvp(sys.argv[1], sys.argv[1:])
