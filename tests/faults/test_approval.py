"""What the user approves is exactly what runs (issue 9, items 1 and 5), on a real lab host.

* A guard command that left the deploy never runs again, not even through the fact
  list remembered in the state directory, and a hostile entry put there never runs.
* ``--dry-run`` and ``--check`` change nothing.
* Operations planned after a command whose effect cannot be predicted are shown
  before the prompt with what they would do, and every applied change is listed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faultlab import on, run, write

pytestmark = pytest.mark.lab

GUARDED = """\
from paracrine.operations import files, server

files.directory("/srv/g")
server.shell("true", unless="echo ran >> /root/guard.log; exit 1")
"""

UNGUARDED = """\
from paracrine.operations import files, server

files.directory("/srv/g")
server.shell("true", creates="/etc/hostname")
"""


def test_a_removed_guard_never_runs_again(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1)
    site = write(tmp_path / "site.py", GUARDED)
    assert run(site, "-y").exit_code == 0
    log = on(host, "/root/guard.log")
    assert log.read_text() == "ran\n"  # asked for by this deploy: ran once, in the fact round
    keys = (tmp_path / "state" / "facts" / "h01.keys.json").read_text()
    assert "server.command_status" in keys and "guard.log" not in keys  # remembered by name, not by command
    write(site, UNGUARDED)
    for args in (["--dry-run"], ["--check"], ["-y"], ["--dry-run", "--diff"]):
        result = run(site, *args)
        assert result.exit_code == 0, (args, result.stderr)
        assert log.read_text() == "ran\n", args  # the remembered fact list did not run it


def test_the_state_directory_cannot_make_a_target_run_a_command(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    (host,) = lab_hosts(1)
    site = write(tmp_path / "site.py", UNGUARDED)
    assert run(site, "-y").exit_code == 0
    keys_file = tmp_path / "state" / "facts" / "h01.keys.json"
    doc = json.loads(keys_file.read_text())
    (deploy_id,) = doc
    doc[deploy_id] += [
        ["server.command_status", {"argv": ["sh", "-c", "echo pwned > /srv/g/pwned"]}, None],
        ["os.system", {"command": "echo pwned > /srv/g/pwned2"}, None],
        ["files.lines", {"path": "/etc/shadow", "max_bytes": 1048576}, None],
    ]
    keys_file.write_text(json.dumps(doc))
    for args in (["--check"], ["-y"]):
        assert run(site, *args).exit_code == 0, args
    assert not on(host, "/srv/g/pwned").exists() and not on(host, "/srv/g/pwned2").exists()
    cache = (tmp_path / "state" / "facts" / "h01.json").read_text()
    assert "root:" not in cache  # /etc/shadow's lines were read (a plain read) but never cached


def test_dry_run_and_check_change_nothing(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1)
    site = write(
        tmp_path / "site.py",
        """\
        from paracrine.operations import files, server

        files.directory("/srv/d")
        files.file("/srv/d/a", content="a\\n")
        server.shell("touch /srv/d/shell-ran")
        files.file("/srv/d/b", content="b\\n")
        """,
    )
    for args in (["--dry-run"], ["--check"], ["--dry-run", "--diff", "-v"], ["--json"]):
        result = run(site, *args)
        assert result.exit_code in (0, 2, 3), (args, result.stderr)
        assert not on(host, "/srv/d").exists(), args
    assert not list(on(host, "/var/lib").glob("paracrine/pending/*"))


PREVIEW = """\
from paracrine.operations import files, server

files.directory("/srv/p")
server.shell("echo hello > /srv/p/shell.out")
files.file("/srv/p/after.conf", content="after = 1\\n", mode=0o640)
files.directory("/srv/p/sub")
"""


def test_operations_after_a_command_are_shown_before_the_prompt_and_listed_when_applied(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    (host,) = lab_hosts(1)
    site = write(tmp_path / "site.py", PREVIEW)
    plan = run(site, "--dry-run", "--diff")
    assert plan.exit_code == 0, plan.stderr
    assert "4 of 4 operations to change; 2 planned again after earlier changes" in plan.stdout
    after = plan.stdout.split("server.shell('echo hello > /srv/p/shell.out')", 1)[1]
    assert "files.file('/srv/p/after.conf')" in after and "after earlier changes" in after
    assert "write /srv/p/after.conf (10 bytes, mode 0640)" in after
    assert "+after = 1" in after  # its diff: the new content does not depend on the command
    assert "create directory /srv/p/sub" in after
    report = json.loads(run(site, "--json").stdout)
    ops = report["hosts"]["h01"]["operations"]
    assert [(o["title"], o["status"], o["after_earlier_changes"]) for o in ops][2:] == [
        ("files.file('/srv/p/after.conf')", "change", True),
        ("files.directory('/srv/p/sub')", "change", True),
    ]
    applied = run(site, "-y")
    assert applied.exit_code == 0, applied.stderr
    listed = applied.stdout.split("applied:", 1)[1]
    for line in ("run sh -c 'echo hello > /srv/p/shell.out'", "write /srv/p/after.conf", "create directory /srv/p/sub"):
        assert line in listed
    assert on(host, "/srv/p/after.conf").read_text() == "after = 1\n"
    assert run(site, "--check").exit_code == 2  # the unguarded command always runs
