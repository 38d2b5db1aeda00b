"""Choosing the hosts of a command and connecting to them, with timings."""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from paracrine.errors import InventoryError
from paracrine.inventory import INVENTORY_NAMES, Inventory, load_inventory

_LAB_NAME = re.compile(r"h\d{2,3}")
#: The TARGET that means every host of the inventory.
ALL = "all"


def has_default_inventory(base_dir: Path | None = None) -> bool:
    """Whether ``base_dir`` (the current directory) holds an ``inventory.py`` or ``inventory.yaml``."""
    return any(((base_dir or Path.cwd()) / n).is_file() for n in INVENTORY_NAMES)


def select(
    inventory: str | None,
    limits: Sequence[str],
    *,
    target: str | None = None,
    base_dir: Path | None = None,
    offline: bool = False,
    relays: int = 0,
) -> Inventory:
    """The inventory of a command, limited.

    ``target`` (``paracrine facts TARGET``) is an inventory spec when it is a
    connector or a list (``@lab/3``, ``web1,web2``); otherwise it limits the
    inventory (``-i`` or the default one) like ``--limit``; ``all`` keeps every
    host. With no inventory at
    all, a name is a host of the running lab (``h01``, or a glob like ``h0*``),
    else an SSH host by that name; a lab host name while that host is not running
    is an error saying so. ``offline`` (``--cached``): names are only names.
    ``relays`` (``--relays N``): pick N relay hosts and route the others through them.
    """
    from paracrine.relays import assign

    return assign(_select(inventory, limits, target, base_dir, offline), relays)


def _select(
    inventory: str | None, limits: Sequence[str], target: str | None, base_dir: Path | None, offline: bool
) -> Inventory:
    patterns = list(limits)
    if target is not None:
        has_default = has_default_inventory(base_dir)
        if target.startswith("@") or "," in target:
            if inventory is not None:
                raise InventoryError(f"{target!r} is an inventory itself; drop -i or name a host or group of it")
            inventory = target
        elif inventory is None and not has_default:
            if offline:
                inventory = target
            else:
                return _bare_target(target).limit(patterns)
        elif target != ALL:
            patterns.append(target)
    return load_inventory(inventory, base_dir).limit(patterns)


def _bare_target(target: str) -> Inventory:
    """A name in no inventory: host(s) of the running lab, else an SSH host name."""
    from paracrine.inventory import InventoryBuilder, lab_host_data
    from paracrine.lab.paths import lab_paths
    from paracrine.lab.state import read_inventory

    lab = read_inventory(lab_paths())
    matched = [h for h in lab if h.name == target or fnmatch.fnmatchcase(h.name, target)]
    if matched:
        builder = InventoryBuilder("the lab")
        for host in matched:
            builder.add_host(host.name, lab_host_data(host))
        return builder.build()
    glob = any(c in target for c in "*?[")
    if glob or _LAB_NAME.fullmatch(target):
        hint = "start lab hosts with `paracrine lab up N`, or pass -i INVENTORY"
        raise InventoryError(
            f"{target!r} is in no inventory, and the lab {'has no such host' if lab else 'is not running'}",
            hint=hint if glob else f"{hint} (`-i {target}` for an SSH host of that name)",
        )
    return load_inventory(target)


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
