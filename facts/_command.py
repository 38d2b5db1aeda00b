"""Run a system tool for a fact: argv list, no shell, C locale, standard PATH.

Shared by the fact modules that read a tool's output (``dpkg-query``,
``systemctl``, ``git``, ``crontab``). Not a fact domain itself. Standard library
only; ``subprocess`` is imported on first use so that modules which only read
files do not pay for it.
"""

from __future__ import annotations

import os
from typing import NamedTuple

STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The PATH that facts search and hand to the tools they run."""

TIMEOUT = 300.0
"""Seconds before a tool is considered hung and the fact fails."""


class Output(NamedTuple):
    """What a tool printed (local only: facts return builtins, never this)."""

    returncode: int
    stdout: str
    stderr: str


def run(argv: list[str], *, ok: tuple[int, ...] | None = (0,)) -> Output:
    """Run ``argv`` and return its output; raise if it is missing or fails.

    Args:
        argv: the command and its arguments; ``argv[0]`` is looked up in
            :data:`STANDARD_PATH` unless it is a path.
        ok: the exit codes that are not failures (the caller inspects them);
            None accepts any exit code.

    Returns:
        The exit code, standard output and standard error, decoded as UTF-8
        (undecodable bytes become U+FFFD).

    Raises:
        FileNotFoundError: the tool is not installed.
        RuntimeError: it exited with a code not in ``ok`` (the message quotes
            its standard error), or it timed out.
    """
    import subprocess

    env = {"LC_ALL": "C", "PATH": STANDARD_PATH}
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise FileNotFoundError(f"{argv[0]} is not installed (not found in {STANDARD_PATH})") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"`{' '.join(argv)}` did not finish within {TIMEOUT:g} s") from None
    out = Output(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )
    if ok is not None and out.returncode not in ok:
        detail = out.stderr.strip() or out.stdout.strip() or "no output"
        raise RuntimeError(f"`{' '.join(argv)}` failed with exit code {out.returncode}: {detail}")
    return out


def which(command: str) -> str | None:
    """The absolute path of an executable ``command`` in :data:`STANDARD_PATH`, or None."""
    for directory in STANDARD_PATH.split(":"):
        candidate = os.path.join(directory, command)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None
