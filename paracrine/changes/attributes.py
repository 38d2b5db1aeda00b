"""SetAttributes: change a path's mode and owner through a file descriptor, never through a link.

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from paracrine.changes.base import Change, attrs_text, shown
from paracrine.remote import wire

if TYPE_CHECKING:
    from paracrine.predict import Effect

#: Only changes files: a deferred change need not run before it (see paracrine.remote.execute).
FILES_ONLY = True


@dataclasses.dataclass(frozen=True)
class SetAttributes(Change):
    """chmod/chown ``path`` itself (a link's owner only: links have no mode)."""

    kind: ClassVar[str] = "attrs"
    path: str
    mode: int | None = None
    owner: str | None = None
    group: str | None = None

    def describe(self, masked: bool = False) -> str:
        return f"set {attrs_text(self.mode, self.owner, self.group)} on {shown(self.path)}"

    def effects(self) -> list[Effect]:
        from paracrine.predict import path_effects

        return path_effects.attributes(self.path, self.mode, self.owner, self.group)


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Set the attributes that differ."""
    from paracrine.remote import fsops

    uid, gid = fsops.ids(change.get("owner"), change.get("group"))
    outcome["changed"] = fsops.set_attributes(change["path"], mode=change.get("mode"), uid=uid, gid=gid)
