#!/bin/sh
set -e
CERT_DIR=/etc/nginx/certs
if [ ! -f "$CERT_DIR/tls.crt" ]; then
  mkdir -p "$CERT_DIR"
  openssl req -x509 -nodes -newkey rsa:2048 -days 365 \
    -subj "/CN=${SERVER_NAME:-localhost}" \
    -keyout "$CERT_DIR/tls.key" -out "$CERT_DIR/tls.crt"
  openssl dhparam -out "$CERT_DIR/dhparam.pem" 2048
  chmod 600 "$CERT_DIR/tls.key"
fi
openssl x509 -in "$CERT_DIR/tls.crt" -noout -subject -enddate
