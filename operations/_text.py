"""Editing text files by lines, for ``files.line``, ``files.block`` and ``files.replace``.

Pure functions of the ``files.lines`` fact (lines without their "\\n",
undecodable bytes as surrogate escapes); the operations write the result
whole, with "\\n" after every line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from paracrine.facts.files import split_lines

MARK = "{mark}"


def encode(lines: Sequence[str]) -> bytes:
    """File content of ``lines``: each followed by "\\n", undecodable bytes restored."""
    return "".join(text + "\n" for text in lines).encode("utf-8", "surrogateescape")


def with_line(lines: list[str], line: str, present: bool, pattern: re.Pattern[str] | None) -> list[str]:
    """``lines`` with ``line`` present exactly once (at the first hit) or absent."""

    def hit(text: str) -> bool:
        return text == line or (pattern is not None and pattern.search(text) is not None)

    if not present:
        return [text for text in lines if not hit(text)]
    result, placed = [], False
    for text in lines:
        if not hit(text):
            result.append(text)
        elif not placed:
            result.append(line)
            placed = True
    if not placed:
        result.append(line)
    return result


# ---------------------------------------------------------------- managed blocks


def block_lines(block: str) -> list[str]:
    """The lines of a block's text (one trailing newline is not an empty last line)."""
    return split_lines(block.encode("utf-8", "surrogateescape"))


def _find(lines: list[str], marker: str, start: int = 0) -> int | None:
    for index in range(start, len(lines)):
        if lines[index].rstrip("\r") == marker:
            return index
    return None


def _insertion(lines: list[str], after: str | None, before: str | None) -> int:
    """Where a new block goes: after the last line ``after`` matches, before the last ``before`` matches, BOF, EOF."""
    if before == "BOF":
        return 0
    if before is None and after in (None, "EOF"):
        return len(lines)
    pattern = re.compile(before if before is not None else after or "")
    hits = [index for index, text in enumerate(lines) if pattern.search(text)]
    if not hits:
        return len(lines)
    return hits[-1] if before is not None else hits[-1] + 1


def with_block(
    lines: list[str], markers: tuple[str, str], block: list[str] | None, after: str | None, before: str | None
) -> list[str]:
    """``lines`` with the block between ``markers`` replaced in place, inserted, or (``block=None``) removed.

    Raises:
        ValueError: one marker is there without the other.
    """
    begin, end = markers
    start = _find(lines, begin)
    stop = _find(lines, end, start + 1) if start is not None else None
    stray = _find(lines, end) if start is None else None
    if stray is not None:
        raise ValueError(f"line {stray + 1} is the end marker {end!r}, but no begin marker is before it")
    if start is not None and stop is None:
        raise ValueError(f"line {start + 1} is the begin marker {begin!r}, but no end marker follows it")
    if start is not None and stop is not None:
        if block is None:
            return lines[:start] + lines[stop + 1 :]
        return lines[: start + 1] + block + lines[stop:]
    if block is None:
        return lines
    at = _insertion(lines, after, before)
    return [*lines[:at], begin, *block, end, *lines[at:]]


# ---------------------------------------------------------------- replacing


def replaced(lines: list[str], pattern: re.Pattern[str], replacement: str, count: int) -> str:
    """The text of ``lines`` (each followed by "\\n") with ``pattern`` replaced (``count=0``: every match)."""
    return pattern.sub(replacement, "".join(text + "\n" for text in lines), count=count)


def converges(text: str, pattern: re.Pattern[str], replacement: str, count: int) -> bool:
    """Whether replacing again in the file written with ``text`` changes nothing (else every run would)."""
    lines = split_lines(text.encode("utf-8", "surrogateescape"))
    return replaced(lines, pattern, replacement, count) == "".join(line + "\n" for line in lines)
