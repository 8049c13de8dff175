import json
import os
import sys
import time

PATH = os.environ.get("LOG_PATH", "/var/log/app/access.log")


def follow(path):
    with open(path) as f:
        f.seek(0, os.SEEK_END)
        ino = os.fstat(f.fileno()).st_ino
        while True:
            line = f.readline()
            if line:
                yield line
                continue
            time.sleep(0.5)
            try:
                if os.stat(path).st_ino != ino:
                    return
            except FileNotFoundError:
                pass


while True:
    for line in follow(PATH):
        parts = line.split()
        if len(parts) < 9:
            continue
        rec = {"remote": parts[0], "method": parts[5].strip('"'), "path": parts[6], "status": int(parts[8])}
        sys.stdout.write(json.dumps(rec) + "\n")
        sys.stdout.flush()
