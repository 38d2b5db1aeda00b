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
