"""Controller side of the run phase: build one host's batch for a stage, and read its reply.

:func:`build_batch` turns a host's plan into the wire form that
:func:`paracrine.remote.execute.run_batch` runs (:mod:`paracrine.remote.wire`):
the operations with changes, in topological order, each with the steps it
needs (failure propagation), the handlers it triggers and, for handlers, when
they fire. File content larger than :data:`INLINE_LIMIT` does not travel inside
the batch: it is spooled to a private file on the controller and streamed by
the target (see :mod:`paracrine.changes.write`), so no size of one host's
change set reaches Mitogen's message limit.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from paracrine import dag, handlers
from paracrine.changes import Change, LocalFile, WriteFile
from paracrine.plan import HostPlan
from paracrine.remote import wire
from paracrine.secret import plain

#: Inline content above this size is streamed instead of sent inside the batch.
INLINE_LIMIT = 256 * 1024


@dataclass
class StepResult:
    """What one operation call did on the target."""

    status: str  # one of wire.STATUSES
    error: str | None = None
    changes: list[wire.Outcome] = field(default_factory=list)


class Spool:
    """A private directory (0700) for large inline content, removed with :meth:`close`."""

    def __init__(self) -> None:
        self._dir: str | None = None
        self._lock = threading.Lock()
        self._files: dict[str, LocalFile] = {}

    def local_file(self, data: bytes, sha256: str) -> LocalFile:
        """A controller file holding ``data`` (one per content, however many hosts get it)."""
        with self._lock:
            if sha256 not in self._files:
                if self._dir is None:
                    self._dir = tempfile.mkdtemp(prefix="paracrine-spool-")
                path = os.path.join(self._dir, sha256)
                with open(path, "wb") as stream:
                    stream.write(data)
                self._files[sha256] = LocalFile(path, len(data), sha256)
            return self._files[sha256]

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _wire(change: Change, spool: Spool) -> dict[str, Any]:
    if isinstance(change, WriteFile) and change.data is not None and len(change.data) > INLINE_LIMIT:
        change = dataclasses.replace(change, data=None, source=spool.local_file(change.data, change.sha256))
    wired: dict[str, Any] = plain(change.to_wire())  # a kind's own to_wire may leave a Secret in (env=, kwargs=)
    return wired


def build_batch(
    plan: HostPlan, deploy: str, pending: Collection[str], spool: Spool, forget: Collection[str] = ()
) -> wire.Batch:
    """The wire-form batch of a host's plan (only operations that change something).

    Args:
        plan: the host's plan for this stage.
        deploy: the deploy's name (recorded with pending handlers).
        pending: keys of handlers pending from earlier runs (they run now).
        spool: where content too large to send inline goes.
        forget: stale pending records to remove (their handler left the deploy).
    """
    steps_ops = plan.changing
    in_batch = {p.call.index for p in steps_ops}
    steps: list[wire.Step] = []
    for planned in steps_ops:
        call = planned.call
        steps.append(
            {
                "id": call.index,
                "label": call.title,
                "needs": sorted(dag.ancestors(plan.graph, call.index) & in_batch),
                "changes": [_wire(c, spool) for c in planned.changes],
                "conditional": list(planned.conditional),
                "ignore_errors": call.options.ignore_errors,
                "sensitive": call.sensitive,
                "triggers": handlers.triggers(call),
                "handler": handlers.step_fields(call, in_batch, pending),
            }
        )
    return {"version": wire.VERSION, "deploy": deploy, "steps": steps, "forget": sorted(forget), "progress": None}


def streamed_paths(batch: wire.Batch) -> list[str]:
    """The controller files a batch streams (to register with the file service)."""
    return [c["source"]["path"] for s in batch["steps"] for c in s["changes"] if c.get("source")]


def attach_source(batch: wire.Batch, context: Any) -> None:
    """Name the controller context that serves the batch's streamed files in each change."""
    for step in batch["steps"]:
        for change in step["changes"]:
            if change.get("source"):
                change["source"]["context"] = context


def parse_results(reply: Mapping[str, Any]) -> dict[int, StepResult]:
    """Step results by operation index."""
    return {
        step["id"]: StepResult(step["status"], step.get("error"), list(step.get("changes", ())))
        for step in reply.get("steps", ())
    }
