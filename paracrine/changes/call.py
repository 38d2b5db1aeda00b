"""CallFunction: call a stdlib-only function on the target, for changes no other kind expresses.

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from paracrine.changes.base import Change, shown
from paracrine.remote import wire
from paracrine.secret import MASK

if TYPE_CHECKING:
    from paracrine.predict import Effect


@dataclasses.dataclass(frozen=True)
class CallFunction(Change):
    """Call ``module.function(**kwargs)`` on the target.

    The function returns a dict with at least ``changed`` (bool); it may add
    ``stdout``/``stderr`` text for the report, or ``error`` to fail the step.
    """

    kind: ClassVar[str] = "call"
    function_module: str
    function: str
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    predicted: tuple[Effect, ...] | None = dataclasses.field(default=None, compare=False, metadata={"wire": False})

    @classmethod
    def of(cls, func: Callable[..., Any], predicted: Sequence[Effect] | None = None, **kwargs: Any) -> CallFunction:
        return cls(func.__module__, func.__name__, kwargs, None if predicted is None else tuple(predicted))

    def to_wire(self) -> dict[str, Any]:
        data = super().to_wire()
        data["kwargs"] = dict(self.kwargs)
        return data

    def to_json(self, masked: bool = False, contents: bool = False) -> dict[str, Any]:
        data = super().to_json()
        if masked:
            data["kwargs"] = dict.fromkeys(self.kwargs, MASK)
        return data

    def describe(self, masked: bool = False) -> str:
        args = ", ".join(f"{k}={MASK if masked else shown(repr(v))}" for k, v in self.kwargs.items())
        return f"call {self.function_module}.{self.function}({args})"

    def effects(self) -> list[Effect]:
        if self.predicted is not None:
            return list(self.predicted)
        return super().effects()


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Import the module, call the function, and take ``changed``/``stdout``/``stderr``/``error`` from its reply."""
    import importlib

    func = getattr(importlib.import_module(change["function_module"]), change["function"])
    reply = func(**change.get("kwargs", {})) or {}
    outcome["changed"] = bool(reply.get("changed", True))
    outcome["stdout"] = wire.tail(str(reply.get("stdout", "")))
    outcome["stderr"] = wire.tail(str(reply.get("stderr", "")))
    if reply.get("error"):
        outcome["error"] = str(reply["error"])[: wire.MAX_ERROR]
