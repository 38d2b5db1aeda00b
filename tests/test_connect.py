"""Connections over real SSH to lab hosts: parallel connects, sudo, isolation, failures, shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import paracrine.lab as lab
from paracrine.connect import Session
from paracrine.hosts import Host, HostData
from paracrine.inventory import Inventory, load_inventory
from paracrine.testing import invoke

pytestmark = pytest.mark.lab


def _write(path: str, text: str) -> None:
    with open(path, "w") as stream:
        stream.write(text)


def _identity() -> list[Any]:
    import os
    import socket

    return [socket.gethostname(), os.getuid(), os.getpid()]


def _lab_sshd_pids() -> set[int]:
    """The controller PIDs of this test lab's sshds (each host's PID 1)."""
    return {pid for _name, _port, running, pid in lab.status() if running and pid is not None}


def _mitogen_processes() -> list[str]:
    """Target interpreters started by Mitogen for Paracrine on this test lab's hosts (visible from the
    controller): only those below the lab's sshds, so other jobs' runs on this machine do not count."""
    parents: dict[int, int] = {}
    lines: dict[int, bytes] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        parents[int(pid)] = int(stat.rsplit(")", 1)[1].split()[1])
        if b"mitogen:paracrine" in cmdline or b"(mitogen:" in cmdline:
            lines[int(pid)] = cmdline
    roots, found = _lab_sshd_pids(), []
    for pid, cmdline in lines.items():
        ancestor, seen = parents.get(pid), 0
        while ancestor and ancestor not in roots and seen < 64:
            ancestor, seen = parents.get(ancestor), seen + 1
        if ancestor in roots:
            found.append(cmdline.decode(errors="replace"))
    return sorted(found)


def _with(host: Host, **data: Any) -> Host:
    merged = dict(host.data)
    merged.update(data)
    return Host(host.name, host.groups, HostData(host.name, merged), host.source)


def test_parallel_connect_with_sudo_gives_each_host_its_own_identity(lab_hosts: Callable[[int], list[Any]]) -> None:
    lab_hosts(3)
    inventory = load_inventory("@lab/3")
    with Session() as session:
        session.connect(inventory.hosts)
        assert session.failed == {}
        replies = session.call_all(_identity, {h.name: () for h in inventory.hosts})
    identities = {name: outcome.value for name, outcome in replies.items()}
    assert {name: value[:2] for name, value in identities.items()} == {
        "h01": ["h01", 0],
        "h02": ["h02", 0],
        "h03": ["h03", 0],
    }
    assert dict(session.round_trips) == {"h01": 1, "h02": 1, "h03": 1}


def test_a_file_written_on_one_host_is_absent_on_the_others(lab_hosts: Callable[[int], list[Any]]) -> None:
    lab_hosts(3)
    inventory = load_inventory("@lab/3")
    path = f"/root/paracrine-test-{uuid.uuid4().hex}"
    with Session() as session:
        session.connect(inventory.hosts)
        session.call("h01", _write, path, "only here")
        seen = session.call_all(os.path.exists, {h.name: (path,) for h in inventory.hosts})
    assert {name: outcome.value for name, outcome in seen.items()} == {"h01": True, "h02": False, "h03": False}


def test_a_stopped_host_is_reported_unreachable_and_the_others_work(lab_hosts: Callable[[int], list[Any]]) -> None:
    lab_hosts(3)
    inventory = load_inventory("@lab/3")
    lab.stop(["h02"])
    with Session() as session:
        session.connect(inventory.hosts)
        assert sorted(session.contexts) == ["h01", "h03"]
        replies = session.call_all(_identity, {h.name: () for h in inventory.hosts})
    error = session.failed["h02"].format_line()
    assert error.startswith("h02: unreachable: connection refused by 127.0.0.1:")
    assert "\n" not in error
    assert {name: outcome.value[0] for name, outcome in replies.items()} == {"h01": "h01", "h03": "h03"}


def test_each_failure_kind_has_a_one_line_reason(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    lab_hosts(1)
    (host,) = load_inventory("@lab/1").hosts
    wrong_key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong_key)], check=True)
    wrong_known = tmp_path / "known_hosts"
    pub = (tmp_path / "other_key.pub").read_text().split()
    wrong_known.write_text(f"[127.0.0.1]:{host.data.ssh_port} {pub[0]} {pub[1]}\n")
    empty_known = tmp_path / "empty_known_hosts"
    empty_known.write_text("")
    open_key = tmp_path / "open_key"
    open_key.write_bytes(Path(host.data.ssh_key).read_bytes())
    open_key.chmod(0o644)
    changed = f"does not match the one in {wrong_known}: the host was reinstalled, or someone is in between"
    cases = {
        "badkey": (_with(host, ssh_key=str(wrong_key)), "authentication failed for user lab"),
        "hostkey": (_with(host, ssh_known_hosts=str(wrong_known)), changed),
        "newhost": (_with(host, ssh_known_hosts=str(empty_known)), "is unknown (not in"),
        "openkey": (_with(host, ssh_key=str(open_key)), "is readable by other users (mode 0644), so ssh refuses"),
        "nopython": (_with(host, python="/usr/bin/python9"), "no Python interpreter at /usr/bin/python9"),
        "nouser": (_with(host, ssh_user="nobody-here"), "authentication failed for user nobody-here"),
    }
    hosts = [Host(name, (), h.data, "") for name, (h, _) in cases.items()]
    with Session() as session:
        session.connect(hosts)
    for name, (_, expected) in cases.items():
        line = session.failed[name].format_line()
        assert expected in line, line
        assert "\n" not in line


def test_jump_host_via_another_inventory_host(lab_hosts: Callable[[int], list[Any]]) -> None:
    lab_hosts(2)
    # The jump host runs ssh itself, with the forwarded agent and a copy of the controller's host keys
    # (nothing needs copying to it beforehand; see tests/test_relays_lab.py).
    h01, h02 = load_inventory("@lab/2").hosts
    jumped = _with(h02, via="h01")
    inventory = Inventory([h01, jumped])
    with Session() as session:
        session.connect([jumped], resolve=inventory.get)
        assert session.failed == {}
        assert session.call("h02", _identity)[:2] == ["h02", 0]


def test_sessions_leave_no_processes_behind(lab_hosts: Callable[[int], list[Any]]) -> None:
    lab_hosts(3)
    inventory = load_inventory("@lab/3")
    before = _mitogen_processes()
    with Session() as session:
        session.connect(inventory.hosts)
        assert len(_mitogen_processes()) >= len(before) + 3
    deadline = time.monotonic() + 5
    while _mitogen_processes() != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _mitogen_processes() == before


def test_ctrl_c_during_a_run_exits_130_and_leaves_nothing(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    lab_hosts(3)
    (tmp_path / "slowfacts.py").write_text(
        "import time\nfrom paracrine.fact import fact\n\n@fact\ndef slow() -> int:\n    time.sleep(60)\n    return 1\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    before = _mitogen_processes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "paracrine", "facts", "@lab/3", "slowfacts.slow"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while len(_mitogen_processes()) < len(before) + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the hosts are now sleeping inside the fact
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    deadline = time.monotonic() + 5
    while _mitogen_processes() != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _mitogen_processes() == before


def test_twenty_hosts_connect_in_parallel_and_the_time_is_printed(lab_hosts: Callable[[int], list[Any]]) -> None:
    lab_hosts(20)
    result = invoke(["facts", "@lab/20", "server.hostname"])
    assert result.exit_code == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()[2:]]
    assert names == [f"h{i:02d}" for i in range(1, 21)]
    assert "20/20 hosts: connect " in result.stderr
