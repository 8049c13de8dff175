import importlib
import importlib.util
import logging
import pkgutil
from pathlib import Path

log = logging.getLogger(__name__)
PLUGIN_DIR = Path("/etc/app/plugins")


def load_plugins():
    plugins = []
    for info in pkgutil.iter_modules([str(PLUGIN_DIR)]):
        spec = importlib.util.spec_from_file_location(info.name, PLUGIN_DIR / f"{info.name}.py")
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            log.exception("plugin %s failed to load", info.name)
            continue
        if hasattr(mod, "register"):
            plugins.append(mod.register())
    for name in ("app.builtin.auth", "app.builtin.metrics"):
        plugins.append(importlib.import_module(name).register())
    return plugins
