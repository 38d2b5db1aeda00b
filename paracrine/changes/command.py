"""RunCommand: run an argument list on the target (no shell unless the argv asks for one).

The command runs in a process group of its own, so that when the run is
interrupted or the connection is lost, :func:`terminate_all` (called by the
executor's SIGTERM handler) ends it with everything it started, instead of
leaving it running on the host.

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from paracrine.changes.base import Change, shown
from paracrine.facts._command import STANDARD_PATH
from paracrine.remote import wire
from paracrine.secret import MASK

if TYPE_CHECKING:
    import subprocess

    from paracrine.predict import Effect

#: Seconds between SIGTERM and SIGKILL when a command's process group is ended.
KILL_GRACE = 2.0


@dataclasses.dataclass(frozen=True)
class RunCommand(Change):
    """Run ``argv`` (no shell unless argv asks for one); ``ok_codes`` are success.

    ``predicted`` are the command's effects on facts when the operation knows
    them; without them the command is opaque (facts read after it are
    gathered again once it ran).
    """

    kind: ClassVar[str] = "command"
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    stdin: bytes | None = None
    ok_codes: tuple[int, ...] = (0,)
    user: str | None = None
    predicted: tuple[Effect, ...] | None = dataclasses.field(default=None, compare=False, metadata={"wire": False})
    #: What the command installs, as old and new lines (a crontab, a table): shown by ``--diff``.
    preview: tuple[tuple[str, ...], tuple[str, ...], str] | None = dataclasses.field(
        default=None, compare=False, metadata={"wire": False}
    )

    def to_wire(self) -> dict[str, Any]:
        wire_form = super().to_wire()
        wire_form["env"] = dict(self.env) if self.env else None
        return wire_form

    def to_json(self, masked: bool = False, contents: bool = False) -> dict[str, Any]:
        data = super().to_json()
        data["stdin"] = None if self.stdin is None else f"<{len(self.stdin)} bytes>"
        if masked:
            data["argv"] = [MASK]
            data["env"] = None if self.env is None else dict.fromkeys(self.env, MASK)
        return data

    def describe(self, masked: bool = False) -> str:
        import shlex

        text = MASK if masked else shown(shlex.join(self.argv))
        described = f"run {text}" + (f" as {self.user}" if self.user else "")
        if self.preview is not None and not masked:
            old, new, what = self.preview
            added, removed = len(set(new) - set(old)), len(set(old) - set(new))
            described += f" ({what}: +{added} -{removed} lines)"
        return described

    def diff(self) -> tuple[list[str], list[str], str] | None:
        """Old and new lines of what the command installs, and what it is (for ``--diff``)."""
        if self.preview is None:
            return None
        old, new, what = self.preview
        return list(old), list(new), what

    def effects(self) -> list[Effect]:
        if self.predicted is not None:
            return list(self.predicted)
        return super().effects()


# ---------------------------------------------------------------- target side

_running: set[subprocess.Popen[bytes]] = set()


def terminate_all() -> None:
    """End the process group of every command still running (SIGTERM, then SIGKILL)."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in list(_running) if p.poll() is None]
        for proc in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        deadline = time.monotonic() + KILL_GRACE
        while any(p.poll() is None for p in alive) and time.monotonic() < deadline:
            time.sleep(0.05)


def _user_settings(user: str, env: dict[str, str]) -> dict[str, Any]:
    import pwd

    entry = pwd.getpwnam(user)
    env.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": os.getgrouplist(entry.pw_name, entry.pw_gid)}


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Run the command; it always counts as a change. A code outside ``ok_codes`` is an error."""
    import subprocess

    env = dict(os.environ)
    env.setdefault("PATH", STANDARD_PATH)
    env.update(change.get("env") or {})
    kwargs = _user_settings(change["user"], env) if change.get("user") else {}
    proc = subprocess.Popen(
        change["argv"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=change.get("cwd"),
        start_new_session=True,
        **kwargs,
    )
    _running.add(proc)
    try:
        stdout, stderr = proc.communicate(change.get("stdin") or b"")
    finally:
        _running.discard(proc)
    outcome["rc"], outcome["changed"] = proc.returncode, True
    outcome["stdout"], outcome["stderr"] = wire.tail(stdout), wire.tail(stderr)
    if proc.returncode not in change.get("ok_codes", (0,)):
        lines = outcome["stderr"].strip().splitlines() or outcome["stdout"].strip().splitlines() or [""]
        outcome["error"] = f"exit code {proc.returncode}" + (f": {lines[-1]}" if lines[-1] else "")
