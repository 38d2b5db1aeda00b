"""Inventories (paracrine/inventory.py): -i host lists and connectors, the default inventory, --limit.

Reading inventory.py and inventory.yaml is in test_inventory_files.py, host data and connection
settings in test_hosts.py, choosing a command's hosts in test_targets.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from inventory_helpers import host, load, names, write

from paracrine.errors import InventoryError
from paracrine.inventory import Inventory, InventoryBuilder, expand_connector, load_inventory

# ====================================================================== -i strings and connectors


def test_host_list() -> None:
    inv = load_inventory("web1,web2, db1 ,")
    assert names(inv) == ["web1", "web2", "db1"]
    assert inv.groups == []
    assert all(h.groups == () and dict(h.data) == {} for h in inv)
    assert host(inv, "web1").connection().hostname == "web1"
    assert host(inv, "web1").connection().connector == "ssh"


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


@pytest.mark.parametrize("count", [0, 1000])
def test_lab_connector_count_is_checked_before_the_lab_starts(count: int) -> None:
    with pytest.raises(InventoryError, match="the lab holds 1 to 999 hosts"):
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


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"inventory.py": "web = ['from-py']\n", "inventory.yaml": "hosts:\n  from-yaml:\n"},
            "from-py",
            id="py-beside-the-deploy-file",
        ),
        pytest.param(
            {"inventory.yaml": "hosts:\n  from-yaml:\n", "inventory.yml": "hosts:\n  from-yml:\n"},
            "from-yaml",
            id="yaml-when-no-py",
        ),
        pytest.param({"inventory.yml": "hosts:\n  from-yml:\n"}, "from-yml", id="yml"),
    ],
)
def test_default_inventory_beside_the_deploy_file(deploy_dir: Path, files: dict[str, str], expected: str) -> None:
    for name, text in files.items():
        write(deploy_dir, name, text)
    assert names(load_inventory(None, deploy_dir)) == [expected]


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
