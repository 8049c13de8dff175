#!/bin/sh
set -eux
KUBECTL_VERSION=v1.30.2
ARCH=$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')
cd /tmp
curl -fsSLO "https://dl.example.com/release/${KUBECTL_VERSION}/bin/linux/${ARCH}/kubectl"
curl -fsSLO "https://dl.example.com/release/${KUBECTL_VERSION}/bin/linux/${ARCH}/kubectl.sha256"
echo "$(cat kubectl.sha256)  kubectl" | sha256sum -c
install -o root -g root -m 0755 kubectl /usr/local/bin/kubectl
rm -f kubectl kubectl.sha256
kubectl version --client
