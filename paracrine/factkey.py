"""The identity of one fact value: fact name, bound arguments and become-user.

Kept apart from :mod:`paracrine.gather` so that the prediction rules and the
change kinds can name facts without loading gathering, the cache or Mitogen.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any


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

    @classmethod
    def of(cls, name: str, args: dict[str, Any], user: str | None = None) -> FactKey:
        """The key of JSON-normal ``args`` (as ``json.loads`` returns them), which it keeps as :attr:`args`."""
        key = cls(name, json.dumps(args, sort_keys=True), user)
        key.__dict__["args"] = args  # what the cached property would decode again
        return key

    def sort_key(self) -> tuple[str, str, str]:
        return (self.name, self.args_json, self.user or "")

    @functools.cached_property
    def id(self) -> str:
        """The key's name in the fact cache: ``json.dumps([name, args, user], sort_keys=True)``.

        Written around :attr:`args_json`, which already is the canonical JSON of the
        arguments, instead of encoding them again (a run asks for each key's id several times).
        """
        return f"[{json.dumps(self.name)}, {self.args_json}, {json.dumps(self.user)}]"

    def label(self) -> str:
        """``files.path_info(path='/etc/hosts')``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.name}({args})" + (f" as {self.user}" if self.user else "")
