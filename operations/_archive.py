"""Reading local tar archives for ``files.unarchive``: their members, checked and hashed, and what extracting them does.

The checks are those the target applies again (:func:`paracrine.changes.extract.members`),
so an unsafe archive fails at plan time, before anything runs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from paracrine.changes import LocalFile, extract
from paracrine.errors import LocalFileError
from paracrine.operations import _tree
from paracrine.predict import Effect, path_effects

_ARCHIVES: dict[tuple[str, int], dict[str, _tree.Wanted]] = {}


def members(archive: LocalFile, strip: int) -> dict[str, _tree.Wanted]:
    """The checked members of a local tar archive as wanted entries (read once per archive content)."""
    import tarfile

    key = (archive.sha256, strip)
    if key in _ARCHIVES:
        return _ARCHIVES[key]
    shown = os.path.relpath(archive.path)
    shown = archive.path if shown.startswith("..") else shown
    try:
        with tarfile.open(archive.path, "r:*") as tar:
            wanted = {m.name: _member(tar, m) for m in extract.members(tar, strip)}
    except extract.UnsafeArchive as exc:
        raise LocalFileError(f"refusing to extract {shown!r}: {exc}", hint="fix the archive") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        hint = "files.unarchive extracts tar archives (.tar, .tar.gz, .tar.bz2, .tar.xz)"
        detail = "" if isinstance(exc, tarfile.ReadError) else f" ({exc})"
        raise LocalFileError(f"local file {shown!r} is not a readable tar archive{detail}", hint=hint) from None
    _ARCHIVES[key] = wanted
    return wanted


def _member(tar: Any, member: extract.Member) -> _tree.Wanted:
    if member.kind == "directory":
        return _tree.Wanted("directory")
    if member.kind == "link":
        return _tree.Wanted("link", target=member.target)
    digest, size = hashlib.sha256(), 0
    with tar.extractfile(member.info) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return _tree.Wanted("file", member.mode, digest.hexdigest(), size)


def effects(
    dest: str, names: list[str], wanted: Mapping[str, _tree.Wanted], owner: str | None, group: str | None
) -> list[Effect]:
    """The predicted effects of extracting ``names`` on the path facts (file contents are not known line by line)."""
    effects = []
    for name in names:
        want, path = wanted[name], _tree.join(dest, name)
        if want.kind == "directory":
            effects += path_effects.directory(path, None, owner, group)
        elif want.kind == "link":
            effects += path_effects.link(path, want.target or "")
        else:
            effects += path_effects.written(path, want.sha256 or "", want.size or 0, None, want.mode, owner, group)
    return effects
