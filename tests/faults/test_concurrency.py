"""Two runs against one host (issue 9, item 8) and Ctrl-C during a command (item 11).

* A run that applies holds the host's lock from its first fact call to its end: a
  second run waits for it (``--wait-lock``) and then plans against the first one's
  result, so no update is lost; without ``--wait-lock`` it stops with an error
  naming the holder.
* Interrupting a run ends the command it was running on the host, with everything
  that command started.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faultlab import host_commands, on, spawn, write

pytestmark = pytest.mark.lab

LINES = """\
from paracrine.operations import files, server

files.file("/srv/c/conf")
server.shell("sleep 2", creates="/srv/c/never")
{lines}
"""


def lines_deploy(tmp_path: Path, prefix: str) -> Path:
    body = "\n".join(f'files.line("/srv/c/conf", "{prefix}{i} = {i}")' for i in range(8))
    tmp_path.mkdir(exist_ok=True)
    site = write(tmp_path / f"{prefix}.py", LINES.replace("{lines}", body))
    site.with_name("inventory.py").write_text('lab = ["@lab/1"]\n')
    return site


def test_a_second_run_waits_for_the_first_and_no_update_is_lost(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    (host,) = lab_hosts(1)
    first = spawn(lines_deploy(tmp_path / "a", "a"), "-y")
    time.sleep(0.5)
    second = spawn(lines_deploy(tmp_path / "b", "b"), "-y", "--wait-lock", "60")
    _, err_a = first.communicate(timeout=120)
    _, err_b = second.communicate(timeout=120)
    assert first.returncode == 0, err_a
    assert second.returncode == 0, err_b
    assert "waiting up to 60 s for the run lock (paracrine pid" in err_b
    lines = on(host, "/srv/c/conf").read_text().splitlines()
    assert sorted(lines) == sorted([f"a{i} = {i}" for i in range(8)] + [f"b{i} = {i}" for i in range(8)])


def test_a_second_run_without_wait_lock_stops_and_names_the_holder(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    (host,) = lab_hosts(1)
    first = spawn(lines_deploy(tmp_path / "a", "a"), "-y")
    time.sleep(1.0)
    second = spawn(lines_deploy(tmp_path / "b", "b"), "-y")
    _, err_b = second.communicate(timeout=120)
    first.communicate(timeout=120)
    assert second.returncode == 1
    errors = [line for line in err_b.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: h01: another run holds the host's lock (paracrine pid")
    assert errors[0].endswith("; wait for it to finish, or pass --wait-lock SECONDS")
    assert first.returncode == 0
    assert not [line for line in on(host, "/srv/c/conf").read_text().splitlines() if line.startswith("b")]


def test_a_dry_run_does_not_wait_for_the_lock(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    lab_hosts(1)
    first = spawn(lines_deploy(tmp_path / "a", "a"), "-y")
    time.sleep(1.0)
    check = spawn(lines_deploy(tmp_path / "b", "b"), "--check")
    check.communicate(timeout=60)
    assert check.returncode == 2  # it planned (changes pending) without taking the lock
    first.communicate(timeout=120)
    assert first.returncode == 0


SLOW_COMMAND = """\
from paracrine.operations import files, server

files.directory("/srv/int")
server.shell("sleep 6; touch /srv/int/late")
"""


def test_ctrl_c_ends_the_command_running_on_the_host(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1)
    site = write(tmp_path / "site.py", SLOW_COMMAND)
    proc = spawn(site, "-y")
    deadline = time.monotonic() + 20
    while not any("sleep 6" in c for c in host_commands(host)):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    deadline = time.monotonic() + 5
    while any("sleep 6" in c for c in host_commands(host)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any("sleep 6" in c for c in host_commands(host))
    time.sleep(6)
    assert not on(host, "/srv/int/late").exists()
