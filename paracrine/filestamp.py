"""What tells versions of a file apart without reading it: inode, modification time and size.

A file replaced by a rename (every atomic write) gets a new inode; one written in place a
new mtime. Used for what a long-lived process (``paracrine agent``, ``watch``) keeps while a
file is unchanged: parsed fact caches and the user's modules.
"""

from __future__ import annotations

import os

Stamp = tuple[int, int, int]


def file_stamp(path: str | os.PathLike[str]) -> Stamp | None:
    """The stamp of ``path`` (links followed), or None when it cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)
