"""Readers for inventory files: ``inventory.py`` here, ``inventory.yaml`` in :mod:`paracrine.inventory_yaml`.

Both feed an :class:`~paracrine.inventory.InventoryBuilder`; every structural
mistake is an :class:`InventoryError` naming the file (and line, for YAML).
"""

from __future__ import annotations

import runpy
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paracrine.errors import InventoryError, did_you_mean
from paracrine.inventory import Inventory, InventoryBuilder

_PY_SPECIAL = ("defaults", "group_data")


def _data(value: Any, what: str, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InventoryError(f"{what} must be a mapping of names to values, got {type(value).__name__}", where=where)
    return dict(value)


def load_python(path: Path) -> Inventory:
    """``inventory.py``: top-level lists/tuples are groups; ``defaults``, ``group_data`` dicts."""
    where = str(path)
    directory = str(path.resolve().parent)
    sys.path.insert(0, directory)  # helper modules beside the inventory can be imported
    try:
        namespace = runpy.run_path(str(path), run_name="paracrine_inventory")
    except SyntaxError as exc:
        raise InventoryError(f"syntax error: {exc.msg}", where=_exc_where(exc, path)) from exc
    except (Exception, SystemExit) as exc:  # the user's file: report it as one line
        raise InventoryError(f"inventory raised {type(exc).__name__}: {exc}", where=_exc_where(exc, path)) from exc
    finally:
        sys.path.remove(directory)
    builder = InventoryBuilder(where)
    builder.lines = _python_lines(path)
    builder.defaults = _data(namespace.get("defaults"), "defaults", where)
    group_data = _data(namespace.get("group_data"), "group_data", where)
    for name, value in namespace.items():
        if name.startswith("_") or name in _PY_SPECIAL or _is_code(value):
            continue
        if not isinstance(value, list | tuple):
            raise InventoryError(
                f"top-level name {name!r} is a {type(value).__name__}",
                where=where,
                hint="groups are lists of hosts; host data goes in ('host', {...}), `defaults` or `group_data`",
            )
        builder.add_group(name, _data(group_data.get(name), f"group_data[{name!r}]", where))
        for item in value:
            spec, data = _python_entry(item, name, where)
            builder.add_host(spec, data, group=name)
    unknown = set(group_data) - set(builder.group_order)
    if unknown:
        first = sorted(unknown)[0]
        raise InventoryError(
            f"group_data names unknown group {first!r}",
            where=where,
            hint=did_you_mean(first, builder.group_order) or "define the group as a list of hosts",
        )
    if not builder.entries:
        raise InventoryError("the inventory defines no host", where=where, hint="groups are top-level lists of hosts")
    return builder.build()


def _python_lines(path: Path) -> dict[tuple[str, str, str], int]:
    """Lines of data keys written literally: ``defaults = {...}``, ``group_data = {...}``, ``("host", {...})``."""
    import ast

    lines: dict[tuple[str, str, str], int] = {}

    def keys(node: ast.AST, level: tuple[str, str]) -> None:
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    lines[(*level, key.value)] = key.lineno

    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return lines
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id == "defaults":
                keys(node.value, ("defaults", ""))
            elif node.targets[0].id == "group_data" and isinstance(node.value, ast.Dict):
                for group, body in zip(node.value.keys, node.value.values, strict=True):
                    if isinstance(group, ast.Constant) and isinstance(group.value, str):
                        keys(body, ("group", group.value))
        elif isinstance(node, ast.Tuple | ast.List) and len(node.elts) == 2:
            name = node.elts[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                keys(node.elts[1], ("host", name.value))
    return lines


def _is_code(value: Any) -> bool:
    """Imported modules, classes, functions (also builtin ones, partials, typing aliases)."""
    return isinstance(value, types.ModuleType) or callable(value)


def _python_entry(item: Any, group: str, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(item, str):
        return item, {}
    if isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str):
        return item[0], _data(item[1], f"data of host {item[0]!r}", where)
    raise InventoryError(f"group {group!r} holds {item!r}", where=where, hint="a host is 'name' or ('name', {data})")


def _exc_where(exc: BaseException, path: Path) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f"{path}:{exc.lineno}"
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == path.resolve():
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{path}:{line}" if line else str(path)


def load_yaml(path: Path) -> Inventory:
    """``inventory.yaml`` (PyYAML is imported only for one: it costs 20 ms before the first connection)."""
    from paracrine.inventory_yaml import load_yaml as load

    return load(path)
