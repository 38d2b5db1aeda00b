"""Losing one host mid-apply (killed or frozen) fails that host only (issue 9, item 3).

The other hosts finish every stage and every host is reported: the lost one as
``unreachable`` in its row, with a one-line error.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faultlab import on, run, signal_host, thaw, write

import paracrine.lab as lab

pytestmark = pytest.mark.lab

SLOW = """\
from paracrine.operations import files, server

files.directory("/srv/l")
server.shell("sleep 4; echo slept > /srv/l/slept")
files.file("/srv/l/after", content="after\\n")
"""

INVENTORY = """\
lab = ["@lab/3"]
group_data = {"lab": {"ssh_alive_interval": 1, "ssh_alive_count": 2}}
"""


def summary_row(stdout: str, name: str) -> list[str]:
    return next(line.split() for line in stdout.splitlines() if line.startswith(name + " "))


def when_applying(host: Any, action: Callable[[], Any]) -> threading.Thread:
    """Run ``action`` once ``host`` is in its apply stage (its first directory exists), not after a fixed delay.

    A cold connection's time varies with the machine's load (and a new master connection with ssh's
    post-quantum key exchange takes longer than the old classic one), so a timer could fire mid-connect.
    """

    def wait_then_act() -> None:
        deadline = time.monotonic() + 60
        while not on(host, "/srv/l").is_dir() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # into the 4 s command
        action()

    thread = threading.Thread(target=wait_then_act)
    thread.start()
    return thread


def check_others_finished(hosts: list[Any], result: Any) -> None:
    for host in (hosts[0], hosts[2]):
        assert on(host, "/srv/l/slept").read_text() == "slept\n", host.name
        assert on(host, "/srv/l/after").read_text() == "after\n", host.name  # the stage after the command ran too
        assert summary_row(result.stdout, host.name)[1] == "done"


def test_a_host_killed_mid_apply_is_unreachable_and_the_others_finish(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    hosts = lab_hosts(3)
    site = write(tmp_path / "site.py", SLOW)
    write(tmp_path / "inventory.py", INVENTORY)
    killer = when_applying(hosts[1], lambda: lab.stop(["h02"]))
    try:
        result = run(site, "-y", inventory=str(tmp_path / "inventory.py"))
    finally:
        killer.join()
    assert result.exit_code == 1, result.stderr
    assert "internal error" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: h02: lost the connection while applying changes: the connection was lost during the call"]
    assert summary_row(result.stdout, "h02")[1:6] == ["unreachable", "0", "0", "0", "0"]
    check_others_finished(hosts, result)


def test_a_frozen_host_is_declared_lost_by_keepalives_and_the_others_finish(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    hosts = lab_hosts(3)
    site = write(tmp_path / "site.py", SLOW)
    write(tmp_path / "inventory.py", INVENTORY)
    freezer = when_applying(hosts[1], lambda: signal_host(hosts[1], signal.SIGSTOP))
    started = time.monotonic()
    try:
        result = run(site, "-y", inventory=str(tmp_path / "inventory.py"))
    finally:
        freezer.join()
        thaw(hosts[1])
    assert time.monotonic() - started < 30  # ssh_alive_interval 1 s x 2: lost within seconds
    assert result.exit_code == 1, result.stderr
    assert summary_row(result.stdout, "h02")[1] == "unreachable"
    assert any(line.startswith("error: h02: lost the connection") for line in result.stderr.splitlines())
    check_others_finished(hosts, result)
