"""paracrine.run.DeployRun end to end with the ``@local`` connector: a real Mitogen context on this machine
(no SSH), applying into a temporary directory.

The target's state directory (pending records, the run lock) is a temporary one:
``$PARACRINE_TARGET_STATE_DIR`` is set before a run connects, and the local
context inherits it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from planning import deploy_file

from paracrine import handlers, report_run
from paracrine.deploy import load_calls
from paracrine.errors import ConnectError, DeployFileError, ExitCode, FactError, LockError, PlanError
from paracrine.factcache import FactCache
from paracrine.gather import make_key
from paracrine.hosts import Host, HostData
from paracrine.inventory import Inventory
from paracrine.remote import state
from paracrine.run import DeployRun, HostRun, Stage, deploy_name


@pytest.fixture(autouse=True)
def target_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "target-state"
    monkeypatch.setenv(state.ENV, str(directory))
    return directory


def local_hosts(*names: str) -> Inventory:
    return Inventory([Host(n, (), HostData(n, {"connector": "local"}), "test") for n in names])


Events = list[tuple[str, str]]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., tuple[DeployRun, Events]]]:
    """``start(site, *hosts, **options)``: a DeployRun over local hosts, connected and planned (closed at the end)."""
    runs: list[DeployRun] = []

    def make(site: Path, *names: str, plan: bool = True, **options: Any) -> tuple[DeployRun, Events]:
        events: Events = []
        cache = FactCache(options.pop("cache_dir", tmp_path / "controller"))
        inventory = local_hosts(*(names or ("local1",)))

        def listen(hr: Any, event: str, detail: dict[str, Any] | None = None) -> None:
            if event not in ("connected", "wire", "step"):  # stages and waits, as notes where there is one
                events.append((hr.name, (detail or {}).get("note") or event))

        run = DeployRun([site], inventory, cache=cache, listener=listen, **options)
        runs.append(run)
        if plan:
            run.connect()
            run.plan()
        return run, events

    yield make
    for run in runs:
        run.close()


def site(tmp_path: Path, source: str) -> Path:
    return deploy_file(tmp_path, source.replace("TMP", str(tmp_path)))


def host_run(run: DeployRun, name: str = "local1") -> HostRun:
    return run.hosts[name]


def statuses(hr: HostRun) -> dict[str, str]:
    return {p.call.title: p.status for p in hr.planned_ops()}


def results(hr: HostRun) -> dict[str, str]:
    assert hr.calls is not None
    return {hr.calls[i].title: r.status for i, r in sorted(hr.results.items())}


SITE = """
from paracrine.operations import files, server
files.directory("TMP/app", mode=0o750)
conf = files.file("TMP/app/conf", content="port = 1\\n", mode=0o640)
files.link("TMP/app/current", "TMP/app/conf")
server.shell("echo reloaded >> TMP/reloads", reload_on=[conf], title="reload")
"""


def test_plan_apply_and_plan_again_in_sync(tmp_path: Path, start: Any, target_state: Path) -> None:
    deploy = site(tmp_path, SITE)
    run, events = start(deploy, apply=True)
    hr = host_run(run)
    assert run.pending_changes()
    assert set(statuses(hr).values()) == {"change"}
    run.apply()
    assert (tmp_path / "app" / "conf").read_text() == "port = 1\n"
    assert os.readlink(tmp_path / "app" / "current") == f"{tmp_path}/app/conf"
    assert (tmp_path / "reloads").read_text() == "reloaded\n"
    assert set(results(hr).values()) == {"changed"}
    assert [e for _h, e in events] == [
        "facts", "4 of 4 operations to change", "applying 4 operation(s)", "done: 4 changed"
    ]  # fmt: skip
    assert (hr.stage, run.exit_code(check=False, pending=True)) == (Stage.DONE, ExitCode.OK)
    assert (run.round_trips("facts"), run.round_trips("apply")) == (1, 1)
    assert not (target_state / "pending").exists() or not os.listdir(target_state / "pending")
    run.remember_keys()
    run.close()

    again, _events = start(deploy)  # a dry run: the saved keys are prefetched, the plan needs nothing more
    assert not again.pending_changes()
    assert set(statuses(host_run(again)).values()) == {"ok"}
    assert again.round_trips("facts") == 1 and again.round_trips("apply") == 0
    assert again.exit_code(check=True, pending=False) is ExitCode.OK


def test_old_contents_for_diff_and_the_check_exit_code(tmp_path: Path, start: Any) -> None:
    (tmp_path / "conf").write_text("a = 1\nb = 2\n")
    deploy = site(
        tmp_path,
        """
        from paracrine.operations import files
        files.file("TMP/conf", content="a = 1\\nb = 3\\n")
        files.file("TMP/new", content="new\\n")
        files.file("TMP/secret", content="s3cret\\n", sensitive=True)
        files.directory("TMP/dir")
        """,
    )
    run, _events = start(deploy)
    trips = run.session.round_trips["local1"]
    assert run.old_contents() == {"local1": {f"{tmp_path}/conf": ["a = 1", "b = 2"], f"{tmp_path}/new": None}}
    assert run.session.round_trips["local1"] == trips + 1
    assert run.exit_code(check=True, pending=run.pending_changes()) is ExitCode.PENDING


def test_old_contents_is_nothing_when_no_file_is_written(tmp_path: Path, start: Any) -> None:
    run, _events = start(site(tmp_path, 'from paracrine.operations import files\nfiles.directory("TMP/d")\n'))
    trips = run.session.round_trips["local1"]
    assert run.old_contents() == {}
    assert run.session.round_trips["local1"] == trips


def test_a_step_after_an_opaque_command_is_planned_again_once_the_command_ran(tmp_path: Path, start: Any) -> None:
    deploy = site(
        tmp_path,
        """
        from paracrine.operations import files, server
        server.shell("mkdir -p TMP/gen && echo generated > TMP/gen/file", creates="TMP/gen/file", title="generate")
        files.file("TMP/gen/file", content="managed\\n", title="manage")
        files.directory("TMP/after", title="after")
        """,
    )
    run, events = start(deploy, apply=True)
    hr = host_run(run)
    assert hr.plan is not None
    assert [p.call.title for p in hr.plan.ops] == ["generate"]
    assert [c.title for c in hr.plan.deferred] == ["manage", "after"]
    assert [(p.call.title, p.status) for p in hr.plan.preview] == [("manage", "change"), ("after", "change")]
    run.apply()
    assert (tmp_path / "gen" / "file").read_text() == "managed\n"
    assert results(hr) == {"generate": "changed", "manage": "changed", "after": "changed"}
    assert hr.batches == 2 and len(hr.applied) == 2 and hr.plan is None
    assert run.round_trips("apply") == 2 and run.round_trips("facts") == 2
    assert "gathering facts after earlier changes" in [e for _h, e in events]
    assert [p.call.title for p in hr.planned_ops()] == ["generate", "manage", "after"]
    assert run.exit_code(check=False, pending=True) is ExitCode.OK


def test_a_failing_step_skips_what_needs_it(tmp_path: Path, start: Any, capsys: pytest.CaptureFixture[str]) -> None:
    deploy = site(
        tmp_path,
        """
        from paracrine.operations import files, server
        bad = server.shell("echo partial; echo oops >&2; exit 3", title="bad")
        files.file("TMP/needs-bad", requires=[bad], title="needs bad")
        files.file("TMP/independent", title="independent")
        """,
    )
    run, _events = start(deploy, apply=True)
    run.apply()
    hr = host_run(run)
    # the files are planned after the command ran (it is opaque): one is skipped, not sent
    assert results(hr) == {"bad": "failed", "independent": "changed"}
    assert statuses(hr) == {"bad": "change", "needs bad": "skipped", "independent": "change"}
    assert not (tmp_path / "needs-bad").exists() and (tmp_path / "independent").exists()
    assert run.exit_code(check=False, pending=True) is ExitCode.FAILED
    assert hr.stage is Stage.DONE  # the host ran its batch; a step failed
    report_run.print_failures(run)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"error: local1: bad [{deploy}:2]: exit code 3: oops",
        "  stdout:",
        "    partial",
        "  stderr:",
        "    oops",
    ]
    (row,) = report_run.summary_rows(run)
    assert {k: row[k] for k in ("state", "changed", "unchanged", "failed", "skipped")} == {
        "state": "failed",
        "changed": 1,
        "unchanged": 0,
        "failed": 1,
        "skipped": 1,
    }


def test_a_pending_handler_runs_and_stale_records_are_removed(
    tmp_path: Path, start: Any, target_state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "conf").write_text("same\n")
    deploy = site(
        tmp_path,
        """
        from paracrine.operations import files, server
        conf = files.file("TMP/conf", content="same\\n")
        server.shell("echo ran >> TMP/log", reload_on=[conf], title="reload")
        """,
    )
    calls = load_calls([deploy], local_hosts("local1").hosts[0], lambda key: None)
    handlers.assign_keys(calls, deploy_name([deploy]))
    handlers.mark_pending(calls[1].handler_key, "reload", deploy_name([deploy]))  # a run that stopped halfway
    handlers.mark_pending("gone", "a handler that left the deploy", deploy_name([deploy]))
    handlers.mark_pending("other", "another deploy's", "elsewhere/site.py")
    run, _events = start(deploy, apply=True)
    hr = host_run(run)
    assert hr.stale == {
        "gone": "forget the pending trigger of 'a handler that left the deploy': its handler left the deploy"
    }
    assert statuses(hr)["reload"] == "change"
    report_run.print_plan(run)
    out = capsys.readouterr().out
    assert "  ~ forget the pending trigger of 'a handler that left the deploy': its handler left the deploy" in out
    run.apply()
    assert (tmp_path / "log").read_text() == "ran\n"
    assert sorted(os.listdir(target_state / "pending")) == ["other"]
    assert hr.stale == {}


def test_only_stale_records_are_work_too(tmp_path: Path, start: Any, target_state: Path) -> None:
    deploy = site(tmp_path, 'from paracrine.operations import files\nfiles.directory("TMP")\n')
    handlers.mark_pending("gone", "old", deploy_name([deploy]))
    run, _events = start(deploy, apply=True)
    assert run.pending_changes()
    run.apply()
    assert os.listdir(target_state / "pending") == []
    assert host_run(run).batches == 1 and host_run(run).results == {}


def test_saved_keys_prefetch_only_facts_that_read_state(tmp_path: Path, start: Any) -> None:
    marker, asked = tmp_path / "marker", tmp_path / "asked"
    deploy = site(
        tmp_path,
        """
        from paracrine.operations import files, server
        files.directory("TMP/x")
        server.shell("true", unless=["touch", "TMP/asked"])
        """,
    )
    run, _events = start(deploy, plan=False)
    command = make_key("server.command_status", {"argv": ["touch", str(marker)]})
    safe = make_key("files.path_info", {"path": str(tmp_path / "y")})
    run.cache.save_keys("local1", run.deploy_id, [command, safe])
    run.connect()
    run.plan()
    assert not marker.exists(), "a command fact from the state directory ran"
    assert asked.exists()  # the deploy asks for this one: it runs
    values = run.gatherer.facts("local1").values
    assert safe in values and command not in values
    assert run.round_trips("facts") == 1  # the held first call carried what the first pass asked


def test_saved_keys_of_safe_facts_are_sent_as_soon_as_the_host_is_up(tmp_path: Path, start: Any) -> None:
    deploy = site(tmp_path, 'from paracrine.operations import files\nfiles.directory("TMP/x")\n')
    first, _events = start(deploy)
    first.remember_keys()
    first.close()
    saved = first.cache.load_keys("local1", first.deploy_id)
    assert make_key("files.path_info", {"path": f"{tmp_path}/x"}) in saved
    second, _events = start(deploy)
    assert second.round_trips("facts") == 1
    assert set(second.gatherer.facts("local1").values) == saved


def test_a_saved_key_the_deploy_no_longer_asks_for_is_sent_once_then_forgotten(tmp_path: Path, start: Any) -> None:
    deploy = site(tmp_path, 'from paracrine.operations import files\nfiles.directory("TMP/x")\n')
    first, _events = start(deploy, plan=False)
    old = make_key("files.path_info", {"path": f"{tmp_path}/renamed-since"})  # read by an older version of the deploy
    first.cache.save_keys("local1", first.deploy_id, [old])
    first.connect()
    first.plan()
    assert old in first.gatherer.facts("local1").values  # prefetched: the target did the work once
    first.remember_keys()
    first.close()
    saved = first.cache.load_keys("local1", first.deploy_id)
    assert old not in saved and make_key("files.path_info", {"path": f"{tmp_path}/x"}) in saved
    second, _events = start(deploy)
    assert old not in second.gatherer.facts("local1").values


def test_the_run_lock(tmp_path: Path, start: Any) -> None:
    deploy = site(tmp_path, 'from paracrine.operations import files\nfiles.directory("TMP/locked")\n')
    holder, _events = start(deploy, apply=True, cache_dir=tmp_path / "c1")
    assert host_run(holder).ok

    blocked, _events = start(deploy, apply=True, cache_dir=tmp_path / "c2")
    hr = host_run(blocked)
    assert hr.stage is Stage.FAILED and isinstance(hr.error, LockError)
    assert hr.error.format_line().startswith(f"local1: another run holds the host's lock (paracrine pid {os.getpid()} ")
    assert hr.error.format_line().endswith("; wait for it to finish, or pass --wait-lock SECONDS")
    assert not blocked.pending_changes()
    assert blocked.exit_code(check=False, pending=False) is ExitCode.FAILED

    dry, _events = start(deploy, cache_dir=tmp_path / "c3")  # a dry run takes no lock
    assert host_run(dry).ok and dry.pending_changes()

    releaser = threading.Timer(1.0, holder.close)
    releaser.start()
    try:
        waited = time.monotonic()
        patient, events = start(deploy, apply=True, wait_lock=30, cache_dir=tmp_path / "c4")
        waited = time.monotonic() - waited
    finally:
        releaser.join()
    assert host_run(patient).ok, host_run(patient).error
    assert any(e.startswith("waiting up to 30 s for the run lock (paracrine pid ") for _h, e in events)
    assert waited < 25
    patient.apply()
    assert (tmp_path / "locked").is_dir()


def test_a_host_lost_while_gathering_facts_leaves_the_others_alone(tmp_path: Path, start: Any) -> None:
    deploy = site(
        tmp_path,
        """
        from paracrine import host
        from paracrine.operations import files
        import engine_facts
        if host.name == "doomed":
            host.fact(engine_facts.leaves_no_reply)
        if host.name == "odd":
            host.fact(engine_facts.returns_a_set)
        files.directory(f"TMP/{host.name}")
        """,
    )
    run, _events = start(deploy, "doomed", "odd", "fine")  # no lock: the three share this machine's
    doomed, odd, fine = (run.hosts[n] for n in ("doomed", "odd", "fine"))
    assert doomed.stage is Stage.UNREACHABLE and isinstance(doomed.error, ConnectError)
    assert doomed.error.message == "lost the connection while gathering facts: the connection was lost during the call"
    assert odd.stage is Stage.FAILED and isinstance(odd.error, FactError)
    assert "fact returned a set; facts must return builtins only" in odd.error.message
    assert odd.error.where is not None and odd.error.where.endswith(":7")
    run.apply()
    assert fine.stage is Stage.DONE and (tmp_path / "fine").is_dir()
    assert not (tmp_path / "doomed").exists() and not (tmp_path / "odd").exists()
    rows = {r["host"]: r for r in report_run.summary_rows(run)}
    assert rows["doomed"]["state"] == "unreachable" and rows["doomed"]["changed"] == 0
    assert rows["doomed"]["error"].startswith("doomed: lost the connection")
    assert run.exit_code(check=False, pending=True) is ExitCode.FAILED


def test_a_host_lost_while_applying(tmp_path: Path, start: Any) -> None:
    deploy = site(tmp_path, 'import engine_ops\nengine_ops.vanish("now")\n')
    run, _events = start(deploy, apply=True)
    run.apply()
    hr = host_run(run)
    assert hr.stage is Stage.UNREACHABLE
    assert hr.error is not None and hr.error.message.startswith("lost the connection while applying changes: ")
    assert run.exit_code(check=False, pending=True) is ExitCode.FAILED


def test_a_bug_while_applying_fails_the_host_not_the_run(
    tmp_path: Path, start: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import paracrine.batches

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug in the engine")

    monkeypatch.setattr(paracrine.batches, "build_batch", broken)
    deploy = site(tmp_path, 'from paracrine.operations import files\nfiles.directory("TMP/d")\n')
    run, _events = start(deploy, apply=True)
    run.apply()
    hr = host_run(run)
    assert hr.stage is Stage.FAILED and isinstance(hr.error, PlanError)
    assert hr.error.message == "internal error while applying: RuntimeError: bug in the engine"


def test_facts_that_never_settle_fail_the_host(tmp_path: Path, start: Any) -> None:
    run, _events = start(site(tmp_path, 'import engine_ops\nengine_ops.restless("r")\n'))
    hr = host_run(run)
    assert hr.stage is Stage.FAILED and isinstance(hr.error, FactError)
    assert hr.error.message == "facts did not settle after 8 rounds"


def test_a_deploy_file_error_is_bad_input(tmp_path: Path, start: Any) -> None:
    run, _events = start(site(tmp_path, "raise ValueError('no such thing')\n"), apply=True)
    hr = host_run(run)
    assert isinstance(hr.error, DeployFileError) and hr.stage is Stage.FAILED
    assert not run.pending_changes()
    assert run.exit_code(check=False, pending=False) is ExitCode.BAD_INPUT


def test_a_plan_error_fails_the_run_but_changes_the_rest(tmp_path: Path, start: Any) -> None:
    (tmp_path / "file").write_text("x")
    deploy = site(
        tmp_path,
        """
        from paracrine.operations import files
        files.directory("TMP/file")
        files.directory("TMP/other")
        """,
    )
    run, _events = start(deploy, apply=True)
    run.apply()
    assert (tmp_path / "other").is_dir()
    assert run.exit_code(check=False, pending=True) is ExitCode.FAILED


def test_secrets_in_a_commands_environment_reach_the_target_as_plain_text(tmp_path: Path, start: Any) -> None:
    deploy = site(
        tmp_path,
        """
        from paracrine.operations import server
        from paracrine.secret import Secret
        server.shell('echo "$TOKEN" > TMP/token', env={"TOKEN": Secret("tok-1234567")}, creates="TMP/token")
        """,
    )
    run, _events = start(deploy, apply=True)
    run.apply()
    hr = host_run(run)
    assert hr.error is None, hr.error
    assert (tmp_path / "token").read_text() == "tok-1234567\n"
    assert hr.planned_ops()[0].call.sensitive


def test_large_content_is_streamed_to_the_target(tmp_path: Path, start: Any) -> None:
    from paracrine.batches import INLINE_LIMIT

    deploy = site(
        tmp_path,
        f"""
        from paracrine.operations import files
        files.file("TMP/big1", content="a" * {INLINE_LIMIT + 10})
        files.file("TMP/big2", content="a" * {INLINE_LIMIT + 10})
        """,
    )
    run, _events = start(deploy, apply=True)
    run.apply()
    assert results(host_run(run)) == {f"files.file('{tmp_path}/big{i}')": "changed" for i in (1, 2)}
    assert (tmp_path / "big1").read_text() == "a" * (INLINE_LIMIT + 10) == (tmp_path / "big2").read_text()
    spool = run._spool
    assert spool is not None and spool._dir is not None
    assert len(os.listdir(spool._dir)) == 1  # one spool file for both
    run.close()
    assert spool._dir is None


def test_diff_of_a_path_whose_old_content_cannot_be_read(tmp_path: Path, start: Any) -> None:
    (tmp_path / "dir").mkdir()
    deploy = site(tmp_path, 'from paracrine.operations import files\nfiles.file("TMP/dir", content="x", force=True)\n')
    run, _events = start(deploy)
    (old,) = run.old_contents()["local1"].values()
    assert isinstance(old, FactError) and "is a directory" in old.message


def test_applying_an_in_sync_run_changes_nothing(tmp_path: Path, start: Any) -> None:
    run, events = start(site(tmp_path, 'from paracrine.operations import files\nfiles.directory("TMP")\n'), apply=True)
    assert not run.pending_changes()
    run.apply()
    hr = host_run(run)
    assert (hr.stage, hr.batches, [e for _h, e in events]) == (
        Stage.DONE,
        0,
        ["facts", "in sync (1 operations)", "done"],
    )


def test_a_link_planted_at_the_lock_path_fails_the_host(tmp_path: Path, start: Any, target_state: Path) -> None:
    target_state.mkdir()
    (tmp_path / "victim").write_text("keep\n")
    (target_state / "lock").symlink_to(tmp_path / "victim")
    run, _events = start(
        site(tmp_path, 'from paracrine.operations import files\nfiles.directory("TMP/d")\n'), apply=True
    )
    hr = host_run(run)
    assert hr.stage is Stage.FAILED and isinstance(hr.error, FactError)
    assert hr.error.message.startswith("gathering facts failed: ")
    assert "Too many levels of symbolic links" in hr.error.message
    assert (tmp_path / "victim").read_text() == "keep\n"


def test_unreadable_pending_records_are_no_records(tmp_path: Path, start: Any, target_state: Path) -> None:
    target_state.mkdir()
    (target_state / "pending").write_text("not a directory")
    run, _events = start(
        site(tmp_path, 'from paracrine.operations import files\nfiles.directory("TMP/d")\n'), apply=True
    )
    hr = host_run(run)
    assert hr.stale == {} and hr.ok
    run.apply()
    assert (tmp_path / "d").is_dir() and hr.stage is Stage.DONE
