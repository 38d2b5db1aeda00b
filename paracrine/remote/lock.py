"""One Paracrine run at a time per host: an exclusive ``flock`` held by the run's process on the target.

A run that will apply changes takes the lock in its first fact call and holds
it until its connection ends (the target process exits, the kernel releases
the lock, even after a crash or a lost connection). So a second run cannot
plan against facts the first one is about to change: it waits (``--wait-lock``)
or stops with an error naming the holder. Dry runs and ``--check`` do not lock.

Standard library only.
"""

from __future__ import annotations

import fcntl
import os
import time

from paracrine.remote import state

POLL = 0.2
_held: int | None = None


def lock_path() -> str:
    return os.path.join(state.state_dir(), "lock")


def acquire(holder: str, wait: float = 0.0) -> str | None:
    """Take the run lock for this process, waiting up to ``wait`` seconds.

    Returns None once the lock is held (also when this process holds it already),
    else a description of the run that holds it.
    """
    global _held
    if _held is not None:
        return None
    directory = state.state_dir()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(lock_path(), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                other = _read_holder(fd)
                os.close(fd)
                return other
            time.sleep(POLL)
    os.ftruncate(fd, 0)
    os.pwrite(fd, holder.encode("utf-8", "replace")[:500], 0)
    _held = fd
    return None


def release() -> None:
    """Give the lock back (the end of the process does it too)."""
    global _held
    if _held is not None:
        fd, _held = _held, None
        os.ftruncate(fd, 0)
        os.close(fd)


def _read_holder(fd: int) -> str:
    text = os.pread(fd, 500, 0).decode("utf-8", "replace").strip()
    return text or "another Paracrine run"
