"""Secrets stay off the controller's disk and off the screen (issue 9, item 7), on a real lab host."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faultlab import on, run, write

from paracrine.inventory import load_inventory
from paracrine.testing import invoke

pytestmark = pytest.mark.lab

SHADOW_LINE = "app:$6$SALTSALT$0123456789abcdefSECRETHASH:19000:0:99999:7:::"

EDIT = """\
from paracrine.operations import files

files.line("/srv/s/shadow", "extra:x:1:0:99999:7:::")
"""


def test_file_contents_never_reach_the_fact_cache(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1)
    shadow = on(host, "/srv/s/shadow")
    shadow.parent.mkdir(parents=True)
    shadow.write_text(SHADOW_LINE + "\n")
    shadow.chmod(0o600)
    site = write(tmp_path / "site.py", EDIT)
    diff = run(site, "--dry-run", "--diff")
    assert diff.exit_code == 0, diff.stderr
    assert "+extra:x:1:0:99999:7:::" in diff.stdout  # the diff shows the file (no sensitive= here) ...
    assert run(site, "-y").exit_code == 0
    assert run(site, "--check").exit_code == 0
    state = tmp_path / "state"
    on_disk = "".join(p.read_text() for p in state.rglob("*") if p.is_file())
    assert "SECRETHASH" not in on_disk and "extra:x:1" not in on_disk  # ... but never stores it


SENSITIVE = """\
from paracrine import host
from paracrine.operations import files, server

files.file("/srv/s/token", content="TOPSECRET-TOKEN-1\\n", mode=0o600, sensitive=True)
files.template("app.conf.j2", "/srv/s/app.conf")
server.shell("echo TOPSECRET-CMD-2 > /srv/s/cmd.out", sensitive=True)
server.shell(["sh", "-c", "echo failing >&2; exit 3"], title="fails quietly", sensitive=True, ignore_errors=True)
"""

INVENTORY = """\
from paracrine.secret import Secret

lab = ["@lab/1"]
group_data = {"lab": {"db_password": Secret("hunter2-DB-PASSWORD")}}
"""


def test_sensitive_operations_and_secret_host_data_are_masked_everywhere(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    (host,) = lab_hosts(1)
    site = write(tmp_path / "site.py", SENSITIVE)
    write(tmp_path / "app.conf.j2", "password = {{ db_password }}\n")
    inventory = str(write(tmp_path / "inventory.py", INVENTORY))
    outputs, json_plan = [], ""
    for args in (["--dry-run", "--diff", "-v"], ["--json"], ["-y", "-v"], ["--json", "-y"]):
        result = run(site, *args, inventory=inventory)
        outputs.append(result.stdout + result.stderr)
        json_plan = json_plan or (result.stdout if args == ["--json"] else "")
    shown = "\n".join(outputs)
    for secret in ("TOPSECRET-TOKEN-1", "TOPSECRET-CMD-2", "hunter2-DB-PASSWORD", "failing"):
        assert secret not in shown, secret
    assert "***" in shown
    assert "fails quietly" in shown  # the failure itself is reported, without its output
    assert on(host, "/srv/s/token").read_text() == "TOPSECRET-TOKEN-1\n"  # masked on screen, applied on the host
    assert on(host, "/srv/s/app.conf").read_text() == "password = hunter2-DB-PASSWORD\n"
    assert on(host, "/srv/s/cmd.out").read_text() == "TOPSECRET-CMD-2\n"
    on_disk = "".join(p.read_text() for p in (tmp_path / "state").rglob("*") if p.is_file())
    assert "hunter2" not in on_disk and "TOPSECRET" not in on_disk
    report = json.loads(json_plan)
    ops = {op["title"]: op for op in report["hosts"]["h01"]["operations"]}
    assert ops["files.file('/srv/s/token')"]["sensitive"] is True
    assert ops["server.shell(***)"]["changes"][0]["argv"] == ["***"]


def test_a_password_of_the_wrong_type_is_never_echoed(tmp_path: Path) -> None:
    inventory = write(tmp_path / "inventory.yaml", "hosts:\n  web1: {become: true, become_password: 98127364}\n")
    site = write(tmp_path / "site.py", "from paracrine.operations import files\n")
    result = invoke([str(site), "-i", str(inventory), "--dry-run"])
    assert result.exit_code == 3
    assert "98127364" not in result.stdout + result.stderr
    assert "become_password must be str, got int; quote it in the inventory" in result.stderr
    with pytest.raises(Exception) as info:
        load_inventory(str(inventory))
    assert "98127364" not in str(info.value)
