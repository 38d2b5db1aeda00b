"""Runtime checks of operation arguments against their annotations.

Supports the annotations operations use: builtin types, ``X | None``,
``Literal[...]``, ``list[X]``/``Sequence[X]``, ``dict[K, V]``/``Mapping``,
``tuple[X, ...]``, ``Any`` and ``Annotated[T, Converter]`` (a converter turns
user-friendly input into ``T`` first, e.g. :data:`Mode` accepts ``0o644`` or ``"0644"``).
"""

from __future__ import annotations

import collections.abc
import functools
import posixpath
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any


@dataclass(frozen=True)
class Converter:
    """An ``Annotated`` marker: ``convert`` runs before the type check."""

    convert: Callable[[Any], Any]
    describe: str


def _to_mode(value: Any) -> Any:
    if type(value) is str or type(value) is int:  # hashable: deploy files name the same few modes on every host
        return _cached_mode(value)
    return _mode(value)


def _mode(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        if not text or any(c not in "01234567" for c in text) or len(text) > 4:
            raise ValueError(f"{value!r} is not an octal mode like '0644'")
        return int(text, 8)
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 0o7777:
            raise ValueError(f"mode {value!r} is out of range: a mode is 0 to 0o7777, e.g. 0o644 or '0644'")
        if 0o777 < value <= 777 and set(str(value)) <= set("01234567"):
            raise ValueError(f"mode {value!r} is ambiguous: write 0o{value} or '{value}' for an octal mode")
    return value


_cached_mode = functools.lru_cache(maxsize=512, typed=True)(_mode)


def _local_path(value: Any) -> Any:
    """Relative controller paths are relative to the deploy file that names them."""
    import os

    if not isinstance(value, str) or os.path.isabs(value):
        return value
    from paracrine.current import _current

    deploy_host = _current.get(None)
    base = getattr(deploy_host, "base_dir", None) or os.getcwd()
    return os.path.normpath(os.path.join(base, value))


def _absolute(value: Any) -> Any:
    """An absolute path, normalised: ``/srv/app/../x/`` is ``/srv/x`` (links are never followed anyway)."""
    if not isinstance(value, str):
        return value
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    if "\0" in value:
        raise ValueError(f"{value!r} contains a NUL character")
    return "/" + posixpath.normpath(value).lstrip("/")


def _regex(value: Any) -> Any:
    if isinstance(value, str):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
    return value


def _one_line(value: Any) -> Any:
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        raise ValueError(f"{value!r} is more than one line")
    return value


#: An absolute path on the target (normalised).
AbsPath = Annotated[str, Converter(_absolute, "an absolute path")]
#: A Python regular expression (checked when the operation is called).
Regex = Annotated[str, Converter(_regex, "a regular expression")]
#: A single line of text, without a newline.
OneLine = Annotated[str, Converter(_one_line, "a single line")]


#: A file on the controller; a relative path is relative to the deploy file's directory.
LocalPath = Annotated[str, Converter(_local_path, "a path on the controller")]

#: A file mode: an int (``0o644``) or an octal string (``"0644"``, ``"644"``).
Mode = Annotated[int, Converter(_to_mode, "a mode such as 0o644 or '0644'")]


def _name(hint: Any) -> str:
    if hint is type(None):
        return "None"
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def check_value(value: Any, hint: Any) -> Any:
    """Return ``value`` (converted where the hint says so) or raise TypeError/ValueError."""
    if hint is Any or hint is object:
        return value
    if type(hint) is type:  # a plain class: the common case, no typing introspection
        return _check_type(value, hint)
    origin, args = _parts(hint)
    if origin is Annotated:
        for marker in hint.__metadata__:
            if isinstance(marker, Converter):
                value = marker.convert(value)
        return check_value(value, args[0])
    if origin in (typing.Union, types.UnionType):
        return _check_union(value, args, hint)
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"expected one of {', '.join(repr(a) for a in args)}, got {value!r}")
        return value
    if origin in (list, collections.abc.Sequence, tuple, collections.abc.Iterable):
        return _check_sequence(value, origin, args)
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, collections.abc.Mapping):
            raise TypeError(f"expected a mapping, got {type(value).__name__}")
        key_hint, value_hint = args or (Any, Any)
        return {check_value(k, key_hint): check_value(v, value_hint) for k, v in value.items()}
    if origin is not None:
        return value  # Callable[...] and friends: not checked
    return _check_type(value, hint)


def as_is(hint: Any) -> frozenset[type]:
    """The types whose exact instances :func:`check_value` returns unchanged for ``hint`` (for a fast path).

    The plain classes of ``hint`` (or of its union), ``NoneType`` for ``None``, and
    nothing for anything else (converters, containers, literals, ``float``, which
    converts an int). ``Any`` and ``object`` accept everything: use :func:`check_value`.
    A union is read in order up to its first other option: :func:`check_value` takes
    the first option that accepts a value, and that one might change it (``AbsPath | str``).
    """
    origin, args = _parts(hint)
    options = args if origin in (typing.Union, types.UnionType) else (hint,)
    accepted = set()
    for option in options:
        if option is None or option is type(None):
            accepted.add(type(None))
        elif type(option) is type and option is not float and option is not object:
            accepted.add(option)
        else:
            break
    return frozenset(accepted)


@functools.lru_cache(maxsize=1024)
def _cached_parts(hint: Any, args: Any) -> tuple[Any, tuple[Any, ...]]:
    return typing.get_origin(hint), typing.get_args(hint)


def _parts(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    """``typing.get_origin`` and ``get_args`` of ``hint``, remembered (they are slow, and hints repeat).

    Remembered by the hint *and* its arguments in order: ``str | AbsPath == AbsPath | str``,
    but :func:`check_value` tries a union's options in order, so their order must not be lost.
    """
    try:
        return _cached_parts(hint, getattr(hint, "__args__", None))
    except TypeError:  # an unhashable annotation (a converter without __hash__)
        return typing.get_origin(hint), typing.get_args(hint)


def _check_union(value: Any, args: tuple[Any, ...], hint: Any) -> Any:
    errors = []
    for option in args:
        try:
            return check_value(value, option)
        except (TypeError, ValueError) as exc:
            errors.append(str(exc))
    readable = " or ".join(_describe(a) for a in args)
    detail = next((e for e in errors if not e.startswith("expected")), None)
    raise TypeError(detail or f"expected {readable}, got {type(value).__name__} {value!r}")


def _describe(hint: Any) -> str:
    """A readable name of an annotation: ``list of str``, ``a mode such as 0o644``, ``None``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        marker = next((m for m in hint.__metadata__ if isinstance(m, Converter)), None)
        return marker.describe if marker is not None else _describe(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, collections.abc.Sequence, collections.abc.Iterable):
        return f"list of {_describe(args[0])}" if args else "list"
    if origin in (dict, collections.abc.Mapping):
        return "mapping"
    return _name(hint)


def _check_sequence(value: Any, origin: Any, args: tuple[Any, ...]) -> Any:
    if isinstance(value, str | bytes) or not isinstance(value, collections.abc.Iterable):
        raise TypeError(f"expected a list, got {type(value).__name__} {value!r}")
    items = list(value)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(items) != len(args):
            raise ValueError(f"expected {len(args)} items, got {len(items)}")
        return tuple(check_value(v, h) for v, h in zip(items, args, strict=True))
    item_hint = args[0] if args else Any
    checked = [check_value(v, item_hint) for v in items]
    return tuple(checked) if origin is tuple else checked


def _check_type(value: Any, hint: Any) -> Any:
    if hint is None or hint is type(None):
        if value is not None:
            raise TypeError(f"expected None, got {value!r}")
        return None
    if not isinstance(hint, type):
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise TypeError(f"expected int, got bool {value!r}")
    if not isinstance(value, hint):
        raise TypeError(f"expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value
