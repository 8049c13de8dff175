#!/bin/sh
set -e
if [ ! -d /data/ssh ]; then
  mkdir -p /data/ssh
fi
for t in rsa ecdsa ed25519; do
  if [ ! -f /data/ssh/ssh_host_${t}_key ]; then
    echo "Generating /data/ssh/ssh_host_${t}_key..."
    ssh-keygen -t $t -f /data/ssh/ssh_host_${t}_key -N "" > /dev/null
  fi
done
SSH_PORT=${SSH_PORT:-22} envsubst < /etc/templates/sshd_config > /etc/ssh/sshd_config
chmod 0644 /etc/ssh/sshd_config
chown root:root /data/ssh/*
chmod 0700 /data/ssh
chmod 0600 /data/ssh/*
exec /usr/sbin/sshd -D -e
