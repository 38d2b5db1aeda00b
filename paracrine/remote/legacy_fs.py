"""Temporary: the previous path-based file operations behind the fsops API (replaced by fsops)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from typing import Any, BinaryIO

from paracrine.remote import state


def ids(owner: str | None, group: str | None) -> tuple[int, int]:
    import grp
    import pwd

    uid = gid = -1
    if owner:
        uid = int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid
    if group:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    return uid, gid


def _same_file(path: str, sha256: str, mode: int | None, uid: int, gid: int) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    if mode is not None and stat.S_IMODE(st.st_mode) != mode:
        return False
    if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
        return False
    with open(path, "rb") as stream:
        digest = hashlib.sha256(stream.read()).hexdigest()
    return digest == sha256


def write_file(
    path: str,
    content: bytes | Callable[[BinaryIO], None],
    *,
    sha256: str,
    mode: int | None = None,
    uid: int = -1,
    gid: int = -1,
    validate: Any = None,
) -> bool:
    if _same_file(path, sha256, mode, uid, gid):
        return False
    parent = os.path.dirname(path) or "/"
    os.makedirs(parent, mode=0o755, exist_ok=True)
    try:
        old: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        old = None
    if mode is None:
        mode = (old.st_mode & 0o7777) if old is not None and not os.path.islink(path) else 0o644
    fd, tmp = tempfile.mkstemp(dir=parent, prefix="." + os.path.basename(path) + ".paracrine-")
    try:
        with os.fdopen(fd, "wb") as stream:
            if isinstance(content, bytes):
                stream.write(content)
            else:
                content(stream)
            stream.flush()
            if old is not None and (uid == -1 or gid == -1):
                uid = old.st_uid if uid == -1 else uid
                gid = old.st_gid if gid == -1 else gid
            if uid != -1 or gid != -1:
                os.fchown(stream.fileno(), uid, gid)
            os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    state.fsync_dir(parent)
    return True


def set_attributes(path: str, *, mode: int | None = None, uid: int = -1, gid: int = -1) -> bool:
    st = os.lstat(path)
    changed = False
    if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
        os.lchown(path, uid, gid)
        changed = True
    if mode is not None and not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
        changed = True
    return changed


def make_directory(path: str, *, mode: int | None = None, uid: int = -1, gid: int = -1) -> bool:
    if not os.path.isdir(path) or os.path.islink(path):
        parent = os.path.dirname(path.rstrip("/")) or "/"
        os.makedirs(parent, mode=0o755, exist_ok=True)
        os.mkdir(path, 0o700)
        set_attributes(path, mode=0o755 if mode is None else mode, uid=uid, gid=gid)
        state.fsync_dir(parent)
        return True
    return set_attributes(path, mode=mode, uid=uid, gid=gid)


def make_link(path: str, target: str) -> bool:
    if os.path.islink(path) and os.readlink(path) == target:
        return False
    if os.path.isdir(path) and not os.path.islink(path):
        raise IsADirectoryError(f"{path} is a directory; remove it first")
    parent = os.path.dirname(path) or "/"
    os.makedirs(parent, mode=0o755, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.paracrine-{os.getpid()}")
    try:
        os.symlink(target, tmp)
        os.rename(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    state.fsync_dir(parent)
    return True


def remove(path: str, *, recursive: bool = False) -> bool:
    if not os.path.lexists(path):
        return False
    if os.path.isdir(path) and not os.path.islink(path):
        if recursive:
            shutil.rmtree(path)
        else:
            os.rmdir(path)
    else:
        os.unlink(path)
    return True
