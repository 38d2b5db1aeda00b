"""WriteFile: replace a file's content atomically, never writing through a symbolic link.

Content is either inline (``data``, small files and rendered templates) or a
file on the controller (``source``) that the target streams in 128 KiB chunks
through Mitogen's FileService, so a file of any size costs the controller a
few MiB of memory and never counts against Mitogen's message size limit. The
controller also moves large inline content to a spool file before it sends a
batch (:mod:`paracrine.batches`).

On the target: a temporary file in the same directory gets the content, the
owner and the mode, is checked with ``validate`` (if given), fsynced, and
renamed over the path.

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from paracrine.changes.base import Change, attrs_text, shown
from paracrine.remote import wire
from paracrine.secret import MASK

if TYPE_CHECKING:
    from collections.abc import Callable

    from paracrine.predict import Effect

#: Only changes files: a deferred change need not run before it (see paracrine.remote.execute).
FILES_ONLY = True

#: File contents up to this size appear in ``--json`` output and test cases.
MAX_JSON_CONTENT = 65536
#: Contents up to this size are predicted line by line for later ``files.line`` operations.
MAX_PREDICTED_LINES = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class LocalFile:
    """A file on the controller whose content a change sends (streamed, never read whole)."""

    path: str
    size: int
    sha256: str

    @classmethod
    def of(cls, path: str) -> LocalFile:
        """Describe ``path`` (its hash is computed once per file version and run)."""
        import os

        st = os.stat(path)
        return cls(path, st.st_size, _hash_file(path, st.st_mtime_ns, st.st_size))

    def read(self) -> bytes:
        with open(self.path, "rb") as stream:
            return stream.read()


_HASHES: dict[tuple[str, int, int], str] = {}


def _hash_file(path: str, mtime_ns: int, size: int) -> str:
    key = (path, mtime_ns, size)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


@dataclasses.dataclass(frozen=True)
class WriteFile(Change):
    """Write ``data`` (or the controller file ``source``) to ``path`` atomically.

    ``validate`` is an argument list run against the new content before it is
    moved in place; ``{}`` in it stands for the temporary file's path (e.g.
    ``("visudo", "-cf", "{}")``). A non-zero exit leaves the old file untouched.
    """

    kind: ClassVar[str] = "write"
    path: str
    data: bytes | None = None
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    source: LocalFile | None = None
    validate: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.source is None):
            raise TypeError("WriteFile takes exactly one of data= and source=")

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.source.size  # type: ignore[union-attr]

    @property
    def sha256(self) -> str:
        if self.data is not None:
            return hashlib.sha256(self.data).hexdigest()
        return self.source.sha256  # type: ignore[union-attr]

    def content(self) -> bytes:
        """The whole new content (reads a ``source`` file: for diffs of small files only)."""
        return self.data if self.data is not None else self.source.read()  # type: ignore[union-attr]

    def to_wire(self) -> dict[str, Any]:
        data = super().to_wire()
        data["sha256"] = self.sha256
        if self.source is not None:
            data["source"] = {"path": self.source.path, "size": self.source.size}
        return data

    def to_json(self, masked: bool = False, contents: bool = False) -> dict[str, Any]:
        data = super().to_json()
        data.pop("data")
        data.pop("source")
        if self.validate is None:
            data.pop("validate")
        data["size"] = self.size
        if contents and self.size <= MAX_JSON_CONTENT and not masked:
            with contextlib.suppress(UnicodeDecodeError):
                data["content"] = self.content().decode("utf-8")
        return data

    def describe(self, masked: bool = False) -> str:
        attrs = attrs_text(self.mode, self.owner, self.group)
        what = f"{self.size} bytes" + (f", {attrs}" if attrs else "")
        check = f", checked with {MASK if masked else shown(' '.join(self.validate))}" if self.validate else ""
        return f"write {shown(self.path)} ({what}{check})"

    def effects(self) -> list[Effect]:
        from paracrine.predict import path_effects

        lines: Callable[[], Any] | None = None
        if self.size <= MAX_PREDICTED_LINES:
            from paracrine.facts.files import split_lines

            lines = lambda: split_lines(self.content())  # noqa: E731
        return path_effects.written(self.path, self.sha256, self.size, lines, self.mode, self.owner, self.group)


# ---------------------------------------------------------------- target side


class _Hashing:
    """A file object that hashes what is written through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.stream.write(data)


def _streamer(source: dict[str, Any], sha256: str) -> Callable[[BinaryIO], None]:
    """A writer that streams ``source`` from the controller's FileService and checks what arrived."""

    def write(stream: BinaryIO) -> None:
        import mitogen.service  # present on every target: it is how this code got there

        hashing = _Hashing(stream)
        ok, _meta = mitogen.service.FileService.get(source["context"], source["path"], hashing)
        if not ok or hashing.size != source["size"]:
            raise OSError(
                f"the transfer of {source['path']} was interrupted ({hashing.size} of {source['size']} bytes)"
            )
        if hashing.digest.hexdigest() != sha256:
            raise OSError(f"{source['path']} changed on the controller during the run; run again")

    return write


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Write the file unless it already has this content and these attributes."""
    from paracrine.remote import fsops

    uid, gid = fsops.ids(change.get("owner"), change.get("group"))
    source = change.get("source")
    content = change["data"] if source is None else _streamer(source, change["sha256"])
    validate = change.get("validate")
    outcome["changed"] = fsops.write_file(
        change["path"], content, sha256=change["sha256"], mode=change.get("mode"), uid=uid, gid=gid, validate=validate
    )
