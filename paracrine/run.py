"""One deploy run over many hosts: connect, facts and plan in rounds, apply in stages.

A zero-change run costs one connection and one fact round trip per host, all
hosts in parallel: the first planning pass records every fact the plan needs
(plus those the previous run of this deploy needed), one batched call per
host fetches them, and the second pass finds nothing to change.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paracrine import dag
from paracrine.connect import Session
from paracrine.deploy import DeployFactMissing, load_calls
from paracrine.errors import ConnectError, FactError, ParacrineError
from paracrine.execute import StepResult, build_batch, parse_results
from paracrine.factcache import FactCache
from paracrine.gather import FactKey, Gatherer
from paracrine.hosts import Host
from paracrine.inventory import Inventory
from paracrine.operation import OpCall
from paracrine.plan import HostPlan, PlannedOp, Planner, pending_key
from paracrine.targets import Timings

if TYPE_CHECKING:
    import networkx as nx

MAX_ROUNDS = 8


@dataclass
class HostRun:
    """Everything about one host in this run."""

    host: Host
    calls: list[OpCall] | None = None
    graph: nx.DiGraph | None = None
    remaining: list[OpCall] = field(default_factory=list)  # calls to plan in the current stage
    plan: HostPlan | None = None  # the plan of the current stage
    done: list[HostPlan] = field(default_factory=list)  # plans of stages already applied
    results: dict[int, StepResult] = field(default_factory=dict)
    error: ParacrineError | None = None
    changed: set[int] = field(default_factory=set)
    blocked: set[int] = field(default_factory=set)
    plan_seconds: float = 0.0
    apply_seconds: float = 0.0

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def needs_planning(self) -> bool:
        return self.ok and (self.calls is None or bool(self.remaining))

    def planned_ops(self) -> list[PlannedOp]:
        plans = [*self.done, self.plan] if self.plan is not None else self.done
        return [op for plan in plans for op in plan.ops]


Confirm = Callable[["DeployRun"], bool]


class DeployRun:
    """Drives one run of deploy files over an inventory."""

    def __init__(
        self,
        files: Sequence[Path],
        inventory: Inventory,
        *,
        cache: FactCache,
        parallel: int = 32,
        progress: Any = None,
        session: Session | None = None,
    ) -> None:
        self.files = list(files)
        self.inventory = inventory
        self.cache = cache
        self.hosts = {h.name: HostRun(h) for h in inventory.hosts}
        self.timings = Timings()
        self.session = session or Session(parallel=parallel, progress=progress)
        self.gatherer = Gatherer(self.session, cache)
        self.fact_rounds = 0
        self.apply_rounds = 0
        self._connecting = False
        self._prefetched: dict[str, set[FactKey]] = {}
        self.deploy_id = hashlib.sha256("\0".join(str(f.resolve()) for f in self.files).encode()).hexdigest()[:16]

    # ------------------------------------------------------------ driving
    def __enter__(self) -> DeployRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def active(self) -> list[HostRun]:
        return [h for h in self.hosts.values() if h.ok]

    def connect(self) -> None:
        """Start connecting every host (unless the session already is); :meth:`plan` overlaps its first
        pass with the handshakes, and each host gets the facts its last run read as soon as it is up."""
        if not self.session.connecting:
            self.session.start_connecting(self.inventory.hosts, resolve=self.inventory.get)
        self._connecting = True
        self._prefetched = {h.name: self.cache.load_keys(h.name, self.deploy_id) for h in self.inventory.hosts}
        self.session.on_connected(
            lambda host, context: self.gatherer.prefetch(host, context, self._prefetched.get(host, ()))
        )

    def _connected(self) -> None:
        if self._connecting:
            self._connecting = False
            self.session.wait_connected()
            for name, exc in self.session.failed.items():
                self.hosts[name].error = exc
            self.timings.mark("connect")

    def plan(self) -> None:
        """Plan every host that needs it, fetching missing facts in rounds (usually one)."""
        first = True
        todo = [hr for hr in self.hosts.values() if hr.needs_planning]
        for _ in range(MAX_ROUNDS):
            wanted = {hr.name: missing for hr in todo if hr.ok and (missing := self._plan_host(hr))}
            todo = [hr for hr in todo if hr.name in wanted]  # the others' facts did not change: their plans stand
            self.timings.mark("plan")
            self._connected()
            wanted = {name: keys for name, keys in wanted.items() if self.hosts[name].ok}
            if not wanted:
                for hr in self.hosts.values():
                    hr.remaining = [] if hr.ok else hr.remaining
                return
            if first:  # what the last run read: in flight since the host connected, else asked now
                for name, keys in wanted.items():
                    keys.update(self._prefetched.get(name, ()))
                first = False
            errors = self.gatherer.fetch(wanted)
            self.fact_rounds += 1
            for name, message in errors.items():
                self.hosts[name].error = FactError(f"gathering facts failed: {message}", host=name)
            self.timings.mark("facts")
        for hr in todo:
            hr.error = FactError(f"facts did not settle after {MAX_ROUNDS} rounds", host=hr.name)

    def _plan_host(self, hr: HostRun) -> set[FactKey]:
        """Plan one host's remaining calls; returns the facts it still misses."""
        start = time.perf_counter()
        try:
            return self._plan_host_once(hr)
        finally:
            hr.plan_seconds += time.perf_counter() - start

    def _plan_host_once(self, hr: HostRun) -> set[FactKey]:
        if hr.calls is None:
            try:
                hr.calls = load_calls(self.files, hr.host, self._deploy_lookup(hr))
                hr.graph = dag.build(hr.calls)
                hr.remaining = dag.order(hr.graph)
            except DeployFactMissing as exc:
                hr.calls = None
                return {*exc.keys, pending_key()}
            except ParacrineError as exc:
                hr.error = exc.with_context(host=hr.name)
                return set()
        assert hr.graph is not None
        hr.plan = Planner(hr.host, hr.graph, self.gatherer.facts(hr.name)).plan(hr.remaining, hr.changed, hr.blocked)
        if hr.plan.missing:
            return set(hr.plan.missing)
        return set()

    def _deploy_lookup(self, hr: HostRun) -> Callable[[FactKey], Any]:
        memo = self.gatherer.facts(hr.name)

        def lookup(key: FactKey) -> Any:
            if not memo.has(key):
                raise DeployFactMissing([key])
            try:
                return memo.get(key)
            except FactError as exc:
                raise exc.with_context(host=hr.name) from None

        return lookup

    def pending_changes(self) -> bool:
        return any(hr.plan is not None and (hr.plan.changing or hr.plan.deferred) for hr in self.active())

    def has_plan_errors(self) -> bool:
        return any(hr.plan is not None and hr.plan.errors for hr in self.hosts.values())

    def apply(self) -> None:
        """Ship each host's batch, in stages while some host has deferred operations."""
        from paracrine.remote.execute import run_batch

        while True:
            batches = {
                hr.name: (build_batch(hr.plan, self._pending(hr)),)
                for hr in self.active()
                if hr.plan is not None and hr.plan.changing
            }
            if batches:
                outcomes = self.session.call_all(run_batch, batches)
                self.apply_rounds += 1
                for name, outcome in outcomes.items():
                    self._record(self.hosts[name], outcome)
            self.timings.mark("apply")
            split = False
            for hr in self.active():
                if hr.plan is None:
                    continue
                hr.done.append(hr.plan)
                hr.remaining, hr.plan = hr.plan.deferred, None
                if hr.remaining:
                    split = True
                    self.gatherer.memo.pop(hr.name, None)  # the host changed: gather its facts again
            if not split:
                return
            self.plan()

    def _pending(self, hr: HostRun) -> set[str]:
        memo = self.gatherer.facts(hr.name)
        try:
            return set(memo.get(pending_key())) if memo.has(pending_key()) else set()
        except ParacrineError:
            return set()

    def _record(self, hr: HostRun, outcome: Any) -> None:
        hr.apply_seconds += outcome.seconds
        if not outcome.ok:
            hr.error = ConnectError(f"applying changes failed: {outcome.error}", host=hr.name)
            return
        results = parse_results(outcome.value)
        hr.results.update(results)
        for index, result in results.items():
            if result.status == "changed":
                hr.changed.add(index)
            elif result.status in ("failed", "skipped"):
                hr.blocked.add(index)

    def remember_keys(self) -> None:
        """Store which facts each host's plan read, to prefetch them next time in the first round."""
        for hr in self.active():
            keys = self.gatherer.facts(hr.name).values.keys()
            self.cache.save_keys(hr.name, self.deploy_id, keys)
