"""Facts about paths: what is there, its metadata, checksum, entries and lines.

Links are never followed: a fact about a path describes the path itself, so a
symbolic link is reported as a link (with its target), not as what it points to.
"""

from __future__ import annotations

import os
import stat
from typing import Literal, TypedDict

from paracrine.fact import fact

Kind = Literal["file", "directory", "link", "other"]


class PathInfo(TypedDict):
    """Metadata of one path, from ``lstat`` (links are not followed)."""

    kind: Kind
    mode: int
    owner: str
    group: str
    uid: int
    gid: int
    size: int
    mtime: float
    target: str | None


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
    import hashlib

    opened = _open_regular(path)
    if opened is None:
        return None
    digest = hashlib.sha256()
    with os.fdopen(opened[0], "rb") as f:
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
