"""paracrine.binding: the fast binder gives exactly what inspect gives, errors included."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from paracrine.binding import Binder


def plain(path: str, mode: int = 0o644, *, owner: str | None = None) -> None: ...


def extra(name: str, present: bool = True, **options: Any) -> None: ...


def odd(a: int, /, b: int = 2, *rest: int) -> None: ...


CASES: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
    (plain, ("/f",), {}),
    (plain, ("/f", 0o600), {"owner": "root"}),
    (plain, (), {"path": "/f", "owner": "www"}),
    (plain, (), {"owner": "www", "path": "/f", "mode": 1}),
    (extra, ("x",), {}),
    (extra, ("x",), {"size": 3, "present": False}),
    (extra, (), {"name": "x", "options": 1}),  # a key named like **options goes into it
    (odd, (1,), {}),
    (odd, (1, 2, 3, 4), {}),
]

BAD: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = [
    (plain, (), {}),  # missing
    (plain, ("/f",), {"path": "/g"}),  # twice
    (plain, ("/f",), {"nope": 1}),  # unknown
    (plain, ("/f", 1, 2), {}),  # too many
    (plain, ("/f", 1, "root"), {}),  # keyword-only given by position
    (extra, (), {"present": True}),  # missing with a **extra
    (odd, (), {"a": 1}),  # positional-only by keyword
]


def expected(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    bound = inspect.signature(func).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


@pytest.mark.parametrize(("func", "args", "kwargs"), CASES)
def test_the_same_values_in_the_same_order_as_inspect(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    got = Binder(inspect.signature(func)).bind(args, kwargs)
    assert list(got.items()) == list(expected(func, args, kwargs).items())


@pytest.mark.parametrize(("func", "args", "kwargs"), BAD)
def test_the_same_error_as_inspect(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError) as theirs:
        expected(func, args, kwargs)
    with pytest.raises(TypeError) as ours:
        Binder(inspect.signature(func)).bind(args, kwargs)
    assert str(ours.value) == str(theirs.value)


def test_defaults_are_not_shared_between_calls() -> None:
    binder = Binder(inspect.signature(extra))
    first = binder.bind(("x",), {"a": 1})
    second = binder.bind(("y",), {})
    assert first["options"] == {"a": 1} and second["options"] == {}
