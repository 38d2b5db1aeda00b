"""The ``inventory.yaml`` reader: ``hosts:`` with data, ``groups:`` with members and data, ``defaults:``.

Duplicate keys are errors (plain PyYAML keeps the last one silently), ``!secret``
marks a value never printed, and every data key's line is remembered for errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from paracrine.errors import InventoryError, did_you_mean
from paracrine.inventory import Inventory, InventoryBuilder
from paracrine.inventory_files import _data
from paracrine.secret import Secret

_YAML_KEYS = ("defaults", "hosts", "groups")
_GROUP_KEYS = ("hosts", "data")


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
    _known_keys(doc, _YAML_KEYS, "unknown top-level key", where, "expected hosts, groups and defaults")
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
        _known_keys(body, _GROUP_KEYS, f"group {group!r} has unknown key", where, "a group has hosts: and data:")
        members, data = body.get("hosts") or [], _data(body.get("data"), f"data of group {group!r}", where)
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise InventoryError(f"hosts of group {group!r} must be a list of names", where=where)
    return members, data


def _known_keys(mapping: dict[str, Any], allowed: tuple[str, ...], problem: str, where: str, otherwise: str) -> None:
    """Raise for the first key of ``mapping`` not in ``allowed``: ``<problem> 'key'``, with a did-you-mean hint."""
    for key in mapping:
        if key not in allowed:
            raise InventoryError(f"{problem} {key!r}", where=where, hint=did_you_mean(key, allowed) or otherwise)
