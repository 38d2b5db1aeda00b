"""All terminal output: tables (tabulate), one-line errors, progress, timings.

Nothing else in the engine prints. Errors and progress go to stderr, results
to stdout, so ``--json`` output stays machine-readable. Every line passes
through :func:`redacted`, so no known secret value (:mod:`paracrine.secret`)
is ever printed.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from paracrine.errors import ParacrineError
from paracrine.secret import redact

MAX_CELL = 80


_color: bool | None = None  # None: colour on terminals only (click's own rule)


def set_color(mode: str) -> None:
    """``auto`` (colour on terminals unless $NO_COLOR is set), ``always`` or ``never``."""
    global _color
    if mode == "always":
        _color = True
    elif mode == "never" or (mode == "auto" and os.environ.get("NO_COLOR")):
        _color = False
    else:
        _color = None


def redacted(text: str) -> str:
    """``text`` with every known secret value masked."""
    return redact(text)


def echo(text: str, *, err: bool = False) -> None:
    """Print one line (secrets masked)."""
    click.echo(redact(text), err=err, color=_color)


def error(exc: ParacrineError | str) -> None:
    """Print one problem as one line on stderr."""
    text = exc.format_line() if isinstance(exc, ParacrineError) else exc
    click.secho(redact(f"error: {text}"), err=True, fg="red", color=_color)


def warn(text: str) -> None:
    click.secho(redact(f"warning: {text}"), err=True, fg="yellow", color=_color)


def note(text: str) -> None:
    """A status line on stderr (timings, summaries)."""
    click.echo(redact(text), err=True, color=_color)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    from tabulate import tabulate  # here, not at import: start-up time is on every run's critical path

    text = tabulate(
        [[_cell(c) for c in row] for row in rows], headers=list(headers), tablefmt="simple", disable_numparse=True
    )
    echo(text)


def print_json(value: Any) -> None:
    echo(json.dumps(value, indent=2, sort_keys=True, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, sort_keys=True)
    else:
        text = str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def progress(name: str, ok: bool, done: int, total: int) -> None:
    """Connection progress on a TTY when there are many hosts."""
    if total < 10 or not sys.stderr.isatty():
        return
    end = "\n" if done == total else ""
    click.echo(f"\rconnecting: {done}/{total}", err=True, nl=False)
    if end:
        click.echo("", err=True)


def fact_rows(results: Mapping[str, Any]) -> tuple[list[list[Any]], list[str]]:
    """Shape fact values of many hosts into one table.

    * scalar or list of scalars: ``host | value``;
    * flat dict: one row per host, one column per key;
    * dict of dicts (``apt.packages``): one row per host and entry, ``host | name | fields...``;
    * list of dicts: one row per host and item.
    """
    values = [v for v in results.values() if not isinstance(v, Failure)]
    shape = _shape(values)
    rows: list[list[Any]] = []
    if shape == "records":
        fields = _fields(r for v in values if v for r in v.values())
        for host, value in results.items():
            if isinstance(value, Failure) or not value:
                rows.append([host, _absent(value), *[""] * len(fields)])
                continue
            rows.extend([host, name, *[_field(rec or {}, f) for f in fields]] for name, rec in value.items())
        return rows, ["host", "name", *fields]
    if shape == "list-of-dicts":
        fields = _fields(item for v in values if v for item in v)
        for host, value in results.items():
            if isinstance(value, Failure) or not value:
                rows.append([host, *([_absent(value)] + [""] * (len(fields) - 1) if fields else [_absent(value)])])
                continue
            rows.extend([host, *[_field(item, f) for f in fields]] for item in value)
        return rows, ["host", *fields] if fields else ["host", "value"]
    if shape == "dict":
        fields = _fields(v for v in values if v)
        for host, value in results.items():
            if isinstance(value, Failure) or value is None:
                rows.append([host, _absent(value), *[""] * (len(fields) - 1)])
            else:
                rows.append([host, *[_field(value, f) for f in fields]])
        return rows, ["host", *fields]
    for host, value in results.items():
        rows.append([host, _absent(value) if isinstance(value, Failure) else value])
    return rows, ["host", "value"]


class Failure:
    """A per-host failure shown in a table cell."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return f"error: {self.message}"


def _field(record: Mapping[str, Any], name: str) -> Any:
    value = record.get(name)
    if name == "mode" and isinstance(value, int):
        return f"{value:04o}"
    return value


def _absent(value: Any) -> str:
    return str(value) if isinstance(value, Failure) else "(absent)"


def _shape(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, dict) for v in present):
        inner = [x for v in present for x in v.values()]
        if inner and all(isinstance(x, dict) or x is None for x in inner):
            return "records"
        return "dict"
    if present and all(isinstance(v, list) for v in present):
        items = [x for v in present for x in v]
        if items and all(isinstance(x, dict) for x in items):
            return "list-of-dicts"
    return "scalar"


def _fields(dicts: Any) -> list[str]:
    seen: dict[str, None] = {}
    for d in dicts:
        if isinstance(d, dict):
            for key in d:
                seen.setdefault(key, None)
    return list(seen)
