"""Phase two: plan each host's operation calls against its (predicted) facts.

Planning is pure and cheap, so it runs speculatively: a fact that is not
gathered yet is recorded (:attr:`HostPlan.missing`) and planning goes on; the
run fetches every host's missing facts in one round and plans again.

An operation that reads a fact an earlier opaque change (a command) may alter
cannot be planned yet: it and every call after it are *deferred*. The host runs
what comes before, gathers its facts again and plans the rest (one extra round
trip, only where needed). So that the user approves every operation that may
change, the deferred calls are also planned as a *preview*
(:attr:`HostPlan.preview`): against the state the run predicts if the commands
changed nothing they read. A preview is shown, marked as depending on earlier
changes, and never applied as such.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from paracrine import dag, handlers
from paracrine.changes import Change
from paracrine.errors import ParacrineError, PlanError
from paracrine.factkey import FactKey
from paracrine.gather import HostFacts, make_key
from paracrine.hosts import Host
from paracrine.operation import OpCall
from paracrine.predict import FactMissing, PredictedState, Unpredictable

if TYPE_CHECKING:
    from paracrine.dag import Graph

Status = Literal["change", "ok", "error", "skipped", "incomplete"]


class OpContext:
    """What an operation's generator sees while it plans: the host, its facts, trigger state."""

    def __init__(
        self,
        host: Host,
        state: PredictedState,
        user: str | None = None,
        triggered: bool | None = None,
        once_values: dict[str, Any] | None = None,
    ) -> None:
        self.host = host
        self._once = {} if once_values is None else once_values
        self.user = user
        self.triggered = triggered
        self._state = state
        self.conditional: set[int] = set()
        self.uses_triggers = False

    def fact(self, func: Callable[..., Any] | str, **args: Any) -> Any:
        """The value of a fact on this host as it will be when this operation runs."""
        return self._state.lookup(make_key(func, args, self.user))

    def facts(self, *requests: tuple[Callable[..., Any] | str, dict[str, Any]]) -> list[Any]:
        """Several facts at once, so that all missing ones are fetched in the same round."""
        values, missing = [], []
        for func, args in requests:
            try:
                values.append(self.fact(func, **args))
            except FactMissing as exc:
                missing.extend(exc.keys)
        if missing:
            raise FactMissing(missing)
        return values

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per operation call, however often the call is planned (renders, local reads)."""
        if key not in self._once:
            self._once[key] = compute()
        return self._once[key]

    def when_triggered(self, change: Change) -> Change:
        """Mark ``change`` to run only when this handler is triggered; its other changes always run.

        A handler that never calls this runs *all* its changes only when
        triggered. One that does (``systemd.service(running=True,
        reload_on=[site])``: start always, reload when triggered) decides per change.
        """
        self.uses_triggers = True
        self.conditional.add(id(change))
        return change


@dataclass
class PlannedOp:
    """The plan of one call: its changes (and which run only when triggered), or why not."""

    call: OpCall
    status: Status
    changes: list[Change] = field(default_factory=list)
    conditional: list[bool] = field(default_factory=list)
    triggered: bool | None = None
    error: ParacrineError | None = None
    speculative: bool = False  # a preview: planned as if earlier commands changed nothing it reads


@dataclass
class HostPlan:
    """The plan of one host for one stage: what runs now, and a preview of what is deferred."""

    host: str
    graph: Graph
    ops: list[PlannedOp]
    missing: set[FactKey]
    deferred: list[OpCall]
    preview: list[PlannedOp] = field(default_factory=list)

    @property
    def changing(self) -> list[PlannedOp]:
        return [p for p in self.ops if p.status == "change"]

    @property
    def errors(self) -> list[PlannedOp]:
        return [p for p in self.ops if p.status == "error"]


def effective_user(host: Host, become: bool | str | None) -> str | None:
    """The user an operation runs as, or None for the connection's own identity."""
    if become is None:
        return None
    conn = host.connection()
    identity = conn.become_user if conn.become else conn.user
    wanted = ("root" if become is True else conn.user) if isinstance(become, bool) else become
    return None if wanted is None or wanted == identity else wanted


class Planner:
    """Plans one host's calls in topological order against one predicted state."""

    def __init__(self, host: Host, graph: Graph, facts: HostFacts) -> None:
        self.host = host
        self.graph = graph
        self.facts = facts
        self.missing: set[FactKey] = set()
        self.state = PredictedState(self._base)

    def _base(self, key: FactKey) -> Any:
        if not self.facts.has(key):
            raise FactMissing([key])
        return self.facts.get(key)

    def pending(self) -> dict[str, Any]:
        """The pending handler records of the host (:mod:`paracrine.handlers`)."""
        try:
            records = self._base(handlers.pending_fact_key())
        except FactMissing as exc:
            self.missing.update(exc.keys)
            return {}
        except ParacrineError:
            return {}
        return records if isinstance(records, dict) else {}

    def plan(self, calls: list[OpCall], changed_before: Collection[int], blocked_before: Collection[int]) -> HostPlan:
        """Plan ``calls`` (in order); the ones after the first unpredictable read are deferred and previewed."""
        pending = self.pending()
        changed, blocked = set(changed_before), set(blocked_before)
        ops: list[PlannedOp] = []
        deferred: list[OpCall] = []
        preview: list[PlannedOp] = []
        for call in calls:
            if dag.ancestors(self.graph, call.index) & blocked:
                skipped = PlannedOp(call, "skipped", speculative=bool(deferred))
                (preview if deferred else ops).append(skipped)
                if deferred:
                    deferred.append(call)
                blocked.add(call.index)
                continue
            triggered = handlers.is_triggered(call, pending, changed) if call.is_handler else None
            planned = self._plan_one(call, triggered)
            if planned is None:  # an earlier command may change what it reads: preview from here on
                self.state.speculative = True
                planned = self._plan_one(call, triggered) or PlannedOp(call, "incomplete", triggered=triggered)
            if self.state.speculative:
                planned.speculative = True
                deferred.append(call)
                preview.append(planned)
            else:
                ops.append(planned)
            if planned.status == "change":
                changed.add(call.index)
            elif planned.status == "error" and not call.options.ignore_errors:
                blocked.add(call.index)
        return HostPlan(self.host.name, self.graph, ops, self.missing, deferred, preview)

    def _plan_one(self, call: OpCall, triggered: bool | None) -> PlannedOp | None:
        user = effective_user(self.host, call.options.become)
        ctx = OpContext(self.host, self.state, user, triggered, call.once_values)
        try:
            changes = call.op.run(ctx, call)
        except FactMissing as exc:
            self.missing.update(exc.keys)
            return PlannedOp(call, "incomplete", triggered=triggered)
        except Unpredictable:
            return None
        except ParacrineError as exc:
            error = exc.with_context(host=call.host, op=call.label, where=call.where)
            return PlannedOp(call, "error", triggered=triggered, error=error)
        except Exception as exc:  # a bug or an unexpected state: report it against the call
            error = PlanError(f"{type(exc).__name__}: {exc}", host=call.host, op=call.label, where=call.where)
            return PlannedOp(call, "error", triggered=triggered, error=error)
        conditional = [id(c) in ctx.conditional for c in changes]
        if call.is_handler and not ctx.uses_triggers:
            conditional = [True] * len(changes)  # a plain handler runs only when triggered
        if not triggered:
            changes = [c for c, cond in zip(changes, conditional, strict=True) if not cond]
            conditional = [False] * len(changes)
        for change in changes:
            self.state.apply(change.effects())
        status: Status = "change" if changes else "ok"
        return PlannedOp(call, status, changes, conditional, triggered)
