"""OpenSSH master connections (ssh_reuse, on by default) over real SSH to lab hosts.

A later run rides on the masters; a master that died (sshd restarted, process
killed, socket removed) never makes a run hang or fail; a changed host key is
checked, never bypassed through an old master; ``paracrine disconnect`` closes them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import paracrine.lab as lab
from paracrine import sshmux
from paracrine.connect import Session
from paracrine.hosts import Host, HostData
from paracrine.inventory import load_inventory
from paracrine.testing import invoke

pytestmark = pytest.mark.lab


@pytest.fixture
def sockets_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache directory of this test's own (short: the sockets' paths must fit 107 bytes)."""
    home = Path(tempfile.mkdtemp(prefix="pc-", dir="/tmp"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    yield home / "paracrine" / "ssh"
    sshmux.disconnect()  # this test's masters only: the directory is its own
    shutil.rmtree(home)


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _with(host: Host, **data: Any) -> Host:
    return Host(host.name, host.groups, HostData(host.name, {**host.data, **data}), host.source)


def _run(hosts: list[Host]) -> tuple[dict[str, str], dict[str, str], float]:
    """Connect and ask each host its name: (answers, one-line errors, seconds)."""
    start = time.monotonic()
    with Session() as session:
        session.connect(hosts)
        replies = session.call_all(_hostname, {name: () for name in session.contexts})
    answers = {name: outcome.value for name, outcome in replies.items() if outcome.ok}
    errors = {name: exc.format_line() for name, exc in session.failed.items()}
    return answers, errors, time.monotonic() - start


def _master_pids(directory: Path) -> dict[str, int]:
    """Socket name -> PID of the master answering on it (sockets nobody answers on are left out)."""
    pids = {}
    for socket in directory.iterdir() if directory.is_dir() else []:
        check = subprocess.run(
            ["ssh", "-o", f"ControlPath={socket}", "-O", "check", "x"], capture_output=True, text=True, check=False
        )
        found = re.search(r"pid=(\d+)", check.stderr)
        if found:
            pids[socket.name] = int(found[1])
    return pids


def _socket(host: Host) -> str:
    return sshmux.socket_name(host.connection())


def test_a_second_run_rides_on_the_masters_and_disconnect_closes_them(
    lab_hosts: Callable[[int], list[Any]], sockets_dir: Path
) -> None:
    lab_hosts(3)
    hosts = load_inventory("@lab/3").hosts
    answers, errors, _ = _run(hosts)
    assert (answers, errors) == ({"h01": "h01", "h02": "h02", "h03": "h03"}, {})
    masters = _master_pids(sockets_dir)
    assert sorted(masters) == sorted(_socket(h) for h in hosts)
    assert sockets_dir.stat().st_mode & 0o777 == 0o700
    answers, errors, _ = _run(hosts)
    assert (answers, errors) == ({"h01": "h01", "h02": "h02", "h03": "h03"}, {})
    assert _master_pids(sockets_dir) == masters  # the same masters, no new handshake

    result = invoke(["disconnect", "-i", "@lab/3", "--limit", "h01,h02"])
    assert (result.exit_code, result.stdout) == (0, f"closed 2 ssh master connections ({sockets_dir})\n")
    assert list(_master_pids(sockets_dir)) == [_socket(hosts[2])]
    result = invoke(["disconnect"])
    assert (result.exit_code, result.stdout) == (0, f"closed 1 ssh master connection ({sockets_dir})\n")
    assert _master_pids(sockets_dir) == {}
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() for pid in masters.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in masters.values())
    assert invoke(["disconnect"]).stdout == f"closed 0 ssh master connections ({sockets_dir})\n"


def test_reuse_off_leaves_no_master(lab_hosts: Callable[[int], list[Any]], sockets_dir: Path) -> None:
    lab_hosts(1)
    (host,) = load_inventory("@lab/1").hosts
    answers, errors, _ = _run([_with(host, ssh_reuse=False)])
    assert (answers, errors) == ({"h01": "h01"}, {})
    assert _master_pids(sockets_dir) == {}


def test_a_run_after_sshd_restarted_or_a_master_died_or_its_socket_went_reconnects(
    lab_hosts: Callable[[int], list[Any]], sockets_dir: Path
) -> None:
    lab_hosts(3)
    hosts = load_inventory("@lab/3").hosts
    assert _run(hosts)[1] == {}
    before = _master_pids(sockets_dir)
    h01, h02, h03 = (_socket(h) for h in hosts)
    lab.stop(["h01"])  # its sshd and every session, the master's too
    lab.up(3)
    os.kill(before[h02], signal.SIGKILL)  # a stale socket nobody answers on
    (sockets_dir / h03).unlink()  # the master lives on, unreachable
    answers, errors, seconds = _run(hosts)
    assert (answers, errors) == ({"h01": "h01", "h02": "h02", "h03": "h03"}, {})
    assert seconds < 60  # no hang (a timeout would also fail the messages above); a loaded machine is slow
    after = _master_pids(sockets_dir)
    assert sorted(after) == sorted([h01, h02, h03])
    assert all(after[name] != before[name] for name in after)
    os.kill(before[h03], signal.SIGTERM)  # the master whose socket was removed (no one else can end it)


def test_a_changed_host_key_fails_the_check_and_is_not_bypassed_through_an_old_master(
    lab_hosts: Callable[[int], list[Any]], sockets_dir: Path, tmp_path: Path
) -> None:
    lab_hosts(2)
    known = tmp_path / "known_hosts"  # the keys as they were: the hosts' current ones
    shutil.copy(load_inventory("@lab/2").hosts[0].data.ssh_known_hosts, known)
    hosts = [_with(h, ssh_known_hosts=str(known)) for h in load_inventory("@lab/2").hosts]
    assert _run(hosts)[1] == {}
    lab.fresh(["h01"])  # reinstalled: a new host key, and the old master died with the old sshd
    answers, errors, seconds = _run(hosts)
    assert answers == {"h02": "h02"}
    assert list(errors) == ["h01"]
    assert "host key of 127.0.0.1:" in errors["h01"] and "does not match the one in" in errors["h01"]
    assert seconds < 60  # no hang (a timeout would also fail the messages above); a loaded machine is slow
