"""Helpers of the engine tests: run deploy files for a host, and plan them against facts gathered in this process.

Facts are gathered by :func:`paracrine.remote.gather.gather` here, on this machine,
so plans are made against the real state of a temporary directory.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Collection
from pathlib import Path
from typing import Any

from paracrine import dag, handlers
from paracrine.deploy import load_calls
from paracrine.factkey import FactKey
from paracrine.gather import FactFailure, HostFacts, resolve_fact
from paracrine.hosts import Host, HostData
from paracrine.operation import OpCall
from paracrine.plan import HostPlan, Planner
from paracrine.remote.gather import gather

DEPLOY = "tests/deploy.py"
_files = itertools.count()


def make_host(name: str = "web1", **data: Any) -> Host:
    return Host(name, (), HostData(name, data), "test")


def deploy_file(directory: Path, source: str) -> Path:
    """A new deploy file in ``directory`` (a new name each time: compiled files are cached by path)."""
    path = directory / f"deploy{next(_files)}.py"
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return path


def load(directory: Path, source: str, host: Host | None = None) -> list[OpCall]:
    """The calls of a new deploy file run for ``host``, with handler keys assigned."""
    return load_path(deploy_file(directory, source), host)


def load_path(path: Path, host: Host | None = None) -> list[OpCall]:
    """The calls of deploy file ``path`` run for ``host``, with handler keys assigned."""
    calls = load_calls([path], host or make_host(), gather_here)
    handlers.assign_keys(calls, DEPLOY)
    return calls


def gather_here(key: FactKey) -> Any:
    """One fact, gathered in this process (raises what the target would report)."""
    (reply,) = _gather([key])
    if isinstance(reply, FactFailure):
        raise RuntimeError(reply.message)
    return reply


def _gather(keys: list[FactKey]) -> list[Any]:
    requests = [[resolve_fact(k.name).module, resolve_fact(k.name).function, k.args, None] for k in keys]
    replies = gather(requests)["results"]
    return [FactFailure(r["type"], r["error"]) if "error" in r else r["value"] for r in replies]


def fill(facts: HostFacts, keys: Collection[FactKey]) -> None:
    """Gather ``keys`` here into ``facts``."""
    ordered = sorted(keys, key=FactKey.sort_key)
    facts.values.update(zip(ordered, _gather(ordered), strict=True))


def settle(
    host: Host,
    calls: list[OpCall],
    *,
    facts: HostFacts | None = None,
    changed: Collection[int] = (),
    blocked: Collection[int] = (),
    todo: list[OpCall] | None = None,
) -> tuple[HostPlan, HostFacts]:
    """Plan ``calls`` (or only ``todo`` of them) in rounds, gathering what each round misses, until nothing is."""
    graph = dag.build(calls)
    facts = facts if facts is not None else HostFacts(host.name)
    for _ in range(8):
        plan = Planner(host, graph, facts).plan(todo or dag.order(graph), changed, blocked)
        if not plan.missing:
            return plan, facts
        fill(facts, plan.missing)
    raise AssertionError("facts did not settle")


def statuses(plan: HostPlan) -> dict[str, str]:
    """``{title: status}`` of the plan's operations, then its preview's (marked ``preview:``)."""
    found = {p.call.title: p.status for p in plan.ops}
    found.update({f"preview:{p.call.title}": p.status for p in plan.preview})
    return found
