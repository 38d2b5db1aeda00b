"""DaemonReload: ``systemctl daemon-reload``, once per batch however many unit files changed.

A deferred kind (``DEFER``, see :mod:`paracrine.remote.execute`): every step
that asks for it gets the one reload, which runs just before the first later
step that needs one of those steps or runs more than file changes (starting a
service, say), or at the end of the batch.

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from paracrine.changes.base import Change
from paracrine.remote import wire

if TYPE_CHECKING:
    from paracrine.predict import Effect

#: Runs once, late: see paracrine.remote.execute.
DEFER = True
#: A step of unit file writes and this (deferred) reload needs no pending reload run before it, so
#: consecutive systemd.unit steps share one reload (see paracrine.remote.execute).
FILES_ONLY = True
ARGV = ("systemctl", "daemon-reload")


@dataclasses.dataclass(frozen=True)
class DaemonReload(Change):
    """Make systemd read the unit files again.

    ``predicted`` are the effects on the ``systemd.unit`` facts of the units
    whose files changed (the operation knows them); without them, every
    ``systemd.*`` fact is opaque after it.
    """

    kind: ClassVar[str] = "daemon-reload"
    predicted: tuple[Effect, ...] | None = dataclasses.field(default=None, compare=False, metadata={"wire": False})

    def describe(self, masked: bool = False) -> str:
        return "run systemctl daemon-reload (once, after the unit files are written)"

    def effects(self) -> list[Effect]:
        from paracrine.predict import Effect

        if self.predicted is not None:
            return list(self.predicted)
        return [Effect.opaque(lambda key: key.name.startswith("systemd."))]


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Run ``systemctl daemon-reload``."""
    from paracrine.changes import command

    command.apply({"argv": list(ARGV)}, outcome)
