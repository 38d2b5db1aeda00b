"""``@fact``: register a stdlib-only function that runs on targets and returns builtins.

A fact is a plain module-level function. ``@fact`` records its metadata in a
registry and returns the function itself, so it stays directly callable (in
tests, or locally) and Mitogen can call it on a target by module and name::

    @fact
    def path_info(path: str) -> PathInfo | None:
        '''Describe `path` without following links; None if nothing is there.'''

Names are stable: ``<domain>.<function>`` for the built-in library
(``paracrine.facts.<domain>``), ``<package.module>.<function>`` otherwise.

An expensive fact may declare a cheap ``fingerprint`` function taking the same
arguments (e.g. mtime and size of /var/lib/dpkg/status). The target computes it
first; when it equals the fingerprint cached on the controller, the value is
not sent again.

Standard library only: fact modules import this on targets.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

BUILTIN_PREFIX = "paracrine.facts."

F = TypeVar("F", bound=Callable[..., Any])


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
        bound = inspect.signature(self.func).bind(**args)
        bound.apply_defaults()
        return dict(bound.arguments)


_REGISTRY: dict[str, FactSpec] = {}
_BY_FUNCTION: dict[tuple[str, str], FactSpec] = {}


def fact_name(func: Callable[..., Any]) -> str:
    """The stable registry name of a fact function."""
    module = str(func.__module__)
    if module.startswith(BUILTIN_PREFIX):
        module = module[len(BUILTIN_PREFIX) :]
    return f"{module}.{func.__name__}"


def _annotation_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", None) or repr(annotation)


def _make_spec(func: Callable[..., Any], fingerprint: Callable[..., Any] | None) -> FactSpec:
    if "." in func.__qualname__:
        raise TypeError(f"@fact needs a module-level function, got {func.__qualname__}")
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
    return FactSpec(
        name=fact_name(func),
        func=func,
        doc=inspect.getdoc(func) or "",
        params=params,
        returns=_annotation_text(sig.return_annotation),
        fingerprint=fingerprint,
    )


@overload
def fact(func: F) -> F: ...
@overload
def fact(*, fingerprint: Callable[..., Any] | None = None) -> Callable[[F], F]: ...


def fact(func: F | None = None, *, fingerprint: Callable[..., Any] | None = None) -> F | Callable[[F], F]:
    """Register ``func`` as a fact and return it unchanged.

    Args:
        func: a module-level, stdlib-only function returning builtins
            (dict/list/str/int/float/bool/bytes/None).
        fingerprint: optional cheap function with the same parameters whose
            result changes whenever the fact's value may have changed.

    Example:
        >>> @fact
        ... def uptime() -> float:
        ...     '''Seconds since boot.'''
    """

    def register(f: F) -> F:
        spec = _make_spec(f, fingerprint)
        _REGISTRY[spec.name] = spec
        _BY_FUNCTION[(spec.module, spec.function)] = spec
        return f

    return register(func) if func is not None else register


def spec_of(func: Callable[..., Any]) -> FactSpec:
    """The spec of a registered fact function; TypeError if it is not one."""
    try:
        return _BY_FUNCTION[(str(func.__module__), str(func.__name__))]
    except (KeyError, AttributeError):
        raise TypeError(f"{func!r} is not a registered @fact function") from None


def lookup(module: str, function: str) -> FactSpec | None:
    """The spec registered for ``module.function`` (after importing the module)."""
    return _BY_FUNCTION.get((module, function))


def registered() -> dict[str, FactSpec]:
    """Every fact registered so far, by name (import modules first to register them)."""
    return dict(_REGISTRY)
