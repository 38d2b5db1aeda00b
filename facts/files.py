"""Facts about paths: what is there, its metadata, checksum, entries and lines.

Links are never followed: a fact about a path describes the path itself, so a
symbolic link is reported as a link (with its target), not as what it points to.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypedDict

from paracrine.fact import fact

Kind = Literal["file", "directory", "link", "other"]


class _Metadata(TypedDict):
    kind: Kind
    mode: int
    owner: str
    group: str
    uid: int
    gid: int
    size: int
    target: str | None


class PathInfo(_Metadata):
    """Metadata of one path, from ``lstat`` (links are not followed)."""

    mtime: float


CHUNK = 1024 * 1024


def _kind(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def _lstat(path: str) -> os.stat_result | None:
    """``os.lstat``, or None if nothing is at ``path`` (or a parent is not a directory)."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _owner_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


@fact
def path_info(path: str) -> PathInfo | None:
    """Describe ``path`` without following links; None if nothing is there.

    Args:
        path: an absolute path.

    Returns:
        {"kind": "file"|"directory"|"link"|"other", "mode": permission bits
        (st_mode & 0o7777, e.g. 0o644), "owner"/"group": names (or the id as a
        string if unnamed), "uid", "gid", "size", "mtime" (epoch seconds),
        "target": the link's target for links, else None}; None if absent.

    Example:
        paracrine facts web1 files.path_info path=/etc/hosts
    """
    st = _lstat(path)
    if st is None:
        return None
    kind = _kind(st.st_mode)
    return {
        "kind": kind,
        "mode": stat.S_IMODE(st.st_mode),
        "owner": _owner_name(st.st_uid),
        "group": _group_name(st.st_gid),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "size": st.st_size,
        "mtime": st.st_mtime,
        "target": os.readlink(path) if kind == "link" else None,
    }


def _open_regular(path: str) -> tuple[int, os.stat_result] | None:
    """Open ``path`` for reading if it is a regular file (not through a link).

    Returns the file descriptor and its fstat, or None if the path is absent,
    a link or not a regular file. Non-blocking, so a FIFO never hangs the fact.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        st = _lstat(path)
        if st is None or not stat.S_ISREG(st.st_mode):
            return None  # absent, a link (ELOOP), a socket (ENXIO), ...
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return fd, st


@fact
def sha256(path: str) -> str | None:
    """The SHA-256 of a regular file's contents.

    Args:
        path: an absolute path.

    Returns:
        The lowercase hex digest; None if ``path`` is absent, a symbolic link
        (even to a file) or anything else that is not a regular file.

    Example:
        paracrine facts web1 files.sha256 path=/etc/hosts
    """
    opened = _open_regular(path)
    if opened is None:
        return None
    return _digest(opened[0])


def _digest(fd: int) -> str:
    """The SHA-256 of what is left to read from ``fd`` (closed afterwards)."""
    import hashlib

    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@fact
def listing(path: str) -> list[str] | None:
    """The names in a directory.

    Args:
        path: an absolute path.

    Returns:
        The entry names, sorted (without "." and ".."); None if ``path`` is
        absent or not a directory (a link to a directory counts as not one).

    Example:
        paracrine facts web1 files.listing path=/etc/nginx/sites-enabled
    """
    st = _lstat(path)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return None
    return sorted(os.listdir(path))


@fact(cache=False)
def lines(path: str, max_bytes: int = 1048576) -> list[str] | None:
    """The lines of a text file, without their newline characters.

    Lines are split at "\\n" only (a "\\r" of CRLF files stays), and the file
    is decoded as UTF-8; undecodable bytes become surrogate escapes, so they
    survive unchanged but cannot be mistaken for valid text.

    Args:
        path: an absolute path to a regular file.
        max_bytes: refuse files larger than this (default 1 MiB).

    Returns:
        The lines (an empty file gives []); None if ``path`` is absent.

    Raises:
        ValueError: the path is not a regular file (links are not followed),
            or it is larger than ``max_bytes``.

    Example:
        paracrine facts web1 files.lines path=/etc/hosts
    """
    opened = _open_regular(path)
    if opened is None:
        st = _lstat(path)
        if st is None:
            return None
        what = _kind(st.st_mode)
        if what == "link":
            raise ValueError(f"{path} is a symbolic link to {os.readlink(path)}; read the target instead")
        if what == "directory":
            raise ValueError(f"{path} is a directory, not a regular file")
        raise ValueError(f"{path} is not a regular file (a device, socket or FIFO)")
    fd, st = opened
    with os.fdopen(fd, "rb") as f:
        if st.st_size > max_bytes:
            raise ValueError(f"{path} is {st.st_size} bytes, more than max_bytes={max_bytes}")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path} is more than max_bytes={max_bytes} bytes")
    return split_lines(data)


def split_lines(data: bytes) -> list[str]:
    """Lines of file contents as :func:`lines` returns them (UTF-8, surrogate escapes, split at "\\n")."""
    text = data.decode("utf-8", "surrogateescape")
    if not text:
        return []
    result = text.split("\n")
    if result[-1] == "":
        result.pop()
    return result


# ---------------------------------------------------------------- trees

#: Most entries :func:`tree` describes before it refuses (each is about 200 bytes on the wire).
MAX_TREE_ENTRIES = 50000

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_REGULAR = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class TreeEntry(_Metadata):
    """One path below the root of :func:`tree`, from ``lstat``, with the SHA-256 of a regular file's content."""

    sha256: str | None


def excluded(rel: str, patterns: Sequence[str]) -> bool:
    """Whether the relative path ``rel`` matches one of the glob ``patterns`` (like rsync's ``--exclude``).

    A pattern starting with "/" or with a "/" inside is matched against the
    whole path (``/build``, ``cache/*.tmp``), any other against the name at any
    depth (``*.pyc``); a trailing "/" is ignored and ``*`` matches "/" too.
    Walks do not enter an excluded directory: what is below it is excluded.
    """
    from fnmatch import fnmatchcase

    name = rel.rpartition("/")[2]
    bodies = [(p.strip("/"), p.startswith("/") or "/" in p.strip("/")) for p in patterns]
    return any(body and fnmatchcase(rel if anchored else name, body) for body, anchored in bodies)


class _TreeWalk:
    """Walks a directory by file descriptor (``O_NOFOLLOW``), collecting :class:`TreeEntry` values."""

    def __init__(self, root: str, exclude: Sequence[str], limit: int) -> None:
        self.root = root
        self.exclude = exclude
        self.limit = limit
        self.entries: dict[str, TreeEntry] = {}
        self._names: dict[tuple[bool, int], str] = {}

    def walk(self, dir_fd: int, prefix: str, only: Sequence[str] | None = None) -> None:
        names = sorted(os.listdir(dir_fd)) if only is None else sorted(set(only))
        subdirs = []
        for name in names:
            rel = prefix + name
            if self.exclude and excluded(rel, self.exclude):
                continue
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            self.entries[rel] = self._entry(dir_fd, name, st)
            if len(self.entries) > self.limit:
                raise ValueError(f"{self.root} has more than {self.limit} entries; exclude some or raise max_entries")
            if stat.S_ISDIR(st.st_mode):
                subdirs.append((name, rel))
        for name, rel in subdirs:
            try:
                fd = os.open(name, _DIRECTORY, dir_fd=dir_fd)
            except OSError:  # replaced by something else meanwhile: described as it was
                continue
            try:
                self.walk(fd, rel + "/")
            finally:
                os.close(fd)

    def _entry(self, dir_fd: int, name: str, st: os.stat_result) -> TreeEntry:
        kind = _kind(st.st_mode)
        return {
            "kind": kind,
            "mode": stat.S_IMODE(st.st_mode),
            "owner": self._name(True, st.st_uid),
            "group": self._name(False, st.st_gid),
            "uid": st.st_uid,
            "gid": st.st_gid,
            "size": st.st_size,
            "sha256": self._hash(dir_fd, name) if kind == "file" else None,
            "target": os.readlink(name, dir_fd=dir_fd) if kind == "link" else None,
        }

    def _name(self, user: bool, number: int) -> str:
        key = (user, number)
        if key not in self._names:
            self._names[key] = _owner_name(number) if user else _group_name(number)
        return self._names[key]

    @staticmethod
    def _hash(dir_fd: int, name: str) -> str | None:
        try:
            fd = os.open(name, _REGULAR, dir_fd=dir_fd)
        except OSError:  # replaced by a link or removed meanwhile
            return None
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return _digest(fd)
        os.close(fd)
        return None


def _tree_derived(fact: Callable[..., Any], path: str, **args: Any) -> dict[str, TreeEntry] | None:
    """The tree after earlier changes at ``path`` itself: None once it is removed, {} if new and empty.

    Otherwise it is gathered again after those changes ran (``paths=`` of :func:`paracrine.fact.fact`).
    """
    info = fact("files.path_info", path=path)
    if info is None or info["kind"] != "directory":
        return None
    if fact("files.listing", path=path) == []:
        return {}
    from paracrine.gather import make_key  # controller side: derive never runs on targets
    from paracrine.predict import Unpredictable

    raise Unpredictable(make_key("files.tree", {"path": path, **args}))


@fact(paths=lambda path, **_: [path], derive=_tree_derived)
def tree(
    path: str,
    exclude: list[str] | None = None,
    only: list[str] | None = None,
    max_entries: int = MAX_TREE_ENTRIES,
) -> dict[str, TreeEntry] | None:
    """Every path below a directory, with its metadata and the SHA-256 of regular files.

    Links are never followed: they are described as links, and directories are entered by file descriptor.

    Args:
        path: an absolute path.
        exclude: glob patterns of entries to leave out with everything below
            them (``*.pyc``, ``/cache``; see :func:`excluded`).
        only: names of entries directly in ``path`` to describe (with what is
            below them); None describes all.
        max_entries: refuse a tree with more entries than this.

    Returns:
        {relative path: {"kind", "mode", "owner", "group", "uid", "gid",
        "size", "sha256" (regular files, else None), "target" (links, else
        None)}} sorted by path, without ``path`` itself; None if ``path`` is
        absent or not a directory (a link to a directory counts as not one).

    Raises:
        ValueError: more than ``max_entries`` entries, or a name in ``only`` that is not a plain name.

    Example:
        paracrine facts web1 files.tree path=/srv/app 'exclude=["*.pyc"]'
    """
    for name in only or ():
        if name in ("", ".", "..") or "/" in name or "\0" in name:
            raise ValueError(f"only= takes names of entries of {path}, got {name!r}")
    try:
        fd = os.open(path, _DIRECTORY)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):  # ELOOP: a symbolic link
            return None
        raise
    walk = _TreeWalk(path, exclude or [], max_entries)
    try:
        walk.walk(fd, "", only)
    finally:
        os.close(fd)
    return dict(sorted(walk.entries.items()))
