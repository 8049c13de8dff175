#!/bin/sh
set -eux
python3 -m venv /opt/venv
. /opt/venv/bin/activate
pip install --no-cache-dir --upgrade pip wheel
pip install --no-cache-dir -r /src/requirements.txt
pip install --no-cache-dir --no-deps /src
python -m compileall -q /opt/venv/lib
find /opt/venv -name '__pycache__' -prune -o -name '*.pyc' -print | wc -l
rm -rf /root/.cache /src/build
