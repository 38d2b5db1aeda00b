"""Tests of paracrine.facts.sysctl on this machine's /proc/sys and on a tmp_path tree."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.facts import sysctl


def test_value_of_kernel_hostname() -> None:
    assert sysctl.value("kernel.hostname") == socket.gethostname()
    assert sysctl.value("kernel/hostname") == socket.gethostname()


def test_value_absent_is_none() -> None:
    assert sysctl.value("kernel.paracrine_no_such_key") is None
    assert sysctl.value("kernel.hostname.deeper") is None


def test_value_of_a_group_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"group of parameters; use sysctl\.values prefix=kernel"):
        sysctl.value("kernel")


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("kernel.hostname", "/proc/sys/kernel/hostname"),
        ("net/ipv4/ip_forward", "/proc/sys/net/ipv4/ip_forward"),
        ("net.ipv4.conf.eth0/100.rp_filter", "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"),
        ("net/ipv4/conf/eth0.100/rp_filter", "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"),
    ],
)
def test_key_to_path_and_back(key: str, path: str) -> None:
    assert sysctl.key_to_path(key) == path
    assert sysctl.key_to_path(sysctl.path_to_key(path)) == path


@pytest.mark.parametrize("key", ["", ".", "kernel..hostname", "kernel.", "kernel/../../etc/shadow", "../etc"])
def test_key_to_path_rejects_malformed_keys(key: str) -> None:
    with pytest.raises(ValueError, match="not a sysctl key"):
        sysctl.key_to_path(key)


def test_values_under_a_prefix() -> None:
    found = sysctl.values("kernel")
    assert found["kernel.hostname"] == socket.gethostname()
    assert found["kernel.ostype"] == "Linux"
    assert all(key.startswith("kernel.") for key in found)
    assert list(found) == sorted(found)


def test_values_of_everything_and_of_one_key() -> None:
    everything = sysctl.values()
    assert everything["kernel.ostype"] == "Linux"
    assert any(key.startswith("net.") for key in everything) or not os.path.isdir("/proc/sys/net")
    assert sysctl.values("kernel.ostype") == {"kernel.ostype": "Linux"}
    assert sysctl.values("kernel.paracrine_no_such_group") == {}


def test_values_skips_unreadable_entries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "net" / "ipv4" / "conf" / "eth0.100").mkdir(parents=True)
    (tmp_path / "net" / "ipv4" / "ip_forward").write_text("1\n")
    (tmp_path / "net" / "ipv4" / "tcp_rmem").write_text("4096\t131072\t6291456\n")
    (tmp_path / "net" / "ipv4" / "conf" / "eth0.100" / "rp_filter").write_text("2\n")
    (tmp_path / "net" / "ipv4" / "broken").symlink_to(tmp_path / "missing")
    monkeypatch.setattr(sysctl, "PROC_SYS", str(tmp_path))
    assert sysctl.values("net") == {
        "net.ipv4.conf.eth0/100.rp_filter": "2",
        "net.ipv4.ip_forward": "1",
        "net.ipv4.tcp_rmem": "4096\t131072\t6291456",
    }
    assert sysctl.value("net.ipv4.conf.eth0/100.rp_filter") == "2"


@pytest.mark.lab
def test_lab_sysctl(lab_fact: Callable[..., Any]) -> None:
    from paracrine.facts import server

    assert lab_fact(sysctl.value, key="kernel.hostname") == lab_fact(server.hostname)
    assert lab_fact(sysctl.values, prefix="kernel")["kernel.ostype"] == "Linux"
