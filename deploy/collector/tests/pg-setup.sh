#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the collector's tests (idempotent: a second run finds it running) and
# prints the URL to export as RW_TEST_PG_URL. Debian's `postgresql` package (any major version);
# the cluster lives in $RUNWARDEN_PG_DIR (default /var/tmp/runwarden-pg), owned by the postgres user,
# listening on 127.0.0.1:$RUNWARDEN_PG_PORT (default 55432) with trust auth: for tests only.
# Usage: export RW_TEST_PG_URL=$(deploy/collector/tests/pg-setup.sh)
set -euo pipefail

dir="${RUNWARDEN_PG_DIR:-/var/tmp/runwarden-pg}"
port="${RUNWARDEN_PG_PORT:-55432}"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "pg-setup.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2
    exit 1
fi
as_pg() { runuser -u postgres -- "$@"; }

if [ ! -f "$dir/PG_VERSION" ]; then
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    chmod 700 "$dir"
    as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
fi
if ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
fi
for _ in $(seq 1 50); do
    as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.2
done
if ! as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = 'runwarden_test'" | grep -q 1; then
    as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc 'CREATE DATABASE runwarden_test' >/dev/null
fi
# Databases the tests created (one per test, named rwtest_*) are dropped by the next setup.
as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'rwtest\_%'" |
    while read -r db; do
        as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
    done
echo "postgres://postgres@127.0.0.1:${port}/runwarden_test"
