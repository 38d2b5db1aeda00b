"""``paracrine watch``: polling the project, and re-applying over the same connections (lab hosts, real SSH)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.commands.watch import take_snapshot, wait_for_change
from paracrine.testing import invoke

DEPLOY = """\
from paracrine import host
from paracrine.operations import files

files.template("site.j2", "/etc/watched-site.conf", name=host.name)
"""


def _project(tmp_path: Path) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "deploy.py").write_text(DEPLOY)
    (tmp_path / "site.j2").write_text("hello {{ name }}\n")
    return tmp_path


def test_a_change_under_the_project_is_seen_and_hidden_directories_are_not(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / ".paracrine").mkdir()
    (root / "roles").mkdir()
    before = take_snapshot(root)
    edits = iter([
        lambda: (root / ".paracrine" / "facts.json").write_text("{}"),  # hidden: not a change
        lambda: (root / "roles" / "web.py").write_text(""),  # being written...
        lambda: (root / "roles" / "web.py").write_text("x = 1\n"),  # ...still
    ])  # fmt: skip
    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        next(edits, lambda: None)()

    changed, after = wait_for_change(root, before, 0, sleep=sleep)
    assert changed == [str(root / "roles" / "web.py")]
    assert after[str(root / "roles" / "web.py")][1] == len("x = 1\n")  # returned once settled
    assert len(polls) == 4
    (root / "site.j2").unlink()
    changed, _ = wait_for_change(root, after, 0, sleep=lambda _: None)  # removed: settled at once
    assert changed == [str(root / "site.j2")]


def test_watch_applies_only_with_yes_or_dry_run(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = invoke(["watch", str(root / "deploy.py"), "-i", "@local"])
    assert result.exit_code == 3
    assert result.stderr == "error: watch applies every change without asking; pass -y to apply, or --dry-run\n"


def _mitogen_targets(hosts: list[Any]) -> set[int]:
    """Target interpreters of Paracrine on these lab hosts (by the root directory they run in)."""
    roots = {os.path.realpath(h.root) for h in hosts}
    found = set()
    for pid in os.listdir("/proc"):
        try:
            if not pid.isdigit() or b"(mitogen:paracrine" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            if os.readlink(f"/proc/{pid}/root") in roots:
                found.add(int(pid))
        except OSError:
            continue
    return found


class _Lines:
    """stderr of a process, line by line, with a wait for a line that contains some text."""

    def __init__(self, stream: Any) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} in:\n{''.join(self.seen)}")


@pytest.mark.lab
def test_watch_reapplies_on_a_change_over_the_same_connections_and_ctrl_c_ends_it(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    hosts = lab_hosts(2)
    root = _project(tmp_path / "project")
    before = _mitogen_targets(hosts)
    proc = subprocess.Popen(
        [sys.executable, "-m", "paracrine", "watch", "deploy.py", "-i", "@lab/2", "-y", "--interval", "0.1",
         "--state-dir", str(tmp_path / "state")],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = _Lines(proc.stderr)
        assert "exit 0" in lines.wait_for("watch: cycle 1 ")
        site = [Path(h.root) / "etc/watched-site.conf" for h in hosts]
        assert [p.read_text() for p in site] == ["hello h01\n", "hello h02\n"]
        targets = _mitogen_targets(hosts) - before
        assert len(targets) == 2

        (root / "site.j2").write_text("bye {{ name }}\n")
        assert lines.wait_for("watch: changed: ") == "watch: changed: site.j2\n"
        assert "1 fact and 1 apply round trip(s) per host" in lines.wait_for("round trip")
        assert "exit 0" in lines.wait_for("watch: cycle 2 ")
        assert [p.read_text() for p in site] == ["bye h01\n", "bye h02\n"]

        os.utime(root / "deploy.py")  # nothing to change: one fact round trip, no new connection
        assert "1 fact and 0 apply round trip(s) per host" in lines.wait_for("round trip")
        assert "exit 0" in lines.wait_for("watch: cycle 3 ")
        assert _mitogen_targets(hosts) - before == targets

        state = str(tmp_path / "other-state")
        result = invoke(["deploy", str(root / "deploy.py"), "-i", "@lab/2", "-y", "--state-dir", state])
        assert result.exit_code == 0, result.stderr  # another run between cycles: the run locks were given back

        os.kill(min(targets), signal.SIGKILL)  # a host's interpreter dies between cycles
        os.utime(root / "deploy.py")
        assert "connecting afresh" in lines.wait_for("lost a connection kept from the last cycle")
        assert "exit 0" in lines.wait_for("watch: cycle 5 ")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    deadline = time.monotonic() + 5
    while _mitogen_targets(hosts) - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _mitogen_targets(hosts) - before == set()
