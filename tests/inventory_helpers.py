"""Helpers of the inventory tests: write an inventory file, load it, read what it holds.

``each_format`` (and ``per_format``, its parameters) let a behaviour that ``inventory.py`` and
``inventory.yaml`` share be written once and run for each format.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from paracrine.errors import InventoryError
from paracrine.hosts import Host
from paracrine.inventory import Inventory, load_inventory


def write(directory: Path, name: str, text: str) -> Path:
    """Write ``text`` (dedented, leading newlines dropped) to ``directory/name``."""
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(directory: Path, name: str, text: str) -> Inventory:
    """Write the inventory file and load it as ``-i`` would."""
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
    """The host names, in inventory order."""
    return [h.name for h in inventory]


def host(inventory: Inventory, name: str) -> Host:
    """The host called ``name``, which must exist."""
    found = inventory.get(name)
    assert found is not None, name
    return found


def data(inventory: Inventory, name: str) -> dict[str, Any]:
    """The merged data of host ``name``, as a plain dict."""
    return dict(host(inventory, name).data)


def per_format(py: str | tuple[Any, ...], yaml: str | tuple[Any, ...], case: str = "") -> list[Any]:
    """Parameters of one behaviour written for both inventory formats, with the ids ``py`` and ``yaml``.

    Each side is the file's text, or a tuple of the text and what that format should give. Every
    parameter set starts with the file name, ``inventory.py`` or ``inventory.yaml``, so a test takes
    ``(name, text, *expected)``. A ``case`` name is added to the ids: ``py-CASE`` and ``yaml-CASE``.
    """

    def values(side: str | tuple[Any, ...]) -> tuple[Any, ...]:
        return side if isinstance(side, tuple) else (side,)

    suffix = f"-{case}" if case else ""
    return [
        pytest.param("inventory.py", *values(py), id=f"py{suffix}"),
        pytest.param("inventory.yaml", *values(yaml), id=f"yaml{suffix}"),
    ]


def each_format(
    py: str | tuple[Any, ...], yaml: str | tuple[Any, ...], *, also: tuple[str, ...] = ()
) -> pytest.MarkDecorator:
    """Run the test once per inventory format: it takes ``name`` and ``text``, then the ``also`` values.

    ``@each_format(py="web = ['web1']", yaml="hosts:\\n  web1:\\n")`` runs ``test(tmp_path, name, text)``
    as ``[py]`` with ``("inventory.py", "web = ['web1']")`` and as ``[yaml]`` with the YAML file.
    """
    return pytest.mark.parametrize(("name", "text", *also), per_format(py, yaml))
