#!/bin/sh
set -eux
apt-get update
apt-get install -y --no-install-recommends ca-certificates curl gcc libc6-dev make libssl-dev
VERSION=7.2.4
SHA256=8d104c26a154b29fd67d6568b4f375212212ad41e0c2caa3d66480e78dbd3b59
curl -fsSL -o redis.tar.gz "https://download.example.com/releases/redis-${VERSION}.tar.gz"
echo "$SHA256 *redis.tar.gz" | sha256sum -c -
mkdir -p /usr/src/redis
tar -xzf redis.tar.gz -C /usr/src/redis --strip-components=1
rm redis.tar.gz
make -C /usr/src/redis -j "$(nproc)" all
make -C /usr/src/redis install
rm -r /usr/src/redis
apt-get purge -y --auto-remove gcc libc6-dev make
rm -rf /var/lib/apt/lists/*
redis-server --version
