"""What every built-in fact promises: builtins only, stdlib only, documented and typed.

The list of calls below must name every fact registered under ``paracrine.facts``;
a new fact without a case here fails ``test_every_fact_has_a_case``.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_tools import FakeRun, fake_psql

from paracrine.factspec import FactSpec, registered

ROOT = Path(__file__).resolve().parents[2]
FACTS_DIR = ROOT / "facts"
MODULES = sorted(p.stem for p in FACTS_DIR.glob("*.py") if p.stem != "__init__")
DOMAINS = [m for m in MODULES if not m.startswith("_")]
BUILTIN_TYPES = (str, int, float, bool, bytes, type(None))
DEB = ROOT / "tests/operations/cases/apt.deb/hello-paracrine_1.2-3_all.deb"

for _domain in DOMAINS:
    importlib.import_module(f"paracrine.facts.{_domain}")


def builtin_facts() -> dict[str, FactSpec]:
    return {name: spec for name, spec in registered().items() if spec.module.startswith("paracrine.facts.")}


def check_builtin_data(value: Any, where: str = "result") -> None:
    """Fail unless ``value`` is dicts (str keys), lists and str/int/float/bool/bytes/None, all the way down."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            assert type(key) is str, f"{where}: key {key!r} is a {type(key).__name__}, not a str"
            check_builtin_data(item, f"{where}[{key!r}]")
    elif kind is list:
        for index, item in enumerate(value):
            check_builtin_data(item, f"{where}[{index}]")
    else:
        assert kind in BUILTIN_TYPES, f"{where}: {kind.__name__} {value!r} is not a builtin data type"


def make_repo(path: Path) -> str:
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "-C", str(path)]
    path.mkdir()
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (path / "f").write_text("x\n")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)
    (path / "f").write_text("dirty\n")
    return str(path)


Case = Callable[[Path, FakeRun, Callable[[str], str]], Any]

CASES: dict[str, Case] = {
    "server.hostname": lambda t, r, c: _f("server").hostname(),
    "server.os_release": lambda t, r, c: _f("server").os_release(),
    "server.kernel": lambda t, r, c: _f("server").kernel(),
    "server.arch": lambda t, r, c: _f("server").arch(),
    "server.cpus": lambda t, r, c: _f("server").cpus(),
    "server.memory": lambda t, r, c: _f("server").memory(),
    "server.users": lambda t, r, c: _f("server").users(),
    "server.groups": lambda t, r, c: _f("server").groups(),
    "server.which": lambda t, r, c: [_f("server").which("sh"), _f("server").which("no-such-cmd-x")],
    "server.command_status": lambda t, r, c: [
        _f("server").command_status(["sh", "-c", "exit 3"]),
        _f("server").command_status(["no-such-cmd-x"]),
    ],
    "files.path_info": lambda t, r, c: [_f("files").path_info(str(p)) for p in _tree(t)],
    "files.sha256": lambda t, r, c: [_f("files").sha256(str(p)) for p in _tree(t)],
    "files.listing": lambda t, r, c: [_f("files").listing(str(p)) for p in _tree(t)],
    "files.lines": lambda t, r, c: [_f("files").lines(str(_tree(t)[1])), _f("files").lines(str(t / "none"))],
    "files.tree": lambda t, r, c: [_f("files").tree(str(p)) for p in _tree(t)],
    "apt.packages": lambda t, r, c: _f("apt").packages(),
    "apt.sources": lambda t, r, c: _f("apt").sources(),
    "apt.last_update": lambda t, r, c: _f("apt").last_update(),
    "apt.update_age": lambda t, r, c: _f("apt").update_age(),
    "apt.candidates": lambda t, r, c: _f("apt").candidates(["dpkg", "no-such-package-x"]),
    "apt.upgradable": lambda t, r, c: _f("apt").upgradable(),
    "apt.residual_configs": lambda t, r, c: _f("apt").residual_configs(),
    "apt.deb_file": lambda t, r, c: [_f("apt").deb_file(str(DEB)), _f("apt").deb_file(str(t / "none.deb"))],
    "pip.packages": lambda t, r, c: [_f("pip").packages(sys.executable), _f("pip").packages(str(t / "py"))],
    "pip.interpreter": lambda t, r, c: [_f("pip").interpreter(sys.executable), _f("pip").interpreter(str(t / "py"))],
    "pip.venv": lambda t, r, c: [_f("pip").venv(sys.prefix), _f("pip").venv(str(t))],
    "pip.outdated": lambda t, r, c: [
        _f("pip").outdated(sys.executable, no_index=True),
        _f("pip").outdated(str(t / "py")),
    ],
    "postgresql.cluster": lambda t, r, c: _postgresql(t, c, lambda pg: pg.cluster()),
    "postgresql.password_verifiers": lambda t, r, c: _postgresql(t, c, lambda pg: pg.password_verifiers()),
    "postgresql.query_rows": lambda t, r, c: _postgresql(t, c, lambda pg: pg.query_rows("SELECT 1", "app")),
    "systemd.unit": lambda t, r, c: _systemd(r, c),
    "git.checkout": lambda t, r, c: [_f("git").checkout(make_repo(t / "repo")), _f("git").checkout(str(t))],
    "git.remote_ref": lambda t, r, c: [_f("git").remote_ref(u := make_repo(t / "repo")), _f("git").remote_ref(u, "x")],
    "cron.crontab": lambda t, r, c: _cron(r, c),
    "sysctl.value": lambda t, r, c: [_f("sysctl").value("kernel.ostype"), _f("sysctl").value("kernel.nope")],
    "sysctl.values": lambda t, r, c: _f("sysctl").values("kernel"),
    "cron.table": lambda t, r, c: _cron_table(r, c),
    "server.locales": lambda t, r, c: _f("server").locales(),
    "mount.points": lambda t, r, c: _f("mount").points(),
    "modules.loaded": lambda t, r, c: _f("modules").loaded(),
    "modules.builtin": lambda t, r, c: _f("modules").builtin(),
}


def _f(domain: str) -> Any:
    return sys.modules[f"paracrine.facts.{domain}"]


def _tree(tmp_path: Path) -> list[Path]:
    """A directory, a file, a link, a FIFO and an absent path (made once per test)."""
    base = tmp_path / "tree"
    if not base.exists():
        base.mkdir()
        (base / "file").write_bytes(b"one\ntwo\xff\n")
        (base / "link").symlink_to("file")
        os.mkfifo(base / "fifo")
    return [base, base / "file", base / "link", base / "fifo", base / "absent"]


def _systemd(run: FakeRun, captured: Callable[[str], str]) -> Any:
    run.add(["systemctl", "show", "ssh"], captured("systemctl-show-ssh-systemd.txt"))
    run.add(["systemctl", "show", "cron"], captured("systemctl-show-cron-active-daemonless.txt"))
    run.add(["systemctl", "show", "nosuch"], captured("systemctl-show-notfound-systemd.txt"))
    return [_f("systemd").unit(name) for name in ("ssh", "cron", "nosuch")]


def _cron(run: FakeRun, captured: Callable[[str], str]) -> Any:
    run.add(["crontab", "-l", "-u", "root"], captured("crontab-root.txt"))
    run.add(["crontab", "-l", "-u", "nobody"], stderr="no crontab for nobody\n", returncode=1)
    return [_f("cron").crontab(), _f("cron").crontab("nobody")]


def _cron_table(run: FakeRun, captured: Callable[[str], str]) -> Any:
    run.add(["crontab", "-l", "-u", "root"], captured("crontab-root.txt"))
    return [_f("cron").table(), _f("cron").table("paracrine-nosuch")]


def _postgresql(tmp_path: Path, captured: Callable[[str], str], call: Callable[[Any], Any]) -> Any:
    rules = [
        ("'version'", captured("psql-cluster-15.txt"), 0),
        (
            "json_object_agg(rolname, rolpassword)",
            '{"postgres": null, "app": "md5a3556571e93b0d20722ba62be61e8c2d"}\0',
            0,
        ),
        ("SELECT 1", "1\0", 0),
    ]
    with fake_psql(tmp_path / "bin", rules):
        return call(_f("postgresql"))


def test_every_fact_has_a_case() -> None:
    assert sorted(builtin_facts()) == sorted(CASES)


FAKE_TOOLS = {"systemd.unit", "cron.crontab", "cron.table"}
"""Facts whose tool this controller lacks (no running systemd, no cron): fed captured output."""


@pytest.mark.parametrize("name", sorted(CASES))
def test_result_is_builtin_data(
    name: str, tmp_path: Path, request: pytest.FixtureRequest, captured: Callable[[str], str]
) -> None:
    run = request.getfixturevalue("fake_run") if name in FAKE_TOOLS else FakeRun()
    value = CASES[name](tmp_path, run, captured)
    check_builtin_data(value)
    assert json.loads(json.dumps(value)) == value  # the on-disk fact cache is JSON


@pytest.mark.parametrize(
    "bad", [{1, 2}, (1, 2), {"k": {"nested": frozenset()}}, {1: "int key"}, [bytearray(b"x")], Path("/")]
)
def test_check_builtin_data_rejects_other_types(bad: Any) -> None:
    with pytest.raises(AssertionError):
        check_builtin_data(bad)


def test_check_builtin_data_rejects_builtin_subclasses() -> None:
    class Name(str):
        pass

    with pytest.raises(AssertionError):
        check_builtin_data({"name": Name("x")})


@pytest.mark.parametrize("name", sorted(CASES))
def test_fact_is_documented_and_typed(name: str) -> None:
    spec = builtin_facts()[name]
    doc = spec.doc
    assert spec.summary.endswith("."), f"{name}: one-line summary ending with a period"
    assert "\nReturns:\n" in doc, f"{name}: a Returns section"
    assert spec.returns, f"{name}: a return annotation"
    if spec.params:
        assert "\nArgs:\n" in doc, f"{name}: an Args section"
    for param in spec.params:
        assert param.annotation, f"{name}: parameter {param.name} is not annotated"
        assert f"\n    {param.name}: " in doc, f"{name}: Args does not describe {param.name}"
    example = doc.split("\nExample:\n", 1)[-1].strip().splitlines()
    assert "\nExample:\n" in doc and len(example) == 1, f"{name}: one Example line"
    assert example[0].startswith("paracrine facts ") and f" {name}" in example[0], example[0]
    for param in spec.params:
        if param.required:
            assert f" {param.name}=" in example[0], f"{name}: the example omits {param.name}="


def test_facts_are_the_functions_themselves() -> None:
    for name, spec in builtin_facts().items():
        domain, function = name.split(".")
        assert getattr(_f(domain), function) is spec.func
        assert spec.module == f"paracrine.facts.{domain}"


@pytest.mark.parametrize("module", MODULES)
def test_module_is_small(module: str) -> None:
    lines = (FACTS_DIR / f"{module}.py").read_text().count("\n")
    assert lines <= 400, f"facts/{module}.py has {lines} lines"


IMPORT_PROBE = """
import importlib, json, sys, sysconfig
before = set(sys.modules)
importlib.import_module(sys.argv[1])
paths = sysconfig.get_paths()
print(json.dumps({
    "new": {n: getattr(sys.modules[n], "__file__", None) for n in set(sys.modules) - before},
    "stdlib": [paths["stdlib"], paths["platstdlib"]],
}))
"""

INTERPRETERS = [sys.executable] + [p for p in ["/usr/bin/python3"] if os.path.exists(p)]


@pytest.mark.parametrize("python", INTERPRETERS)
@pytest.mark.parametrize("module", ["paracrine.facts", *(f"paracrine.facts.{m}" for m in MODULES)])
def test_module_imports_only_the_standard_library(python: str, module: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([python, "-c", IMPORT_PROBE, module], capture_output=True, text=True, env=env, check=True)
    probe = json.loads(out.stdout)
    stdlib = tuple(os.path.realpath(p) + os.sep for p in probe["stdlib"])
    ours = (str(ROOT / "paracrine") + os.sep, str(FACTS_DIR) + os.sep)
    offenders = {}
    for name, file in probe["new"].items():
        if file is None:
            continue  # built into the interpreter
        real = os.path.realpath(file)
        in_stdlib = real.startswith(stdlib) and not any(
            part in ("site-packages", "dist-packages") for part in Path(real).parts
        )
        if not (in_stdlib or real.startswith(ours) or file.startswith(ours)):
            offenders[name] = file
    names = sorted(offenders)
    assert not offenders, f"{module} imports non-stdlib modules under {python}: {names} (e.g. {offenders[names[0]]})"
    assert module in probe["new"]
