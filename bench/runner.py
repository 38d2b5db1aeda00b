"""Run the matrix cell by cell: fresh or converged hosts, one measured run, verification, a JSON line.

A cell is (workload, host count, tool); its scenarios run in the order first, noop, change, each
``runs`` times, on the same hosts:

* **first**: the hosts are wiped (``lab.up(n, fresh=True)``) and the tool's controller-side state
  forgotten before every run; LAB_REV is "0".
* **noop**: the hosts must be converged by this tool (if the previous run in this process did not
  leave them so, they are wiped and converged by an untimed "prepare" run); same LAB_REV again;
  no managed path's ctime may move.
* **change**: converged as for noop; LAB_REV is bumped for every run, so exactly template #1
  (``/srv/workload/d01/c01.conf``) must change (its directory may, for the atomic rename).

The server workload (every operation of issue 11) has ``first`` and ``noop``; its hosts' offline
apt repository has its packages, and a loopback HTTP server (started by :mod:`bench.cli`) serves
the tool it downloads and the git repository it checks out; in ``noop`` the worker service must not
start again and no managed path's ctime may move.

The demo workload runs the same scenarios on hosts whose offline apt repository has the demo's
packages; its revision is the greeting (DEMO_GREETING), so ``change`` changes exactly the app's
config file, and the app must have been restarted exactly once on each host (none in ``noop``).

Verification (:mod:`bench.verify`) follows every run and is not timed. A run that fails (exit code,
timeout, verification) is recorded with ``ok: false`` and a reason, and the cell's remaining runs of
that scenario are skipped: the figure is void anyway.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import labenv, verify, verify_server
from bench.config import RESULTS_JSONL, WORK_DIR, WORKLOAD_SCENARIOS, Scenario, Tool, Workload
from bench.measure import Measurement, run_measured
from bench.tools import Adapter, adapter
from paracrine.lab.state import LabHost as Host

log = logging.getLogger("bench")


class Recorder:
    """Appends records (one JSON object per line) to results.jsonl, flushed at once."""

    def __init__(self, invocation: str, path: Path = RESULTS_JSONL) -> None:
        self.invocation = invocation
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        record = {"kind": kind, "invocation": self.invocation, "time": time.time(), **fields}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        return record


@dataclass(frozen=True)
class Converged:
    """Who converged the running hosts, and at which revision."""

    tool: Tool
    workload: Workload
    count: int
    rev: int


class NotConverged(Exception):
    """The untimed run that should have converged the hosts failed."""


@dataclass(frozen=True)
class Outcome:
    measurement: Measurement
    problems: list[str]


class Runner:
    """Runs cells and records every run."""

    def __init__(self, recorder: Recorder, *, runs: int, timeout: float) -> None:
        self.recorder = recorder
        self.runs = runs
        self.timeout = timeout
        self.spec = verify.load_spec()
        self.converged: Converged | None = None

    def run_cell(self, workload: Workload, count: int, tool: Tool, scenarios: list[Scenario]) -> None:
        tool_adapter = adapter(tool)
        if not tool_adapter.supports(workload):
            log.info("%s: %s has no deploy of this workload; skipped", workload, tool)
            return
        for scenario in [s for s in WORKLOAD_SCENARIOS[workload] if s in scenarios]:
            for index in range(1, self.runs + 1):
                if not self.run_one(tool_adapter, workload, count, scenario, index):
                    break

    def run_one(self, tool: Adapter, workload: Workload, count: int, scenario: Scenario, index: int) -> bool:
        """One measured run and its verification; returns whether it passed."""
        cell = {"workload": workload, "hosts": count, "tool": tool.name, "scenario": scenario, "run": index}
        try:
            hosts, rev = self.hosts_for(tool, workload, count, scenario)
        except NotConverged as exc:
            self.recorder.write("run", **cell, ok=False, failure=str(exc))
            log.info("%s: FAILED: %s", _label(cell), exc)
            return False
        load1 = os.getloadavg()[0]
        outcome, run_dir = self.measure(tool, workload, hosts, scenario, rev, f"{scenario}-{index}")
        ok = not outcome.problems
        self.converged = Converged(tool.name, workload, count, rev) if ok else None
        failure = summarize(outcome.problems) if outcome.problems else None
        m = outcome.measurement
        self.recorder.write(
            "run", **cell, rev=rev, ok=ok, failure=failure, **m.to_json(), load1=load1, dir=str(run_dir)
        )
        log.info("%s: %s", _label(cell), describe(m) + ("" if ok else f"  FAILED: {failure}"))
        return ok

    def hosts_for(self, tool: Adapter, workload: Workload, count: int, scenario: Scenario) -> tuple[list[Host], int]:
        """The hosts to measure on and the revision to apply, preparing them as the scenario needs."""
        if scenario == "first":
            self.converged = None
            tool.reset(workload)
            return labenv.up(count, fresh=True, packages=packages(workload)), 0
        state = self.converged
        if state is None or (state.tool, state.workload, state.count) != (tool.name, workload, count):
            self.prepare(tool, workload, count)
            state = self.converged
            assert state is not None
        hosts = labenv.up(count, fresh=False)
        return hosts, state.rev + 1 if scenario == "change" else state.rev

    def prepare(self, tool: Adapter, workload: Workload, count: int) -> None:
        """Converge fresh hosts with ``tool`` (untimed, recorded as a "prepare" record)."""
        self.converged = None
        tool.reset(workload)
        hosts = labenv.up(count, fresh=True, packages=packages(workload))
        outcome, run_dir = self.measure(tool, workload, hosts, "first", 0, "prepare")
        cell = {"workload": workload, "hosts": count, "tool": tool.name}
        m = outcome.measurement.to_json()
        self.recorder.write(
            "prepare", **cell, ok=not outcome.problems, problems=outcome.problems[:20], **m, dir=str(run_dir)
        )
        if outcome.problems:
            raise NotConverged(f"could not converge the hosts first: {summarize(outcome.problems)}")
        self.converged = Converged(tool.name, workload, count, 0)

    def measure(
        self, tool: Adapter, workload: Workload, hosts: list[Host], scenario: Scenario, rev: int, tag: str
    ) -> tuple[Outcome, Path]:
        """Run the tool once on ``hosts`` and verify the result."""
        run_dir = WORK_DIR / "runs" / self.recorder.invocation / f"{workload}-{len(hosts):02d}-{tool.name}-{tag}"
        run_dir.mkdir(parents=True, exist_ok=True)
        inventory = tool.write_inventory(workload, hosts)
        paths = managed_paths(workload, self.spec)
        filesystems = {h.name: verify.HostFS(h.name, Path(h.root), h.port) for h in hosts}
        before = {name: verify.ctimes(fs, paths) for name, fs in filesystems.items()}
        restarts = {name: verify.demo_restarts(labenv.lab_root(), name) for name in filesystems if workload == "demo"}
        if workload == "server":
            restarts = {name: verify_server.worker_starts(fs) for name, fs in filesystems.items()}
        command = tool.command(workload, inventory, run_dir, str(rev))
        m = run_measured(
            command, run_dir / "output.log", run_dir / "measure.json", self.timeout, labenv.sshd_pids(hosts)
        )
        problems = []
        if m.timed_out:
            problems.append(f"timed out after {self.timeout:.0f} s")
        elif m.exit_code != 0:
            problems.append(f"exit code {m.exit_code} (see {run_dir / 'output.log'})")
        if workload == "demo":
            problems += check_demo(scenario, filesystems, before, restarts, str(rev))
        elif workload == "server":
            problems += check_server(scenario, filesystems, before, restarts, labenv.sshd_pids(hosts))
        else:
            problems += self.check(workload, scenario, filesystems, before, str(rev))
        (run_dir / "problems.txt").write_text("".join(p + "\n" for p in problems))
        return Outcome(m, problems), run_dir

    def check(
        self,
        workload: Workload,
        scenario: Scenario,
        filesystems: dict[str, verify.HostFS],
        before: dict[str, dict[str, int | None]],
        rev: str,
    ) -> list[str]:
        problems: list[str] = []
        for name, fs in filesystems.items():
            if workload == "fourop":
                problems += verify.verify_fourop(fs)
                continue
            problems += verify.verify_standard(fs, self.spec, rev)
            after = verify.ctimes(fs, before[name])
            if scenario == "noop":
                problems += verify.ctime_problems(name, before[name], after)
            elif scenario == "change":
                target = verify.changed_path(self.spec)
                may = frozenset({str(Path(target).parent)})
                problems += verify.ctime_problems(name, before[name], after, must=frozenset({target}), may=may)
        return problems


def packages(workload: Workload) -> list[str]:
    """The packages the hosts of ``workload`` must be able to install offline (beyond the lab's own)."""
    if workload == "server":
        return list(verify_server.PACKAGES)
    return verify.demo_packages() if workload == "demo" else []


def managed_paths(workload: Workload, spec: dict[str, Any]) -> list[str]:
    """The paths whose ctimes the noop and change scenarios check."""
    if workload == "standard":
        return verify.managed_paths(spec)
    if workload == "server":
        return verify_server.managed_paths()
    return verify.demo_managed_paths() if workload == "demo" else []


def check_demo(
    scenario: Scenario,
    filesystems: dict[str, verify.HostFS],
    before: dict[str, dict[str, int | None]],
    restarts: dict[str, int],
    rev: str,
) -> list[str]:
    """The demo's checks after a run: its end state, its pages, the app's restarts and the ctimes.

    ``first``: the app started (at least once); ``noop``: not restarted, no managed path touched;
    ``change``: restarted exactly once, exactly the app's config file changed (its directory may).
    """
    problems: list[str] = []
    base, greeting = labenv.demo_port_base(), verify.demo_greeting(rev)
    for name, fs in filesystems.items():
        problems += verify.verify_demo(fs, base, greeting)
        problems += verify.demo_page_problems(name, base, greeting)
        started = verify.demo_restarts(labenv.lab_root(), name) - restarts[name]
        if not (started >= 1 if scenario == "first" else started == (1 if scenario == "change" else 0)):
            wanted = {"first": "expected at least once", "noop": "expected none", "change": "expected once"}[scenario]
            problems.append(f"{name}: {verify.DEMO_LOG_DIR}/app.log: the app started {started} time(s), {wanted}")
        after = verify.ctimes(fs, before[name])
        if scenario == "noop":
            problems += verify.ctime_problems(name, before[name], after)
        elif scenario == "change":
            must, may = frozenset({verify.DEMO_CONFIG}), frozenset({verify.DEMO_ETC})
            problems += verify.ctime_problems(name, before[name], after, must=must, may=may)
    return problems


def check_server(
    scenario: Scenario,
    filesystems: dict[str, verify.HostFS],
    before: dict[str, dict[str, int | None]],
    starts: dict[str, int],
    pids: dict[str, int],
) -> list[str]:
    """The server workload's checks after a run: its end state (files, and what the hosts' namespaces
    hold: names, the mount, PostgreSQL's role, database and table), the worker's starts and the ctimes.

    ``first``: the worker started; ``noop``: it did not start again, and no managed path's ctime moved.
    """
    problems: list[str] = []
    for name, fs in filesystems.items():
        problems += verify_server.verify_server(fs, pids.get(name), labenv.demo_port_base())
        if name not in pids:
            problems.append(f"{name}: no sshd found: the host's namespaces were not checked")
        started = verify_server.worker_starts(fs) - starts[name]
        if scenario == "noop" and started:
            problems.append(f"{name}: {verify_server.WORKER_LOG}: the worker started {started} time(s), expected none")
        if scenario == "noop":
            problems += verify.ctime_problems(name, before[name], verify.ctimes(fs, before[name]))
    return problems


def summarize(problems: list[str]) -> str:
    """The first problem, and how many more there are."""
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more


def describe(m: Measurement) -> str:
    target = f", targets {m.target_cpu:.2f} s CPU" if m.target_cpu is not None else ""
    return f"{m.wall:.2f} s wall, {m.cpu:.2f} s CPU, {m.maxrss_kb / 1024:.0f} MiB peak{target}"


def _label(cell: dict[str, Any]) -> str:
    return f"{cell['workload']:<8} {cell['hosts']:>2} hosts  {cell['tool']:<15} {cell['scenario']:<6} run {cell['run']}"
