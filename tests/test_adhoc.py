"""``paracrine run TARGET -- COMMAND`` and ``paracrine op TARGET OPERATION key=value``.

Offline tests use ``@local`` (a real Mitogen context on this machine) and an SSH port that
refuses connections; the lab tests run both commands over real SSH as root through sudo.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.commands import run as run_command
from paracrine.testing import Invocation, invoke

REFUSED = "@ssh/127.0.0.1:1"  # nothing listens on port 1: connection refused at once


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PARACRINE_STATE_DIR", raising=False)


def one_line_error(result: Invocation, code: int = 3) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# ====================================================================== paracrine run


def test_run_prints_the_output_and_exit_status() -> None:
    result = invoke(["run", "@local", "--", "sh", "-c", "echo out; echo err >&2"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["@local: exit 0", "  out", "  err"]
    assert result.stderr.startswith("1 host: 1 exit 0, 0 failed (0 unreachable); connect ")


def test_run_takes_an_argv_without_a_shell(tmp_path: Path) -> None:
    result = invoke(["run", "@local", "--", "echo", "$HOME", "a;b", "*"])
    assert result.stdout.splitlines()[1] == "  $HOME a;b *"


def test_run_exit_1_when_the_command_fails() -> None:
    result = invoke(["run", "@local", "--", "sh", "-c", "echo no >&2; exit 3"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["@local: exit 3", "  no"]
    assert "1 failed" in result.stderr


def test_run_a_missing_program_is_a_failure_of_the_host() -> None:
    result = invoke(["run", "@local", "--", "/nonexistent/tool"])
    assert result.exit_code == 1
    assert result.stdout == "@local: cannot run /nonexistent/tool: No such file or directory\n"


def test_run_an_unreachable_host_is_one_line_and_the_others_go_on() -> None:
    result = invoke(["run", f"@local,{REFUSED}", "--", "echo", "hi"])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["@local: exit 0", "  hi"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: 127.0.0.1:1: unreachable: connection refused by 127.0.0.1:1"]
    assert "2 hosts: 1 exit 0, 1 failed (1 unreachable)" in result.stderr


def test_run_json() -> None:
    result = invoke(["run", "@local", "--json", "--", "sh", "-c", "echo x; exit 2"])
    assert result.exit_code == 1
    reply = json.loads(result.stdout)["hosts"]["@local"]
    assert (reply["rc"], reply["stdout"], reply["stderr"], reply["error"]) == (2, "x\n", "", None)


def test_run_timeout_ends_the_command() -> None:
    result = invoke(["run", "@local", "--timeout", "0.5", "--", "sleep", "30"])
    assert result.exit_code == 1
    assert result.stdout == "@local: timed out after 0.5 s (ended)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "@local", "uptime"], "put `--` before the command"),
        (["run", "@local", "--"], "no command after `--`"),
        (["run", "--", "uptime"], "name a TARGET"),
    ],
)
def test_run_usage_errors(args: list[str], message: str) -> None:
    assert message in one_line_error(invoke(args))


def test_run_options_after_the_separator_belong_to_the_command() -> None:
    result = invoke(["run", "@local", "--", "echo", "--json", "-i", "x"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1] == "  --json -i x"


def test_run_groups_hosts_with_the_same_result() -> None:
    same = {"rc": 0, "stdout": "ok\n", "stderr": "", "error": None}
    replies = {
        "h01": same,
        "h02": {**same, "stdout": "other\n"},
        "h03": dict(same),
        "h04": {"rc": None, "error": "unreachable: connection refused", "unreachable": True},
    }
    groups = run_command.groups(replies)
    assert [names for names, _ in groups] == [["h01", "h03"], ["h02"]]


def test_run_prints_groups(capsys: pytest.CaptureFixture[str]) -> None:
    same = {"rc": 0, "stdout": "ok\n", "stderr": "", "error": None}
    run_command.print_groups({"h01": same, "h02": dict(same), "h03": {**same, "rc": 1, "stderr": "bad\n"}})
    assert capsys.readouterr().out.splitlines() == ["h01, h02: exit 0", "  ok", "h03: exit 1", "  ok", "  bad"]


@pytest.mark.lab
def test_run_on_lab_hosts_as_root_grouped(lab_hosts: Callable[[int], list[Any]]) -> None:
    lab_hosts(3)
    result = invoke(["run", "@lab/3", "--", "id", "-un"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["h01, h02, h03: exit 0", "  root"]
    names = invoke(["run", "@lab/3", "--limit", "h02,h03", "--", "hostname"])
    assert names.stdout.splitlines() == ["h02: exit 0", "  h02", "h03: exit 0", "  h03"]


@pytest.mark.lab
def test_run_a_stopped_lab_host_is_one_line(lab_hosts: Callable[[int], list[Any]], test_lab: Path) -> None:
    import paracrine.lab as lab

    lab_hosts(2)
    lab.stop(["h02"])
    try:
        inventory = test_lab / "state" / "inventory.json"
        assert inventory.is_file()
        result = invoke(["run", "h0*", "--", "true"])  # the running lab's hosts (h02 listed, but stopped)
        assert result.exit_code == 1
        assert result.stdout == "h01: exit 0\n"
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith("error: h02: unreachable: connection refused")
    finally:
        lab.up(2)


# ====================================================================== paracrine op


def test_op_plans_applies_and_converges(tmp_path: Path) -> None:
    target = tmp_path / "srv" / "x"
    (tmp_path / "srv").mkdir()
    args = ["op", "@local", "files.directory", f"path={target}", "mode=0750", "--state-dir", str(tmp_path / "state")]
    planned = invoke([*args, "--dry-run"])
    assert planned.exit_code == 0, planned.stderr
    assert f"~ files.directory('{target}')  [command line]" in planned.stdout
    assert f"create directory {target} (mode 0750)" in planned.stdout
    assert not target.exists()
    assert invoke([*args, "--check"]).exit_code == 2
    applied = invoke([*args, "-y"])
    assert applied.exit_code == 0, applied.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert invoke([*args, "--check"]).exit_code == 0


def test_op_writes_no_file_in_the_current_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    os.chdir(work)
    result = invoke(["op", "@local", "files.line", f"path={tmp_path / 'f'}", "line=x", "create=true", "-y"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "f").read_text() == "x\n"
    assert {p.name for p in work.iterdir()} == {".paracrine"}  # only the fact cache, as a deploy keeps
    assert not [p for p in (work / ".paracrine").rglob("*.py")]


def test_op_without_a_terminal_needs_yes(tmp_path: Path) -> None:
    result = invoke(["op", "@local", "files.directory", f"path={tmp_path / 'y'}"])
    assert result.exit_code == 3
    assert "changes are pending and there is no terminal to ask; nothing was applied; pass -y" in result.stderr
    assert not (tmp_path / "y").exists()


def test_op_diff_shows_the_new_content(tmp_path: Path) -> None:
    target = tmp_path / "motd"
    target.write_text("old line\n")
    result = invoke(["op", "@local", "files.file", f"path={target}", "content=new line\n", "--diff", "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert "-old line" in result.stdout and "+new line" in result.stdout
    assert target.read_text() == "old line\n"


def test_run_and_op_are_imported_only_when_used() -> None:
    probe = (
        "import sys; from paracrine.cli import run; run(['--version']); "
        "print(sorted(m for m in sys.modules if m.startswith('paracrine.commands.')))"  # the package: names only
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"


def test_op_json_plan(tmp_path: Path) -> None:
    result = invoke(["op", "@local", "files.directory", f"path={tmp_path / 'j'}", "--json", "--dry-run"])
    assert result.exit_code == 0, result.stderr
    (operation,) = json.loads(result.stdout)["hosts"]["@local"]["operations"]
    assert (operation["op"], operation["where"], operation["status"]) == ("files.directory", "command line", "change")
    assert operation["changes"][0]["kind"] == "mkdir"


def test_op_list_and_bool_arguments(tmp_path: Path) -> None:
    from paracrine.commands.op import operation_args
    from paracrine.commands.ops import find_operation

    assert operation_args(find_operation("apt.packages"), ('packages=["tree", "git"]', "update=yes")) == {
        "packages": ["tree", "git"],
        "update": True,
    }
    assert operation_args(find_operation("files.directory"), ("path=/srv/x", "mode=0755", "owner=root")) == {
        "path": "/srv/x",
        "mode": "0755",
        "owner": "root",
    }
    template = operation_args(find_operation("files.template"), ("src=a.j2", "dest=/etc/a", "port=8080"))
    assert template == {"src": "a.j2", "dest": "/etc/a", "port": "8080"}  # **variables stay text


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["files.directory", "mode=0755"], "error: files.directory: missing a required argument: 'path'"),
        (["files.directory", "path=/x", "mode=0999"], "'0999' is not an octal mode like '0644'"),
        (["files.directory", "path=relative"], "'relative' is not an absolute path"),
        (["files.directory", "pth=/x"], "error: files.directory has no parameter 'pth'; did you mean 'path'?"),
        (["files.directory", "/x"], "error: files.directory: expected key=value, got '/x'"),
        (["files.directory", "path=/x", "present=maybe"], "present='maybe' is not a valid bool"),
        (["apt.packages", "packages=tree"], "error: apt.packages: packages='tree' is not a valid list[PackageName]"),
        (["files.direktory", "path=/x"], "error: unknown operation 'files.direktory'; did you mean 'files.directory'"),
        (["files", "path=/x"], "'files' is not an operation but holds several; name one: files.block, files.directory"),
    ],
)
def test_op_bad_input_is_one_line_exit_3_before_connecting(
    monkeypatch: pytest.MonkeyPatch, words: list[str], expected: str
) -> None:
    import paracrine.connect

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("bad input must not connect")

    monkeypatch.setattr(paracrine.connect.Session, "__init__", refuse)
    assert expected in one_line_error(invoke(["op", "@local", *words]))


def test_op_all_is_every_host_of_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "inventory.yaml").write_text("hosts:\n  '@local':\n")
    result = invoke(["op", "all", "files.directory", f"path={tmp_path / 'all'}", "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("@local  1 of 1 operations to change")


@pytest.mark.lab
def test_op_on_lab_hosts(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    hosts = lab_hosts(2)
    args = ["op", "@lab/2", "files.directory", "path=/srv/x", "mode=0755", "--state-dir", str(tmp_path / "s")]
    applied = invoke([*args, "-y"])
    assert applied.exit_code == 0, applied.stderr
    for host in hosts:
        info = (Path(host.root) / "srv" / "x").stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o755, 0)  # as root, like a deploy
    again = invoke([*args, "--check"])
    assert again.exit_code == 0, again.stdout + again.stderr
