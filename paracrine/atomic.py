"""Replacing a controller-side file atomically: a reader sees the old file or the new one, never half."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int | None = None, *, durable: bool = False) -> None:
    """Replace ``path`` with ``data`` through a temporary file in the same directory and a rename.

    ``mode`` sets the permissions (default: the temporary file's 0600); ``durable`` also syncs the
    data to disk before the rename, for files a crash must not lose.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
