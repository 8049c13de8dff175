#!/usr/bin/env python3
"""Render /etc/app/app.ini from a template and the environment (APP_* variables)."""
import os
import re
import string
import sys

TEMPLATE = "/etc/app/app.ini.tmpl"
TARGET = "/etc/app/app.ini"

values = {k[4:].lower(): v for k, v in os.environ.items() if k.startswith("APP_")}
values.setdefault("port", "8080")
values.setdefault("workers", "4")

with open(TEMPLATE) as f:
    tmpl = string.Template(f.read())
try:
    rendered = tmpl.substitute(values)
except KeyError as e:
    sys.exit(f"missing APP_{e.args[0].upper()} for {TEMPLATE}")
if re.search(r"\$\{?\w+", rendered):
    sys.exit("unrendered placeholder left")
tmp = TARGET + ".tmp"
with open(tmp, "w") as f:
    f.write(rendered)
os.chmod(tmp, 0o644)
os.replace(tmp, TARGET)
print(f"wrote {TARGET}")
