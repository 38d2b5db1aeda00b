"""Predicted state: facts as they will be after the changes planned so far.

Planning runs operations in order against one :class:`PredictedState` per
host. Each planned change adds its :class:`Effect` rules; a later lookup walks
the rules newest first and falls back to the gathered facts. An opaque effect
(a command whose result cannot be predicted) makes every later lookup raise
:class:`Unpredictable`: the planner splits the host's batch there.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paracrine.factkey import FactKey


class FactMissing(BaseException):
    """A fact that has not been gathered yet (planning records it and goes on).

    A BaseException, so that an operation's ``except Exception`` cannot swallow
    it: the signal must reach the planner, which fetches the fact and plans again.
    """

    def __init__(self, keys: list[FactKey]) -> None:
        super().__init__()
        self.keys = keys

    def __str__(self) -> str:
        return ", ".join(k.label() for k in self.keys)


class Unpredictable(BaseException):
    """A fact that an earlier opaque change may have altered (a BaseException, like :class:`FactMissing`)."""

    def __init__(self, key: FactKey) -> None:
        super().__init__(key.label())
        self.key = key


Matcher = Callable[[FactKey], bool]


@dataclass(frozen=True)
class Effect:
    """One rule: for keys it matches, a value, an update of the previous value, or 'unknown'."""

    match: Matcher
    value: Any = None
    update: Callable[[Any], Any] | None = None
    opaque_: bool = False

    @classmethod
    def set(cls, match: Matcher, value: Any) -> Effect:
        return cls(match, value=value)

    @classmethod
    def updating(cls, match: Matcher, update: Callable[[Any], Any]) -> Effect:
        return cls(match, update=update)

    @classmethod
    def opaque(cls, match: Matcher | None = None) -> Effect:
        return cls(match or (lambda key: True), opaque_=True)


def fact_named(name: str, **args: Any) -> Matcher:
    """Match keys of fact ``name`` whose arguments include ``args``."""

    def match(key: FactKey) -> bool:
        if key.name != name:
            return False
        bound = key.args
        return all(bound.get(k) == v for k, v in args.items())

    return match


class PredictedState:
    """Gathered facts of one host plus the effects of the changes planned so far.

    ``speculative``: opaque effects are passed over instead of raising
    :class:`Unpredictable`, to preview what operations after a command would do
    if the command changed nothing they read (shown before the prompt, never applied).
    """

    def __init__(self, base: Callable[[FactKey], Any]) -> None:
        self._base = base
        self.rules: list[Effect] = []
        self.speculative = False

    def apply(self, effects: list[Effect]) -> None:
        self.rules.extend(effects)

    def lookup(self, key: FactKey) -> Any:
        return self._resolve(key, len(self.rules))

    def _resolve(self, key: FactKey, upto: int) -> Any:
        for index in range(upto - 1, -1, -1):
            rule = self.rules[index]
            if not rule.match(key):
                continue
            if rule.opaque_:
                if self.speculative:
                    continue
                raise Unpredictable(key)
            if rule.update is not None:
                return rule.update(self._resolve(key, index))
            return rule.value
        derived = _path_derived(key)
        if derived is not None and upto and self._touched(derived.paths(**key.args), upto):
            if derived.derive is None:
                raise Unpredictable(key)
            return derived.derive(self._derived_lookup(upto), **key.args)
        return self._base(key)

    def _touched(self, paths: list[str], upto: int) -> bool:
        """Whether a change planned so far affects one of ``paths`` (a custom fact reads them)."""
        from paracrine.gather import make_key

        keys = [make_key(name, {"path": p}) for p in paths for name in ("files.path_info", "files.sha256")]
        return any(rule.match(k) for rule in self.rules[:upto] for k in keys)

    def _derived_lookup(self, upto: int) -> Callable[..., Any]:
        from paracrine.gather import make_key

        def fact(func: Any, **args: Any) -> Any:
            return self._resolve(make_key(func, args), upto)

        return fact


def _path_derived(key: FactKey) -> Any:
    """The registration of a custom fact that declares the paths it reads (``@fact(paths=...)``), else None."""
    from paracrine.fact import WITH_PATHS, by_name

    if key.name not in WITH_PATHS:
        return None
    entry = by_name(key.name)
    return entry if entry is not None and entry.paths is not None else None


PATH_FACTS = ("files.path_info", "files.sha256", "files.lines", "files.listing")


def _under(path: str) -> Matcher:
    prefix = path.rstrip("/") + "/"

    def match(key: FactKey) -> bool:
        if key.name not in PATH_FACTS:
            return False
        other = key.args.get("path")
        return isinstance(other, str) and (other == path or other.startswith(prefix))

    return match


class path_effects:
    """Effects of the file-system changes on the ``files.*`` facts."""

    @staticmethod
    def _info(kind: str, old: Any, mode: int | None, owner: str | None, group: str | None, **extra: Any) -> Any:
        same_kind = isinstance(old, dict) and old.get("kind") == kind
        default_mode = {"file": 0o644, "directory": 0o755, "link": 0o777}[kind]
        info = {
            "kind": kind,
            "mode": mode if mode is not None else (old["mode"] if same_kind else default_mode),
            "owner": owner or (old["owner"] if same_kind else None),
            "group": group or (old["group"] if same_kind else None),
            "uid": None,
            "gid": None,
            "size": None,
            "mtime": None,
            "target": None,
        }
        info.update(extra)
        return info

    @staticmethod
    def _in_parent(path: str, present: bool) -> list[Effect]:
        parent, name = posixpath.split(path.rstrip("/"))

        def listing(old: Any) -> Any:
            if old is None:
                return [name] if present else None
            names = set(old) | {name} if present else set(old) - {name}
            return sorted(names)

        effects = [Effect.updating(fact_named("files.listing", path=parent or "/"), listing)]
        if present:  # missing parents are created
            effects.append(
                Effect.updating(
                    fact_named("files.path_info", path=parent or "/"),
                    lambda old: old or path_effects._info("directory", None, 0o755, None, None),
                )
            )
        return effects

    @classmethod
    def written(
        cls,
        path: str,
        sha256: str,
        size: int,
        lines: Callable[[], list[str]] | None,
        mode: int | None,
        owner: str | None,
        group: str | None,
    ) -> list[Effect]:
        """A file written with content of ``sha256`` and ``size``; ``lines()`` gives its lines (None: unknown)."""
        info = fact_named("files.path_info", path=path)
        line_key = fact_named("files.lines", path=path)
        return [
            Effect.set(_under(path + "/"), None),  # a file replaced whatever was below
            Effect.updating(info, lambda old: cls._info("file", old, mode, owner, group, size=size)),
            Effect.set(fact_named("files.sha256", path=path), sha256),
            Effect.set(fact_named("files.listing", path=path), None),
            Effect.opaque(line_key) if lines is None else Effect.updating(line_key, lambda _old: lines()),
            *cls._in_parent(path, True),
        ]

    @classmethod
    def directory(cls, path: str, mode: int | None, owner: str | None, group: str | None) -> list[Effect]:
        def listing(old: Any) -> Any:
            return old if isinstance(old, list) else []

        return [
            Effect.updating(
                fact_named("files.path_info", path=path), lambda old: cls._info("directory", old, mode, owner, group)
            ),
            Effect.updating(fact_named("files.listing", path=path), listing),
            Effect.set(fact_named("files.sha256", path=path), None),
            *cls._in_parent(path, True),
        ]

    @classmethod
    def link(cls, path: str, target: str) -> list[Effect]:
        return [
            Effect.updating(
                fact_named("files.path_info", path=path),
                lambda old: cls._info("link", None, 0o777, None, None, target=target),
            ),
            Effect.set(fact_named("files.sha256", path=path), None),
            Effect.set(fact_named("files.listing", path=path), None),
            Effect.set(fact_named("files.lines", path=path), None),
            *cls._in_parent(path, True),
        ]

    @classmethod
    def removed(cls, path: str) -> list[Effect]:
        return [Effect.set(_under(path), None), *cls._in_parent(path, False)]

    @classmethod
    def attributes(cls, path: str, mode: int | None, owner: str | None, group: str | None) -> list[Effect]:
        def update(old: Any) -> Any:
            if not isinstance(old, dict):
                return old
            new = dict(old)
            new.update({k: v for k, v in (("mode", mode), ("owner", owner), ("group", group)) if v is not None})
            if owner is not None and owner != old.get("owner"):
                new["uid"] = None  # the name is known, the number is not
            if group is not None and group != old.get("group"):
                new["gid"] = None
            return new

        return [Effect.updating(fact_named("files.path_info", path=path), update)]
