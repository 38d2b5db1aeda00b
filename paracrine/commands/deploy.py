"""``paracrine DEPLOY.py``: plan, show, confirm, apply; and ``paracrine graph``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from paracrine import report
from paracrine.cli import debug_option, path_option, relays_option
from paracrine.errors import ExitCode, UserError
from paracrine.factcache import FactCache, state_dir
from paracrine.targets import select

if TYPE_CHECKING:
    from paracrine import dag
    from paracrine.report_progress import Progress
    from paracrine.run import DeployRun


def _set_color(_ctx: click.Context, _param: click.Parameter, value: str) -> None:
    report.set_color(value)


def _common(func: Any) -> Any:
    options: list[Callable[[Any], Any]] = [
        click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)),
        click.option(
            "-i", "--inventory", help="Inventory file, host list or connector (default: beside the deploy file)."
        ),
        click.option("--limit", "limits", multiple=True, help="Only these hosts: name, group or glob (repeatable)."),
        click.option(
            "--parallel", type=click.IntRange(1, 512), default=32, show_default=True, help="Connections at once."
        ),
        relays_option,
        click.option(
            "--state-dir", type=click.Path(path_type=Path), help="Fact cache location (default: ./.paracrine)."
        ),
        debug_option,
        path_option,
        click.option(
            "--color",
            type=click.Choice(["auto", "always", "never"]),
            default="auto",
            show_default=True,
            expose_value=False,
            callback=_set_color,
            help="Colour the output (auto: on a terminal, unless $NO_COLOR is set).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@_common
@click.option("--dry-run", is_flag=True, help="Plan and show what would change; change nothing.")
@click.option("--check", is_flag=True, help="Like --dry-run; exit 2 when changes are pending, 0 when in sync.")
@click.option("--diff", is_flag=True, help="Show unified diffs of file contents that would change.")
@click.option("-y", "--yes", is_flag=True, help="Apply without asking (required to apply without a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and results as JSON (apply only with -y).")
@click.option(
    "-v", "--verbose", count=True, help="-v: also operations in sync, and command output; -vv: every call on the wire."
)
@click.option(
    "--wait-lock",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    help="Seconds to wait when another run holds a host's lock.",
)
def deploy(
    files: tuple[Path, ...],
    inventory: str | None,
    limits: tuple[str, ...],
    parallel: int,
    relays: int,
    state_dir: Path | None,
    dry_run: bool,
    check: bool,
    diff: bool,
    yes: bool,
    as_json: bool,
    verbose: int,
    wait_lock: float,
) -> int:
    """Make the hosts match FILES (deploy files in plain Python).

    \b
    Exit codes: 0 done or in sync, 1 a host failed, 2 changes pending (--check),
    3 bad input (nothing ran), 4 missing tool or permission, 130 interrupted.
    """
    _check_files(files)
    base = files[0].resolve().parent
    hosts = select(inventory, limits, base_dir=base, relays=relays)
    from paracrine import agent

    applying = not (dry_run or check)
    # A new session, connecting from here on (the rest of the start-up overlaps it); in `paracrine agent`, the kept one.
    with agent.session_for(hosts, parallel, base=base, applying=applying) as (session, runs):
        from paracrine.report_progress import Progress
        from paracrine.run import DeployRun

        cache = FactCache(state_dir_of(state_dir))
        progress = Progress(verbose=verbose)
        progress.start()
        kept = agent.pool() is not None
        with DeployRun(
            files, hosts, cache=cache, session=session, apply=applying, wait_lock=wait_lock, listener=progress.event,
            keep_session=kept,
        ) as run:  # fmt: skip
            runs.append(run)
            return plan_confirm_apply(
                run, progress, applying=applying, check=check, diff=diff, yes=yes, as_json=as_json, verbose=verbose
            )


def plan_confirm_apply(
    run: DeployRun,
    progress: Progress,
    *,
    applying: bool,
    check: bool,
    diff: bool,
    yes: bool,
    as_json: bool,
    verbose: int,
) -> int:
    """Plan, show, confirm, apply and report a run: the flow of ``paracrine DEPLOY.py`` (and ``paracrine op``).

    Returns the exit code; raises the refusal (no ``-y`` where nothing can ask) after printing the plan.
    """
    from paracrine import report_run

    run.connect()
    run.plan()
    old = run.old_contents() if diff else None
    progress.pause()
    if not as_json:
        report_run.print_plan(run, verbose=verbose > 0, old_files=old)
    pending = run.pending_changes()
    refused: UserError | None = None
    declined = False
    if pending and applying:
        refused = _refusal(yes, as_json)
        declined = refused is None and not yes and not click.confirm("Apply these changes?", default=False)
        if refused is None and not declined:
            progress.start()
            run.apply()
            progress.pause()
    elif applying:
        run.finish()
    run.remember_keys()
    if declined:
        report.note("nothing applied")
        return int(ExitCode.OK)
    dry = not applying or refused is not None
    _print_outcome(run, as_json=as_json, verbose=verbose > 0, dry_run=dry, check=check, diff=diff)
    if refused is not None:
        raise refused
    return int(run.exit_code(check=check, pending=pending))


def _print_outcome(
    run: DeployRun, *, as_json: bool, verbose: bool, dry_run: bool, check: bool, diff: bool = False
) -> None:
    from paracrine import report_run

    if as_json:
        report.print_json(report_run.run_json(run, dry_run=dry_run, contents=diff))
        report_run.print_failures(run)
        return
    if not dry_run:
        report_run.print_applied(run, verbose=verbose)
    report_run.print_failures(run)
    if check and not verbose:
        code = run.exit_code(check=True, pending=run.pending_changes())
        state = {ExitCode.OK: "in sync", ExitCode.PENDING: "changes pending"}.get(code, "failed")
        report.note(f"{state}; {run.timings.summary()}")
    elif not dry_run or verbose:
        report_run.print_summary(run, dry_run=dry_run)


def state_dir_of(explicit: Path | None) -> Path:
    return state_dir(explicit)


def _check_files(files: tuple[Path, ...]) -> None:
    for path in files:
        if not path.is_file():
            raise UserError(f"deploy file {path} not found", hint="pass the path of a .py deploy file")
        if path.suffix != ".py":
            raise UserError(f"deploy file {path} is not a .py file", hint="deploy files are Python files")


def _refusal(yes: bool, as_json: bool) -> UserError | None:
    """Why changes may not be applied without asking (no ``-y``, and no terminal or ``--json``), else None."""
    if yes or not (as_json or not sys.stdin.isatty()):
        return None
    why = "--json does not ask" if as_json else "there is no terminal to ask"
    return UserError(f"changes are pending and {why}; nothing was applied", hint="pass -y to apply them")


@click.command()
@_common
@click.option("--dot", is_flag=True, help="Print Graphviz DOT instead of text.")
def graph(
    files: tuple[Path, ...],
    inventory: str | None,
    limits: tuple[str, ...],
    parallel: int,
    relays: int,
    state_dir: Path | None,
    dot: bool,
) -> int:
    """Print the operation graph of FILES per host, marking what would change."""
    from paracrine import dag
    from paracrine.run import DeployRun

    _check_files(files)
    hosts = select(inventory, limits, base_dir=files[0].resolve().parent, relays=relays)
    with DeployRun(files, hosts, cache=FactCache(state_dir_of(state_dir)), parallel=parallel) as run:
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


def _print_text_graph(name: str, graph_: dag.Graph, status: dict[int, str]) -> None:
    from paracrine import dag

    marks = {"change": "~", "error": "!", "skipped": "-", "handler": "h"}
    click.echo(click.style(name, bold=True))
    for call in dag.order(graph_):
        after = ", ".join(f"#{node} ({kind})" for node, kind in graph_.before(call.index))
        mark = marks.get(status.get(call.index, "ok"), " ")
        click.echo(f"  {mark} #{call.index} {call.title}  [{call.where}]" + (f"  after {after}" if after else ""))
