"""``paracrine watch DEPLOY.py``: apply, then apply again whenever a file of the project changes.

The GitOps loop in one process: the Mitogen contexts stay connected between
cycles, so a cycle that changes nothing costs one fact round trip per host
(no SSH connection, no remote interpreter start). Each cycle is an ordinary run
(the same plan, report and exit status per cycle), and the run lock of each host
is given back at its end, so other runs can go between cycles.

What is watched: every file under the deploy's project root (the nearest
directory at or above the first deploy file holding ``pyproject.toml``,
``setup.cfg`` or ``.git``; else the deploy file's directory), except hidden
directories (``.git``, ``.paracrine``, a ``.venv``) and ``__pycache__``;
modification time and size, polled with the standard library. A changed Python
module other than the deploy files themselves (a role, your facts or
operations) may have been shipped to the hosts, so that cycle reconnects; so does
a changed inventory, or a cycle after a host was unreachable.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from paracrine import report, searchpath
from paracrine.commands.deploy import _check_files, _common, plan_confirm_apply, state_dir_of
from paracrine.errors import ExitCode, ParacrineError, UserError
from paracrine.factcache import FactCache
from paracrine.targets import select

if TYPE_CHECKING:
    from paracrine.connect import Session
    from paracrine.inventory import Inventory

Snapshot = dict[str, tuple[int, int]]


@click.command()
@_common
@click.option("-y", "--yes", is_flag=True, help="Apply without asking (watch never asks; required to apply).")
@click.option("--dry-run", is_flag=True, help="Plan and show each cycle's changes; change nothing.")
@click.option("--interval", type=click.FloatRange(0.05), default=0.5, show_default=True, help="Seconds between polls.")
@click.option("--cycles", type=click.IntRange(1), hidden=True, help="Stop after N cycles (tests, benchmarks).")
@click.option("-v", "--verbose", count=True, help="-v: also operations in sync and command output.")
def watch(
    files: tuple[Path, ...],
    inventory: str | None,
    limits: tuple[str, ...],
    parallel: int,
    relays: int,
    state_dir: Path | None,
    yes: bool,
    dry_run: bool,
    interval: float,
    cycles: int | None,
    verbose: int,
) -> int:
    """Apply FILES, then again whenever a file of the project changes (Ctrl-C ends).

    The hosts stay connected between cycles, so a cycle that changes nothing costs one
    round trip per host. There is no one to ask each time: pass -y to apply, or
    --dry-run to only show what would change.

    \b
      paracrine watch deploy.py -y
      paracrine watch deploy.py -i inventory.yaml --dry-run

    Exit codes: 130 when ended with Ctrl-C or SIGTERM; 3 bad input (nothing ran); 4 missing tool or permission.
    """
    _check_files(files)
    if not (yes or dry_run):
        raise UserError("watch applies every change without asking", hint="pass -y to apply, or --dry-run")
    base = files[0].resolve().parent
    root = searchpath.project_root(base) or base
    deploys = {str(f.resolve()) for f in files}
    state = state_dir_of(state_dir)
    cache = FactCache(state)
    ignored = (state.resolve(),)  # the fact cache, when it is inside the project
    session: Session | None = None
    connected_to: list[tuple[str, Any]] = []
    snapshot = take_snapshot(root, ignored)
    cycle = 0
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop ends it like Ctrl-C
    try:
        while True:
            cycle += 1
            start = time.perf_counter()
            warm = session is not None
            try:
                hosts = select(inventory, limits, base_dir=base, relays=relays)
                wanted = [(h.name, h.connection()) for h in hosts.hosts]
                if session is not None and wanted != connected_to:
                    session.close()
                    session = None
                if session is None:
                    from paracrine.connect import Session

                    session, connected_to = Session(parallel=parallel), wanted
                    session.start_connecting(hosts.hosts, resolve=hosts.get)
                code, reconnect = run_cycle(files, hosts, session, cache, apply=not dry_run, verbose=verbose)
            except ParacrineError as exc:  # a broken deploy file or inventory: say so, wait for the fix
                report.error(exc)
                code, reconnect = int(exc.exit_code), True
            if reconnect and session is not None:  # a host was unreachable or lost: connect afresh next time
                session.close()
                session = None
                if warm:  # lost since the last cycle (a host restarted, its master closed): again, connected afresh
                    report.note(f"watch: cycle {cycle} lost a connection kept from the last cycle; connecting afresh")
                    continue
            report.note(
                f"watch: cycle {cycle} exit {code} in {time.perf_counter() - start:.2f} s; "
                f"waiting for changes under {root}"
            )
            if cycles is not None and cycle >= cycles:
                return int(ExitCode.OK)
            changed, snapshot = wait_for_change(root, snapshot, interval, ignored)
            report.note(f"watch: changed: {', '.join(_shown(p, root) for p in changed[:5])}"
                        + (f" and {len(changed) - 5} more" if len(changed) > 5 else ""))  # fmt: skip
            modules = [p for p in changed if p.endswith(".py") and p not in deploys]
            if modules:
                from paracrine.agent import forget_user_modules

                forget_user_modules([root])  # the next cycle imports them afresh (not an installed package)
                if session is not None:
                    session.close()
                    session = None
    finally:
        if session is not None:
            session.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_cycle(
    files: tuple[Path, ...], hosts: Inventory, session: Session, cache: FactCache, *, apply: bool, verbose: int
) -> tuple[int, bool]:
    """One ordinary run over ``session`` (left open), then the hosts' run locks given back.

    Returns the run's exit code, and whether a host was unreachable (then the session should not be kept).
    """
    from paracrine.remote import lock
    from paracrine.report_progress import Progress
    from paracrine.run import DeployRun, Stage

    session.round_trips.clear()
    session.bytes_received.clear()
    progress = Progress(verbose=verbose)
    progress.start()
    with DeployRun(
        files, hosts, cache=cache, session=session, apply=apply, listener=progress.event, keep_session=True
    ) as run:
        code = plan_confirm_apply(
            run, progress, applying=apply, check=False, diff=False, yes=True, as_json=False, verbose=verbose
        )
    if apply:
        session.call_all(lock.release, {name: () for name in session.contexts})
    unreachable = bool(session.failed) or any(hr.stage is Stage.UNREACHABLE for hr in run.hosts.values())
    return code, unreachable


def walk(root: Path, ignored: tuple[Path, ...] = ()) -> Iterator[str]:
    """Every file under ``root``; hidden directories, ``__pycache__`` and ``ignored`` ones left out."""
    skip = {str(p) for p in ignored}
    for directory, subdirs, names in os.walk(root):
        kept = [d for d in subdirs if not d.startswith(".") and d != "__pycache__"]
        subdirs[:] = [d for d in kept if os.path.join(directory, d) not in skip]
        for name in names:
            yield os.path.join(directory, name)


def take_snapshot(root: Path, ignored: tuple[Path, ...] = ()) -> Snapshot:
    """Modification time and size of every watched file."""
    found: Snapshot = {}
    for path in walk(root, ignored):
        try:
            info = os.stat(path)
        except OSError:  # gone since it was listed
            continue
        found[path] = (info.st_mtime_ns, info.st_size)
    return found


def wait_for_change(
    root: Path,
    before: Snapshot,
    interval: float,
    ignored: tuple[Path, ...] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[str], Snapshot]:
    """Poll until a file under ``root`` is added, removed or modified; returns them and the new snapshot.

    A change is returned once it has settled (two polls in a row see the same files), so a file
    still being written (an editor's save, a ``git pull``) is not read half-written.
    """
    while True:
        sleep(interval)
        now = take_snapshot(root, ignored)
        if now != before:
            while True:
                sleep(interval)
                later = take_snapshot(root, ignored)
                if later == now:
                    break
                now = later
            changed = sorted(p for p in now.keys() | before.keys() if now.get(p) != before.get(p))
            return changed, now


def _shown(path: str, root: Path) -> str:
    return os.path.relpath(path, root)
