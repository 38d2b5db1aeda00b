"""Paracrine's own small state on a target: pending handlers (durable triggers).

When a change that triggers a handler succeeds, the executor records the
handler as pending here before going on; the record is removed when the
handler has run. A run that fails in between leaves the record, and the next
run's facts phase reads it (:func:`pending_handlers`) so the handler runs then.

Standard library only.
"""

from __future__ import annotations

import os

from paracrine.fact import fact


def state_dir() -> str:
    """``/var/lib/paracrine`` for root, ``~/.local/state/paracrine`` for other users."""
    if os.geteuid() == 0:
        return "/var/lib/paracrine"
    return os.path.join(os.path.expanduser("~"), ".local", "state", "paracrine")


def _pending_dir() -> str:
    return os.path.join(state_dir(), "pending")


@fact
def pending_handlers() -> list[str]:
    """Keys of handlers whose trigger changed in an earlier run that did not finish them."""
    try:
        return sorted(name for name in os.listdir(_pending_dir()) if not name.startswith("."))
    except FileNotFoundError:
        return []


def mark_pending(key: str, label: str) -> None:
    """Record handler ``key`` as pending (atomically, durably)."""
    directory = _pending_dir()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = os.path.join(directory, f".{key}.tmp")
    with open(tmp, "w", encoding="utf-8") as stream:
        stream.write(label + "\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, os.path.join(directory, key))
    fsync_dir(directory)


def clear_pending(key: str) -> None:
    try:
        os.unlink(os.path.join(_pending_dir(), key))
    except FileNotFoundError:
        return
    fsync_dir(_pending_dir())


def fsync_dir(path: str) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
