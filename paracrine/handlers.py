"""Handlers, in one place: their identity, durable pending triggers, and the "triggered" rule.

A *handler* is an operation call with ``reload_on=[...]`` (or named in another
call's ``notify=[...]``). It runs only when one of its triggers changed
something, once however many did.

Triggers are durable. When a triggering step changes something, the target
records the handler as *pending* (a file under ``<state dir>/pending/``)
before the run goes on; the record is removed when the handler has run. A run
that stops in between (a failure, a lost connection, Ctrl-C) leaves the record,
and the next run reads it (the :func:`pending_handlers` fact) and runs the
handler even though nothing changes this time.

A handler's key is its *identity in the deploy*, not its arguments: its
``title=`` if it has one, else its operation and the operations it handles. So
a handler whose command failed and that the user then fixed still runs, and a
record whose handler left the deploy is reported as stale and removed.

Here: :func:`assign_keys`, :func:`is_triggered`, :func:`triggers`, :func:`step_fields`,
:func:`stale`. The target half (standard library only) is :mod:`paracrine.remote.pending`:
:func:`pending_handlers`, :func:`mark_pending`, :func:`clear_pending` (re-exported here); it is a
module of its own so that what is shipped to targets on every run refers to no controller module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from paracrine.remote.pending import clear_pending as clear_pending
from paracrine.remote.pending import mark_pending as mark_pending
from paracrine.remote.pending import pending_handlers as pending_handlers

if TYPE_CHECKING:
    from paracrine.factkey import FactKey
    from paracrine.operation import OpCall
    from paracrine.remote.wire import HandlerWire

PENDING_FACT = "paracrine.remote.pending.pending_handlers"

# ---------------------------------------------------------------- controller side


def assign_keys(calls: Sequence[OpCall], deploy: str) -> None:
    """Give every handler among one host's ``calls`` its stable key in ``deploy`` (:attr:`OpCall.handler_key`).

    The key is the handler's title if it has one, else its operation and the
    operations it handles; handlers with the same identity are told apart by their order.
    """
    seen: dict[str, int] = {}
    for call in calls:
        if not call.is_handler:
            continue
        identity = json.dumps(_identity(call))
        occurrence = seen.get(identity, 0)
        seen[identity] = occurrence + 1
        text = json.dumps([deploy, identity, occurrence])
        call.handler_key = hashlib.sha256(text.encode()).hexdigest()[:20]


def _identity(call: OpCall) -> list[Any]:
    if call.options.title:
        return ["title", call.options.title]
    return ["op", call.op.name, sorted(t.label for t in call.triggers)]


def pending_fact_key() -> FactKey:
    """The fact key of the pending records (read in every run's first fact round)."""
    from paracrine.gather import make_key

    return make_key(PENDING_FACT, {})


def is_triggered(call: OpCall, pending: Collection[str], changed: Collection[int]) -> bool:
    """A handler runs when a record of an earlier run is pending or one of its triggers changes now."""
    return call.handler_key in pending or any(t.index in changed for t in call.triggers)


def triggers(call: OpCall) -> list[list[str]]:
    """The handlers ``call`` triggers, as ``[key, label]`` (recorded as pending when it changes)."""
    unique = {id(h): h for h in call.handlers}
    return [[h.handler_key, h.title] for h in unique.values()]


def step_fields(call: OpCall, in_batch: Collection[int], pending: Collection[str]) -> HandlerWire | None:
    """The handler part of ``call``'s step in a batch (None for calls that are not handlers)."""
    if not call.is_handler:
        return None
    when = sorted(t.index for t in call.triggers if t.index in in_batch)
    return {"key": call.handler_key, "when_changed": when, "force": call.handler_key in pending}


def stale(
    calls: Sequence[OpCall], deploy: str, pending: Mapping[str, Mapping[str, Any]], idle: Collection[OpCall] = ()
) -> dict[str, str]:
    """Pending records to remove, with why: ``{key: reason}``.

    Records of ``deploy`` whose handler left it, records of older Paracrine
    versions (no deploy recorded; their keys can no longer match), and records of
    ``idle`` handlers: triggered by the record, they plan nothing to do (a restart of
    a stopped service), so nothing would ever clear it.
    """
    live = {c.handler_key for c in calls if c.is_handler}
    reasons = {
        key: f"forget the pending trigger of {str(record.get('label') or key)!r}: its handler left the deploy"
        for key, record in pending.items()
        if record.get("deploy") in (deploy, None) and key not in live
    }
    for call in idle:
        if call.is_handler and call.handler_key in pending:
            reasons[call.handler_key] = f"forget the pending trigger of {call.title!r}: its handler has nothing to do"
    return reasons
