#!/usr/bin/env bash
set -Eeuo pipefail
if [[ "$1" == apache2* ]] || [ "$1" = 'php-fpm' ]; then
	uid="$(id -u)"; gid="$(id -g)"
	if [ "$uid" = '0' ]; then
		user="${APACHE_RUN_USER:-www-data}"
		group="${APACHE_RUN_GROUP:-www-data}"
	else
		user="$uid"; group="$gid"
	fi
	if [ ! -e index.php ] && [ ! -e wp-includes/version.php ]; then
		echo >&2 "WordPress not found in $PWD - copying now..."
		sourceTarArgs=( --create --file - --directory /usr/src/wordpress --owner "$user" --group "$group" )
		targetTarArgs=( --extract --file - )
		tar "${sourceTarArgs[@]}" . | tar "${targetTarArgs[@]}"
		echo >&2 "Complete! WordPress has been successfully copied to $PWD"
	fi
	if [ ! -s wp-config.php ] && [ -n "${WORDPRESS_DB_HOST:-}" ]; then
		awk '/put your unique phrase here/ { cmd = "head -c1m /dev/urandom | sha1sum | cut -d\\  -f1"; cmd | getline str; close(cmd); gsub("put your unique phrase here", str) } { print }' wp-config-docker.php > wp-config.php
		chown "$user:$group" wp-config.php || true
	fi
fi
exec "$@"
