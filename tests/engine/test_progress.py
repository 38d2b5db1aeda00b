"""Live progress: a plain line per notable host event without a terminal, a redrawn block on one."""

from __future__ import annotations

from typing import Any

import pytest

from paracrine.report_progress import Progress


class Host:
    def __init__(self, name: str) -> None:
        self.name = name


def test_without_a_terminal_each_notable_event_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(tty=False)
    progress.start()
    web1 = Host("web1")
    progress.event(web1, "connected", {"note": "connected in 0.30 s"})  # quiet: the plan follows
    progress.event(web1, "planned", {"note": "2 of 5 operations to change"})  # quiet: the plan says it
    progress.event(web1, "applying", {"note": "applying 2 operation(s)"})
    progress.event(web1, "step", {"done": 1, "total": 2, "label": "files.file('/a')", "status": "changed"})
    progress.event(web1, "step", {"done": 2, "total": 2, "label": "files.file('/b')", "status": "unchanged"})
    progress.event(web1, "waiting", {"note": "waiting up to 5 s for the run lock (paracrine pid 1)"})
    progress.event(web1, "done", {"note": "done: 1 changed"})
    progress.event(web1, "wire", {"text": "-> gather"})  # only with -vv
    assert capsys.readouterr().err.splitlines() == [
        "web1: applying 2 operation(s)",
        "web1: changed files.file('/a')",
        "web1: waiting up to 5 s for the run lock (paracrine pid 1)",
        "web1: done: 1 changed",
    ]


def test_verbose_levels_add_command_output_and_the_wire(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(tty=False, verbose=2)
    web1 = Host("web1")
    step: dict[str, Any] = {"done": 1, "total": 1, "label": "server.shell('x')", "status": "changed", "output": "hi\n"}
    progress.event(web1, "step", step)
    progress.event(web1, "wire", {"text": "<- gather: 10 bytes after 3 ms, ok"})
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "web1: changed server.shell('x')",
        "web1: server.shell('x'): changed",
        "    hi",
        "web1: <- gather: 10 bytes after 3 ms, ok",
    ]


def test_on_a_terminal_the_block_is_redrawn_in_place(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(tty=True)
    progress.start()
    for name in ("web1", "web2"):
        progress.event(Host(name), "connected")
    progress.event(Host("web1"), "step", {"done": 1, "total": 3, "label": "a", "status": "changed"})
    progress.event(Host("web1"), "done")
    progress.pause()
    err = capsys.readouterr().err
    assert "\x1b[" in err  # cursor up and clear: the lines were redrawn, not appended
    assert err.rstrip().endswith("\x1b[J") or "web1: done" in err
    assert "web1: applying 1 of 3: a" in err or "web1: done" in err
