"""Target side of the run phase: apply one host's batch of changes in one call.

Standard library only. The batch (:class:`paracrine.remote.wire.Batch`) is a
list of steps, one per operation call, in topological order; each holds
wire-form changes, and each change names the module whose ``apply`` runs it
(:mod:`paracrine.changes`). A failed step skips every step that needs it; the
other steps go on. Nothing here raises: every result is plain data.

Two optional hooks of a change kind's module shape a batch:

* ``merge_key(change) -> str | None`` and ``apply_merged(changes, outcomes)``:
  consecutive steps made only of changes with the same key run as one (one
  ``apt-get install`` for consecutive package operations). Steps are never
  reordered to merge them.
* ``DEFER = True``: the change (e.g. ``systemctl daemon-reload``) runs once,
  however many steps ask for it, just before the first later step that needs
  one of those steps or runs anything but file changes, or at the end of the batch.

While a batch runs, SIGTERM (what Mitogen sends its own process when the
connection to the controller is lost or the run is interrupted) ends the
process group of a running command before the process exits, so no command
outlives the run.
"""

from __future__ import annotations

import importlib
import os
import signal
import time
from types import ModuleType
from typing import Any

from paracrine.changes import command
from paracrine.remote import pending, wire


def run_batch(batch: wire.Batch) -> wire.BatchReply:
    """Apply ``batch["steps"]`` in order; returns one reply per step, in the batch's order."""
    start = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        pending.clear_pending(batch.get("forget", ()))
        runner = _Runner(str(batch.get("deploy", "")), batch.get("progress"))
        runner.run(batch["steps"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    replies = [runner.replies[step["id"]] for step in batch["steps"]]
    return {"steps": replies, "duration": time.monotonic() - start}


def _terminate(signum: int, frame: Any) -> None:
    """The connection is gone: end running commands, then this process."""
    command.terminate_all()
    os._exit(128 + signum)


def _module(change: dict[str, Any]) -> ModuleType:
    return importlib.import_module(change["module"])


def _hook(change: dict[str, Any], name: str, default: Any = None) -> Any:
    """A module-level hook of a change's kind (``DEFER``, ``FILES_ONLY``, ``merge_key``), or ``default``.

    Also ``default`` when the module cannot be imported: :func:`apply_change` then reports why.
    """
    try:
        return getattr(_module(change), name, default)
    except Exception:
        return default


def apply_change(change: dict[str, Any]) -> wire.Outcome:
    """Apply one wire-form change with its kind's ``apply``; never raises."""
    start = time.monotonic()
    outcome = wire.new_outcome()
    try:
        _module(change).apply(change, outcome)
    except Exception as exc:
        outcome["error"] = _error(exc)
    outcome["duration"] = time.monotonic() - start
    return outcome


def _hidden(outcome: wire.Outcome) -> str:
    """The error of a sensitive step's change, without anything it printed."""
    code = f"exit code {outcome['rc']}, " if outcome["rc"] is not None else ""
    return f"{code}failed (output hidden: sensitive)"


def _hide_sensitive(step: wire.Step, reply: wire.StepReply) -> None:
    """Blank what a sensitive step's changes printed, and the text of their errors."""
    if not step.get("sensitive"):
        return
    for outcome in reply["changes"]:
        outcome["stdout"] = outcome["stderr"] = ""
        if outcome["error"] is not None:
            outcome["error"] = _hidden(outcome)
    if reply["status"] == "failed":
        failed = next((o for o in reply["changes"] if o["error"] is not None), None)
        reply["error"] = failed["error"] if failed is not None else "failed (output hidden: sensitive)"


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[: wire.MAX_ERROR]


class _Runner:
    """Runs the steps of one batch, keeping their statuses, merged runs and deferred changes."""

    def __init__(self, deploy: str, progress: Any = None) -> None:
        self.deploy = deploy
        self.progress = progress
        self.status: dict[int, str] = {}
        self.replies: dict[int, wire.StepReply] = {}
        self.deferred: dict[str, tuple[dict[str, Any], list[int]]] = {}  # key -> (change, origin steps)
        self.clear_later: dict[int, str] = {}  # handler steps waiting for their deferred changes -> pending key
        self.steps: dict[int, wire.Step] = {}

    def run(self, steps: list[wire.Step]) -> None:
        self.steps = {step["id"]: step for step in steps}
        index = 0
        while index < len(steps):
            step = steps[index]
            self._flush_before(step)
            group = self._merge_group(steps, index)
            if len(group) > 1:
                self._run_merged(group)
            else:
                self._run_step(step)
            index += len(group)
        self._flush()

    # ---------------------------------------------------------------- one step
    def _blocked(self, step: wire.Step) -> wire.StepReply | None:
        blocked = [n for n in step["needs"] if self.status.get(n) in wire.FAILED_STATUSES]
        if not blocked:
            return None
        error = f"skipped: step {blocked[0]} failed or was skipped"
        return {"id": step["id"], "status": "skipped", "changes": [], "error": error}

    def _run_step(self, step: wire.Step) -> None:
        reply = self._blocked(step) or {"id": step["id"], "status": "unchanged", "changes": [], "error": None}
        if reply["status"] == "skipped":
            self._record(step, reply, ran_conditional=False)
            return
        handler = step.get("handler")
        fire = handler is not None and (
            handler["force"] or any(self.status.get(t) == "changed" for t in handler["when_changed"])
        )
        ran_conditional = False
        for change, conditional in zip(step["changes"], step["conditional"], strict=True):
            if conditional and not fire:
                continue
            ran_conditional = ran_conditional or conditional
            if _hook(change, "DEFER", False):
                self._defer(change, step["id"])
                continue
            if self.deferred and not _hook(change, "FILES_ONLY", False):
                self._flush(reply)  # e.g. a daemon-reload before a start in the same step
                if reply["status"] == "failed":
                    break
            outcome = apply_change(change)
            reply["changes"].append(outcome)
            if outcome["error"] is not None:
                reply["status"], reply["error"] = "failed", outcome["error"]
                break
            if outcome["changed"]:
                reply["status"] = "changed"
        self._record(step, reply, ran_conditional)

    def _record(self, step: wire.Step, reply: wire.StepReply, ran_conditional: bool) -> None:
        """Store a step's reply: hide output of sensitive steps, record triggers, clear a handler that ran."""
        _hide_sensitive(step, reply)
        if reply["status"] == "failed" and step.get("ignore_errors"):
            reply["status"] = "ignored"
        if reply["status"] == "changed":
            for key, label in step.get("triggers", ()):
                pending.mark_pending(key, label, self.deploy)
        handler = step.get("handler")
        if (
            handler is not None
            and reply["status"] not in ("failed", "skipped")
            and (ran_conditional or handler["force"])
        ):
            if any(step["id"] in origins for _change, origins in self.deferred.values()):
                self.clear_later[step["id"]] = handler["key"]  # once its deferred changes succeeded
            else:
                pending.clear_pending([handler["key"]])
        self.replies[step["id"]] = reply
        self.status[step["id"]] = reply["status"]
        if self.progress is not None:
            output = "".join(o["stdout"] + o["stderr"] for o in reply["changes"])
            self.progress.send([step["id"], reply["status"], wire.tail(output, 2000)])

    # ---------------------------------------------------------------- merged steps
    def _merge_key(self, step: wire.Step) -> str | None:
        """The key shared by every change of ``step`` when the step can merge with its neighbours."""
        if step.get("handler") is not None or not step["changes"] or any(step["conditional"]):
            return None
        keys = set()
        for change in step["changes"]:
            merge_key = _hook(change, "merge_key")
            key = merge_key(change) if merge_key is not None else None
            if key is None:
                return None
            keys.add(key)
        return keys.pop() if len(keys) == 1 else None

    def _merge_group(self, steps: list[wire.Step], index: int) -> list[wire.Step]:
        key = self._merge_key(steps[index])
        group = [steps[index]]
        if key is None or self._blocked(steps[index]) is not None:
            return group
        for step in steps[index + 1 :]:
            if self._merge_key(step) != key or self._blocked(step) is not None:
                break
            group.append(step)
        return group

    def _run_merged(self, group: list[wire.Step]) -> None:
        changes = [c for step in group for c in step["changes"]]
        outcomes = [wire.new_outcome() for _ in changes]
        start = time.monotonic()
        try:
            _module(changes[0]).apply_merged(changes, outcomes)
        except Exception as exc:
            for outcome in outcomes:
                outcome["error"] = outcome["error"] or _error(exc)
        for outcome in outcomes:
            outcome["duration"] = time.monotonic() - start
        position = 0
        for step in group:
            mine = outcomes[position : position + len(step["changes"])]
            position += len(step["changes"])
            failed = next((o for o in mine if o["error"] is not None), None)
            status = "failed" if failed else "changed" if any(o["changed"] for o in mine) else "unchanged"
            reply: wire.StepReply = {"id": step["id"], "status": status, "changes": mine, "error": None}
            reply["error"] = failed["error"] if failed else None
            self._record(step, reply, ran_conditional=False)

    # ---------------------------------------------------------------- deferred changes
    def _defer(self, change: dict[str, Any], step_id: int) -> None:
        merge_key = _hook(change, "merge_key")
        key = merge_key(change) if merge_key is not None else change["module"]
        _first, origins = self.deferred.setdefault(str(key), (change, []))
        origins.append(step_id)

    def _flush_before(self, step: wire.Step) -> None:
        """Run the deferred changes now if ``step`` needs one of their steps or runs more than file changes."""
        if not self.deferred:
            return
        origins = {o for _c, ids in self.deferred.values() for o in ids}
        files_only = all(_hook(c, "FILES_ONLY", False) or _hook(c, "DEFER", False) for c in step["changes"])
        if origins & set(step["needs"]) or not files_only:
            self._flush()

    def _flush(self, running: wire.StepReply | None = None) -> None:
        """Run the deferred changes; their outcomes go to the steps that asked for them.

        ``running``: the reply of the step in progress (recorded by its own run when it ends).
        """
        deferred, self.deferred = self.deferred, {}
        for change, origins in deferred.values():
            outcome = apply_change(change)
            for step_id in dict.fromkeys(origins):
                in_progress = running is not None and running["id"] == step_id
                reply = running if in_progress and running is not None else self.replies[step_id]
                reply["changes"].append(outcome.copy())  # a copy each: a sensitive step hides its own
                if outcome["error"] is not None and reply["status"] not in ("failed", "ignored"):
                    reply["status"], reply["error"] = "failed", outcome["error"]
                elif outcome["changed"] and reply["status"] == "unchanged":
                    reply["status"] = "changed"
                else:
                    if not in_progress:
                        _hide_sensitive(self.steps[step_id], reply)
                    continue
                if not in_progress:
                    self._record(self.steps[step_id], reply, ran_conditional=False)
        ran, self.clear_later = self.clear_later, {}
        pending.clear_pending(key for step_id, key in ran.items() if self.status[step_id] not in wire.FAILED_STATUSES)
