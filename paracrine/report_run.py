"""Printing a deploy run: the plan per host, diffs, failures and the summary table."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from paracrine import report
from paracrine.changes import WriteFile

if TYPE_CHECKING:
    from paracrine.plan import PlannedOp
    from paracrine.run import DeployRun, HostRun

SYMBOLS = {"change": ("~", "yellow"), "error": ("!", "red"), "skipped": ("-", "bright_black"), "ok": (" ", None)}


def _op_lines(planned: PlannedOp, verbose: bool) -> list[str]:
    if planned.status == "ok" and not verbose:
        return []
    symbol, colour = SYMBOLS.get(planned.status, ("?", None))
    call = planned.call
    head = click.style(f"  {symbol} {call.title}", fg=colour) + click.style(f"  [{call.where}]", fg="bright_black")
    lines = [head]
    for change, conditional in zip(planned.changes, planned.conditional, strict=True):
        lines.append(f"      {change.describe()}" + (" (when triggered)" if conditional else ""))
    if planned.error is not None:
        lines.append(click.style(f"      {planned.error.message}", fg="red"))
    return lines


def print_plan(
    run: DeployRun, *, verbose: bool = False, old_files: Mapping[str, Mapping[str, Any]] | None = None
) -> None:
    """What each host will change; hosts with identical plans are shown once."""
    groups: dict[tuple[tuple[str, ...], str], list[str]] = {}
    for hr in run.hosts.values():
        groups.setdefault((tuple(_host_lines(hr, verbose)), _fingerprint(hr)), []).append(hr.name)
    for (lines, _), names in groups.items():
        click.echo(click.style(", ".join(names), bold=True) + _host_status(run.hosts[names[0]]))
        for line in lines:
            click.echo(line)
        if old_files is not None:
            for name in names[:1]:
                _print_diffs(run.hosts[name], old_files.get(name, {}))


def _fingerprint(hr: HostRun) -> str:
    """Hosts are shown together only when their changes are identical, not just described alike."""
    if hr.plan is None:
        return repr(hr.error)
    changes = [c.to_wire() for p in hr.plan.ops for c in p.changes]
    return hashlib.sha256(repr(changes).encode()).hexdigest() + _host_status(hr)


def _host_status(hr: HostRun) -> str:
    if hr.error is not None:
        return click.style(f"  failed: {hr.error.message}", fg="red")
    if hr.plan is None:
        return ""
    changing, total = len(hr.plan.changing), len(hr.plan.ops) + len(hr.plan.deferred)
    if not changing and not hr.plan.deferred and not hr.plan.errors:
        return click.style(f"  in sync ({total} operations)", fg="green")
    text = f"  {changing} of {total} operations to change"
    if hr.plan.deferred:
        text += f", {len(hr.plan.deferred)} planned after earlier changes (their facts depend on commands)"
    return text


def _host_lines(hr: HostRun, verbose: bool) -> list[str]:
    if hr.plan is None:
        return []
    return [line for planned in hr.plan.ops for line in _op_lines(planned, verbose)]


def _print_diffs(hr: HostRun, old_files: Mapping[str, Any]) -> None:
    if hr.plan is None:
        return
    for planned in hr.plan.changing:
        for change in planned.changes:
            if isinstance(change, WriteFile):
                _print_diff(change, old_files.get(change.path))


def _print_diff(change: WriteFile, old: Any) -> None:
    try:
        new_lines = change.data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        click.echo(f"      (binary content of {change.path} differs)")
        return
    if isinstance(old, Exception) or old is ...:
        click.echo(f"      (old content of {change.path} not shown: {old})")
        return
    old_lines = old or []
    diff = difflib.unified_diff(old_lines, new_lines, f"a{change.path}", f"b{change.path}", lineterm="")
    for line in diff:
        colour = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        click.echo(click.style(f"      {line}", fg=colour))


def print_failures(run: DeployRun) -> None:
    """One line per problem, on stderr."""
    for hr in run.hosts.values():
        if hr.error is not None:
            report.error(hr.error)
            continue
        for planned in hr.planned_ops():
            if planned.error is not None:
                ignored = " (ignored)" if planned.call.options.ignore_errors else ""
                report.error(planned.error.format_line() + ignored)
        for index, result in sorted(hr.results.items()):
            if result.status in ("failed", "ignored") and hr.calls is not None:
                call = hr.calls[index]
                text = f"{hr.name}: {call.title} [{call.where}]: {result.error}"
                report.error(text + (" (ignored)" if result.status == "ignored" else ""))


def summary_rows(run: DeployRun) -> list[dict[str, Any]]:
    """Per host: counts of operations by outcome, and seconds per phase."""
    rows = []
    for hr in run.hosts.values():
        counts = {"changed": 0, "unchanged": 0, "failed": 0, "skipped": 0}
        for planned in hr.planned_ops():
            result = hr.results.get(planned.call.index)
            if planned.status == "error" or (result is not None and result.status in ("failed", "ignored")):
                counts["failed"] += 1
            elif planned.status == "skipped" or (result is not None and result.status == "skipped"):
                counts["skipped"] += 1
            elif result is not None and result.status == "changed":
                counts["changed"] += 1
            else:
                counts["unchanged"] += 1
        rows.append(
            {
                "host": hr.name,
                "status": "failed" if hr.error or counts["failed"] else "changed" if counts["changed"] else "ok",
                **counts,
                "connect": run.session.connect_seconds.get(hr.name, 0.0),
                "facts": run.gatherer.seconds.get(hr.name, 0.0),
                "plan": hr.plan_seconds,
                "apply": hr.apply_seconds,
                "error": hr.error.format_line() if hr.error else None,
            }
        )
    return rows


def print_summary(run: DeployRun) -> None:
    rows = summary_rows(run)
    headers = ["host", "changed", "unchanged", "failed", "skipped", "connect", "facts", "plan", "apply"]
    table = [
        [r["host"], r["changed"], r["unchanged"], r["failed"], r["skipped"]]
        + [f"{r[k]:.2f} s" for k in ("connect", "facts", "plan", "apply")]
        for r in rows
    ]
    click.echo()
    report.table(table, headers)
    report.note(
        f"{len(rows)} hosts: {run.timings.summary()}; "
        f"{run.fact_rounds} fact and {run.apply_rounds} apply round trip(s) per host"
    )


def run_json(run: DeployRun) -> dict[str, Any]:
    """The plan and results as builtins (``--json``): the same change objects tests use."""
    hosts = {}
    for hr in run.hosts.values():
        operations = []
        for planned in hr.planned_ops():
            call = planned.call
            result = hr.results.get(call.index)
            operations.append(
                {
                    "id": call.index,
                    "op": call.op.name,
                    "title": call.title,
                    "where": call.where,
                    "status": planned.status,
                    "changes": [c.to_json() for c in planned.changes],
                    "error": planned.error.format_line() if planned.error else None,
                    "result": None
                    if result is None
                    else {"status": result.status, "error": result.error, "changes": result.changes},
                }
            )
        hosts[hr.name] = {"error": hr.error.format_line() if hr.error else None, "operations": operations}
    return {
        "hosts": hosts,
        "summary": summary_rows(run),
        "timings": run.timings.phases,
        "round_trips": {"facts": run.fact_rounds, "apply": run.apply_rounds, "per_host": dict(run.session.round_trips)},
    }
