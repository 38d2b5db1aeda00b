"""``paracrine ops``: the built-in operations and their documentation."""

from __future__ import annotations

import inspect

import click

from paracrine import report
from paracrine.cli import debug_option
from paracrine.errors import ExitCode, UserError, did_you_mean
from paracrine.operation import Operation, builtin_operations


@click.command()
@click.argument("name", required=False)
@debug_option
def ops(name: str | None) -> int:
    """List the built-in operations, or show the documentation of NAME (e.g. files.template)."""
    operations = builtin_operations()
    if name is None:
        report.table([[op.name, op.summary] for op in operations.values()], ["operation", "description"])
        return int(ExitCode.OK)
    if name not in operations:
        raise UserError(f"unknown operation {name!r}", hint=did_you_mean(name, operations) or "see `paracrine ops`")
    op = operations[name]
    click.echo(f"{op.name}({_parameters(op)})\n")
    click.echo(inspect.cleandoc(op.doc))
    click.echo(
        "\nEngine options: title=, become=, requires=[...], notify=[...], reload_on=[...], ignore_errors=, sensitive="
    )
    return int(ExitCode.OK)


def _parameters(op: Operation) -> str:
    """The domain parameters as written in the source (annotations unquoted)."""
    parts, keyword_only = [], False
    for param in op.signature.parameters.values():
        if param.kind is inspect.Parameter.KEYWORD_ONLY and not keyword_only:
            parts.append("*")
            keyword_only = True
        text = ("**" if param.kind is inspect.Parameter.VAR_KEYWORD else "") + param.name
        if param.annotation is not inspect.Parameter.empty:
            text += f": {param.annotation}"
        if param.default is not inspect.Parameter.empty:
            text += f" = {param.default!r}"
        parts.append(text)
    return ", ".join(parts)
