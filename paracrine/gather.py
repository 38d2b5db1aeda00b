"""Controller side of the facts phase: keys, the in-run memo, and batched gathering.

All facts a host needs are fetched in **one remote call per host** (per
become-user), all hosts in parallel, through :meth:`Session.call_all`. Results
are memoised for the run by :class:`FactKey` (host, fact, arguments,
become-user) and written to the disk cache.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from paracrine.errors import ArgumentError, FactError, UnknownFactError, UserError, did_you_mean
from paracrine.factcache import CachedFact, FactCache
from paracrine.factkey import FactKey
from paracrine.factspec import BUILTIN_PREFIX, FactSpec, registered, spec_of

#: Keys made so far (:func:`make_key`): ``id(spec)`` -> (the spec, its keys by arguments).
_MADE: dict[int, tuple[FactSpec, dict[tuple[Any, ...], FactKey]]] = {}
_SCALARS = (str, int, bool, type(None))  # exact types: True is not 1, and no float's -0.0 is 0.0
_MADE_MAX = 1 << 16


def make_key(func_or_name: Callable[..., Any] | str, args: Mapping[str, Any], user: str | None = None) -> FactKey:
    """Validate ``args`` against the fact's signature and build its key.

    A plan asks for the same keys on every host (a path's ``files.path_info``), so keys
    of scalar arguments are made once and reused, their ``id`` and decoded ``args``
    computed once, until :func:`forget_keys`.
    """
    spec = resolve_fact(func_or_name)
    if not all(type(v) in _SCALARS for v in args.values()):
        return _make_key(spec, args, user)
    made = _MADE.get(id(spec))
    if made is None or made[0] is not spec:
        if len(_MADE) >= 1024:  # specs of user modules an agent imported afresh: forget the old ones
            _MADE.clear()
        made = _MADE[id(spec)] = (spec, {})
    memo = (user, *((k, type(v), v) for k, v in args.items()))
    key = made[1].get(memo)
    if key is None:
        if len(made[1]) >= _MADE_MAX:
            made[1].clear()
        key = made[1][memo] = _make_key(spec, args, user)
    return key


def forget_keys() -> None:
    """Forget the keys :func:`make_key` made (``paracrine agent``, after each run)."""
    _MADE.clear()


def _make_key(spec: FactSpec, args: Mapping[str, Any], user: str | None) -> FactKey:
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
    """The spec of a fact given as a function or by name (``files.path_info``, ``pkg.mod.func``).

    Raises:
        UnknownFactError: no such fact.
        UserError: the fact's module exists but cannot be imported (its error and file:line).
    """
    if not isinstance(func_or_name, str):
        try:
            return spec_of(func_or_name)
        except TypeError as exc:
            raise ArgumentError(str(exc)) from None
    name = func_or_name
    known = registered()
    if name not in known and "." in name:
        from paracrine.searchpath import import_optional

        module = name.rsplit(".", 1)[0]
        for candidate in (BUILTIN_PREFIX + module, module):
            if import_optional(candidate) is not None:  # a module that fails to import says why
                break
        known = registered()
    if name not in known:
        load_builtin_facts()
        known = registered()
    if name not in known:
        raise UnknownFactError(
            f"unknown fact {name!r}", hint=did_you_mean(name, known) or "list facts with `paracrine facts --list`"
        )
    return known[name]


def prefetchable(key: FactKey) -> bool:
    """Whether ``key`` may be sent because an earlier run read it: a registered fact that only reads state.

    Keys come from the state directory, so nothing is imported for them and a fact
    that runs a command (``prefetch=False``) is never sent this way.
    """
    from paracrine.fact import by_name

    if key.user is not None or "__withheld__" in key.args:
        return False
    entry = by_name(key.name)
    if entry is None and key.name.count(".") != 1:
        return False  # a package's fact: registered once the deploy imports it
    if entry is None:
        load_builtin_facts()
        entry = by_name(key.name)
    return entry is not None and entry.prefetch


def _known(key: FactKey) -> bool:
    """False for keys of facts that no longer exist."""
    try:
        resolve_fact(key.name)
    except UserError:  # unknown, or its module no longer imports
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
    asked: set[FactKey] = field(default_factory=set)
    """The keys planning asked for (present or not): what the next run prefetches."""

    def has(self, key: FactKey) -> bool:
        self.asked.add(key)
        return key in self.values

    def get(self, key: FactKey) -> Any:
        """The value of ``key``; raises :class:`FactError` if it failed on the target."""
        self.asked.add(key)
        value = self.values[key]
        if isinstance(value, FactFailure):
            raise FactError(f"fact {key.label()} failed: {value.type}: {value.message}", remote_type=value.type)
        return value


@dataclass(frozen=True)
class FetchError:
    """Why a host's facts could not be fetched: a message; ``lost`` connection; or the run lock's holder."""

    message: str
    lost: bool = False
    locked_by: str | None = None


LockNotice = Callable[[str, str, float], None]


class Gatherer:
    """Fetches missing facts for many hosts, one call per host, and keeps what it fetched.

    With ``lock_holder`` set (a run that will apply changes), the first call to each
    host also takes the host's run lock (:mod:`paracrine.remote.lock`), waiting up to
    ``wait_lock`` seconds for another run to finish (``on_lock_wait`` is told).
    """

    def __init__(
        self,
        session: Any,
        cache: FactCache | None,
        *,
        lock_holder: str | None = None,
        wait_lock: float = 0.0,
        on_lock_wait: LockNotice | None = None,
    ) -> None:
        self.session = session
        self.cache = cache
        self.gathered: dict[str, HostFacts] = {}
        self._disk: dict[str, dict[str, CachedFact]] = {}
        self.seconds: dict[str, float] = {}  # time spent waiting for each host's facts
        self._early: dict[str, tuple[list[FactKey], Any]] = {}  # prefetches in flight, by host
        self.lock_holder = lock_holder
        self.wait_lock = wait_lock
        self.on_lock_wait = on_lock_wait
        self._locked: set[str] = set()
        self._read: dict[str, set[FactKey]] = {}

    def facts(self, host: str) -> HostFacts:
        return self.gathered.setdefault(host, HostFacts(host))

    def forget(self, host: str) -> None:
        """Drop what was gathered on ``host`` (it changed: the next fetch gathers again)."""
        dropped = self.gathered.pop(host, None)
        if dropped is not None:
            self._read.setdefault(host, set()).update(dropped.asked)

    def read(self, host: str) -> set[FactKey]:
        """Every fact key this run asked for on ``host``, in every stage.

        Not what was merely prefetched: a key the last run read but this one no longer
        asks for (a changed path, a removed operation) is not sent again next time.
        """
        return self._read.get(host, set()) | self.facts(host).asked

    def _cached(self, host: str) -> dict[str, CachedFact]:
        if host not in self._disk:
            self._disk[host] = self.cache.load(host) if self.cache else {}
        return self._disk[host]

    def _lock(self, host: str, wait: float = 0.0) -> dict[str, Any] | None:
        if self.lock_holder is None or host in self._locked:
            return None
        return {"holder": self.lock_holder, "wait": wait}

    def prefetch(self, host: str, context: Any, keys: Iterable[FactKey]) -> None:
        """Send ``keys`` to ``host`` now; :meth:`fetch` collects the reply.

        Called as soon as the host is up with what the last run read (only facts that
        read state: :func:`prefetchable`), so the target works while the controller
        still loads deploy files and plans.
        """
        from paracrine.remote.gather import gather

        wanted = [k for k in sorted(set(keys), key=FactKey.sort_key) if k.user is None and _known(k)]
        if wanted or self._lock(host) is not None:
            pending = self.session.send(host, context, gather, self._requests(host, wanted), self._lock(host))
            self._early[host] = (wanted, pending)

    def in_flight_keys(self, host: str) -> set[FactKey]:
        """The keys of the prefetch in flight to ``host`` (empty if none)."""
        early = self._early.get(host)
        return set(early[0]) if early is not None else set()

    def _collect_early(self, hosts: Iterable[str], errors: dict[str, FetchError]) -> None:
        for host in hosts:
            early = self._early.pop(host, None)
            if early is None:
                continue
            keys, pending = early
            outcome = self.session.receive(pending)
            self._take(host, keys, outcome, errors)

    def _take(self, host: str, keys: list[FactKey], outcome: Any, errors: dict[str, FetchError]) -> None:
        self.seconds[host] = self.seconds.get(host, 0.0) + outcome.seconds
        if not outcome.ok:
            errors[host] = FetchError(outcome.error, lost=outcome.lost)
        elif outcome.value.get("lock"):
            errors[host] = FetchError("locked", locked_by=str(outcome.value["lock"]["holder"]))
        else:
            if self.lock_holder is not None:
                self._locked.add(host)
            self._store(host, keys, outcome.value["results"])

    def fetch(self, wanted: Mapping[str, Iterable[FactKey]]) -> dict[str, FetchError]:
        """Gather the keys not gathered yet; returns ``{host: error}`` for hosts whose call failed.

        Prefetched replies are collected first; only what they lack costs another round trip.
        """
        errors: dict[str, FetchError] = {}
        self._collect_early(wanted, errors)
        self._wait_for_locks(wanted, errors)
        batches: dict[str | None, dict[str, list[FactKey]]] = {}
        for host, keys in wanted.items():
            if host in errors:
                continue
            memo = self.facts(host)
            todo = [k for k in sorted(set(keys), key=FactKey.sort_key) if not memo.has(k) and _known(k)]
            own = [k for k in todo if k.user is None]
            if own or self._lock(host) is not None:
                batches.setdefault(None, {})[host] = own
            for key in todo:
                if key.user is not None:
                    batches.setdefault(key.user, {}).setdefault(host, []).append(key)
        for user, per_host in batches.items():
            self._fetch_as(user, per_host, errors)
        return errors

    def _fetch_as(self, user: str | None, per_host: dict[str, list[FactKey]], errors: dict[str, FetchError]) -> None:
        from paracrine.remote.gather import gather

        per_host = {h: keys for h, keys in per_host.items() if h not in errors}
        lock = None if user is not None else self._lock
        args: dict[str, tuple[Any, ...]] = {
            h: (self._requests(h, keys), lock(h) if lock else None) for h, keys in per_host.items()
        }
        contexts = None if user is None else self._user_contexts(user, per_host, errors)
        outcomes = self.session.call_all(gather, {h: a for h, a in args.items() if h not in errors}, contexts=contexts)
        for host, outcome in outcomes.items():
            self._take(host, per_host[host], outcome, errors)

    def _wait_for_locks(self, wanted: Mapping[str, Iterable[FactKey]], errors: dict[str, FetchError]) -> None:
        """Hosts locked by another run: wait for it (``wait_lock``), then take the lock."""
        from paracrine.remote.gather import gather

        busy = {h: e.locked_by for h, e in errors.items() if e.locked_by is not None}
        if not busy or self.wait_lock <= 0:
            return
        for host, holder in busy.items():
            if self.on_lock_wait is not None:
                self.on_lock_wait(host, holder or "", self.wait_lock)
        args: dict[str, tuple[Any, ...]] = {h: ([], self._lock(h, self.wait_lock)) for h in busy}
        outcomes = self.session.call_all(gather, args, timeout=self.wait_lock + 60)
        for host, outcome in outcomes.items():
            del errors[host]
            self._take(host, [], outcome, errors)

    def _user_contexts(self, user: str, per_host: Mapping[str, list[FactKey]], errors: dict[str, FetchError]) -> Any:
        contexts = {}
        for host in per_host:
            try:
                contexts[host] = self.session.user_context(self.session.hosts[host], user)
            except Exception as exc:
                errors[host] = FetchError(str(exc))
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
            if resolve_fact(key.name).cache:
                fresh[key.id] = CachedFact(key.name, key.args, key.user, value, reply.get("fp"), now)
        if self.cache is not None:
            self.cache.update(host, fresh)
            self._disk.setdefault(host, {}).update(fresh)
