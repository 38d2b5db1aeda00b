"""Relays in the inventory (paracrine/relays.py): ``via`` checked when an inventory is built, with the
file:line that set it, and ``--relays N`` picking relays and spreading the other hosts over them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from inventory_helpers import load, load_error, write

from paracrine.connect import Session
from paracrine.errors import ConnectError, InventoryError
from paracrine.inventory import load_inventory
from paracrine.relays import RelayHub, assign
from paracrine.targets import select
from paracrine.testing import invoke

YAML_GOOD = """\
hosts:
  r1:
  r2:
  web1:
  web2: {via: r2}
groups:
  web:
    hosts: [web1, web2]
    data: {via: r1}
"""


def test_via_at_group_and_host_level(tmp_path: Path) -> None:
    inv = load(tmp_path, "inventory.yaml", YAML_GOOD)
    assert {h.name: h.connection().via for h in inv} == {"r1": None, "r2": None, "web1": "r1", "web2": "r2"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "hosts:\n  relay1:\n  web1:\n    port: 1\n    via: relay9\n",
            "web1 [{path}:5]: via 'relay9' is not a host of this inventory; did you mean 'relay1'?",
            id="unknown",
        ),
        pytest.param(
            "hosts:\n  web1: {via: web1}\n",
            "web1 [{path}:2]: via 'web1' names the host itself; a relay must be another host of the inventory",
            id="itself",
        ),
        pytest.param(
            "hosts:\n  a: {via: b}\n  b: {via: a}\n",
            "a [{path}:2]: via 'b' leads in a loop (a -> b -> a); a relay must be reached directly",
            id="loop",
        ),
        pytest.param(
            "hosts:\n  a:\n  b: {via: a}\n  c:\ngroups:\n  far:\n    hosts: [c]\n    data:\n      via: b\n",
            "c [{path}:9]: via 'b': b is itself reached via 'a'; relays are one level deep; "
            "a relay must be reached directly: remove via from b",
            id="two-levels-from-a-group",
        ),
        pytest.param(
            "defaults:\n  via: r1\nhosts:\n  r1: {via: r1}\n  web1:\n",
            "r1 [{path}:4]: via 'r1' names the host itself; a relay must be another host of the inventory",
            id="defaults-overridden",
        ),
        pytest.param(
            "hosts:\n  r1:\n  web1: {via: r1, ssh_host_keys: accept}\n",
            "web1 [{path}:3]: ssh_host_keys: accept does not work through relay 'r1'",
            id="accept",
        ),
    ],
)
def test_bad_via_in_yaml_is_one_line_with_its_line(tmp_path: Path, text: str, expected: str) -> None:
    line = load_error(tmp_path, "inventory.yaml", text)
    assert line.startswith(expected.format(path=tmp_path / "inventory.yaml")), line


def test_bad_via_in_python_names_its_line(tmp_path: Path) -> None:
    text = 'defaults = {"ssh_user": "deploy"}\nrelays = ["r1"]\nweb = [\n    "web1",\n    ("web2", {"via": "r2"}),\n]\n'
    line = load_error(tmp_path, "inventory.py", text)
    assert line.startswith(f"web2 [{tmp_path / 'inventory.py'}:5]: via 'r2' is not a host of this inventory"), line
    group = 'r = ["r1"]\nweb = ["web1"]\ngroup_data = {\n    "web": {"via": "nope"},\n}\n'
    line = load_error(tmp_path, "inventory.py", group)
    assert line.startswith(f"web1 [{tmp_path / 'inventory.py'}:4]: via 'nope'"), line


def test_a_relay_left_out_by_limit_is_still_found(tmp_path: Path) -> None:
    path = write(tmp_path, "inventory.yaml", YAML_GOOD)
    inv = load_inventory(str(path)).limit(["web"])
    assert [h.name for h in inv] == ["web1", "web2"]
    assert inv.get("r1") is None
    found = inv.resolve("r1")
    assert found is not None and found.name == "r1"


def test_relays_n_picks_evenly_spaced_relays_and_spreads_the_rest(tmp_path: Path) -> None:
    names = [f"h{i:02d}" for i in range(1, 11)]
    inv = load_inventory(",".join(names))
    routed = assign(inv, 3)
    via = {h.name: h.connection().via for h in routed}
    relays = [n for n, v in via.items() if v is None]
    assert relays == ["h01", "h04", "h07"]
    counts = {r: sum(1 for v in via.values() if v == r) for r in relays}
    assert sorted(counts.values()) == [2, 2, 3]
    assert assign(inv, 0) is inv


def test_relays_n_keeps_hosts_that_have_via_and_local_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "inventory.yaml", "hosts:\n  a:\n  b:\n  c: {via: a}\n  d:\n  '@local':\n")
    routed = assign(load_inventory(str(path)), 1)
    assert {h.name: h.connection().via for h in routed} == {"a": None, "b": "a", "c": "a", "d": "a", "@local": None}


def test_too_many_relays_is_an_error() -> None:
    with pytest.raises(InventoryError) as info:
        select("h01,h02", [], relays=2)
    assert info.value.format_line() == (
        "[-i]: --relays 2 needs more than 2 hosts reached directly over ssh; the run has 2; "
        "pass a smaller --relays, or none"
    )
    result = invoke(["run", "h01,h02", "--relays", "5", "--", "true"])
    assert result.exit_code == 3
    assert result.stderr.strip().endswith("pass a smaller --relays, or none")
    assert "Traceback" not in result.stderr


def _agents() -> list[str]:
    found = subprocess.run(["pgrep", "-f", "ssh-agent -D -a .*paracrine-agent-"], capture_output=True, text=True)
    return found.stdout.split()


def _hub(keys: list[str]) -> RelayHub:
    hub = RelayHub(Session.__new__(Session))  # no broker: only the agent part is used
    hub._agent_keys = keys
    return hub


def test_the_forwarded_agent_is_ours_and_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    assert _hub([])._agent_args() == []  # nothing to forward
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/user/agent")
    assert _hub([])._agent_args() == ["-o", "ForwardAgent=yes"]  # keys live in your agent: it is forwarded
    monkeypatch.delenv("SSH_AUTH_SOCK")
    hub = _hub([str(key)])
    args = hub._agent_args()
    agent = hub._agent
    assert agent is not None and args == ["-o", f"IdentityAgent={agent.socket}", "-o", f"ForwardAgent={agent.socket}"]
    listed = subprocess.run(["ssh-add", "-L"], env={"SSH_AUTH_SOCK": agent.socket}, capture_output=True, text=True)
    assert listed.stdout.split()[:2] == (tmp_path / "id.pub").read_text().split()[:2]
    hub.done_connecting()
    assert hub._agent is None and not Path(agent.socket).exists() and agent.process.poll() is not None


def test_a_key_with_a_passphrase_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret words", "-f", str(key)], check=True)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    hub = _hub([str(key)])
    agents = set(_agents())
    with pytest.raises(ConnectError) as info:
        hub._agent_args()
    assert set(_agents()) == agents  # the agent started for it is gone again
    line = info.value.format_line()
    assert line.startswith(f"cannot load ssh_key {key} into the agent forwarded to relays") and "\n" not in line
    assert "passphrase" in line


KILLED = """
import os, signal, sys
from paracrine.relays import Agent
agent = Agent([sys.argv[1]])
print(agent.agent_pid, agent.socket, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_agent_dies_with_a_killed_controller(tmp_path: Path) -> None:
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    done = subprocess.run([sys.executable, "-c", KILLED, str(key)], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    pid, socket = done.stdout.split()
    deadline = time.monotonic() + 20  # ssh-agent checks for its parent every 10 s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert not Path(socket).exists()  # SIGTERM: the agent removed its socket
    Path(socket).parent.rmdir()  # what a killed controller leaves: an empty private directory
