import concurrent.futures
import os
import sys

import requests

BASE = os.environ.get("BASE_URL", "http://localhost:8080")
PATHS = ["/", "/products", "/products/popular", "/about", "/api/v1/config"]


def warm(path):
    r = requests.get(BASE + path, timeout=10, headers={"User-Agent": "cache-warmer/1.0"})
    return path, r.status_code, r.elapsed.total_seconds()


with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    failed = 0
    for path, status, secs in pool.map(warm, PATHS):
        print(f"{status} {secs:.3f}s {path}")
        failed += status >= 500
sys.exit(1 if failed else 0)
