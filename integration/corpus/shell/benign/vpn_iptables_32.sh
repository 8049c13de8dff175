#!/bin/sh
set -e
# WireGuard gateway: forward peers' traffic out of eth0
sysctl -w net.ipv4.ip_forward=1
iptables -t nat -A POSTROUTING -s 10.13.13.0/24 -o eth0 -j MASQUERADE
iptables -A FORWARD -i wg0 -j ACCEPT
iptables -A FORWARD -o wg0 -m state --state RELATED,ESTABLISHED -j ACCEPT
wg-quick up wg0
trap 'wg-quick down wg0; exit 0' TERM INT
sleep infinity &
wait
