"""RemovePath: remove a path (a directory only with ``recursive``), never following a link.

``/`` and the top-level system directories are refused unless the operation
passes ``force=True`` (:data:`PROTECTED`); ``/`` itself is refused on the
target whatever the controller asks.

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import dataclasses
import posixpath
from typing import TYPE_CHECKING, Any, ClassVar

from paracrine.changes.base import Change, shown
from paracrine.remote import wire

if TYPE_CHECKING:
    from paracrine.predict import Effect

#: Only changes files: a deferred change need not run before it (see paracrine.remote.execute).
FILES_ONLY = True

#: Paths that are never removed without ``force=True``: "/", every top-level
#: directory of a Debian system, and the system's own configuration and data.
PROTECTED = frozenset(
    ["/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt",
     "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
     "/usr/bin", "/usr/lib", "/usr/local", "/usr/sbin", "/usr/share", "/var/lib", "/var/log", "/etc/ssh"]
)  # fmt: skip


def is_protected(path: str) -> bool:
    """Whether removing ``path`` needs ``force=True``."""
    return posixpath.normpath("/" + path.lstrip("/")) in PROTECTED


@dataclasses.dataclass(frozen=True)
class RemovePath(Change):
    """Remove ``path`` (a directory only with ``recursive``)."""

    kind: ClassVar[str] = "remove"
    path: str
    recursive: bool = False
    force: bool = dataclasses.field(default=False, metadata={"wire": False})

    def __post_init__(self) -> None:
        if self.path != posixpath.normpath(self.path) or not self.path.startswith("/"):
            raise ValueError(f"RemovePath needs a normalised absolute path, got {self.path!r}")
        if is_protected(self.path) and not self.force:
            raise ValueError(f"refusing to remove {self.path}, a system directory; pass force=True if you mean it")

    def describe(self, masked: bool = False) -> str:
        return f"remove {shown(self.path)}" + (" (recursively)" if self.recursive else "")

    def effects(self) -> list[Effect]:
        from paracrine.predict import path_effects

        return path_effects.removed(self.path)


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Remove what is at the path (a link itself, never what it points to)."""
    from paracrine.remote import fsops

    if posixpath.normpath(change["path"]) == "/":
        raise ValueError("refusing to remove /")
    outcome["changed"] = fsops.remove(change["path"], recursive=bool(change.get("recursive")))
