"""Secrets: values that must never reach the screen, JSON output, logs or the controller's disk.

``Secret("...")`` in host data (``!secret`` in YAML inventories) or as an
operation argument marks a value as secret. It behaves as the plain string
wherever the value is *used* (templates, commands, file contents), but its
``repr`` is masked, and every known secret value is masked in everything
Paracrine prints (:func:`redact`), including the plan, diffs, ``--json``,
errors and ``-v`` output. An operation call with a secret argument is
sensitive: its commands and contents are masked too.

Standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"
#: Secret values shorter than this are not searched for in output (they would mask
#: unrelated text); they are still masked where Paracrine knows the value is a secret.
MIN_REDACT = 4

_known: set[str] = set()
_lock = threading.Lock()


class Secret(str):
    """A string whose value Paracrine never prints.

    Example:
        defaults = {"db_password": Secret(os.environ["DB_PASSWORD"])}
    """

    __slots__ = ()

    def __new__(cls, value: str) -> Secret:
        if not isinstance(value, str):
            raise TypeError(f"Secret() takes a string, got {type(value).__name__}")
        secret = super().__new__(cls, value)
        remember(secret)
        return secret

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Secret, (str.__str__(self),))

    @property
    def value(self) -> str:
        """The plain string."""
        return str.__str__(self)


def remember(value: str) -> None:
    """Mask ``value`` in everything printed from now on."""
    if value:
        with _lock:
            _known.add(str.__str__(value))


def forget() -> None:
    """Forget every secret value (``paracrine agent``: a run's secrets are not kept for the next one)."""
    with _lock:
        _known.clear()


def redact(text: str) -> str:
    """``text`` with every known secret value replaced by ``***``."""
    if not _known:
        return text
    for value in sorted(_known, key=len, reverse=True):
        if len(value) >= MIN_REDACT and value in text:
            text = text.replace(value, MASK)
    return text


def contains_secret(value: Any) -> bool:
    """Whether ``value`` is or holds (in lists, tuples, dicts) a :class:`Secret`."""
    if not _known:
        return False  # no Secret was ever made (each one remembers itself): nothing to look for
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Secret):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return False


def plain(value: Any) -> Any:
    """``value`` with Secrets turned into plain strings (Mitogen sends builtins only)."""
    if isinstance(value, str):
        return str.__str__(value) if type(value) is not str else value
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def remember_all(values: Iterable[Any]) -> None:
    """Remember every Secret found in ``values`` (host data when an inventory loads)."""
    stack = list(values)
    while stack:
        item = stack.pop()
        if isinstance(item, Secret):
            remember(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
