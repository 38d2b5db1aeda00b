"""``paracrine DEPLOY.py``: plan, show, confirm, apply; and ``paracrine graph``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from paracrine import report
from paracrine.cli import debug_option
from paracrine.errors import ExitCode, UserError
from paracrine.factcache import FactCache, state_dir
from paracrine.targets import select


def _common(func: Any) -> Any:
    options = [
        click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)),
        click.option(
            "-i", "--inventory", help="Inventory file, host list or connector (default: beside the deploy file)."
        ),
        click.option("--limit", "limits", multiple=True, help="Only these hosts: name, group or glob (repeatable)."),
        click.option(
            "--parallel", type=click.IntRange(1, 512), default=32, show_default=True, help="Connections at once."
        ),
        click.option(
            "--state-dir", type=click.Path(path_type=Path), help="Fact cache location (default: ./.paracrine)."
        ),
        debug_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@_common
@click.option("--dry-run", is_flag=True, help="Plan and show what would change; change nothing.")
@click.option("--check", is_flag=True, help="Like --dry-run; exit 2 when changes are pending, 0 when in sync.")
@click.option("--diff", is_flag=True, help="Show unified diffs of file contents that would change.")
@click.option("-y", "--yes", is_flag=True, help="Apply without asking (no prompt is shown without a TTY anyway).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and results as JSON (implies -y).")
@click.option("-v", "--verbose", is_flag=True, help="Also list operations that are already in sync.")
def deploy(
    files: tuple[Path, ...],
    inventory: str | None,
    limits: tuple[str, ...],
    parallel: int,
    state_dir: Path | None,
    dry_run: bool,
    check: bool,
    diff: bool,
    yes: bool,
    as_json: bool,
    verbose: bool,
) -> int:
    """Make the hosts match FILES (deploy files in plain Python).

    \b
    Exit codes: 0 done or in sync, 1 a host failed, 2 changes pending (--check),
    3 bad input (nothing ran), 4 missing tool or permission, 130 interrupted.
    """
    _check_files(files)
    hosts = select(inventory, limits, base_dir=files[0].resolve().parent)
    from paracrine.connect import Session

    session = Session(parallel=parallel, progress=report.progress)
    session.start_connecting(hosts.hosts, resolve=hosts.get)  # first: the rest of the start-up overlaps it
    from paracrine import report_run
    from paracrine.run import DeployRun

    with DeployRun(files, hosts, cache=FactCache(_state(state_dir)), session=session) as run:
        run.connect()
        run.plan()
        if not as_json:
            old = _old_contents(run) if diff else None
            report_run.print_plan(run, verbose=verbose, old_files=old)
        pending = run.pending_changes()
        if pending and not (dry_run or check) and not _confirmed(yes or as_json):
            report.note("nothing applied")
            return int(ExitCode.OK)
        if pending and not (dry_run or check):
            run.apply()
        run.remember_keys()
        if as_json:
            report.print_json(report_run.run_json(run))
        else:
            report_run.print_failures(run)
            if not (dry_run or check) or verbose:
                report_run.print_summary(run)
            elif check:
                code = _exit_code(run, check=True, pending=pending)
                state = {ExitCode.OK: "in sync", ExitCode.PENDING: "changes pending"}.get(code, "failed")
                report.note(f"{state}; {run.timings.summary()}")
    return int(_exit_code(run, check=check, pending=pending))


def _state(explicit: Path | None) -> Path:
    return state_dir(explicit)


def _check_files(files: tuple[Path, ...]) -> None:
    for path in files:
        if not path.is_file():
            raise UserError(f"deploy file {path} not found", hint="pass the path of a .py deploy file")
        if path.suffix != ".py":
            raise UserError(f"deploy file {path} is not a .py file", hint="deploy files are Python files")


def _exit_code(run: Any, *, check: bool, pending: bool) -> ExitCode:
    """1 when a host failed; 3 when every failure is bad input and nothing was applied."""
    errors = []
    for hr in run.hosts.values():
        errors += [hr.error] if hr.error is not None else []
        errors += [p.error for p in hr.planned_ops() if p.error is not None and not p.call.options.ignore_errors]
        if any(r.status == "failed" for r in hr.results.values()):
            return ExitCode.FAILED
    if errors:
        bad_input = run.apply_rounds == 0 and all(isinstance(e, UserError) for e in errors)
        return ExitCode.BAD_INPUT if bad_input else ExitCode.FAILED
    return ExitCode.PENDING if check and pending else ExitCode.OK


def _confirmed(yes: bool) -> bool:
    if yes or not sys.stdin.isatty():
        return True
    return click.confirm("Apply these changes?", default=False)


def _old_contents(run: Any) -> dict[str, dict[str, Any]]:
    """Current lines of the files the plan writes (one extra round trip, only with --diff)."""
    from paracrine.changes import WriteFile
    from paracrine.gather import make_key

    wanted: dict[str, list[Any]] = {}
    for hr in run.active():
        if hr.plan is None:
            continue
        paths = {c.path for p in hr.plan.changing for c in p.changes if isinstance(c, WriteFile)}
        if paths:
            wanted[hr.name] = [make_key("files.lines", {"path": p}) for p in sorted(paths)]
    if not wanted:
        return {}
    run.gatherer.fetch(wanted)
    old: dict[str, dict[str, Any]] = {}
    for name, keys in wanted.items():
        memo = run.gatherer.facts(name)
        for key in keys:
            try:
                old.setdefault(name, {})[key.args["path"]] = memo.get(key)
            except Exception as exc:
                old.setdefault(name, {})[key.args["path"]] = exc
    return old


@click.command()
@_common
@click.option("--dot", is_flag=True, help="Print Graphviz DOT instead of text.")
def graph(
    files: tuple[Path, ...],
    inventory: str | None,
    limits: tuple[str, ...],
    parallel: int,
    state_dir: Path | None,
    dot: bool,
) -> int:
    """Print the operation graph of FILES per host, marking what would change."""
    from paracrine import dag
    from paracrine.run import DeployRun

    _check_files(files)
    hosts = select(inventory, limits, base_dir=files[0].resolve().parent)
    with DeployRun(files, hosts, cache=FactCache(_state(state_dir)), parallel=parallel) as run:
        run.connect()
        run.plan()
    graphs = []
    for hr in run.hosts.values():
        if hr.graph is None:
            if hr.error is not None:
                report.error(hr.error)
            continue
        status: dict[int, str] = {p.call.index: p.status for p in hr.planned_ops()}
        for p in hr.planned_ops():
            if p.call.is_handler and p.status == "ok":
                status[p.call.index] = "handler"
        graphs.append((hr.name, hr.graph, status))
    if dot:
        click.echo(dag.to_dot(graphs))
    else:
        for name, graph_, status in graphs:
            _print_text_graph(name, graph_, status)
    return int(ExitCode.FAILED if any(not hr.ok for hr in run.hosts.values()) else ExitCode.OK)


def _print_text_graph(name: str, graph_: Any, status: dict[int, str]) -> None:
    from paracrine import dag

    marks = {"change": "~", "error": "!", "skipped": "-", "handler": "h"}
    click.echo(click.style(name, bold=True))
    for call in dag.order(graph_):
        preds = sorted(graph_.predecessors(call.index))
        after = ", ".join(f"#{p} ({graph_.edges[p, call.index]['kind']})" for p in preds)
        mark = marks.get(status.get(call.index, "ok"), " ")
        click.echo(f"  {mark} #{call.index} {call.title}  [{call.where}]" + (f"  after {after}" if after else ""))
