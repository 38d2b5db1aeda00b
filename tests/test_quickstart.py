"""The quick start as a person meets it: sudo and a virtualenv, the lab key for the invoking user,
``lab inventory`` fed back to ``-i``, a lab host named without an inventory, ``facts -i INV`` for
every host, ``--cached`` for a value never cached.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from paracrine.errors import InventoryError, SetupError
from paracrine.inventory import load_inventory
from paracrine.lab.cli import lab as lab_cli
from paracrine.lab.paths import LabPaths
from paracrine.lab.state import LabHost, invoking_user, write_state
from paracrine.targets import select
from paracrine.testing import invoke

ROOT = Path(__file__).resolve().parent.parent
PARACRINE = ROOT / ".venv" / "bin" / "paracrine"


@pytest.fixture
def fake_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[LabHost]]:
    """``fake_lab("h01", "h02")``: a lab state directory listing these hosts (nothing runs)."""
    root = tmp_path / "lab"
    monkeypatch.setenv("PARACRINE_LAB_DIR", str(root))
    monkeypatch.setenv("PARACRINE_LAB_PORT_BASE", "39000")

    def make(*names: str) -> list[LabHost]:
        hosts = [
            LabHost(n, "127.0.0.1", 39000 + int(n[1:]), "lab", "root", True, f"{root}/state/id_ed25519",
                    f"{root}/state/known_hosts", f"{root}/hosts/{n}/root")
            for n in names
        ]  # fmt: skip
        (root / "state").mkdir(parents=True, exist_ok=True)
        document = {"hosts": [dataclasses.asdict(h) for h in hosts]}
        (root / "state" / "inventory.json").write_text(json.dumps(document))
        return hosts

    return make


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current directory without an inventory."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("PARACRINE_STATE_DIR", raising=False)
    return work


# ====================================================================== a name in no inventory


def test_a_bare_name_is_a_host_of_the_running_lab(fake_lab: Callable[..., list[LabHost]], elsewhere: Path) -> None:
    h01, _ = fake_lab("h01", "h02")
    (host,) = select(None, [], target="h01").hosts
    connection = host.connection()
    assert (host.name, connection.hostname, connection.port, connection.user) == ("h01", "127.0.0.1", h01.port, "lab")
    assert connection.key == h01.key and connection.known_hosts == h01.known_hosts and connection.become
    assert [h.name for h in select(None, [], target="h0*").hosts] == ["h01", "h02"]


@pytest.mark.parametrize("lab_hosts", [(), ("h01",)])
def test_a_lab_name_without_that_lab_host_is_a_clear_error(
    fake_lab: Callable[..., list[LabHost]], elsewhere: Path, lab_hosts: tuple[str, ...]
) -> None:
    fake_lab(*lab_hosts)
    with pytest.raises(InventoryError) as info:
        select(None, [], target="h03")
    state = "has no such host" if lab_hosts else "is not running"
    assert info.value.format_line() == (
        f"'h03' is in no inventory, and the lab {state}; start lab hosts with `paracrine lab up N`, "
        "or pass -i INVENTORY (`-i h03` for an SSH host of that name)"
    )


def test_facts_of_a_stopped_lab_name_fail_before_any_lookup(
    fake_lab: Callable[..., list[LabHost]], elsewhere: Path
) -> None:
    fake_lab()
    result = invoke(["facts", "h01"])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: 'h01' is in no inventory, and the lab is not running;")


def test_other_bare_names_are_ssh_hosts(fake_lab: Callable[..., list[LabHost]], elsewhere: Path) -> None:
    fake_lab("h01")
    (host,) = select(None, [], target="web1.example.com").hosts
    assert (host.name, host.connection().hostname) == ("web1.example.com", "web1.example.com")


def test_a_bare_name_limits_the_default_inventory(fake_lab: Callable[..., list[LabHost]], elsewhere: Path) -> None:
    fake_lab("h01")
    (elsewhere / "inventory.yaml").write_text("hosts:\n  h01: {ssh_port: 2222}\n  h02:\n")
    (host,) = select(None, [], target="h01").hosts
    assert host.connection().port == 2222  # the inventory's h01, not the lab's


def test_facts_cached_of_a_lab_name_needs_no_lab(fake_lab: Callable[..., list[LabHost]], elsewhere: Path) -> None:
    fake_lab()
    result = invoke(["facts", "h01", "--cached"])
    assert result.exit_code == 1
    assert result.stderr == "error: nothing ever cached on h01; run without --cached\n"


# ====================================================================== facts -i INV


def test_facts_with_an_inventory_and_no_target_shows_every_host(elsewhere: Path) -> None:
    (elsewhere / "inv.yaml").write_text("hosts:\n  '@local':\n")
    result = invoke(["facts", "-i", "inv.yaml"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[2].startswith("@local ")
    fact = invoke(["facts", "-i", "inv.yaml", "server.hostname"])  # no TARGET: the word is the fact
    assert fact.exit_code == 0, fact.stderr
    assert fact.stdout.splitlines()[2].split() == ["@local", os.uname().nodename]
    path = invoke(["facts", "-i", "inv.yaml", "files.path_info", "path=/", "--json"])
    assert json.loads(path.stdout)["@local"]["files.path_info"]["kind"] == "directory"


def test_facts_without_target_uses_the_default_inventory(elsewhere: Path) -> None:
    (elsewhere / "inventory.yaml").write_text("hosts:\n  '@local':\n")
    result = invoke(["facts", "server.arch", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["@local"]["server.arch"] == os.uname().machine
    everything = invoke(["facts", "all", "server.arch"])
    assert everything.exit_code == 0, everything.stderr


# ====================================================================== sudo and the lab key


def test_the_lab_key_belongs_to_the_user_who_ran_sudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to chown")
    paths = LabPaths(tmp_path)
    paths.cache.mkdir()
    paths.key.write_bytes(b"private\n")
    paths.key.chmod(0o600)
    paths.key.with_name("id_ed25519.pub").write_bytes(b"public\n")
    monkeypatch.setenv("SUDO_UID", "65534")
    monkeypatch.setenv("SUDO_GID", "65534")
    assert invoking_user() == (65534, 65534)
    write_state(paths, [])
    copy = (paths.state / "id_ed25519").stat()
    assert (copy.st_uid, copy.st_gid, copy.st_mode & 0o777) == (65534, 65534, 0o600)
    assert paths.key.stat().st_uid == 0  # the original stays root's
    monkeypatch.delenv("SUDO_UID")
    write_state(paths, [])
    assert (paths.state / "id_ed25519").stat().st_uid == 0


@pytest.mark.parametrize(("uid", "expected"), [("0", None), ("", None), ("x", None), ("1000", (1000, 1000))])
def test_invoking_user(monkeypatch: pytest.MonkeyPatch, uid: str, expected: object) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("SUDO_UID", uid)
    monkeypatch.setenv("SUDO_GID", "1000")
    assert invoking_user() == expected
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert invoking_user() is None


def test_the_root_hint_names_the_full_path_for_sudo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from paracrine.lab.tools import require_root

    program = tmp_path / "venv" / "bin" / "paracrine"
    monkeypatch.setattr(sys, "argv", [str(program), "lab", "up", "3"])
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SetupError) as info:
        require_root()
    assert info.value.hint == f"run it as root: sudo {program} lab up 3"


# ====================================================================== lab inventory -> -i


def test_lab_inventory_is_an_inventory_file(fake_lab: Callable[..., list[LabHost]], elsewhere: Path) -> None:
    hosts = fake_lab("h01", "h02")
    for args, name in ((["inventory"], "lab.yaml"), (["inventory", "--json"], "lab.json")):
        printed = CliRunner().invoke(lab_cli, args)
        assert printed.exit_code == 0, printed.output
        (elsewhere / name).write_text(printed.output)
        inventory = load_inventory(str(elsewhere / name))
        assert [h.name for h in inventory.hosts] == ["h01", "h02"]
        assert inventory.groups == ["lab"]
        connection = inventory.hosts[1].connection()
        assert (connection.port, connection.key, connection.become) == (hosts[1].port, hosts[1].key, True)
    assert yaml.safe_load((elsewhere / "lab.yaml").read_text()) == json.loads((elsewhere / "lab.json").read_text())


def paracrine(
    *args: str, user: int | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed ``paracrine`` command (optionally as another user), with the test lab's environment."""
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user is not None else []
    return subprocess.run(
        [*prefix, str(PARACRINE), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.lab
def test_lab_inventory_round_trip(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    lab_hosts(2)
    printed = paracrine("lab", "inventory")
    assert printed.returncode == 0, printed.stderr
    (tmp_path / "lab.yaml").write_text(printed.stdout)
    state = str(tmp_path / "state")
    facts = paracrine("facts", "-i", str(tmp_path / "lab.yaml"), "server.hostname", "--state-dir", state)
    assert facts.returncode == 0, facts.stderr
    assert [line.split() for line in facts.stdout.splitlines()[2:]] == [["h01", "h01"], ["h02", "h02"]]
    ran = paracrine("run", "-i", str(tmp_path / "lab.yaml"), "--limit", "lab", "--", "id", "-u")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["h01, h02: exit 0", "  0"]


@pytest.mark.lab
def test_a_lab_host_by_name(lab_hosts: Callable[[int], list[Any]], elsewhere: Path) -> None:
    lab_hosts(2)
    result = invoke(["facts", "h02", "server.hostname", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"h02": {"server.hostname": "h02"}}


@pytest.mark.lab
def test_the_user_who_ran_sudo_reaches_the_lab_without_sudo(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = 65534
    monkeypatch.setenv("SUDO_UID", str(nobody))
    monkeypatch.setenv("SUDO_GID", str(nobody))
    lab_hosts(1)  # `sudo paracrine lab up 1` by user 65534
    home = Path(tempfile.mkdtemp(prefix="paracrine-nobody-"))  # pytest's tmp_path is root's alone
    try:
        os.chown(home, nobody, nobody)
        env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "SUDO_UID": "", "SUDO_GID": ""}
        state = str(home / "state")
        for target in ("@lab/1", "h01"):
            result = paracrine("facts", target, "server.hostname", "--state-dir", state, user=nobody, env=env, cwd=home)
            assert result.returncode == 0, result.stderr
            assert result.stdout.splitlines()[2].split() == ["h01", "h01"]
        up = paracrine("lab", "up", "1", user=nobody, env=env, cwd=home)
        assert up.returncode == 4
        assert f"run it as root: sudo {PARACRINE} lab up 1" in up.stderr
    finally:
        shutil.rmtree(home)


def test_an_unwritable_fact_cache_is_one_warning_not_a_failure(elsewhere: Path) -> None:
    """After `sudo scripts/demo` the fact cache in ./.paracrine is root's; a user's run goes on without it."""
    (elsewhere / "state").mkdir()
    (elsewhere / "state" / "facts").write_text("not a directory\n")  # unwritable for root too
    result = invoke(["facts", "@local", "server.hostname", "--state-dir", str(elsewhere / "state")])
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"warning: cannot write the fact cache {elsewhere / 'state' / 'facts'}/@local.json")
    assert warnings[0].endswith("going on without it (--state-dir DIR or $PARACRINE_STATE_DIR puts it elsewhere)")
