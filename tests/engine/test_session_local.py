"""paracrine.connect and paracrine.gather without SSH: real Mitogen contexts on this machine (``connector: local``),
a context that dies in the middle of a call, sudo to another user, streaming a file to a target, and the
rules that turn a connection failure into one line.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import engine_calls
import engine_facts
import mitogen.core
import mitogen.ssh
import pytest

from paracrine.batches import attach_source, streamed_paths
from paracrine.changes import LocalFile, WriteFile
from paracrine.connect import LOST, Session, describe_connect_error
from paracrine.errors import ConnectError
from paracrine.factcache import FactCache
from paracrine.factkey import FactKey
from paracrine.gather import FactFailure, FetchError, Gatherer, make_key, prefetchable
from paracrine.hosts import Host, HostData, connection_from_data
from paracrine.remote import state, wire
from paracrine.remote.execute import run_batch

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (sudo to nobody without a password)")


def local(name: str, **data: Any) -> Host:
    return Host(name, (), HostData(name, {"connector": "local", **data}), "test")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """Two connected local hosts, ``a`` and ``b``, whose state directory is a temporary one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(state.ENV, str(tmp_path_factory.mktemp("target-state")))
        with Session() as connected:
            connected.connect([local("a"), local("b")])
            assert connected.failed == {}
            yield connected


# ---------------------------------------------------------------- calls


def test_one_call_per_host_in_parallel(session: Session) -> None:
    before = dict(session.round_trips)
    outcomes = session.call_all(engine_calls.identity, {"a": (), "b": (), "not-connected": ()})
    assert set(outcomes) == {"a", "b"}
    pids = {name: o.value[0] for name, o in outcomes.items()}
    assert pids["a"] != pids["b"] and os.getpid() not in pids.values()
    assert all(o.ok and o.value[1] == os.geteuid() and o.seconds > 0 for o in outcomes.values())
    assert session.round_trips["a"] == before.get("a", 0) + 1
    assert session.bytes_received["a"] > 0


def test_a_call_that_raises_is_one_line_and_the_context_lives_on(session: Session) -> None:
    outcome = session.call_one("a", engine_calls.fail_loudly)
    assert not outcome.ok and not outcome.lost
    assert outcome.error == "builtins.ValueError: first line of the problem"
    with pytest.raises(ConnectError) as info:
        session.call("a", engine_calls.fail_loudly)
    assert info.value.host == "a"
    assert session.call("a", engine_calls.pause, 0) == "rested"


def test_a_host_that_is_not_connected(session: Session) -> None:
    outcome = session.call_one("nowhere", engine_calls.identity)
    assert (outcome.ok, outcome.lost, outcome.error) == (False, True, "not connected")


def test_no_reply_in_time(session: Session) -> None:
    outcome = session.call_one("b", engine_calls.pause, 0.5, timeout=0.1)
    assert (outcome.ok, outcome.error) == (False, "no reply within 0 s")
    assert session.call("b", engine_calls.pause, 0) == "rested"  # the late reply does not confuse the next call


def test_send_and_receive(session: Session) -> None:
    pending = session.send("a", session.contexts["a"], engine_calls.pause, 0)
    outcome = session.receive(pending)
    assert outcome.ok and outcome.value == "rested"
    slow = session.send("a", session.contexts["a"], engine_calls.pause, 0.5)
    assert session.receive(slow, timeout=0.1).error == "no reply within 0 s"


def test_a_context_that_dies_mid_call_is_lost_and_the_other_host_is_not(tmp_path: Path) -> None:
    with Session() as own:
        own.connect([local("doomed"), local("fine")])
        outcomes = own.call_all(engine_calls.exit_now, {"doomed": ()}) | own.call_all(
            engine_calls.identity, {"fine": ()}
        )
        assert (outcomes["doomed"].ok, outcomes["doomed"].lost, outcomes["doomed"].error) == (False, True, LOST)
        assert outcomes["fine"].ok
        both = own.call_all(engine_calls.identity, {"doomed": (), "fine": ()})
        assert both["doomed"].lost and not both["doomed"].ok
        assert both["fine"].ok
        pending = own.send("doomed", own.contexts["doomed"], engine_calls.identity)
        assert own.receive(pending).lost


# ---------------------------------------------------------------- connecting


def test_hosts_are_handed_over_as_soon_as_they_are_up() -> None:
    seen: list[str] = []
    progress: list[tuple[str, bool, int, int]] = []
    with Session(progress=lambda *args: progress.append(args)) as own:
        own.start_connecting([local("x"), local("y", python="/nonexistent/python3")])
        assert own.connecting
        own.wait_connected()
        own.on_connected(lambda name, context: seen.append(name))  # after the fact: handed the early ones
        assert not own.connecting
    assert seen == ["x"]
    assert sorted(p[0] for p in progress) == ["x", "y"] and {p[3] for p in progress} == {2}
    assert own.failed["y"].format_line() == (
        "y: no Python interpreter at /nonexistent/python3 on local; install python3 or set `python`"
    )
    assert own.connect_seconds["x"] > 0


def test_a_jump_host(tmp_path: Path) -> None:
    hosts = {"jump": local("jump"), "inner": local("inner", via="jump"), "lost": local("lost", via="nowhere")}
    with Session() as own:
        own.connect([hosts["inner"], hosts["lost"]], resolve=hosts.get)
        assert own.call("inner", engine_calls.pause, 0) == "rested"
        assert own.relays.relays["jump"].context is not None
    assert own.failed["lost"].format_line() == "lost: via host 'nowhere' is not in the inventory"


@needs_root
def test_a_context_as_another_user(session: Session) -> None:
    nobody = session.user_context(local("a"), "nobody")
    assert nobody is session.user_context(local("a"), "nobody")  # opened once
    outcomes = session.call_all(engine_calls.identity, {"a": ()}, contexts={"a": nobody})
    assert outcomes["a"].value[1] == pwd.getpwnam("nobody").pw_uid
    with pytest.raises(ConnectError) as info:
        session.user_context(local("a"), "no-such-user-x")
    assert info.value.message.startswith("cannot become 'no-such-user-x': ")


# ---------------------------------------------------------------- streaming a file to a target


def test_a_large_file_is_streamed_from_the_controller(session: Session, tmp_path: Path) -> None:
    source = tmp_path / "payload"
    source.write_bytes(os.urandom(300_000))
    good = WriteFile(str(tmp_path / "copy"), source=LocalFile.of(str(source)), mode=0o600)
    wrong_hash = WriteFile(str(tmp_path / "bad1"), source=LocalFile(str(source), 300_000, "0" * 64))
    wrong_size = WriteFile(str(tmp_path / "bad2"), source=LocalFile(str(source), 5, good.sha256))
    steps: list[wire.Step] = [
        {"id": i, "label": str(i), "needs": [], "changes": [c.to_wire()], "conditional": [False],
         "ignore_errors": False, "sensitive": False, "triggers": [], "handler": None}
        for i, c in enumerate((good, wrong_hash, wrong_size))
    ]  # fmt: skip
    batch: wire.Batch = {"version": wire.VERSION, "deploy": "d", "steps": steps, "forget": []}
    attach_source(batch, session.serve_files(streamed_paths(batch)))
    reply = session.call("b", run_batch, batch)
    errors = [s["error"] for s in reply["steps"]]
    assert [s["status"] for s in reply["steps"]] == ["changed", "failed", "failed"]
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()
    assert errors[1] == f"OSError: {source} changed on the controller during the run; run again"
    assert errors[2] == f"OSError: the transfer of {source} was interrupted (300000 of 5 bytes)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "payload"]  # nothing half-written


def test_local_files_are_hashed_once_per_version(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one")
    first = LocalFile.of(str(path))
    assert first == LocalFile(str(path), 3, hashlib.sha256(b"one").hexdigest())
    assert first.read() == b"one"
    path.write_bytes(b"two!")
    assert LocalFile.of(str(path)).sha256 == hashlib.sha256(b"two!").hexdigest()


# ---------------------------------------------------------------- gathering


@needs_root
def test_facts_as_another_user_come_from_that_users_context(session: Session, tmp_path: Path) -> None:
    gatherer = Gatherer(session, None)
    mine, theirs = make_key(engine_facts.whoami, {}), make_key(engine_facts.whoami, {}, "nobody")
    nobody_user = make_key(engine_facts.whoami, {}, "no-such-user-x")
    assert gatherer.fetch({"a": [mine, theirs]}) == {}
    assert (gatherer.facts("a").get(mine), gatherer.facts("a").get(theirs)) == (0, pwd.getpwnam("nobody").pw_uid)
    errors = gatherer.fetch({"b": [nobody_user]})
    assert errors["b"].message.startswith("b: cannot become 'no-such-user-x'")


def test_a_fingerprint_keeps_an_unchanged_value_on_the_controller(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "text"
    path.write_text("cached text")
    cache = FactCache(tmp_path / "cache")
    key = make_key(engine_facts.slow_text, {"path": str(path)})
    first = Gatherer(session, cache)
    assert first.fetch({"a": [key]}) == {}
    received = session.bytes_received["a"]
    second = Gatherer(session, cache)
    assert second.fetch({"a": [key]}) == {}
    assert second.facts("a").get(key) == "cached text"
    assert session.bytes_received["a"] - received < len("cached text") + 200  # "same", not the value again
    assert cache.load("a")[key.id].value == "cached text"


def test_facts_that_fail_or_no_longer_exist(session: Session) -> None:
    gatherer = Gatherer(session, None)
    bad = make_key(engine_facts.returns_a_set, {})
    gone = FactKey("retired_module_x.fact", "{}")
    assert gatherer.fetch({"a": [bad, gone]}) == {}
    assert isinstance(gatherer.facts("a").values[bad], FactFailure)
    assert not gatherer.facts("a").has(gone)
    gatherer.forget("a")
    assert gatherer.facts("a").values == {}


def test_prefetched_facts_are_collected_by_the_next_fetch(session: Session, tmp_path: Path) -> None:
    gatherer = Gatherer(session, None)
    key = make_key("files.path_info", {"path": str(tmp_path)})
    before = session.round_trips["b"]
    gatherer.prefetch("b", session.contexts["b"], [key, make_key("files.path_info", {"path": "/"}, "nobody")])
    assert gatherer.fetch({"b": [key]}) == {}
    assert gatherer.facts("b").get(key)["kind"] == "directory"
    assert session.round_trips["b"] == before + 1
    gatherer.prefetch("b", session.contexts["b"], [])  # nothing to send, no lock to take: no call
    assert session.round_trips["b"] == before + 1


def test_a_lost_host_while_gathering_is_a_fetch_error(tmp_path: Path) -> None:
    with Session() as own:
        own.connect([local("doomed")])
        errors = Gatherer(own, None).fetch({"doomed": [make_key(engine_facts.leaves_no_reply, {})]})
    assert errors == {"doomed": FetchError(LOST, lost=True)}


def test_which_saved_facts_may_be_sent_before_the_deploy_asks() -> None:
    assert prefetchable(make_key("files.path_info", {"path": "/etc"}))
    assert not prefetchable(make_key("files.path_info", {"path": "/etc"}, "nobody"))
    assert not prefetchable(make_key("server.command_status", {"argv": ["true"]}))
    assert not prefetchable(FactKey("some_package.module.fact", "{}"))  # not imported for a saved key
    assert not prefetchable(FactKey("nosuchdomain.fact", "{}"))
    assert prefetchable(make_key(engine_facts.conf_owner, {"path": "/etc"}))


# ---------------------------------------------------------------- why a connection failed


def host_key_files(tmp_path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(f"[10.0.0.5]:2222 {(tmp_path / 'key.pub').read_text().split(' ', 2)[0]} "
                     f"{(tmp_path / 'key.pub').read_text().split(' ', 2)[1]}\n")  # fmt: skip
    return known


def test_host_key_failures_say_whether_the_key_changed_or_is_unknown(tmp_path: Path) -> None:
    known = host_key_files(tmp_path)
    data = {"ssh_hostname": "10.0.0.5", "ssh_port": 2222, "ssh_known_hosts": str(known)}
    changed = describe_connect_error(mitogen.ssh.HostKeyError("x"), connection_from_data("web1", data))
    assert changed == (
        f"host key of 10.0.0.5:2222 does not match the one in {known}: the host was reinstalled, or someone is in "
        f"between (man in the middle); verify it, then remove the old key with "
        f"`ssh-keygen -R '[10.0.0.5]:2222' -f {known}`"
    )
    other = connection_from_data("web2", {"ssh_hostname": "10.0.0.6", "ssh_known_hosts": str(known)})
    unknown = describe_connect_error(mitogen.core.StreamError("Host key verification failed."), other)
    assert unknown == (
        f"host key of 10.0.0.6 is unknown (not in {known}); verify and add it (ssh-keyscan), "
        "or set ssh_host_keys: accept to trust a new host on first use"
    )


@pytest.mark.parametrize(
    ("text", "data", "expected"),
    [
        ("Permission denied (publickey)", {"ssh_user": "deploy", "ssh_key": "/k"},
         "authentication failed for user deploy on web1 with key /k"),
        ("Permission denied", {}, "authentication failed for user (default) on web1"),
        ("ssh: connect to host web1 port 22: Connection refused", {}, "unreachable: connection refused by web1"),
        ("EOF on stream; last 100 lines received: Connection timed out", {"connect_timeout": 7},
         "unreachable: web1 did not answer within 7 s"),
        ("ssh: Could not resolve hostname web1: Name or service not known", {}, "unreachable: cannot resolve web1"),
        ("connect to host web1 port 22: No route to host", {}, "unreachable: no route to web1"),
        ("connect: Network is unreachable", {}, "unreachable: no route to web1"),
        ("sudo: a password is required", {},
         "sudo on web1 needs a password; set become_password or allow passwordless sudo"),
        ("bash: /usr/bin/python3: command not found", {},
         "no Python interpreter at /usr/bin/python3 on web1; install python3 or set `python`"),
        ("\n\n  something else entirely  \nmore\n", {}, "something else entirely"),
        ("", {}, "unknown error"),
    ],
)  # fmt: skip
def test_connection_failures_are_one_line(text: str, data: dict[str, Any], expected: str) -> None:
    assert describe_connect_error(mitogen.core.StreamError(text), connection_from_data("web1", data)) == expected


def test_a_password_error_is_an_authentication_failure() -> None:
    conn = connection_from_data("web1", {"connector": "local"})
    assert (
        describe_connect_error(mitogen.ssh.PasswordError("x"), conn)
        == "authentication failed for user (default) on local"
    )


def test_a_private_key_others_can_read_is_refused_before_ssh_runs(tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text("not really a key")
    key.chmod(0o644)
    with Session() as own:
        own.connect([Host("web1", (), HostData("web1", {"ssh_key": str(key), "ssh_hostname": "127.0.0.1"}))])
    assert own.failed["web1"].format_line() == (
        f"web1: ssh_key {key} is readable by other users (mode 0644), so ssh refuses to use it; chmod 600 {key}"
    )
