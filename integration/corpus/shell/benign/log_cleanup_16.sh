#!/bin/sh
# nightly: drop rotated application logs older than the retention period
set -eu
RETENTION_DAYS="${RETENTION_DAYS:-14}"
LOG_DIR="${LOG_DIR:-/var/log/app}"
find "$LOG_DIR" -type f -name '*.log.*.gz' -mtime +"$RETENTION_DAYS" -print -delete
find "$LOG_DIR" -type f -name '*.log' -size +512M -exec sh -c 'gzip -c "$1" > "$1.$(date +%Y%m%d).gz" && : > "$1"' _ {} \;
du -sh "$LOG_DIR"
