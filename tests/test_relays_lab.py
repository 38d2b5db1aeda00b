"""Relays on real lab hosts over real SSH (paracrine/relays.py).

* a deploy through 2 relays gives every host the same ``--json`` report as a direct run
  (timings aside), and a zero-change run through relays is one fact round trip per host;
* a wrong or unknown host key behind a relay fails with the same line and exit code as directly;
* a relay that dies mid-run leaves the hosts behind it unreachable and the others finish;
* no private key ever lands on a relay (the agent is forwarded, and stopped once connected).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "faults"))

from faultlab import host_commands, on, run, write

import paracrine.lab as lab
from paracrine.connect import Session
from paracrine.inventory import lab_host_data
from paracrine.targets import select
from paracrine.testing import invoke

pytestmark = pytest.mark.lab

SITE = """\
import os

from paracrine import host
from paracrine.operations import files, server

files.directory("/srv/relayed", mode=0o750)
files.put(os.environ["RELAY_BIG_FILE"], "/srv/relayed/big.bin")  # over 256 KiB: streamed from the controller
conf = files.file("/srv/relayed/app.conf", content=f"name = {host.name}\\n", mode=0o640)
server.shell("echo reloaded >> /srv/relayed/reloads", reload_on=[conf])
files.line("/etc/workload.conf", "relayed_option = 1")
"""

TIMINGS = ("connect", "facts", "plan", "apply")


def _report(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    report.pop("timings")
    for row in report["summary"]:
        for key in TIMINGS:
            row.pop(key)
    for host in report["hosts"].values():
        for operation in host["operations"]:
            for outcome in (operation["result"] or {}).get("changes", []):
                outcome.pop("duration", None)
    return report


def test_a_deploy_through_two_relays_reports_what_a_direct_one_does(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab_hosts(6)
    site = write(tmp_path / "site.py", SITE)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 20))
    monkeypatch.setenv("RELAY_BIG_FILE", str(big))
    direct = _report(run(site, "-y", "--json", inventory="@lab/6"))
    hosts = lab_hosts(6)  # fresh again
    shutil.rmtree(tmp_path / "state")  # and no fact cache: the same first run
    relayed = _report(run(site, "-y", "--json", "--relays", "2", inventory="@lab/6"))
    assert relayed == direct, _difference(relayed, direct)
    assert all(h["state"] == "done" for h in relayed["hosts"].values())
    assert on(hosts[4], "/srv/relayed/app.conf").read_text() == "name = h05\n"
    assert on(hosts[5], "/srv/relayed/big.bin").read_bytes() == big.read_bytes()

    again = _report(run(site, "--json", "--relays", "2", inventory="@lab/6"))
    assert again["round_trips"]["facts"] == 1 and again["round_trips"]["apply"] == 0
    assert again["round_trips"]["per_host"] == {h.name: 1 for h in hosts}
    assert {row["changed"] for row in again["summary"]} == {0}

    # It really went through relays: h01 and h04 carry the others, each on lanes they started.
    inventory = select("@lab/6", [], relays=2)
    with Session() as session:
        session.connect(inventory.hosts, resolve=inventory.resolve)
        names = {name: context.name for name, context in session.contexts.items()}
    assert names["h01"] == "h01" and names["h04"] == "h04"
    for name, relay in (("h02", "h01"), ("h03", "h04"), ("h05", "h01"), ("h06", "h04")):
        assert names[name].startswith(f"{relay}.{relay}.lane"), names


def _difference(a: Any, b: Any, path: str = "") -> str:
    """Where two JSON values first differ (for the assertion message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                return _difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _difference(x, y, f"{path}[{i}]")
    return f"{path}: {a!r} != {b!r}"


def _inventory(path: Path, hosts: list[Any], **per_host: dict[str, Any]) -> Path:
    data = {"hosts": {h.name: {**lab_host_data(h), **per_host.get(h.name, {})} for h in hosts}}
    path.write_text(json.dumps(data))
    return path


def _wrong_key_file(tmp_path: Path, hosts: list[Any], victim: str) -> Path:
    """A known_hosts file in which ``victim``'s key is another one (what a man in the middle shows)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other = (tmp_path / "other.pub").read_text().split()[1]
    lines = []
    for line in Path(hosts[0].known_hosts).read_text().splitlines():
        port = next(h.port for h in hosts if h.name == victim)
        lines.append(f"{line.split()[0]} ssh-ed25519 {other}" if line.startswith(f"[127.0.0.1]:{port} ") else line)
    path = tmp_path / "wrong_known_hosts"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("case", ["changed", "unknown"])
def test_a_wrong_host_key_behind_a_relay_fails_as_it_does_directly(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path, case: str
) -> None:
    hosts = lab_hosts(3)
    if case == "changed":
        known = _wrong_key_file(tmp_path, hosts, "h03")
    else:
        known = tmp_path / "empty_known_hosts"
        known.write_text("")
    bad = {"ssh_known_hosts": str(known)}
    direct = _inventory(tmp_path / "direct.json", hosts, h03=bad)
    relayed = _inventory(tmp_path / "relayed.json", hosts, h03={**bad, "via": "h01"}, h02={"via": "h01"})
    results = [invoke(["run", "-i", str(inv), "--", "true"]) for inv in (direct, relayed)]
    lines = [[line for line in r.stderr.splitlines() if "h03" in line] for r in results]
    assert [r.exit_code for r in results] == [1, 1]
    assert lines[0] == lines[1], lines
    expected = "does not match the one in" if case == "changed" else "is unknown (not in"
    assert len(lines[0]) == 1 and expected in lines[0][0], lines
    assert "h02: exit 0" in results[1].stdout  # the relay itself and the other host behind it are fine


SLOW = """\
from paracrine.operations import files, server

files.directory("/srv/l")
server.shell("sleep 6; echo slept > /srv/l/slept")
files.file("/srv/l/after", content="after\\n")
"""


def test_a_relay_that_dies_mid_run_loses_its_hosts_and_the_others_finish(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    hosts = lab_hosts(4)
    alive = {"ssh_alive_interval": 1, "ssh_alive_count": 2}
    inventory = _inventory(
        tmp_path / "inventory.json",
        hosts,
        h01=alive,
        h02={**alive, "via": "h01"},
        h03={**alive, "via": "h01"},
        h04=alive,
    )
    site = write(tmp_path / "site.py", SLOW)

    def kill_relay_once_the_command_runs() -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if any("sleep 6" in c for c in host_commands(hosts[2])):
                lab.stop(["h01"])
                return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_relay_once_the_command_runs)
    killer.start()
    try:
        result = run(site, "-y", inventory=str(inventory))
    finally:
        killer.join()
    assert result.exit_code == 1, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith("h0")}
    for name in ("h01", "h02", "h03"):
        assert rows[name][1] == "unreachable", result.stdout
    assert rows["h04"][1] == "done", result.stdout
    assert on(hosts[3], "/srv/l/slept").read_text() == "slept\n"
    assert on(hosts[3], "/srv/l/after").read_text() == "after\n"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3 and all("lost the connection" in line for line in errors), errors


def test_no_private_key_reaches_a_relay(lab_hosts: Callable[[int], list[Any]]) -> None:
    hosts = lab_hosts(3)
    private = Path(hosts[0].key).read_text().splitlines()[1]  # a line of the key's base64 body
    inventory = select("@lab/3", [], relays=1)
    with Session() as session:
        session.connect(inventory.hosts, resolve=inventory.resolve)
        assert session.failed == {}
        relay = session.relays.relays["h01"]
        assert relay.directory is not None
        copied = Path(on(hosts[0], relay.directory))
        assert copied.stat().st_mode & 0o777 == 0o700
        texts = [p.read_text() for p in copied.iterdir()]
        assert texts and all("ssh-ed25519" in t and "PRIVATE" not in t for t in texts)
        assert session.relays._agent is None  # stopped once every host was connected
    places = [str(on(hosts[0], p)) for p in ("/tmp", "/var/tmp", "/home", "/root")]
    found = subprocess.run(["grep", "-rlF", private, *places], capture_output=True, text=True, check=False)
    assert found.stdout == "", found.stdout
    assert not copied.exists()  # removed at the end of the run
