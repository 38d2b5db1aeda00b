"""Mitogen's minified ``mitogen.core``, kept on disk between runs.

Every new Mitogen context boots from the source of ``mitogen.core`` with its comments and
docstrings stripped. Mitogen's master strips them with the tokenizer once per process: about 50 ms
of controller CPU in every run, a sixth of all the Python work of a run that changes nothing on one
host (bench/NOTES.md). The result depends only on that source, so :func:`install` makes Mitogen
take it from ``$XDG_CACHE_HOME/paracrine`` (default ``~/.cache/paracrine``), in a file named after
a hash of the source, written on the first run and read by the next ones. A cache that cannot be
read or written only costs the minification again.

The source targets boot from is also a little lighter than Mitogen's (:func:`lighter`): it does
not import the profiler's modules until profiling starts, nor ``pty`` for three constants.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import os
from pathlib import Path

import mitogen.core
import mitogen.master
import mitogen.minify
import mitogen.parent

from paracrine.atomic import write_atomic


def cache_dir() -> Path:
    """The directory of the user's Paracrine caches (created, private to the user)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paracrine"
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return base


#: Lines of ``mitogen.core`` that a new context need not run at start-up, by their text without
#: indentation, and what replaces each (one line for one, so tracebacks keep their line numbers).
#: ``pstats`` pulls in ``dataclasses``, ``inspect``, ``ast`` and ``dis``: with ``cProfile`` and ``pty``,
#: 19 of the 111 modules a context has imported at its first call, and 12-25 ms of its CPU
#: (bench/NOTES.md). Only Mitogen's profiler (``_real_profile_hook``) uses the first two; ``pty``
#: gave the numbers of the standard streams.
LIGHTER = (
    ("import pstats", ""),
    ("import pty", "class pty: STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO = 0, 1, 2"),
    ("import cProfile", "cProfile = None"),
    ("profiler = cProfile.Profile()", "import cProfile, pstats; profiler = cProfile.Profile()"),
)
#: Changes with :data:`LIGHTER` (it names the cached file).
LIGHTER_VERSION = 1


def lighter(source: str) -> str:
    """``source`` with :data:`LIGHTER`'s replacements; unchanged unless each line is found exactly once."""
    lines = source.split("\n")
    for old, new in LIGHTER:
        found = [i for i, line in enumerate(lines) if line.strip() == old]
        if len(found) != 1:  # another Mitogen: boot from its own source
            return source
        line = lines[found[0]]
        lines[found[0]] = line[: len(line) - len(line.lstrip())] + new
    return "\n".join(lines)


def minified_core_source(directory: Path | None = None) -> str:
    """The minified (and :func:`lighter`) source of ``mitogen.core``, from the cache when it holds it."""
    source = inspect.getsource(mitogen.core)
    name = f"mitogen-core-{hashlib.sha256(source.encode()).hexdigest()[:24]}-l{LIGHTER_VERSION}.py"
    try:
        path = (directory or cache_dir()) / name
    except (OSError, RuntimeError):  # no usable home directory
        return lighter(str(mitogen.minify.minimize_source(source)))
    with contextlib.suppress(OSError, UnicodeDecodeError):
        cached = path.read_text(encoding="utf-8")
        if cached.count("\n") == source.count("\n"):  # minifying keeps every line; anything else is not ours
            return cached
    minified = lighter(str(mitogen.minify.minimize_source(source)))
    with contextlib.suppress(OSError):
        write_atomic(path, minified.encode(), 0o644)
    return minified


class _RememberedSource:
    """``inspect`` for ``mitogen.parent``, with ``getsourcelines`` remembered.

    Every connection's boot command re-reads and re-tokenizes the same first-stage
    function (``Connection.get_boot_command``): 1.3 ms of controller CPU per host.
    """

    def __getattr__(self, name: str) -> object:
        return getattr(inspect, name)

    @staticmethod
    @functools.cache
    def getsourcelines(obj: object) -> tuple[list[str], int]:
        lines, start = inspect.getsourcelines(obj)  # type: ignore[arg-type]
        return list(lines), start


def install() -> None:
    """Make Mitogen's master boot new contexts from :func:`minified_core_source`."""
    mitogen.parent._get_core_source = minified_core_source
    mitogen.parent.inspect = _RememberedSource()
