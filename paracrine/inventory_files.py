"""Readers for inventory files: ``inventory.py`` and ``inventory.yaml``.

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

import yaml

from paracrine.errors import InventoryError, did_you_mean
from paracrine.inventory import Inventory, InventoryBuilder
from paracrine.secret import Secret

_PY_SPECIAL = ("defaults", "group_data")
_YAML_KEYS = ("defaults", "hosts", "groups")
_GROUP_KEYS = ("hosts", "data")


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


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys (plain PyYAML keeps the last one silently)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # Only keys written in this mapping count: a key overriding one brought in by
    # a merge key (`<<: *base`) is YAML's way of changing a shared value.
    seen: set[Any] = set()
    for key_node, _value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable: construct_mapping reports it with its line
            continue
        if duplicate:
            raise InventoryError(
                f"duplicate key {key!r}",
                where=f"{key_node.start_mark.name}:{key_node.start_mark.line + 1}",
                hint="each host and group may appear only once",
            )
        seen.add(key)
    return dict(loader.construct_mapping(node, deep=True))


_MERGE_TAG = "tag:yaml.org,2002:merge"


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _secret(loader: _StrictLoader, node: yaml.Node) -> Secret:
    """``!secret value``: a value Paracrine never prints (see paracrine.secret)."""
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(None, None, "!secret takes a string", node.start_mark)
    return Secret(str(loader.construct_scalar(node)))


_StrictLoader.add_constructor("!secret", _secret)


def load_yaml(path: Path) -> Inventory:
    """``inventory.yaml``: ``hosts:`` with data, ``groups:`` with members and data, ``defaults:``."""
    where = str(path)
    try:
        with open(path, encoding="utf-8") as stream:
            loader = _StrictLoader(stream)
            loader.name = where
            try:
                node = loader.get_single_node()
                doc = loader.construct_document(node) if node is not None else None
            finally:
                loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise InventoryError(
            f"invalid YAML: {exc.problem}", where=f"{where}:{mark.line + 1}" if mark else where
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:  # e.g. control characters, not UTF-8
        raise InventoryError(f"invalid YAML: {' '.join(str(exc).split())}", where=where) from None
    doc = _data(doc, "the inventory", where)
    for key in doc:
        if key not in _YAML_KEYS:
            raise InventoryError(
                f"unknown top-level key {key!r}",
                where=where,
                hint=did_you_mean(key, _YAML_KEYS) or "expected hosts, groups and defaults",
            )
    builder = InventoryBuilder(where)
    builder.lines = _yaml_lines(node)
    builder.defaults = _data(doc.get("defaults"), "defaults", where)
    for name, data in _data(doc.get("hosts"), "hosts", where).items():
        builder.add_host(name, _data(data, f"data of host {name!r}", where))
    for group, body in _data(doc.get("groups"), "groups", where).items():
        members, data = _yaml_group(group, body, where)
        builder.add_group(group, data)
        for member in members:
            if member not in builder.entries and not member.startswith("@"):
                raise InventoryError(
                    f"group {group!r} lists unknown host {member!r}",
                    where=where,
                    hint=did_you_mean(member, builder.entries) or "add it under hosts:",
                )
            builder.add_host(member, group=group)
    if not builder.entries:
        raise InventoryError("the inventory defines no host", where=where, hint="add hosts under hosts:")
    return builder.build()


def _yaml_lines(node: yaml.Node | None) -> dict[tuple[str, str, str], int]:
    """Lines of the data keys of ``defaults:``, each host under ``hosts:`` and each group's ``data:``."""
    lines: dict[tuple[str, str, str], int] = {}

    def entries(mapping: yaml.Node | None) -> list[tuple[str, yaml.Node]]:
        if not isinstance(mapping, yaml.MappingNode):
            return []
        return [(k.value, v) for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and isinstance(k.value, str)]

    def keys(mapping: yaml.Node | None, level: tuple[str, str]) -> None:
        if isinstance(mapping, yaml.MappingNode):
            for key, _ in mapping.value:
                if isinstance(key, yaml.ScalarNode):
                    lines[(*level, str(key.value))] = key.start_mark.line + 1

    for section, body in entries(node):
        if section == "defaults":
            keys(body, ("defaults", ""))
        elif section == "hosts":
            for name, data in entries(body):
                keys(data, ("host", name))
        elif section == "groups":
            for name, group in entries(body):
                keys(dict(entries(group)).get("data"), ("group", name))
    return lines


def _yaml_group(group: str, body: Any, where: str) -> tuple[list[str], dict[str, Any]]:
    if isinstance(body, list):
        members, data = body, {}
    else:
        body = _data(body, f"group {group!r}", where)
        for key in body:
            if key not in _GROUP_KEYS:
                raise InventoryError(
                    f"group {group!r} has unknown key {key!r}",
                    where=where,
                    hint=did_you_mean(key, _GROUP_KEYS) or "a group has hosts: and data:",
                )
        members, data = body.get("hosts") or [], _data(body.get("data"), f"data of group {group!r}", where)
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise InventoryError(f"hosts of group {group!r} must be a list of names", where=where)
    return members, data
