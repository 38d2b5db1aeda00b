"""Tests of paracrine.facts.server: run on this machine (Debian 12) and on captured files."""

from __future__ import annotations

import grp
import os
import platform
import pwd
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.facts import server


def test_hostname_is_the_kernel_node_name() -> None:
    assert server.hostname() == socket.gethostname()


def test_os_release_matches_platform() -> None:
    info = server.os_release()
    assert info == platform.freedesktop_os_release()
    assert info is not None and info["ID"] == "debian"


def test_os_release_is_none_without_the_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(server, "OS_RELEASE_FILES", (str(tmp_path / "a"), str(tmp_path / "b")))
    assert server.os_release() is None


def test_parse_os_release_captured(captured: Callable[[str], str]) -> None:
    info = server.parse_os_release(captured("os-release-debian12.txt"))
    assert info["ID"] == "debian"
    assert info["VERSION_ID"] == "12"
    assert info["VERSION_CODENAME"] == "bookworm"
    assert info["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert info["HOME_URL"] == "https://www.debian.org/"


def test_parse_os_release_quoting() -> None:
    text = (
        "# comment\n"
        "\n"
        'NAME="Foo \\"Bar\\" \\$HOME \\\\ \\n"\n'
        "ID='single \"quoted\"'\n"
        "VERSION_ID=3.2\n"
        "not an assignment\n"
        "  ID_LIKE = debian  \n"
    )
    assert server.parse_os_release(text) == {
        "NAME": 'Foo "Bar" $HOME \\ \\n',
        "ID": 'single "quoted"',
        "VERSION_ID": "3.2",
        "ID_LIKE": "debian",
    }


def test_kernel_arch_and_cpus() -> None:
    uname = os.uname()
    assert server.kernel() == {"name": "Linux", "release": uname.release, "version": uname.version}
    assert server.arch() == platform.machine()
    assert server.cpus() == os.cpu_count()


def test_memory() -> None:
    mem = server.memory()
    assert mem["MemTotal"] > 0
    assert mem["MemAvailable"] is not None and 0 < mem["MemAvailable"] <= mem["MemTotal"]


def test_parse_meminfo_captured(captured: Callable[[str], str]) -> None:
    info = server.parse_meminfo(captured("meminfo.txt"))
    assert info["MemTotal"] == 24684100
    assert info["MemAvailable"] == 24343364
    assert info["HugePages_Total"] == 0
    assert "Hugepagesize" in info


def test_users_has_root_and_matches_the_databases() -> None:
    users = server.users()
    assert users["root"] == {
        "uid": 0,
        "gid": 0,
        "home": "/root",
        "shell": pwd.getpwnam("root").pw_shell,
        "comment": pwd.getpwnam("root").pw_gecos,
        "group": "root",
        "groups": sorted(g.gr_name for g in grp.getgrall() if "root" in g.gr_mem),
    }
    for g in grp.getgrall():
        for member in g.gr_mem:
            if member in users:
                assert g.gr_name in users[member]["groups"]
    assert all(u["groups"] == sorted(u["groups"]) for u in users.values())


def test_users_supplementary_groups_and_unnamed_primary(monkeypatch: pytest.MonkeyPatch) -> None:
    passwd = [
        pwd.struct_passwd(("app", "x", 1000, 1000, "App,,,", "/srv/app", "/bin/sh")),
        pwd.struct_passwd(("orphan", "x", 1001, 4242, "", "/", "/usr/sbin/nologin")),
        pwd.struct_passwd(("app", "x", 2000, 2000, "", "/dup", "/bin/sh")),
    ]
    group = [
        grp.struct_group(("app", "x", 1000, [])),
        grp.struct_group(("www-data", "x", 33, ["app"])),
        grp.struct_group(("adm", "x", 4, ["orphan", "app", "app"])),
    ]
    monkeypatch.setattr(pwd, "getpwall", lambda: passwd)
    monkeypatch.setattr(grp, "getgrall", lambda: group)
    users = server.users()
    assert users == {
        "app": {
            "uid": 1000,
            "gid": 1000,
            "home": "/srv/app",
            "shell": "/bin/sh",
            "comment": "App,,,",
            "group": "app",
            "groups": ["adm", "www-data"],
        },
        "orphan": {
            "uid": 1001,
            "gid": 4242,
            "home": "/",
            "shell": "/usr/sbin/nologin",
            "comment": "",
            "group": "4242",
            "groups": ["adm"],
        },
    }
    assert server.groups() == {
        "app": {"gid": 1000, "members": []},
        "www-data": {"gid": 33, "members": ["app"]},
        "adm": {"gid": 4, "members": ["app", "orphan"]},
    }


def test_groups_has_root() -> None:
    groups = server.groups()
    assert groups["root"]["gid"] == 0
    for name, g in groups.items():
        assert g["gid"] == grp.getgrnam(name).gr_gid
        assert g["members"] == sorted(set(g["members"]))


def test_which(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("")
    plain.chmod(0o644)
    assert server.which("sh") in ("/usr/bin/sh", "/bin/sh")
    assert server.which("dpkg-query") == "/usr/bin/dpkg-query"
    assert server.which("paracrine-no-such-command") is None
    assert server.which("/bin/sh") == "/bin/sh"
    assert server.which(str(plain)) is None  # not executable
    with pytest.raises(ValueError, match="bare name or an absolute path"):
        server.which("bin/sh")


@pytest.mark.lab
def test_lab_server(lab_fact: Callable[..., Any]) -> None:
    release = lab_fact(server.os_release)
    assert release["ID"] == "debian"
    assert release["VERSION_ID"] == "12"
    users = lab_fact(server.users)
    assert users["root"]["uid"] == 0
    assert users["root"]["home"] == "/root"
    assert lab_fact(server.which, command="python3") == "/usr/bin/python3"


@pytest.mark.lab
def test_lab_hostname_and_memory(lab_fact: Callable[..., Any]) -> None:
    name = lab_fact(server.hostname)
    assert isinstance(name, str) and name
    assert lab_fact(server.memory)["MemTotal"] > 0


def test_command_status(tmp_path: Path) -> None:
    assert server.command_status(["sh", "-c", "exit 3"]) == 3
    assert server.command_status(["test", "-e", str(tmp_path)]) == 0
    assert server.command_status(["test", "-e", str(tmp_path / "missing")]) == 1
    assert server.command_status(["paracrine-no-such-command"]) == 127
    with pytest.raises(ValueError, match="non-empty list"):
        server.command_status([])


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("en_US.UTF-8", "en_US.utf8"),
        ("de_DE.ISO-8859-15@euro", "de_DE.iso885915@euro"),
        ("C.UTF-8", "C.utf8"),
        ("de_DE", "de_DE"),
        ("POSIX", "POSIX"),
        ("sr_RS@latin", "sr_RS@latin"),
    ],
)
def test_normalize_locale_as_glibc_lists_it(name: str, listed: str) -> None:
    assert server.normalize_locale(name) == listed


def test_locales_are_what_locale_a_lists() -> None:
    import subprocess

    listed = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True).stdout.split()
    assert server.locales() == sorted(set(listed))
    assert "C.utf8" in server.locales() and "POSIX" in server.locales()
