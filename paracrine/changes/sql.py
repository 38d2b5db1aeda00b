"""RunSQL: run SQL with ``psql`` on the target, through the local socket, as the ``postgres`` user.

A kind of its own, not a :class:`~paracrine.changes.command.RunCommand`, so
that the plan, ``--json`` and test cases show the SQL that will run (a
command would show only ``psql``: the SQL goes on its standard input, never
on its command line, where ``ps`` would show it and its length is limited).
Sensitive operations (a password in the SQL) show neither.

The connection comes from the environment (``PGDATABASE``, ``PGPORT``), so a
database name is never parsed as a connection string. The command runs with
:func:`paracrine.changes.command.apply` (its own process group, ended when the
run is interrupted).

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from paracrine.changes.base import Change, shown
from paracrine.facts.postgresql import SUPERUSER as SUPERUSER
from paracrine.facts.postgresql import psql_invocation, run_as
from paracrine.remote import wire
from paracrine.secret import MASK

if TYPE_CHECKING:
    from paracrine.predict import Effect

#: How much of the SQL a plan line shows.
SHOWN = 160


@dataclasses.dataclass(frozen=True)
class RunSQL(Change):
    """Run ``sql`` in ``database`` of the server on ``port``, as ``user`` (``postgres``).

    ``predicted`` are its effects on facts when the operation knows them;
    without them the change is opaque (facts read after it are gathered again).
    """

    kind: ClassVar[str] = "sql"
    sql: str
    database: str = "postgres"
    port: int = 5432
    user: str | None = SUPERUSER
    single_transaction: bool = False
    predicted: tuple[Effect, ...] | None = dataclasses.field(default=None, compare=False, metadata={"wire": False})

    def to_json(self, masked: bool = False, contents: bool = False) -> dict[str, Any]:
        data = super().to_json()
        if masked:
            data["sql"] = MASK
        return data

    def describe(self, masked: bool = False) -> str:
        where = f"run SQL in database {shown(self.database)} (port {self.port})"
        where += f" as {self.user}" if self.user else ""
        if masked:
            return f"{where}: {MASK}"
        text = " ".join(self.sql.split())
        return f"{where}: {shown(text if len(text) <= SHOWN else text[: SHOWN - 3] + '...')}"

    def effects(self) -> list[Effect]:
        if self.predicted is not None:
            return list(self.predicted)
        return super().effects()


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Run psql with the SQL on its standard input; a failed statement stops it and fails the change."""
    from paracrine.changes import command

    argv, env = psql_invocation(
        change["port"], change["database"], single_transaction=bool(change.get("single_transaction"))
    )
    try:
        user = run_as(change["user"]) if change.get("user") else None
    except KeyError:
        outcome["error"] = f"there is no user {change['user']!r} to run psql as: is PostgreSQL installed?"
        return
    wire_command = {"argv": argv, "env": env, "stdin": change["sql"].encode("utf-8"), "user": user, "cwd": "/"}
    command.apply(wire_command, outcome)
