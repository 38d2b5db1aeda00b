"""A run on more hosts than ``ulimit -n`` allows (issue 14, item 4): the soft limit is raised when the
hard one allows it, else the run stops before connecting, in one line, exit 4 — never a traceback
from the middle of Mitogen's I/O (it was ``internal error: OSError: [Errno 24]``, exit 1)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faultlab import write

from paracrine import limits
from paracrine.errors import SetupError

SITE = "from paracrine.operations import files\nfiles.directory('/srv/nofile', mode=0o755)\n"


def run_limited(site: Path, hosts: int, soft: int, hard: int) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    argv = [sys.executable, "-m", "paracrine", str(site), "-i", f"@lab/{hosts}", "-y"]
    argv += ["--state-dir", str(site.parent / "state")]
    return subprocess.run(argv, capture_output=True, text=True, preexec_fn=limit, env=os.environ, timeout=300)


@pytest.mark.lab
def test_too_many_hosts_for_the_hard_limit_stop_before_connecting(
    lab_hosts: Callable[..., list[Any]], tmp_path: Path
) -> None:
    lab_hosts(20)
    done = run_limited(write(tmp_path / "site.py", SITE), 20, 48, 48)
    assert done.returncode == 4, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: 20 direct connections need about 164 open files, but this process may open only 48 "
        "(ulimit -n; hard limit 48): raise the limit (e.g. `ulimit -n 164` or LimitNOFILE/limits.conf), "
        "connect through relay hosts (--relays N), or deploy to fewer hosts"
    ]
    assert "Traceback" not in done.stderr


@pytest.mark.lab
def test_a_low_soft_limit_is_raised_up_to_the_hard_one(lab_hosts: Callable[..., list[Any]], tmp_path: Path) -> None:
    lab_hosts(20)
    done = run_limited(write(tmp_path / "site.py", SITE), 20, 48, 4096)
    assert done.returncode == 0, done.stderr
    assert "20 hosts" in done.stderr


def test_the_soft_limit_is_raised_only_as_far_as_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: (100, 100_000))
    monkeypatch.setattr(resource, "setrlimit", lambda _, value: calls.append(value))
    limits.ensure_open_files(500)
    assert calls == [(limits.open_files_needed(500), 100_000)]
    calls.clear()
    limits.ensure_open_files(1)  # 100 is enough for one host: nothing to change
    assert calls == []


def test_a_refused_raise_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any) -> None:
        raise ValueError("not allowed")

    monkeypatch.setattr(resource, "getrlimit", lambda _: (100, resource.RLIM_INFINITY))
    monkeypatch.setattr(resource, "setrlimit", refuse)
    with pytest.raises(SetupError, match=r"^500 direct connections need about 2564 open files.*only 100"):
        limits.ensure_open_files(500)
