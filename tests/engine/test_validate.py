"""paracrine.validate: operation arguments checked (and converted) against their annotations."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

import pytest

from paracrine.validate import AbsPath, Converter, Mode, OneLine, Regex, as_is, check_value


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [
        ("0644", Mode, 0o644),
        (" 0o750 ", Mode, 0o750),
        (0o4755, Mode, 0o4755),
        (1000, Mode, 1000),  # above 777: meant as a number
        ("/srv//app/../x/", AbsPath, "/srv/x"),
        ("//etc", AbsPath, "/etc"),
        ("a+b", Regex, "a+b"),
        ("one line", OneLine, "one line"),
        (3, float, 3.0),
        (None, None, None),
        (None, type(None), None),
        ([1, "a"], list[Any], [1, "a"]),
        ((1, 2), Sequence[int], [1, 2]),
        ([1, 2], tuple[int, ...], (1, 2)),
        (["a", 2], tuple[str, int], ("a", 2)),
        ({"a": 1}, dict[str, int], {"a": 1}),
        ({"a": 1}, Mapping, {"a": 1}),
        ("x", Literal["x", "y"], "x"),
        ("text", str | None, "text"),
        (iter([1]), Iterable[int], [1]),
        (len, Callable[[Any], int], len),
        ("anything", "a forward reference", "anything"),
        (object, Any, object),
        ([], list, []),
    ],
)
def test_accepted_values(value: Any, hint: Any, expected: Any) -> None:
    assert check_value(value, hint) == expected


@pytest.mark.parametrize(
    ("value", "hint", "error"),
    [
        ("0999", Mode, "'0999' is not an octal mode like '0644'"),
        ("", Mode, "'' is not an octal mode like '0644'"),
        ("07777", Mode, "'07777' is not an octal mode like '0644'"),
        (0o10000, Mode, "mode 4096 is out of range: a mode is 0 to 0o7777, e.g. 0o644 or '0644'"),
        (-1, Mode, "mode -1 is out of range"),
        (644, Mode, "mode 644 is ambiguous: write 0o644 or '644' for an octal mode"),
        ([0o644], Mode, "expected int, got list [420]"),  # not "unhashable": modes are converted once per value
        (True, Mode, "expected int, got bool True"),
        ("relative/x", AbsPath, "'relative/x' is not an absolute path"),
        ("/a\0b", AbsPath, "contains a NUL character"),
        ("a(", Regex, "'a(' is not a valid regular expression: missing ), unterminated subpattern"),
        ("two\nlines", OneLine, "'two\\nlines' is more than one line"),
        ("two\rlines", OneLine, "is more than one line"),
        (True, int, "expected int, got bool True"),
        ("1", int, "expected int, got str '1'"),
        (1, None, "expected None, got 1"),
        ("z", Literal["x", "y"], "expected one of 'x', 'y', got 'z'"),
        ("abc", list[str], "expected a list, got str 'abc'"),
        (b"abc", Sequence[int], "expected a list, got bytes b'abc'"),
        (5, list[int], "expected a list, got int 5"),
        ([1, 2, 3], tuple[int, int], "expected 2 items, got 3"),
        (["a"], list[int], "expected int, got str 'a'"),
        ([1], dict[str, int], "expected a mapping, got list"),
        ({1: 1}, dict[str, int], "expected str, got int 1"),
        (1.5, int | None, "expected int or None, got float 1.5"),
        (644, Mode | None, "mode 644 is ambiguous"),  # the union names the converter's own problem
        ([1], list[str] | None, "expected list of str or None, got list [1]"),
        ("x", Literal["a"] | dict[str, int], "expected one of 'a' or mapping, got str 'x'"),
        ("x", tuple[int] | Mapping[str, int], "expected list of int or mapping, got str 'x'"),
        ("x", Annotated[int, "not a converter"] | None, "expected int or None, got str 'x'"),
        ("x", list | None, "expected list or None, got str 'x'"),
    ],
)
def test_refused_values(value: Any, hint: Any, error: str) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        check_value(value, hint)
    assert error in str(info.value)


def test_a_converter_of_ones_own() -> None:
    upper = Annotated[str, Converter(lambda v: v.upper() if isinstance(v, str) else v, "a name")]
    assert check_value("web", upper) == "WEB"
    with pytest.raises(TypeError, match="expected a name or None, got int 5"):
        check_value(5, upper | None)


SAMPLES: list[Any] = [None, True, 0, 1, 2.5, "0644", "/etc", b"x", [1], {"a": 1}, ("a", 1), object()]


@pytest.mark.parametrize(
    "hint",
    [str, int, float, bool, bytes, str | None, int | str, Mode, Mode | None, AbsPath, list[str], dict[str, int],
     Literal["x"], Any, object, None, type(None), bool | None, Sequence[str] | None, AbsPath | str, float | int,
     str | AbsPath, Mode | int],
)  # fmt: skip
def test_types_passed_as_is_are_exactly_what_check_value_returns_unchanged(hint: Any) -> None:
    """The fast path of operation calls (``as_is``) never lets through what ``check_value`` changes or refuses."""
    passed = as_is(hint)
    for value in SAMPLES:
        if type(value) in passed:
            assert check_value(value, hint) is value


def test_types_passed_as_is() -> None:
    assert as_is(str | None) == {str, type(None)}
    assert as_is(int) == {int}  # not bool: check_value refuses True for an int
    assert as_is(float) == set()  # an int is converted
    assert as_is(Mode) == set() and as_is(Mode | None) == set()  # a converter sees every value it comes before
    assert as_is(list[str]) == set() and as_is(Any) == set() and as_is(object) == set()
    assert as_is(AbsPath | str) == set() and as_is(float | int) == set()  # an earlier option may convert it
    assert as_is(str | AbsPath) == {str} and as_is(int | float) == {int}


def test_a_union_keeps_its_order_whatever_was_checked_before() -> None:
    """``AbsPath | str`` equals ``str | AbsPath`` for typing; check_value must still try them in order."""
    assert check_value("/srv//x", AbsPath | str) == "/srv/x"
    assert check_value("/srv//x", str | AbsPath) == "/srv//x"  # str accepts it first: unchanged
    assert check_value("/srv//x", AbsPath | str) == "/srv/x"
