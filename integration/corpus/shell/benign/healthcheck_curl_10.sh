#!/bin/sh
# Docker HEALTHCHECK: the service answers on its health endpoint within 3 seconds
set -e
PORT="${PORT:-8080}"
curl -fsS --max-time 3 "http://127.0.0.1:${PORT}/healthz" > /dev/null || exit 1
