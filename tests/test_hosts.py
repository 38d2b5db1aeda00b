"""Hosts (paracrine/hosts.py): connection settings, read-only host data, hosts."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import pytest
from inventory_helpers import each_format, load, load_error

from paracrine.errors import HostDataError, InventoryError
from paracrine.hosts import CONNECTION_KEYS, Connection, Host, HostData, connection_from_data

# ====================================================================== connection settings


def test_connection_defaults() -> None:
    conn = connection_from_data("web1", {})
    assert conn == Connection(
        connector="ssh",
        hostname="web1",
        port=None,  # ssh decides: its config, else 22
        user=None,
        key=None,
        known_hosts=None,
        host_keys="enforce",
        compression=False,
        ssh_args=(),
        reuse=True,
        kex_algorithms="",
        via=None,
        python=None,
        become=False,
        become_user="root",
        become_password=None,
        connect_timeout=30.0,
    )


def test_connection_every_setting() -> None:
    conn = connection_from_data(
        "web1",
        {
            "connector": "ssh",
            "ssh_hostname": "10.0.0.1",
            "ssh_port": 2222,
            "ssh_user": "deploy",
            "ssh_key": "/k",
            "ssh_known_hosts": "/kh",
            "ssh_host_keys": "accept",
            "ssh_compression": True,
            "ssh_args": ["-o", "ProxyJump=bastion"],
            "ssh_reuse": False,
            "via": "bastion",
            "python": "/usr/bin/python3.11",
            "become": True,
            "become_user": "postgres",
            "become_password": "s3cret",
            "connect_timeout": 5,
            "port": "not a connection setting",
        },
    )
    assert (conn.hostname, conn.port, conn.user, conn.key, conn.known_hosts) == (
        "10.0.0.1",
        2222,
        "deploy",
        "/k",
        "/kh",
    )
    assert (conn.host_keys, conn.compression, conn.ssh_args, conn.reuse) == (
        "accept",
        True,
        ("-o", "ProxyJump=bastion"),
        False,
    )
    assert (conn.via, conn.python, conn.become, conn.become_user) == (
        "bastion",
        "/usr/bin/python3.11",
        True,
        "postgres",
    )
    assert conn.become_password == "s3cret"
    assert conn.connect_timeout == 5.0 and isinstance(conn.connect_timeout, float)
    assert "s3cret" not in repr(conn)


def test_documented_settings_are_the_validated_ones() -> None:
    import paracrine.hosts as hosts

    doc = hosts.__doc__ or ""
    documented = {line.split("``")[1] for line in doc.splitlines() if line.startswith("``")}
    assert documented == set(CONNECTION_KEYS)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("ssh_port", "22", "ssh_port must be int, got str '22'"),
        ("ssh_port", 22.0, "ssh_port must be int, got float 22.0"),
        ("ssh_port", True, "ssh_port must be int, got bool True"),
        ("connect_timeout", True, "connect_timeout must be int/float, got bool True"),
        ("connect_timeout", "30", "connect_timeout must be int/float, got str '30'"),
        ("become", "yes", "become must be bool, got str 'yes'"),
        ("ssh_compression", 1, "ssh_compression must be bool, got int 1"),
        ("ssh_args", "-v", "ssh_args must be list/tuple, got str '-v'"),
        ("ssh_user", 1000, "ssh_user must be str, got int 1000"),
        ("via", ["a"], "via must be str, got list ['a']"),
        ("ssh_port", 0, "ssh_port must be 1 to 65535, got 0"),
        ("ssh_port", 65536, "ssh_port must be 1 to 65535, got 65536"),
        ("connect_timeout", 0, "connect_timeout must be positive, got 0"),
        ("connect_timeout", -1.5, "connect_timeout must be positive, got -1.5"),
    ],
)
def test_connection_setting_types(key: str, value: Any, expected: str) -> None:
    with pytest.raises(InventoryError) as info:
        connection_from_data("web1", {key: value}, "inventory.yaml")
    assert info.value.format_line() == f"web1 [inventory.yaml]: {expected}"


def test_connection_error_without_source_has_no_brackets() -> None:
    with pytest.raises(InventoryError) as info:
        connection_from_data("web1", {"ssh_port": "22"})
    assert info.value.format_line() == "web1: ssh_port must be int, got str '22'"


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("ssh_prot", "ssh_port"), ("ssh_usr", "ssh_user"), ("become_usr", "become_user"), ("ssh_hostnme", "ssh_hostname")],
)
def test_unknown_connection_setting_did_you_mean(key: str, suggestion: str) -> None:
    with pytest.raises(InventoryError) as info:
        connection_from_data("web1", {key: "x"}, "inv.py")
    line = info.value.format_line()
    assert line.startswith(f"web1 [inv.py]: unknown connection setting {key!r}; did you mean {suggestion!r}")


def test_unknown_far_connection_setting_points_at_the_help() -> None:
    with pytest.raises(InventoryError) as info:
        connection_from_data("web1", {"ssh_zzzzzzzzzzzzz": 1})
    assert info.value.format_line().endswith("see `paracrine --help` for the settings")


def test_other_keys_are_free_host_data() -> None:
    conn = connection_from_data("web1", {"port": "80", "sshd_config": {}, "user": 5})
    assert conn.port is None and conn.user is None  # "port" and "user" are not ssh_port and ssh_user


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [("connector", "docker", "ssh, local"), ("ssh_host_keys", "ignore", "enforce, accept")],
)
def test_connection_choices(key: str, value: str, allowed: str) -> None:
    with pytest.raises(InventoryError) as info:
        connection_from_data("web1", {key: value})
    assert info.value.format_line() == f"web1: {key} must be one of {allowed}, got {value!r}"


def test_connection_choices_accepted() -> None:
    assert connection_from_data("h", {"connector": "local"}).connector == "local"
    assert connection_from_data("h", {"ssh_host_keys": "accept"}).host_keys == "accept"


def test_ssh_args_become_strings() -> None:
    assert connection_from_data("h", {"ssh_args": ("-p", 22)}).ssh_args == ("-p", "22")


# ====================================================================== host data


@pytest.fixture
def host_data() -> HostData:
    return HostData("web1", {"port": 8080, "packages": ["nginx"], "env": {"A": "1"}, "none": None})


def test_host_data_attribute_and_item_access(host_data: HostData) -> None:
    assert host_data.port == 8080
    assert host_data["port"] == 8080
    assert host_data.none is None
    assert host_data.get("missing", "dflt") == "dflt"
    assert "port" in host_data and "missing" not in host_data
    assert sorted(host_data) == ["env", "none", "packages", "port"]
    assert len(host_data) == 4
    assert dict(host_data) == {"port": 8080, "packages": ["nginx"], "env": {"A": "1"}, "none": None}
    assert host_data == {"port": 8080, "packages": ["nginx"], "env": {"A": "1"}, "none": None}


def test_host_data_missing_key_names_host_and_key(host_data: HostData) -> None:
    with pytest.raises(HostDataError) as info:
        _ = host_data.missing
    assert info.value.host == "web1"
    assert info.value.format_line() == (
        "web1: host data has no key 'missing'; define it in the inventory (defaults, group or host)"
    )
    assert int(info.value.exit_code) == 3


def test_host_data_near_miss_did_you_mean(host_data: HostData) -> None:
    with pytest.raises(HostDataError) as info:
        _ = host_data.prot
    assert info.value.format_line() == "web1: host data has no key 'prot'; did you mean 'port'?"


def test_host_data_missing_is_an_attribute_error(host_data: HostData) -> None:
    assert getattr(host_data, "missing", "dflt") == "dflt"
    assert not hasattr(host_data, "missing")


def test_host_data_item_access_raises_key_error(host_data: HostData) -> None:
    with pytest.raises(KeyError) as info:
        _ = host_data["x"]
    assert not isinstance(info.value, HostDataError)


def test_host_data_dunder_lookups_are_plain_attribute_errors(host_data: HostData) -> None:
    with pytest.raises(AttributeError) as info:
        _ = host_data.__wrapped__
    assert not isinstance(info.value, HostDataError)


def test_host_data_is_read_only(host_data: HostData) -> None:
    with pytest.raises(AttributeError, match="read-only"):
        host_data.port = 1
    with pytest.raises(AttributeError, match="read-only"):
        host_data.new_key = 1
    with pytest.raises(AttributeError, match="read-only"):
        del host_data.port
    with pytest.raises(TypeError):
        host_data["port"] = 1
    assert host_data.port == 8080
    assert "new_key" not in host_data


def test_host_data_nested_values_cannot_be_changed_through_it(host_data: HostData) -> None:
    host_data.packages.append("curl")
    host_data["packages"].append("vim")
    host_data.env["B"] = "2"
    assert host_data.packages == ["nginx"]
    assert host_data.env == {"A": "1"}
    assert dict(host_data.items())["packages"] == ["nginx"]


@pytest.mark.parametrize("key", ["items", "keys", "values", "get"])
@each_format(py="web = [('web1', {{'{key}': [1, 2]}})]\n", yaml="hosts:\n  web1: {{{key}: [1, 2]}}\n")
def test_data_keys_hidden_by_mapping_methods_are_refused(tmp_path: Path, name: str, text: str, key: str) -> None:
    # host.data.items would be the Mapping method, never the value: refuse the key.
    line = load_error(tmp_path, name, text.format(key=key))
    assert f"web1 [{tmp_path / name}]: host data key {key!r}" in line
    assert "rename" in line


@each_format(
    py="defaults = {'packages': ['nginx']}\nweb = ['web1', 'web2']\n",
    yaml="defaults: {packages: [nginx]}\nhosts:\n  web1:\n  web2:\n",
)
def test_host_data_of_different_hosts_is_independent(tmp_path: Path, name: str, text: str) -> None:
    # A deploy file runs once per host in the same process: appending to a list from
    # `defaults` for one host must not show up on the next.
    web1, web2 = load(tmp_path, name, text).hosts
    web1.data.packages.append("only-for-web1")
    assert web2.data.packages == ["nginx"]
    assert web1.data.packages == ["nginx"]


def test_host_data_copy_and_pickle(host_data: HostData) -> None:
    for clone in (copy.copy(host_data), copy.deepcopy(host_data), pickle.loads(pickle.dumps(host_data))):
        assert isinstance(clone, HostData)
        assert dict(clone) == dict(host_data)
        with pytest.raises(HostDataError, match="web1: host data has no key 'x'"):
            _ = clone.x


def test_host_data_repr(host_data: HostData) -> None:
    assert repr(HostData("h", {"a": 1})) == "HostData('h', {'a': 1})"


def test_host_connection_uses_its_source() -> None:
    host = Host("web1", (), HostData("web1", {"ssh_port": "x"}), "inventory.yaml")
    with pytest.raises(InventoryError) as info:
        host.connection()
    assert info.value.format_line().startswith("web1 [inventory.yaml]:")


@pytest.mark.parametrize("hostname", ["-oProxyCommand=touch /tmp/pwned", "web 1", "web\n1"])
def test_a_host_name_that_ssh_would_read_as_an_option_is_refused(hostname: str) -> None:
    with pytest.raises(InventoryError) as info:
        connection_from_data("web1", {"ssh_hostname": hostname})
    assert "is not a host name (it must not start with '-' or hold spaces or control characters)" in str(info.value)
