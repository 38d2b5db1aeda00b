"""The wire format between the controller and the target-side executors, defined once.

Standard library only: both sides import it. Only builtins cross the wire
(Mitogen refuses sets, dataclasses, enums...), so every shape here is a dict
of builtins, described by a TypedDict.

Facts (:func:`paracrine.remote.gather.gather`, one call per host and round)::

    request:  FactRequest = [module, function, kwargs, cached_fingerprint]
    reply:    GatherReply = {"results": [FactReply, ...], "lock": LockState | None}

Changes (:func:`paracrine.remote.execute.run_batch`, one call per host and stage)::

    Batch  = {"version": 1, "deploy": name, "steps": [Step, ...], "forget": [stale pending keys],
              "progress": <Sender> | None}  (each finished step is sent [id, status, output tail])
    Step   = {"id", "label", "needs", "changes": [ChangeWire], "conditional", "ignore_errors",
              "sensitive", "triggers": [[key, label]], "handler": HandlerWire | None}
    reply: BatchReply = {"steps": [StepReply, ...], "duration": seconds}

A ``ChangeWire`` is ``{"kind": ..., "module": ..., <fields of the kind>}``: the
target imports ``module`` and calls its ``apply(change, outcome)`` (see
:mod:`paracrine.changes`). Content streamed from the controller is named in a
change as ``{"path", "size", "context"}`` (the controller's Mitogen context,
whose FileService serves the registered path).
"""

from __future__ import annotations

from typing import Any, TypedDict

VERSION = 1
#: Most characters of a command's output kept in a reply (the end of it).
TAIL = 8000
#: Most characters of an error message.
MAX_ERROR = 4000

STATUSES = ("changed", "unchanged", "failed", "ignored", "skipped")
FAILED_STATUSES = ("failed", "skipped")

FactRequest = list  # [module: str, function: str, kwargs: dict, cached_fingerprint: Any]


class FactReply(TypedDict, total=False):
    """One fact's result: ``value`` (+ ``fp``), ``same`` (fingerprint matched), or ``error`` + ``type``."""

    value: Any
    fp: Any
    same: bool
    error: str
    type: str


class LockState(TypedDict):
    """Who holds a host's run lock when this run could not take it."""

    held: bool
    holder: str


class GatherReply(TypedDict):
    """The reply to one gather call."""

    results: list[FactReply]
    lock: LockState | None


class HandlerWire(TypedDict):
    """The handler part of a step: its pending key, the steps that trigger it, and a pending record."""

    key: str
    when_changed: list[int]
    force: bool


class Step(TypedDict):
    """One operation call of a batch."""

    id: int
    label: str
    needs: list[int]
    changes: list[dict[str, Any]]
    conditional: list[bool]
    ignore_errors: bool
    sensitive: bool
    triggers: list[list[str]]
    handler: HandlerWire | None


class Batch(TypedDict):
    """The changes of one host for one stage."""

    version: int
    deploy: str
    steps: list[Step]
    forget: list[str]
    progress: Any  # a Mitogen Sender the target tells each finished step, or None


class Outcome(TypedDict):
    """What applying one change did."""

    changed: bool
    error: str | None
    rc: int | None
    stdout: str
    stderr: str
    duration: float


class StepReply(TypedDict):
    """What one step did: a status from :data:`STATUSES`, an error, and one outcome per change applied."""

    id: int
    status: str
    error: str | None
    changes: list[Outcome]


class BatchReply(TypedDict):
    """The reply to one batch."""

    steps: list[StepReply]
    duration: float


def new_outcome() -> Outcome:
    """An outcome with nothing done yet."""
    return {"changed": False, "error": None, "rc": None, "stdout": "", "stderr": "", "duration": 0.0}


def tail(data: bytes | str, limit: int = TAIL) -> str:
    """The last ``limit`` characters of command output, as text."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text[-limit:]
