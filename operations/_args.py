"""Argument types of the built-in operations, checked when an operation is called.

Each is an ``Annotated`` type with a :class:`~paracrine.validate.Converter`, so a
bad value fails at the deploy file line that called the operation.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Any

from paracrine.validate import Converter


def _absolute(value: Any) -> Any:
    """An absolute path, normalised: ``/srv/app/../x/`` is ``/srv/x`` (links are never followed anyway)."""
    if not isinstance(value, str):
        return value
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    if "\0" in value:
        raise ValueError(f"{value!r} contains a NUL character")
    return "/" + posixpath.normpath(value).lstrip("/")


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


#: An absolute path on the target (normalised).
AbsPath = Annotated[str, Converter(_absolute, "an absolute path")]
#: A Python regular expression (checked when the operation is called).
Regex = Annotated[str, Converter(_regex, "a regular expression")]
#: A single line of text, without a newline.
OneLine = Annotated[str, Converter(_one_line, "a single line")]
