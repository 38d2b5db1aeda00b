"""``--json`` follows paracrine/schemas/run.schema.json: plans, results, failures, sensitive and unreachable hosts."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import paracrine
from paracrine.testing import invoke

SCHEMA = json.loads((Path(paracrine.__file__).parent / "schemas" / "run.schema.json").read_text())

SITE = """\
from paracrine.operations import files, server

files.directory("/srv/js", mode=0o750)
files.file("/srv/js/a.conf", content="a = 1\\n", mode="0640")
files.file("/srv/js/secret", content="s3cret\\n", sensitive=True)
server.shell("touch /srv/js/ran")
files.file("/srv/js/after", content="after\\n")
server.shell("exit 4", title="fails", requires=[])
"""


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.lab
def test_plans_and_results_follow_the_schema(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    lab_hosts(2)
    site = tmp_path / "site.py"
    site.write_text(SITE)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f'lab = ["@lab/2"]\nother = [("gone", {{"ssh_hostname": "127.0.0.1", "ssh_port": {port}}})]\n')
    args = [str(site), "-i", str(inventory), "--state-dir", str(tmp_path / "state"), "--json"]
    for extra in (["--dry-run", "--diff"], ["-y"], ["-y"]):
        result = invoke([*args, *extra])
        doc = json.loads(result.stdout)
        jsonschema.validate(doc, SCHEMA)
        assert doc["schema_version"] == 1
        assert doc["hosts"]["gone"]["state"] == "unreachable"
        ops = {op["title"]: op for op in doc["hosts"]["h01"]["operations"]}
        assert ops["files.directory('/srv/js')"]["changes"] in (
            [],
            [{"kind": "mkdir", "path": "/srv/js", "mode": "0750", "owner": None, "group": None}],
        )
        secret = ops["files.file('/srv/js/secret')"]["changes"]
        assert all("content" not in c for c in secret) and "s3cret" not in result.stdout
        if extra[0] == "--dry-run":
            assert ops["files.file('/srv/js/a.conf')"]["changes"][0]["content"] == "a = 1\n"  # --diff: contents
        else:
            assert all("content" not in c for op in ops.values() for c in op["changes"])  # otherwise none
