"""paracrine.remote.execute.run_batch, called in this process on batches that act on a temporary directory.

Steps and their needs, ignore_errors, sensitive steps, handlers and their pending
records, merged steps (``batched_kind``), deferred changes (``deferred_kind``),
the apply of every built-in change kind, and the SIGTERM handler (in a process of
its own). The state directory (pending records) is a temporary one
(``$PARACRINE_TARGET_STATE_DIR``). A few tests need root (chown, a command as ``nobody``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import batched_kind
import deferred_kind
import engine_calls
import pytest

from paracrine import handlers
from paracrine.changes import (
    CallFunction,
    Change,
    MakeDirectory,
    MakeLink,
    RemovePath,
    RunCommand,
    SetAttributes,
    WriteFile,
)
from paracrine.changes import command as command_kind
from paracrine.remote import state, wire
from paracrine.remote.execute import apply_change, run_batch

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, a command as another user)")

DEPLOY = "tests/site.py"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pending records and the lock go to a temporary directory."""
    directory = tmp_path / "state"
    monkeypatch.setenv(state.ENV, str(directory))
    return directory


# ---------------------------------------------------------------- building batches


def step(
    index: int,
    *changes: Change | dict[str, Any],
    needs: tuple[int, ...] = (),
    conditional: list[bool] | None = None,
    ignore_errors: bool = False,
    sensitive: bool = False,
    triggers: list[list[str]] | None = None,
    handler: wire.HandlerWire | None = None,
) -> wire.Step:
    wired = [c.to_wire() if isinstance(c, Change) else c for c in changes]
    return {
        "id": index,
        "label": f"step {index}",
        "needs": list(needs),
        "changes": wired,
        "conditional": conditional if conditional is not None else [False] * len(wired),
        "ignore_errors": ignore_errors,
        "sensitive": sensitive,
        "triggers": triggers or [],
        "handler": handler,
    }


def handler(key: str, when_changed: list[int], force: bool = False) -> wire.HandlerWire:
    return {"key": key, "when_changed": when_changed, "force": force}


def run(*steps: wire.Step, forget: list[str] | None = None) -> dict[int, wire.StepReply]:
    """Run the steps as one batch; replies by step id (checking they come back in the batch's order)."""
    batch: wire.Batch = {"version": wire.VERSION, "deploy": DEPLOY, "steps": list(steps), "forget": forget or []}
    reply = run_batch(batch)
    assert [r["id"] for r in reply["steps"]] == [s["id"] for s in steps]
    assert reply["duration"] >= 0
    return {r["id"]: r for r in reply["steps"]}


def statuses(replies: dict[int, wire.StepReply]) -> dict[int, str]:
    return {index: reply["status"] for index, reply in replies.items()}


def write(path: Path, text: str, **kwargs: Any) -> WriteFile:
    return WriteFile(str(path), text.encode(), **kwargs)


def sh(script: str, **kwargs: Any) -> RunCommand:
    return RunCommand(("sh", "-c", script), **kwargs)


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def pending() -> dict[str, dict[str, Any]]:
    return handlers.pending_handlers()


# ---------------------------------------------------------------- steps and needs


def test_a_failed_step_skips_what_needs_it_and_the_other_steps_go_on(tmp_path: Path) -> None:
    replies = run(
        step(0, MakeDirectory(str(tmp_path / "app"))),
        step(1, sh("echo partial; echo broken >&2; exit 3"), needs=(0,)),
        step(2, write(tmp_path / "app" / "conf", "x\n"), needs=(1,)),
        step(3, write(tmp_path / "app" / "other", "y\n"), needs=(0,)),
        step(4, write(tmp_path / "app" / "last", "z\n"), needs=(2,)),
    )
    assert statuses(replies) == {0: "changed", 1: "failed", 2: "skipped", 3: "changed", 4: "skipped"}
    assert replies[1]["error"] == "exit code 3: broken"
    (outcome,) = replies[1]["changes"]
    assert (outcome["rc"], outcome["stdout"], outcome["stderr"]) == (3, "partial\n", "broken\n")
    assert replies[2] == {"id": 2, "status": "skipped", "changes": [], "error": "skipped: step 1 failed or was skipped"}
    assert replies[4]["error"] == "skipped: step 2 failed or was skipped"
    assert sorted(p.name for p in (tmp_path / "app").iterdir()) == ["other"]


def test_a_step_stops_at_its_first_failing_change(tmp_path: Path) -> None:
    replies = run(step(0, write(tmp_path / "a", "a"), sh("exit 1"), write(tmp_path / "b", "b")))
    assert replies[0]["status"] == "failed"
    assert len(replies[0]["changes"]) == 2
    assert replies[0]["error"] == "exit code 1"
    assert (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_an_unchanged_step_and_a_changed_one(tmp_path: Path) -> None:
    (tmp_path / "same").write_text("same\n")
    replies = run(step(0, write(tmp_path / "same", "same\n")), step(1, write(tmp_path / "new", "new\n")))
    assert statuses(replies) == {0: "unchanged", 1: "changed"}
    assert replies[0]["error"] is None and replies[0]["changes"][0]["changed"] is False


def test_an_ignored_failure_does_not_skip_what_needs_it(tmp_path: Path) -> None:
    replies = run(
        step(0, sh("exit 5"), ignore_errors=True),
        step(1, write(tmp_path / "after", "ran\n"), needs=(0,)),
    )
    assert statuses(replies) == {0: "ignored", 1: "changed"}
    assert replies[0]["error"] == "exit code 5"
    assert (tmp_path / "after").read_text() == "ran\n"


def test_a_change_kind_that_cannot_be_imported_fails_its_step_only(tmp_path: Path) -> None:
    replies = run(step(0, {"kind": "x", "module": "no_such_kind_module"}), step(1, write(tmp_path / "f", "f")))
    assert statuses(replies) == {0: "failed", 1: "changed"}
    assert replies[0]["error"] == "ModuleNotFoundError: No module named 'no_such_kind_module'"


def test_errors_are_cut_to_the_wire_limit() -> None:
    outcome = apply_change(CallFunction.of(engine_calls.refuse, reason="x" * 10000).to_wire())
    assert outcome["error"] == "x" * wire.MAX_ERROR
    outcome = apply_change(sh("yes | head -c 20000; exit 1").to_wire())
    assert len(outcome["stdout"]) == wire.TAIL
    assert outcome["error"] == "exit code 1: " + "y"


# ---------------------------------------------------------------- sensitive steps


def test_a_sensitive_step_hides_output_and_the_error_text_of_its_commands() -> None:
    replies = run(
        step(0, sh("echo the-password; echo leaked-secret >&2; exit 4"), sensitive=True),
        step(1, sh("echo visible-secret"), sensitive=True),
        step(2, CallFunction.of(engine_calls.crash), sensitive=True),
    )
    assert statuses(replies) == {0: "failed", 1: "changed", 2: "failed"}
    assert replies[0]["error"] == "exit code 4, failed (output hidden: sensitive)"
    assert replies[0]["changes"][0]["error"] == replies[0]["error"]
    assert replies[2]["error"] == "failed (output hidden: sensitive)"
    text = json.dumps(replies)
    for secret in ("the-password", "leaked-secret", "visible-secret", "crashed"):
        assert secret not in text
    assert replies[1]["changes"][0]["rc"] == 0


def test_an_ignored_sensitive_failure_is_hidden_too() -> None:
    replies = run(step(0, sh("echo s3cr3t >&2; exit 2"), sensitive=True, ignore_errors=True))
    assert replies[0]["status"] == "ignored"
    assert replies[0]["error"] == "exit code 2, failed (output hidden: sensitive)"
    assert "s3cr3t" not in json.dumps(replies)


# ---------------------------------------------------------------- handlers and pending records


def test_a_changed_trigger_marks_its_handler_pending_and_the_handler_clears_it(tmp_path: Path) -> None:
    (tmp_path / "log").touch()
    replies = run(
        step(0, write(tmp_path / "conf", "v1\n"), triggers=[["h-reload", "reload app"]]),
        step(
            1,
            sh(f"echo reloaded >> {tmp_path / 'log'}"),
            conditional=[True],
            needs=(0,),
            handler=handler("h-reload", [0]),
        ),
    )
    assert statuses(replies) == {0: "changed", 1: "changed"}
    assert log_lines(tmp_path / "log") == ["reloaded"]
    assert pending() == {}


def test_a_handler_whose_trigger_changed_nothing_does_not_run(tmp_path: Path) -> None:
    (tmp_path / "conf").write_text("v1\n")
    replies = run(
        step(0, write(tmp_path / "conf", "v1\n"), triggers=[["h", "reload"]]),
        step(1, sh(f"touch {tmp_path / 'ran'}"), conditional=[True], handler=handler("h", [0])),
    )
    assert statuses(replies) == {0: "unchanged", 1: "unchanged"}
    assert replies[1]["changes"] == []
    assert not (tmp_path / "ran").exists()
    assert pending() == {}


def test_a_record_stays_pending_while_its_handler_is_not_run(tmp_path: Path, state_dir: Path) -> None:
    run(step(0, write(tmp_path / "conf", "v1\n"), triggers=[["later", "restart app"], ["h2", "other"]]))
    assert pending() == {
        "later": {"label": "restart app", "deploy": DEPLOY},
        "h2": {"label": "other", "deploy": DEPLOY},
    }
    assert stat.S_IMODE((state_dir / "pending").stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / "pending" / "later").stat().st_mode) == 0o600
    assert not [p for p in (state_dir / "pending").iterdir() if p.name.startswith(".")]


def test_a_forced_handler_runs_without_a_change_and_clears_its_record(tmp_path: Path) -> None:
    handlers.mark_pending("h", "reload", DEPLOY)
    replies = run(step(5, sh(f"touch {tmp_path / 'ran'}"), conditional=[True], handler=handler("h", [], force=True)))
    assert replies[5]["status"] == "changed"
    assert (tmp_path / "ran").exists()
    assert pending() == {}


def test_a_failed_or_skipped_handler_keeps_its_record(tmp_path: Path) -> None:
    replies = run(
        step(0, write(tmp_path / "conf", "v2\n"), triggers=[["fails", "a"], ["skipped", "b"]]),
        step(1, sh("exit 1"), conditional=[True], needs=(0,), handler=handler("fails", [0])),
        step(2, sh("exit 1")),
        step(3, sh("true"), conditional=[True], needs=(0, 2), handler=handler("skipped", [0])),
    )
    assert statuses(replies) == {0: "changed", 1: "failed", 2: "failed", 3: "skipped"}
    assert sorted(pending()) == ["fails", "skipped"]


def test_a_handler_runs_its_conditional_changes_only_when_triggered(tmp_path: Path) -> None:
    (tmp_path / "conf").write_text("same\n")
    start, reload = tmp_path / "started", tmp_path / "reloaded"

    def service(index: int, key: str, trigger: int) -> wire.Step:
        return step(
            index,
            sh(f"echo {index} >> {start}"),
            sh(f"echo {index} >> {reload}"),
            conditional=[False, True],
            handler=handler(key, [trigger]),
        )

    replies = run(
        step(0, write(tmp_path / "conf", "same\n"), triggers=[["quiet", "q"]]),
        step(1, write(tmp_path / "new", "new\n"), triggers=[["fired", "f"]]),
        service(2, "quiet", 0),
        service(3, "fired", 1),
    )
    assert statuses(replies) == {0: "unchanged", 1: "changed", 2: "changed", 3: "changed"}
    assert log_lines(start) == ["2", "3"]  # the unconditional change always runs
    assert log_lines(reload) == ["3"]  # the conditional one only when triggered
    assert pending() == {}


def test_an_untriggered_handler_that_ran_no_conditional_change_keeps_an_older_record(tmp_path: Path) -> None:
    handlers.mark_pending("svc", "service", DEPLOY)
    replies = run(step(0, sh("true"), sh("true"), conditional=[False, True], handler=handler("svc", [])))
    assert len(replies[0]["changes"]) == 1
    assert list(pending()) == ["svc"]


def test_forget_removes_stale_records_before_the_steps_run(tmp_path: Path) -> None:
    for key in ("stale1", "stale2", "kept"):
        handlers.mark_pending(key, key, DEPLOY)
    run(step(0, write(tmp_path / "f", "x")), forget=["stale1", "stale2", "not-there", "../kept", ".hidden"])
    assert list(pending()) == ["kept"]


def test_pending_records_of_older_versions_and_damaged_ones_are_read(state_dir: Path) -> None:
    directory = state_dir / "pending"
    directory.mkdir(parents=True)
    (directory / "old").write_text("restart nginx\n")
    (directory / "list").write_text("[1, 2]")
    (directory / ".tmp-ignored").write_text("{}")
    (directory / "unreadable").mkdir()
    assert pending() == {
        "old": {"label": "restart nginx", "deploy": None},
        "list": {"label": "[1, 2]", "deploy": None},
    }


# ---------------------------------------------------------------- merged steps


def collect(log: Path, item: str, group: str = "main") -> batched_kind.Collect:
    return batched_kind.Collect(str(log), item, group)


def test_consecutive_mergeable_steps_run_as_one_call(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replies = run(
        step(0, collect(log, "a")),
        step(1, collect(log, "b"), collect(log, "same")),
        step(2, collect(log, "c"), needs=(0,)),
        step(3, collect(log, "d", group="other")),
        step(4, collect(log, "e", group="other")),
    )
    assert log_lines(log) == ["merged a,b,same,c", "merged d,e"]
    assert statuses(replies) == {0: "changed", 1: "changed", 2: "changed", 3: "changed", 4: "changed"}
    assert [o["changed"] for o in replies[1]["changes"]] == [True, False]
    assert all(o["duration"] >= 0 for r in replies.values() for o in r["changes"])


def test_steps_never_merge_across_another_step_a_handler_or_an_unmergeable_change(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replies = run(
        step(0, collect(log, "a")),
        step(1, MakeDirectory(str(tmp_path / "d"))),
        step(2, collect(log, "b")),
        step(3, collect(log, "c"), conditional=[True], handler=handler("h", [], force=True)),
        step(4, collect(log, "d"), collect(log, "x", group="alone")),
        step(5, collect(log, "e"), collect(log, "f", group="other")),
        step(6, collect(log, "g")),
        step(7),
    )
    assert log_lines(log) == [
        "single a",
        "single b",
        "single c",
        "single d",
        "single x",
        "single e",
        "single f",
        "single g",
    ]
    assert statuses(replies)[7] == "unchanged"


def test_a_blocked_step_is_skipped_and_not_merged(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replies = run(
        step(0, sh("exit 1")),
        step(1, collect(log, "a")),
        step(2, collect(log, "b"), needs=(0,)),
        step(3, collect(log, "c")),
        step(4, collect(log, "d"), needs=(0,)),
        step(5, collect(log, "e"), needs=(0,)),
    )
    assert log_lines(log) == ["single a", "single c"]
    assert statuses(replies) == {0: "failed", 1: "changed", 2: "skipped", 3: "changed", 4: "skipped", 5: "skipped"}


def test_a_failure_inside_a_merged_call_fails_only_its_step(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replies = run(
        step(0, collect(log, "a"), triggers=[["h", "handler"]]),
        step(1, collect(log, "bad")),
        step(2, collect(log, "c"), ignore_errors=True),
        step(3, collect(log, "bad"), ignore_errors=True),
        step(4, write(tmp_path / "after", "x"), needs=(1,)),
    )
    assert log_lines(log) == ["merged a,bad,c,bad"]
    assert statuses(replies) == {0: "changed", 1: "failed", 2: "changed", 3: "ignored", 4: "skipped"}
    assert replies[1]["error"] == "bad item"
    assert list(pending()) == ["h"]


def test_a_merged_call_that_raises_fails_every_step_of_the_group(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replies = run(step(0, collect(log, "a")), step(1, collect(log, "boom")), step(2, collect(log, "c", "x")))
    assert statuses(replies) == {0: "failed", 1: "failed", 2: "changed"}
    assert replies[0]["error"] == "RuntimeError: the merged call failed"
    assert log_lines(log) == ["single c"]


# ---------------------------------------------------------------- deferred changes


def reload(log: Path, name: str = "daemon", **kwargs: Any) -> deferred_kind.Reload:
    return deferred_kind.Reload(str(log), name, **kwargs)


def test_a_deferred_change_runs_once_at_the_end_after_file_changes(tmp_path: Path) -> None:
    log = tmp_path / "log"
    unit = tmp_path / "unit"
    replies = run(
        step(0, write(unit, "a\n"), reload(log)),
        step(1, MakeDirectory(str(tmp_path / "d")), reload(log)),
        step(2, write(tmp_path / "other", "b\n")),
        step(3, reload(log, "second")),
    )
    assert log_lines(log) == ["reload daemon", "reload second"]
    assert statuses(replies) == {0: "changed", 1: "changed", 2: "changed", 3: "changed"}
    assert [o["stdout"] for o in replies[0]["changes"]] == ["", "reload output"]
    assert replies[1]["changes"][-1]["stdout"] == "reload output"
    assert replies[2]["changes"][0]["stdout"] == ""


def test_a_deferred_change_runs_before_a_step_that_runs_a_command(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replies = run(
        step(0, write(tmp_path / "unit", "a\n"), reload(log)),
        step(1, sh(f"echo command >> {log}")),
        step(2, write(tmp_path / "unit2", "b\n"), reload(log)),
    )
    assert log_lines(log) == ["reload daemon", "command", "reload daemon"]
    assert statuses(replies) == {0: "changed", 1: "changed", 2: "changed"}


def test_a_deferred_change_runs_before_a_file_step_that_needs_its_origin(tmp_path: Path) -> None:
    log = tmp_path / "log"
    run(
        step(0, reload(log)),
        step(1, write(tmp_path / "f", "x\n")),
        step(2, CallFunction.of(engine_calls.append, path=str(log), text="needs it\n"), needs=(0,)),
    )
    assert log_lines(log) == ["reload daemon", "needs it"]
    log.unlink()
    run(
        step(0, reload(log)),
        step(1, MakeDirectory(str(tmp_path / "d2")), needs=(0,)),
        step(2, CallFunction.of(engine_calls.append, path=str(log), text="after\n")),
    )
    assert log_lines(log) == ["reload daemon", "after"]


def test_a_deferred_change_makes_an_unchanged_step_changed_and_marks_its_triggers(tmp_path: Path) -> None:
    log = tmp_path / "log"
    (tmp_path / "unit").write_text("a\n")
    replies = run(step(0, write(tmp_path / "unit", "a\n"), reload(log), triggers=[["h", "after reload"]]))
    assert replies[0]["status"] == "changed"
    assert list(pending()) == ["h"]
    replies = run(step(0, write(tmp_path / "unit", "a\n"), reload(log, changed=False)))
    assert replies[0]["status"] == "unchanged"


def test_a_failing_deferred_change_fails_its_origin_steps_and_skips_their_dependents(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replies = run(
        step(0, write(tmp_path / "unit1", "a\n"), reload(log, fail=True)),
        step(1, write(tmp_path / "unit2", "b\n"), reload(log, fail=True), ignore_errors=True),
        step(2, write(tmp_path / "unrelated", "c\n")),
        step(3, sh(f"touch {tmp_path / 'started'}"), needs=(0,)),
        step(4, sh(f"touch {tmp_path / 'also'}"), needs=(1,)),
    )
    assert statuses(replies) == {0: "failed", 1: "ignored", 2: "changed", 3: "skipped", 4: "changed"}
    assert replies[0]["error"] == "reload failed: secret detail"
    assert log_lines(log) == ["reload daemon"]
    assert not (tmp_path / "started").exists() and (tmp_path / "also").exists()


def test_a_deferred_change_of_an_already_failed_step_adds_its_outcome_only(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replies = run(
        step(0, reload(log, fail=True)),
        step(1, sh("exit 1"), reload(log)),
        step(2, reload(log, "b")),
    )
    # step 1 failed before it asked for the reload: the reload is never added to it
    assert statuses(replies) == {0: "failed", 1: "failed", 2: "changed"}
    assert log_lines(log) == ["reload daemon", "reload b"]


def test_deferred_output_of_a_sensitive_step_is_hidden(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replies = run(
        step(0, write(tmp_path / "secret.conf", "s\n"), reload(log, "s"), sensitive=True),
        step(1, reload(log, "f", fail=True), sensitive=True),
    )
    assert statuses(replies) == {0: "changed", 1: "failed"}
    assert replies[1]["error"] == "exit code 1, failed (output hidden: sensitive)"
    text = json.dumps(replies)
    assert "reload output" not in text and "secret detail" not in text


def test_a_deferred_change_shared_with_a_sensitive_step_is_hidden_there_only(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replies = run(
        step(0, write(tmp_path / "a", "a\n"), reload(log), sensitive=True),
        step(1, write(tmp_path / "b", "b\n"), reload(log)),
    )
    assert log_lines(log) == ["reload daemon"]
    assert replies[0]["changes"][-1]["stdout"] == ""
    assert replies[1]["changes"][-1]["stdout"] == "reload output"


def test_a_handler_whose_deferred_change_fails_keeps_its_record(tmp_path: Path) -> None:
    log = tmp_path / "log"
    replies = run(
        step(0, write(tmp_path / "unit", "new\n"), triggers=[["reload-h", "daemon-reload"]]),
        step(1, reload(log, fail=True), conditional=[True], needs=(0,), handler=handler("reload-h", [0])),
    )
    assert statuses(replies) == {0: "changed", 1: "failed"}
    assert list(pending()) == ["reload-h"]  # the next run runs the handler again
    replies = run(step(1, reload(log), conditional=[True], handler=handler("reload-h", [], force=True)))
    assert replies[1]["status"] == "changed"
    assert pending() == {}


# ---------------------------------------------------------------- every built-in change kind


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@needs_root
def test_write_creates_replaces_and_sets_attributes(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "conf"
    first = apply_change(write(path, "one\n", mode=0o640, owner="nobody", group="0").to_wire())
    assert (first["changed"], first["error"]) == (True, None)
    st = path.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, pwd.getpwnam("nobody").pw_uid, 0)
    assert apply_change(write(path, "one\n", mode=0o640, owner="nobody").to_wire())["changed"] is False
    assert apply_change(write(path, "one\n", mode=0o600).to_wire())["changed"] is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert apply_change(write(path, "two\n").to_wire())["changed"] is True
    assert path.read_text() == "two\n"


def test_write_with_validate_moves_only_a_valid_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "sudoers"
    path.write_text("valid old\n")
    check = ("grep", "-q", "^valid", "{}")
    bad = apply_change(write(path, "broken\n", validate=check).to_wire())
    assert bad["changed"] is False
    assert bad["error"] is not None and bad["error"].startswith("ValidationError: grep -q '^valid' ")
    assert "failed with exit code 1" in bad["error"]
    assert path.read_text() == "valid old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sudoers"]  # no temporary file left
    good = apply_change(write(path, "valid new\n", validate=check).to_wire())
    assert (good["changed"], good["error"]) == (True, None)
    assert path.read_text() == "valid new\n"
    no_placeholder = apply_change(write(path, "valid\n", validate=("true",)).to_wire())
    assert no_placeholder["error"] is not None and "has no '{}'" in no_placeholder["error"]


def test_write_never_writes_through_a_link_or_over_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    outcome = apply_change(write(tmp_path / "dir", "x").to_wire())
    assert outcome["error"] is not None and outcome["error"].startswith("IsADirectoryError")
    (tmp_path / "real").write_text("real\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert apply_change(write(tmp_path / "link", "new\n").to_wire())["changed"] is True
    assert (tmp_path / "real").read_text() == "real\n"
    assert not (tmp_path / "link").is_symlink() and (tmp_path / "link").read_text() == "new\n"


@needs_root
def test_mkdir_link_attrs_and_remove(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody").pw_uid
    directory = tmp_path / "a" / "b"
    assert apply_change(MakeDirectory(str(directory), mode=0o750).to_wire())["changed"] is True
    assert stat.S_IMODE(directory.stat().st_mode) == 0o750
    assert apply_change(MakeDirectory(str(directory), mode=0o750).to_wire())["changed"] is False
    assert apply_change(MakeDirectory(str(directory), owner="nobody").to_wire())["changed"] is True
    assert directory.stat().st_uid == nobody

    link = tmp_path / "current"
    assert apply_change(MakeLink(str(link), str(directory)).to_wire())["changed"] is True
    assert os.readlink(link) == str(directory)
    assert apply_change(MakeLink(str(link), str(directory)).to_wire())["changed"] is False
    assert apply_change(MakeLink(str(link), "/elsewhere").to_wire())["changed"] is True
    assert os.readlink(link) == "/elsewhere"
    onto_dir = apply_change(MakeLink(str(directory), "/x").to_wire())
    assert onto_dir["error"] is not None

    target = tmp_path / "f"
    target.write_text("x")
    target.chmod(0o644)
    assert apply_change(SetAttributes(str(target), mode=0o600, group="0").to_wire())["changed"] is True
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert apply_change(SetAttributes(str(target), mode=0o600).to_wire())["changed"] is False
    missing = apply_change(SetAttributes(str(tmp_path / "missing"), mode=0o600).to_wire())
    assert missing["error"] is not None and missing["error"].startswith("FileNotFoundError")
    unknown_user = apply_change(SetAttributes(str(target), owner="no-such-user-xyz").to_wire())
    assert unknown_user["error"] is not None and unknown_user["error"].startswith("KeyError")

    assert apply_change(RemovePath(str(link)).to_wire())["changed"] is True
    assert directory.exists()  # a link is removed, never what it points to
    not_recursive = apply_change(RemovePath(str(tmp_path / "a")).to_wire())
    assert not_recursive["error"] is not None and (tmp_path / "a").exists()
    assert apply_change(RemovePath(str(tmp_path / "a"), recursive=True).to_wire())["changed"] is True
    assert not (tmp_path / "a").exists()
    assert apply_change(RemovePath(str(tmp_path / "a"), recursive=True).to_wire())["changed"] is False


@pytest.mark.parametrize("path", ["/", "//", "/./", "/tmp/.."])
def test_remove_refuses_the_root_whatever_the_controller_asks(path: str) -> None:
    outcome = apply_change({"kind": "remove", "module": "paracrine.changes.remove", "path": path, "recursive": True})
    assert outcome == {**outcome, "changed": False, "error": "ValueError: refusing to remove /"}
    assert os.path.isdir("/usr")


def test_command_ok_codes_env_cwd_stdin(tmp_path: Path) -> None:
    ok = apply_change(sh("exit 3", ok_codes=(0, 3)).to_wire())
    assert (ok["rc"], ok["changed"], ok["error"]) == (3, True, None)
    bad = apply_change(sh("exit 0", ok_codes=(3,)).to_wire())
    assert bad["error"] == "exit code 0"
    env = apply_change(sh('echo "$GREETING $PWD"', env={"GREETING": "hello"}, cwd=str(tmp_path)).to_wire())
    assert env["stdout"] == f"hello {tmp_path}\n"
    fed = apply_change(RunCommand(("cat",), stdin=b"from stdin\n").to_wire())
    assert fed["stdout"] == "from stdin\n"
    no_shell = apply_change(RunCommand(("echo", "$HOME; rm -rf /")).to_wire())
    assert no_shell["stdout"] == "$HOME; rm -rf /\n"
    missing = apply_change(RunCommand(("/nonexistent/tool",)).to_wire())
    assert missing["error"] is not None and missing["error"].startswith("FileNotFoundError")
    last_line = apply_change(sh("echo one; echo two; exit 1").to_wire())
    assert last_line["error"] == "exit code 1: two"


@needs_root
def test_command_as_another_user(tmp_path: Path) -> None:
    entry = pwd.getpwnam("nobody")
    outcome = apply_change(sh('id -un; id -u; echo "$HOME $USER $LOGNAME"', user="nobody", cwd="/").to_wire())
    assert outcome["error"] is None, outcome
    assert outcome["stdout"].splitlines() == ["nobody", str(entry.pw_uid), f"{entry.pw_dir} nobody nobody"]


def test_command_has_the_standard_path_when_the_target_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATH")
    outcome = apply_change(RunCommand(("sh", "-c", 'echo "$PATH"')).to_wire())
    assert "/usr/bin" in outcome["stdout"] and outcome["error"] is None


def test_call_function_reports_changed_output_and_errors(tmp_path: Path) -> None:
    target = tmp_path / "notes"
    first = apply_change(CallFunction.of(engine_calls.append, path=str(target), text="hello\n").to_wire())
    assert (first["changed"], first["stdout"], first["stderr"], first["error"]) == (
        True,
        "appended 6 characters",
        "a note",
        None,
    )
    again = apply_change(CallFunction.of(engine_calls.append, path=str(target), text="hello\n").to_wire())
    assert (again["changed"], again["stdout"]) == (False, "already there")
    assert target.read_text() == "hello\n"
    assert apply_change(CallFunction.of(engine_calls.nothing).to_wire())["changed"] is True
    refused = apply_change(CallFunction.of(engine_calls.refuse, reason="not today").to_wire())
    assert (refused["changed"], refused["error"]) == (False, "not today")
    crashed = apply_change(CallFunction.of(engine_calls.crash).to_wire())
    assert crashed["error"] == "OSError: the function crashed"


# ---------------------------------------------------------------- ending running commands


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def _wait_for(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written in {timeout} s")


def _gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def long_command(tmp_path: Path) -> Iterator[tuple[RunCommand, Path]]:
    """A command that starts a background child and waits; it writes both pids to files."""
    script = f"sleep 300 & echo $! > {tmp_path / 'child'}; echo $$ > {tmp_path / 'shell'}; wait"
    yield sh(script), tmp_path
    for name in ("child", "shell"):
        path = tmp_path / name
        if path.exists() and path.read_text().strip():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(path.read_text()), signal.SIGKILL)


def test_terminate_all_ends_a_running_command_and_what_it_started(long_command: tuple[RunCommand, Path]) -> None:
    command, directory = long_command
    outcomes: list[wire.Outcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(apply_change(command.to_wire())))
    thread.start()
    pids = [int(_wait_for(directory / "shell")), int(_wait_for(directory / "child"))]
    command_kind.terminate_all()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert outcomes[0]["rc"] == -signal.SIGTERM
    assert outcomes[0]["error"] == f"exit code {-signal.SIGTERM}"
    assert _gone(pids)
    assert command_kind._running == set()


def test_sigterm_during_a_batch_ends_the_running_command_group(long_command: tuple[RunCommand, Path]) -> None:
    command, directory = long_command
    batch: wire.Batch = {
        "version": wire.VERSION,
        "deploy": DEPLOY,
        "steps": [step(0, command), step(1, MakeDirectory(str(directory / "never")))],
        "forget": [],
    }
    code = "import json, sys\nfrom paracrine.remote.execute import run_batch\nrun_batch(json.loads(sys.argv[1]))\n"
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(batch)], env=dict(os.environ))
    try:
        pids = [int(_wait_for(directory / "shell")), int(_wait_for(directory / "child"))]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _gone(pids), "the command's process group outlived the batch"
    assert not (directory / "never").exists()


def test_run_batch_restores_the_previous_sigterm_handler(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    run(step(0, write(tmp_path / "f", "x")))
    assert signal.getsignal(signal.SIGTERM) is before
