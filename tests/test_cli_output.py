"""What a deploy prints (issue 13): progress lines, failures with their output, "to change" in dry runs,
colour on request, and no apply without -y when nothing can ask. Runs against ``@local`` in a temporary
directory (no lab needed)."""

from __future__ import annotations

import json
from pathlib import Path

from paracrine.testing import Invocation, invoke

SITE = """\
from paracrine.operations import files, server

files.directory("{tmp}/out")
files.file("{tmp}/out/a", content="a\\n")
server.shell(["sh", "-c", "echo some output; echo line one >&2; echo line two >&2; exit 3"], title="noisy failure")
"""


def deploy(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Invocation:
    site = tmp_path / "site.py"
    site.write_text(SITE.format(tmp=tmp_path))
    return invoke([str(site), "-i", "@local", "--state-dir", str(tmp_path / "state"), *args], env=env)


def test_without_a_terminal_changes_need_yes(tmp_path: Path) -> None:
    result = deploy(tmp_path)
    assert result.exit_code == 3
    assert "error: changes are pending and there is no terminal to ask; nothing was applied; pass -y to apply them" in (
        result.stderr
    )
    assert not (tmp_path / "out").exists()


def test_json_does_not_apply_without_yes_but_prints_the_plan(tmp_path: Path) -> None:
    result = deploy(tmp_path, "--json")
    assert result.exit_code == 3 and not (tmp_path / "out").exists()
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1 and doc["summary"][0]["changed"] == 3  # "to change": nothing applied
    assert "--json does not ask" in result.stderr


def test_a_failure_shows_the_whole_output_of_the_command(tmp_path: Path) -> None:
    result = deploy(tmp_path, "-y")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    failure = lines.index(f"error: @local: noisy failure [{tmp_path}/site.py:5]: exit code 3: line two")
    assert lines[failure + 1 : failure + 6] == [
        "  stdout:",
        "    some output",
        "  stderr:",
        "    line one",
        "    line two",
    ]
    assert "@local: changed files.file(" in result.stderr  # progress, one line per event without a terminal


def test_a_dry_run_counts_what_is_to_change(tmp_path: Path) -> None:
    result = deploy(tmp_path, "--dry-run", "-v")
    assert result.exit_code == 0
    header = next(line for line in result.stdout.splitlines() if line.startswith("host"))
    assert header.split()[:4] == ["host", "state", "to", "change"]
    row = [line for line in result.stdout.splitlines() if line.startswith("@local")][-1]  # the table, after the plan
    assert row.split()[1:3] == ["planned", "3"]


def test_colour_only_when_asked_or_on_a_terminal(tmp_path: Path) -> None:
    plain = deploy(tmp_path, "--dry-run")
    assert "\x1b[" not in plain.stdout
    coloured = deploy(tmp_path, "--dry-run", "--color=always")
    assert "\x1b[" in coloured.stdout
    never = deploy(tmp_path, "--dry-run", "--color=auto", env={"NO_COLOR": "1"})
    assert "\x1b[" not in never.stdout
