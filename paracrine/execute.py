"""Controller side of the run phase: one batch per host, and what came back.

:func:`build_batch` turns a host's plan into the wire form run by
:func:`paracrine.remote.execute.run_batch`: the operations with changes, in
topological order, each with the steps it needs (failure propagation), the
triggers it must fire (durable, recorded on the target) and, for handlers,
the steps whose change makes it run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paracrine import dag
from paracrine.plan import HostPlan, PlannedOp, handler_key


@dataclass
class StepResult:
    """What one operation call did on the target."""

    status: str  # changed | unchanged | failed | ignored | skipped
    error: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)


def build_batch(plan: HostPlan, pending: set[str]) -> dict[str, Any]:
    """The wire-form batch of a host's plan (only operations that change something)."""
    steps_ops = [p for p in plan.ops if p.status == "change"]
    in_batch = {p.call.index for p in steps_ops}
    steps = []
    for planned in steps_ops:
        call = planned.call
        needs = sorted(dag.ancestors(plan.graph, call.index) & in_batch)
        step: dict[str, Any] = {
            "id": call.index,
            "label": call.title,
            "needs": needs,
            "changes": [c.to_wire() for c in planned.changes],
            "conditional": list(planned.conditional),
            "ignore_errors": call.options.ignore_errors,
            "triggers": _triggers(planned),
        }
        if call.is_handler:
            key = handler_key(call)
            step["handler_key"] = key
            step["when_changed"] = sorted(t.index for t in call.triggers if t.index in in_batch)
            step["force"] = key in pending
        steps.append(step)
    return {"steps": steps}


def _triggers(planned: PlannedOp) -> list[list[str]]:
    """Handlers this call triggers, as ``[key, label]`` (recorded as pending when it changes)."""
    unique = {id(h): h for h in planned.call.handlers}
    return [[handler_key(h), h.title] for h in unique.values()]


def parse_results(reply: dict[str, Any]) -> dict[int, StepResult]:
    """Step results by operation index."""
    return {
        step["id"]: StepResult(step["status"], step.get("error"), list(step.get("changes", ())))
        for step in reply.get("steps", ())
    }
