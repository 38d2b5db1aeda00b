"""The error hierarchy: the one-line form, context filling, hints and the documented exit codes."""

from __future__ import annotations

import inspect
import pickle

import pytest

from paracrine import errors
from paracrine.errors import (
    ArgumentError,
    ConflictError,
    ConnectError,
    CycleError,
    DeployFileError,
    ExitCode,
    FactError,
    HostDataError,
    InventoryError,
    LocalFileError,
    LockError,
    ParacrineError,
    PlanError,
    SetupError,
    TemplateError,
    UnknownFactError,
    UserError,
    did_you_mean,
    user_location,
)

# ------------------------------------------------------------------ format_line


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"host": "web1", "op": "files.directory('/srv/app')", "where": "deploy.py:14", "hint": "pass force=True"},
            "web1: files.directory('/srv/app') [deploy.py:14]: path is a file; pass force=True",
        ),
        (
            {"host": "web1", "op": "apt.packages", "where": "deploy.py:3"},
            "web1: apt.packages [deploy.py:3]: path is a file",
        ),
        ({"host": "web1"}, "web1: path is a file"),
        ({"op": "apt.packages"}, "apt.packages: path is a file"),
        ({"where": "inventory.yaml:4"}, "[inventory.yaml:4]: path is a file"),
        ({"host": "web1", "where": "deploy.py:2"}, "web1 [deploy.py:2]: path is a file"),
        ({"op": "files.put", "where": "deploy.py:9"}, "files.put [deploy.py:9]: path is a file"),
        ({"host": "web1", "op": "files.put"}, "web1: files.put: path is a file"),
        ({"hint": "check it"}, "path is a file; check it"),
        ({"where": "x.py", "hint": "check it"}, "[x.py]: path is a file; check it"),
        ({}, "path is a file"),
    ],
)
def test_format_line_shapes(fields: dict[str, str], expected: str) -> None:
    exc = ParacrineError("path is a file", **fields)
    assert exc.format_line() == expected
    assert str(exc) == expected


def test_empty_fields_are_left_out() -> None:
    exc = ParacrineError("boom", host="", op="", where="", hint="")
    assert exc.format_line() == "boom"


def test_format_line_is_always_one_line() -> None:
    # Messages quoted from user code (an exception's text) may hold line breaks.
    exc = DeployFileError("deploy file raised ValueError: first\nsecond\r\n  third", host="web1", where="d.py:3")
    line = exc.format_line()
    assert "\n" not in line and "\r" not in line
    assert line == "web1 [d.py:3]: deploy file raised ValueError: first second third"


def test_format_line_hint_with_line_break_stays_one_line() -> None:
    exc = InventoryError("bad", hint="one\ntwo")
    assert exc.format_line() == "bad; one two"


def test_message_and_fields_are_kept() -> None:
    exc = PlanError("m", host="h", op="o", where="w", hint="x")
    assert (exc.message, exc.host, exc.op, exc.where, exc.hint) == ("m", "h", "o", "w", "x")
    assert exc.args == ("m",)


# ------------------------------------------------------------------ with_context


def test_with_context_fills_empty_fields_only() -> None:
    exc = ParacrineError("boom", host="web1", where=None)
    returned = exc.with_context(host="web2", op="files.put", where="deploy.py:7")
    assert returned is exc
    assert exc.host == "web1"  # already set: kept
    assert exc.op == "files.put"
    assert exc.where == "deploy.py:7"
    assert exc.format_line() == "web1: files.put [deploy.py:7]: boom"


def test_with_context_keeps_every_set_field() -> None:
    exc = ParacrineError("boom", host="a", op="b", where="c", hint="d")
    exc.with_context(host="x", op="y", where="z")
    assert exc.format_line() == "a: b [c]: boom; d"


def test_with_context_without_arguments_changes_nothing() -> None:
    exc = ParacrineError("boom", op="o")
    exc.with_context()
    assert (exc.host, exc.op, exc.where) == (None, "o", None)


def test_with_context_treats_empty_string_as_empty() -> None:
    exc = ParacrineError("boom", host="")
    exc.with_context(host="web1")
    assert exc.host == "web1"


def test_with_context_in_raise() -> None:
    with pytest.raises(ArgumentError) as info:
        try:
            raise ArgumentError("bad argument")
        except ParacrineError as exc:
            raise exc.with_context(host="web1", where="deploy.py:1") from None
    assert info.value.format_line() == "web1 [deploy.py:1]: bad argument"


# ------------------------------------------------------------------ did_you_mean


def test_did_you_mean_names_the_close_choice() -> None:
    assert did_you_mean("prot", ["port", "hostname"]) == "did you mean 'port'?"


def test_did_you_mean_lists_several_best_first() -> None:
    hint = did_you_mean("web", ["web1", "web2", "db1"])
    assert hint is not None
    assert hint.startswith("did you mean 'web")
    assert "'web1'" in hint and "'web2'" in hint and " or " in hint
    assert "db1" not in hint


def test_did_you_mean_at_most_three() -> None:
    hint = did_you_mean("host", ["host1", "host2", "host3", "host4"])
    assert hint is not None
    assert hint.count("'host") == 3


@pytest.mark.parametrize("choices", [[], ["zzzzzz", "qqqq"]])
def test_did_you_mean_none_when_nothing_is_close(choices: list[str]) -> None:
    assert did_you_mean("port", choices) is None


def test_did_you_mean_accepts_any_iterable() -> None:
    assert did_you_mean("hsots", {"hosts": 1, "groups": 2}) == "did you mean 'hosts'?"
    assert did_you_mean("hosts", (n for n in ["hosts"])) == "did you mean 'hosts'?"


# ------------------------------------------------------------------ exit codes


def test_exit_code_values_are_the_documented_ones() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "FAILED": 1,
        "PENDING": 2,
        "BAD_INPUT": 3,
        "ENVIRONMENT": 4,
        "INTERRUPTED": 130,
    }


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (ParacrineError, 1),
        (UserError, 3),
        (InventoryError, 3),
        (HostDataError, 3),
        (DeployFileError, 3),
        (ArgumentError, 3),
        (TemplateError, 3),
        (UnknownFactError, 3),
        (CycleError, 3),
        (ConflictError, 3),
        (LocalFileError, 3),
        (SetupError, 4),
        (ConnectError, 1),
        (FactError, 1),
        (PlanError, 1),
        (LockError, 1),
    ],
)
def test_exit_code_of_each_error_class(cls: type[ParacrineError], code: int) -> None:
    assert int(cls("x").exit_code) == code


def test_every_error_class_is_covered_by_the_exit_code_table() -> None:
    classes = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, ParacrineError) and obj.__module__ == errors.__name__
    }
    assert classes == {
        ParacrineError,
        UserError,
        InventoryError,
        HostDataError,
        DeployFileError,
        ArgumentError,
        TemplateError,
        UnknownFactError,
        CycleError,
        ConflictError,
        LocalFileError,
        SetupError,
        ConnectError,
        FactError,
        PlanError,
        LockError,
    }


def test_user_errors_are_bad_input() -> None:
    for cls in (InventoryError, HostDataError, DeployFileError, ArgumentError, TemplateError, UnknownFactError):
        assert issubclass(cls, UserError)


def test_host_data_error_is_an_attribute_error() -> None:
    # getattr(data, "x", default), hasattr() and Jinja's undefined handling rely on it.
    assert issubclass(HostDataError, AttributeError)

    class Holder:
        def __getattr__(self, key: str) -> object:
            raise HostDataError("no key", host="h")

    assert getattr(Holder(), "x", "default") == "default"
    assert not hasattr(Holder(), "x")


# ------------------------------------------------------------------ other


def test_fact_error_carries_the_remote_type() -> None:
    exc = FactError("No such file", remote_type="FileNotFoundError", host="web1", op="files.lines")
    assert exc.remote_type == "FileNotFoundError"
    assert exc.format_line() == "web1: files.lines: No such file"


@pytest.mark.parametrize(
    "exc",
    [
        FactError("m", remote_type="OSError", host="h", op="o", where="w", hint="x"),
        InventoryError("m", where="inventory.yaml:3", hint="x"),
        HostDataError("m", host="h", hint="did you mean 'port'?"),
    ],
)
def test_errors_survive_pickling(exc: ParacrineError) -> None:
    # Errors cross process boundaries (Mitogen); every field must come back.
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert back.format_line() == exc.format_line()
    assert getattr(back, "remote_type", None) == getattr(exc, "remote_type", None)


def test_user_location_points_at_the_caller_outside_paracrine() -> None:
    frame = inspect.currentframe()
    assert frame is not None
    expected_line = frame.f_lineno + 1
    where = user_location()
    assert where is not None
    file, _, line = where.rpartition(":")
    assert file.endswith("test_errors.py")
    assert int(line) == expected_line


def test_user_location_skips_given_prefixes() -> None:
    where = user_location(skip_prefixes=[__file__])
    assert where is None or not where.rpartition(":")[0].endswith("test_errors.py")
