"""Load a Python configuration file the way gunicorn and Sphinx do: execute it in a fresh namespace."""
import os
import sys
import types


def load_config(path):
    mod = types.ModuleType("__config__")
    mod.__file__ = path
    try:
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec")
        exec(code, mod.__dict__)
    except FileNotFoundError:
        sys.exit(f"config file {path} not found")
    return {k: v for k, v in vars(mod).items() if not k.startswith("_")}


if __name__ == "__main__":
    cfg = load_config(os.environ.get("APP_CONFIG", "/etc/app/settings.py"))
    for key in sorted(cfg):
        print(f"{key} = {cfg[key]!r}")
