"""The target's record of pending handlers (the target half of :mod:`paracrine.handlers`).

When a triggering step changes something, the target records the handler as
pending here (a file under ``<state dir>/pending/``) before the run goes on;
the record is removed when the handler has run. The next run reads the records
(the :func:`pending_handlers` fact) in its first fact round. The rules (keys,
"triggered", stale records) live in :mod:`paracrine.handlers`; this half is
separate because it is shipped to every target on every run, and a module
shipped to targets must not refer to controller modules: Mitogen sends every
module a shipped module imports anywhere (even under ``TYPE_CHECKING``), and
those dozens of modules cost controller CPU on every connection. Standard
library only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from paracrine.fact import fact
from paracrine.remote import state


def _pending_dir() -> str:
    return os.path.join(state.state_dir(), "pending")


@fact
def pending_handlers() -> dict[str, dict[str, Any]]:
    """Handlers whose trigger changed in an earlier run that did not finish them.

    Returns:
        ``{key: {"label": ..., "deploy": ...}}`` (records of older versions
        carry only a label).
    """
    directory = _pending_dir()
    try:
        names = sorted(name for name in os.listdir(directory) if not name.startswith("."))
    except FileNotFoundError:
        return {}
    records = {}
    for name in names:
        try:
            with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as stream:
                text = stream.read(4096)
        except OSError:
            continue
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            record = {"label": text.strip(), "deploy": None}
        records[name] = {"label": str(record.get("label", "")), "deploy": record.get("deploy")}
    return records


def mark_pending(key: str, label: str, deploy: str) -> None:
    """Record handler ``key`` as pending (atomically, durably)."""
    directory = _pending_dir()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = os.path.join(directory, f".{key}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(json.dumps({"label": label, "deploy": deploy}) + "\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, os.path.join(directory, key))
    state.fsync_dir(directory)


def clear_pending(keys: Iterable[str]) -> None:
    """Remove the records of handlers that ran (or that are stale)."""
    directory = _pending_dir()
    removed = False
    for key in keys:
        if "/" in key or key.startswith("."):
            continue
        try:
            os.unlink(os.path.join(directory, key))
            removed = True
        except FileNotFoundError:
            continue
    if removed:
        state.fsync_dir(directory)
