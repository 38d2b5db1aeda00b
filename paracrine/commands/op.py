"""``paracrine op TARGET OPERATION key=value...``: apply one operation from the command line.

The same run as a deploy file holding that one call (plan, show, confirm, apply;
``--dry-run``, ``--check``, ``--diff``, ``--json``, ``-y``), made without any file:
the call is an :class:`~paracrine.deploy.InlineDeploy` registered for every host.
Arguments are converted by the operation's annotations (``mode=0755``,
``present=false``, ``packages='["tree"]'``: JSON for lists and dicts) and
checked before anything connects; a bad one is one line and exit 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from paracrine import report, searchpath
from paracrine.cli import debug_option, path_option, relays_option
from paracrine.commands.args import parse_key_values
from paracrine.commands.ops import find_operation
from paracrine.factcache import FactCache, state_dir
from paracrine.targets import select

if TYPE_CHECKING:
    from paracrine.deploy import DeployHost, InlineDeploy
    from paracrine.operation import Operation

#: Where the plan and errors say an ``op`` call comes from (a deploy file says ``deploy.py:12``).
WHERE = "command line"


def _complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from paracrine.operation import builtin_operations

    return [name for name in builtin_operations() if name.startswith(incomplete)]


@click.command()
@click.argument("target")
@click.argument("operation", shell_complete=_complete)
@click.argument("op_args", metavar="[KEY=VALUE]...", nargs=-1)
@click.option("-i", "--inventory", help="Inventory file, host list or connector (default: ./inventory.py|yaml).")
@click.option("--limit", "limits", multiple=True, help="Only these hosts: name, group or glob (repeatable).")
@click.option("--dry-run", is_flag=True, help="Plan and show what would change; change nothing.")
@click.option("--check", is_flag=True, help="Like --dry-run; exit 2 when changes are pending, 0 when in sync.")
@click.option("--diff", is_flag=True, help="Show unified diffs of file contents that would change.")
@click.option("-y", "--yes", is_flag=True, help="Apply without asking (required to apply without a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan and results as JSON (apply only with -y).")
@click.option(
    "-v", "--verbose", count=True, help="-v: also operations in sync, and command output; -vv: every call on the wire."
)
@click.option("--parallel", type=click.IntRange(1, 512), default=32, show_default=True, help="Connections at once.")
@relays_option
@click.option("--state-dir", type=click.Path(path_type=Path), help="Fact cache location (default: ./.paracrine).")
@click.option(
    "--wait-lock",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    help="Seconds to wait when another run holds a host's lock.",
)
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    expose_value=False,
    callback=lambda _ctx, _param, value: report.set_color(value),
    help="Colour the output (auto: on a terminal, unless $NO_COLOR is set).",
)
@path_option
@debug_option
def op(
    target: str,
    operation: str,
    op_args: tuple[str, ...],
    inventory: str | None,
    limits: tuple[str, ...],
    dry_run: bool,
    check: bool,
    diff: bool,
    yes: bool,
    as_json: bool,
    verbose: int,
    parallel: int,
    relays: int,
    state_dir: Path | None,
    wait_lock: float,
) -> int:
    """Apply one OPERATION to the hosts of TARGET, as a deploy file with that one call would.

    \b
      paracrine op web files.directory path=/srv/x mode=0755 --dry-run
      paracrine op @lab/3 apt.packages packages='["tree"]' -y
      paracrine op db1 server.user user=backup system=true --check
      paracrine op web myapp.ops.site name=app --path lib

    TARGET is a host, group or glob of the inventory (-i, or ./inventory.py|yaml), a
    host list, a connector or a lab host; `all` is every host of the inventory.
    KEY=VALUE words are converted by the operation's annotations (JSON for lists
    and dicts); `paracrine ops OPERATION` documents them.

    \b
    Exit codes: 0 done or in sync, 1 a host failed, 2 changes pending (--check),
    3 bad input (nothing ran), 4 missing tool or permission, 130 interrupted.
    """
    with searchpath.active():
        found = find_operation(operation)
        kwargs = operation_args(found, op_args)
    hosts = select(inventory, limits, target=target, relays=relays)
    source = inline_call(found, kwargs)
    from paracrine import agent

    applying = not (dry_run or check)
    # A new session, connecting from here on (closed by the run); in `paracrine agent`, the kept one.
    with agent.session_for(hosts, parallel, base=Path.cwd(), applying=applying) as (session, runs):
        from paracrine.commands.deploy import plan_confirm_apply
        from paracrine.report_progress import Progress
        from paracrine.run import DeployRun

        progress = Progress(verbose=verbose)
        progress.start()
        with DeployRun(
            [source],
            hosts,
            cache=FactCache(state_dir_path(state_dir)),
            session=session,
            apply=applying,
            wait_lock=wait_lock,
            listener=progress.event,
            keep_session=agent.pool() is not None,
        ) as run:
            runs.append(run)
            return plan_confirm_apply(
                run, progress, applying=applying, check=check, diff=diff, yes=yes, as_json=as_json, verbose=verbose
            )


def state_dir_path(explicit: Path | None) -> Path:
    return state_dir(explicit)


def operation_args(found: Operation, words: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` words as the operation's keyword arguments, checked as a call would check them.

    Raises:
        ArgumentError: a word is not key=value, names no parameter, does not convert or is invalid.
    """
    import inspect

    annotations = {}
    for name, param in found.signature.parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        annotation = param.annotation
        if annotation is inspect.Parameter.empty:
            annotations[name] = ""
        else:
            annotations[name] = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    kwargs = parse_key_values(found.name, annotations, words, extra=found.varkw is not None)
    found.bind((), kwargs)  # bad arguments fail now, before anything connects
    return kwargs


def inline_call(found: Operation, kwargs: dict[str, Any]) -> InlineDeploy:
    """A deploy holding one call of ``found`` with ``kwargs``, for every host."""
    from paracrine.deploy import InlineDeploy
    from paracrine.operation import OpCall, Options
    from paracrine.secret import contains_secret

    def register(deploy_host: DeployHost) -> None:
        bound = found.bind((), kwargs)
        deploy_host.register(OpCall(found, bound, Options(sensitive=contains_secret(bound)), WHERE))

    # One name per operation, not per arguments: the fact cache keeps one list of facts read per deploy.
    return InlineDeploy(f"op {found.name}", register)
