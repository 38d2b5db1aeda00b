"""Unit tests of the server.* system operations that the data-driven cases cannot express.

A case plans one call against fixed facts; these plan several calls in a row,
as a deploy does, and check how the later ones see the earlier ones' changes.
"""

from __future__ import annotations

from typing import Any

import pytest
from op_cases import operation_named

from paracrine import dag
from paracrine.operation import OpCall, Options
from paracrine.operations import _system
from paracrine.testing import planner_for

ROOT = {"uid": 0, "gid": 0, "home": "/root", "shell": "/bin/bash", "comment": "", "group": "root", "groups": []}
GROUPS = {"root": {"gid": 0, "members": []}}
BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIITi37B4vAj+OriQScslpeZ0Kzcv9XTdytPS3q0/mehZ"
LIBC = {"libc6": {"version": "2.36-9", "arch": "amd64"}}


def plan(steps: list[tuple[str, list[Any], dict[str, Any]]], facts: list[list[Any]]) -> Any:
    """Plan the calls ``(operation, args, kwargs)`` in order on one host with ``facts``."""
    first, *_ = steps
    planner, call = planner_for(operation_named(first[0]), {"args": first[1], "kwargs": first[2]}, facts)
    calls = [call]
    for index, (name, args, kwargs) in enumerate(steps[1:], 1):
        op = operation_named(name)
        calls.append(OpCall(op, op.bind(args, kwargs), Options(), "case", call.host, index))
    planner.graph = dag.build(calls)
    result = planner.plan(calls, set(), set())
    assert not result.missing, sorted(k.label() for k in result.missing)
    return result, calls


def test_locale_waits_for_the_locales_package_installed_earlier() -> None:
    result, calls = plan(
        [("apt.packages", [["locales"]], {}), ("server.locale", ["de_DE.UTF-8"], {})],
        [
            ["apt.packages", {}, LIBC],
            ["server.locales", {}, ["C", "C.utf8", "POSIX"]],
            ["files.path_info", {"path": "/etc/locale.gen"}, None],
            ["files.sha256", {"path": "/etc/locale.gen"}, None],
            ["files.lines", {"path": "/etc/locale.gen", "max_bytes": 1048576}, None],
        ],
    )
    assert [p.status for p in result.ops] == ["change"]  # apt-get install runs first...
    assert result.deferred == [calls[1]]  # ...then the locale is planned with fresh facts


def test_timezone_and_modprobe_wait_for_their_packages() -> None:
    result, calls = plan(
        [
            ("apt.packages", [["tzdata", "kmod"]], {}),
            ("server.timezone", ["Europe/Berlin"], {}),
            ("server.modprobe", ["br_netfilter"], {}),
        ],
        [
            ["apt.packages", {}, LIBC],
            ["files.path_info", {"path": "/usr/share/zoneinfo/Europe/Berlin"}, None],
            ["files.path_info", {"path": "/etc/localtime"}, None],
            ["files.path_info", {"path": "/etc/timezone"}, None],
            ["files.sha256", {"path": "/etc/timezone"}, None],
            ["modules.loaded", {}, {}],
            ["modules.builtin", {}, None],
            ["files.path_info", {"path": "/etc/modules-load.d/br_netfilter.conf"}, None],
            ["files.sha256", {"path": "/etc/modules-load.d/br_netfilter.conf"}, None],
            ["server.which", {"command": "modprobe"}, None],
        ],
    )
    assert result.deferred == calls[1:]
    assert [p.status for p in result.preview] == ["incomplete", "incomplete"]  # shown as depending on the install


def test_authorized_keys_of_a_user_created_without_a_home_waits_for_useradd() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIITi37B4vAj+OriQScslpeZ0Kzcv9XTdytPS3q0/mehZ k1@example"
    result, calls = plan(
        [("server.user", ["deploy"], {}), ("server.authorized_keys", ["deploy", [key]], {})],
        [["server.users", {}, {"root": ROOT}], ["server.groups", {}, GROUPS]],
    )
    assert [p.status for p in result.ops] == ["change"]
    assert result.deferred == [calls[1]]  # the home useradd picks is known once it ran


def test_crontab_of_a_user_created_earlier_in_the_run() -> None:
    result, _calls = plan(
        [("server.user", ["app"], {"home": "/srv/app"}), ("server.crontab", ["/srv/app/tick"], {"user": "app"})],
        [["server.users", {}, {"root": ROOT}], ["server.groups", {}, GROUPS], ["cron.table", {"user": "app"}, None]],
    )
    assert [p.status for p in result.ops] == ["change", "change"] and not result.deferred
    (install,) = result.ops[1].changes
    assert install.stdin == b"* * * * * /srv/app/tick\n"


@pytest.mark.parametrize(
    ("line", "parts"),
    [
        (f"ssh-ed25519 {BLOB}", ("", "")),
        (f'command="echo a b",no-pty ssh-ed25519 {BLOB} c d', ('command="echo a b",no-pty', "c d")),
    ],
)
def test_parse_authorized_key(line: str, parts: tuple[str, str]) -> None:
    key = _system.parse_authorized_key(line)
    assert key is not None and (key.options, key.comment) == parts and key.kind == "ssh-ed25519"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "# comment",
        "ssh-ed25519 notbase64!",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIITi37B4vAj+OriQScslpeZ0Kzcv9XTdytPS3q0/mehZ",
    ],
)
def test_parse_authorized_key_refuses_non_keys(line: str) -> None:
    assert _system.parse_authorized_key(line) is None


def test_cron_table_keeps_an_orphan_marker_and_unrelated_lines() -> None:
    lines = ["#Paracrine: gone", "", "0 * * * * /bin/other"]
    assert _system.cron_table(lines, "gone", "/bin/x", None) == ["", "0 * * * * /bin/other"]
    assert _system.cron_table(lines, None, "/bin/other", ["5 * * * * /bin/other"]) == [
        "#Paracrine: gone",
        "",
        "5 * * * * /bin/other",
    ]
