"""``paracrine ops``: operations and their documentation, built-in or of the user's packages.

* ``paracrine ops``: the built-in operations, one line each;
* ``paracrine ops files`` / ``paracrine ops myapp`` / ``paracrine ops myapp.ops``: the
  operations of a built-in domain, of a package (its modules, one level down) or of a module;
* ``paracrine ops files.template`` / ``paracrine ops myapp.ops.site``: one operation's
  signature and documentation;
* ``paracrine ops --markdown``: the built-in operations as the README's Markdown table.
"""

from __future__ import annotations

import inspect
import pkgutil

import click

from paracrine import report, searchpath
from paracrine.cli import debug_option, path_option
from paracrine.errors import ExitCode, UserError, did_you_mean
from paracrine.operation import OPERATIONS_PREFIX, Operation, builtin_operations, operations_in

ENGINE_OPTIONS_LINE = (
    "Engine options: title=, become=, requires=[...], notify=[...], reload_on=[...], ignore_errors=, sensitive="
)


def _complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return [name for name in builtin_operations() if name.startswith(incomplete)]


@click.command()
@click.argument("name", required=False, shell_complete=_complete)
@click.option("--markdown", is_flag=True, help="Print the built-in operations as a Markdown table (the README's).")
@path_option
@debug_option
def ops(name: str | None, markdown: bool) -> int:
    """List operations, or show the documentation of NAME.

    \b
    NAME is a built-in operation (files.template) or domain (files), or an
    operation, module or package of your own (myapp.ops.site, myapp.ops, myapp),
    imported like a deploy file's imports (--path DIR, ., the project root).
    """
    if markdown:
        click.echo(markdown_table(builtin_operations()), nl=False)
        return int(ExitCode.OK)
    with searchpath.active():
        found = find_operations(name)
    if isinstance(found, Operation):
        click.echo(f"{found.name}({parameters(found)})\n")
        click.echo(inspect.cleandoc(found.doc))
        click.echo(f"\n{ENGINE_OPTIONS_LINE}")
    else:
        report.table([[op.name, op.summary] for op in found.values()], ["operation", "description"])
    return int(ExitCode.OK)


def find_operations(name: str | None) -> Operation | dict[str, Operation]:
    """The operation ``name``, or the operations of the domain, module or package ``name`` (None: built-in).

    Raises:
        UserError: nothing of that name; or its module exists but fails to import.
    """
    builtin = builtin_operations()
    if name is None:
        return builtin
    if name in builtin:
        return builtin[name]
    domain = {n: op for n, op in builtin.items() if n.startswith(name + ".")}
    if domain:
        return domain
    module = searchpath.import_optional(name) if _importable_name(name) else None
    if module is not None:
        found = operations_in(_modules_of(module))
        if not found:
            raise UserError(f"{name} defines no operation", hint="operations are functions decorated with @operation")
        return found
    if "." in name and _importable_name(name):
        parent, attr = name.rsplit(".", 1)
        container = searchpath.import_optional(parent)
        value = getattr(container, attr, None) if container is not None else None
        if isinstance(value, Operation):
            return value
    raise UserError(f"unknown operation {name!r}", hint=did_you_mean(name, builtin) or "see `paracrine ops`")


def find_operation(name: str) -> Operation:
    """One operation by name (built-in ``files.directory`` or ``myapp.ops.site``).

    Raises:
        UserError: no operation of that name (a module's name too), or its module fails to import.
    """
    found = find_operations(name)
    if isinstance(found, Operation):
        return found
    raise UserError(f"{name!r} is not an operation but holds several", hint="name one: " + ", ".join(found))


def _importable_name(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


def _modules_of(module: object) -> list[str]:
    """The module's own name, and for a package its public modules one level down."""
    name = str(getattr(module, "__name__", ""))
    names = [name]
    path = getattr(module, "__path__", None)
    if path is not None:
        prefix = name + "."
        for info in pkgutil.iter_modules(path):
            if not info.name.startswith("_"):
                searchpath.import_optional(prefix + info.name)
                names.append(prefix + info.name)
    return names


def parameters(op: Operation) -> str:
    """The domain parameters as written in the source (annotations unquoted)."""
    parts, keyword_only = [], False
    for param in op.signature.parameters.values():
        if param.kind is inspect.Parameter.KEYWORD_ONLY and not keyword_only:
            parts.append("*")
            keyword_only = True
        text = ("**" if param.kind is inspect.Parameter.VAR_KEYWORD else "") + param.name
        if param.annotation is not inspect.Parameter.empty:
            annotation = param.annotation
            text += f": {annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)}"
        if param.default is not inspect.Parameter.empty:
            text += f" = {param.default!r}"
        parts.append(text)
    return ", ".join(parts)


def short_signature(op: Operation) -> str:
    """``files.line(path, line, present=, match=, create=)``: required arguments by name, the others as ``name=``."""
    parts = []
    for param in op.signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            parts.append(f"**{param.name}")
        elif param.default is inspect.Parameter.empty:
            parts.append(param.name)
        else:
            parts.append(f"{param.name}=")
    return f"{op.name}({', '.join(parts)})"


def markdown_table(operations: dict[str, Operation]) -> str:
    """The operations as a Markdown table: short signature and the docstring's summary line."""
    lines = ["| operation | what it does |", "| --- | --- |"]
    for op in operations.values():
        summary = op.summary.replace("|", "\\|")
        lines.append(f"| `{short_signature(op)}` | {summary} |")
    return "\n".join(lines) + "\n"


__all__ = ["OPERATIONS_PREFIX", "find_operation", "find_operations", "markdown_table", "ops", "parameters"]
