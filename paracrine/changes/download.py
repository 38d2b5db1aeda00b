"""DownloadFile: the target downloads a URL into a file, checked before it is moved in place.

The content never passes through the controller: the target fetches it with
``urllib`` (http, https, ftp; the target's proxy variables apply) into a
temporary file in the destination's directory (:func:`paracrine.remote.fsops.write_file`),
checks its SHA-256 when one is given, and renames it over the path. A failed
download or a wrong checksum leaves nothing behind.

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from paracrine.changes.base import Change, attrs_text, shown
from paracrine.remote import wire
from paracrine.secret import MASK

if TYPE_CHECKING:
    from paracrine.predict import Effect

#: Only changes files: a deferred change need not run before it (see paracrine.remote.execute).
FILES_ONLY = True
CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class DownloadFile(Change):
    """Download ``url`` to ``path`` on the target, atomically; a given ``sha256`` must match.

    Without ``sha256`` the file is replaced by whatever the server sends
    (reported as a change only when content or attributes differ afterwards).
    """

    kind: ClassVar[str] = "download"
    path: str
    url: str
    sha256: str | None = None
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    headers: Mapping[str, str] | None = None
    timeout: float = 60.0

    def to_wire(self) -> dict[str, Any]:
        data = super().to_wire()
        data["headers"] = dict(data["headers"]) if self.headers else None
        return data

    def to_json(self, masked: bool = False, contents: bool = False) -> dict[str, Any]:
        data = super().to_json()
        if masked:
            data["url"] = MASK
        if data["headers"]:
            data["headers"] = dict.fromkeys(data["headers"], MASK)  # names only: values often hold tokens
        return data

    def describe(self, masked: bool = False) -> str:
        notes = [n for n in (attrs_text(self.mode, self.owner, self.group), self.sha256 and "sha256 checked") if n]
        extra = f" ({', '.join(notes)})" if notes else ""
        return f"download {MASK if masked else shown(self.url)} to {shown(self.path)}{extra}"

    def effects(self) -> list[Effect]:
        from paracrine.predict import Effect, fact_named, path_effects

        effects = path_effects.written(self.path, self.sha256 or "", None, None, self.mode, self.owner, self.group)  # type: ignore[arg-type]
        if self.sha256 is None:  # the content is not known before it arrives
            effects.append(Effect.opaque(fact_named("files.sha256", path=self.path)))
        return effects


# ---------------------------------------------------------------- target side


def _fetch(change: dict[str, Any], stream: BinaryIO) -> None:
    """Write the response body to ``stream``; a wrong SHA-256 raises, so nothing is installed."""
    import urllib.request

    request = urllib.request.Request(change["url"], headers=change.get("headers") or {})
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=change.get("timeout", 60.0)) as response:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                stream.write(chunk)
    except OSError as exc:  # URLError, HTTPError, timeouts: say which download failed
        raise OSError(f"downloading {change['url']} failed: {exc}") from None
    expected, got = change.get("sha256"), digest.hexdigest()
    if expected and got != expected:
        raise ValueError(
            f"{change['url']} has sha256 {got}, not the expected {expected}; {change['path']} is unchanged"
        )


def _state(path: str) -> tuple[Any, ...] | None:
    """Content hash, mode and owner of the regular file at ``path`` (None if there is none)."""
    import os

    from paracrine.facts.files import sha256

    digest = sha256(path)
    if digest is None:
        return None
    st = os.lstat(path)
    return digest, st.st_mode, st.st_uid, st.st_gid


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Download into a temporary file beside the path, check it, rename it into place."""
    from paracrine.remote import fsops

    uid, gid = fsops.ids(change.get("owner"), change.get("group"))
    expected = change.get("sha256")
    before = None if expected else _state(change["path"])

    def write(stream: BinaryIO) -> None:
        _fetch(change, stream)

    written = fsops.write_file(
        change["path"],
        write,
        sha256=expected or "",  # no checksum: never taken for the file that is there
        mode=change.get("mode"),
        uid=uid,
        gid=gid,
    )
    outcome["changed"] = written and (expected is not None or _state(change["path"]) != before)
