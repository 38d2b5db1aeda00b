"""A test change kind that runs once per batch, as late as it may (``DEFER``), like ``systemctl daemon-reload``.

Applying appends ``reload NAME`` to the file ``log``; ``fail=True`` makes it fail
with output (so tests can check what a sensitive step hides); ``changed=False``
reports no change.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from paracrine.changes.base import Change
from paracrine.remote import wire

DEFER = True


@dataclasses.dataclass(frozen=True)
class Reload(Change):
    """Reload ``name`` once, after the steps that ask for it."""

    kind: ClassVar[str] = "reload"
    log: str
    name: str = "daemon"
    fail: bool = False
    changed: bool = True

    def describe(self, masked: bool = False) -> str:
        return f"reload {self.name}"


def merge_key(change: dict[str, Any]) -> str:
    return f"reload:{change['name']}"


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    with open(change["log"], "a", encoding="utf-8") as stream:
        stream.write(f"reload {change['name']}\n")
    outcome["stdout"] = "reload output"
    if change["fail"]:
        outcome["rc"] = 1
        outcome["error"] = "reload failed: secret detail"
        return
    outcome["changed"] = change["changed"]
