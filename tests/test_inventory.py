"""Inventories: Python and YAML files, host lists and connectors, host data, connection settings, --limit."""

from __future__ import annotations

import copy
import pickle
import textwrap
from pathlib import Path
from typing import Any

import pytest

from paracrine.errors import HostDataError, InventoryError
from paracrine.hosts import CONNECTION_KEYS, Connection, Host, HostData, connection_from_data
from paracrine.inventory import Inventory, InventoryBuilder, expand_connector, load_inventory
from paracrine.targets import select


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(directory: Path, name: str, text: str) -> Inventory:
    return load_inventory(str(write(directory, name, text)))


def load_error(directory: Path, name: str, text: str) -> str:
    """The one-line error of loading the file; also checks that it is one line and an InventoryError."""
    path = write(directory, name, text)
    with pytest.raises(InventoryError) as info:
        load_inventory(str(path))
    line = info.value.format_line()
    assert "\n" not in line
    assert int(info.value.exit_code) == 3
    return line


def names(inventory: Inventory) -> list[str]:
    return [h.name for h in inventory]


def data(inventory: Inventory, name: str) -> dict[str, Any]:
    host = inventory.get(name)
    assert host is not None, name
    return dict(host.data)


# ====================================================================== Python inventories


def test_python_groups_from_lists_and_tuples(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "inventory.py",
        """
        web = ["web1", "web2"]
        db = ("db1",)
        """,
    )
    assert names(inv) == ["web1", "web2", "db1"]
    assert inv.groups == ["web", "db"]
    assert inv.get("web1") is not None and inv.get("web1").groups == ("web",)  # type: ignore[union-attr]
    assert inv.get("db1").groups == ("db",)  # type: ignore[union-attr]
    assert len(inv) == 3
    assert inv.get("nope") is None
    assert inv.source == str(tmp_path / "inventory.py")
    assert all(h.source == str(tmp_path / "inventory.py") for h in inv)


def test_python_host_with_data(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "inventory.py",
        """
        web = [("web1", {"port": 8080, "ssh_user": "deploy"}), ["web2", {"port": 81}], "web3"]
        """,
    )
    assert data(inv, "web1") == {"port": 8080, "ssh_user": "deploy"}
    assert data(inv, "web2") == {"port": 81}
    assert data(inv, "web3") == {}
    assert inv.get("web1").connection().user == "deploy"  # type: ignore[union-attr]


def test_python_defaults_and_group_data_merge_order(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "inventory.py",
        """
        defaults = {"port": 80, "env": "prod", "tier": "none", "from": "defaults"}
        web = ["web1", ("web2", {"port": 81, "from": "host"})]
        db = ["db1", "web1"]
        group_data = {
            "web": {"port": 8080, "tier": "front", "from": "web"},
            "db": {"tier": "back", "from": "db"},
        }
        """,
    )
    # defaults <- web <- db (definition order) <- host
    assert data(inv, "web1") == {"port": 8080, "env": "prod", "tier": "back", "from": "db"}
    assert data(inv, "web2") == {"port": 81, "env": "prod", "tier": "front", "from": "host"}
    assert data(inv, "db1") == {"port": 80, "env": "prod", "tier": "back", "from": "db"}


def test_python_group_order_is_definition_order_not_membership_order(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "inventory.py",
        """
        first = ["b"]
        second = ["a", "b"]
        group_data = {"second": {"x": "second"}, "first": {"x": "first"}}
        """,
    )
    assert data(inv, "b")["x"] == "second"  # second is defined after first
    assert inv.get("b").groups == ("first", "second")  # type: ignore[union-attr]


def test_python_host_in_several_groups_merges_host_data_of_every_entry(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "inventory.py",
        """
        web = [("web1", {"a": 1, "b": 1})]
        monitoring = [("web1", {"b": 2, "c": 3})]
        """,
    )
    assert names(inv) == ["web1"]
    assert inv.get("web1").groups == ("web", "monitoring")  # type: ignore[union-attr]
    assert data(inv, "web1") == {"a": 1, "b": 2, "c": 3}


def test_python_host_data_beats_group_data_of_a_later_group(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "inventory.py",
        """
        web = [("web1", {"port": 1})]
        db = ["web1"]
        group_data = {"db": {"port": 2}}
        """,
    )
    assert data(inv, "web1")["port"] == 1


def test_python_ignores_private_names_modules_functions_and_classes(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "inventory.py",
        """
        import os
        import os.path as osp
        from collections import OrderedDict
        from functools import partial
        from math import sqrt
        from pathlib import Path
        from typing import List

        _private = ["not-a-host"]
        __hidden = "anything"

        def helper():
            return ["not-a-host"]

        class Thing:
            pass

        make = partial(dict, a=1)
        square = lambda x: x * x

        web = [n for n in ("web1", "web2")]
        """,
    )
    assert names(inv) == ["web1", "web2"]
    assert inv.groups == ["web"]


@pytest.mark.parametrize(
    ("text", "name", "kind"),
    [
        ("web = ['web1']\ncount = 3\n", "count", "int"),
        ("web = ['web1']\nname = 'x'\n", "name", "str"),
        ("web = ['web1']\nsettings = {'a': 1}\n", "settings", "dict"),
        ("web = {'web1', 'web2'}\n", "web", "set"),
        ("web = ['web1']\nflag = None\n", "flag", "NoneType"),
    ],
)
def test_python_unknown_top_level_value_is_an_error(tmp_path: Path, text: str, name: str, kind: str) -> None:
    line = load_error(tmp_path, "inventory.py", text)
    assert str(tmp_path / "inventory.py") in line
    assert f"top-level name {name!r}" in line
    assert kind in line


def test_python_host_listed_twice_in_a_group(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.py", "web = ['web1', ('web1', {'port': 1})]\n")
    assert "'web1' is listed twice in group 'web'" in line
    assert str(tmp_path / "inventory.py") in line


def test_python_group_data_for_unknown_group(tmp_path: Path) -> None:
    line = load_error(
        tmp_path,
        "inventory.py",
        """
        web = ["web1"]
        group_data = {"wbe": {"port": 1}}
        """,
    )
    assert "group_data names unknown group 'wbe'" in line
    assert "did you mean 'web'?" in line
    assert str(tmp_path / "inventory.py") in line


def test_python_group_data_for_far_unknown_group_has_a_hint(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.py", "web = ['web1']\ngroup_data = {'zzzzzz': {}}\n")
    assert "unknown group 'zzzzzz'" in line
    assert "define the group as a list of hosts" in line


def test_python_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    line = load_error(
        tmp_path,
        "inventory.py",
        """
        web = ["web1"]

        db = ["db1"
        """,
    )
    assert f"[{tmp_path / 'inventory.py'}:3]" in line
    assert "syntax error" in line


def test_python_exception_names_file_and_line(tmp_path: Path) -> None:
    line = load_error(
        tmp_path,
        "inventory.py",
        """
        web = ["web1"]
        ports = {}
        db = [("db1", {"port": ports["db"]})]
        """,
    )
    assert f"[{tmp_path / 'inventory.py'}:3]" in line
    assert "KeyError" in line


def test_python_exception_inside_a_function_points_at_the_calling_line(tmp_path: Path) -> None:
    helper = write(tmp_path, "helper.py", "def hosts():\n    raise RuntimeError('no hosts today')\n")
    line = load_error(
        tmp_path,
        "inventory.py",
        f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("helper", {str(helper)!r})
        helper = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(helper)
        web = helper.hosts()
        """,
    )
    assert f"[{tmp_path / 'inventory.py'}:5]" in line
    assert "RuntimeError: no hosts today" in line


def test_python_exception_with_multiline_message_is_one_line(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.py", "raise ValueError('first\\nsecond')\n")
    assert "ValueError: first second" in line


def test_python_sys_exit_is_an_inventory_error(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.py", "import sys\nweb = ['web1']\nsys.exit(2)\n")
    assert "SystemExit" in line
    assert f"{tmp_path / 'inventory.py'}:3" in line


def test_python_inventory_without_hosts_is_an_error(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.py", "import os\ndefaults = {'port': 1}\n")
    assert "defines no host" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web = [('web1', 'port=1')]\n", "data of host 'web1' must be a mapping"),
        ("web = [42]\n", "group 'web' holds 42"),
        ("web = [('web1', {}, 'extra')]\n", "group 'web' holds"),
        ("web = ['web1']\ndefaults = ['x']\n", "defaults must be a mapping"),
        ("web = ['web1']\ngroup_data = {'web': 1}\n", "group_data['web'] must be a mapping"),
        ("web = [('web1', {1: 'x'})]\n", "data of host 'web1' must be a mapping of names"),
        ("web = ['web 1']\n", "invalid host name 'web 1'"),
    ],
)
def test_python_malformed_entries(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, "inventory.py", text)


def test_python_connector_strings_in_groups(tmp_path: Path) -> None:
    inv = load(tmp_path, "inventory.py", "local = ['@local']\nremote = ['@ssh/deploy@10.0.0.5:2222']\n")
    assert names(inv) == ["@local", "10.0.0.5:2222"]
    assert inv.get("@local").connection().connector == "local"  # type: ignore[union-attr]
    remote = inv.get("10.0.0.5:2222").connection()  # type: ignore[union-attr]
    assert (remote.hostname, remote.port, remote.user) == ("10.0.0.5", 2222, "deploy")


# ====================================================================== YAML inventories

YAML = """
defaults:
  port: 80
  env: prod
hosts:
  web1: {port: 81}
  web2:
  db1:
    role: db
groups:
  web: [web1, web2]
  db:
    hosts: [db1, web1]
    data: {tier: back, env: staging}
"""


def test_yaml_hosts_groups_and_defaults(tmp_path: Path) -> None:
    inv = load(tmp_path, "inventory.yaml", YAML)
    assert names(inv) == ["web1", "web2", "db1"]
    assert inv.groups == ["web", "db"]
    assert inv.get("web1").groups == ("web", "db")  # type: ignore[union-attr]
    assert inv.get("web2").groups == ("web",)  # type: ignore[union-attr]
    assert data(inv, "web1") == {"port": 81, "env": "staging", "tier": "back"}
    assert data(inv, "web2") == {"port": 80, "env": "prod"}
    assert data(inv, "db1") == {"port": 80, "env": "staging", "tier": "back", "role": "db"}


def test_yaml_group_data_in_definition_order(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "inventory.yaml",
        """
        hosts:
          a:
        groups:
          first: {hosts: [a], data: {x: first}}
          second: {hosts: [a], data: {x: second}}
        """,
    )
    assert data(inv, "a")["x"] == "second"


@pytest.mark.parametrize("suffix", ["yml", "json"])
def test_yaml_other_suffixes(tmp_path: Path, suffix: str) -> None:
    text = '{"hosts": {"web1": {"port": 1}}}' if suffix == "json" else "hosts:\n  web1: {port: 1}\n"
    inv = load(tmp_path, f"inventory.{suffix}", text)
    assert data(inv, "web1") == {"port": 1}


def test_yaml_unknown_top_level_key(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.yaml", "host:\n  web1:\n")
    assert str(tmp_path / "inventory.yaml") in line
    assert "unknown top-level key 'host'" in line
    assert "did you mean 'hosts'?" in line


def test_yaml_unknown_far_top_level_key_lists_the_keys(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.yaml", "hosts:\n  web1:\nzzzz: 1\n")
    assert "unknown top-level key 'zzzz'" in line
    assert "hosts, groups and defaults" in line


def test_yaml_unknown_group_key(tmp_path: Path) -> None:
    line = load_error(
        tmp_path,
        "inventory.yaml",
        """
        hosts:
          web1:
        groups:
          web: {hots: [web1]}
        """,
    )
    assert "group 'web' has unknown key 'hots'" in line
    assert "did you mean 'hosts'?" in line


def test_yaml_group_lists_unknown_host(tmp_path: Path) -> None:
    line = load_error(
        tmp_path,
        "inventory.yaml",
        """
        hosts:
          web1:
        groups:
          web: [web1, web2]
        """,
    )
    assert "group 'web' lists unknown host 'web2'" in line
    assert "did you mean 'web1'?" in line
    assert str(tmp_path / "inventory.yaml") in line


def test_yaml_group_lists_far_unknown_host(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.yaml", "hosts:\n  web1:\ngroups:\n  db: [zzzz]\n")
    assert "unknown host 'zzzz'" in line
    assert "add it under hosts:" in line


def test_yaml_group_may_list_a_connector(tmp_path: Path) -> None:
    inv = load(tmp_path, "inventory.yaml", "groups:\n  local: ['@local']\n")
    assert names(inv) == ["@local"]
    assert inv.get("@local").groups == ("local",)  # type: ignore[union-attr]


def test_yaml_group_lists_a_host_twice(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.yaml", "hosts:\n  web1:\ngroups:\n  web: [web1, web1]\n")
    assert "'web1' is listed twice in group 'web'" in line


def test_yaml_duplicate_host_is_refused_with_its_line(tmp_path: Path) -> None:
    line = load_error(
        tmp_path,
        "inventory.yaml",
        """
        hosts:
          web1: {port: 81}
          web2:
          web1: {port: 82}
        """,
    )
    assert f"[{tmp_path / 'inventory.yaml'}:4]" in line
    assert "duplicate key 'web1'" in line


def test_yaml_duplicate_group_is_refused(tmp_path: Path) -> None:
    line = load_error(
        tmp_path,
        "inventory.yaml",
        """
        hosts:
          web1:
        groups:
          web: [web1]
          web: []
        """,
    )
    assert f"{tmp_path / 'inventory.yaml'}:5" in line
    assert "duplicate key 'web'" in line


def test_yaml_duplicate_data_key_is_refused(tmp_path: Path) -> None:
    line = load_error(
        tmp_path,
        "inventory.yaml",
        """
        defaults:
          port: 1
          port: 2
        hosts:
          web1:
        """,
    )
    assert f"{tmp_path / 'inventory.yaml'}:3" in line
    assert "duplicate key 'port'" in line


def test_yaml_duplicate_top_level_key_is_refused(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.yaml", "hosts:\n  web1:\nhosts:\n  web2:\n")
    assert f"{tmp_path / 'inventory.yaml'}:3" in line
    assert "duplicate key 'hosts'" in line


def test_yaml_merge_key_override_is_not_a_duplicate(tmp_path: Path) -> None:
    # `<<: *base` then `port: 2` is how YAML overrides a shared value.
    inv = load(
        tmp_path,
        "inventory.yaml",
        """
        hosts:
          web1: &base {port: 1, env: prod}
          web2:
            <<: *base
            port: 2
        """,
    )
    assert data(inv, "web1") == {"port": 1, "env": "prod"}
    assert data(inv, "web2") == {"port": 2, "env": "prod"}


def test_yaml_duplicate_after_merge_key_is_still_refused(tmp_path: Path) -> None:
    line = load_error(
        tmp_path,
        "inventory.yaml",
        """
        hosts:
          web1: &base {port: 1}
          web2:
            <<: *base
            port: 2
            port: 3
        """,
    )
    assert f"{tmp_path / 'inventory.yaml'}:6" in line
    assert "duplicate key 'port'" in line


def test_yaml_invalid_is_one_line_with_its_line(tmp_path: Path) -> None:
    line = load_error(
        tmp_path,
        "inventory.yaml",
        """
        hosts:
          web1: {port: 81
          web2:
        """,
    )
    assert line.startswith(f"[{tmp_path / 'inventory.yaml'}:3]: invalid YAML: ")


def test_yaml_tab_indentation_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("hosts:\n  web1:\n\tport: 1\n", encoding="utf-8")
    with pytest.raises(InventoryError) as info:
        load_inventory(str(path))
    assert info.value.format_line().startswith(f"[{path}:3]: invalid YAML")


@pytest.mark.parametrize(
    "content",
    [b"hosts:\n  web1: {x: \xff}\n", b'hosts:\n  web1: {x: "\x01"}\n'],
    ids=["not-utf8", "control-character"],
)
def test_yaml_unreadable_text_is_an_inventory_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_bytes(content)
    with pytest.raises(InventoryError) as info:
        load_inventory(str(path))
    line = info.value.format_line()
    assert line.startswith(f"[{path}]: invalid YAML")
    assert "\n" not in line


def test_yaml_unhashable_key(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.yaml", "hosts:\n  ? [a]\n  : 1\n")
    assert f"{tmp_path / 'inventory.yaml'}:2" in line
    assert "unhashable" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- web1\n- web2\n", "the inventory must be a mapping"),
        ("", "defines no host"),
        ("defaults: {port: 1}\n", "defines no host"),
        ("hosts: [web1, web2]\n", "hosts must be a mapping"),
        ("hosts:\n  web1: 5\n", "data of host 'web1' must be a mapping"),
        ("hosts:\n  web1:\ngroups:\n  web: web1\n", "group 'web' must be a mapping"),
        ("hosts:\n  web1:\ngroups:\n  web: [1]\n", "hosts of group 'web' must be a list of names"),
        ("hosts:\n  web1:\ngroups:\n  web: {hosts: web1}\n", "hosts of group 'web' must be a list of names"),
        ("hosts:\n  web1:\ngroups:\n  'bad group': [web1]\n", "invalid group name 'bad group'"),
        ("hosts:\n  web1:\n---\nhosts:\n  web2:\n", "invalid YAML"),
    ],
)
def test_yaml_malformed(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, "inventory.yaml", text)


def test_yaml_empty_group_and_null_data(tmp_path: Path) -> None:
    inv = load(tmp_path, "inventory.yaml", "hosts:\n  web1:\ngroups:\n  empty:\n  web: {hosts: [web1], data:}\n")
    assert inv.groups == ["empty", "web"]
    assert data(inv, "web1") == {}


def test_yaml_connection_settings_are_validated_at_load_time(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.yaml", "hosts:\n  web1: {ssh_port: '22'}\n")
    assert line == f"web1 [{tmp_path / 'inventory.yaml'}]: ssh_port must be int, got str '22'"


def test_yaml_group_connection_settings_reach_the_host(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        "inventory.yaml",
        """
        defaults: {ssh_user: admin}
        hosts:
          web1: {ssh_port: 2201}
        groups:
          web: {hosts: [web1], data: {become: true, ssh_user: deploy}}
        """,
    )
    conn = inv.get("web1").connection()  # type: ignore[union-attr]
    assert (conn.user, conn.port, conn.become) == ("deploy", 2201, True)


# ====================================================================== -i strings and connectors


def test_host_list() -> None:
    inv = load_inventory("web1,web2, db1 ,")
    assert names(inv) == ["web1", "web2", "db1"]
    assert inv.groups == []
    assert all(h.groups == () and dict(h.data) == {} for h in inv)
    assert inv.get("web1").connection().hostname == "web1"  # type: ignore[union-attr]
    assert inv.get("web1").connection().connector == "ssh"  # type: ignore[union-attr]


def test_host_list_with_only_commas_is_an_error() -> None:
    with pytest.raises(InventoryError, match="names no host"):
        load_inventory(",")


def test_invalid_host_name() -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory("web 1")
    assert "invalid host name 'web 1'" in info.value.format_line()


def test_local_connector() -> None:
    inv = load_inventory("@local")
    assert names(inv) == ["@local"]
    assert dict(inv.hosts[0].data) == {"connector": "local"}
    assert inv.hosts[0].connection().connector == "local"


def test_ssh_connector_with_user_and_port() -> None:
    inv = load_inventory("@ssh/user@host:2222")
    (host,) = inv.hosts
    assert host.name == "host:2222"
    assert dict(host.data) == {"ssh_hostname": "host", "ssh_user": "user", "ssh_port": 2222}
    conn = host.connection()
    assert (conn.connector, conn.hostname, conn.user, conn.port) == ("ssh", "host", "user", 2222)


def test_ssh_connector_without_user_and_port() -> None:
    (name, values), *rest = expand_connector("@ssh/example.org", "-i")
    assert not rest
    assert name == "example.org"
    assert values == {"ssh_hostname": "example.org"}


def test_ssh_connector_ipv6_keeps_brackets_in_the_name() -> None:
    ((name, values),) = expand_connector("@ssh/root@[::1]:2222", "-i")
    assert name == "[::1]:2222"
    assert values == {"ssh_hostname": "::1", "ssh_user": "root", "ssh_port": 2222}
    ((name, values),) = expand_connector("@ssh/[fe80::1]", "-i")
    assert (name, values) == ("fe80::1", {"ssh_hostname": "fe80::1"})


def test_ssh_connector_port_out_of_range() -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory("@ssh/host:99999")
    assert "ssh_port must be 1 to 65535" in info.value.format_line()


@pytest.mark.parametrize("spec", ["@docker/web", "@sudo", "@ssh/", "@ssh/a:b:c", "@lab/x", "@LOCAL", "@"])
def test_bad_connector_lists_the_valid_ones(spec: str) -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory(spec)
    line = info.value.format_line()
    assert f"unknown connector {spec!r}" in line
    for valid in ("@local", "@ssh/user@host:port", "@lab/N"):
        assert valid in line


@pytest.mark.parametrize("count", [0, 201])
def test_lab_connector_count_is_checked_before_the_lab_starts(count: int) -> None:
    with pytest.raises(InventoryError, match="the lab holds 1 to 200 hosts"):
        expand_connector(f"@lab/{count}", "-i")


def test_builder_merges_connector_data_and_host_data() -> None:
    builder = InventoryBuilder("test")
    builder.add_host("@ssh/a@web1:2200", {"port": 80})
    inv = builder.build()
    assert dict(inv.hosts[0].data) == {"ssh_hostname": "web1", "ssh_user": "a", "ssh_port": 2200, "port": 80}


# ====================================================================== default inventory resolution


@pytest.fixture
def deploy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deploy directory, with the working directory elsewhere (so only deploy_dir counts)."""
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return deploy


def test_default_inventory_py_beside_the_deploy_file(deploy_dir: Path) -> None:
    write(deploy_dir, "inventory.py", "web = ['from-py']\n")
    write(deploy_dir, "inventory.yaml", "hosts:\n  from-yaml:\n")
    assert names(load_inventory(None, deploy_dir)) == ["from-py"]


def test_default_inventory_yaml_when_no_py(deploy_dir: Path) -> None:
    write(deploy_dir, "inventory.yaml", "hosts:\n  from-yaml:\n")
    write(deploy_dir, "inventory.yml", "hosts:\n  from-yml:\n")
    assert names(load_inventory(None, deploy_dir)) == ["from-yaml"]


def test_default_inventory_yml(deploy_dir: Path) -> None:
    write(deploy_dir, "inventory.yml", "hosts:\n  from-yml:\n")
    assert names(load_inventory(None, deploy_dir)) == ["from-yml"]


def test_default_inventory_is_local(deploy_dir: Path) -> None:
    write(deploy_dir.parent / "elsewhere", "inventory.yaml", "hosts:\n  from-cwd:\n")  # not beside the deploy file
    inv = load_inventory(None, deploy_dir)
    assert names(inv) == ["@local"]
    assert inv.hosts[0].connection().connector == "local"


def test_default_inventory_without_deploy_dir_is_the_working_directory(deploy_dir: Path) -> None:
    write(Path.cwd(), "inventory.yaml", "hosts:\n  from-cwd:\n")
    assert names(load_inventory(None)) == ["from-cwd"]


def test_default_inventory_directory_named_like_an_inventory_is_ignored(deploy_dir: Path) -> None:
    (deploy_dir / "inventory.py").mkdir()
    assert names(load_inventory(None, deploy_dir)) == ["@local"]


def test_default_inventory_errors_are_reported(deploy_dir: Path) -> None:
    write(deploy_dir, "inventory.yaml", "hosts:\n  web1:\n  web1:\n")
    with pytest.raises(InventoryError, match="duplicate key 'web1'"):
        load_inventory(None, deploy_dir)


@pytest.mark.parametrize("name", ["missing.yaml", "missing.py", "missing.yml", "missing.json"])
def test_missing_inventory_file(tmp_path: Path, name: str) -> None:
    spec = str(tmp_path / name)
    with pytest.raises(InventoryError) as info:
        load_inventory(spec)
    assert info.value.format_line() == f"inventory file {spec} not found; check the -i argument"


def test_inventory_file_without_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts", "hosts:\n  web1:\n")
    assert names(load_inventory(str(path))) == ["web1"]


# ====================================================================== targets.select


def test_select_target_is_the_inventory_when_there_is_none(tmp_path: Path) -> None:
    assert names(select(None, [], target="web1", base_dir=tmp_path)) == ["web1"]
    assert names(select(None, [], target="a,b", base_dir=tmp_path)) == ["a", "b"]


def test_select_target_limits_the_default_inventory(tmp_path: Path) -> None:
    write(tmp_path, "inventory.yaml", "hosts:\n  web1:\n  web2:\n  db1:\ngroups:\n  web: [web1, web2]\n")
    assert names(select(None, [], target="web", base_dir=tmp_path)) == ["web1", "web2"]
    assert names(select(None, ["web2"], target="web", base_dir=tmp_path)) == ["web1", "web2"]
    with pytest.raises(InventoryError, match="--limit 'wbe1' matches no host"):
        select(None, [], target="wbe1", base_dir=tmp_path)


def test_select_target_limits_an_explicit_inventory(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yaml", "hosts:\n  web1:\n  db1:\n")
    assert names(select(str(path), [], target="db1", base_dir=tmp_path)) == ["db1"]


def test_select_connector_target_with_an_inventory_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yaml", "hosts:\n  web1:\n")
    with pytest.raises(InventoryError, match="is an inventory itself"):
        select(str(path), [], target="@local", base_dir=tmp_path)


def test_select_connector_target_ignores_the_default_inventory(tmp_path: Path) -> None:
    write(tmp_path, "inventory.yaml", "hosts:\n  web1:\n")
    assert names(select(None, [], target="@local", base_dir=tmp_path)) == ["@local"]


def test_select_applies_limits(tmp_path: Path) -> None:
    assert names(select("a,b,c", ["b,c", "a"], base_dir=tmp_path)) == ["a", "b", "c"]
    assert names(select("a,b,c", ["c"], base_dir=tmp_path)) == ["c"]


# ====================================================================== connection settings


def test_connection_defaults() -> None:
    conn = connection_from_data("web1", {})
    assert conn == Connection(
        connector="ssh",
        hostname="web1",
        port=22,
        user=None,
        key=None,
        known_hosts=None,
        host_keys="enforce",
        compression=False,
        ssh_args=(),
        reuse=False,
        kex_algorithms="^curve25519-sha256,curve25519-sha256@libssh.org",
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
            "ssh_reuse": True,
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
        True,
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
    assert conn.port == 22 and conn.user is None


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


def test_bad_settings_fail_when_the_inventory_is_built(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.py", "web = [('web1', {'ssh_port': '22'})]\n")
    assert line == f"web1 [{tmp_path / 'inventory.py'}]: ssh_port must be int, got str '22'"
    line = load_error(tmp_path, "inventory.py", "web = ['web1']\ndefaults = {'ssh_prot': 22}\n")
    assert "web1" in line and "unknown connection setting 'ssh_prot'" in line and "did you mean 'ssh_port'" in line


@pytest.mark.parametrize("key", ["items", "keys", "values", "get"])
def test_data_keys_hidden_by_mapping_methods_are_refused(tmp_path: Path, key: str) -> None:
    # host.data.items would be the Mapping method, never the value: refuse the key.
    line = load_error(tmp_path, "inventory.yaml", f"hosts:\n  web1: {{{key}: [1, 2]}}\n")
    assert f"web1 [{tmp_path / 'inventory.yaml'}]: host data key {key!r}" in line
    assert "rename" in line


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


def test_host_data_of_different_hosts_is_independent(tmp_path: Path) -> None:
    # A deploy file runs once per host in the same process: appending to a list from
    # `defaults` for one host must not show up on the next.
    inv = load(tmp_path, "inventory.py", "defaults = {'packages': ['nginx']}\nweb = ['web1', 'web2']\n")
    web1, web2 = inv.hosts
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


# ====================================================================== --limit


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    return load(
        tmp_path,
        "inventory.yaml",
        """
        hosts:
          web1:
          web2:
          db1:
          db2:
          cache1:
        groups:
          web: [web1, web2]
          db: [db1, db2]
          primary: [web1, db1]
        """,
    )


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["web1"], ["web1"]),
        (["db"], ["db1", "db2"]),
        (["primary"], ["web1", "db1"]),
        (["web*"], ["web1", "web2"]),
        (["*1"], ["web1", "db1", "cache1"]),
        (["db?"], ["db1", "db2"]),
        (["[wc]*"], ["web1", "web2", "cache1"]),
        (["cache1,db"], ["db1", "db2", "cache1"]),
        (["db2", "web"], ["web1", "web2", "db2"]),
        (["db2,web1", "cache*"], ["web1", "db2", "cache1"]),
        (["web1, db1"], ["web1", "db1"]),
        (["web1,,db1,"], ["web1", "db1"]),
        (["web", "web1"], ["web1", "web2"]),
        ([], ["web1", "web2", "db1", "db2", "cache1"]),
        ((), ["web1", "web2", "db1", "db2", "cache1"]),
    ],
)
def test_limit(inventory: Inventory, patterns: list[str], expected: list[str]) -> None:
    limited = inventory.limit(patterns)
    assert names(limited) == expected
    assert limited.groups == inventory.groups
    assert limited.source == inventory.source


def test_limit_keeps_host_objects_and_lookup(inventory: Inventory) -> None:
    limited = inventory.limit(["db"])
    assert limited.get("db1") is inventory.get("db1")
    assert limited.get("web1") is None


def test_limit_is_case_sensitive(inventory: Inventory) -> None:
    with pytest.raises(InventoryError):
        inventory.limit(["WEB1"])


def test_limit_a_single_string_is_one_pattern(inventory: Inventory) -> None:
    assert names(inventory.limit("web1,db1")) == ["web1", "db1"]


def test_limit_can_be_chained(inventory: Inventory) -> None:
    assert names(inventory.limit(["web"]).limit(["primary"])) == ["web1"]


def test_limit_matching_nothing_did_you_mean(inventory: Inventory) -> None:
    with pytest.raises(InventoryError) as info:
        inventory.limit(["wbe1"])
    line = info.value.format_line()
    assert line.startswith(f"[{inventory.source}]: --limit 'wbe1' matches no host or group; did you mean 'web1'")


def test_limit_matching_nothing_suggests_groups_too(inventory: Inventory) -> None:
    with pytest.raises(InventoryError) as info:
        inventory.limit(["primry"])
    assert "did you mean 'primary'?" in info.value.format_line()


def test_limit_one_bad_pattern_among_good_ones_fails(inventory: Inventory) -> None:
    with pytest.raises(InventoryError, match="--limit 'nosuch' matches no host"):
        inventory.limit(["web1", "nosuch"])
    with pytest.raises(InventoryError, match="--limit 'zz\\*' matches no host"):
        inventory.limit(["web1,zz*"])


def test_limit_matching_nothing_far_lists_the_inventory(inventory: Inventory) -> None:
    with pytest.raises(InventoryError) as info:
        inventory.limit(["zzzzzz"])
    assert info.value.format_line().endswith(
        "matches no host or group; hosts: web1, web2, db1, db2, cache1; groups: web, db, primary"
    )


def test_limit_hint_is_shortened_for_big_inventories() -> None:
    big = load_inventory(",".join(f"h{i:03d}" for i in range(20)))
    with pytest.raises(InventoryError) as info:
        big.limit(["zzzzzz"])
    assert info.value.format_line().endswith("hosts: h000, h001, h002, h003, h004, h005, h006, h007 and 12 more")


@pytest.mark.parametrize("patterns", [[""], [","], [" , "], ["", ""]])
def test_limit_given_but_empty_is_an_error_not_everything(inventory: Inventory, patterns: list[str]) -> None:
    # `--limit "$HOSTS"` with an empty variable must not deploy to every host.
    with pytest.raises(InventoryError, match="names no host or group"):
        inventory.limit(patterns)
