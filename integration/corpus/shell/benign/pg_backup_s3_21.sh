#!/bin/sh
set -eo pipefail
: "${S3_BUCKET:?}" "${POSTGRES_HOST:?}" "${POSTGRES_DB:?}"
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
FILE="/tmp/${POSTGRES_DB}-${STAMP}.sql.gz"
echo "dumping ${POSTGRES_DB} from ${POSTGRES_HOST}"
pg_dump -h "$POSTGRES_HOST" -U "${POSTGRES_USER:-postgres}" --no-owner "$POSTGRES_DB" | gzip -9 > "$FILE"
aws s3 cp "$FILE" "s3://${S3_BUCKET}/backups/${POSTGRES_DB}/${STAMP}.sql.gz" --only-show-errors
rm -f "$FILE"
echo "backup done"
