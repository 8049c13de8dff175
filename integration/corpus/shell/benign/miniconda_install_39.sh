#!/bin/bash
set -euxo pipefail
MINICONDA_VERSION=py311_24.4.0-0
SHA256=7cb030a12d1da35e1c548344a895b108e0d2fbdc4f6b67d5180b2ac8539cc473
wget --quiet "https://repo.example.com/miniconda/Miniconda3-${MINICONDA_VERSION}-Linux-x86_64.sh" -O /tmp/miniconda.sh
echo "${SHA256}  /tmp/miniconda.sh" | sha256sum --check
chmod +x /tmp/miniconda.sh
/tmp/miniconda.sh -b -p /opt/conda
rm /tmp/miniconda.sh
ln -s /opt/conda/etc/profile.d/conda.sh /etc/profile.d/conda.sh
/opt/conda/bin/conda clean -afy
find /opt/conda/ -follow -type f -name '*.a' -delete
