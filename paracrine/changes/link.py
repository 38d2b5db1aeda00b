"""MakeLink: make a path a symbolic link, replacing a link or file there atomically.

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from paracrine.changes.base import Change, shown
from paracrine.remote import wire

if TYPE_CHECKING:
    from paracrine.predict import Effect

#: Only changes files: a deferred change need not run before it (see paracrine.remote.execute).
FILES_ONLY = True


@dataclasses.dataclass(frozen=True)
class MakeLink(Change):
    """Make ``path`` a symbolic link to ``target``, replacing a link or file there atomically."""

    kind: ClassVar[str] = "link"
    path: str
    target: str

    def describe(self, masked: bool = False) -> str:
        return f"link {shown(self.path)} -> {shown(self.target)}"

    def effects(self) -> list[Effect]:
        from paracrine.predict import path_effects

        return path_effects.link(self.path, self.target)


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Create or replace the link (a temporary link renamed over the path); a directory there is an error."""
    from paracrine.remote import fsops

    outcome["changed"] = fsops.make_link(change["path"], change["target"])
