"""Tests of paracrine.facts.cron on a captured ``crontab -l`` and a fake crontab tool."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_tools import FakeRun

from paracrine.facts import _command, cron


def job(minute: str, hour: str, day: str, month: str, weekday: str, command: str) -> dict[str, str]:
    return {"minute": minute, "hour": hour, "day": day, "month": month, "weekday": weekday, "command": command}


CAPTURED_ENTRIES: list[Any] = [
    {"name": "SHELL", "value": "/bin/bash"},
    {"name": "MAILTO", "value": "ops@example.com"},
    {"name": "PATH", "value": "/usr/local/bin:/usr/bin:/bin"},
    job("*/5", "*", "*", "*", "*", "/usr/local/bin/poll --quiet >/dev/null 2>&1"),
    job("30", "2", "*", "*", "mon-fri", "tar -czf /backup/etc-$(date +\\%F).tgz /etc"),
    job("0", "0", "1", "jan", "*", 'echo "happy new year" | logger -t cron'),
    {"special": "@reboot", "command": "/usr/local/bin/warm-cache"},
    {"special": "@daily", "command": "find /tmp -mtime +7 -delete"},
    job("15", "3", "*", "*", "0", "/usr/bin/weekly-report   # trailing comment is part of the command"),
]


def test_parse_crontab_captured(captured: Callable[[str], str]) -> None:
    assert cron.parse_crontab(captured("crontab-root.txt")) == CAPTURED_ENTRIES


def test_parse_crontab_empty_and_comments_only() -> None:
    assert cron.parse_crontab("") == []
    assert cron.parse_crontab("# nothing here\n\n   \n") == []


def test_parse_crontab_env_forms() -> None:
    text = "A=1\nB = two words \nC=''\n_D=\"x=y\"\nE=\n"
    assert cron.parse_crontab(text) == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "two words"},
        {"name": "C", "value": ""},
        {"name": "_D", "value": "x=y"},
        {"name": "E", "value": ""},
    ]


def test_parse_crontab_job_with_assignment_in_command() -> None:
    assert cron.parse_crontab("0 * * * * FOO=1 /bin/run\n") == [job("0", "*", "*", "*", "*", "FOO=1 /bin/run")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 * * * *\n", "line 1: expected 5 time fields and a command"),
        ("# x\n@every-minute /bin/true\n", "line 2: unknown schedule"),
        ("@reboot\n", "line 1: unknown schedule or no command"),
    ],
)
def test_parse_crontab_rejects_malformed_lines(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cron.parse_crontab(text)


def test_crontab_runs_crontab_l(fake_run: FakeRun, captured: Callable[[str], str]) -> None:
    fake_run.add(["crontab", "-l", "-u", "www-data"], captured("crontab-root.txt"))
    assert cron.crontab(user="www-data") == CAPTURED_ENTRIES
    assert fake_run.calls == [["crontab", "-l", "-u", "www-data"]]


def test_crontab_without_a_crontab_is_empty(fake_run: FakeRun) -> None:
    fake_run.add(["crontab", "-l", "-u", "root"], stderr="no crontab for root\n", returncode=1)
    assert cron.crontab() == []


def test_crontab_of_an_unknown_user(fake_run: FakeRun) -> None:
    with pytest.raises(RuntimeError, match="user paracrine-nosuch does not exist"):
        cron.crontab(user="paracrine-nosuch")
    assert fake_run.calls == []  # the user database is asked, not crontab


def test_crontab_fails_otherwise(fake_run: FakeRun) -> None:
    fake_run.add(["crontab", "-l", "-u", "root"], stderr="crontab: cannot open spool\n", returncode=1)
    with pytest.raises(RuntimeError, match="cannot open spool"):
        cron.crontab()


def test_table_keeps_every_line(fake_run: FakeRun, captured: Callable[[str], str]) -> None:
    fake_run.add(["crontab", "-l", "-u", "root"], captured("crontab-root.txt"))
    lines = cron.table()
    assert lines == captured("crontab-root.txt").splitlines()
    assert lines[0] == "# Managed by hand for the parser tests" and "" in lines


def test_table_without_a_crontab_or_a_user(fake_run: FakeRun) -> None:
    fake_run.add(["crontab", "-l", "-u", "nobody"], stderr="no crontab for nobody\n", returncode=1)
    assert cron.table("nobody") == []
    assert cron.table("paracrine-nosuch") is None
    with pytest.raises(ValueError, match="not a user name"):
        cron.table("-r")


def test_crontab_rejects_option_like_users() -> None:
    with pytest.raises(ValueError, match="not a user name"):
        cron.crontab(user="-r")


def test_crontab_not_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_command, "STANDARD_PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="crontab is not installed"):
        cron.crontab()


@pytest.mark.lab
def test_lab_crontab(lab_fact: Callable[..., Any]) -> None:
    entries = lab_fact(cron.crontab, user="root")
    assert isinstance(entries, list)
    assert all("command" in e or "name" in e for e in entries)
    assert lab_fact(cron.table, user="root") == []  # a fresh lab host: root has no crontab
    assert lab_fact(cron.table, user="paracrine-nosuch") is None
