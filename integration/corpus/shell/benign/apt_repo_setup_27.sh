#!/bin/sh
set -eux
apt-get update && apt-get install -y --no-install-recommends ca-certificates curl gnupg
install -d -m 0755 /etc/apt/keyrings
curl -fsSL https://packages.example.com/repo/gpg | gpg --dearmor -o /etc/apt/keyrings/vendor.gpg
chmod a+r /etc/apt/keyrings/vendor.gpg
echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/vendor.gpg] https://packages.example.com/repo $(. /etc/os-release && echo "$VERSION_CODENAME") stable" > /etc/apt/sources.list.d/vendor.list
apt-get update && apt-get install -y --no-install-recommends vendor-cli
rm -rf /var/lib/apt/lists/*
