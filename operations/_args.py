"""Argument types of the built-in operations, checked when an operation is called.

Each is an ``Annotated`` type with a :class:`~paracrine.validate.Converter`, so a
bad value fails at the deploy file line that called the operation.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from paracrine.validate import Converter


def _absolute(value: Any) -> Any:
    if isinstance(value, str) and not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    return value


def _regex(value: Any) -> Any:
    if isinstance(value, str):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
    return value


def _one_line(value: Any) -> Any:
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        raise ValueError(f"{value!r} is more than one line")
    return value


#: An absolute path on the target.
AbsPath = Annotated[str, Converter(_absolute, "an absolute path")]
#: A Python regular expression (checked when the operation is called).
Regex = Annotated[str, Converter(_regex, "a regular expression")]
#: A single line of text, without a newline.
OneLine = Annotated[str, Converter(_one_line, "a single line")]
