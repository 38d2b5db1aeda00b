"""The small target-side modules, in this process: the run lock, one gather call, the state directory."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import engine_facts
import pytest

from paracrine.remote import gather, lock, state


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "state"
    monkeypatch.setenv(state.ENV, str(directory))
    yield directory
    lock.release()


# ---------------------------------------------------------------- the state directory


def test_the_state_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert state.state_dir() == str(tmp_path / "state")
    monkeypatch.delenv(state.ENV)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert state.state_dir() == "/var/lib/paracrine"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", "/home/someone")
    assert state.state_dir() == "/home/someone/.local/state/paracrine"
    monkeypatch.setenv(state.ENV, "")
    assert state.state_dir() == "/home/someone/.local/state/paracrine"


# ---------------------------------------------------------------- the run lock


def hold_in_another_process(path: Path, holder: str) -> subprocess.Popen[str]:
    """A process that takes the lock file's flock, writes ``holder`` in it and waits for stdin to close."""
    code = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        f"os.ftruncate(fd, 0); os.pwrite(fd, {holder.encode()!r}, 0)\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_the_lock_is_taken_once_per_process_and_names_its_holder(state_dir: Path) -> None:
    assert lock.acquire("run A") is None
    assert lock.acquire("run A again") is None  # this process holds it already
    path = Path(lock.lock_path())
    assert path == state_dir / "lock"
    assert path.read_text() == "run A"
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700 and stat.S_IMODE(path.stat().st_mode) == 0o600
    fd = os.open(path, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another open file cannot take it
        lock.release()
        assert path.read_text() == ""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
    finally:
        os.close(fd)
    lock.release()  # twice is fine


def test_a_lock_held_by_another_process_is_reported_with_its_holder(state_dir: Path) -> None:
    state_dir.mkdir()
    proc = hold_in_another_process(state_dir / "lock", "paracrine pid 1 on elsewhere")
    try:
        assert lock.acquire("me") == "paracrine pid 1 on elsewhere"
        start = time.monotonic()
        assert lock.acquire("me", wait=0.5) == "paracrine pid 1 on elsewhere"
        assert time.monotonic() - start >= 0.5
    finally:
        proc.communicate("")
    assert lock.acquire("me") is None


def test_waiting_for_the_lock_takes_it_once_the_other_run_ends(state_dir: Path) -> None:
    state_dir.mkdir()
    proc = hold_in_another_process(state_dir / "lock", "")
    try:
        assert lock.acquire("me") == "another Paracrine run"  # a holder that wrote nothing
        assert proc.stdin is not None
        proc.stdin.close()
        assert lock.acquire("me", wait=10) is None
    finally:
        proc.wait()
    assert (state_dir / "lock").read_text() == "me"


def test_a_link_planted_at_the_lock_path_is_not_followed(state_dir: Path, tmp_path: Path) -> None:
    state_dir.mkdir()
    (tmp_path / "victim").write_text("keep\n")
    (state_dir / "lock").symlink_to(tmp_path / "victim")
    with pytest.raises(OSError):
        lock.acquire("me")
    assert (tmp_path / "victim").read_text() == "keep\n"


# ---------------------------------------------------------------- one gather call


def request(func: object, **kwargs: object) -> list[object]:
    return [func.__module__, func.__name__, kwargs, None]  # type: ignore[attr-defined]


def test_gather_returns_one_result_per_request_and_errors_as_data(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("hello")
    reply = gather.gather(
        [
            ["paracrine.facts.files", "path_info", {"path": str(tmp_path / "missing")}, None],
            request(engine_facts.conf_size, path=str(tmp_path / "f")),
            request(engine_facts.returns_a_set),
            ["paracrine.facts.files", "path_info", {"nope": 1}, None],
            ["no_such_module_here", "f", {}, None],
            request(engine_facts.conf_size, path=str(tmp_path / "f")),
        ]
    )
    assert reply["lock"] is None
    results = reply["results"]
    assert results[0] == {"value": None, "fp": None}
    assert results[1] == {"value": {"size": 5}, "fp": None}
    assert results[2] == {"error": "fact returned a set; facts must return builtins only", "type": "TypeError"}
    assert results[3]["type"] == "TypeError" and "nope" in results[3]["error"]
    assert results[4] == {"error": "No module named 'no_such_module_here'", "type": "ModuleNotFoundError"}
    assert results[5] == results[1]


def test_a_fingerprint_that_matches_the_cached_one_saves_the_value(tmp_path: Path) -> None:
    path = tmp_path / "text"
    path.write_text("content")
    fp = path.stat().st_mtime_ns
    first = gather.gather([request(engine_facts.slow_text, path=str(path))])["results"][0]
    assert first == {"value": "content", "fp": fp}
    cached = [engine_facts.__name__, "slow_text", {"path": str(path)}, fp]
    assert gather.gather([cached])["results"][0] == {"same": True, "fp": fp}
    cached[3] = fp - 1
    assert gather.gather([cached])["results"][0] == {"value": "content", "fp": fp}


def test_an_error_without_a_message_is_named_by_its_repr() -> None:
    reply = gather.gather([request(engine_facts.fails_quietly)])
    assert reply["results"][0] == {"error": "LookupError()", "type": "LookupError"}


def test_gather_takes_the_lock_first_or_runs_nothing(state_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    ask = ["paracrine.facts.server", "command_status", {"argv": ["touch", str(marker)]}, None]
    reply = gather.gather([ask], {"holder": "run A", "wait": 0})
    assert reply["lock"] is None and reply["results"] == [{"value": 0, "fp": None}]
    assert marker.exists()
    marker.unlink()
    assert (state_dir / "lock").read_text() == "run A"
    lock.release()
    state_dir.joinpath("lock").unlink()
    proc = hold_in_another_process(state_dir / "lock", "run B")
    try:
        assert gather.gather([ask], {"holder": "run C"}) == {"results": [], "lock": {"held": True, "holder": "run B"}}
    finally:
        proc.communicate("")
    assert not marker.exists()


def test_concurrent_facts_run_together_and_the_others_in_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    # 3 parties: two single concurrent facts and one batch; none of them can pass the barrier alone
    monkeypatch.setattr(engine_facts, "MEETING", [threading.Barrier(3, timeout=30)])
    reply = gather.gather(
        [
            request(engine_facts.meets_others, tag="a"),
            request(engine_facts.thread_name, tag="b"),
            request(engine_facts.meets_others_in_batch, tag="c"),
            request(engine_facts.meets_others, tag="d"),
            request(engine_facts.meets_others_in_batch, tag="e"),
            request(engine_facts.returns_a_set),
        ]
    )
    values = [r.get("value", r.get("error")) for r in reply["results"]]
    assert [v[0] for v in values[:5]] == ["a", "b", "c", "d", "e"], values
    assert values[1] == ["b", threading.get_ident()]
    assert len({values[0][1], values[2][1], values[3][1]}) == 3  # three threads (the barrier proved they overlapped)
    assert values[2][1] == values[4][1]  # the batch ran as one call
    assert reply["results"][5]["type"] == "TypeError"


def test_one_concurrent_fact_runs_in_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setattr(engine_facts, "MEETING", [threading.Barrier(1, timeout=30)])
    reply = gather.gather([request(engine_facts.thread_name, tag="x"), request(engine_facts.meets_others, tag="y")])
    assert [r["value"] for r in reply["results"]] == [["x", threading.get_ident()], ["y", threading.get_ident()]]


def test_a_fact_calling_sys_exit_loses_only_its_own_value(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setattr(engine_facts, "MEETING", [threading.Barrier(1, timeout=30)])
    reply = gather.gather(
        [
            request(engine_facts.exits, code=3),
            request(engine_facts.meets_others, tag="a"),
            request(engine_facts.thread_name, tag="b"),
            request(engine_facts.exits, code=0),
        ]
    )
    results = reply["results"]
    assert results[0] == results[3] == {"error": "the fact called sys.exit()", "type": "SystemExit"}
    assert results[1]["value"][0] == "a" and results[2]["value"][0] == "b"
    alone = gather.gather([request(engine_facts.exits, code=1)])  # alone: in the calling thread, same reply
    assert alone["results"] == [results[0]]


def test_values_that_cannot_cross_the_wire_are_refused() -> None:
    gather._check_builtin({"a": [1, (2.0, b"x", None, True)], "b": {"c": "d"}})
    for bad in (object(), [1, {2}], {"k": frozenset()}):
        with pytest.raises(TypeError):
            gather._check_builtin(bad)
