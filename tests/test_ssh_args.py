"""The ssh options Paracrine adds: known_hosts, key exchange preference, master connection reuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from paracrine.connect import ssh_args, sudo_argv
from paracrine.hosts import connection_from_data


def test_defaults_prefer_curve25519_and_check_known_hosts() -> None:
    args = ssh_args(connection_from_data("web1", {"ssh_known_hosts": "/kh"}))
    assert args == [
        "-o",
        "KexAlgorithms=^curve25519-sha256,curve25519-sha256@libssh.org",
        "-o",
        "UserKnownHostsFile=/kh",
    ]


def test_empty_kex_keeps_ssh_defaults_and_user_args_come_last() -> None:
    conn = connection_from_data("web1", {"ssh_kex_algorithms": "", "ssh_args": ["-o", "ProxyJump=bastion"]})
    assert ssh_args(conn) == ["-o", "ProxyJump=bastion"]


def test_reuse_adds_a_master_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    args = ssh_args(connection_from_data("web1", {"ssh_reuse": True, "ssh_kex_algorithms": ""}))
    assert args == [
        "-o", "ControlMaster=auto",
        "-o", f"ControlPath={tmp_path}/paracrine/cm-%C",
        "-o", "ControlPersist=10m",
    ]  # fmt: skip
    assert (tmp_path / "paracrine").stat().st_mode & 0o777 == 0o700


def test_single_hop_sudo() -> None:
    assert sudo_argv("root") == ["sudo", "-n", "-H"]
    assert sudo_argv("postgres") == ["sudo", "-n", "-H", "-u", "postgres"]


def test_a_missing_key_or_known_hosts_file_is_one_line_before_ssh_runs(tmp_path: Path) -> None:
    from paracrine.connect import Session
    from paracrine.hosts import Host, HostData

    data = {"ssh_hostname": "127.0.0.1", "ssh_port": 9}
    hosts = [
        Host("nokey", (), HostData("nokey", {**data, "ssh_key": str(tmp_path / "missing")})),
        Host("nokh", (), HostData("nokh", {**data, "ssh_known_hosts": str(tmp_path / "kh")})),
    ]
    with Session() as session:
        session.connect(hosts)
    assert session.failed["nokey"].format_line() == (
        f"nokey: ssh_key {tmp_path}/missing does not exist; fix ssh_key in the inventory"
    )
    assert session.failed["nokh"].format_line() == (
        f"nokh: ssh_known_hosts {tmp_path}/kh does not exist; fix ssh_known_hosts in the inventory"
    )
