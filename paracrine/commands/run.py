"""``paracrine run TARGET -- COMMAND [ARGS...]``: one command on many hosts, in parallel.

The ad-hoc counterpart of a deploy (``ansible -m command``, ``pyinfra INVENTORY
exec``): the command runs on every selected host at once, as the deploy would
run it (root when the host's ``become`` says so), as an argument list with no
shell unless it names one (``-- sh -c 'a | b'``). Hosts with the same exit code
and output are shown as one group; unreachable hosts get one line each on
stderr; the exit code is 1 when any host failed, unreachable or not.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from paracrine import report
from paracrine.cli import debug_option, relays_option
from paracrine.errors import ExitCode, ParacrineError, UserError
from paracrine.targets import Timings, has_default_inventory, select

if TYPE_CHECKING:
    from paracrine.connect import Outcome


class _RunCommand(click.Command):
    """Everything after the first ``--`` is the command, never options of Paracrine."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" not in args:
            if any(a in ("-h", "--help") for a in args):
                return super().parse_args(ctx, args)
            raise click.UsageError("put `--` before the command, e.g. `paracrine run web -- uptime`", ctx)
        split = args.index("--")
        ctx.meta["paracrine.argv"] = args[split + 1 :]
        if not ctx.meta["paracrine.argv"]:
            raise click.UsageError("no command after `--`", ctx)
        return super().parse_args(ctx, args[:split])

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [*super().collect_usage_pieces(ctx), "-- COMMAND [ARGS]..."]


@click.command("run", cls=_RunCommand)
@click.argument("target", required=False)
@click.option("-i", "--inventory", help="Inventory file, host list or connector (default: ./inventory.py|yaml).")
@click.option("--limit", "limits", multiple=True, help="Only these hosts: name, group or glob (repeatable).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="End the command after SECONDS.")
@click.option("--json", "as_json", is_flag=True, help="Print each host's exit code and output as JSON.")
@click.option("--parallel", type=click.IntRange(1, 512), default=32, show_default=True, help="Connections at once.")
@relays_option
@debug_option
@click.pass_context
def run_command(
    ctx: click.Context,
    target: str | None,
    inventory: str | None,
    limits: tuple[str, ...],
    timeout: float | None,
    as_json: bool,
    parallel: int,
    relays: int,
) -> int:
    """Run COMMAND on the hosts of TARGET in parallel (everything after `--`).

    TARGET is a host, group or glob of the inventory (-i, or ./inventory.py|yaml),
    a host list, a connector (@lab/3) or a lab host; without TARGET, every host
    of the inventory. The command runs as root when the host's `become` is set
    (as a deploy does), with no shell unless you name one.

    \b
      paracrine run @lab/3 -- uptime
      paracrine run web -- systemctl is-active nginx
      paracrine run -i inventory.yaml -- sh -c 'df -h / | tail -1'

    Exit codes: 0 every host ran it with exit 0; 1 a host failed or was unreachable; 3 bad input.
    """
    argv: list[str] = ctx.meta["paracrine.argv"]
    if target is None and inventory is None and not has_default_inventory():
        raise UserError("name a TARGET: a host, group, glob or @lab/N (or an inventory with -i)")
    hosts = select(inventory, limits, target=target, relays=relays)
    from paracrine import agent
    from paracrine.remote import adhoc

    timings = Timings()
    # A new session, closed at the end; in `paracrine agent`, the kept one (it may hold more hosts).
    with agent.session_for(hosts, parallel, base=Path.cwd(), applying=False, close=True, progress=report.progress) as (
        session,
        runs,
    ):
        session.wait_connected()
        timings.mark("connect")
        names = [host.name for host in hosts if host.name in session.contexts]
        outcomes = session.call_all(adhoc.run, {name: (argv, timeout) for name in names})
        timings.mark("run")
        replies = {h.name: _reply(h.name, session.failed.get(h.name), outcomes.get(h.name)) for h in hosts}
        runs.append(agent.Reached(list(replies), {name for name, reply in replies.items() if reply.get("unreachable")}))
    if as_json:
        report.print_json({"hosts": replies, "timings": timings.phases})
    else:
        print_groups(replies)
    lost = {name: reply for name, reply in replies.items() if reply.get("unreachable")}
    for name, reply in lost.items():
        report.error(f"{name}: {reply['error']}")
    failed = [name for name, reply in replies.items() if reply.get("rc") != 0]
    hosts_text = f"{len(replies)} host" + ("" if len(replies) == 1 else "s")
    report.note(
        f"{hosts_text}: {len(replies) - len(failed)} exit 0, {len(failed)} failed "
        f"({len(lost)} unreachable); {timings.summary()}"
    )
    return int(ExitCode.FAILED if failed else ExitCode.OK)


def _reply(name: str, failure: ParacrineError | None, outcome: Outcome | None) -> dict[str, Any]:
    """A host's reply as builtins: the command's result, or why it did not run (``unreachable``: lost)."""
    if failure is not None:
        return {"rc": None, "error": failure.message, "unreachable": True}
    if outcome is None:
        return {"rc": None, "error": "not connected", "unreachable": True}
    if not outcome.ok:
        return {"rc": None, "error": outcome.error, "unreachable": outcome.lost, "stdout": "", "stderr": ""}
    reply: dict[str, Any] = outcome.value
    return reply


def groups(replies: Mapping[str, Mapping[str, Any]]) -> list[tuple[list[str], Mapping[str, Any]]]:
    """Hosts that ran the command with the same result, in host order (unreachable hosts left out)."""
    grouped: dict[tuple[Any, ...], tuple[list[str], Mapping[str, Any]]] = {}
    for name, reply in replies.items():
        if reply.get("unreachable"):
            continue
        key = (reply.get("rc"), reply.get("error"), reply.get("stdout"), reply.get("stderr"))
        grouped.setdefault(key, ([], reply))[0].append(name)
    return list(grouped.values())


def print_groups(replies: Mapping[str, Mapping[str, Any]]) -> None:
    """Each group: a header (its hosts and exit status), then its output indented; stderr in yellow."""
    for names, reply in groups(replies):
        ok = reply.get("rc") == 0
        status = f"exit {reply['rc']}" if reply.get("rc") is not None else str(reply.get("error"))
        report.echo(click.style(f"{', '.join(names)}: {status}", fg="green" if ok else "red", bold=True))
        if reply.get("truncated"):
            report.echo("  (output shortened: only its last MiB per stream was kept)")
        for line in str(reply.get("stdout", "")).splitlines():
            report.echo(f"  {line}")
        for line in str(reply.get("stderr", "")).splitlines():
            report.echo(click.style(f"  {line}", fg="yellow"))
