"""The host a deploy file is being run for, reachable as ``paracrine.host``.

A deploy file runs once per host. While it runs, :func:`running_for` makes that
host current: ``host.name``, ``host.data.port``, ``host.fact(...)`` and every
operation call refer to it. A context variable (not a module global) holds it,
so nested runs and threads stay separate.

Standard library only (``paracrine/__init__.py`` imports it on targets).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_current: ContextVar[Any] = ContextVar("paracrine_current_host")


def current() -> Any:
    """The current :class:`paracrine.deploy.DeployHost`, or raise outside a deploy run."""
    value = _current.get(None)
    if value is None:
        from paracrine.errors import DeployFileError

        raise DeployFileError(
            "`host` is only defined while a deploy file runs",
            hint="call operations and read host data from a deploy file run by `paracrine`",
        )
    return value


@contextmanager
def running_for(deploy_host: Any) -> Iterator[Any]:
    """Make ``deploy_host`` current for the duration of the block."""
    token = _current.set(deploy_host)
    try:
        yield deploy_host
    finally:
        _current.reset(token)


class _HostProxy:
    """Forwards attribute access to the current host (``from paracrine import host``)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(current(), name)

    def __repr__(self) -> str:
        value = _current.get(None)
        return f"<host {value.name}>" if value is not None else "<host (none: no deploy file is running)>"


host: Any = _HostProxy()
