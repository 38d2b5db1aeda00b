"""Target side of ``paracrine run HOSTS -- COMMAND``: run one argument list and return what it printed.

Standard library only. The command runs like a deploy's ``RunCommand``: as the
connection's user (root when the host's ``become`` says so), with no shell
unless the argv names one, stdin from ``/dev/null``, in a process group of its
own that is ended when the connection is lost or the run is interrupted
(Mitogen sends SIGTERM). Nothing here raises: the reply is plain data::

    {"rc": 0, "stdout": "...", "stderr": "...", "error": None,
     "truncated": False, "duration": 0.01}

``rc`` is None when the command could not start or timed out (``error`` says
why); ``stdout``/``stderr`` keep the last :data:`MAX_OUTPUT` characters each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

from paracrine.changes import command
from paracrine.facts._command import STANDARD_PATH

#: Characters of each output stream sent back (the end of it).
MAX_OUTPUT = 1 << 20


def run(argv: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Run ``argv`` to completion (or ``timeout`` seconds) and return its exit code and output."""
    start = time.monotonic()
    reply: dict[str, Any] = {"rc": None, "stdout": "", "stderr": "", "error": None, "truncated": False}
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        _run(argv, timeout, reply)
    finally:
        signal.signal(signal.SIGTERM, previous)
    reply["duration"] = time.monotonic() - start
    return reply


def _run(argv: list[str], timeout: float | None, reply: dict[str, Any]) -> None:
    env = dict(os.environ)
    env.setdefault("PATH", STANDARD_PATH)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        reply["error"] = f"cannot run {argv[0]}: {exc.strerror or exc}"
        return
    command._running.add(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        command.terminate_all()
        stdout, stderr = proc.communicate()
        reply["error"] = f"timed out after {timeout:g} s (ended)"
    finally:
        command._running.discard(proc)
    if reply["error"] is None:
        reply["rc"] = proc.returncode
    for name, data in (("stdout", stdout), ("stderr", stderr)):
        text = data.decode("utf-8", "replace")
        reply["truncated"] = reply["truncated"] or len(text) > MAX_OUTPUT
        reply[name] = text[-MAX_OUTPUT:]


def _terminate(signum: int, frame: Any) -> None:
    """The connection is gone or the run was interrupted: end the command, then this process."""
    command.terminate_all()
    os._exit(128 + signum)
