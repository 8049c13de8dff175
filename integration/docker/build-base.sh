#!/usr/bin/env bash
# Builds the Debian base image the container tests use, without a registry: debootstrap a minimal
# bookworm root file system from Debian's mirror and `docker import` it. Idempotent: an existing image
# with the same tag is kept (CI reuses it between runs on the same machine).
#
#   integration/docker/build-base.sh [TAG]        (default runwarden-test/debian:bookworm-2)
set -euo pipefail
tag="${1:-runwarden-test/debian:bookworm-2}"
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag present"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "build-base.sh: debootstrap is needed (apt-get install debootstrap)" >&2; exit 2; }
root=$(mktemp -d /var/tmp/runwarden-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
# python3 for the sample web app, curl for health checks and the attack scenarios' downloads,
# procps for ps/pkill, bash for the classic reverse shell one-liner, netcat-openbsd for netcat relays.
# The tag changes when this list does, so a machine with an older image builds the new one.
debootstrap --variant=minbase --include=python3,curl,procps,bash,ca-certificates,netcat-openbsd \
    bookworm "$root" http://deb.debian.org/debian >/dev/null
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import - "$tag" >/dev/null
echo "base image $tag built"
