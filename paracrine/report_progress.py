"""Live progress of a run on stderr: each host's stage as it happens.

On a terminal a block of lines is redrawn in place (one line per host, or a
count per stage and the busy hosts when there are many); without one (CI,
pipes) each notable host event is one plain line. ``-v`` adds each command's
output as it finishes, ``-vv`` every call on the wire.

The run calls :meth:`Progress.event` from several threads (connecting, applying).
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections import Counter
from typing import Any

import click

from paracrine import report
from paracrine.changes.base import shown

REDRAW = 0.1  # seconds between redraws on a terminal
MAX_LINES = 12  # hosts shown one per line on a terminal; more are counted per stage
FINAL = {"done": "green", "failed": "red", "unreachable": "red"}


class Progress:
    """Receives a run's host events (:data:`paracrine.run.Listener`) and shows them."""

    def __init__(self, *, tty: bool | None = None, verbose: int = 0) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.verbose = verbose
        self.states: dict[str, str] = {}
        self._lock = threading.Lock()
        self._drawn = 0
        self._last = 0.0
        self._live = False

    # ---------------------------------------------------------------- events
    def event(self, host: Any, event: str, detail: dict[str, Any] | None = None) -> None:
        """One host event: a stage (``connecting`` ... ``done``), ``step``, ``waiting ...`` or ``wire``."""
        name = host.name if hasattr(host, "name") else str(host)
        with self._lock:
            if event == "step" and detail is not None:
                self._step(name, detail)
            elif event == "wire":
                if self.verbose >= 2:
                    self._line(f"{name}: {detail.get('text', '') if detail else ''}")
            else:
                self.states[name] = event
                if not self.tty:
                    self._plain(name, event, detail or {})
            self._redraw(final=event in FINAL)

    def _step(self, name: str, detail: dict[str, Any]) -> None:
        self.states[name] = f"applying {detail['done']} of {detail['total']}: {detail['label']}"
        if detail["status"] in ("changed", "failed", "ignored") and not self.tty:
            self._line(f"{name}: {detail['status']} {detail['label']}")
        if self.verbose and detail.get("output"):
            self._line(f"{name}: {detail['label']}: {detail['status']}")
            for line in detail["output"].rstrip("\n").splitlines():
                self._line(f"    {shown(line)}")

    def _plain(self, name: str, event: str, detail: dict[str, Any]) -> None:
        quiet = ("connecting", "connected", "facts", "planned", "failed", "unreachable") if self.verbose < 2 else ()
        if event in quiet:
            return  # the plan printed next says what each host will do; failures are printed at the end
        text = detail.get("note") or event
        self._line(f"{name}: {text}")

    # ---------------------------------------------------------------- drawing
    def _line(self, text: str) -> None:
        self._clear()
        report.echo(text, err=True)

    def _redraw(self, final: bool = False) -> None:
        if not self.tty or not self._live:
            return
        now = time.monotonic()
        if not final and now - self._last < REDRAW:
            return
        self._last = now
        lines = self._lines()
        self._clear()
        for line in lines:
            click.echo(line, err=True, color=True)  # a terminal (or told to act as one)
        self._drawn = len(lines)

    def _lines(self) -> list[str]:
        if len(self.states) <= MAX_LINES:
            return [self._host_line(n, s) for n, s in sorted(self.states.items())]
        stages = Counter(s.split(" ", 1)[0] for s in self.states.values())
        summary = ", ".join(f"{count} {stage}" for stage, count in sorted(stages.items()))
        busy = [(n, s) for n, s in sorted(self.states.items()) if s.split(" ", 1)[0] not in FINAL]
        return [f"{len(self.states)} hosts: {summary}", *(self._host_line(n, s) for n, s in busy[: MAX_LINES - 1])]

    @staticmethod
    def _host_line(name: str, state: str) -> str:
        colour = FINAL.get(state.split(" ", 1)[0])
        width = max(20, shutil.get_terminal_size().columns - 1)
        return click.style(f"{name}: {state}"[:width], fg=colour)

    def _clear(self) -> None:
        if self.tty and self._drawn:
            click.echo(f"\x1b[{self._drawn}A\x1b[J", err=True, nl=False, color=True)
            self._drawn = 0

    def start(self) -> None:
        """Show the live block (a terminal only) until :meth:`pause`."""
        with self._lock:
            self._live = True
            self._redraw(final=True)

    def pause(self) -> None:
        """Take the live block off the screen (before the plan, the prompt or the results are printed)."""
        with self._lock:
            self._clear()
            self._live = False
