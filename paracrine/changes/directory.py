"""MakeDirectory: create a directory (and missing parents) or fix its attributes, never through a link.

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
class MakeDirectory(Change):
    """Create directory ``path`` (and missing parents) with the given attributes."""

    kind: ClassVar[str] = "mkdir"
    path: str
    mode: int | None = None
    owner: str | None = None
    group: str | None = None

    def describe(self, masked: bool = False) -> str:
        attrs = attrs_text(self.mode, self.owner, self.group)
        return f"create directory {shown(self.path)}" + (f" ({attrs})" if attrs else "")

    def effects(self) -> list[Effect]:
        from paracrine.predict import path_effects

        return path_effects.directory(self.path, self.mode, self.owner, self.group)


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Create the directory (mode 0755 unless given), or set the attributes that differ."""
    from paracrine.remote import fsops

    uid, gid = fsops.ids(change.get("owner"), change.get("group"))
    outcome["changed"] = fsops.make_directory(change["path"], mode=change.get("mode"), uid=uid, gid=gid)
