"""Target side of the facts phase: run a batch of facts in one call.

Standard library only. Each fact is caught on its own, so one failing fact
comes back as an error entry and the others still arrive.
"""

from __future__ import annotations

import importlib
from typing import Any

from paracrine.fact import lookup
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
    return {"results": [_one(*request) for request in requests], "lock": None}


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
