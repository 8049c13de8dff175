#!/usr/bin/env bash
# Builds and starts one of the sample containers under runwarden, the way the container tests do, so
# you can use (and attack) it yourself and watch the findings. Any `docker run` options after the app's
# name are passed on (e.g. --user 65534:65534, --read-only --tmpfs /tmp, -e RUNWARDEN_SINKS=...).
#
#   integration/docker/run-sample.sh [pyweb|prefork|batch] [DOCKER RUN OPTIONS...]
#
#   pyweb    the vulnerable web app (default):
#              curl "http://$IP:8080/lookup?name=localhost"    # the endpoint with the command injection
#              curl "http://$IP:8080/lookup?name=x;id"         # -> "Unexpected Child Shell"
#   prefork  the pre-fork server (a master and 3 workers): /healthz, /work, /pid, /ping?host= (vulnerable)
#   batch    the batch job (a Cloud Run job): processes generated inputs and exits 0; give it
#            -e JOB_MANIFEST_URL=http://... to fetch a manifest (see apps/batch/job.sh)
#
#   docker logs -f rw-sample          # runwarden's log and the findings: JSON lines with a "finding" key
#   docker stop rw-sample             # SIGTERM reaches the app; its exit code is the container's
set -euo pipefail
cd "$(dirname "$0")/../.."
app="${1:-pyweb}"
[ $# -gt 0 ] && shift
[ -d "integration/docker/apps/$app" ] || { echo "run-sample.sh: no app '$app' (pyweb, prefork, batch)" >&2; exit 2; }
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -p runwarden
integration/docker/build-base.sh
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$target/x86_64-unknown-linux-gnu/release/runwarden" "$ctx/"
cp -r "integration/docker/apps/$app/." "$ctx/"
docker build -q -t "runwarden-sample/$app" "$ctx" >/dev/null
docker rm -f rw-sample >/dev/null 2>&1 || true
docker run -d --name rw-sample "$@" "runwarden-sample/$app" >/dev/null
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' rw-sample)
case "$app" in
    batch) echo "batch job started: docker logs -f rw-sample; exit code: docker wait rw-sample" ;;
    prefork) echo "sample server: http://$ip:8080/healthz   (vulnerable: /ping?host=...)   findings: docker logs -f rw-sample" ;;
    *) echo "sample service: http://$ip:8080/healthz   (vulnerable: /lookup?name=...)   findings: docker logs -f rw-sample" ;;
esac
