"""Target side of the facts phase: run a batch of facts in one call.

Standard library only. Each fact is caught on its own, so one failing fact
comes back as an error entry and the others still arrive.
"""

from __future__ import annotations

import collections
import importlib
import threading
from typing import TYPE_CHECKING, Any

from paracrine.fact import lookup

if TYPE_CHECKING:  # only types: a zero-change run ships no more modules than it needs
    from collections.abc import Callable

    from paracrine.remote import wire

MAX_ERROR = 2000
MAX_THREADS = 8
"""Threads a round uses for facts declared ``concurrent=True`` (they wait for processes, not the CPU)."""
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
    _run(_tasks(requests, results))
    return {"results": [_missing() if r is None else r for r in results], "lock": None}


Task = tuple[bool, "Callable[[], None]"]
"""``(concurrent, task)``: a task fills some entries of the results in place."""


def _tasks(requests: list[list[Any]], results: list[wire.FactReply | None]) -> list[Task]:
    """One task per request, or per group of requests of a fact that declares ``batch=``."""
    tasks: list[Task] = []
    batched: dict[tuple[str, str], list[int]] = {}
    for index, (module, function, kwargs, cached_fp) in enumerate(requests):
        spec = _registration(module, function)
        if spec is not None and spec.batch is not None and spec.fingerprint is None:
            batched.setdefault((module, function), []).append(index)
            continue

        def one(index: int = index, request: tuple[Any, ...] = (module, function, kwargs, cached_fp)) -> None:
            results[index] = _one(*request)

        tasks.append((spec is not None and spec.concurrent, one))
    for (module, function), indices in batched.items():

        def many(module: str = module, function: str = function, indices: list[int] = indices) -> None:
            replies = _many(module, function, [requests[i][2] for i in indices])
            for index, reply in zip(indices, replies, strict=True):
                results[index] = reply

        spec = lookup(module, function)
        tasks.append((spec is not None and spec.concurrent, many))
    return tasks


def _run(tasks: list[Task]) -> None:
    """Run the tasks: concurrent ones in up to :data:`MAX_THREADS` threads, the others here meanwhile.

    Facts that wait for a process (``systemctl``, ``psql``, ``dpkg-query``) then wait
    together: the round lasts about as long as its slowest command, not their sum.
    """
    background = collections.deque(task for concurrent, task in tasks if concurrent)
    here = collections.deque(task for concurrent, task in tasks if not concurrent)
    if len(background) <= 1:  # nothing to overlap: no thread
        here.extend(background)
        background.clear()
    threads = [
        threading.Thread(target=_drain, args=(background,), name="paracrine-fact", daemon=True)
        for _ in range(min(MAX_THREADS, len(background)))
    ]
    for thread in threads:
        thread.start()
    _drain(here)
    _drain(background)  # then help with what is left
    for thread in threads:
        thread.join()


def _drain(queue: collections.deque[Callable[[], None]]) -> None:
    while True:
        try:
            task = queue.popleft()
        except IndexError:
            return
        try:  # noqa: SIM105 - no contextlib import on targets for this
            task()
        except SystemExit:  # a fact called sys.exit(): its entries stay None and are reported by _missing()
            pass


def _missing() -> wire.FactReply:
    return {"error": "the fact called sys.exit()", "type": "SystemExit"}


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
