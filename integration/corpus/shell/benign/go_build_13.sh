#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(git describe --tags --always --dirty)
COMMIT=$(git rev-parse --short HEAD)
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
export CGO_ENABLED=0
for arch in amd64 arm64; do
  echo "building linux/$arch"
  GOOS=linux GOARCH=$arch go build -trimpath \
    -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
    -o "dist/server-linux-${arch}" ./cmd/server
done
( cd dist && sha256sum server-linux-* > SHA256SUMS )
ls -l dist
