"""What every change kind has: a wire form, a description, predicted effects, and an apply function.

A change kind is one module of :mod:`paracrine.changes` (or of an operation
package) holding, in one place:

* a frozen dataclass subclassing :class:`Change` — its fields, its wire form
  (:meth:`Change.to_wire`), its description for people (:meth:`Change.describe`)
  and its predicted effect on facts (:meth:`Change.effects`);
* a module-level ``apply(change, outcome)`` that the target-side executor calls
  with the wire form. It runs on targets, so the module imports only the
  standard library at import time (controller-only imports go inside methods).

Standard library only.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from paracrine.secret import plain

if TYPE_CHECKING:
    from paracrine.predict import Effect


@dataclasses.dataclass(frozen=True)
class Change:
    """Base of all change kinds."""

    kind: ClassVar[str] = "change"

    @property
    def module(self) -> str:
        """The module whose ``apply`` runs this change on the target."""
        return type(self).__module__

    def to_wire(self) -> dict[str, Any]:
        """The builtins-only form the target's executor runs: every field, plus kind and module."""
        wire: dict[str, Any] = {"kind": self.kind, "module": self.module}
        for f in dataclasses.fields(self):
            if f.metadata.get("wire", True):
                wire[f.name] = plain(getattr(self, f.name))
        return wire

    def to_json(self, masked: bool = False, contents: bool = False) -> dict[str, Any]:
        """The form ``--json`` prints and test cases compare: no raw bytes; secrets masked.

        ``contents``: include small text file contents (test cases compare them;
        ``--json`` shows hashes and sizes only).
        """
        wire = self.to_wire()
        del wire["module"]
        return wire

    def describe(self, masked: bool = False) -> str:
        """One line for people; ``masked`` hides contents and commands (sensitive operations)."""
        raise NotImplementedError

    def effects(self) -> list[Effect]:
        """Predicted effects on facts; ``[Effect.opaque()]`` when unknown."""
        from paracrine.predict import Effect

        return [Effect.opaque()]


def attrs_text(mode: int | None, owner: str | None, group: str | None) -> str:
    """``mode 0644, owner app`` for the attributes that are set."""
    parts = [f"mode {mode:04o}" if mode is not None else "", f"owner {owner}" if owner else ""]
    parts.append(f"group {group}" if group else "")
    return ", ".join(p for p in parts if p)


def shown(text: str) -> str:
    """``text`` safe to print on one terminal line: control characters are escaped (``\\n``, ``\\x1b``)."""
    if text.isprintable():
        return text
    escapes = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return "".join(c if c.isprintable() else escapes.get(c) or _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
