"""Relays without SSH (paracrine/relays.py): local Mitogen contexts standing in for a relay and the hosts behind it.

The relay hop's ssh, agent and host keys are tested on lab hosts (tests/test_relays_lab.py); here: lanes,
a relay lost in the middle of a call, a relay that cannot be reached, and the known_hosts lines a relay gets.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import engine_calls

from paracrine.connect import Session
from paracrine.hosts import Host, HostData, connection_from_data
from paracrine.relays import controller_files, lookup_names, matching_lines


def local(name: str, **data: Any) -> Host:
    return Host(name, (), HostData(name, {"connector": "local", **data}), "test")


def _pids() -> list[int]:
    return [os.getpid(), os.getppid()]


def test_hosts_behind_a_relay_connect_through_its_lanes() -> None:
    hosts = {"r": local("r"), **{f"t{i}": local(f"t{i}", via="r") for i in range(6)}}
    behind = [h for h in hosts.values() if h.name != "r"]
    with Session(parallel=3) as session:
        session.connect(behind, resolve=hosts.get)
        assert session.failed == {}
        relay = session.relays.relays["r"]
        relay_pid = relay.context.call(os.getpid)
        lanes = {lane.context.call(os.getpid) for lane in relay.lanes}
        assert 1 <= len(lanes) <= 3  # parallel 3, one relay: at most 3 lanes
        for lane in relay.lanes:
            assert lane.context.call(os.getppid) == relay_pid  # started by the relay
        outcomes = session.call_all(_pids, {h.name: () for h in behind})
        assert {o.value[1] for o in outcomes.values()} <= lanes  # each target hangs off a lane
        assert all(lane.busy == 0 for lane in relay.lanes)


def test_a_relay_lost_mid_call_loses_only_the_hosts_behind_it() -> None:
    hosts = {"r": local("r"), "t1": local("t1", via="r"), "t2": local("t2", via="r"), "d": local("d")}
    with Session() as session:
        session.connect([hosts["t1"], hosts["t2"], hosts["d"]], resolve=hosts.get)
        assert session.failed == {}
        relay_pid = session.relays.relays["r"].context.call(os.getpid)
        threading.Timer(0.5, os.kill, (relay_pid, signal.SIGKILL)).start()
        outcomes = session.call_all(engine_calls.pause, {"t1": (3,), "t2": (3,), "d": (1,)}, timeout=30)
    assert outcomes["d"].ok and outcomes["d"].value == "rested"
    for name in ("t1", "t2"):
        assert not outcomes[name].ok and outcomes[name].lost, outcomes[name]


def test_an_unreachable_relay_fails_every_host_behind_it_once() -> None:
    hosts = {"r": local("r", python="/nonexistent/python3"), "t1": local("t1", via="r"), "t2": local("t2", via="r")}
    with Session() as session:
        session.connect([hosts["t1"], hosts["t2"]], resolve=hosts.get)
    for name in ("t1", "t2"):
        assert session.failed[name].format_line() == (
            f"{name}: via r: no Python interpreter at /nonexistent/python3 on local; install python3 or set `python`"
        )


def test_a_relay_gets_only_the_known_hosts_lines_that_can_match() -> None:
    text = "\n".join(
        [
            "# comment",
            "[10.0.0.5]:2222 ssh-ed25519 AAAAbehind",
            "10.0.0.6 ssh-ed25519 AAAAother",
            "|1|c2FsdA==|aGFzaA== ssh-ed25519 AAAAhashed",
            "*.example.com ssh-rsa AAAAwild",
            "@revoked * ssh-ed25519 AAAArevoked",
            "@cert-authority 10.0.0.7 ssh-ed25519 AAAAca-other",
            "web1,[10.0.0.5]:2222 ssh-ed25519 AAAAlisted",
            "broken",
        ]
    )
    conn = connection_from_data("t", {"ssh_hostname": "10.0.0.5", "ssh_port": 2222, "ssh_known_hosts": "/k"})
    assert lookup_names(conn) == {"10.0.0.5", "[10.0.0.5]:2222"}
    kept = [line.split()[-1] for line in matching_lines(text, lookup_names(conn))]
    assert kept == ["AAAAbehind", "AAAAhashed", "AAAAwild", "AAAArevoked", "AAAAlisted"]
    assert controller_files(conn)[0] == "/k" and "/etc/ssh/ssh_known_hosts" in controller_files(conn)
