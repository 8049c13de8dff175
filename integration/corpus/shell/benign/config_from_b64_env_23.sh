#!/bin/sh
# The platform passes the whole config file base64-encoded in APP_CONFIG_B64.
set -e
if [ -n "$APP_CONFIG_B64" ]; then
  echo "$APP_CONFIG_B64" | base64 -d > /etc/app/config.yaml
  chmod 0600 /etc/app/config.yaml
fi
if [ -n "$TLS_CA_B64" ]; then
  printf '%s' "$TLS_CA_B64" | base64 --decode > /usr/local/share/ca-certificates/internal-ca.crt
  update-ca-certificates
fi
exec "$@"
