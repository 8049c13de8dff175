#!/usr/bin/env python3
"""Download a dataset archive, verify its checksum and unpack it."""
import argparse
import hashlib
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("url")
    ap.add_argument("--sha256", required=True)
    ap.add_argument("--dest", type=Path, default=Path("/data"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "dataset.tar.gz"
        print(f"downloading {args.url}", file=sys.stderr)
        urllib.request.urlretrieve(args.url, archive)
        digest = sha256(archive)
        if digest != args.sha256:
            print(f"checksum mismatch: {digest}", file=sys.stderr)
            return 1
        with tarfile.open(archive) as tar:
            tar.extractall(args.dest, filter="data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
