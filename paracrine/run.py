"""One deploy run over many hosts, with an explicit stage per host.

Each host goes through::

    connecting -> facts -> planned -> applying -> done
                                 \\-> failed | unreachable   (from any stage)

A zero-change run costs one connection and one fact round trip per host, all
hosts in parallel: as soon as a host is up it is sent the facts the last run of
this deploy read (only facts that read state); the first planning pass records
every fact the plan needs, the reply of that first call usually holds them
all, and the second pass finds nothing to change.

Applying is per host: each host runs its batches and re-plans its deferred
operations in a thread of its own, so a slow, failing or lost host never holds
back or hides another.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paracrine import dag, handlers
from paracrine.connect import Session
from paracrine.deploy import DeployFactMissing, DeploySource, InlineDeploy, load_calls
from paracrine.errors import ConnectError, ExitCode, FactError, LockError, ParacrineError, PlanError, UserError
from paracrine.factcache import FactCache
from paracrine.factkey import FactKey
from paracrine.gather import FetchError, Gatherer, prefetchable
from paracrine.hosts import Host
from paracrine.inventory import Inventory
from paracrine.operation import OpCall
from paracrine.plan import HostPlan, PlannedOp, Planner
from paracrine.targets import Timings

if TYPE_CHECKING:
    from paracrine.batches import Spool, StepResult
    from paracrine.dag import Graph

MAX_ROUNDS = 8


class Stage(enum.Enum):
    """Where a host is in the run."""

    CONNECTING = "connecting"
    FACTS = "facts"
    PLANNED = "planned"
    APPLYING = "applying"
    DONE = "done"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


FINAL = (Stage.DONE, Stage.FAILED, Stage.UNREACHABLE)
#: ``listener(host_run, event, detail)``: a stage name (``connecting`` ... ``unreachable``), ``step``
#: (``detail``: done, total, label, status, output) or ``waiting`` (``detail["note"]``).
Listener = Callable[["HostRun", str, "dict[str, Any] | None"], None]


@dataclass
class HostRun:
    """Everything about one host in this run."""

    host: Host
    stage: Stage = Stage.CONNECTING
    error: ParacrineError | None = None
    calls: list[OpCall] | None = None
    graph: Graph | None = None
    todo: list[OpCall] = field(default_factory=list)  # calls to plan in the current stage
    plan: HostPlan | None = None  # the current stage's plan (None once applied)
    applied: list[HostPlan] = field(default_factory=list)  # plans of the stages already applied
    results: dict[int, StepResult] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)  # pending handler records no handler will clear
    plan_seconds: float = 0.0
    apply_seconds: float = 0.0
    batches: int = 0

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def ok(self) -> bool:
        return self.stage not in (Stage.FAILED, Stage.UNREACHABLE)

    def planned_ops(self) -> list[PlannedOp]:
        """Every call's latest plan: applied stages, then the current one (and its preview of deferred calls)."""
        plans = [*self.applied, self.plan] if self.plan is not None else self.applied
        ops = [op for plan in plans for op in plan.ops]
        return ops + (self.plan.preview if self.plan is not None else [])

    def changed(self) -> set[int]:
        return {i for i, r in self.results.items() if r.status == "changed"}

    def blocked(self) -> set[int]:
        return {i for i, r in self.results.items() if r.status in ("failed", "skipped")}

    def has_work(self) -> bool:
        """Whether applying would do anything on this host."""
        plan = self.plan
        return self.ok and plan is not None and bool(plan.changing or plan.deferred or self.stale)


class DeployRun:
    """Drives one run of deploy files over an inventory.

    Args:
        files: the deploy files (or :class:`~paracrine.deploy.InlineDeploy` sources, as
            ``paracrine op`` makes), run in order for every host.
        inventory: the hosts.
        cache: the controller's fact cache.
        session: the Mitogen session (one is made if not given).
        apply: this run may apply changes: take each host's run lock in the first fact call.
        wait_lock: seconds to wait for another run's lock on a host.
        listener: told ``(host_run, event)`` whenever a host changes stage (progress output).
        keep_session: leave ``session`` open at the end (``paracrine watch`` reuses its contexts).
    """

    def __init__(
        self,
        files: Sequence[DeploySource],
        inventory: Inventory,
        *,
        cache: FactCache,
        parallel: int = 32,
        session: Session | None = None,
        apply: bool = False,
        wait_lock: float = 0.0,
        listener: Listener | None = None,
        keep_session: bool = False,
    ) -> None:
        self.files = list(files)
        self.keep_session = keep_session
        self.inventory = inventory
        self.cache = cache
        self.parallel = parallel
        self.hosts = {h.name: HostRun(h) for h in inventory.hosts}
        self.timings = Timings()
        self.session = session or Session(parallel=parallel)
        self.listener = listener
        if listener is not None:
            self.session.trace = self._wire
        holder = _holder() if apply else None
        self.gatherer = Gatherer(
            self.session, cache, lock_holder=holder, wait_lock=wait_lock, on_lock_wait=self._waiting
        )
        self._spool: Spool | None = None  # made by the first batch: a zero-change run imports no batch code
        self.deploy = deploy_name(self.files)
        self.deploy_id = hashlib.sha256("\0".join(_source_id(f) for f in self.files).encode()).hexdigest()[:16]
        self._saved: dict[str, set[FactKey]] = {}
        self._first: dict[str, set[FactKey]] | None = None  # what the first planning pass asked for
        self._held: dict[str, Any] = {}  # hosts whose first call waits for the first pass
        self._lock = threading.Lock()

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> DeployRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if not self.keep_session:
                self.session.close()
        finally:
            if self._spool is not None:
                self._spool.close()

    def active(self) -> list[HostRun]:
        return [h for h in self.hosts.values() if h.ok]

    def _set(self, hr: HostRun, stage: Stage, note: str | None = None) -> None:
        hr.stage = stage
        self._notify(hr, stage.value, {"note": note} if note else None)

    def _notify(self, hr: HostRun, event: str, detail: dict[str, Any] | None = None) -> None:
        if self.listener is not None:
            self.listener(hr, event, detail)

    def _wire(self, host: str, text: str) -> None:
        if host in self.hosts:
            self._notify(self.hosts[host], "wire", {"text": text})

    def _fail(self, hr: HostRun, error: ParacrineError, *, lost: bool = False) -> None:
        hr.error = error.with_context(host=hr.name)
        self._set(hr, Stage.UNREACHABLE if lost else Stage.FAILED, hr.error.message)

    def _waiting(self, host: str, holder: str, seconds: float) -> None:
        note = f"waiting up to {seconds:.0f} s for the run lock ({holder})"
        self._notify(self.hosts[host], "waiting", {"note": note})

    # ------------------------------------------------------------ connecting
    def connect(self) -> None:
        """Start connecting every host (unless the session already is).

        As soon as a host is up it is sent the facts this deploy read last time
        (only facts that read state). If there is no such list, or it holds a
        fact that runs a command, the host's first call waits for the first
        planning pass instead, and sends such facts only if this run asks for them.
        """
        reused = dict(self.session.contexts) if not self.session.connecting else {}
        if not self.session.connecting and not self.session.contexts:
            self.session.start_connecting(self.inventory.hosts, resolve=self.inventory.resolve)
        self._saved = {h.name: self.cache.load_keys(h.name, self.deploy_id) for h in self.inventory.hosts}
        self.session.on_connected(self._on_connected)
        for host, context in reused.items():  # a session kept from an earlier run (`paracrine watch`)
            if host in self.hosts:
                self._send_first(host, context)

    def _on_connected(self, host: str, context: Any) -> None:
        seconds = self.session.connect_seconds.get(host, 0.0)
        self._notify(self.hosts[host], "connected", {"note": f"connected in {seconds:.2f} s"})
        self._send_first(host, context)

    def _send_first(self, host: str, context: Any) -> None:
        """Send the host its first fact call now, or hold it for the first planning pass."""
        saved = self._saved.get(host, set())
        safe = {k for k in saved if prefetchable(k)}
        with self._lock:
            if (not saved or safe != saved) and self._first is None:
                self._held[host] = context  # sent by the first planning pass, with what it asks for
                return
            first = self._first.get(host, set()) if self._first is not None else set()
        self.gatherer.prefetch(host, context, safe | first)

    def _release_held(self, wanted: dict[str, set[FactKey]]) -> None:
        """After the first pass: send the held hosts their first call (saved safe facts + what this run asks)."""
        with self._lock:
            self._first = wanted
            held, self._held = self._held, {}
        for host, context in held.items():
            safe = {k for k in self._saved.get(host, set()) if prefetchable(k)}
            self.gatherer.prefetch(host, context, safe | wanted.get(host, set()))

    def _connected(self) -> None:
        if self.session.connecting:
            self.session.wait_connected()
            self.timings.mark("connect")
        for hr in self.hosts.values():
            if hr.stage is Stage.CONNECTING:
                failure = self.session.failed.get(hr.name)
                if failure is not None:
                    self._fail(hr, failure, lost=True)
                else:
                    self._set(hr, Stage.FACTS)

    # ------------------------------------------------------------ planning
    def plan(self) -> None:
        """Plan every host, fetching missing facts in rounds (usually one) for all hosts at once."""
        self._plan_rounds([hr for hr in self.hosts.values() if hr.ok], first=True)
        for hr in self.active():
            hr.stale = self._stale(hr)
            self._set(hr, Stage.PLANNED, self._plan_note(hr))

    @staticmethod
    def _plan_note(hr: HostRun) -> str:
        plan = hr.plan
        if plan is None:
            return "planned"
        total = len(plan.ops) + len(plan.deferred)
        if not hr.has_work():
            return f"in sync ({total} operations)"
        changing = len(plan.changing) + sum(1 for p in plan.preview if p.status == "change")
        return f"{changing} of {total} operations to change"

    def _plan_rounds(self, todo: list[HostRun], first: bool = False) -> None:
        """Plan ``todo`` until no host misses a fact; ``first``: the run's first pass (it also connects)."""
        timed = first or threading.current_thread() is threading.main_thread()
        for _ in range(MAX_ROUNDS):
            sent = self.gatherer.in_flight_keys if first else lambda _host: set()
            wanted = {hr.name: missing for hr in todo if hr.ok and (missing := self._plan_host(hr, sent=sent(hr.name)))}
            todo = [hr for hr in todo if hr.name in wanted]  # the others' facts did not change: their plans stand
            if timed:
                self.timings.mark("plan")
            if first:
                self._release_held({name: set(keys) for name, keys in wanted.items()})
                self._connected()
                first = False
            wanted = {name: keys for name, keys in wanted.items() if self.hosts[name].ok}
            if not wanted:
                return
            errors = self.gatherer.fetch(wanted)
            for name, problem in errors.items():
                self._fail(self.hosts[name], _fetch_error(problem), lost=problem.lost)
            if timed:
                self.timings.mark("facts")
        for hr in todo:
            if hr.ok:
                self._fail(hr, FactError(f"facts did not settle after {MAX_ROUNDS} rounds"))

    def _plan_host(self, hr: HostRun, *, sent: set[FactKey] | None = None) -> set[FactKey]:
        """Plan one host's remaining calls; returns the facts it still misses.

        ``sent``: the keys of the host's first call when it is already on its way (first
        pass only). Then the host is only prepared (deploy files, graph) and planned once
        those facts are in: planning without any fact could no longer add to that call.
        Every host of a `paracrine watch` cycle is in that case; the pass was half of the
        planning CPU of a 100-host cycle. A host not yet connected is planned as before,
        so what the pass finds still goes into its first call.
        """
        start = time.perf_counter()
        try:
            return self._plan_host_once(hr, sent or set())
        finally:
            hr.plan_seconds += time.perf_counter() - start

    def _plan_host_once(self, hr: HostRun, sent: set[FactKey]) -> set[FactKey]:
        if hr.calls is None:
            try:
                hr.calls = load_calls(self.files, hr.host, self._deploy_lookup(hr))
                handlers.assign_keys(hr.calls, self.deploy)
                hr.graph = dag.build(hr.calls)
                hr.todo = dag.order(hr.graph)
            except DeployFactMissing as exc:
                hr.calls = None
                return {*exc.keys, handlers.pending_fact_key()}
            except ParacrineError as exc:
                self._fail(hr, exc)
                return set()
        if sent:
            return sent
        assert hr.graph is not None
        hr.plan = Planner(hr.host, hr.graph, self.gatherer.facts(hr.name)).plan(hr.todo, hr.changed(), hr.blocked())
        return set(hr.plan.missing)

    def _deploy_lookup(self, hr: HostRun) -> Callable[[FactKey], Any]:
        facts = self.gatherer.facts(hr.name)

        def lookup(key: FactKey) -> Any:
            if not facts.has(key):
                raise DeployFactMissing([key])
            try:
                return facts.get(key)
            except FactError as exc:
                raise exc.with_context(host=hr.name) from None

        return lookup

    def _stale(self, hr: HostRun) -> dict[str, str]:
        facts = self.gatherer.facts(hr.name)
        key = handlers.pending_fact_key()
        try:
            pending = facts.get(key) if facts.has(key) else {}
        except ParacrineError:
            return {}
        idle = [p.call for p in hr.plan.ops if p.status == "ok"] if hr.plan is not None else []
        return handlers.stale(hr.calls or [], self.deploy, pending if isinstance(pending, dict) else {}, idle)

    def _pending(self, hr: HostRun) -> set[str]:
        facts = self.gatherer.facts(hr.name)
        key = handlers.pending_fact_key()
        try:
            return set(facts.get(key)) if facts.has(key) else set()
        except ParacrineError:
            return set()

    def pending_changes(self) -> bool:
        """Whether applying would change something on some host."""
        return any(hr.has_work() for hr in self.hosts.values())

    # ------------------------------------------------------------ applying
    def apply(self) -> None:
        """Apply every host's plan, each host in a thread of its own, stage after stage."""
        todo = [hr for hr in self.hosts.values() if hr.has_work()]
        if todo:
            pool = ThreadPoolExecutor(max_workers=min(self.parallel, len(todo)), thread_name_prefix="apply")
            try:
                for future in as_completed([pool.submit(self._apply_host, hr) for hr in todo]):
                    future.result()
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
        self.finish()
        self.timings.mark("apply")

    def finish(self) -> None:
        """Every host that has not failed is done (a run that applies, where some hosts had nothing to do)."""
        for hr in self.active():
            if hr.stage is not Stage.DONE:
                self._set(hr, Stage.DONE)

    def _apply_host(self, hr: HostRun) -> None:
        try:
            self._apply_stages(hr)
        except Exception as exc:  # a bug must fail this host, not the run
            self._fail(hr, PlanError(f"internal error while applying: {type(exc).__name__}: {exc}"))

    def _apply_stages(self, hr: HostRun) -> None:
        while hr.ok and hr.plan is not None:
            plan = hr.plan
            if plan.changing or hr.stale:
                self._set(hr, Stage.APPLYING, f"applying {len(plan.changing)} operation(s)")
                if not self._run_batch(hr, plan):
                    return
            hr.applied.append(plan)
            hr.plan = None
            if not plan.deferred:
                self._set(hr, Stage.DONE, self._done_note(hr))
                return
            hr.todo = plan.deferred
            self.gatherer.forget(hr.name)  # the host changed: gather its facts again
            self._set(hr, Stage.FACTS, "gathering facts after earlier changes")
            self._plan_rounds([hr])

    def _run_batch(self, hr: HostRun, plan: HostPlan) -> bool:
        from paracrine.batches import Spool, attach_source, build_batch, parse_results, streamed_paths
        from paracrine.remote.execute import run_batch

        with self._lock:
            if self._spool is None:
                self._spool = Spool()
        batch = build_batch(plan, self.deploy, self._pending(hr), self._spool, forget=hr.stale)
        hr.stale = {}
        files = streamed_paths(batch)
        if files:
            attach_source(batch, self.session.serve_files(files))
        close = None
        if self.listener is not None:
            batch["progress"], close = self.session.channel(self._step_reporter(hr, batch))
        try:
            outcome = self.session.call_one(hr.name, run_batch, batch)
        finally:
            if close is not None:
                close()
        hr.batches += 1
        hr.apply_seconds += outcome.seconds
        if not outcome.ok:
            what = "lost the connection while applying changes" if outcome.lost else "applying changes failed"
            self._fail(hr, ConnectError(f"{what}: {outcome.error}"), lost=outcome.lost)
            return False
        hr.results.update(parse_results(outcome.value))
        return True

    @staticmethod
    def _done_note(hr: HostRun) -> str:
        statuses = [r.status for r in hr.results.values()]
        counts = {s: statuses.count(s) for s in ("changed", "failed", "skipped") if statuses.count(s)}
        return "done" + (": " + ", ".join(f"{n} {s}" for s, n in counts.items()) if counts else "")

    def _step_reporter(self, hr: HostRun, batch: Any) -> Callable[[Any], None]:
        labels = {step["id"]: step["label"] for step in batch["steps"]}
        done: list[int] = []

        def report(message: Any) -> None:
            step_id, status, output = message
            done.append(step_id)
            detail = {"done": len(done), "total": len(labels), "label": labels.get(step_id, "?")}
            self._notify(hr, "step", {**detail, "status": status, "output": output})

        return report

    # ------------------------------------------------------------ after planning
    def old_contents(self) -> dict[str, dict[str, Any]]:
        """Current lines of the files the plan writes (for ``--diff``; one extra round trip)."""
        from paracrine.changes import WriteFile
        from paracrine.gather import make_key

        wanted: dict[str, list[FactKey]] = {}
        for hr in self.active():
            ops = hr.planned_ops()
            paths = {c.path for p in ops for c in p.changes if isinstance(c, WriteFile) and not p.call.sensitive}
            if paths:
                wanted[hr.name] = [make_key("files.lines", {"path": p}) for p in sorted(paths)]
        if not wanted:
            return {}
        self.gatherer.fetch(wanted)
        old: dict[str, dict[str, Any]] = {}
        for name, keys in wanted.items():
            facts = self.gatherer.facts(name)
            for key in keys:
                try:
                    old.setdefault(name, {})[key.args["path"]] = facts.get(key)
                except (ParacrineError, KeyError) as exc:
                    old.setdefault(name, {})[key.args["path"]] = exc
        return old

    def remember_keys(self) -> None:
        """Store which facts each host's plan read, to prefetch them next time in the first round."""
        for hr in self.active():
            self.cache.save_keys(hr.name, self.deploy_id, [withheld(k) for k in self.gatherer.read(hr.name)])

    def exit_code(self, *, check: bool, pending: bool) -> ExitCode:
        """The run's exit code: 1 a host failed; 3 only bad input and nothing applied; 2 --check with changes."""
        errors = []
        applied = any(hr.batches for hr in self.hosts.values())
        for hr in self.hosts.values():
            errors += [hr.error] if hr.error is not None else []
            errors += [
                p.error
                for p in hr.planned_ops()
                if p.error is not None and not p.call.options.ignore_errors and not p.speculative
            ]
            if any(r.status in ("failed", "skipped") for r in hr.results.values()):
                return ExitCode.FAILED
        if errors:
            bad_input = not applied and all(isinstance(e, UserError) for e in errors)
            return ExitCode.BAD_INPUT if bad_input else ExitCode.FAILED
        return ExitCode.PENDING if check and pending else ExitCode.OK

    def round_trips(self, kind: str) -> int:
        """The most fact (``"facts"``) or apply (``"apply"``) round trips any host took."""
        if kind == "apply":
            return max((hr.batches for hr in self.hosts.values()), default=0)
        counts = [self.session.round_trips.get(n, 0) - hr.batches for n, hr in self.hosts.items()]
        return max(counts, default=0)


WITHHELD = json.dumps({"__withheld__": True})


def withheld(key: FactKey) -> FactKey:
    """``key`` as the state directory may keep it: the arguments of facts that run what their
    arguments say (commands, remote URLs that may carry credentials) and arguments holding a secret
    are left out; the name still tells the next run that this deploy reads such a fact, so its first
    call waits for the first planning pass."""
    from paracrine.gather import resolve_fact
    from paracrine.secret import redact

    try:
        prefetchable = resolve_fact(key.name).prefetch
    except ParacrineError:
        prefetchable = False
    if prefetchable and redact(key.args_json) == key.args_json:
        return key
    return FactKey(key.name, WITHHELD, key.user)


def deploy_name(files: Sequence[DeploySource]) -> str:
    """The deploy's name on targets (pending handler records): its files as ``dir/file.py``, joined."""
    return "+".join(p.name if isinstance(p, InlineDeploy) else f"{p.resolve().parent.name}/{p.name}" for p in files)


def _source_id(source: DeploySource) -> str:
    return source.name if isinstance(source, InlineDeploy) else str(source.resolve())


def _holder() -> str:
    """Who holds a host's run lock, as another run will report it."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"paracrine pid {os.getpid()} on {socket.gethostname()} since {stamp}"


def _fetch_error(problem: FetchError) -> ParacrineError:
    if problem.locked_by is not None:
        return LockError(
            f"another run holds the host's lock ({problem.locked_by})",
            hint="wait for it to finish, or pass --wait-lock SECONDS",
        )
    if problem.lost:
        return ConnectError(f"lost the connection while gathering facts: {problem.message}")
    return FactError(f"gathering facts failed: {problem.message}")
