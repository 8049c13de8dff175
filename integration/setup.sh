#!/usr/bin/env bash
# Everything the tests need on a fresh Debian machine, installed only where missing (a second run is a
# few dpkg queries): integration/test.sh runs this first, and .ci/run before its lint step.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# Debian packages the tests use: runsc (gVisor, Cloud Run gen1), tini and strace (reference rows),
# util-linux (unshare, script), procps, bash, python3 for pty tests, debootstrap for the container tests'
# base image (integration/docker/build-base.sh; no registry is reachable), openssl for the HTTP sink's
# private-CA test, gcc and libc6-dev for the storm test's static workload, curl and openssl for the
# attack scenarios run inside the gVisor sandbox (which sees this machine's programs), netcat-openbsd and
# busybox for the evasion cases (tests/evasions.rs: renamed copies and applets).
need=()
for pkg in runsc tini strace util-linux procps bash python3 file debootstrap netcat-openbsd busybox zlib1g openssl gcc libc6-dev curl; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done

# The collector's tests (deploy/collector/tests): PostgreSQL, headless Chromium and its WebDriver.
for pkg in postgresql chromium chromium-driver; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${need[@]}"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
