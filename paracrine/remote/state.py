"""Where Paracrine keeps its own small state on a target, and making directory changes durable.

The state directory holds pending handler records (:mod:`paracrine.remote.pending`)
and the run lock (:mod:`paracrine.remote.lock`). Standard library only.

``$PARACRINE_TARGET_STATE_DIR``, when set in the target process's environment,
replaces the default. It is meant for tests and sandboxes that run the target
side on the controller itself (the ``@local`` connector: its process inherits
the controller's environment). Over SSH it is normally not set: sshd does not
pass it on unless configured to, and sudo resets the environment.
"""

from __future__ import annotations

import os

#: Environment variable that replaces the default state directory (see the module docstring).
ENV = "PARACRINE_TARGET_STATE_DIR"


def state_dir() -> str:
    """``$PARACRINE_TARGET_STATE_DIR`` if set, else ``/var/lib/paracrine`` for root, ``~/.local/state/paracrine``."""
    explicit = os.environ.get(ENV)
    if explicit:
        return explicit
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
