#!/bin/bash
# healthcheck for images without curl: open the port with bash's /dev/tcp
timeout 2 bash -c "</dev/tcp/127.0.0.1/${PORT:-6379}" || exit 1
exec 3<>/dev/tcp/127.0.0.1/${PORT:-6379}
printf 'PING\r\n' >&3
read -t 2 -r reply <&3
exec 3>&-
[ "${reply%$'\r'}" = "+PONG" ]
