"""Every built-in fact, run on a lab host over SSH (as root through sudo), with a real check of its value."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.factspec import BUILTIN_PREFIX, registered
from paracrine.gather import load_builtin_facts

pytestmark = pytest.mark.lab

Check = Callable[[Any, Path], bool]

# fact name -> (arguments, check(value, host root seen from the controller))
CASES: dict[str, tuple[dict[str, Any], Check]] = {
    "apt.last_update": ({}, lambda v, r: v is None or v > 1e9),
    "apt.packages": ({}, lambda v, r: v["python3"]["arch"] == "amd64" and "openssh-server" in v),
    "apt.sources": ({}, lambda v, r: any("file:/srv/lab-apt" in e["uris"] for e in v)),
    "apt.update_age": ({}, lambda v, r: v is None or v >= 0),
    "apt.candidates": (
        {"packages": ["tree"]},
        lambda v, r: v["tree"]["installed"] is None and bool(v["tree"]["candidate"]),
    ),
    "apt.upgradable": ({}, lambda v, r: all(isinstance(x, str) for x in v.values())),
    "apt.residual_configs": ({}, lambda v, r: v == []),
    "apt.deb_file": ({"path": "/srv/lab-apt/tree_2.1.0-1_amd64.deb"}, lambda v, r: v["package"] == "tree"),
    "cron.crontab": ({"user": "root"}, lambda v, r: v == []),
    "cron.table": ({"user": "root"}, lambda v, r: v == []),
    "files.lines": ({"path": "/etc/hostname"}, lambda v, r: v == ["h01"]),
    "files.listing": ({"path": "/etc/ssh"}, lambda v, r: "sshd_config" in v and v == sorted(v)),
    "files.path_info": (
        {"path": "/etc/sudoers.d/lab"},
        lambda v, r: (v["kind"], v["mode"], v["owner"]) == ("file", 0o440, "root"),
    ),
    "files.sha256": (
        {"path": "/etc/hostname"},
        lambda v, r: v == hashlib.sha256((r / "etc/hostname").read_bytes()).hexdigest(),
    ),
    "files.tree": (
        {"path": "/etc/ssh", "exclude": ["*key*"]},
        lambda v, r: v["sshd_config"]["sha256"] == hashlib.sha256((r / "etc/ssh/sshd_config").read_bytes()).hexdigest(),
    ),
    "git.checkout": ({"path": "/srv"}, lambda v, r: v is None),
    "git.remote_ref": (
        {"url": "/srv/remote.git", "rev": "main"},
        lambda v, r: (
            v == {"ref": "refs/heads/main", "commit": (r / "srv/remote.git/refs/heads/main").read_text().strip()}
        ),
    ),
    "modules.builtin": ({}, lambda v, r: v is None or all(isinstance(m, str) for m in v)),
    "modules.loaded": ({}, lambda v, r: v is None or isinstance(v, dict)),  # None: this kernel has no /proc/modules
    "mount.points": ({}, lambda v, r: any(p["path"] == "/" and p["fstype"] == "overlay" for p in v)),
    # pip and postgresql facts with real interpreters, wheels and a running PostgreSQL are in
    # tests/operations/lab/test_{pip,postgresql}_ops.py; here, what a plain host says
    "pip.interpreter": (
        {"python": "/usr/bin/python3"},
        lambda v, r: v["version"].startswith("3.11.") and v["executable"].startswith("/usr/bin/python3"),
    ),
    "pip.outdated": ({"python": "/srv/no-venv/bin/python", "no_index": True}, lambda v, r: v is None),
    "pip.venv": ({"path": "/srv/fake-venv"}, lambda v, r: v["version"] == "3.11.2" and v["home"] == "/usr/bin"),
    "postgresql.cluster": ({"port": 5432}, lambda v, r: v is None),  # not installed: None, not an error
    "postgresql.password_verifiers": ({"port": 5432}, lambda v, r: v is None),
    "postgresql.query_rows": ({"sql": "SELECT 1", "database": "postgres", "port": 5432}, lambda v, r: v is None),
    "pip.packages": (
        {"python": "/usr/bin/python3"},
        lambda v, r: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    ),
    "server.arch": ({}, lambda v, r: v == "x86_64"),
    "server.command_status": ({"argv": ["sudo", "-n", "-u", "lab", "true"]}, lambda v, r: v == 0),
    "server.cpus": ({}, lambda v, r: isinstance(v, int) and v >= 1),
    "server.groups": ({}, lambda v, r: v["sudo"]["gid"] == 27 and v["lab"]["gid"] == 1000),
    "server.hostname": ({}, lambda v, r: v == "h01"),
    "server.kernel": ({}, lambda v, r: v["name"] == "Linux" and bool(v["release"])),
    "server.locales": ({}, lambda v, r: "C" in v and "POSIX" in v and v == sorted(v)),
    "server.memory": ({}, lambda v, r: v["MemTotal"] > 0),
    "server.os_release": ({}, lambda v, r: (v["ID"], v["VERSION_ID"]) == ("debian", "12")),
    "server.users": ({}, lambda v, r: v["lab"]["uid"] == 1000 and v["root"]["home"] == "/root"),
    "server.which": ({"command": "sshd"}, lambda v, r: v == "/usr/sbin/sshd"),
    "sysctl.value": ({"key": "kernel.hostname"}, lambda v, r: v == "h01"),
    "sysctl.values": ({"prefix": "kernel.ostype"}, lambda v, r: v == {"kernel.ostype": "Linux"}),
    "systemd.unit": ({"name": "ssh"}, lambda v, r: v is not None and v["load"] == "loaded"),
}


def test_every_builtin_fact_has_a_lab_case() -> None:
    load_builtin_facts()
    builtin = [name for name, spec in registered().items() if spec.module.startswith(BUILTIN_PREFIX)]
    assert sorted(builtin) == sorted(CASES)


def _bare_repository(root: Path) -> None:
    """/srv/remote.git on the host (made from the controller), one empty commit on main: for git.remote_ref."""
    import subprocess

    bare = root / "srv/remote.git"
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "--git-dir", str(bare)]
    if not bare.exists():
        bare.mkdir(parents=True)
        subprocess.run([*git, "init", "-q", "--bare", "-b", "main"], check=True)
        empty_tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        commit = subprocess.run(
            [*git, "commit-tree", "-m", "one", empty_tree], capture_output=True, text=True, check=True
        )
        subprocess.run([*git, "update-ref", "refs/heads/main", commit.stdout.strip()], check=True)


def _fake_venv(root: Path) -> None:
    """/srv/fake-venv/pyvenv.cfg as `python3 -m venv` writes it (the base has no python3-venv)."""
    venv = root / "srv/fake-venv"
    venv.mkdir(parents=True, exist_ok=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n")


PREPARE: dict[str, Callable[[Path], None]] = {"git.remote_ref": _bare_repository, "pip.venv": _fake_venv}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fact_on_a_lab_host(name: str, lab_fact: Callable[..., Any], lab_session: tuple[Any, Any]) -> None:
    args, check = CASES[name]
    _, host = lab_session
    if name in PREPARE:
        PREPARE[name](Path(host.data.lab_root))
    value = lab_fact(name, **args)
    assert check(value, Path(host.data.lab_root)), f"{name}({args}) = {value!r}"
