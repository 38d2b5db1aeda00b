"""The facts phase on lab hosts: one batched call per host, per-fact errors, the validated cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.connect import Session
from paracrine.errors import FactError
from paracrine.factcache import FactCache
from paracrine.gather import FactKey, Gatherer, make_key
from paracrine.inventory import load_inventory
from paracrine.testing import invoke

pytestmark = pytest.mark.lab


def fifty_keys() -> list[FactKey]:
    paths = ["/etc", "/etc/hostname", "/etc/hosts", "/etc/passwd", "/usr/bin/python3", "/missing", "/root", "/tmp"]
    keys = [make_key(f, {"path": p}) for p in paths for f in ("files.path_info", "files.sha256", "files.listing")]
    keys += [make_key(f"server.{n}", {}) for n in ("hostname", "os_release", "kernel", "arch", "cpus", "memory")]
    keys += [make_key(f"server.{n}", {}) for n in ("users", "groups")]
    keys += [make_key("server.which", {"command": c}) for c in ("sh", "python3", "sudo", "nope", "dpkg", "apt-get")]
    keys += [make_key("sysctl.value", {"key": k}) for k in ("kernel.hostname", "kernel.ostype", "vm.swappiness")]
    keys += [make_key("apt.packages", {}), make_key("apt.sources", {}), make_key("apt.last_update", {})]
    keys += [make_key("cron.crontab", {"user": "root"}), make_key("files.lines", {"path": "/etc/hostname"})]
    keys += [make_key("pip.packages", {}), make_key("systemd.unit", {"name": "ssh"})]
    keys += [make_key("sysctl.values", {"prefix": "kernel.random"}), make_key("git.checkout", {"path": "/root"})]
    assert len(set(keys)) == 50
    return keys


def test_fifty_facts_on_five_hosts_cost_one_round_trip_per_host(lab_hosts: Callable[[int], list[Any]]) -> None:
    lab_hosts(5)
    inventory = load_inventory("@lab/5")
    keys = fifty_keys()
    with Session() as session:
        session.connect(inventory.hosts)
        gatherer = Gatherer(session, None)
        assert gatherer.fetch({h.name: keys for h in inventory.hosts}) == {}
        assert dict(session.round_trips) == {f"h0{i}": 1 for i in range(1, 6)}
        for host in inventory.hosts:
            memo = gatherer.facts(host.name)
            assert all(memo.has(k) for k in keys)
            assert memo.get(make_key("server.hostname", {})) == host.name
            assert memo.get(make_key("files.path_info", {"path": "/missing"})) is None
        # memoised for the run: asking again costs nothing
        assert gatherer.fetch({h.name: keys for h in inventory.hosts}) == {}
        assert dict(session.round_trips) == {f"h0{i}": 1 for i in range(1, 6)}


def test_a_failing_fact_carries_its_remote_type_and_the_others_arrive(lab_hosts: Callable[[int], list[Any]]) -> None:
    lab_hosts(1)
    inventory = load_inventory("@lab/1")
    bad = make_key("files.lines", {"path": "/etc"})  # a directory: ValueError on the target
    good = make_key("server.hostname", {})
    with Session() as session:
        session.connect(inventory.hosts)
        gatherer = Gatherer(session, None)
        assert gatherer.fetch({"h01": [bad, good]}) == {}
    memo = gatherer.facts("h01")
    assert memo.get(good) == "h01"
    with pytest.raises(FactError) as info:
        memo.get(bad)
    assert info.value.remote_type == "ValueError"
    assert "files.lines(max_bytes=1048576, path='/etc') failed: ValueError: /etc is a directory" in info.value.message


def test_facts_of_another_user_run_as_that_user(lab_hosts: Callable[[int], list[Any]]) -> None:
    lab_hosts(1)
    inventory = load_inventory("@lab/1")
    as_root = make_key("files.listing", {"path": "/root"})
    as_lab = make_key("files.listing", {"path": "/root"}, user="lab")
    with Session() as session:
        session.connect(inventory.hosts)
        gatherer = Gatherer(session, None)
        gatherer.fetch({"h01": [as_root, as_lab]})
    memo = gatherer.facts("h01")
    assert isinstance(memo.get(as_root), list)
    with pytest.raises(FactError, match="PermissionError"):
        memo.get(as_lab)


def _fetch_packages(inventory: Any, cache: FactCache) -> tuple[int, dict[str, Any]]:
    key = make_key("apt.packages", {})
    with Session() as session:
        session.connect(inventory.hosts)
        gatherer = Gatherer(session, cache)
        assert gatherer.fetch({"h01": [key]}) == {}
        return session.bytes_received["h01"], gatherer.facts("h01").get(key)


def test_an_unchanged_package_list_is_not_sent_again(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1)
    inventory = load_inventory("@lab/1")
    cache = FactCache(tmp_path)
    first_bytes, first = _fetch_packages(inventory, cache)
    second_bytes, second = _fetch_packages(inventory, cache)
    assert second == first and "python3" in first and "tree" not in first
    assert second_bytes * 20 < first_bytes, (first_bytes, second_bytes)  # measured: ~30 KB vs ~200 B
    status = Path(host.root) / "var/lib/dpkg/status"
    status.write_text(status.read_text() + "\n")  # dpkg's database changed: new mtime and size
    third_bytes, third = _fetch_packages(inventory, cache)
    assert third == first
    assert third_bytes > first_bytes / 2, (first_bytes, third_bytes)
    print(f"apt.packages reply: {first_bytes} B, unchanged {second_bytes} B, changed {third_bytes} B")


def test_cli_facts_table_json_and_cache(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    lab_hosts(3)
    state = ["--state-dir", str(tmp_path)]
    table = invoke(["facts", "@lab/3", "files.path_info", "path=/etc/hostname", *state])
    assert table.exit_code == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()[2:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("h01", "file", "0644"),
        ("h02", "file", "0644"),
        ("h03", "file", "0644"),
    ]
    assert "3/3 hosts: connect" in table.stderr and "1 round trip per host" in table.stderr
    as_json = invoke(["facts", "@lab/3", "apt.packages", "--json", *state])
    assert as_json.exit_code == 0, as_json.stderr
    packages = json.loads(as_json.stdout)
    assert sorted(packages) == ["h01", "h02", "h03"]
    assert packages["h02"]["apt.packages"]["python3"]["arch"] == "amd64"
    cached = invoke(["facts", "@lab/3", "files.path_info", "path=/etc/hostname", "--cached", *state])
    assert cached.exit_code == 0
    assert cached.stdout == table.stdout.replace("\r", "")
    assert "h01: cached " in cached.stderr and " ago" in cached.stderr
    summary = invoke(["facts", "@lab/3", *state])
    assert summary.exit_code == 0 and "Debian GNU/Linux 12 (bookworm)" in summary.stdout
