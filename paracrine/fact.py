"""``@fact``: register a stdlib-only function that runs on targets and returns builtins.

A fact is a plain module-level function. ``@fact`` records it in a registry and
returns the function itself, so it stays directly callable (in tests, or
locally) and Mitogen can call it on a target by module and name::

    @fact
    def path_info(path: str) -> PathInfo | None:
        '''Describe `path` without following links; None if nothing is there.'''

Names are stable: ``<domain>.<function>`` for the built-in library
(``paracrine.facts.<domain>``), ``<package.module>.<function>`` otherwise.

An expensive fact may declare a cheap ``fingerprint`` function taking the same
arguments (e.g. mtime and size of /var/lib/dpkg/status). The target computes it
first; when it equals the fingerprint cached on the controller, the value is
not sent again.

This module is imported on every target on every connection, so it is tiny and
imports nothing at run time; the controller's view of a fact (signature, docs)
is :class:`paracrine.factspec.FactSpec`, built from this registry on demand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, overload

    F = TypeVar("F", bound=Callable[..., Any])
else:  # typing is not imported on targets; overloads only matter to type checkers

    def overload(func):
        return func


BUILTIN_PREFIX = "paracrine.facts."


class Registered:
    """A registered fact function and what it declares about itself (see :func:`fact`)."""

    __slots__ = ("batch", "cache", "concurrent", "derive", "fingerprint", "func", "paths", "prefetch")

    def __init__(
        self,
        func: Callable[..., Any],
        fingerprint: Callable[..., Any] | None = None,
        *,
        prefetch: bool = True,
        cache: bool = True,
        paths: Callable[..., list[str]] | None = None,
        derive: Callable[..., Any] | None = None,
        batch: Callable[[list[dict[str, Any]]], list[Any]] | None = None,
        concurrent: bool = False,
    ) -> None:
        self.func = func
        self.batch = batch
        self.concurrent = concurrent
        self.fingerprint = fingerprint
        self.prefetch = prefetch
        self.cache = cache
        self.paths = paths
        self.derive = derive


#: (module, function name) -> registration, in registration order.
REGISTRY: dict[tuple[str, str], Registered] = {}
_BY_NAME: dict[str, Registered] = {}
#: Names of the facts that declare ``paths=`` (the planner looks them up on every fact read).
WITH_PATHS: set[str] = set()
#: Incremented at every registration, so the controller's views of the registry know when to rebuild.
generation = [0]


def fact_name(func: Callable[..., Any]) -> str:
    """The stable registry name of a fact function."""
    module = str(func.__module__)
    if module.startswith(BUILTIN_PREFIX):
        module = module[len(BUILTIN_PREFIX) :]
    return f"{module}.{func.__name__}"


@overload
def fact(func: F) -> F: ...
@overload
def fact(  # noqa: F811
    *,
    fingerprint: Callable[..., Any] | None = None,
    prefetch: bool = True,
    cache: bool = True,
    paths: Callable[..., list[str]] | None = None,
    derive: Callable[..., Any] | None = None,
    batch: Callable[[list[dict[str, Any]]], list[Any]] | None = None,
    concurrent: bool = False,
) -> Callable[[F], F]: ...


def fact(  # noqa: F811
    func: F | None = None,
    *,
    fingerprint: Callable[..., Any] | None = None,
    prefetch: bool = True,
    cache: bool = True,
    paths: Callable[..., list[str]] | None = None,
    derive: Callable[..., Any] | None = None,
    batch: Callable[[list[dict[str, Any]]], list[Any]] | None = None,
    concurrent: bool = False,
) -> F | Callable[[F], F]:
    """Register ``func`` as a fact and return it unchanged.

    Args:
        func: a module-level, stdlib-only function returning builtins
            (dict/list/str/int/float/bool/bytes/None).
        fingerprint: optional cheap function with the same parameters whose
            result changes whenever the fact's value may have changed.
        prefetch: False for a fact that runs a command named in its arguments
            (``server.command_status``): it runs only when this run's deploy asks
            for it, never because an earlier run did.
        cache: False for a fact whose value is file contents or otherwise may be
            secret: it is never written to the controller's fact cache.
        paths: for a fact that reads files, a function of its arguments giving
            the absolute paths it reads. A change planned earlier in the run on
            one of them (a write, a link, a removal...) then makes the fact's
            value come from ``derive``, or be gathered again after that change ran.
        derive: ``derive(fact, **args)`` computes the fact's value from other
            facts as the run predicts them (``fact("files.path_info", path=...)``),
            so later operations see the effect of earlier changes without a round trip.
        batch: ``batch([kwargs, ...]) -> [value, ...]``: the values of several
            requests of this fact in one go (one ``systemctl show`` for every
            unit a plan reads); used when a round asks for more than one.
        concurrent: True for a fact that mostly waits for a process it starts
            (``dpkg-query``, ``systemctl``, ``psql``): the target runs it in a
            thread, alongside the round's other facts, instead of after them.
            Such a fact must not change process-wide state (working directory,
            umask, user ids, environment, signal handlers) and must start its
            processes with :mod:`subprocess` arguments, never ``preexec_fn``.

    Example:
        >>> @fact
        ... def uptime() -> float:
        ...     '''Seconds since boot.'''
    """

    def register(f: F) -> F:
        if "." in f.__qualname__:
            raise TypeError(f"@fact needs a module-level function, got {f.__qualname__}")
        entry = Registered(
            f,
            fingerprint,
            prefetch=prefetch,
            cache=cache,
            paths=paths,
            derive=derive,
            batch=batch,
            concurrent=concurrent,
        )
        REGISTRY[(str(f.__module__), f.__name__)] = entry
        _BY_NAME[fact_name(f)] = entry
        if paths is not None:
            WITH_PATHS.add(fact_name(f))
        else:
            WITH_PATHS.discard(fact_name(f))
        generation[0] += 1
        return f

    return register(func) if func is not None else register


def lookup(module: str, function: str) -> Registered | None:
    """The registration of ``module.function`` (after importing the module), or None."""
    return REGISTRY.get((module, function))


def by_name(name: str) -> Registered | None:
    """The registration of a fact by its stable name (``files.path_info``), if it is registered."""
    return _BY_NAME.get(name)
