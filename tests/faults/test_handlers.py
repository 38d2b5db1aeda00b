"""Pending handler triggers survive edits of the handler; stale ones are reported and removed (issue 9, item 6)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faultlab import on, run, write

pytestmark = pytest.mark.lab

HANDLER = """\
from paracrine.operations import files, server

conf = files.file("/srv/hd/conf", content="port = 1\\n")
server.shell({command!r}, reload_on=[conf])
"""

NO_HANDLER = """\
from paracrine.operations import files

files.file("/srv/hd/conf", content="port = 1\\n")
"""


def pending(host: Any) -> list[str]:
    directory = on(host, "/var/lib/paracrine/pending")
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def test_a_handler_fixed_after_it_failed_still_runs(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1)
    site = write(tmp_path / "site.py", HANDLER.format(command="exit 1"))
    assert run(site, "-y").exit_code == 1  # the trigger changed, the handler failed
    assert len(pending(host)) == 1
    write(site, HANDLER.format(command="echo ran >> /srv/hd/ran.log"))  # the user fixes the handler
    assert run(site, "--check").exit_code == 2  # the fixed handler is pending: not "in sync"
    fixed = run(site, "-y")
    assert fixed.exit_code == 0, fixed.stderr
    assert on(host, "/srv/hd/ran.log").read_text() == "ran\n"
    assert pending(host) == []
    assert run(site, "-y").exit_code == 0
    assert on(host, "/srv/hd/ran.log").read_text() == "ran\n"  # and only once


def test_a_stale_trigger_is_reported_and_removed(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1)
    site = write(tmp_path / "site.py", HANDLER.format(command="exit 1"))
    assert run(site, "-y").exit_code == 1
    assert len(pending(host)) == 1
    write(site, NO_HANDLER)  # the handler left the deploy
    check = run(site, "--check")
    assert check.exit_code == 2
    assert "forget the pending trigger of \"server.shell('exit 1')\": its handler left the deploy" in check.stdout
    cleaned = run(site, "-y")
    assert cleaned.exit_code == 0, cleaned.stderr
    assert pending(host) == []
    assert run(site, "--check").exit_code == 0
