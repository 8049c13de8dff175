#!/usr/bin/env python3
import os
import sys
import urllib.request

url = "http://127.0.0.1:%s/health" % os.environ.get("PORT", "8000")
try:
    with urllib.request.urlopen(url, timeout=3) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as e:
    print(f"unhealthy: {e}", file=sys.stderr)
    sys.exit(1)
