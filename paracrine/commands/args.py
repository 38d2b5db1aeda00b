"""``key=value`` words of the command line as keyword arguments, converted by annotation.

Shared by ``paracrine facts HOST FACT key=value`` and ``paracrine op HOST OPERATION
key=value``: ``int``, ``float`` and ``bool`` annotations convert the text;
``list``/``dict`` (and ``Sequence``/``Mapping``/``tuple``) ones read it as JSON;
anything else (``str``, ``Mode``, ``AbsPath``, ``str | int``) passes the text
on unchanged, for the operation's own validation to convert and check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from paracrine.errors import ArgumentError, did_you_mean

TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")
_JSON_LISTS = ("list", "tuple", "Sequence", "collections.abc.Sequence")
_JSON_DICTS = ("dict", "Mapping", "collections.abc.Mapping")


def parse_key_values(
    owner: str, annotations: Mapping[str, str], items: tuple[str, ...], *, extra: bool = False
) -> dict[str, Any]:
    """``key=value`` words to keyword arguments of ``owner`` (a fact or operation name).

    Args:
        owner: named in error messages.
        annotations: parameter name -> its annotation as written (``"int | None"``).
        items: the words.
        extra: unknown keys are allowed (a ``**variables`` parameter) and stay text.

    Raises:
        ArgumentError: a word is not ``key=value``, names no parameter, repeats one,
            or its value does not convert.
    """
    args: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ArgumentError(f"{owner}: expected key=value, got {item!r}")
        if key not in annotations and not extra:
            raise ArgumentError(
                f"{owner} has no parameter {key!r}",
                hint=did_you_mean(key, annotations) or "parameters: " + (", ".join(annotations) or "none"),
            )
        if key in args:
            raise ArgumentError(f"{owner}: {key}= is given twice", hint="pass each parameter once")
        args[key] = convert(annotations.get(key, ""), text, owner, key)
    return args


def convert(annotation: str, text: str, owner: str, key: str) -> Any:
    """``text`` converted as ``annotation`` says (see the module doc)."""
    kind = _kind(annotation)
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            lowered = text.lower()
            if lowered not in TRUE + FALSE:
                raise ValueError(text)
            return lowered in TRUE
        if kind in ("list", "dict"):
            value = json.loads(text)
            if not isinstance(value, list if kind == "list" else dict):
                raise ValueError(text)  # e.g. argv=5: valid JSON, but not a list
            return value
    except ValueError:
        raise ArgumentError(f"{owner}: {key}={text!r} is not a valid {annotation}") from None
    return text


def _kind(annotation: str) -> str:
    """``int``, ``float``, ``bool``, ``list``, ``dict`` or ``text`` for an annotation as written.

    A union that admits ``str`` stays text; ``X | None`` is ``X``.
    """
    members = [m.strip() for m in _split_union(annotation)]
    members = [m for m in members if m not in ("None", "NoneType")]
    if not members or any(m == "str" or m.startswith(("str[", "Literal")) for m in members):
        return "text"
    first = members[0]
    base = first.split("[", 1)[0].strip()
    if base in ("Optional", "typing.Optional"):
        return _kind(first.split("[", 1)[1].rsplit("]", 1)[0])
    if base in ("int", "float", "bool"):
        return base
    if base in _JSON_LISTS:
        return "list"
    if base in _JSON_DICTS:
        return "dict"
    return "text"


def _split_union(annotation: str) -> list[str]:
    """``"list[str] | None"`` -> ``["list[str] ", " None"]`` (``|`` inside brackets kept)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(annotation):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(annotation[start:i])
            start = i + 1
    parts.append(annotation[start:])
    return parts
