"""Custom facts for the engine tests (standard library only: a ``@local`` target imports them through Mitogen)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from paracrine.fact import fact


def _paths(path: str) -> list[str]:
    return [path]


def _derive_size(fact: Callable[..., Any], path: str) -> dict[str, int] | None:
    info = fact("files.path_info", path=path)
    return None if info is None or info.get("size") is None else {"size": info["size"]}


@fact(paths=_paths, derive=_derive_size)
def conf_size(path: str) -> dict[str, int] | None:
    """The size of the file at ``path`` (derived from predicted path facts after a planned change)."""
    try:
        return {"size": os.lstat(path).st_size}
    except FileNotFoundError:
        return None


@fact(paths=_paths)
def conf_owner(path: str) -> int | None:
    """The owner of ``path`` (no derive: gathered again after a planned change)."""
    try:
        return os.lstat(path).st_uid
    except FileNotFoundError:
        return None


@fact
def leaves_no_reply() -> None:
    """End the target's process in the middle of a call (a host lost while gathering)."""
    os._exit(3)


@fact
def returns_a_set() -> Any:
    """A value Mitogen cannot send back."""
    return {"a": {1, 2}}


@fact(fingerprint=lambda path: os.stat(path).st_mtime_ns)
def slow_text(path: str) -> str:
    """A file's text, with a fingerprint (the target does not resend an unchanged value)."""
    with open(path, encoding="utf-8") as stream:
        return stream.read()


@fact
def fails_quietly() -> None:
    """Raise an exception whose text is empty."""
    raise LookupError()


@fact
def whoami() -> int:
    """The effective uid the fact runs as."""
    return os.geteuid()


#: Set by a test: concurrent facts meet here, so they only succeed if they run at the same time.
MEETING: list[Any] = []


def _meet() -> int:
    import threading

    MEETING[0].wait()  # threading.Barrier: raises BrokenBarrierError after its timeout if the others never come
    return threading.get_ident()


@fact(concurrent=True)
def meets_others(tag: str) -> list[Any]:
    """Wait at the test's barrier; the thread it ran in."""
    return [tag, _meet()]


def _meet_all(many: list[dict[str, Any]]) -> list[Any]:
    name = _meet()
    return [[kwargs["tag"], name] for kwargs in many]


@fact(concurrent=True, batch=_meet_all)
def meets_others_in_batch(tag: str) -> list[Any]:
    """Like :func:`meets_others`, with a batch form (one barrier party for the whole batch)."""
    return [tag, _meet()]


@fact
def thread_name(tag: str) -> list[Any]:
    """Not concurrent: the thread it ran in (the caller's)."""
    import threading

    return [tag, threading.get_ident()]


@fact(concurrent=True)
def exits(code: int) -> None:
    """Call sys.exit() (a fact must not, but one that does loses only its own value)."""
    import sys

    sys.exit(code)
