"""A test change kind whose consecutive steps run as one (``merge_key``/``apply_merged``), like apt packages.

Every apply appends one line to the file ``log``: ``single ITEM`` or ``merged A,B,C``.
An item named ``bad`` fails; ``boom`` in a merged run makes the whole call raise.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from paracrine.changes.base import Change
from paracrine.remote import wire


@dataclasses.dataclass(frozen=True)
class Collect(Change):
    """Add ``item`` to the collection ``group`` (a line in ``log``)."""

    kind: ClassVar[str] = "collect"
    log: str
    item: str
    group: str = "main"

    def describe(self, masked: bool = False) -> str:
        return f"collect {self.item}"


def _append(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line + "\n")


def merge_key(change: dict[str, Any]) -> str | None:
    return f"collect:{change['group']}" if change["group"] != "alone" else None


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    if change["item"] == "bad":
        raise ValueError("bad item")
    _append(change["log"], f"single {change['item']}")
    outcome["changed"] = True


def apply_merged(changes: list[dict[str, Any]], outcomes: list[wire.Outcome]) -> None:
    items = [c["item"] for c in changes]
    if "boom" in items:
        raise RuntimeError("the merged call failed")
    _append(changes[0]["log"], "merged " + ",".join(items))
    for change, outcome in zip(changes, outcomes, strict=True):
        if change["item"] == "bad":
            outcome["error"] = "bad item"
        else:
            outcome["changed"] = change["item"] != "same"
