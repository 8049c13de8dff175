#!/bin/bash
set -m
# start php-fpm and nginx together; if either dies, stop the container
php-fpm -F &
nginx -g 'daemon off;' &
wait -n
echo "a child exited; shutting down" >&2
kill $(jobs -p) 2>/dev/null
wait
exit 1
