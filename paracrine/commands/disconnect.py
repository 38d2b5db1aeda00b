"""``paracrine disconnect [-i INVENTORY]``: end the SSH master connections ``ssh_reuse`` keeps open."""

from __future__ import annotations

import click

from paracrine import report, sshmux
from paracrine.cli import debug_option
from paracrine.errors import ExitCode
from paracrine.targets import select


@click.command("disconnect")
@click.option("-i", "--inventory", help="Only the masters of this inventory's hosts (default: all of yours).")
@click.option("--limit", "limits", multiple=True, help="Only these hosts: name, group or glob (repeatable).")
@debug_option
def disconnect(inventory: str | None, limits: tuple[str, ...]) -> int:
    """Close the SSH master connections kept open between runs (ssh_reuse).

    Without -i, every master whose socket is in Paracrine's socket directory
    (~/.cache/paracrine/ssh), and the agent (`paracrine agent`) if one runs; with -i
    (and --limit), those of the inventory's hosts. Nothing on the hosts changes.
    Prints how many masters were closed.

    \b
      paracrine disconnect
      paracrine disconnect -i inventory.yaml --limit web

    Exit codes: 0 (also when none was open); 3 bad input; 4 the socket directory is not private.
    """
    if inventory is None and not limits:
        from paracrine.commands.agent import stop_agent

        if stop_agent():
            report.echo("stopped the agent (paracrine agent)")
        closed = sshmux.disconnect()
    else:
        hosts = select(inventory, limits)
        closed = sshmux.disconnect([h.connection() for h in hosts])
    report.echo(f"closed {closed} ssh master connection{'' if closed == 1 else 's'} ({sshmux.control_dir()})")
    return int(ExitCode.OK)
