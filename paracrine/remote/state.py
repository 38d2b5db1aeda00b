"""Where Paracrine keeps its own small state on a target, and making directory changes durable.

The state directory holds pending handler records (:mod:`paracrine.handlers`)
and the run lock (:mod:`paracrine.remote.lock`). Standard library only.
"""

from __future__ import annotations

import os


def state_dir() -> str:
    """``/var/lib/paracrine`` for root, ``~/.local/state/paracrine`` for other users."""
    if os.geteuid() == 0:
        return "/var/lib/paracrine"
    return os.path.join(os.path.expanduser("~"), ".local", "state", "paracrine")


def fsync_dir(path: str) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
