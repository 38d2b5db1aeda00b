"""Where deploy files, ``paracrine facts`` and ``paracrine ops`` find the user's own packages.

A deploy file (and a fact or operation named on the command line) may import
packages from, in this order:

1. every ``--path DIR`` of the command, in the order given;
2. the deploy file's own directory (for ``facts``, ``ops``, ``op`` and ``run``:
   the current directory);
3. the *project root*: the nearest directory at or above that one holding a
   ``pyproject.toml``, a ``setup.cfg`` or a ``.git``, if there is one.

They are searched before the installed packages, like the directory of a
Python script, and only while Paracrine loads the user's code (a deploy file
runs, a fact or operation module is imported), so they never shadow
Paracrine's own modules.

A module that exists but fails to import is reported as itself (its error and
``file:line``), never as "unknown": :func:`import_optional`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType

from paracrine.errors import UserError

#: Files whose directory is a project root.
PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")

_extra: list[Path] = []  # the command's --path directories


def set_extra(dirs: Sequence[Path | str]) -> None:
    """Set the command's ``--path`` directories (absolute; checked to exist by the CLI)."""
    _extra[:] = [Path(d).absolute() for d in dirs]


def extra() -> list[Path]:
    """The command's ``--path`` directories."""
    return list(_extra)


def project_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds one of :data:`PROJECT_MARKERS`."""
    here = start.absolute()
    for directory in (here, *here.parents):
        if any(_exists(directory / marker) for marker in PROJECT_MARKERS):
            return directory
    return None


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; a directory this user may not search counts as holding nothing."""
    try:
        return path.exists()
    except OSError:
        return False


def search_dirs(base: Path | None = None) -> list[Path]:
    """The directories searched for the user's packages: ``--path`` dirs, ``base`` (or the cwd), its project root."""
    base = (base or Path.cwd()).absolute()
    dirs = [*_extra, base]
    root = project_root(base)
    if root is not None:
        dirs.append(root)
    return list(dict.fromkeys(dirs))


@contextmanager
def active(base: Path | None = None) -> Iterator[list[Path]]:
    """Put :func:`search_dirs` at the front of ``sys.path`` for the block (those not there already)."""
    added = [str(d) for d in search_dirs(base) if str(d) not in sys.path]
    sys.path[0:0] = added
    try:
        yield [Path(d) for d in added]
    finally:
        for directory in added:
            with suppress(ValueError):
                sys.path.remove(directory)


def import_optional(name: str) -> ModuleType | None:
    """Import module ``name``; None if there is no such module.

    Raises:
        UserError: the module exists but importing it failed (a syntax error, a
            missing dependency, an exception at import time): its error in one
            line, with the ``file:line`` where it happened.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise import_error(name, exc) from None
    except SyntaxError as exc:
        where = f"{_shown(exc.filename)}:{exc.lineno}" if exc.filename else None
        raise UserError(f"cannot import {name}: syntax error: {exc.msg}", where=where) from None
    except Exception as exc:
        raise import_error(name, exc) from None


def import_error(name: str, exc: BaseException) -> UserError:
    """``cannot import MODULE: Type: message`` at the innermost ``file:line`` of the user's code.

    MODULE is the module that failed (``myapp.ops`` while importing ``myapp.ops.site``).
    """
    where, module = _innermost_user_frame(exc)
    return UserError(
        f"cannot import {module or name}: {type(exc).__name__}: {exc}",
        where=where,
        hint="fix the module, or add the directory it imports from with --path DIR",
    )


def _innermost_user_frame(exc: BaseException) -> tuple[str | None, str | None]:
    """The innermost traceback frame outside importlib and Paracrine: ``file:line`` and its module's name."""
    own = os.path.dirname(os.path.realpath(__file__)) + os.sep
    where, module = None, None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith("<") and not os.path.realpath(filename).startswith(own):
            where, module = f"{_shown(filename)}:{tb.tb_lineno}", tb.tb_frame.f_globals.get("__name__")
        tb = tb.tb_next
    return where, module if isinstance(module, str) else None


def _shown(path: str) -> str:
    """``path`` relative to the current directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative
