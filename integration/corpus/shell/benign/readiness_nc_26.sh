#!/bin/sh
# readiness: the app port and its database are both reachable
nc -z -w 2 127.0.0.1 "${PORT:-8080}" || exit 1
nc -z -w 2 "${DB_HOST:-db}" "${DB_PORT:-5432}" || exit 1
exit 0
