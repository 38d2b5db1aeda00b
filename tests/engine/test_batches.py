"""paracrine.batches: a host's plan in wire form (needs, triggers, handlers, large content), and the reply read back."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from planning import load, make_host, settle

from paracrine import handlers
from paracrine.batches import INLINE_LIMIT, Spool, StepResult, attach_source, build_batch, parse_results, streamed_paths
from paracrine.changes import WriteFile
from paracrine.plan import HostPlan
from paracrine.remote import state, wire


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(state.ENV, str(tmp_path / "state"))


def plan_of(tmp_path: Path, source: str) -> HostPlan:
    host = make_host()
    plan, _facts = settle(host, load(tmp_path, source.replace("TMP", str(tmp_path)), host))
    return plan


def steps_by_label(batch: wire.Batch) -> dict[str, wire.Step]:
    return {s["label"]: s for s in batch["steps"]}


def test_steps_need_their_ancestors_that_are_in_the_batch(tmp_path: Path) -> None:
    (tmp_path / "exists").mkdir()
    plan = plan_of(
        tmp_path,
        """
        import engine_ops
        engine_ops.folder("TMP/app")
        engine_ops.note("TMP/app/conf")
        engine_ops.folder("TMP/exists")
        engine_ops.note("TMP/exists/conf")
        engine_ops.note("TMP/other", title="unrelated")
        engine_ops.note("TMP/app/conf", text="again\\n", title="same path")
        """,
    )
    batch = build_batch(plan, "tests/deploy.py", set(), Spool())
    assert (batch["version"], batch["deploy"], batch["forget"]) == (wire.VERSION, "tests/deploy.py", [])
    steps = {s["id"]: s for s in batch["steps"]}
    assert sorted(steps) == [0, 1, 3, 4, 5]  # the folder that exists changes nothing: not in the batch
    assert steps[1]["needs"] == [0]
    assert steps[3]["needs"] == []  # its parent folder is not in the batch
    assert steps[4]["needs"] == []
    assert steps[5]["needs"] == [0, 1]  # after the folder and the earlier operation on the same path
    assert steps[4]["label"] == "unrelated"
    assert steps[0]["changes"] == [
        {"kind": "mkdir", "module": "paracrine.changes.directory", "path": f"{tmp_path}/app", "mode": None,
         "owner": None, "group": None}
    ]  # fmt: skip
    assert all(s["handler"] is None and s["triggers"] == [] for s in steps.values())


def test_triggers_and_handler_fields(tmp_path: Path) -> None:
    (tmp_path / "quiet").write_text("x\n")
    host = make_host()
    source = """
        import engine_ops
        conf = engine_ops.note("TMP/conf")
        quiet = engine_ops.note("TMP/quiet")
        engine_ops.service("app", log="TMP/log", reload_on=[conf, quiet], title="app service")
        engine_ops.service("idle", log="TMP/log", reload_on=[quiet], title="idle service")
        """
    calls = load(tmp_path, source.replace("TMP", str(tmp_path)), host)
    app, idle = calls[2:]
    handlers.mark_pending(idle.handler_key, "idle service", "tests/deploy.py")  # left by an earlier run
    plan, _facts = settle(host, calls)
    batch = build_batch(plan, "d", {idle.handler_key}, Spool(), forget={"zz", "aa"})
    steps = steps_by_label(batch)
    assert batch["forget"] == ["aa", "zz"]
    assert steps[f"engine_ops.note('{tmp_path}/conf')"]["triggers"] == [[app.handler_key, "app service"]]
    assert steps["app service"]["handler"] == {"key": app.handler_key, "when_changed": [0], "force": False}
    assert steps["app service"]["conditional"] == [False, True]
    assert steps["app service"]["needs"] == [0]
    # a handler pending from an earlier run is forced; its trigger changed nothing (not in the batch)
    assert steps["idle service"]["handler"] == {"key": idle.handler_key, "when_changed": [], "force": True}
    assert steps["idle service"]["conditional"] == [False, True]
    assert len(app.handler_key) == 20 and app.handler_key != idle.handler_key


def test_ignore_errors_and_sensitive_travel_with_the_step(tmp_path: Path) -> None:
    plan = plan_of(
        tmp_path,
        """
        import engine_ops
        from paracrine.secret import Secret
        engine_ops.note("TMP/a", ignore_errors=True)
        engine_ops.note("TMP/b", sensitive=True)
        engine_ops.note("TMP/c", text=Secret("password\\n"))
        """,
    )
    steps = build_batch(plan, "d", set(), Spool())["steps"]
    assert [(s["ignore_errors"], s["sensitive"]) for s in steps] == [(True, False), (False, True), (False, True)]
    assert steps[2]["label"] == f"engine_ops.note('{tmp_path}/c')"  # a path is not a secret
    assert steps[2]["changes"][0]["data"] == b"password\n"  # the target needs the value itself
    assert type(steps[2]["changes"][0]["data"]) is bytes


def test_content_above_the_inline_limit_is_spooled_once_per_content(tmp_path: Path) -> None:
    big = "b" * (INLINE_LIMIT + 1)
    plan = plan_of(
        tmp_path,
        f"""
        import engine_ops
        engine_ops.note("TMP/small", text="s" * {INLINE_LIMIT})
        engine_ops.note("TMP/big1", text="b" * {INLINE_LIMIT + 1})
        engine_ops.note("TMP/big2", text="b" * {INLINE_LIMIT + 1})
        """,
    )
    spool = Spool()
    first = build_batch(plan, "d", set(), spool)
    second = build_batch(plan, "d", set(), spool)  # another host with the same content
    small, big1, big2 = (s["changes"][0] for s in first["steps"])
    assert small["data"] == b"s" * INLINE_LIMIT and small["source"] is None
    assert big1["data"] is None and big2["data"] is None
    assert big1["source"]["size"] == INLINE_LIMIT + 1
    assert big1["source"]["path"] == big2["source"]["path"] == second["steps"][1]["changes"][0]["source"]["path"]
    assert big1["sha256"] == WriteFile("/x", big.encode()).sha256
    spooled = Path(big1["source"]["path"])
    assert spooled.read_bytes() == big.encode()
    assert spooled.name == big1["sha256"]
    assert os.listdir(spooled.parent) == [spooled.name]
    assert stat.S_IMODE(spooled.parent.stat().st_mode) == 0o700
    assert plan.ops[1].changes[0].data == big.encode()  # the plan itself keeps its content

    paths = streamed_paths(first)
    assert paths == [str(spooled), str(spooled)]
    attach_source(first, "controller-context")
    assert [c["source"].get("context") for s in first["steps"] for c in s["changes"] if c["source"]] == [
        "controller-context",
        "controller-context",
    ]
    assert "context" not in small
    spool.close()
    assert not spooled.parent.exists()
    spool.close()  # twice is fine


def test_a_spool_that_was_never_used_makes_no_directory() -> None:
    spool = Spool()
    spool.close()
    assert spool._dir is None


def test_parse_results_reads_every_step() -> None:
    outcome = wire.new_outcome()
    outcome["changed"] = True
    reply = {
        "steps": [
            {"id": 3, "status": "changed", "error": None, "changes": [outcome]},
            {"id": 5, "status": "skipped", "error": "skipped: step 3 failed or was skipped"},
        ],
        "duration": 0.5,
    }
    assert parse_results(reply) == {
        3: StepResult("changed", None, [outcome]),
        5: StepResult("skipped", "skipped: step 3 failed or was skipped", []),
    }
    assert parse_results({}) == {}


def test_secrets_cross_the_wire_as_plain_strings(tmp_path: Path) -> None:
    """Mitogen on a target refuses to unpickle paracrine.secret.Secret: the batch holds builtins only."""
    plan = plan_of(
        tmp_path,
        """
        from paracrine.operations import server
        from paracrine.secret import Secret
        server.shell(["deploy", Secret("argv-secret")], env={"TOKEN": Secret("env-secret")})
        """,
    )
    (change,) = build_batch(plan, "d", set(), Spool())["steps"][0]["changes"]
    assert change["argv"] == ["deploy", "argv-secret"] and change["env"]["TOKEN"] == "env-secret"
    assert type(change["argv"][1]) is str and type(change["env"]["TOKEN"]) is str
    assert all(type(k) is str for k in change)
