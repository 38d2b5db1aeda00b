"""Printing a deploy run: the plan per host (with diffs under their operation), what was applied,
failures, the summary table and the JSON form.

Everything shown before the prompt is everything that may change: operations
planned after a command whose effect cannot be predicted are listed with what
they would do if the command changed nothing they read, marked "after earlier
changes". Sensitive operations (``sensitive=True`` or a Secret argument) show
neither commands nor contents; every known secret value is masked by
:func:`paracrine.report.echo`.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import click

from paracrine import report
from paracrine.changes import RunCommand, WriteFile
from paracrine.changes.base import shown

if TYPE_CHECKING:
    from paracrine.batches import StepResult
    from paracrine.plan import PlannedOp
    from paracrine.run import DeployRun, HostRun

SYMBOLS = {"change": ("~", "yellow"), "error": ("!", "red"), "skipped": ("-", "bright_black"), "ok": (" ", None)}
AFTER = "(after earlier changes: planned again once they ran)"
OldFiles = Mapping[str, Any]


def _head(planned: PlannedOp, symbol: str, colour: str | None) -> str:
    call = planned.call
    return click.style(f"  {symbol} {call.title}", fg=colour) + click.style(f"  [{call.where}]", fg="bright_black")


def _op_lines(planned: PlannedOp, verbose: bool, old: OldFiles | None, *, preview: bool = False) -> list[str]:
    if planned.status in ("ok", "incomplete") and not (verbose or preview):
        return []
    symbol, colour = SYMBOLS.get(planned.status, ("?", None))
    if preview and planned.status in ("ok", "incomplete"):
        symbol = "?"
    lines = [_head(planned, symbol, colour) + (click.style(f"  {AFTER}", fg="bright_black") if preview else "")]
    masked = planned.call.sensitive
    for change, conditional in zip(planned.changes, planned.conditional, strict=True):
        lines.append(f"      {change.describe(masked)}" + (" (when triggered)" if conditional else ""))
        if old is not None and isinstance(change, WriteFile):
            lines.extend(_diff(change, old.get(change.path), masked))
        elif old is not None and isinstance(change, RunCommand) and change.preview is not None:
            lines.extend(_preview_diff(change, masked))
    if preview and not planned.changes and planned.status != "skipped":
        lines.append("      nothing to change as far as can be known now")
    if planned.error is not None and planned.speculative:
        lines.append(f"      as far as can be known now: {planned.error.message}")
    elif planned.error is not None:
        lines.append(click.style(f"      {planned.error.message}", fg="red"))
    return lines


def print_plan(run: DeployRun, *, verbose: bool = False, old_files: Mapping[str, OldFiles] | None = None) -> None:
    """What each host will change; hosts with identical plans are shown once."""
    groups: dict[tuple[tuple[str, ...], str], list[str]] = {}
    for hr in run.hosts.values():
        old = old_files.get(hr.name, {}) if old_files is not None else None
        groups.setdefault((tuple(_host_lines(hr, verbose, old)), _fingerprint(hr)), []).append(hr.name)
    for (lines, _), names in groups.items():
        report.echo(click.style(", ".join(names), bold=True) + _host_status(run.hosts[names[0]]))
        for line in lines:
            report.echo(line)


def _fingerprint(hr: HostRun) -> str:
    """Hosts are shown together only when their changes are identical, not just described alike."""
    if hr.plan is None:
        return repr(hr.error)
    changes = [c.to_wire() for p in hr.planned_ops() for c in p.changes]
    return hashlib.sha256(repr(changes).encode()).hexdigest() + _host_status(hr)


def _host_status(hr: HostRun) -> str:
    if hr.error is not None:
        state = "unreachable" if hr.stage.value == "unreachable" else "failed"
        return click.style(f"  {state}: {hr.error.message}", fg="red")
    if hr.plan is None:
        return ""
    plan = hr.plan
    changing = len(plan.changing) + sum(1 for p in plan.preview if p.status == "change")
    total = len(plan.ops) + len(plan.deferred)
    if not hr.has_work() and not plan.errors:
        return click.style(f"  in sync ({total} operations)", fg="green")
    text = f"  {changing} of {total} operations to change"
    if plan.deferred:
        text += f"; {len(plan.deferred)} planned again after earlier changes"
    return text


def _host_lines(hr: HostRun, verbose: bool, old: OldFiles | None) -> list[str]:
    if hr.plan is None:
        return []
    lines = [line for planned in hr.plan.ops for line in _op_lines(planned, verbose, old)]
    for planned in hr.plan.preview:
        lines.extend(_op_lines(planned, verbose, old, preview=True))
    for reason in hr.stale.values():
        lines.append(f"  ~ {shown(reason)}")
    return lines


def _diff(change: WriteFile, old: Any, masked: bool) -> list[str]:
    if masked:
        return ["      (content not shown: sensitive)"]
    if change.size > 1024 * 1024:
        return [f"      (content of {shown(change.path)} not shown: {change.size} bytes)"]
    try:
        new_lines = change.content().decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return [f"      (binary content of {shown(change.path)} differs)"]
    if isinstance(old, Exception):
        return [f"      (old content of {shown(change.path)} not shown: {old})"]
    return _coloured(difflib.unified_diff(old or [], new_lines, f"a{change.path}", f"b{change.path}", lineterm=""))


def _preview_diff(change: RunCommand, masked: bool) -> list[str]:
    old, new, what = change.preview or ((), (), "")
    if masked:
        return ["      (content not shown: sensitive)"]
    return _coloured(difflib.unified_diff(list(old), list(new), f"a/{what}", f"b/{what}", lineterm=""))


def _coloured(diff: Iterable[str]) -> list[str]:
    coloured = []
    for line in diff:
        colour = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        coloured.append(click.style(f"      {shown(line)}", fg=colour))
    return coloured


def print_applied(run: DeployRun, *, verbose: bool = False) -> None:
    """Every change that was applied, under its operation; hosts that did the same are shown once."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for hr in run.hosts.values():
        lines = tuple(_applied_lines(hr, verbose))
        if lines:
            groups.setdefault(lines, []).append(hr.name)
    if groups:
        report.echo(click.style("applied:", bold=True))
    for shown_lines, names in groups.items():
        report.echo(click.style(", ".join(names), bold=True))
        for line in shown_lines:
            report.echo(line)


def _applied_lines(hr: HostRun, verbose: bool) -> list[str]:
    lines: list[str] = []
    for planned in hr.planned_ops():
        result = hr.results.get(planned.call.index)
        if result is None or result.status not in ("changed", "failed", "ignored"):
            continue
        symbol, colour = ("~", "yellow") if result.status == "changed" else ("!", "red")
        lines.append(_head(planned, symbol, colour))
        lines.extend(_result_lines(planned, result, verbose))
    return lines


def _result_lines(planned: PlannedOp, result: StepResult, verbose: bool) -> list[str]:
    masked = planned.call.sensitive
    lines = []
    for change, outcome in zip(planned.changes, result.changes, strict=False):
        what = "" if outcome["changed"] or outcome["error"] else " (already so)"
        lines.append(f"      {change.describe(masked)}{what}")
        if verbose and not masked:
            for stream in ("stdout", "stderr"):
                lines.extend(f"        {stream}: {shown(line)}" for line in outcome[stream].splitlines())
    return lines


def print_failures(run: DeployRun) -> None:
    """One line per problem on stderr; a failed command's output below it."""
    for hr in run.hosts.values():
        if hr.error is not None:
            report.error(hr.error)
            continue
        for planned in hr.planned_ops():
            if planned.error is not None and not planned.speculative:
                ignored = " (ignored)" if planned.call.options.ignore_errors else ""
                report.error(planned.error.format_line() + ignored)
        for index, result in sorted(hr.results.items()):
            if result.status in ("failed", "ignored") and hr.calls is not None:
                call = hr.calls[index]
                text = f"{hr.name}: {call.title} [{call.where}]: {shown(result.error or 'failed')}"
                report.error(text + (" (ignored)" if result.status == "ignored" else ""))
                if not call.sensitive:
                    _print_output(result)


def _print_output(result: StepResult) -> None:
    failed = next((o for o in result.changes if o["error"]), None)
    if failed is None:
        return
    for stream in ("stdout", "stderr"):
        lines = failed[stream].rstrip("\n").splitlines()
        if lines:
            report.note(f"  {stream}:")
            for line in lines:
                report.note(f"    {shown(line)}")


def summary_rows(run: DeployRun, *, dry_run: bool = False) -> list[dict[str, Any]]:
    """Per host: its state, counts of operations by outcome, and seconds per phase."""
    rows = []
    for hr in run.hosts.values():
        counts = _counts(hr, dry_run)
        state = hr.stage.value
        if state == "done" and (counts["failed"] or counts["skipped"]):
            state = "failed"
        rows.append(
            {
                "host": hr.name,
                "state": state,
                **counts,
                "connect": run.session.connect_seconds.get(hr.name, 0.0),
                "facts": run.gatherer.seconds.get(hr.name, 0.0),
                "plan": hr.plan_seconds,
                "apply": hr.apply_seconds,
                "error": report.redacted(hr.error.format_line()) if hr.error else None,
            }
        )
    return rows


def _counts(hr: HostRun, dry_run: bool) -> dict[str, int]:
    counts = {"changed": 0, "unchanged": 0, "failed": 0, "skipped": 0}
    if hr.stage.value == "unreachable" and not hr.results:
        return counts  # nothing is known about an unreachable host's operations
    for planned in hr.planned_ops():
        result = hr.results.get(planned.call.index)
        if (planned.status == "error" and not planned.speculative) or (
            result is not None and result.status in ("failed", "ignored")
        ):
            counts["failed"] += 1
        elif planned.status == "skipped" or (result is not None and result.status == "skipped"):
            counts["skipped"] += 1
        elif (result is not None and result.status == "changed") or (dry_run and planned.status == "change"):
            counts["changed"] += 1
        else:
            counts["unchanged"] += 1
    return counts


def print_summary(run: DeployRun, *, dry_run: bool = False) -> None:
    rows = summary_rows(run, dry_run=dry_run)
    changed = "to change" if dry_run else "changed"
    headers = ["host", "state", changed, "unchanged", "failed", "skipped", "connect", "facts", "plan", "apply"]
    table = [
        [r["host"], r["state"], r["changed"], r["unchanged"], r["failed"], r["skipped"]]
        + [f"{r[k]:.2f} s" for k in ("connect", "facts", "plan", "apply")]
        for r in rows
    ]
    report.echo("")
    report.table(table, headers)
    report.note(
        f"{len(rows)} hosts: {run.timings.summary()}; "
        f"{run.round_trips('facts')} fact and {run.round_trips('apply')} apply round trip(s) per host"
    )


SCHEMA_VERSION = 1
MODE_KEYS = ("mode", "dir_mode")


def _change_json(change: Any, masked: bool, contents: bool) -> dict[str, Any]:
    """A change as ``--json`` shows it: modes as octal strings like the table, contents only with ``--diff``."""
    data: dict[str, Any] = change.to_json(masked, contents)
    for key in MODE_KEYS:
        if isinstance(data.get(key), int):
            data[key] = f"{data[key]:04o}"
    return data


def run_json(run: DeployRun, *, dry_run: bool = False, contents: bool = False) -> dict[str, Any]:
    """The plan and results as builtins (``--json``), following ``paracrine/schemas/run.schema.json``.

    ``contents``: include small text file contents (``--diff``), never those of sensitive operations.
    """
    hosts = {}
    for hr in run.hosts.values():
        preview = {id(p) for p in (hr.plan.preview if hr.plan is not None else [])}
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
                    "after_earlier_changes": id(planned) in preview,
                    "sensitive": call.sensitive,
                    "changes": [_change_json(c, call.sensitive, contents) for c in planned.changes],
                    "error": planned.error.format_line() if planned.error else None,
                    "result": None
                    if result is None
                    else {"status": result.status, "error": result.error, "changes": _masked(result, call.sensitive)},
                }
            )
        hosts[hr.name] = {
            "state": hr.stage.value,
            "error": hr.error.format_line() if hr.error else None,
            "operations": operations,
            "stale_triggers": sorted(hr.stale.values()),
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "hosts": hosts,
        "summary": summary_rows(run, dry_run=dry_run),
        "timings": run.timings.phases,
        "round_trips": {
            "facts": run.round_trips("facts"),
            "apply": run.round_trips("apply"),
            "per_host": dict(run.session.round_trips),
        },
    }


def _masked(result: StepResult, sensitive: bool) -> list[Any]:
    if not sensitive:
        return list(result.changes)
    return [{**o, "stdout": "", "stderr": ""} for o in result.changes]
