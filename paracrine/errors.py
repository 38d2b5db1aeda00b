"""The exception hierarchy and the documented exit codes.

Every problem a user can cause or meet is a :class:`ParacrineError` with
structured fields; the CLI boundary renders each as one line::

    web1: files.directory('/srv/app') [deploy.py:14]: path exists and is a file; pass force=True

Standard library only: remote-side modules import it too.
"""

from __future__ import annotations

import enum
import functools
import sys
from collections.abc import Iterable
from types import FrameType


class ExitCode(enum.IntEnum):
    """Process exit codes of the ``paracrine`` command (documented in the README)."""

    OK = 0
    FAILED = 1  # one or more hosts failed (unreachable, a fact or a change failed)
    PENDING = 2  # --check: changes are pending (and nothing failed)
    BAD_INPUT = 3  # the deploy file, inventory, arguments or a template is wrong; nothing ran
    ENVIRONMENT = 4  # a required tool or permission is missing on the controller
    INTERRUPTED = 130  # Ctrl-C


class ParacrineError(Exception):
    """Base class: a message plus where it happened (host, operation, user file:line)."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        op: str | None = None,
        where: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.host = host
        self.op = op
        self.where = where
        self.hint = hint

    def with_context(
        self, *, host: str | None = None, op: str | None = None, where: str | None = None
    ) -> ParacrineError:
        """Fill in context fields that are still empty; returns self for ``raise e.with_context(...)``."""
        self.host = self.host or host
        self.op = self.op or op
        self.where = self.where or where
        return self

    def format_line(self) -> str:
        """The one-line form: ``host: op [file:line]: message; hint``.

        Line breaks inside a field (an exception message quoted from user code)
        become spaces, so the result is always exactly one line.
        """
        head = ": ".join(p for p in (self.host, self.op) if p)
        if self.where:
            head = f"{head} [{self.where}]" if head else f"[{self.where}]"
        text = f"{head}: {self.message}" if head else self.message
        text = f"{text}; {self.hint}" if self.hint else text
        return " ".join(line.strip() for line in text.splitlines() if line.strip())

    def __str__(self) -> str:
        return self.format_line()


class UserError(ParacrineError):
    """Bad input from the user; raised before anything changes on a host."""

    exit_code = ExitCode.BAD_INPUT


class InventoryError(UserError):
    """A malformed inventory, an unknown key, a duplicate host, a bad --limit."""


class HostDataError(UserError, AttributeError):
    """``host.data.x`` where no level of the inventory defines ``x``."""


class DeployFileError(UserError):
    """The deploy file could not be loaded or raised while it ran."""


class ArgumentError(UserError):
    """An operation or fact was called with arguments it does not accept."""


class LocalFileError(UserError):
    """A file on the controller that an operation needs is missing or unreadable."""


class TemplateError(UserError):
    """A template failed to load or render (undefined variable, syntax error)."""


class UnknownFactError(UserError):
    """A fact name that is not registered."""


class CycleError(UserError):
    """The operations' requirements form a cycle."""


class ConflictError(UserError):
    """Two operations of one host want opposite states of the same thing."""


class SetupError(ParacrineError):
    """The controller lacks a tool or a permission (root, debootstrap, sshd)."""

    exit_code = ExitCode.ENVIRONMENT


class ConnectError(ParacrineError):
    """A host could not be reached: unreachable, authentication, host key, no python3."""


class FactError(ParacrineError):
    """A fact raised on the target; carries the remote exception type."""

    def __init__(self, message: str, *, remote_type: str = "", **kw: str | None) -> None:
        super().__init__(message, **kw)
        self.remote_type = remote_type


class PlanError(ParacrineError):
    """An operation cannot plan against the host's state (e.g. a file where a directory should be)."""


class LockError(ParacrineError):
    """Another run holds a host's run lock."""


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choices to ``word``, or None."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"


def user_location(skip_prefixes: Iterable[str] = ()) -> str | None:
    """``file:line`` of the innermost stack frame outside Paracrine's own code.

    Used to point errors at the deploy file line that called an operation.
    """
    skips = _own_dirs() + tuple(_realpath(p) for p in skip_prefixes)
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith("<frozen") and not _realpath(filename).startswith(skips):
            return f"{_short_path(filename)}:{frame.f_lineno}"
        frame = frame.f_back
    return None


@functools.lru_cache(maxsize=512)
def _realpath(path: str) -> str:
    import os

    return os.path.realpath(path)


@functools.lru_cache(maxsize=1)
def _own_dirs() -> tuple[str, ...]:
    """Paracrine's own directories; operations/ and facts/ may be symlinks out of the package."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    return tuple(_realpath(os.path.join(here, sub)) + os.sep for sub in ("", "operations", "facts"))


@functools.lru_cache(maxsize=512)
def _short_path(path: str) -> str:
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
