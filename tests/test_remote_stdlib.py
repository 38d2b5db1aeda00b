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
    "paracrine.remote.pending",
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


#: What a zero-change run makes a target import (the fact round): the package, the gatherer, the run
#: lock, the pending handler records and the fact modules.
FACT_ROUND = [
    "paracrine",
    "paracrine.remote.gather",
    "paracrine.remote.lock",
    "paracrine.remote.pending",
    *[f"paracrine.facts.{m.name}" for m in pkgutil.iter_modules(paracrine.facts.__path__)],
]

#: Mitogen sends a requested module together with every package module it imports anywhere (inside
#: functions and under ``TYPE_CHECKING`` too) that the controller has loaded. Measured in a controller
#: that has loaded everything a deploy can load.
RELATED = """
import importlib, json, pkgutil, sys
import mitogen.master
import paracrine.operations, paracrine.run, paracrine.batches, paracrine.commands.deploy, paracrine.remote.execute
for m in pkgutil.iter_modules(paracrine.operations.__path__):
    importlib.import_module("paracrine.operations." + m.name)
finder = mitogen.master.ModuleFinder()
print(json.dumps({name: finder.find_related(name) for name in sys.argv[1:]}))
"""

FACT_ROUND_MODULES = {"paracrine", "paracrine.current", "paracrine.fact", "paracrine.facts", "paracrine.remote"}
FACT_ROUND_MODULES |= {f"paracrine.remote.{name}" for name in ("gather", "lock", "pending", "state", "wire")}


def test_the_fact_round_ships_no_controller_module() -> None:
    """A zero-change run sends each host only target code: one stray import once sent 64 modules, not 36."""
    result = subprocess.run([sys.executable, "-c", RELATED, *FACT_ROUND], capture_output=True, text=True, check=True)
    shipped = {name for related in json.loads(result.stdout).values() for name in related}
    assert shipped, "Mitogen's finder found nothing: the check would always pass"
    assert {n for n in shipped if n not in FACT_ROUND_MODULES and not n.startswith("paracrine.facts.")} == set()


def test_the_related_modules_check_can_fail() -> None:
    """paracrine.handlers (controller code) would drag in the operation and change modules."""
    result = subprocess.run(
        [sys.executable, "-c", RELATED, "paracrine.handlers"], capture_output=True, text=True, check=True
    )
    assert "paracrine.operation" in json.loads(result.stdout)["paracrine.handlers"]
