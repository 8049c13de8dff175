#!/bin/sh
set -e
extDir="$(php -d 'display_errors=stderr' -r 'echo ini_get("extension_dir");')"
cd "$extDir"
usage() {
	echo "usage: $0 [options] module-name [module-name ...]"
	echo "   ie: $0 gd mysqli"
	echo "       $0 pdo pdo_mysql"
}
iniName=
while [ $# -gt 0 ]; do
	case "$1" in
		--ini-name) iniName="$2"; shift 2 ;;
		--) shift; break ;;
		-*) usage >&2; exit 1 ;;
		*) break ;;
	esac
done
for module; do
	moduleFile="$module.so"
	if [ ! -f "$moduleFile" ]; then
		echo >&2 "error: '$module' does not exist"
		exit 1
	fi
	ini="$PHP_INI_DIR/conf.d/${iniName:-"docker-php-ext-$module.ini"}"
	if ! grep -qE "^extension=$module" "$ini" 2>/dev/null; then
		echo "extension=$module" >> "$ini"
	fi
done
