"""Target side of the run phase: apply one host's batch of changes in one call.

Standard library only. The batch (:class:`paracrine.remote.wire.Batch`) is a
list of steps, one per operation call, in topological order; each holds
wire-form changes, and each change names the module whose ``apply`` runs it
(:mod:`paracrine.changes`). A failed step skips every step that needs it; the
other steps go on. Nothing here raises: every result is plain data.

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
from typing import Any

from paracrine import handlers
from paracrine.changes import command
from paracrine.remote import wire


def run_batch(batch: wire.Batch) -> wire.BatchReply:
    """Apply ``batch["steps"]`` in order; returns one reply per step."""
    start = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        handlers.clear_pending(batch.get("forget", ()))
        status: dict[int, str] = {}
        replies = []
        for step in batch["steps"]:
            reply = _run_step(step, status, str(batch.get("deploy", "")))
            status[step["id"]] = reply["status"]
            replies.append(reply)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return {"steps": replies, "duration": time.monotonic() - start}


def _terminate(signum: int, frame: Any) -> None:
    """The connection is gone: end running commands, then this process."""
    command.terminate_all()
    os._exit(128 + signum)


def _run_step(step: wire.Step, status: dict[int, str], deploy: str) -> wire.StepReply:
    reply: wire.StepReply = {"id": step["id"], "status": "unchanged", "changes": [], "error": None}
    blocked = [n for n in step["needs"] if status.get(n) in wire.FAILED_STATUSES]
    if blocked:
        reply["status"] = "skipped"
        reply["error"] = f"skipped: step {blocked[0]} failed or was skipped"
        return reply
    handler = step.get("handler")
    fire = handler is not None and (
        handler["force"] or any(status.get(t) == "changed" for t in handler["when_changed"])
    )
    ran_conditional = False
    for change, conditional in zip(step["changes"], step["conditional"], strict=True):
        if conditional and not fire:
            continue
        ran_conditional = ran_conditional or conditional
        outcome = apply_change(change)
        if step.get("sensitive"):
            outcome["stdout"] = outcome["stderr"] = ""
        reply["changes"].append(outcome)
        if outcome["error"] is not None:
            reply["status"] = "failed"
            reply["error"] = "command failed (output hidden: sensitive)" if step.get("sensitive") else outcome["error"]
            break
        if outcome["changed"]:
            reply["status"] = "changed"
    if reply["status"] == "failed":
        if step.get("ignore_errors"):
            reply["status"] = "ignored"
        return reply
    if reply["status"] == "changed":
        for key, label in step.get("triggers", ()):
            handlers.mark_pending(key, label, deploy)
    if handler is not None and (ran_conditional or handler["force"]):
        handlers.clear_pending([handler["key"]])
    return reply


def apply_change(change: dict[str, Any]) -> wire.Outcome:
    """Apply one wire-form change with its kind's ``apply``; never raises."""
    start = time.monotonic()
    outcome = wire.new_outcome()
    try:
        module = importlib.import_module(change["module"])
        module.apply(change, outcome)
    except Exception as exc:
        outcome["error"] = f"{type(exc).__name__}: {exc}"[: wire.MAX_ERROR]
    outcome["duration"] = time.monotonic() - start
    return outcome
