"""The controller's view of registered facts: names, signatures, docs, argument binding."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paracrine.binding import Binder
from paracrine.fact import BUILTIN_PREFIX, REGISTRY, Registered, fact_name, generation

__all__ = ["BUILTIN_PREFIX", "FactParam", "FactSpec", "registered", "spec_of"]


@dataclass(frozen=True)
class FactParam:
    """One parameter of a fact, for validation and ``paracrine facts --list NAME``."""

    name: str
    annotation: str
    required: bool
    default: Any = None


@dataclass(frozen=True)
class FactSpec:
    """A registered fact: the function plus what the CLI and the gatherer need to know."""

    name: str
    func: Callable[..., Any]
    doc: str
    params: tuple[FactParam, ...]
    returns: str
    fingerprint: Callable[..., Any] | None = None
    prefetch: bool = True  # False: runs a command; only when this run's deploy asks for it
    cache: bool = True  # False: contents (maybe secret); never stored in the controller's cache

    @property
    def module(self) -> str:
        return str(self.func.__module__)

    @property
    def function(self) -> str:
        return str(self.func.__name__)

    @property
    def summary(self) -> str:
        """The first line of the docstring."""
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""

    def bind(self, args: dict[str, Any]) -> dict[str, Any]:
        """Check ``args`` against the signature; returns them with defaults filled in.

        Raises TypeError with a readable message (callers turn it into ArgumentError).
        """
        return _binder(self.func).bind((), args)


@functools.cache
def _binder(func: Callable[..., Any]) -> Binder:
    return Binder(inspect.signature(func))


def _annotation_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", None) or repr(annotation)


_SPECS: dict[int, FactSpec] = {}


def _spec(entry: Registered) -> FactSpec:
    cached = _SPECS.get(id(entry))
    if cached is not None:
        return cached
    func = entry.func
    sig = inspect.signature(func)
    params = tuple(
        FactParam(
            name=p.name,
            annotation=_annotation_text(p.annotation),
            required=p.default is inspect.Parameter.empty,
            default=None if p.default is inspect.Parameter.empty else p.default,
        )
        for p in sig.parameters.values()
    )
    spec = FactSpec(
        name=fact_name(func),
        func=func,
        doc=inspect.getdoc(func) or "",
        params=params,
        returns=_annotation_text(sig.return_annotation),
        fingerprint=entry.fingerprint,
        prefetch=entry.prefetch,
        cache=entry.cache,
    )
    _SPECS[id(entry)] = spec
    return spec


def spec_of(func: Callable[..., Any]) -> FactSpec:
    """The spec of a registered fact function; TypeError if it is not one."""
    entry = REGISTRY.get((str(getattr(func, "__module__", "")), str(getattr(func, "__name__", ""))))
    if entry is None or entry.func is not func:
        raise TypeError(f"{func!r} is not a registered @fact function")
    return _spec(entry)


_BY_NAME: tuple[int, dict[str, FactSpec]] = (-1, {})


def registered() -> dict[str, FactSpec]:
    """Every fact registered so far, by name (import modules first to register them).

    Built again only when a fact was registered since the last call (planning asks often).
    """
    global _BY_NAME
    if _BY_NAME[0] != generation[0]:
        _BY_NAME = (generation[0], {spec.name: spec for spec in map(_spec, list(REGISTRY.values()))})
    return _BY_NAME[1]
