"""``paracrine facts``: gather facts from hosts and show them as one table."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import click

from paracrine import report, searchpath
from paracrine.cli import debug_option, path_option, relays_option
from paracrine.commands.args import parse_key_values
from paracrine.errors import ExitCode, UserError
from paracrine.factcache import FactCache, state_dir
from paracrine.factkey import FactKey
from paracrine.factspec import FactSpec
from paracrine.gather import load_builtin_facts, make_key, resolve_fact
from paracrine.inventory import Inventory
from paracrine.targets import Timings, has_default_inventory, select

LAB_MAX = 200  # hosts in the lab (inventory.lab_hosts)

SUMMARY_FACTS = (
    ("hostname", "server.hostname"),
    ("os", "server.os_release"),
    ("kernel", "server.kernel"),
    ("arch", "server.arch"),
    ("cpus", "server.cpus"),
    ("memory", "server.memory"),
)


@click.command()
@click.argument("target", required=False)
@click.argument("fact_name", metavar="[FACT]", required=False, shell_complete=lambda c, p, i: _complete_fact(i))
@click.argument("fact_args", metavar="[KEY=VALUE]...", nargs=-1)
@click.option("-i", "--inventory", help="Inventory file, host list or connector (default: ./inventory.py|yaml).")
@click.option("--limit", "limits", multiple=True, help="Only these hosts: name, group or glob (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--cached", is_flag=True, help="Show the disk cache without connecting.")
@click.option("--list", "list_facts", is_flag=True, help="List facts; with a NAME, show that fact's documentation.")
@click.option("--state-dir", type=click.Path(), help="Where the fact cache lives (default: ./.paracrine).")
@click.option("--parallel", type=click.IntRange(1, 512), default=32, show_default=True, help="Connections at once.")
@relays_option
@path_option
@debug_option
def facts(
    target: str | None,
    fact_name: str | None,
    fact_args: tuple[str, ...],
    inventory: str | None,
    limits: tuple[str, ...],
    as_json: bool,
    cached: bool,
    list_facts: bool,
    state_dir: str | None,
    parallel: int,
    relays: int,
) -> int:
    """Show facts of TARGET (a host, group, glob, @lab/N or host list).

    Without TARGET: every host of -i INV (or of ./inventory.py|yaml). A name that
    is in no inventory is a host of the running lab (h01), else an SSH host name.

    \b
      paracrine facts web1                          common server facts
      paracrine facts @lab/3 files.path_info path=/etc/hostname
      paracrine facts @lab/3 apt.packages --json
      paracrine facts -i inventory.yaml server.os_release
      paracrine facts web1 myapp.facts.site_enabled name=app --path lib
      paracrine facts --list [files.path_info]
    """
    with searchpath.active():
        if list_facts:
            return _list(target)
        target, fact_name, fact_args = _shift_fact(target, fact_name, fact_args, inventory)
        if target is None and inventory is None and not has_default_inventory():
            raise UserError(
                "name a TARGET: a host, group, glob or @lab/N (or an inventory with -i)",
                hint="see `paracrine facts --help`",
            )
        cache = FactCache(_state_root(state_dir))
        if fact_name is None:
            requests = {label: make_key(name, {}) for label, name in SUMMARY_FACTS}
        else:
            spec = resolve_fact(fact_name)
            requests = {spec.name: make_key(spec.name, parse_args(spec, fact_args))}
    if cached:
        hosts = select(inventory, limits, target=_offline(target) if target else None, offline=True)
        return _show_cached(cache, [h.name for h in hosts], requests, as_json)
    hosts = select(inventory, limits, target=target, relays=relays)
    return _show_live(cache, hosts, requests, as_json, parallel, summary=fact_name is None)


def _shift_fact(
    target: str | None, fact_name: str | None, fact_args: tuple[str, ...], inventory: str | None
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """``facts -i INV FACT [KEY=VALUE...]``: without a TARGET the first word is the fact.

    Only with an inventory (``-i`` or the default one), and only when the word names
    a fact (host names like ``web1.example.com`` have dots too).
    """
    if target is None or "." not in target or (fact_name is not None and "=" not in fact_name):
        return target, fact_name, fact_args
    if inventory is None and not has_default_inventory():
        return target, fact_name, fact_args
    try:
        resolve_fact(target)
    except UserError:
        return target, fact_name, fact_args
    return None, target, ((fact_name,) if fact_name is not None else ()) + fact_args


def _complete_fact(incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    load_builtin_facts()
    from paracrine.factspec import registered

    return [CompletionItem(name) for name in sorted(registered()) if name.startswith(incomplete)]


def _state_root(explicit: str | None) -> Any:
    return state_dir(explicit)


def _offline(target: str) -> str:
    """``@lab/N`` without starting the lab: its host names only."""
    lab = re.fullmatch(r"@lab/(\d+)", target)
    if lab and 1 <= int(lab[1]) <= LAB_MAX:
        return ",".join(f"h{i:02d}" for i in range(1, int(lab[1]) + 1))
    return target  # anything else (a malformed @lab/...) is reported by the inventory, before any lab starts


def parse_args(spec: FactSpec, items: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` words to keyword arguments, converted by the parameter's annotation."""
    return parse_key_values(spec.name, {p.name: p.annotation for p in spec.params}, items)


def _show_live(
    cache: FactCache, hosts: Inventory, requests: dict[str, FactKey], as_json: bool, parallel: int, summary: bool
) -> int:
    from paracrine import agent
    from paracrine.gather import Gatherer

    timings = Timings()
    # A new session, closed at the end; in `paracrine agent`, the kept one (it may hold more hosts).
    with agent.session_for(hosts, parallel, base=Path.cwd(), applying=False, close=True, progress=report.progress) as (
        session,
        runs,
    ):
        session.wait_connected()
        timings.mark("connect")
        gatherer = Gatherer(session, cache)
        names = [host.name for host in hosts if host.name in session.contexts]
        call_errors = gatherer.fetch({name: requests.values() for name in names})
        timings.mark("facts")
        results: dict[str, dict[str, Any]] = {}
        for host in hosts:
            failure = session.failed.get(host.name)
            problem = call_errors.get(host.name)
            error = failure.message if failure else (problem.message if problem else None)
            results[host.name] = _host_values(gatherer, host.name, requests, error)
        round_trips = max(session.round_trips.values(), default=0)
        lost = {name for name, problem in call_errors.items() if problem.lost}
        runs.append(agent.Reached([host.name for host in hosts], lost | set(session.failed)))
    _print(results, requests, as_json, summary)
    reached = len(hosts) - len(session.failed)
    for exc in session.failed.values():
        report.error(exc)
    for name, problem in call_errors.items():
        report.error(f"{name}: gathering facts failed: {problem.message}")
    report.note(f"{reached}/{len(hosts)} hosts: {timings.summary()} ({round_trips} round trip per host)")
    return int(ExitCode.FAILED if session.failed or call_errors or _any_failure(results) else ExitCode.OK)


def _host_values(gatherer: Any, host: str, requests: dict[str, FactKey], error: str | None) -> dict[str, Any]:
    if error:
        return {label: report.Failure(error) for label in requests}
    memo = gatherer.facts(host)
    values: dict[str, Any] = {}
    for label, key in requests.items():
        try:
            values[label] = memo.get(key)
        except Exception as exc:
            values[label] = report.Failure(str(exc))
    return values


def _any_failure(results: dict[str, dict[str, Any]]) -> bool:
    return any(isinstance(v, report.Failure) for values in results.values() for v in values.values())


def _show_cached(cache: FactCache, names: list[str], requests: dict[str, FactKey], as_json: bool) -> int:
    """The cached values; exit 1 (one line per host) when a value was never cached."""
    results: dict[str, dict[str, Any]] = {}
    missing: dict[str, list[str]] = {}
    for name in names:
        entries = cache.load(name)
        results[name] = {}
        for label, key in requests.items():
            if key.id in entries:
                results[name][label] = entries[key.id].value
            else:
                results[name][label] = report.Failure("never cached")
                missing.setdefault(name, []).append(key.label() if len(requests) == 1 else label)
    _print(results, requests, as_json, summary=len(requests) > 1)
    for name in names:
        age = cache.age(name)
        if name in missing:
            if len(missing[name]) == len(requests) > 1:
                report.error(f"nothing ever cached on {name}; run without --cached")
            else:
                report.error(f"{', '.join(missing[name])} never cached on {name}; run without --cached")
        elif age is not None:
            report.note(f"{name}: cached {_age(age)} ago")
    return int(ExitCode.FAILED if missing else ExitCode.OK)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _print(results: dict[str, dict[str, Any]], requests: dict[str, FactKey], as_json: bool, summary: bool) -> None:
    if as_json:
        report.print_json({host: {label: _jsonable(v) for label, v in vals.items()} for host, vals in results.items()})
        return
    if summary:
        rows = [[host, *[_summary_cell(label, v) for label, v in vals.items()]] for host, vals in results.items()]
        report.table(rows, ["host", *requests])
        return
    (label,) = requests
    rows, headers = report.fact_rows({host: vals[label] for host, vals in results.items()})
    report.table(rows, headers)


def _jsonable(value: Any) -> Any:
    return {"error": value.message} if isinstance(value, report.Failure) else value


def _summary_cell(label: str, value: Any) -> Any:
    if isinstance(value, report.Failure) or value is None:
        return value
    if label == "os":
        return value.get("PRETTY_NAME") or f"{value.get('ID', '?')} {value.get('VERSION_ID', '')}".strip()
    if label == "kernel":
        return value.get("release")
    if label == "memory":
        total = value.get("MemTotal")
        return f"{total / 1048576:.1f} GiB" if isinstance(total, int) else total
    return value


def _list(name: str | None) -> int:
    load_builtin_facts()
    if name is None:
        from paracrine.factspec import registered

        rows = [[spec.name, spec.summary] for spec in sorted(registered().values(), key=lambda s: s.name)]
        report.table(rows, ["fact", "description"])
        return int(ExitCode.OK)
    spec = resolve_fact(name)
    params = ", ".join(f"{p.name}: {p.annotation}" + ("" if p.required else f" = {p.default!r}") for p in spec.params)
    click.echo(f"{spec.name}({params}) -> {spec.returns}\n")
    click.echo(inspect.cleandoc(spec.doc))
    if spec.fingerprint is not None:
        click.echo("\nCached across runs: re-sent only when its fingerprint changes.")
    return int(ExitCode.OK)
