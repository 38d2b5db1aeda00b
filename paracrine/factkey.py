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

    def sort_key(self) -> tuple[str, str, str]:
        return (self.name, self.args_json, self.user or "")

    @property
    def id(self) -> str:
        return json.dumps([self.name, self.args, self.user], sort_keys=True)

    def label(self) -> str:
        """``files.path_info(path='/etc/hosts')``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.name}({args})" + (f" as {self.user}" if self.user else "")
