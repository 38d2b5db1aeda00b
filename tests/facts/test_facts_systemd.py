"""Tests of paracrine.facts.systemd on captured ``systemctl show`` outputs (real and daemonless)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_tools import FakeRun

from paracrine.facts import systemd


def test_parse_unit_real_systemd_running(captured: Callable[[str], str]) -> None:
    assert systemd.parse_unit(captured("systemctl-show-ssh-systemd.txt")) == {
        "load": "loaded",
        "active": "active",
        "sub": "running",
        "enabled": "enabled",
        "path": "/lib/systemd/system/ssh.service",
        "description": "OpenBSD Secure Shell server",
        "need_daemon_reload": False,
    }


def test_parse_unit_real_systemd_masked(captured: Callable[[str], str]) -> None:
    unit = systemd.parse_unit(captured("systemctl-show-masked-systemd.txt"))
    assert unit is not None
    assert (unit["load"], unit["active"], unit["enabled"]) == ("masked", "inactive", "masked")


def test_parse_unit_daemonless_inactive(captured: Callable[[str], str]) -> None:
    assert systemd.parse_unit(captured("systemctl-show-ssh-daemonless.txt")) == {
        "load": "loaded",
        "active": "inactive",
        "sub": "dead",
        "enabled": "disabled",
        "path": None,  # the daemonless systemctl has no FragmentPath
        "description": "OpenBSD Secure Shell server",
        "need_daemon_reload": False,
    }


def test_parse_unit_daemonless_active(captured: Callable[[str], str]) -> None:
    unit = systemd.parse_unit(captured("systemctl-show-cron-active-daemonless.txt"))
    assert unit is not None
    assert (unit["active"], unit["sub"], unit["enabled"]) == ("active", "running", "enabled")


@pytest.mark.parametrize("name", ["systemctl-show-notfound-systemd.txt", "systemctl-show-notfound-daemonless.txt"])
def test_parse_unit_not_found_is_none(captured: Callable[[str], str], name: str) -> None:
    assert systemd.parse_unit(captured(name)) is None


def test_parse_unit_rejects_other_output() -> None:
    with pytest.raises(ValueError, match="no LoadState"):
        systemd.parse_unit("System has not been booted with systemd as init system (PID 1).\n")


def test_parse_unit_needs_daemon_reload() -> None:
    unit = systemd.parse_unit("LoadState=loaded\nActiveState=active\nSubState=running\nNeedDaemonReload=yes\n")
    assert unit is not None and unit["need_daemon_reload"] is True


def test_parse_systemctl_show_keeps_values_whole_and_first(captured: Callable[[str], str]) -> None:
    props = systemd.parse_systemctl_show(captured("systemctl-show-ssh-systemd.txt"))
    assert props["ExecReload"].startswith("{ path=/usr/sbin/sshd ; argv[]=/usr/sbin/sshd -t ;")
    assert props["Names"] == "ssh.service sshd.service"
    assert props["Documentation"] == '"man:sshd(8)" "man:sshd_config(5)"'
    assert props["ConsistsOf"] == ""


def test_unit_runs_systemctl_show(fake_run: FakeRun, captured: Callable[[str], str]) -> None:
    fake_run.add(["systemctl", "show", "ssh"], captured("systemctl-show-ssh-systemd.txt"))
    unit = systemd.unit("ssh")
    assert unit is not None and unit["path"] == "/lib/systemd/system/ssh.service"
    assert fake_run.calls == [["systemctl", "show", "ssh"]]


def test_unit_not_found(fake_run: FakeRun, captured: Callable[[str], str]) -> None:
    fake_run.add(["systemctl", "show", "nosuch"], captured("systemctl-show-notfound-daemonless.txt"))
    assert systemd.unit("nosuch") is None


def test_unit_finds_the_unit_file_for_the_daemonless_systemctl(
    fake_run: FakeRun, captured: Callable[[str], str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    etc, lib = tmp_path / "etc", tmp_path / "lib"
    for directory in (etc, lib):
        directory.mkdir()
    (lib / "ssh.service").write_text("[Unit]\n")
    monkeypatch.setattr(systemd, "UNIT_DIRS", (str(etc), str(lib)))
    fake_run.add(["systemctl", "show", "ssh"], captured("systemctl-show-ssh-daemonless.txt"))
    unit = systemd.unit("ssh")
    assert unit is not None and unit["path"] == str(lib / "ssh.service")
    (etc / "ssh.service").symlink_to("/dev/null")  # an override in /etc wins
    unit = systemd.unit("ssh")
    assert unit is not None and unit["path"] == str(etc / "ssh.service")


def test_unit_reports_systemctl_failures(fake_run: FakeRun) -> None:
    fake_run.add(
        ["systemctl", "show", "ssh"],
        stderr="System has not been booted with systemd as init system (PID 1). Can't operate.\n",
        returncode=1,
    )
    with pytest.raises(RuntimeError, match="not been booted with systemd"):
        systemd.unit("ssh")


@pytest.mark.parametrize("name", ["", "--all", "../etc/passwd"])
def test_unit_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a unit name"):
        systemd.unit(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ssh", "ssh.service"), ("ssh.service", "ssh.service"), ("fstrim.timer", "fstrim.timer"), ("a.b", "a.b.service")],
)
def test_unit_file_name(name: str, expected: str) -> None:
    assert systemd.unit_file_name(name) == expected


@pytest.mark.lab
def test_lab_unit(lab_fact: Callable[..., Any]) -> None:
    unit = lab_fact(systemd.unit, name="ssh")
    assert unit["load"] == "loaded"
    assert unit["description"] == "OpenBSD Secure Shell server"
    assert unit["path"] == "/lib/systemd/system/ssh.service"


@pytest.mark.lab
def test_lab_unit_not_found(lab_fact: Callable[..., Any]) -> None:
    assert lab_fact(systemd.unit, name="paracrine-no-such-unit") is None


def test_several_units_are_read_with_one_systemctl_show(fake_run: FakeRun, captured: Callable[[str], str]) -> None:
    from paracrine.remote.gather import gather

    both = (
        captured("systemctl-show-ssh-systemd.txt").rstrip("\n")
        + "\n\n"
        + captured("systemctl-show-notfound-daemonless.txt")
    )
    fake_run.add(["systemctl", "show", "ssh", "nosuch"], both)
    request = ["paracrine.facts.systemd", "unit"]
    reply = gather([[*request, {"name": "ssh"}, None], [*request, {"name": "nosuch"}, None]])
    first, second = reply["results"]
    assert first["value"]["path"] == "/lib/systemd/system/ssh.service" and second == {"value": None, "fp": None}
    assert fake_run.calls == [["systemctl", "show", "ssh", "nosuch"]]


def test_a_batch_that_does_not_add_up_falls_back_to_one_call_each(
    fake_run: FakeRun, captured: Callable[[str], str]
) -> None:
    from paracrine.remote.gather import gather

    fake_run.add(["systemctl", "show", "ssh", "nosuch"], captured("systemctl-show-ssh-systemd.txt"))
    fake_run.add(["systemctl", "show", "ssh"], captured("systemctl-show-ssh-systemd.txt"))
    fake_run.add(["systemctl", "show", "nosuch"], captured("systemctl-show-notfound-daemonless.txt"))
    request = ["paracrine.facts.systemd", "unit"]
    reply = gather([[*request, {"name": "ssh"}, None], [*request, {"name": "nosuch"}, None]])
    assert [r.get("value") is None for r in reply["results"]] == [False, True]
    assert len(fake_run.calls) == 3
