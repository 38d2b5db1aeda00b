"""Typed changes: what an operation yields when a host is not yet right.

A change is a value, not a shell string. Each kind knows

* its wire form (:meth:`Change.to_wire`): builtins the target executor runs;
* its description for humans (:meth:`Change.describe`);
* its effect on facts (:meth:`Change.effects`), so that operations planned after
  it see the predicted state. A change whose effect cannot be predicted (a
  command, by default) is *opaque*: facts read after it are refreshed on the
  host before the rest of the plan runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from paracrine.predict import Effect, path_effects

MAX_JSON_CONTENT = 65536  # file contents up to this size appear in --json output and test cases


@dataclass(frozen=True)
class Change:
    """Base of all change kinds."""

    kind: ClassVar[str] = "change"

    def to_wire(self) -> dict[str, Any]:
        """The builtins-only form the remote executor understands."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        """The form ``--json`` prints and test cases compare (no raw bytes)."""
        return self.to_wire()

    def describe(self) -> str:
        raise NotImplementedError

    def effects(self) -> list[Effect]:
        """Predicted effects on facts; ``[Effect.opaque()]`` when unknown."""
        return [Effect.opaque()]


def _attrs(mode: int | None, owner: str | None, group: str | None) -> str:
    parts = [f"mode {mode:04o}" if mode is not None else "", f"owner {owner}" if owner else ""]
    parts.append(f"group {group}" if group else "")
    return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class RunCommand(Change):
    """Run ``argv`` (no shell unless argv asks for one); ``ok_codes`` are success."""

    kind: ClassVar[str] = "command"
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    stdin: bytes | None = None
    ok_codes: tuple[int, ...] = (0,)
    user: str | None = None
    predicted: tuple[Effect, ...] | None = field(default=None, compare=False)

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "argv": list(self.argv),
            "env": dict(self.env) if self.env else None,
            "cwd": self.cwd,
            "stdin": self.stdin,
            "ok_codes": list(self.ok_codes),
            "user": self.user,
        }

    def to_json(self) -> dict[str, Any]:
        wire = self.to_wire()
        wire["stdin"] = None if self.stdin is None else f"<{len(self.stdin)} bytes>"
        return wire

    def describe(self) -> str:
        import shlex

        text = shlex.join(self.argv)
        return f"run {text}" + (f" as {self.user}" if self.user else "")

    def effects(self) -> list[Effect]:
        return list(self.predicted) if self.predicted is not None else [Effect.opaque()]


@dataclass(frozen=True)
class WriteFile(Change):
    """Write ``data`` to ``path`` atomically (temp file, attributes, fsync, rename)."""

    kind: ClassVar[str] = "write"
    path: str
    data: bytes
    mode: int | None = None
    owner: str | None = None
    group: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "data": self.data,
            "sha256": self.sha256,
            "mode": self.mode,
            "owner": self.owner,
            "group": self.group,
        }

    def to_json(self) -> dict[str, Any]:
        wire = self.to_wire()
        del wire["data"]
        wire["size"] = len(self.data)
        if len(self.data) <= MAX_JSON_CONTENT:
            with contextlib.suppress(UnicodeDecodeError):
                wire["content"] = self.data.decode("utf-8")
        return wire

    def describe(self) -> str:
        attrs = _attrs(self.mode, self.owner, self.group)
        return f"write {self.path} ({len(self.data)} bytes{', ' + attrs if attrs else ''})"

    def effects(self) -> list[Effect]:
        return path_effects.written(self.path, self.data, self.mode, self.owner, self.group)


@dataclass(frozen=True)
class MakeDirectory(Change):
    """Create directory ``path`` (and missing parents) with the given attributes."""

    kind: ClassVar[str] = "mkdir"
    path: str
    mode: int | None = None
    owner: str | None = None
    group: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "mode": self.mode, "owner": self.owner, "group": self.group}

    def describe(self) -> str:
        attrs = _attrs(self.mode, self.owner, self.group)
        return f"create directory {self.path}" + (f" ({attrs})" if attrs else "")

    def effects(self) -> list[Effect]:
        return path_effects.directory(self.path, self.mode, self.owner, self.group)


@dataclass(frozen=True)
class MakeLink(Change):
    """Make ``path`` a symbolic link to ``target``, replacing a link or file there atomically."""

    kind: ClassVar[str] = "link"
    path: str
    target: str

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "target": self.target}

    def describe(self) -> str:
        return f"link {self.path} -> {self.target}"

    def effects(self) -> list[Effect]:
        return path_effects.link(self.path, self.target)


@dataclass(frozen=True)
class RemovePath(Change):
    """Remove ``path`` (a directory only with ``recursive``)."""

    kind: ClassVar[str] = "remove"
    path: str
    recursive: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "recursive": self.recursive}

    def describe(self) -> str:
        return f"remove {self.path}" + (" (recursively)" if self.recursive else "")

    def effects(self) -> list[Effect]:
        return path_effects.removed(self.path)


@dataclass(frozen=True)
class SetAttributes(Change):
    """chmod/chown ``path`` without following a link."""

    kind: ClassVar[str] = "attrs"
    path: str
    mode: int | None = None
    owner: str | None = None
    group: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "mode": self.mode, "owner": self.owner, "group": self.group}

    def describe(self) -> str:
        return f"set {_attrs(self.mode, self.owner, self.group)} on {self.path}"

    def effects(self) -> list[Effect]:
        return path_effects.attributes(self.path, self.mode, self.owner, self.group)


@dataclass(frozen=True)
class CallFunction(Change):
    """Call a stdlib-only function on the target: ``module.function(**kwargs)``.

    The function returns a dict with at least ``changed`` (bool); it may add
    ``stdout``/``stderr`` text for the report.
    """

    kind: ClassVar[str] = "call"
    module: str
    function: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    predicted: tuple[Effect, ...] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, func: Callable[..., Any], predicted: Sequence[Effect] | None = None, **kwargs: Any) -> CallFunction:
        return cls(func.__module__, func.__name__, kwargs, None if predicted is None else tuple(predicted))

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "module": self.module, "function": self.function, "kwargs": dict(self.kwargs)}

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"call {self.module}.{self.function}({args})"

    def effects(self) -> list[Effect]:
        return list(self.predicted) if self.predicted is not None else [Effect.opaque()]


def parent_of(path: str) -> str:
    return posixpath.dirname(path.rstrip("/")) or "/"
