#!/usr/bin/env python3
"""Install the pinned linters into an isolated virtualenv under /tmp for a CI job."""
import os
import subprocess
import sys
import venv

PINNED = ["ruff==0.4.8", "mypy==1.10.0", "black==24.4.2"]
target = os.path.join("/tmp", "ci-tools")
venv.EnvBuilder(with_pip=True, clear=True).create(target)
pip = os.path.join(target, "bin", "pip")
subprocess.check_call([pip, "install", "--quiet", "--disable-pip-version-check", *PINNED])
for tool in ("ruff", "mypy", "black"):
    path = os.path.join(target, "bin", tool)
    os.chmod(path, 0o755)
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    print(out.strip())
print(f"tools in {target}/bin", file=sys.stderr)
