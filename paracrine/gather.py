"""Controller side of the facts phase: keys, the in-run memo, and batched gathering.

All facts a host needs are fetched in **one remote call per host** (per
become-user), all hosts in parallel, through :meth:`Session.call_all`. Results
are memoised for the run by :class:`FactKey` (host, fact, arguments,
become-user) and written to the disk cache.
"""

from __future__ import annotations

import functools
import importlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from paracrine.errors import ArgumentError, FactError, UnknownFactError, did_you_mean
from paracrine.factcache import CachedFact, FactCache
from paracrine.factspec import BUILTIN_PREFIX, FactSpec, registered, spec_of


@dataclass(frozen=True)
class FactKey:
    """A fact with its bound arguments, as one cacheable unit of one host."""

    name: str
    args_json: str  # canonical JSON of the bound arguments
    user: str | None = None

    @functools.cached_property
    def args(self) -> dict[str, Any]:
        """The bound arguments (shared: do not modify)."""
        result: dict[str, Any] = json.loads(self.args_json)
        return result

    def sort_key(self) -> tuple[str, str, str]:
        return (self.name, self.args_json, self.user or "")

    @property
    def id(self) -> str:
        return json.dumps([self.name, self.args, self.user], sort_keys=True)

    def label(self) -> str:
        """``files.path_info(path='/etc/hosts')``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.name}({args})" + (f" as {self.user}" if self.user else "")


def make_key(func_or_name: Callable[..., Any] | str, args: Mapping[str, Any], user: str | None = None) -> FactKey:
    """Validate ``args`` against the fact's signature and build its key."""
    spec = resolve_fact(func_or_name)
    try:
        bound = spec.bind(dict(args))
    except TypeError as exc:
        raise ArgumentError(f"{spec.name}: {exc}") from None
    try:
        args_json = json.dumps(bound, sort_keys=True)
    except TypeError as exc:
        raise ArgumentError(f"{spec.name}: arguments must be JSON-like builtins ({exc})") from None
    return FactKey(spec.name, args_json, user)


def load_builtin_facts() -> None:
    """Import every module of the built-in fact library so all its facts are registered."""
    import pkgutil

    import paracrine.facts

    for info in pkgutil.iter_modules(paracrine.facts.__path__):
        importlib.import_module(BUILTIN_PREFIX + info.name)


def resolve_fact(func_or_name: Callable[..., Any] | str) -> FactSpec:
    """The spec of a fact given as a function or by name (``files.path_info``, ``pkg.mod.func``)."""
    if not isinstance(func_or_name, str):
        try:
            return spec_of(func_or_name)
        except TypeError as exc:
            raise ArgumentError(str(exc)) from None
    name = func_or_name
    known = registered()
    if name not in known and "." in name:
        module = name.rsplit(".", 1)[0]
        for candidate in (BUILTIN_PREFIX + module, module):
            try:
                importlib.import_module(candidate)
                break
            except ImportError:
                continue
        known = registered()
    if name not in known:
        load_builtin_facts()
        known = registered()
    if name not in known:
        raise UnknownFactError(
            f"unknown fact {name!r}", hint=did_you_mean(name, known) or "list facts with `paracrine facts --list`"
        )
    return known[name]


def _known(key: FactKey) -> bool:
    """False for keys of facts that no longer exist (stale prefetch lists)."""
    try:
        resolve_fact(key.name)
    except UnknownFactError:
        return False
    return True


@dataclass
class FactFailure:
    """A fact that raised on the target."""

    type: str
    message: str


@dataclass
class HostFacts:
    """The memo of one host: fact values (or failures) by key, for this run."""

    host: str
    values: dict[FactKey, Any] = field(default_factory=dict)

    def has(self, key: FactKey) -> bool:
        return key in self.values

    def get(self, key: FactKey) -> Any:
        """The value of ``key``; raises :class:`FactError` if it failed on the target."""
        value = self.values[key]
        if isinstance(value, FactFailure):
            raise FactError(f"fact {key.label()} failed: {value.type}: {value.message}", remote_type=value.type)
        return value


class Gatherer:
    """Fetches missing facts for many hosts, one call per host, and keeps the memo."""

    def __init__(self, session: Any, cache: FactCache | None) -> None:
        self.session = session
        self.cache = cache
        self.memo: dict[str, HostFacts] = {}
        self._disk: dict[str, dict[str, CachedFact]] = {}
        self.seconds: dict[str, float] = {}  # time spent waiting for each host's facts
        self._early: dict[str, tuple[list[FactKey], Any]] = {}  # prefetches in flight, by host

    def facts(self, host: str) -> HostFacts:
        return self.memo.setdefault(host, HostFacts(host))

    def _cached(self, host: str) -> dict[str, CachedFact]:
        if host not in self._disk:
            self._disk[host] = self.cache.load(host) if self.cache else {}
        return self._disk[host]

    def prefetch(self, host: str, context: Any, keys: Iterable[FactKey]) -> None:
        """Send ``keys`` (what the last run needed) to ``host`` now; :meth:`fetch` collects the reply.

        Called in the connecting thread as soon as the host is up, so the target works
        while the controller still loads deploy files and plans.
        """
        from paracrine.remote.gather import gather

        wanted = [k for k in sorted(set(keys), key=FactKey.sort_key) if k.user is None and _known(k)]
        if wanted:
            self._early[host] = (wanted, self.session.send(host, context, gather, self._requests(host, wanted)))

    def _collect_early(self, hosts: Iterable[str], errors: dict[str, str]) -> None:
        for host in hosts:
            early = self._early.pop(host, None)
            if early is None:
                continue
            keys, pending = early
            outcome = self.session.receive(pending)
            self.seconds[host] = self.seconds.get(host, 0.0) + outcome.seconds
            if outcome.ok:
                self._store(host, keys, outcome.value)
            else:
                errors[host] = outcome.error

    def fetch(self, wanted: Mapping[str, Iterable[FactKey]]) -> dict[str, str]:
        """Gather the keys not yet memoised; returns ``{host: error}`` for hosts whose call failed.

        Prefetched replies are collected first; only what they lack costs another round trip.
        """
        from paracrine.remote.gather import gather

        errors: dict[str, str] = {}
        self._collect_early(wanted, errors)
        batches: dict[str | None, dict[str, list[FactKey]]] = {}
        for host, keys in wanted.items():
            if host in errors:
                continue
            memo = self.facts(host)
            for key in sorted(set(keys), key=FactKey.sort_key):
                if not memo.has(key) and _known(key):
                    batches.setdefault(key.user, {}).setdefault(host, []).append(key)
        for user, per_host in batches.items():
            args = {host: (self._requests(host, keys),) for host, keys in per_host.items()}
            contexts = None if user is None else self._user_contexts(per_host, errors)
            outcomes = self.session.call_all(gather, args, contexts=contexts)
            for host, outcome in outcomes.items():
                self.seconds[host] = self.seconds.get(host, 0.0) + outcome.seconds
                if not outcome.ok:
                    errors[host] = outcome.error
                    continue
                self._store(host, per_host[host], outcome.value)
        return errors

    def _user_contexts(self, per_host: Mapping[str, list[FactKey]], errors: dict[str, str]) -> dict[str, Any]:
        contexts = {}
        for host, keys in per_host.items():
            try:
                contexts[host] = self.session.user_context(self.session.hosts[host], keys[0].user)
            except Exception as exc:
                errors[host] = str(exc)
        return contexts

    def _requests(self, host: str, keys: list[FactKey]) -> list[list[Any]]:
        cached = self._cached(host)
        requests = []
        for key in keys:
            spec = resolve_fact(key.name)
            entry = cached.get(key.id)
            cached_fp = entry.fingerprint if entry is not None and spec.fingerprint is not None else None
            requests.append([spec.module, spec.function, key.args, cached_fp])
        return requests

    def _store(self, host: str, keys: list[FactKey], replies: list[dict[str, Any]]) -> None:
        memo, now, fresh = self.facts(host), time.time(), {}
        for key, reply in zip(keys, replies, strict=True):
            if "error" in reply:
                memo.values[key] = FactFailure(reply.get("type", "Error"), reply["error"])
                continue
            value = self._cached(host)[key.id].value if reply.get("same") else reply["value"]
            memo.values[key] = value
            fresh[key.id] = CachedFact(key.name, key.args, key.user, value, reply.get("fp"), now)
        if self.cache is not None:
            self.cache.update(host, fresh)
            self._disk.setdefault(host, {}).update(fresh)
