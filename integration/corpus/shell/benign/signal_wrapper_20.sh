#!/bin/bash
# Run the app and its sidecar log forwarder; stop both on SIGTERM.
set -u
term() {
  echo "caught SIGTERM, stopping children"
  kill -TERM "$app_pid" "$fwd_pid" 2>/dev/null
  wait "$app_pid"
  exit $?
}
trap term TERM INT
/usr/local/bin/log-forwarder --input /var/log/app/app.log --output stdout &
fwd_pid=$!
/usr/local/bin/app "$@" &
app_pid=$!
wait "$app_pid"
status=$?
kill -TERM "$fwd_pid" 2>/dev/null
exit $status
