"""Inventory files (paracrine/inventory_files.py): ``inventory.py`` and ``inventory.yaml``.

What both formats do is written once and runs for each of them (ids ``py`` and ``yaml``); what
only one format has follows in a section of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from inventory_helpers import data, each_format, host, load, load_error, names, per_format, write

from paracrine.errors import InventoryError
from paracrine.inventory import load_inventory

# ====================================================================== both formats


@each_format(
    py="""
    web = ["web1", "web2"]
    db = ("db1",)
    """,
    yaml="""
    hosts:
      web1:
      web2:
      db1:
    groups:
      web: [web1, web2]
      db: [db1]
    """,
)
def test_groups_and_hosts_in_definition_order(tmp_path: Path, name: str, text: str) -> None:
    inv = load(tmp_path, name, text)
    assert names(inv) == ["web1", "web2", "db1"]
    assert inv.groups == ["web", "db"]
    assert host(inv, "web1").groups == ("web",)
    assert host(inv, "db1").groups == ("db",)
    assert len(inv) == 3
    assert inv.get("nope") is None
    assert inv.source == str(tmp_path / name)
    assert all(h.source == str(tmp_path / name) for h in inv)


@each_format(
    py='web = [("web1", {"port": 8080, "ssh_user": "deploy"}), ["web2", {"port": 81}], "web3"]\n',
    yaml="""
    hosts:
      web1: {port: 8080, ssh_user: deploy}
      web2: {port: 81}
      web3:
    """,
)
def test_host_with_data(tmp_path: Path, name: str, text: str) -> None:
    inv = load(tmp_path, name, text)
    assert data(inv, "web1") == {"port": 8080, "ssh_user": "deploy"}
    assert data(inv, "web2") == {"port": 81}
    assert data(inv, "web3") == {}
    assert host(inv, "web1").connection().user == "deploy"


@each_format(
    py="""
    defaults = {"port": 80, "env": "prod", "tier": "none", "from": "defaults"}
    web = ["web1", ("web2", {"port": 81, "from": "host"})]
    db = ["db1", "web1"]
    group_data = {
        "web": {"port": 8080, "tier": "front", "from": "web"},
        "db": {"tier": "back", "from": "db"},
    }
    """,
    yaml="""
    defaults: {port: 80, env: prod, tier: none, from: defaults}
    hosts:
      web1:
      web2: {port: 81, from: host}
      db1:
    groups:
      web: {hosts: [web1, web2], data: {port: 8080, tier: front, from: web}}
      db:
        hosts: [db1, web1]
        data: {tier: back, from: db}
    """,
)
def test_defaults_and_group_data_merge_order(tmp_path: Path, name: str, text: str) -> None:
    inv = load(tmp_path, name, text)
    assert names(inv) == ["web1", "web2", "db1"]
    assert host(inv, "web1").groups == ("web", "db")
    # defaults <- web <- db (definition order) <- host
    assert data(inv, "web1") == {"port": 8080, "env": "prod", "tier": "back", "from": "db"}
    assert data(inv, "web2") == {"port": 81, "env": "prod", "tier": "front", "from": "host"}
    assert data(inv, "db1") == {"port": 80, "env": "prod", "tier": "back", "from": "db"}


@each_format(
    # group_data names `second` first: only the order the groups are defined in counts.
    py="""
    first = ["b"]
    second = ["a", "b"]
    group_data = {"second": {"x": "second"}, "first": {"x": "first"}}
    """,
    yaml="""
    hosts:
      a:
      b:
    groups:
      first: {hosts: [b], data: {x: first}}
      second: {hosts: [a, b], data: {x: second}}
    """,
)
def test_group_order_is_definition_order_not_membership_order(tmp_path: Path, name: str, text: str) -> None:
    inv = load(tmp_path, name, text)
    assert data(inv, "b")["x"] == "second"  # second is defined after first
    assert host(inv, "b").groups == ("first", "second")


@each_format(
    py="""
    web = [("web1", {"port": 1})]
    db = ["web1"]
    group_data = {"db": {"port": 2}}
    """,
    yaml="""
    hosts:
      web1: {port: 1}
    groups:
      web: [web1]
      db: {hosts: [web1], data: {port: 2}}
    """,
)
def test_host_data_beats_group_data_of_a_later_group(tmp_path: Path, name: str, text: str) -> None:
    assert data(load(tmp_path, name, text), "web1")["port"] == 1


@each_format(
    py="empty = []\nweb = [('web1', None)]\ngroup_data = {'web': None}\n",
    yaml="hosts:\n  web1:\ngroups:\n  empty:\n  web: {hosts: [web1], data:}\n",
)
def test_empty_group_and_null_data(tmp_path: Path, name: str, text: str) -> None:
    inv = load(tmp_path, name, text)
    assert inv.groups == ["empty", "web"]
    assert data(inv, "web1") == {}


@each_format(
    py="local = ['@local']\nremote = ['@ssh/deploy@10.0.0.5:2222']\n",
    yaml="groups:\n  local: ['@local']\n  remote: ['@ssh/deploy@10.0.0.5:2222']\n",
)
def test_groups_may_list_connectors(tmp_path: Path, name: str, text: str) -> None:
    inv = load(tmp_path, name, text)
    assert names(inv) == ["@local", "10.0.0.5:2222"]
    assert host(inv, "@local").groups == ("local",)
    assert host(inv, "@local").connection().connector == "local"
    remote = host(inv, "10.0.0.5:2222").connection()
    assert (remote.hostname, remote.port, remote.user) == ("10.0.0.5", 2222, "deploy")


@each_format(
    py="""
    defaults = {"ssh_user": "admin"}
    web = [("web1", {"ssh_port": 2201})]
    group_data = {"web": {"become": True, "ssh_user": "deploy"}}
    """,
    yaml="""
    defaults: {ssh_user: admin}
    hosts:
      web1: {ssh_port: 2201}
    groups:
      web: {hosts: [web1], data: {become: true, ssh_user: deploy}}
    """,
)
def test_group_connection_settings_reach_the_host(tmp_path: Path, name: str, text: str) -> None:
    conn = host(load(tmp_path, name, text), "web1").connection()
    assert (conn.user, conn.port, conn.become) == ("deploy", 2201, True)


@each_format(
    py="web = [('web1', {'ssh_port': '22'})]\n",
    yaml="hosts:\n  web1: {ssh_port: '22'}\n",
)
def test_bad_connection_settings_fail_when_the_inventory_is_loaded(tmp_path: Path, name: str, text: str) -> None:
    line = load_error(tmp_path, name, text)
    assert line == f"web1 [{tmp_path / name}]: ssh_port must be int, got str '22'"


@each_format(
    py="web = ['web1']\ndefaults = {'ssh_prot': 22}\n",
    yaml="defaults: {ssh_prot: 22}\nhosts:\n  web1:\n",
)
def test_unknown_connection_setting_in_defaults_fails_when_loaded(tmp_path: Path, name: str, text: str) -> None:
    line = load_error(tmp_path, name, text)
    assert "web1" in line and "unknown connection setting 'ssh_prot'" in line and "did you mean 'ssh_port'" in line


@each_format(
    py="web = ['web1', ('web1', {'port': 1})]\n",
    yaml="hosts:\n  web1:\ngroups:\n  web: [web1, web1]\n",
)
def test_host_listed_twice_in_a_group(tmp_path: Path, name: str, text: str) -> None:
    line = load_error(tmp_path, name, text)
    assert "'web1' is listed twice in group 'web'" in line
    assert str(tmp_path / name) in line


@pytest.mark.parametrize(
    ("name", "text", "error", "hint"),
    [
        *per_format(
            py=(
                """
                web = ["web1"]
                group_data = {"wbe": {"port": 1}}
                """,
                "group_data names unknown group 'wbe'",
                "did you mean 'web'?",
            ),
            yaml=(
                """
                hosts:
                  web1:
                groups:
                  web: [web1, web2]
                """,
                "group 'web' lists unknown host 'web2'",
                "did you mean 'web1'?",
            ),
            case="near",
        ),
        *per_format(
            py=(
                "web = ['web1']\ngroup_data = {'zzzzzz': {}}\n",
                "unknown group 'zzzzzz'",
                "define the group as a list of hosts",
            ),
            yaml=("hosts:\n  web1:\ngroups:\n  db: [zzzz]\n", "unknown host 'zzzz'", "add it under hosts:"),
            case="far",
        ),
    ],
)
def test_unknown_group_or_host_is_refused_with_a_hint(
    tmp_path: Path, name: str, text: str, error: str, hint: str
) -> None:
    # A near miss gets "did you mean"; a far one says how to define the name.
    line = load_error(tmp_path, name, text)
    assert error in line
    assert hint in line
    assert str(tmp_path / name) in line


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        pytest.param("inventory.py", "web = ['web1']\ncount = 3\n", ["top-level name 'count' is a int"], id="py-int"),
        pytest.param("inventory.py", "web = ['web1']\nname = 'x'\n", ["top-level name 'name' is a str"], id="py-str"),
        pytest.param(
            "inventory.py",
            "web = ['web1']\nsettings = {'a': 1}\n",
            ["top-level name 'settings' is a dict"],
            id="py-dict",
        ),
        pytest.param("inventory.py", "web = {'web1', 'web2'}\n", ["top-level name 'web' is a set"], id="py-set"),
        pytest.param(
            "inventory.py", "web = ['web1']\nflag = None\n", ["top-level name 'flag' is a NoneType"], id="py-none"
        ),
        pytest.param(
            "inventory.yaml",
            "host:\n  web1:\n",
            ["unknown top-level key 'host'", "did you mean 'hosts'?"],
            id="yaml-near",
        ),
        pytest.param(
            "inventory.yaml",
            "hosts:\n  web1:\nzzzz: 1\n",
            ["unknown top-level key 'zzzz'", "hosts, groups and defaults"],
            id="yaml-far",
        ),
    ],
)
def test_unknown_top_level_name_is_an_error(tmp_path: Path, name: str, text: str, expected: list[str]) -> None:
    line = load_error(tmp_path, name, text)
    assert str(tmp_path / name) in line
    for part in expected:
        assert part in line


@each_format(
    py=(
        """
        web = ["web1"]

        db = ["db1"
        """,
        "syntax error",
    ),
    yaml=(
        """
        hosts:
          web1: {port: 81
          web2:
        """,
        "invalid YAML: ",
    ),
    also=("error",),
)
def test_syntax_error_names_file_and_line(tmp_path: Path, name: str, text: str, error: str) -> None:
    assert load_error(tmp_path, name, text).startswith(f"[{tmp_path / name}:3]: {error}")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        *per_format(py="import os\ndefaults = {'port': 1}\n", yaml="defaults: {port: 1}\n"),
        *per_format(py="", yaml="", case="empty"),
    ],
)
def test_inventory_without_hosts_is_an_error(tmp_path: Path, name: str, text: str) -> None:
    line = load_error(tmp_path, name, text)
    assert "the inventory defines no host" in line
    assert str(tmp_path / name) in line


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        pytest.param(
            "inventory.py", "web = [('web1', 'port=1')]\n", "data of host 'web1' must be a mapping", id="py-data"
        ),
        pytest.param("inventory.py", "web = [42]\n", "group 'web' holds 42", id="py-entry"),
        pytest.param("inventory.py", "web = [('web1', {}, 'extra')]\n", "group 'web' holds", id="py-entry-length"),
        pytest.param(
            "inventory.py", "web = ['web1']\ndefaults = ['x']\n", "defaults must be a mapping", id="py-defaults"
        ),
        pytest.param(
            "inventory.py",
            "web = ['web1']\ngroup_data = {'web': 1}\n",
            "group_data['web'] must be a mapping",
            id="py-group-data",
        ),
        pytest.param(
            "inventory.py",
            "web = [('web1', {1: 'x'})]\n",
            "data of host 'web1' must be a mapping of names",
            id="py-data-key",
        ),
        pytest.param("inventory.py", "web = ['web 1']\n", "invalid host name 'web 1'", id="py-host-name"),
        pytest.param("inventory.yaml", "- web1\n- web2\n", "the inventory must be a mapping", id="yaml-document"),
        pytest.param("inventory.yaml", "hosts: [web1, web2]\n", "hosts must be a mapping", id="yaml-hosts"),
        pytest.param("inventory.yaml", "hosts:\n  web1: 5\n", "data of host 'web1' must be a mapping", id="yaml-data"),
        pytest.param(
            "inventory.yaml",
            "hosts:\n  web1:\ngroups:\n  web: web1\n",
            "group 'web' must be a mapping",
            id="yaml-group",
        ),
        pytest.param(
            "inventory.yaml",
            "hosts:\n  web1:\ngroups:\n  web: [1]\n",
            "hosts of group 'web' must be a list of names",
            id="yaml-group-member",
        ),
        pytest.param(
            "inventory.yaml",
            "hosts:\n  web1:\ngroups:\n  web: {hosts: web1}\n",
            "hosts of group 'web' must be a list of names",
            id="yaml-group-hosts",
        ),
        pytest.param(
            "inventory.yaml",
            "hosts:\n  web1:\ngroups:\n  'bad group': [web1]\n",
            "invalid group name 'bad group'",
            id="yaml-group-name",
        ),
        pytest.param(
            "inventory.yaml", "hosts:\n  web1:\n---\nhosts:\n  web2:\n", "invalid YAML", id="yaml-two-documents"
        ),
    ],
)
def test_malformed_entries(tmp_path: Path, name: str, text: str, expected: str) -> None:
    assert expected in load_error(tmp_path, name, text)


# ====================================================================== inventory.py only


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
    assert host(inv, "web1").groups == ("web", "monitoring")
    assert data(inv, "web1") == {"a": 1, "b": 2, "c": 3}


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


# ====================================================================== inventory.yaml only


@pytest.mark.parametrize("suffix", ["yml", "json"])
def test_yaml_other_suffixes(tmp_path: Path, suffix: str) -> None:
    text = '{"hosts": {"web1": {"port": 1}}}' if suffix == "json" else "hosts:\n  web1: {port: 1}\n"
    inv = load(tmp_path, f"inventory.{suffix}", text)
    assert data(inv, "web1") == {"port": 1}


def test_yaml_unknown_group_key(tmp_path: Path) -> None:
    line = load_error(tmp_path, "inventory.yaml", "hosts:\n  web1:\ngroups:\n  web: {hots: [web1]}\n")
    assert "group 'web' has unknown key 'hots'" in line
    assert "did you mean 'hosts'?" in line


@pytest.mark.parametrize(
    ("text", "line_number", "key"),
    [
        pytest.param("hosts:\n  web1: {port: 81}\n  web2:\n  web1: {port: 82}\n", 4, "web1", id="host"),
        pytest.param("hosts:\n  web1:\ngroups:\n  web: [web1]\n  web: []\n", 5, "web", id="group"),
        pytest.param("defaults:\n  port: 1\n  port: 2\nhosts:\n  web1:\n", 3, "port", id="data-key"),
        pytest.param("hosts:\n  web1:\nhosts:\n  web2:\n", 3, "hosts", id="top-level"),
        pytest.param(
            "hosts:\n  web1: &base {port: 1}\n  web2:\n    <<: *base\n    port: 2\n    port: 3\n",
            6,
            "port",
            id="after-merge-key",
        ),
    ],
)
def test_yaml_duplicate_key_is_refused_with_its_line(tmp_path: Path, text: str, line_number: int, key: str) -> None:
    line = load_error(tmp_path, "inventory.yaml", text)
    assert f"[{tmp_path / 'inventory.yaml'}:{line_number}]" in line
    assert f"duplicate key {key!r}" in line


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
