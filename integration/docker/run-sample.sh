#!/usr/bin/env bash
# Builds and starts the vulnerable sample service under runwarden, the way the container tests do, so
# you can attack it yourself and watch the findings:
#
#   integration/docker/run-sample.sh             # builds runwarden (release), the base image and the app
#   curl "http://$IP:8080/lookup?name=localhost" # the vulnerable endpoint (command injection)
#   docker logs -f rw-sample                     # findings: JSON lines with a "finding" key
#   docker stop rw-sample
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p runwarden
integration/docker/build-base.sh
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$target/x86_64-unknown-linux-gnu/release/runwarden" integration/docker/apps/pyweb/app.py "$ctx/"
docker build -q -t runwarden-sample/pyweb -f integration/docker/apps/pyweb/Dockerfile "$ctx" >/dev/null
docker rm -f rw-sample >/dev/null 2>&1 || true
docker run -d --name rw-sample runwarden-sample/pyweb >/dev/null
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' rw-sample)
echo "sample service: http://$ip:8080/healthz   (vulnerable: /lookup?name=...)   findings: docker logs -f rw-sample"
