"""Processes the lab started, identified by PID *and* start time.

A PID alone may be reused after a process ends; pairing it with the start time
from ``/proc/PID/stat`` means the lab never signals a process it did not start.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcRef:
    """A process as the lab recorded it."""

    pid: int
    start: int  # field 22 of /proc/PID/stat: start time in clock ticks after boot


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (index 0 is the state), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def proc_ref(pid: int) -> ProcRef | None:
    """Record process ``pid`` (None if it does not exist)."""
    fields = stat_fields(pid)
    return ProcRef(pid, int(fields[19])) if fields else None


def is_alive(ref: ProcRef) -> bool:
    """Whether the recorded process still runs (a zombie counts as gone)."""
    fields = stat_fields(ref.pid)
    return fields is not None and int(fields[19]) == ref.start and fields[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The PIDs of the direct children of ``pid``."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def kill(ref: ProcRef, sig: int = signal.SIGKILL) -> bool:
    """Send ``sig`` to the recorded process if it is still that process.

    Returns:
        True if the signal was sent.
    """
    if not is_alive(ref):
        return False
    try:
        os.kill(ref.pid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_gone(refs: Iterable[ProcRef], timeout: float, reap: Callable[[int], None] = lambda pid: None) -> list[ProcRef]:
    """Wait until the recorded processes have ended.

    Args:
        refs: the processes.
        timeout: seconds to wait at most.
        reap: called with each PID on every poll, so a parent can collect its zombies.

    Returns:
        The processes still alive at the deadline (empty on success).
    """
    pending = list(refs)
    deadline = time.monotonic() + timeout
    while True:
        for ref in pending:
            reap(ref.pid)
        pending = [r for r in pending if is_alive(r)]
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.01)
