#!/bin/sh
set -eux
apt-get update
apt-get install -y --no-install-recommends tzdata locales
sed -i 's/^# *\(en_US.UTF-8\)/\1/' /etc/locale.gen
locale-gen
ln -snf /usr/share/zoneinfo/"${TZ:-UTC}" /etc/localtime
echo "${TZ:-UTC}" > /etc/timezone
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/* /var/tmp/* /var/cache/debconf/*-old
rm -f /var/log/dpkg.log /var/log/apt/*.log /var/log/alternatives.log
