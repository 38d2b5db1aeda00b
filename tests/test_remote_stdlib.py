"""Everything that runs on targets imports only the standard library.

Mitogen ships a module's imports along with it, so a third-party import in
``paracrine/__init__.py``, the remote executor or a fact module would be
shipped to (or fail on) every host. Import each target-side module in a fresh
interpreter and check where every loaded module comes from.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import paracrine.changes
import paracrine.facts

TARGET_MODULES = [
    "paracrine",
    "paracrine.api",
    "paracrine.fact",
    "paracrine.handlers",
    "paracrine.secret",
    "paracrine.changes",
    *[f"paracrine.changes.{m.name}" for m in pkgutil.iter_modules(paracrine.changes.__path__)],
    "paracrine.remote.gather",
    "paracrine.remote.execute",
    "paracrine.remote.fsops",
    "paracrine.remote.state",
    "paracrine.remote.wire",
    "paracrine.remote.lock",
    "paracrine.remote.adhoc",
    "paracrine.remote.relay",
    *[f"paracrine.facts.{m.name}" for m in pkgutil.iter_modules(paracrine.facts.__path__)],
]

PROBE = """
import importlib, json, sys
before = set(sys.modules)
for name in sys.argv[1:]:
    importlib.import_module(name)
foreign = {}
for name in set(sys.modules) - before:
    top = name.split(".")[0]
    if top != "paracrine" and top not in sys.stdlib_module_names and top not in sys.builtin_module_names:
        foreign[name] = getattr(sys.modules[name], "__file__", None) or ""
print(json.dumps(foreign))
"""


def test_target_side_modules_import_only_the_standard_library() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, *TARGET_MODULES], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == {}


def test_probe_detects_third_party_imports() -> None:
    """The check above can fail: jinja2 (a controller dependency) is reported."""
    result = subprocess.run([sys.executable, "-c", PROBE, "jinja2"], capture_output=True, text=True, check=True)
    assert "jinja2" in json.loads(result.stdout)


def test_paracrine_init_does_not_pull_in_controller_modules() -> None:
    heavy = ("mitogen", "click", "jinja2", "networkx", "yaml", "tabulate")
    code = f"import sys, paracrine; print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
