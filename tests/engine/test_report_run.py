"""paracrine.report_run and paracrine.report: what a run prints, from real plans of a temporary directory.

The run is never connected: each host's plan is made in this process (``planning.settle``)
and its results are what a target would have replied.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from planning import deploy_file, load_path, make_host, settle

from paracrine import report, report_run
from paracrine.batches import StepResult
from paracrine.changes import WriteFile
from paracrine.errors import ConnectError, PlanError
from paracrine.factcache import FactCache
from paracrine.inventory import Inventory
from paracrine.remote import state, wire
from paracrine.run import DeployRun, HostRun, Stage
from paracrine.secret import Secret

OWNER, GROUP = pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(state.ENV, str(tmp_path / "state"))


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[Any]:
    runs: list[DeployRun] = []

    def make(*names: str) -> DeployRun:
        inventory = Inventory([make_host(n, connector="local") for n in names])
        run = DeployRun([deploy_file(tmp_path, "")], inventory, cache=FactCache(tmp_path / "cache"))
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()


_FILES: dict[str, Path] = {}


def planned(run: DeployRun, name: str, tmp_path: Path, source: str) -> HostRun:
    """Plan ``source`` for host ``name`` of ``run`` in this process (one deploy file per source)."""
    hr = run.hosts[name]
    text = source.replace("TMP", str(tmp_path))
    if text not in _FILES:
        _FILES[text] = deploy_file(tmp_path, text)
    hr.calls = load_path(_FILES[text], hr.host)
    hr.plan, _facts = settle(hr.host, hr.calls)
    hr.graph = hr.plan.graph
    hr.stage = Stage.PLANNED
    return hr


def outcome(changed: bool = True, error: str | None = None, **fields: Any) -> wire.Outcome:
    result = wire.new_outcome()
    result.update(changed=changed, error=error, **fields)  # type: ignore[typeddict-item]
    return result


SITE = """
import engine_ops
from paracrine.operations import files
conf = files.file("TMP/conf", content="a\\nb = 2\\n", title="conf")
files.file("TMP/same", content="same\\n", title="same")
files.file("TMP/secret", content="hidden\\n", sensitive=True, title="secret")
engine_ops.broken("b", title="broken")
engine_ops.service("svc", log="TMP/log", reload_on=[conf], title="service")
engine_ops.command("gen", argv=["true"], title="generate")
files.directory("TMP/later", title="later")
files.file("TMP/same", content="same\\n", title="same again")
"""


def test_the_plan_with_previews_diffs_and_grouped_hosts(
    tmp_path: Path, make_run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "same").write_text("same\n")
    (tmp_path / "conf").write_text("a\nb = 1\n")
    (tmp_path / "conf").chmod(0o644)
    run = make_run("web1", "web2", "db1", "gone", "bad")
    for name in ("web1", "web2"):
        planned(run, name, tmp_path, SITE)
    planned(run, "db1", tmp_path, 'from paracrine.operations import files\nfiles.file("TMP/same", content="same\\n")\n')
    run.hosts["gone"].stage = Stage.UNREACHABLE
    run.hosts["gone"].error = ConnectError("unreachable: connection refused", host="gone")
    run.hosts["bad"].stage = Stage.FAILED
    run.hosts["bad"].error = PlanError("boom", host="bad")
    run.hosts["web1"].stale = {"old-key": "restart\nnginx"}
    run.hosts["web2"].stale = {"old-key": "restart\nnginx"}
    old = {f"{tmp_path}/conf": ["a", "b = 1"], f"{tmp_path}/secret": ["hidden"]}
    report_run.print_plan(run, old_files={"web1": old, "web2": old})
    out = capsys.readouterr().out.splitlines()
    site = run.hosts["web1"].calls[0].where.rsplit(":", 1)[0]  # type: ignore[index, union-attr]
    assert out == [
        "web1, web2  5 of 8 operations to change; 2 planned again after earlier changes",
        f"  ~ conf  [{site}:3]",
        f"      write {tmp_path}/conf (8 bytes, mode 0644, owner {OWNER}, group {GROUP})",  # kept as they are
        f"      --- a{tmp_path}/conf",
        f"      +++ b{tmp_path}/conf",
        "      @@ -1,2 +1,2 @@",
        "       a",
        "      -b = 1",
        "      +b = 2",
        f"  ~ secret  [{site}:5]",
        f"      write {tmp_path}/secret (7 bytes)",
        "      (content not shown: sensitive)",
        f"  ! broken  [{site}:6]",
        "      the host is not right for this",  # the hint is in the failure line
        f"  ~ service  [{site}:7]",
        f"      run sh -c 'echo start svc >> {tmp_path}/log'",
        f"      run sh -c 'echo reload svc >> {tmp_path}/log' (when triggered)",
        f"  ~ generate  [{site}:8]",
        "      run true",
        f"  ~ later  [{site}:9]  (after earlier changes: planned again once they ran)",
        f"      create directory {tmp_path}/later",
        f"  ? same again  [{site}:10]  (after earlier changes: planned again once they ran)",
        "      nothing to change as far as can be known now",
        "  ~ restart\\nnginx",
        "db1  in sync (1 operations)",
        "gone  unreachable: unreachable: connection refused",
        "bad  failed: boom",
    ]


def test_verbose_plans_list_operations_in_sync_and_hosts_differ_by_their_changes(
    tmp_path: Path, make_run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "same").write_text("same\n")
    run = make_run("a", "b")
    planned(run, "a", tmp_path, 'from paracrine.operations import files\nfiles.file("TMP/same", content="same\\n")\n')
    planned(run, "b", tmp_path, 'from paracrine.operations import files\nfiles.file("TMP/same", content="same\\n")\n')
    report_run.print_plan(run, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "a, b  in sync (1 operations)"
    assert lines[1].startswith(f"    files.file('{tmp_path}/same')  [")
    run.hosts["b"].plan.ops[0].changes.append(WriteFile(f"{tmp_path}/same", b"other"))  # type: ignore[union-attr]
    report_run.print_plan(run)
    assert capsys.readouterr().out.splitlines()[0] == "a  in sync (1 operations)"


def test_diffs_of_binary_large_and_unreadable_contents(
    tmp_path: Path, make_run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run("web1")
    hr = planned(
        run,
        "web1",
        tmp_path,
        """
        from paracrine.operations import files
        files.file("TMP/bin", content=b"\\xff\\xfe")
        files.file("TMP/large", content="x" * (1024 * 1024 + 1))
        files.file("TMP/unknown", content="x\\n")
        files.file("TMP/new", content="new\\n")
        """,
    )
    old = {f"{tmp_path}/unknown": PermissionError("permission denied"), f"{tmp_path}/new": None}
    report_run.print_plan(run, old_files={"web1": old})
    out = capsys.readouterr().out
    assert f"      (binary content of {tmp_path}/bin differs)" in out
    assert f"      (content of {tmp_path}/large not shown: 1048577 bytes)" in out
    assert f"      (old content of {tmp_path}/unknown not shown: permission denied)" in out
    assert "      +new" in out and "      --- a" in out
    assert hr.plan is not None and len(hr.plan.changing) == 4


def applied_run(tmp_path: Path, make_run: Any) -> tuple[DeployRun, HostRun]:
    run = make_run("web1", "web2")
    hr = planned(
        run,
        "web1",
        tmp_path,
        """
        from paracrine.operations import files, server
        files.file("TMP/a", content="a\\n", title="a")
        files.file("TMP/b", content="b\\n", title="b")
        server.shell("make", title="make", ignore_errors=True)
        server.shell("secret", title="secret", sensitive=True)
        server.shell("third", title="third")
        """,
    )
    hr.results = {
        0: StepResult("changed", None, [outcome(stdout="wrote\n")]),
        1: StepResult("unchanged", None, [outcome(changed=False)]),
        2: StepResult(
            "ignored", "exit code 2: no rule", [outcome(False, "exit code 2", stdout="out\n", stderr="no rule\n")]
        ),
        3: StepResult("failed", "exit code 1, failed (output hidden: sensitive)", [outcome(False, "exit code 1")]),
        4: StepResult("skipped", "skipped: step 3 failed or was skipped"),
    }
    hr.batches = 1
    hr.stage = Stage.DONE
    return run, hr


def test_applied_changes_and_their_output(tmp_path: Path, make_run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run, hr = applied_run(tmp_path, make_run)
    report_run.print_applied(run, verbose=True)
    lines = capsys.readouterr().out.splitlines()
    where = [c.where for c in hr.calls or []]
    assert lines == [
        "applied:",
        "web1",
        f"  ~ a  [{where[0]}]",
        f"      write {tmp_path}/a (2 bytes)",
        "        stdout: wrote",
        f"  ! make  [{where[2]}]",
        "      run sh -c make",
        "        stdout: out",
        "        stderr: no rule",
        f"  ! secret  [{where[3]}]",
        "      run ***",
    ]
    run.hosts["web1"].results[0] = StepResult("changed", None, [outcome(False)])
    report_run.print_applied(run)
    assert f"      write {tmp_path}/a (2 bytes) (already so)" in capsys.readouterr().out


def test_failures_one_line_each_with_the_output_of_what_failed(
    tmp_path: Path, make_run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run, hr = applied_run(tmp_path, make_run)
    run.hosts["web2"].error = ConnectError("lost", host="web2")
    run.hosts["web2"].stage = Stage.UNREACHABLE
    report_run.print_failures(run)
    where = [c.where for c in hr.calls or []]
    assert capsys.readouterr().err.splitlines() == [
        f"error: web1: make [{where[2]}]: exit code 2: no rule (ignored)",
        "  stdout:",
        "    out",
        "  stderr:",
        "    no rule",
        f"error: web1: secret [{where[3]}]: exit code 1, failed (output hidden: sensitive)",
        "error: web2: lost",
    ]


def test_planning_errors_are_printed_and_ignored_ones_marked(
    tmp_path: Path, make_run: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run("web1")
    planned(
        run,
        "web1",
        tmp_path,
        'import engine_ops\nengine_ops.broken("x")\nengine_ops.broken("y", ignore_errors=True)\n',
    )
    report_run.print_failures(run)
    err = capsys.readouterr().err.splitlines()
    assert [line.split("]: ", 1)[1] for line in err] == [
        "the host is not right for this; fix it by hand",
        "the host is not right for this; fix it by hand (ignored)",
    ]


def test_summary_rows_count_outcomes_and_know_nothing_of_unreachable_hosts(tmp_path: Path, make_run: Any) -> None:
    run, _hr = applied_run(tmp_path, make_run)
    planned(run, "web2", tmp_path, 'from paracrine.operations import files\nfiles.file("TMP/c", content="c")\n')
    run.hosts["web2"].stage = Stage.UNREACHABLE
    run.hosts["web2"].error = ConnectError("lost while applying", host="web2")
    rows = {r["host"]: r for r in report_run.summary_rows(run)}
    counts = ("state", "changed", "unchanged", "failed", "skipped")
    assert [rows["web1"][k] for k in counts] == ["failed", 1, 1, 2, 1]
    assert [rows["web2"][k] for k in counts] == ["unreachable", 0, 0, 0, 0]
    assert rows["web2"]["error"] == "web2: lost while applying"
    assert rows["web1"]["error"] is None
    dry = {r["host"]: r for r in report_run.summary_rows(run, dry_run=True)}
    assert dry["web1"]["changed"] == 2  # a dry run counts what is planned to change


def test_the_summary_table(tmp_path: Path, make_run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run, _hr = applied_run(tmp_path, make_run)
    run.timings.mark("plan")
    report_run.print_summary(run)
    captured = capsys.readouterr()
    header = captured.out.splitlines()[1].split()
    assert header == ["host", "state", "changed", "unchanged", "failed", "skipped", "connect", "facts", "plan", "apply"]
    assert captured.out.splitlines()[3].split()[:6] == ["web1", "failed", "1", "1", "2", "1"]
    assert captured.err.startswith("2 hosts: plan ")
    assert captured.err.endswith("0 fact and 1 apply round trip(s) per host\n")
    report_run.print_summary(run, dry_run=True)
    assert "to change" in capsys.readouterr().out


def test_run_json(tmp_path: Path, make_run: Any) -> None:
    run, _hr = applied_run(tmp_path, make_run)
    other = planned(run, "web2", tmp_path, SITE)
    doc = report_run.run_json(run)
    json.dumps(doc)  # builtins only
    web1 = doc["hosts"]["web1"]
    assert web1["state"] == "done" and web1["error"] is None and web1["stale_triggers"] == []
    first = web1["operations"][0]
    assert {k: first[k] for k in ("id", "op", "title", "status", "after_earlier_changes", "sensitive")} == {
        "id": 0,
        "op": "files.file",
        "title": "a",
        "status": "change",
        "after_earlier_changes": False,
        "sensitive": False,
    }
    assert first["changes"][0]["kind"] == "write" and "content" not in first["changes"][0]
    assert first["result"]["status"] == "changed" and first["result"]["changes"][0]["stdout"] == "wrote\n"
    secret = web1["operations"][3]
    assert secret["changes"][0]["argv"] == ["***"] and secret["result"]["changes"][0]["stdout"] == ""
    assert web1["operations"][4]["result"]["error"] == "skipped: step 3 failed or was skipped"
    web2 = doc["hosts"]["web2"]["operations"]
    assert [o["after_earlier_changes"] for o in web2] == [False] * 6 + [True, True]
    assert web2[3]["error"].endswith("the host is not right for this; fix it by hand")
    assert web2[2]["changes"][0] == {**web2[2]["changes"][0], "path": f"{tmp_path}/secret", "size": 7}
    assert doc["round_trips"] == {"facts": 0, "apply": 1, "per_host": {}}
    assert [r["host"] for r in doc["summary"]] == ["web1", "web2"]
    assert other.plan is not None and len(other.plan.preview) == 2


def test_secrets_are_masked_in_everything_printed(capsys: pytest.CaptureFixture[str]) -> None:
    Secret("hunter2-password")
    report.echo("the password is hunter2-password")
    report.note("note hunter2-password")
    report.warn("warn hunter2-password")
    report.error("error hunter2-password")
    report.error(PlanError("raised hunter2-password"))
    captured = capsys.readouterr()
    assert "hunter2" not in captured.out + captured.err
    assert captured.out == "the password is ***\n"
    assert captured.err.splitlines() == ["note ***", "warning: warn ***", "error: error ***", "error: raised ***"]
