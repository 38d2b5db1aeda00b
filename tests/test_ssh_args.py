"""The ssh options Paracrine adds: known_hosts, key exchange preference, master connections and their directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paracrine import sshmux
from paracrine.connect import ssh_args, sudo_argv
from paracrine.errors import SetupError
from paracrine.hosts import FAST_KEX, connection_from_data


@pytest.fixture(autouse=True)
def cache_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A short $XDG_CACHE_HOME (pytest's tmp_path is too long for a socket path)."""
    home = Path(tempfile.mkdtemp(prefix="pc-", dir="/tmp"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    yield home
    shutil.rmtree(home)


def _master(directory: Path, name: str) -> list[str]:
    return ["-o", "ControlMaster=auto", "-o", f"ControlPath={directory}/{name}", "-o", "ControlPersist=10m"]


def test_defaults_keep_ssh_key_exchange_check_known_hosts_and_reuse_masters(cache_home: Path) -> None:
    conn = connection_from_data("web1", {"ssh_known_hosts": "/kh"})
    assert ssh_args(conn) == [
        "-o",
        "UserKnownHostsFile=/kh",
        *_master(cache_home / "paracrine" / "ssh", sshmux.socket_name(conn)),
    ]
    assert (cache_home / "paracrine" / "ssh").stat().st_mode & 0o777 == 0o700


def test_fast_kex_is_an_opt_in_and_user_args_come_last() -> None:
    conn = connection_from_data(
        "web1", {"ssh_kex_algorithms": FAST_KEX, "ssh_reuse": False, "ssh_args": ["-o", "ProxyJump=bastion"]}
    )
    assert ssh_args(conn) == [
        "-o", "KexAlgorithms=^curve25519-sha256,curve25519-sha256@libssh.org", "-o", "ProxyJump=bastion"
    ]  # fmt: skip


def test_reuse_off_or_through_a_via_host_adds_no_master_options() -> None:
    assert ssh_args(connection_from_data("web1", {"ssh_reuse": False, "ssh_kex_algorithms": ""})) == []
    assert ssh_args(connection_from_data("web1", {"via": "bastion", "ssh_kex_algorithms": ""})) == []


def test_hosts_share_a_master_only_with_the_same_ssh_settings() -> None:
    base = {"ssh_hostname": "10.0.0.1", "ssh_port": 2222, "ssh_user": "deploy", "ssh_known_hosts": "/kh"}
    name = sshmux.socket_name(connection_from_data("web1", base))
    assert len(name) == 40
    assert sshmux.socket_name(connection_from_data("alias", {**base, "become": True, "python": "/p"})) == name
    for key, value in [
        ("ssh_hostname", "10.0.0.2"), ("ssh_port", 22), ("ssh_user", "root"), ("ssh_key", "/other"),
        ("ssh_known_hosts", "/other"), ("ssh_host_keys", "accept"), ("ssh_kex_algorithms", FAST_KEX),
        ("ssh_args", ["-F", "/cfg"]), ("ssh_compression", True),
    ]:  # fmt: skip
        assert sshmux.socket_name(connection_from_data("web1", {**base, key: value})) != name, key


def test_a_cache_directory_too_long_for_a_socket_moves_the_sockets_to_tmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 60)
    monkeypatch.setenv("XDG_CACHE_HOME", str(deep))
    directory = sshmux.control_dir()
    assert directory == Path(f"/tmp/paracrine-ssh-{os.geteuid()}")
    assert len(str(directory / ("0" * 40))) + 17 <= 107


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: d.symlink_to(d.parent), "is a symbolic link"),
        (lambda d: d.write_text(""), "is not a directory"),
        (lambda d: (d.mkdir(), d.chmod(0o770)), "is writable by group (mode 0770)"),
        (lambda d: (d.mkdir(), d.chmod(0o703)), "is writable by others (mode 0703)"),
    ],
)
def test_a_socket_directory_others_could_reach_is_refused_in_one_line(
    cache_home: Path, make: Callable[[Path], Any], problem: str
) -> None:
    directory = cache_home / "paracrine" / "ssh"
    directory.parent.mkdir(parents=True)
    make(directory)
    with pytest.raises(SetupError) as caught:
        ssh_args(connection_from_data("web1", {}))
    assert caught.value.format_line() == (
        f"ssh master connections (ssh_reuse): {directory} {problem}, so another user could reach the sockets; "
        f"remove {directory} (Paracrine creates it, mode 0700), or set ssh_reuse: false"
    )
    assert int(caught.value.exit_code) == 4


def test_a_socket_directory_of_another_user_is_refused(cache_home: Path) -> None:
    directory = cache_home / "paracrine" / "ssh"
    directory.mkdir(parents=True, mode=0o700)
    if os.geteuid() != 0:
        pytest.skip("changing a directory's owner needs root")
    os.chown(directory, 65534, 65534)
    with pytest.raises(SetupError, match=r"belongs to uid 65534, not to you"):
        sshmux.control_dir()


def test_a_private_socket_directory_is_kept(cache_home: Path) -> None:
    directory = cache_home / "paracrine" / "ssh"
    directory.mkdir(parents=True, mode=0o700)
    directory.chmod(0o755)  # readable by others, but no one else can create or replace a socket in it
    assert sshmux.control_dir() == directory


def test_disconnect_with_no_masters_closes_none(cache_home: Path) -> None:
    assert sshmux.disconnect() == 0
    assert sshmux.disconnect([connection_from_data("web1", {"ssh_hostname": "127.0.0.1", "ssh_port": 9})]) == 0


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
