"""``paracrine lab ...``: start, reset, inspect and stop the lab hosts from the shell.

The group is attached to the main command with ``cli.add_command(lab)``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

import click

from paracrine.errors import ParacrineError, SetupError
from paracrine.lab import core
from paracrine.lab.aptrepo import offline_packages
from paracrine.lab.paths import MAX_HOSTS, lab_paths
from paracrine.lab.state import read_inventory


class _LabGroup(click.Group):
    """A group that renders Paracrine errors as one line and exits with their code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ParacrineError as e:
            click.echo(e.format_line(), err=True)
            ctx.exit(int(e.exit_code))


@click.group("lab", cls=_LabGroup)
def lab() -> None:
    """Throwaway lab hosts h01, h02, ...: real sshd in Debian roots on 127.0.0.1 (needs root)."""
    logger = logging.getLogger("paracrine.lab")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _split_packages(values: tuple[str, ...]) -> list[str]:
    """``--packages a,b --packages c`` -> ``["a", "b", "c"]``."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


_PACKAGES_HELP = (
    "Debian packages (comma-separated, repeatable) the hosts must be able to apt-get install offline; "
    "they and their dependencies are added to the offline apt repository (not installed)."
)


@lab.command("up")
@click.argument("count", type=click.IntRange(1, MAX_HOSTS))
@click.option("--fresh", "wipe", is_flag=True, help="Wipe the hosts' state first.")
@click.option("--keep-others", is_flag=True, help="Leave hosts numbered above COUNT running.")
@click.option("--packages", "packages", multiple=True, metavar="PKG,...", help=_PACKAGES_HELP)
def up_command(count: int, wipe: bool, keep_others: bool, packages: tuple[str, ...]) -> None:
    """Ensure hosts h01..hCOUNT are running (state from before is kept).

    Example: paracrine lab up 3 --packages nginx-light,postgresql
    """
    started = time.monotonic()
    hosts = core.up(count, fresh=wipe, stop_others=not keep_others, packages=_split_packages(packages))
    click.echo(f"{hosts[0].name}..{hosts[-1].name} up in {time.monotonic() - started:.2f} s")
    click.echo(f"ssh -F {lab_paths().state / 'ssh_config'} {hosts[0].name}")


@lab.command("fresh")
@click.argument("hosts", nargs=-1, required=True)
@click.option("--packages", "packages", multiple=True, metavar="PKG,...", help=_PACKAGES_HELP)
def fresh_command(hosts: tuple[str, ...], packages: tuple[str, ...]) -> None:
    """Reset hosts to a clean state: `fresh N` (h01..hN, others stopped) or `fresh h02 h05`."""
    started = time.monotonic()
    by_count = len(hosts) == 1 and hosts[0].isdigit()
    names = _split_packages(packages)
    result = core.up(int(hosts[0]), fresh=True, packages=names) if by_count else core.fresh(hosts, packages=names)
    click.echo(f"{len(result)} hosts reset in {time.monotonic() - started:.2f} s")


@lab.command("stop")
@click.argument("hosts", nargs=-1, required=True)
def stop_command(hosts: tuple[str, ...]) -> None:
    """Stop these hosts, keeping their state (they stay in the inventory)."""
    core.stop(hosts)


@lab.command("down")
def down_command() -> None:
    """Stop every host, unmount everything, remove the state files (host state is kept)."""
    core.down()


@lab.command("status")
def status_command() -> None:
    """List the hosts, their port and whether their sshd is running."""
    rows = core.status()
    if not rows:
        click.echo("no lab hosts; start some with `paracrine lab up N`")
    for name, port, running, pid in rows:
        click.echo(f"{name:<5} {port:>5}  " + (f"running  pid {pid}" if running else "stopped"))


@lab.command("packages")
def packages_command() -> None:
    """List the packages the offline apt repository holds for the hosts (add some with `up N --packages`)."""
    paths = lab_paths()
    names = offline_packages(paths)
    if not names:
        raise SetupError("the offline apt repository is not built yet", hint="run `paracrine lab up N`")
    click.echo("\n".join(names))
    debs = list(paths.apt_repo.glob("*.deb"))
    size = sum(deb.stat().st_size for deb in debs) / 1e6
    click.echo(f"{len(debs)} .deb files with dependencies, {size:.1f} MB in {paths.apt_repo}", err=True)


@lab.command("inventory")
@click.option("--names", is_flag=True, help="Print only the host names, one per line.")
def inventory_command(names: bool) -> None:
    """Print the inventory JSON the lab wrote (or just the host names)."""
    paths = lab_paths()
    hosts = read_inventory(paths)
    if not hosts:
        raise SetupError("the lab is not up", hint="run `paracrine lab up N`")
    if names:
        click.echo("\n".join(h.name for h in hosts))
    else:
        click.echo(json.dumps(json.loads((paths.state / "inventory.json").read_text()), indent=2))


@lab.command("ssh", context_settings={"ignore_unknown_options": True})
@click.option("--root", "as_root", is_flag=True, help="Log in as root instead of lab.")
@click.argument("host")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def ssh_command(as_root: bool, host: str, command: tuple[str, ...]) -> None:
    """Open ssh to HOST (as lab; --root for root), optionally running COMMAND: `ssh h01 -- ls -l`."""
    config = lab_paths().state / "ssh_config"
    if not config.is_file():
        raise SetupError("the lab is not up", hint="run `paracrine lab up N`")
    argv = ["ssh", "-F", str(config), *(["-l", "root"] if as_root else []), host, *command]
    os.execvp("ssh", argv)
