"""paracrine.operation: what ``@operation`` accepts, how a call is validated and labelled, and engine options."""

from __future__ import annotations

from pathlib import Path

import engine_ops
import pytest
from planning import deploy_file, load, make_host, settle

from paracrine.changes import RunCommand
from paracrine.errors import ArgumentError, DeployFileError
from paracrine.operation import Changes, builtin_operations, operation
from paracrine.plan import OpContext


def test_the_first_parameter_must_be_ctx_and_no_parameter_an_engine_option() -> None:
    with pytest.raises(TypeError, match="the first parameter must be `ctx`"):

        @operation
        def no_ctx(path: str) -> Changes:
            yield from ()

    with pytest.raises(TypeError, match="parameter 'notify' is an engine option name"):

        @operation
        def clash(ctx: OpContext, notify: str) -> Changes:
            yield from ()


@operation
def nameless(ctx: OpContext) -> Changes:
    """Takes nothing."""
    yield RunCommand(("true",))


@operation
def keyed(ctx: OpContext, name: str, *, path: str | None = None, **extra: int) -> Changes:
    """Its key argument is ``path`` when given."""
    yield RunCommand(("echo", name, *(f"{k}={v}" for k, v in sorted(extra.items()))))


@operation
def named(ctx: OpContext, name: str) -> Changes:
    """Its key argument is its first one."""
    yield from ()


@operation
def wrapper(ctx: OpContext, name: str) -> Changes:
    """Uses another operation's changes."""
    yield from keyed.changes(ctx, name.upper(), n=1)


@operation
def returns_nothing(ctx: OpContext) -> None:  # type: ignore[misc]
    """Not a generator at all."""


def test_labels_and_titles(tmp_path: Path) -> None:
    calls = load(
        tmp_path,
        f"""
        from {__name__} import keyed, named, nameless
        from paracrine.secret import Secret
        nameless()
        keyed("no path")
        keyed("x", path="/srv/app")
        named(Secret("hidden-name"))
        keyed("x", path="/srv/secret", sensitive=True)
        named("web\\n", title="a title")
        """,
    )
    module = __name__
    assert [c.label for c in calls] == [
        f"{module}.nameless()",
        f"{module}.keyed()",
        f"{module}.keyed('/srv/app')",
        f"{module}.named(***)",
        f"{module}.keyed('/srv/secret')",  # a path is not a secret
        f"{module}.named('web\\n')",  # one line
    ]
    assert calls[5].title == "a title" and calls[4].title == calls[4].label
    assert calls[3].sensitive and not calls[2].sensitive
    assert repr(calls[2]) == f"<OpCall web1:2 {module}.keyed('/srv/app') [{calls[2].where}]>"
    assert repr(keyed) == f"<operation {module}.keyed>"
    assert keyed.summary == "Its key argument is ``path`` when given." and nameless.key_param is None


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ('keyed("x", title=5)', "title= takes a string, got int"),
        ('keyed("x", requires="other")', "requires= takes a list of operation calls, got str"),
        ('keyed("x", notify=[1])', "notify= takes operation calls (the value an operation returns), got 1"),
        ('keyed("x", reload_on=5)', "reload_on= takes a list of operation calls, got int"),
        ("keyed()", "missing a required argument: 'name'"),
        ('keyed("x", path=3)', "argument 'path': expected str or None, got int 3"),
    ],
)
def test_bad_calls_fail_at_once_naming_host_and_line(tmp_path: Path, line: str, error: str) -> None:
    with pytest.raises(ArgumentError) as info:
        load(tmp_path, f"from {__name__} import keyed\n{line}\n", make_host("db1"))
    assert info.value.host == "db1"
    assert info.value.where is not None and info.value.where.endswith(":2")
    assert error in info.value.message


def test_a_single_call_is_a_list_of_one(tmp_path: Path) -> None:
    calls = load(tmp_path, f'from {__name__} import keyed\na = keyed("a")\nkeyed("b", requires=a, notify=a)\n')
    assert calls[1].options.requires == (calls[0],) and calls[0].notified_by == [calls[1]]


def test_extra_keywords_are_spread_and_other_operations_changes_reused(tmp_path: Path) -> None:
    calls = load(
        tmp_path,
        f"""
        from {__name__} import keyed, returns_nothing, wrapper
        keyed("a", b=2, a=1)
        wrapper("w")
        returns_nothing()
        """,
    )
    plan, _facts = settle(make_host(), calls)
    assert [p.changes for p in plan.ops] == [
        [RunCommand(("echo", "a", "a=1", "b=2"))],
        [RunCommand(("echo", "W", "n=1"))],
        [],
    ]
    assert calls[0].args == {"name": "a", "path": None, "extra": {"b": 2, "a": 1}}


def test_operations_are_called_from_deploy_files_only() -> None:
    with pytest.raises(DeployFileError, match="`host` is only defined while a deploy file runs"):
        keyed("x")


def test_the_library_of_operations() -> None:
    library = builtin_operations()
    assert {"files.file", "files.directory", "server.shell"} <= set(library)
    assert list(library) == sorted(library)
    assert "engine_ops.note" not in library
    assert engine_ops.note.name == "engine_ops.note"


def test_a_call_in_another_hosts_deploy_cannot_be_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from paracrine.deploy import load_calls

    (web1_call,) = load(tmp_path, f'from {__name__} import keyed\nkeyed("a")\n', make_host("web1"))
    monkeypatch.setattr(engine_ops, "LEAKED", web1_call, raising=False)  # kept by a deploy file across hosts
    second = deploy_file(
        tmp_path, f'import engine_ops\nfrom {__name__} import keyed\nkeyed("b", requires=[engine_ops.LEAKED])\n'
    )
    with pytest.raises(DeployFileError) as info:
        load_calls([second], make_host("web2"), lambda key: None)
    assert info.value.format_line() == (
        f"web2 [{second}:3]: {__name__}.keyed() refers to an operation call of another host"
    )
