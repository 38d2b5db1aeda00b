"""Target side of the run phase: apply one host's batch of changes in one call.

Standard library only. The batch is a list of steps (one per operation call)
in topological order; each step holds wire-form changes (see
:mod:`paracrine.changes`). A failed step skips every step that needs it; the
other steps go on. Nothing here raises: every result is plain data.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

from paracrine.remote import state

TAIL = 4000
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def run_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """Apply ``batch["steps"]`` in order; returns ``{"steps": [...], "duration": s}``."""
    start = time.monotonic()
    status: dict[int, str] = {}
    results = []
    for step in batch["steps"]:
        result = _run_step(step, status)
        status[step["id"]] = result["status"]
        results.append(result)
    return {"steps": results, "duration": time.monotonic() - start}


def _run_step(step: dict[str, Any], status: dict[int, str]) -> dict[str, Any]:
    result: dict[str, Any] = {"id": step["id"], "status": "unchanged", "changes": [], "error": None}
    blocked = [n for n in step["needs"] if status.get(n) in ("failed", "skipped")]
    if blocked:
        result["status"] = "skipped"
        result["error"] = f"skipped: step {blocked[0]} failed or was skipped"
        return result
    fire = step.get("force", False) or any(status.get(t) == "changed" for t in step.get("when_changed", ()))
    ran_conditional = False
    for change, conditional in zip(step["changes"], step["conditional"], strict=True):
        if conditional and not fire:
            continue
        ran_conditional = ran_conditional or conditional
        outcome = apply_change(change)
        result["changes"].append(outcome)
        if outcome["error"] is not None:
            result["status"] = "failed"
            result["error"] = outcome["error"]
            break
        if outcome["changed"]:
            result["status"] = "changed"
    if result["status"] == "failed":
        if step.get("ignore_errors"):
            result["status"] = "ignored"
        return result
    if result["status"] == "changed":
        for key, label in step.get("triggers", ()):
            state.mark_pending(key, label)
    if step.get("handler_key") and (ran_conditional or step.get("force")):
        state.clear_pending(step["handler_key"])
    return result


def apply_change(change: dict[str, Any]) -> dict[str, Any]:
    """Apply one wire-form change; returns ``{changed, error, rc, stdout, stderr, duration}``."""
    start = time.monotonic()
    outcome: dict[str, Any] = {"changed": False, "error": None, "rc": None, "stdout": "", "stderr": ""}
    try:
        handler = _HANDLERS[change["kind"]]
        handler(change, outcome)
    except Exception as exc:
        outcome["error"] = f"{type(exc).__name__}: {exc}"[:TAIL]
    outcome["duration"] = time.monotonic() - start
    return outcome


def _tail(data: bytes) -> str:
    return data[-TAIL:].decode("utf-8", "replace")


def _ids(owner: str | None, group: str | None) -> tuple[int, int]:
    """Numeric uid/gid for names (or digits); -1 means 'leave as is'."""
    import grp
    import pwd

    uid = gid = -1
    if owner:
        uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
    if group:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    return uid, gid


def _command(change: dict[str, Any], outcome: dict[str, Any]) -> None:
    env = dict(os.environ)
    env.setdefault("PATH", STANDARD_PATH)
    env.update(change.get("env") or {})
    kwargs: dict[str, Any] = {}
    if change.get("user"):
        import pwd

        entry = pwd.getpwnam(change["user"])
        kwargs = {
            "user": entry.pw_uid,
            "group": entry.pw_gid,
            "extra_groups": os.getgrouplist(entry.pw_name, entry.pw_gid),
        }
        env.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    proc = subprocess.run(
        change["argv"], input=change.get("stdin") or b"", capture_output=True, env=env, cwd=change.get("cwd"), **kwargs
    )
    outcome.update(rc=proc.returncode, stdout=_tail(proc.stdout), stderr=_tail(proc.stderr), changed=True)
    if proc.returncode not in change.get("ok_codes", (0,)):
        last = (_tail(proc.stderr).strip().splitlines() or _tail(proc.stdout).strip().splitlines() or [""])[-1]
        outcome["error"] = f"exit code {proc.returncode}" + (f": {last}" if last else "")


def _same_file(path: str, change: dict[str, Any], uid: int, gid: int) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    import stat

    if not stat.S_ISREG(st.st_mode):
        return False
    if change.get("mode") is not None and stat.S_IMODE(st.st_mode) != change["mode"]:
        return False
    if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
        return False
    with open(path, "rb") as stream:
        digest = hashlib.sha256(stream.read()).hexdigest()
    return bool(digest == change["sha256"])


def _write(change: dict[str, Any], outcome: dict[str, Any]) -> None:
    path = change["path"]
    uid, gid = _ids(change.get("owner"), change.get("group"))
    if _same_file(path, change, uid, gid):
        return
    parent = os.path.dirname(path) or "/"
    os.makedirs(parent, mode=0o755, exist_ok=True)
    mode = change.get("mode")
    try:
        old = os.lstat(path)
    except FileNotFoundError:
        old = None
    if mode is None:
        mode = (old.st_mode & 0o7777) if old is not None and not os.path.islink(path) else 0o644
    fd, tmp = tempfile.mkstemp(dir=parent, prefix="." + os.path.basename(path) + ".paracrine-")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(change["data"])
            stream.flush()
            if old is not None and (uid == -1 or gid == -1):  # keep the old owner where none is asked for
                uid = old.st_uid if uid == -1 else uid
                gid = old.st_gid if gid == -1 else gid
            if uid != -1 or gid != -1:
                os.fchown(stream.fileno(), uid, gid)
            os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    state.fsync_dir(parent)
    outcome["changed"] = True


def _set_attrs(path: str, mode: int | None, uid: int, gid: int, outcome: dict[str, Any]) -> None:
    import stat

    st = os.lstat(path)
    if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
        os.lchown(path, uid, gid)
        outcome["changed"] = True
    if mode is not None and not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
        outcome["changed"] = True


def _mkdir(change: dict[str, Any], outcome: dict[str, Any]) -> None:
    path = change["path"]
    uid, gid = _ids(change.get("owner"), change.get("group"))
    if not os.path.isdir(path) or os.path.islink(path):
        parent = os.path.dirname(path.rstrip("/")) or "/"
        os.makedirs(parent, mode=0o755, exist_ok=True)
        os.mkdir(path, 0o700)
        outcome["changed"] = True
        mode = change.get("mode")
        _set_attrs(path, 0o755 if mode is None else mode, uid, gid, outcome)
        state.fsync_dir(parent)
        return
    _set_attrs(path, change.get("mode"), uid, gid, outcome)


def _link(change: dict[str, Any], outcome: dict[str, Any]) -> None:
    path, target = change["path"], change["target"]
    if os.path.islink(path) and os.readlink(path) == target:
        return
    if os.path.isdir(path) and not os.path.islink(path):
        raise IsADirectoryError(f"{path} is a directory; remove it first")
    parent = os.path.dirname(path) or "/"
    os.makedirs(parent, mode=0o755, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.paracrine-{os.getpid()}")
    try:
        os.symlink(target, tmp)
        os.rename(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    state.fsync_dir(parent)
    outcome["changed"] = True


def _remove(change: dict[str, Any], outcome: dict[str, Any]) -> None:
    path = change["path"]
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        if change.get("recursive"):
            shutil.rmtree(path)
        else:
            os.rmdir(path)
    else:
        os.unlink(path)
    outcome["changed"] = True


def _attrs(change: dict[str, Any], outcome: dict[str, Any]) -> None:
    uid, gid = _ids(change.get("owner"), change.get("group"))
    _set_attrs(change["path"], change.get("mode"), uid, gid, outcome)


def _call(change: dict[str, Any], outcome: dict[str, Any]) -> None:
    import importlib

    func = getattr(importlib.import_module(change["module"]), change["function"])
    reply = func(**change.get("kwargs", {})) or {}
    outcome["changed"] = bool(reply.get("changed", True))
    outcome["stdout"] = str(reply.get("stdout", ""))[-TAIL:]
    outcome["stderr"] = str(reply.get("stderr", ""))[-TAIL:]
    if reply.get("error"):
        outcome["error"] = str(reply["error"])[:TAIL]


_HANDLERS = {
    "command": _command,
    "write": _write,
    "mkdir": _mkdir,
    "link": _link,
    "remove": _remove,
    "attrs": _attrs,
    "call": _call,
}
