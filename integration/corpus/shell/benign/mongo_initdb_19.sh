#!/bin/bash
set -Eeuo pipefail
mongo=( mongosh --host 127.0.0.1 --port 27017 --quiet )
if [ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ] && [ -n "${MONGO_INITDB_ROOT_PASSWORD:-}" ]; then
	rootAuthDatabase='admin'
	"${mongo[@]}" "$rootAuthDatabase" <<-EOJS
		db.createUser({
			user: $(printf '%s' "$MONGO_INITDB_ROOT_USERNAME" | jq --raw-input --slurp .),
			pwd: $(printf '%s' "$MONGO_INITDB_ROOT_PASSWORD" | jq --raw-input --slurp .),
			roles: [ { role: 'root', db: $(printf '%s' "$rootAuthDatabase" | jq --raw-input --slurp .) } ]
		})
	EOJS
fi
export MONGO_INITDB_DATABASE="${MONGO_INITDB_DATABASE:-test}"
echo
for f in /docker-entrypoint-initdb.d/*; do
	case "$f" in
		*.sh) echo "$0: running $f"; . "$f" ;;
		*.js) echo "$0: running $f"; "${mongo[@]}" "$MONGO_INITDB_DATABASE" "$f"; echo ;;
		*)    echo "$0: ignoring $f" ;;
	esac
	echo
done
