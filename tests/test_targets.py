"""Choosing a command's hosts (paracrine/targets.py): ``select`` with -i, --limit and a target."""

from __future__ import annotations

from pathlib import Path

import pytest
from inventory_helpers import names, write

from paracrine.errors import InventoryError
from paracrine.targets import select


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
