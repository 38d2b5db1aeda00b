"""Choosing the hosts of a command and connecting to them, with timings."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paracrine.errors import InventoryError
from paracrine.inventory import INVENTORY_NAMES, Inventory, load_inventory


def select(
    inventory: str | None, limits: Sequence[str], *, target: str | None = None, base_dir: Path | None = None
) -> Inventory:
    """The inventory of a command, limited.

    ``target`` (``paracrine facts TARGET``) is an inventory spec when it is a
    connector or a list (``@lab/3``, ``web1,web2``) or when there is no
    inventory to limit; otherwise it limits the inventory like ``--limit``.
    """
    patterns = list(limits)
    if target is not None:
        has_default = any(((base_dir or Path.cwd()) / n).is_file() for n in INVENTORY_NAMES)
        if target.startswith("@") or "," in target or (inventory is None and not has_default):
            if inventory is not None:
                raise InventoryError(f"{target!r} is an inventory itself; drop -i or name a host or group of it")
            inventory = target
        else:
            patterns.append(target)
    return load_inventory(inventory, base_dir).limit(patterns)


@dataclass
class Timings:
    """Wall time per phase, in seconds."""

    phases: dict[str, float] = field(default_factory=dict)
    _start: float = field(default_factory=time.perf_counter)

    def mark(self, phase: str) -> None:
        """Record the time since the previous mark under ``phase`` (accumulating)."""
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._start
        self._start = now

    def summary(self) -> str:
        return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.phases.items())
