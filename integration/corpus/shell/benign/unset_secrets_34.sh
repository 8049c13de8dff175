#!/bin/sh
set -e
# read secrets from mounted files, then keep them out of the app's environment dump
if [ -f /run/secrets/db_password ]; then
  DB_PASSWORD="$(cat /run/secrets/db_password)"
fi
printf 'postgres://%s:%s@%s/%s\n' "$DB_USER" "$DB_PASSWORD" "$DB_HOST" "$DB_NAME" > /run/app/dsn
chmod 0400 /run/app/dsn
unset DB_PASSWORD AWS_SECRET_ACCESS_KEY
exec gosu app /usr/local/bin/server --dsn-file /run/app/dsn
