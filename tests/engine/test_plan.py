"""paracrine.plan: statuses, missing facts gathered in rounds, deferred calls and their preview, handlers,
custom facts that declare their paths, and errors reported against the call.

Facts are gathered in this process against a temporary directory (``planning.settle``).
"""

from __future__ import annotations

from pathlib import Path

import engine_ops
import pytest
from planning import DEPLOY, fill, load, make_host, settle, statuses

from paracrine import dag, handlers
from paracrine.changes import MakeDirectory, RunCommand, WriteFile
from paracrine.errors import PlanError
from paracrine.factkey import FactKey
from paracrine.gather import HostFacts, make_key
from paracrine.hosts import Host
from paracrine.operation import OpCall
from paracrine.plan import Planner, effective_user
from paracrine.remote import state


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(state.ENV, str(tmp_path / "state"))


def deploy(tmp_path: Path, source: str, host: Host | None = None) -> list[OpCall]:
    return load(tmp_path, source.replace("TMP", str(tmp_path)), host)


def test_every_status(tmp_path: Path) -> None:
    (tmp_path / "same").write_text("same\n")
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        engine_ops.note("TMP/new", title="new")
        engine_ops.note("TMP/same", text="same\\n", title="same")
        bad = engine_ops.broken("b", title="bad")
        after_bad = engine_ops.note("TMP/after-bad", requires=[bad], title="after bad")
        ignored = engine_ops.broken("i", ignore_errors=True, title="ignored")
        engine_ops.note("TMP/after-ignored", requires=[ignored], title="after ignored")
        engine_ops.note("TMP/after-skipped", requires=[after_bad], title="also after bad")
        """,
    )
    plan, _facts = settle(make_host(), calls)
    assert statuses(plan) == {
        "new": "change",
        "same": "ok",
        "bad": "error",
        "after bad": "skipped",
        "ignored": "error",
        "after ignored": "change",
        "also after bad": "skipped",
    }
    assert [p.call.title for p in plan.changing] == ["new", "after ignored"]
    assert [p.call.title for p in plan.errors] == ["bad", "ignored"]
    assert (plan.deferred, plan.preview, plan.missing) == ([], [], set())
    assert plan.ops[0].changes == [WriteFile(f"{tmp_path}/new", b"x\n")]
    assert plan.ops[0].conditional == [False] and plan.ops[0].triggered is None


def test_missing_facts_of_every_operation_are_collected_in_one_round(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    host = make_host()
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        engine_ops.survey("s", paths=["TMP/a", "TMP/b", "TMP/c"])
        engine_ops.note("TMP/n")
        engine_ops.broken("never asks for a fact")
        """,
    )
    graph = dag.build(calls)
    facts = HostFacts(host.name)
    first = Planner(host, graph, facts).plan(dag.order(graph), set(), set())
    path_info = [make_key("files.path_info", {"path": f"{tmp_path}/{n}"}) for n in "abc"]
    assert first.missing == {
        *path_info,
        make_key("files.sha256", {"path": f"{tmp_path}/n"}),
        handlers.pending_fact_key(),
    }
    assert [p.status for p in first.ops] == ["incomplete", "incomplete", "error"]
    fill(facts, first.missing)
    second = Planner(host, graph, facts).plan(dag.order(graph), set(), set())
    assert second.missing == set()
    assert second.ops[0].changes == [MakeDirectory(f"{tmp_path}/a"), MakeDirectory(f"{tmp_path}/c")]


def test_a_fact_read_after_an_opaque_command_defers_the_rest_and_previews_it(tmp_path: Path) -> None:
    (tmp_path / "kept").write_text("x\n")
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        engine_ops.note("TMP/before", title="before")
        engine_ops.command("gen", argv=["sh", "-c", "mkdir TMP/gen"], title="generate")
        engine_ops.note("TMP/kept", title="untouched by the command")
        engine_ops.folder("TMP/gen", title="reads what the command may make")
        engine_ops.note("TMP/before", text="x\\n", title="after the deferred one")
        engine_ops.owned("TMP/before", title="a custom fact without derive")
        """,
    )
    plan, _facts = settle(make_host(), calls)
    assert statuses(plan) == {
        "before": "change",
        "generate": "change",
        "preview:untouched by the command": "ok",
        "preview:reads what the command may make": "change",
        "preview:after the deferred one": "ok",
        "preview:a custom fact without derive": "incomplete",
    }
    assert [c.index for c in plan.deferred] == [2, 3, 4, 5]
    assert plan.preview[1].changes == [MakeDirectory(f"{tmp_path}/gen")]
    assert plan.ops[1].changes == [RunCommand(("sh", "-c", f"mkdir {tmp_path}/gen"))]


def test_a_command_with_predicted_effects_defers_nothing(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        engine_ops.command("make", argv=["touch", "TMP/made"], creates="TMP/made")
        engine_ops.survey("reads it", paths=["TMP/made", "TMP/other"])
        """,
    )
    plan, facts = settle(make_host(), calls)
    assert [p.status for p in plan.ops] == ["change", "change"]
    assert plan.deferred == []
    assert plan.ops[1].changes == [MakeDirectory(f"{tmp_path}/other")]
    assert make_key("files.path_info", {"path": f"{tmp_path}/other"}) in facts.values


def test_handlers_run_when_a_trigger_changes_or_a_record_is_pending(tmp_path: Path) -> None:
    (tmp_path / "quiet").write_text("x\n")
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        conf = engine_ops.note("TMP/conf")
        quiet = engine_ops.note("TMP/quiet")
        engine_ops.service("a", log="TMP/log", reload_on=[conf], title="triggered")
        engine_ops.service("b", log="TMP/log", reload_on=[quiet], title="not triggered")
        engine_ops.service("c", log="TMP/log", reload_on=[quiet], plain=True, title="plain, not triggered")
        engine_ops.service("d", log="TMP/log", reload_on=[quiet], plain=True, title="plain, pending")
        """,
    )
    handlers.mark_pending(calls[5].handler_key, "plain, pending", DEPLOY)
    plan, _facts = settle(make_host(), calls)
    by_title = {p.call.title: p for p in plan.ops}
    summary = {t: (p.status, p.triggered, p.conditional) for t, p in by_title.items()}
    assert summary == {
        f"engine_ops.note('{tmp_path}/conf')": ("change", None, [False]),
        f"engine_ops.note('{tmp_path}/quiet')": ("ok", None, []),
        "triggered": ("change", True, [False, True]),
        "not triggered": ("change", False, [False]),
        "plain, not triggered": ("ok", False, []),
        "plain, pending": ("change", True, [True, True]),
    }
    assert [c.argv[-1] for c in by_title["not triggered"].changes] == [f"echo start b >> {tmp_path}/log"]


def test_a_handler_is_triggered_by_a_change_of_an_earlier_stage(tmp_path: Path) -> None:
    (tmp_path / "conf").write_text("x\n")
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        conf = engine_ops.note("TMP/conf")
        engine_ops.service("a", log="TMP/log", reload_on=[conf], plain=True)
        """,
    )
    plan, _facts = settle(make_host(), calls, todo=calls[1:], changed={0})
    assert plan.ops[0].triggered is True and plan.ops[0].status == "change"


def test_calls_after_a_call_blocked_in_an_earlier_stage_are_skipped(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        first = engine_ops.note("TMP/a")
        engine_ops.note("TMP/b", requires=[first], title="b")
        engine_ops.command("opaque", argv=["true"], title="opaque")
        engine_ops.folder("TMP/d", title="deferred")
        engine_ops.note("TMP/c", requires=[first], title="c")
        """,
    )
    plan, _facts = settle(make_host(), calls, todo=calls[1:], blocked={0})
    # after the opaque command the rest is deferred: a blocked call is skipped in the preview
    assert statuses(plan) == {"b": "skipped", "opaque": "change", "preview:deferred": "change", "preview:c": "skipped"}
    assert [c.title for c in plan.deferred] == ["deferred", "c"]  # c too: it is reported again after the split


def test_a_custom_fact_with_paths_is_derived_or_deferred_after_a_change_to_its_paths(tmp_path: Path) -> None:
    (tmp_path / "other").write_text("abc")
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        engine_ops.note("TMP/conf", text="12345\\n")
        engine_ops.sized("TMP/conf", want=6, title="derived")
        engine_ops.sized("TMP/other", want=3, title="gathered")
        engine_ops.owned("TMP/conf", title="no derive")
        engine_ops.note("TMP/last", title="after it")
        """,
    )
    plan, facts = settle(make_host(), calls)
    assert statuses(plan) == {
        f"engine_ops.note('{tmp_path}/conf')": "change",
        "derived": "ok",
        "gathered": "ok",
        "preview:no derive": "incomplete",
        "preview:after it": "change",
    }
    # the first round gathered the size of the file before the write planned (nothing there);
    # once the write is planned, the size is derived from it
    assert facts.get(make_key("engine_facts.conf_size", {"path": f"{tmp_path}/conf"})) is None


def test_a_wrong_derived_value_is_an_error_of_the_call(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        engine_ops.note("TMP/conf", text="123\\n")
        engine_ops.sized("TMP/conf", want=99)
        """,
    )
    plan, _facts = settle(make_host(), calls)
    error = plan.ops[1].error
    assert error is not None and error.message == f"{tmp_path}/conf holds {{'size': 4}} bytes, not 99"


def test_errors_of_an_operation_name_host_call_and_line(tmp_path: Path) -> None:
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        engine_ops.broken("p")
        engine_ops.broken("z", how="bug")
        engine_ops.broken("y", how="yield")
        """,
        make_host("db1"),
    )
    plan, _facts = settle(make_host("db1"), calls)
    lines = [p.error.format_line() for p in plan.ops if p.error is not None]
    where = [c.where for c in calls]
    assert lines == [
        f"db1: engine_ops.broken('p') [{where[0]}]: the host is not right for this; fix it by hand",
        f"db1: engine_ops.broken('z') [{where[1]}]: ZeroDivisionError: division by zero",
        f"db1: engine_ops.broken('y') [{where[2]}]: TypeError: engine_ops.broken yielded 'not a change', not a Change",
    ]
    assert all(isinstance(p.error, PlanError) for p in plan.ops[1:])
    assert where[0] is not None and where[0].endswith(":2")


def test_once_computes_once_per_call_however_often_it_is_planned(tmp_path: Path) -> None:
    engine_ops.COMPUTED.clear()
    calls = deploy(
        tmp_path,
        """
        import engine_ops
        engine_ops.counted("first")
        engine_ops.counted("second")
        """,
    )
    host = make_host()
    settle(host, calls)  # two rounds: the first misses a fact
    plan, _facts = settle(host, calls)
    assert engine_ops.COMPUTED == ["first", "second"]
    assert [p.changes[0].argv for p in plan.ops] == [("echo", "1"), ("echo", "2")]


@pytest.mark.parametrize(
    ("data", "become", "user"),
    [
        ({}, None, None),
        ({}, True, "root"),
        ({"ssh_user": "root"}, True, None),
        ({"become": True}, True, None),
        ({"become": True, "ssh_user": "deploy"}, False, "deploy"),
        ({"ssh_user": "deploy"}, False, None),
        ({"become": True, "become_user": "app"}, "app", None),
        ({}, "postgres", "postgres"),
    ],
)
def test_the_user_an_operation_runs_as(data: dict[str, object], become: bool | str | None, user: str | None) -> None:
    assert effective_user(make_host(**data), become) == user


def test_facts_of_an_operation_run_as_another_user_are_asked_as_that_user(tmp_path: Path) -> None:
    calls = deploy(tmp_path, 'import engine_ops\nengine_ops.note("TMP/f", become="nobody")\n')
    host = make_host()
    graph = dag.build(calls)
    plan = Planner(host, graph, HostFacts(host.name)).plan(dag.order(graph), set(), set())
    assert FactKey("files.sha256", f'{{"path": "{tmp_path}/f"}}', "nobody") in plan.missing


def test_pending_records_that_cannot_be_read_count_as_none(tmp_path: Path) -> None:
    from paracrine.gather import FactFailure

    calls = deploy(tmp_path, 'import engine_ops\nconf = engine_ops.note("TMP/c")\n')
    host = make_host()
    for value in (FactFailure("OSError", "no access"), ["not", "a", "dict"]):
        facts = HostFacts(host.name, {handlers.pending_fact_key(): value})
        assert Planner(host, dag.build(calls), facts).pending() == {}
