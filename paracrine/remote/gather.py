"""Target side of the facts phase: run a batch of facts in one call.

Standard library only. Each fact is caught on its own, so one failing fact
comes back as an error entry and the others still arrive.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from paracrine.fact import lookup

if TYPE_CHECKING:  # only types: a zero-change run ships no more modules than it needs
    from paracrine.remote import wire

MAX_ERROR = 2000
_BUILTIN_SCALARS = (str, int, float, bool, bytes, type(None))


def gather(requests: list[list[Any]], lock: dict[str, Any] | None = None) -> wire.GatherReply:
    """Run facts and return one result per request, in order.

    Args:
        requests: ``[module, function, kwargs, cached_fingerprint]`` items.
        lock: ``{"holder": text, "wait": seconds}`` to take the host's run lock
            first (:mod:`paracrine.remote.lock`); if another run holds it, no
            fact runs and the reply names the holder.

    Returns:
        ``{"results": [...], "lock": None | {"held": True, "holder": ...}}``; per
        request one of ``{"value": v, "fp": fp}``, ``{"same": True, "fp": fp}``
        (the fingerprint matched the cached one, so the value is not re-sent) or
        ``{"error": "message", "type": "ExceptionType"}``.
    """
    if lock is not None:
        from paracrine.remote import lock as run_lock

        holder = run_lock.acquire(str(lock["holder"]), float(lock.get("wait", 0)))
        if holder is not None:
            return {"results": [], "lock": {"held": True, "holder": holder}}
    results: list[wire.FactReply | None] = [None] * len(requests)
    batched: dict[tuple[str, str], list[int]] = {}
    for index, (module, function, kwargs, cached_fp) in enumerate(requests):
        spec = _registration(module, function)
        if spec is not None and spec.batch is not None and spec.fingerprint is None:
            batched.setdefault((module, function), []).append(index)
        else:
            results[index] = _one(module, function, kwargs, cached_fp)
    for (module, function), indices in batched.items():
        for index, reply in zip(indices, _many(module, function, [requests[i][2] for i in indices]), strict=True):
            results[index] = reply
    return {"results": [r for r in results if r is not None], "lock": None}


def _registration(module: str, function: str) -> Any:
    try:
        importlib.import_module(module)
    except Exception:
        return None  # _one reports the import error
    return lookup(module, function)


def _many(module: str, function: str, many: list[dict[str, Any]]) -> list[wire.FactReply]:
    """Several requests of a fact that declares ``batch=``: one call for all of them."""
    if len(many) == 1:
        return [_one(module, function, many[0], None)]
    try:
        spec = lookup(module, function)
        values = spec.batch(many) if spec is not None and spec.batch is not None else []
        replies: list[wire.FactReply] = []
        for value in values:
            _check_builtin(value)
            replies.append({"value": value, "fp": None})
        if len(replies) != len(many):
            raise ValueError(f"the batch form returned {len(replies)} values for {len(many)} requests")
        return replies
    except Exception:  # fall back to one call each: each request gets its own value or error
        return [_one(module, function, kwargs, None) for kwargs in many]


def _one(module: str, function: str, kwargs: dict[str, Any], cached_fp: Any) -> wire.FactReply:
    try:
        func = getattr(importlib.import_module(module), function)
        spec = lookup(module, function)
        fp = spec.fingerprint(**kwargs) if spec is not None and spec.fingerprint is not None else None
        if fp is not None and fp == cached_fp:
            return {"same": True, "fp": fp}
        value = func(**kwargs)
        _check_builtin(value)
        return {"value": value, "fp": fp}
    except Exception as exc:  # any fact failure is reported, never raised
        return {"error": str(exc)[:MAX_ERROR] or repr(exc)[:MAX_ERROR], "type": type(exc).__name__}


def _check_builtin(value: Any) -> None:
    """Refuse values Mitogen cannot send back (sets, datetimes, dataclasses...)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _BUILTIN_SCALARS):
            continue
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            raise TypeError(f"fact returned a {type(item).__name__}; facts must return builtins only")
