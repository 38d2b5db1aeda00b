"""Running deploy files: once per host, with that host current, collecting its operation calls."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import CodeType
from typing import Any

from paracrine import searchpath
from paracrine.current import running_for
from paracrine.errors import DeployFileError, ParacrineError
from paracrine.factkey import FactKey
from paracrine.gather import make_key
from paracrine.hosts import Host, HostData
from paracrine.operation import OpCall, distinguish_labels


class DeployFactMissing(BaseException):
    """A fact read by the deploy file is not gathered yet; the run fetches it and runs the file again.

    A BaseException so that a deploy file's ``except Exception`` cannot swallow it.
    """

    def __init__(self, keys: list[FactKey]) -> None:
        super().__init__(", ".join(k.label() for k in keys))
        self.keys = keys


class DeployHost:
    """What ``paracrine.host`` is while a deploy file runs for one host."""

    def __init__(self, host: Host, lookup: Callable[[FactKey], Any]) -> None:
        self.host = host
        self.calls: list[OpCall] = []
        self.base_dir: str | None = None  # directory of the deploy file running now (for local paths)
        self._lookup = lookup

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def data(self) -> HostData:
        return self.host.data

    @property
    def groups(self) -> tuple[str, ...]:
        return self.host.groups

    def in_group(self, group: str) -> bool:
        return group in self.host.groups

    def fact(self, func: Callable[..., Any] | str, **args: Any) -> Any:
        """A fact of this host as it was before the run (for branching in deploy files)."""
        return self._lookup(make_key(func, args))

    def register(self, call: OpCall) -> None:
        call.host = self.name
        call.index = len(self.calls)
        self.calls.append(call)

    def __repr__(self) -> str:
        return f"<host {self.name}>"


def _compile(path: str) -> CodeType:
    """The compiled deploy file, compiled once per content (it runs once per host)."""
    stat = os.stat(path)
    return _compile_version(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _compile_version(path: str, mtime_ns: int, size: int) -> CodeType:
    source = Path(path).read_text(encoding="utf-8")
    return compile(source, path, "exec")


@dataclass(frozen=True)
class InlineDeploy:
    """A deploy given as code instead of a file (``paracrine op``).

    Attributes:
        name: names the deploy on targets (pending handler records) and in the
            fact cache (what it read last time), like a deploy file's path.
        register: called once per host with its :class:`DeployHost` current; it
            registers the host's operation calls (``deploy_host.register(call)``).
    """

    name: str
    register: Callable[[DeployHost], None]


#: What a run is made of: deploy files, or deploys given as code.
DeploySource = Path | InlineDeploy


def load_calls(sources: Sequence[DeploySource], host: Host, lookup: Callable[[FactKey], Any]) -> list[OpCall]:
    """Run the deploy files (or inline deploys) for ``host``; returns its operation calls in declaration order.

    Raises :class:`DeployFactMissing` when a fact the file reads is not gathered yet.
    """
    deploy_host = DeployHost(host, lookup)
    with running_for(deploy_host):
        for source in sources:
            if isinstance(source, InlineDeploy):
                _run_inline(source, deploy_host)
            else:
                _run_file(source, deploy_host)
    distinguish_labels(deploy_host.calls)
    for call in deploy_host.calls:
        for handler in call.options.notify:
            handler.notified_by.append(call)
            call.handlers.append(handler)
        for trigger in call.options.reload_on:
            trigger.handlers.append(call)
        for other in (*call.options.requires, *call.options.notify, *call.options.reload_on):
            if other.host != host.name:
                raise DeployFileError(
                    f"{call.label} refers to an operation call of another host", host=host.name, where=call.where
                )
    return deploy_host.calls


def _run_inline(source: InlineDeploy, deploy_host: DeployHost) -> None:
    try:
        source.register(deploy_host)
    except ParacrineError as exc:
        raise exc.with_context(host=deploy_host.name) from None


def _run_file(path: Path, deploy_host: DeployHost) -> None:
    where = str(path)
    try:
        code = _compile(str(path))
    except OSError as exc:
        raise DeployFileError(f"cannot read deploy file: {exc.strerror}", where=where) from None
    except SyntaxError as exc:
        raise DeployFileError(f"syntax error: {exc.msg}", where=f"{path}:{exc.lineno}") from None
    directory = path.resolve().parent
    deploy_host.base_dir = str(directory)
    try:
        with searchpath.active(directory):
            exec(code, {"__name__": "__paracrine_deploy__", "__file__": str(path)})
    except (DeployFactMissing, KeyboardInterrupt):
        raise
    except SystemExit as exc:
        raise DeployFileError(
            f"deploy file called sys.exit({exc.code!r})",
            host=deploy_host.name,
            where=_where(exc, path),
            hint="a deploy file cannot end the run; raise an exception to report a problem",
        ) from None
    except ParacrineError as exc:
        raise exc.with_context(host=deploy_host.name, where=_where(exc, path)) from None
    except Exception as exc:
        raise DeployFileError(
            f"deploy file raised {type(exc).__name__}: {exc}", host=deploy_host.name, where=_where(exc, path)
        ) from exc


def _where(exc: BaseException, path: Path) -> str:
    """The innermost ``file:line`` of the traceback that is in the deploy file itself."""
    tb, line = exc.__traceback__, None
    target = str(path)
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{path}:{line}" if line else target
