#!/bin/sh
set -e
: "${APP_PORT:=8080}"
: "${APP_LOG_LEVEL:=info}"
: "${UPSTREAM_URL:?UPSTREAM_URL must be set}"
TEMPLATE=/etc/app/app.conf.tmpl
TARGET=/etc/app/app.conf
sed -e "s|@APP_PORT@|${APP_PORT}|g" \
    -e "s|@LOG_LEVEL@|${APP_LOG_LEVEL}|g" \
    -e "s|@UPSTREAM@|${UPSTREAM_URL}|g" \
    "$TEMPLATE" > "$TARGET"
chmod 0644 "$TARGET"
echo "rendered $TARGET"
grep -q '@' "$TARGET" && { echo "unrendered placeholder in $TARGET" >&2; exit 1; }
exec /usr/local/bin/app --config "$TARGET"
