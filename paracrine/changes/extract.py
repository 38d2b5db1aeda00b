"""ExtractArchive: extract members of a controller's tar archive into a directory on the target, safely.

The archive (tar, tar.gz, tar.bz2 or tar.xz) is streamed from the
controller like a :class:`~paracrine.changes.write.WriteFile` source, into an
anonymous temporary file in the destination, and its SHA-256 is checked. The
listed members are then extracted one by one with
:mod:`paracrine.remote.fsops`: directories created, files written to a
temporary file and renamed into place, links made. Nothing of the archive is
trusted beyond :func:`members`' rules, which are those of Python's tarfile
``data`` filter, checked here so that targets whose Python lacks it (before
3.11.4) get them too; the controller checks them at plan time as well:

* names are relative and without ``..`` (a leading ``./`` is dropped);
* no devices or FIFOs; hard links become copies of the file they link to;
* symbolic links are relative and stay inside the destination, and neither a
  link's target nor another member's name goes through a link of the archive;
  on the target, no member is written through a link or non-directory there;
* modes lose setuid, setgid, sticky and group/other write bits, owners can
  read and write their files, and directories are made 0755; owners are
  ``owner``/``group`` (else the extracting user), never the archive's.

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import IO, TYPE_CHECKING, Any, BinaryIO, ClassVar, NamedTuple

from paracrine.changes.base import Change, attrs_text, shown
from paracrine.changes.write import LocalFile
from paracrine.remote import wire

if TYPE_CHECKING:
    import tarfile

    from paracrine.predict import Effect

#: Only changes files: a deferred change need not run before it (see paracrine.remote.execute).
FILES_ONLY = True
CHUNK = 1 << 20


class UnsafeArchive(ValueError):
    """A member that a safe extraction refuses (the message names it and says why)."""


class Member(NamedTuple):
    """A member as it is extracted: ``name`` below the destination (after ``strip_components``)."""

    name: str
    kind: str  # "file", "directory" or "link"
    mode: int | None  # regular files: the mode they get; None for directories and links
    target: str | None  # links: their target
    info: tarfile.TarInfo


def data_mode(mode: int) -> int:
    """A regular file's mode as the ``data`` filter extracts it."""
    mode &= 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


def _ancestors(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


def _name(raw: str, strip: int) -> str | None:
    """The checked name below the destination, or None for the destination itself (``./``) or stripped ones."""
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if raw.startswith("/"):
        raise UnsafeArchive(f"{raw!r} is an absolute path")
    if ".." in parts:
        raise UnsafeArchive(f"{raw!r} contains '..'")
    return "/".join(parts[strip:]) or None


def _link_target(name: str, target: str, links: set[str]) -> str:
    """``target`` if the link ``name`` leads inside the destination without going through another link."""
    if not target or "\0" in target:
        raise UnsafeArchive(f"{name!r} is a symbolic link with an empty target")
    if target.startswith("/"):
        raise UnsafeArchive(f"{name!r} is a symbolic link to an absolute path ({target})")
    where = name.split("/")[:-1]
    steps = [p for p in target.split("/") if p not in ("", ".")]
    for index, step in enumerate(steps):
        if step == "..":
            if not where:
                raise UnsafeArchive(f"{name!r} is a symbolic link leading outside the destination ({target})")
            where.pop()
            continue
        where.append(step)
        if index < len(steps) - 1 and "/".join(where) in links:
            raise UnsafeArchive(f"{name!r} is a symbolic link through another link ({target})")
    return target


def members(archive: tarfile.TarFile, strip: int = 0) -> list[Member]:
    """The members of ``archive`` as they are extracted, in archive order (a later one of a name wins).

    Raises:
        UnsafeArchive: a member breaks one of the rules of the module docstring.
    """
    found: dict[str, Member] = {}
    links: set[str] = set()
    for info in archive:
        name = _name(info.name, strip)
        if name is None:
            continue
        for above in _ancestors(name):
            if above in found and found[above].kind != "directory":
                how = "a symbolic link" if found[above].kind == "link" else "a file"
                raise UnsafeArchive(f"{info.name!r} goes through {above!r}, which is {how}")
        if info.isdir():
            member = Member(name, "directory", None, None, info)
        elif info.isreg() or info.islnk():
            if info.islnk() and _linked(found, info.linkname, strip) is None:
                raise UnsafeArchive(f"{info.name!r} is a hard link to {info.linkname!r}, not an earlier file")
            member = Member(name, "file", data_mode(info.mode), None, info)
        elif info.issym():
            member = Member(name, "link", None, _link_target(name, info.linkname, links), info)
        else:
            raise UnsafeArchive(f"{info.name!r} is a device or FIFO")
        (links.add if member.kind == "link" else links.discard)(name)
        found[name] = member
    return list(found.values())


def _linked(found: dict[str, Member], linkname: str, strip: int) -> Member | None:
    name = _name(linkname, strip)
    member = found.get(name) if name is not None else None
    return member if member is not None and member.kind == "file" else None


@dataclasses.dataclass(frozen=True)
class ExtractArchive(Change):
    """Extract ``members`` (name, SHA-256 of a file's content) of the archive ``source`` into directory ``path``.

    ``predicted`` are the extraction's effects on facts, which the operation
    knows from the archive; without them the change is opaque.
    """

    kind: ClassVar[str] = "extract"
    path: str
    source: LocalFile
    members: tuple[tuple[str, str | None], ...]
    strip_components: int = 0
    owner: str | None = None
    group: str | None = None
    predicted: tuple[Effect, ...] | None = dataclasses.field(default=None, compare=False, metadata={"wire": False})

    def to_wire(self) -> dict[str, Any]:
        data = super().to_wire()
        data["sha256"] = self.source.sha256
        data["source"] = {"path": self.source.path, "size": self.source.size}
        data["members"] = [list(m) for m in self.members]
        return data

    def to_json(self, masked: bool = False, contents: bool = False) -> dict[str, Any]:
        data = super().to_json()
        data.pop("source")  # a controller path; the archive is known by its hash and size
        data["size"] = self.source.size
        return data

    def describe(self, masked: bool = False) -> str:
        import os

        attrs = attrs_text(None, self.owner, self.group)
        count = f"{len(self.members)} member{'s' if len(self.members) != 1 else ''}" + (f", {attrs}" if attrs else "")
        return f"extract {shown(os.path.basename(self.source.path))} into {shown(self.path)} ({count})"

    def effects(self) -> list[Effect]:
        if self.predicted is not None:
            return list(self.predicted)
        return super().effects()


# ---------------------------------------------------------------- target side


def _check_parents(dest: str, name: str) -> None:
    """Refuse to extract ``name`` through a link or non-directory below ``dest`` (missing ones are created)."""
    import os
    import stat

    for above in _ancestors(name):
        try:
            st = os.lstat(f"{dest}/{above}")
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeArchive(f"{name!r} would be extracted through {dest}/{above}, which is not a directory")


def _copier(source: IO[bytes], sha256: str | None, name: str) -> Any:
    def write(stream: BinaryIO) -> None:
        digest = hashlib.sha256()
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            stream.write(chunk)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ValueError(f"member {name!r} of the archive is not what was planned")

    return write


def _extract(archive: tarfile.TarFile, member: Member, dest: str, sha256: str | None, ids: tuple[int, int]) -> bool:
    from paracrine.remote import fsops

    path = f"{dest.rstrip('/')}/{member.name}"
    _check_parents(dest, member.name)
    uid, gid = ids
    if member.kind == "directory":
        return fsops.make_directory(path, uid=uid, gid=gid)
    if member.kind == "link":
        made = fsops.make_link(path, member.target or "")
        owned = (uid, gid) != (-1, -1) and fsops.set_attributes(path, uid=uid, gid=gid)
        return made or owned
    source = archive.extractfile(member.info)
    if source is None:
        raise UnsafeArchive(f"member {member.name!r} has no content")
    with source:
        writer = _copier(source, sha256, member.name)
        return fsops.write_file(path, writer, sha256=sha256 or "", mode=member.mode, uid=uid, gid=gid)


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Stream the archive into the destination, check it, extract the listed members that differ."""
    import tarfile
    import tempfile

    from paracrine.changes.write import _streamer
    from paracrine.remote import fsops

    dest = change["path"]
    ids = fsops.ids(change.get("owner"), change.get("group"))
    wanted = {name: sha256 for name, sha256 in change["members"]}
    changed = False
    with tempfile.TemporaryFile(dir=dest) as spool:
        _streamer(change["source"], change["sha256"])(spool)
        spool.seek(0)
        with tarfile.open(fileobj=spool, mode="r:*") as archive:
            for member in members(archive, int(change.get("strip_components", 0))):
                if member.name in wanted:
                    changed = _extract(archive, member, dest, wanted[member.name], ids) or changed
    outcome["changed"] = changed
