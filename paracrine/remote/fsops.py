"""Path operations on targets that never act through an untrusted symbolic link.

Standard library only (runs on targets: Linux, Python 3.11). Every operation
resolves its path with :func:`open_parent`, a walk from ``/`` by file
descriptor (``openat`` with ``O_NOFOLLOW``), then acts on ``(parent_fd, name)``.
A link on the way is followed only when nobody but root (or the euid) can have
planted or changed it; the last component is never followed: a link there is
replaced, removed or chowned as a link. So a user who can write into a
directory on the path cannot swap in a link and make root act elsewhere.

Limits: in a directory on the path that others can write to, they can still
rename real directories they control into place (never links). In a final
directory that others can write to and that is not sticky, they can replace
any entry, including a temporary file before it is renamed into place:
operations act only on the name in the pinned directory and ``rename`` is
atomic, but what is deployed there is only as safe as that directory.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shlex
import stat
import subprocess
from collections.abc import Callable, Sequence
from typing import BinaryIO

from paracrine.facts._command import STANDARD_PATH

MAX_HOPS = 40
CHUNK = 1 << 20
TAIL = 2000
_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Writer = Callable[[BinaryIO], None]


class UnsafePathError(OSError):
    """A path leads through a symbolic link that others could have planted (not followed)."""


class ValidationError(Exception):
    """A ``validate`` command rejected a file before it was moved into place."""


def _split(path: str) -> list[str]:
    """The components of an absolute path; ``//``, ``/.`` and a trailing ``/`` are dropped."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"not an absolute path: {path!r}")
    if "\0" in path:
        raise ValueError(f"path contains a NUL byte: {path!r}")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"path contains '..': {path!r}")
    return parts


def _where(walked: list[str], name: str) -> str:
    return "/" + "/".join([*walked, name])


def _trusted_target(dir_fd: int, link_fd: int, link: os.stat_result, path: str, where: str) -> str:
    """The target of the link open as ``link_fd`` in ``dir_fd``, if nobody else can have set it."""
    euid = os.geteuid()
    directory = os.fstat(dir_fd)
    target = os.readlink("", dir_fd=link_fd)  # readlinkat on the O_PATH fd: the link we checked
    reason = None
    if link.st_uid not in (0, euid):
        reason = f"the link is owned by uid {link.st_uid}"
    elif directory.st_uid not in (0, euid):
        reason = f"its directory is owned by uid {directory.st_uid}"
    elif directory.st_mode & 0o022:
        reason = "its directory is writable by other users"
    if reason:
        raise UnsafePathError(f"{path}: symbolic link {where} -> {target} is not followed: {reason}")
    return target


def _new_directory(dir_fd: int, name: str, where: str) -> int:
    """Create directory ``name`` (0o755) in ``dir_fd`` and open it without following links."""
    try:
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    except FileExistsError:  # appeared meanwhile: examine it like any other component
        return os.open(name, _PATH, dir_fd=dir_fd)
    try:
        fd = os.open(name, _DIR, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePathError(f"{where} was replaced right after it was created; not followed") from exc
        raise
    if stat.S_IMODE(os.fstat(fd).st_mode) != 0o755:  # the umask took bits away
        os.fchmod(fd, 0o755)
    return fd


def _step(fd: int, name: str, create: bool, path: str, where: str) -> tuple[int, str]:
    """Open directory ``name`` in ``fd``: ``(child_fd, "")``, or ``(-1, target)`` for a trusted link."""
    try:
        child = os.open(name, _PATH, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), where) from None
        child = _new_directory(fd, name, where)
    try:
        st = os.fstat(child)
        if stat.S_ISDIR(st.st_mode):
            return child, ""
        if not stat.S_ISLNK(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), where)
        target = _trusted_target(fd, child, st, path, where)
    except BaseException:
        os.close(child)
        raise
    os.close(child)
    return -1, target


def _walk(path: str, names: list[str], create: bool) -> int:
    """An O_PATH fd of the directory ``names`` lead to from ``/`` (links checked, see module doc)."""
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    todo = names[::-1]
    walked: list[str] = []
    hops = 0
    try:
        while todo:
            name = todo.pop()
            if name in ("", "."):
                continue
            child, target = _step(fd, name, create, path, _where(walked, name))
            if child >= 0:
                os.close(fd)
                fd, walked = child, walked[:-1] if name == ".." else [*walked, name]
                continue
            hops += 1
            if hops > MAX_HOPS:
                raise OSError(errno.ELOOP, f"more than {MAX_HOPS} symbolic links", path)
            if target.startswith("/"):
                os.close(fd)
                fd, walked = -1, []
                fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            todo.extend(reversed(target.split("/")))
        return fd
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise


def open_parent(path: str, *, create: bool = False) -> tuple[int, str]:
    """Open the directory holding the last component of ``path``, never through an untrusted link.

    Args:
        path: Absolute path; ``..``, NUL and relative paths are refused.
        create: Create missing directories on the way (mode 0o755, owned by the caller).

    Returns:
        ``(fd, name)``: a readable directory fd (O_CLOEXEC; the caller closes it) and the
        last component; for ``/`` itself, the fd of ``/`` and ``"."``.

    Raises:
        ValueError: ``path`` is not absolute and normalised.
        UnsafePathError: A link on the way could have been planted by another user.
        NotADirectoryError: A component exists and is not a directory (or trusted link).
        FileNotFoundError: A directory on the way is missing and ``create`` is false.
        OSError: ``errno.ELOOP`` after more than 40 links, or any error of the syscalls.

    Note:
        If the returned directory is writable by other users and not sticky, they can
        replace any entry in it at any time (see the module docstring).
    """
    parts = _split(path) or ["."]
    fd = _walk(path, parts[:-1], create)
    try:
        return os.open(".", _DIR, dir_fd=fd), parts[-1]
    finally:
        os.close(fd)


def ids(owner: str | int | None, group: str | int | None) -> tuple[int, int]:
    """Numeric ``(uid, gid)`` for names, digit strings or numbers; -1 (leave as is) for None."""
    import grp
    import pwd

    uid = gid = -1
    if owner is not None and owner != "":
        uid = int(owner) if isinstance(owner, int) or owner.isdigit() else pwd.getpwnam(owner).pw_uid
    if group is not None and group != "":
        gid = int(group) if isinstance(group, int) or group.isdigit() else grp.getgrnam(group).gr_gid
    return uid, gid


def _differs(st: os.stat_result, mode: int | None, uid: int, gid: int) -> tuple[bool, bool]:
    """Whether ``(owner, mode)`` of ``st`` differ from the wanted ones."""
    owner = (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid)
    return owner, mode is not None and stat.S_IMODE(st.st_mode) != mode


def _fix(fd: int, target: int | str, mode: int | None, uid: int, gid: int) -> bool:
    """Change only differing attributes of the inode pinned by ``fd`` (through ``target``)."""
    owner, _ = _differs(os.fstat(fd), mode, uid, gid)
    if owner:  # first: chown by root too clears setuid/setgid bits of executables
        os.chown(target, uid, gid)
    _, perms = _differs(os.fstat(fd), mode, uid, gid)
    if perms:
        assert mode is not None
        os.chmod(target, mode)
    return owner or perms


def _temp_prefix(name: str) -> str:
    return f".{name[:200]}.paracrine-"


def _discard(dir_fd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)


def _clean_leftovers(dir_fd: int, name: str) -> None:
    """Unlink the caller's files and links left by interrupted earlier operations on ``name``."""
    prefix, euid = _temp_prefix(name), os.geteuid()
    for entry in os.listdir(dir_fd):
        if not entry.startswith(prefix):
            continue
        try:
            st = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if st.st_uid == euid and (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            _discard(dir_fd, entry)


def _kind(st: os.stat_result) -> str:
    kinds = {stat.S_IFLNK: "a symbolic link", stat.S_IFREG: "a regular file", stat.S_IFDIR: "a directory"}
    return kinds.get(stat.S_IFMT(st.st_mode), "a special file")


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _current(dir_fd: int, name: str, path: str, want: tuple[int | None, int, int]) -> tuple[os.stat_result | None, str]:
    """The stat of the regular file at ``name`` (None if none) and its sha256 if its attributes are ``want``."""
    st = _lstat(dir_fd, name)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if st is None or not stat.S_ISREG(st.st_mode):
        return None, ""
    try:
        fd = os.open(name, _READ, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOENT):  # replaced meanwhile: treat as no file
            return None, ""
        raise
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return None, ""
        if any(_differs(now, *want)):
            return now, ""
        digest = hashlib.sha256()
        while block := os.read(fd, CHUNK):
            digest.update(block)
        return now, digest.hexdigest()
    finally:
        os.close(fd)


def _rename_into_place(dir_fd: int, tmp: str, name: str, validate: Sequence[str] | None, path: str) -> None:
    """Validate temp file ``tmp`` if asked, rename it over ``name``, sync; ``tmp`` is removed on failure."""
    try:
        if validate is not None:
            _validate(validate, "/" + "/".join([*_split(path)[:-1], tmp]))
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        _discard(dir_fd, tmp)
        raise
    os.fsync(dir_fd)


def _validate(argv: Sequence[str], tmp_path: str) -> None:
    command = [arg.replace("{}", tmp_path) for arg in argv]
    env = dict(os.environ, PATH=STANDARD_PATH)
    proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        tail = "\n".join(out[-TAIL:].decode("utf-8", "replace").strip() for out in (proc.stderr, proc.stdout))
        raise ValidationError(f"{shlex.join(command)} failed with exit code {proc.returncode}: {tail.strip()}")


def _write_temp(dir_fd: int, name: str, content: bytes | Writer, mode: int, uid: int, gid: int) -> str:
    """A new temporary file next to ``name`` holding ``content``, owner and mode set, synced."""
    tmp = _temp_prefix(name) + secrets.token_hex(8)
    fd = os.open(tmp, _CREATE, 0o600, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb", closefd=False) as stream:
            if callable(content):
                content(stream)
            else:
                stream.write(content)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        os.fsync(fd)
    except BaseException:
        _discard(dir_fd, tmp)
        raise
    finally:
        os.close(fd)
    return tmp


def write_file(
    path: str,
    data_or_writer: bytes | Writer,
    *,
    sha256: str,
    mode: int | None = None,
    uid: int = -1,
    gid: int = -1,
    validate: Sequence[str] | None = None,
) -> bool:
    """Make ``path`` a regular file with this content and attributes, replacing it atomically.

    Args:
        path: Absolute path; missing parent directories are created (0o755).
        data_or_writer: The content, or ``writer(stream)`` that writes it into the open temp file.
        sha256: Hex digest of the content (an equal file is left alone).
        mode: Permission bits; default: the old regular file's, else 0o644.
        uid: Owner; -1 keeps the old regular file's (or the caller's for a new file).
        gid: Group; like ``uid``.
        validate: argv run (no shell) before the rename; ``{}`` is replaced by the temp file's path.

    Returns:
        Whether the file was written. A link at ``path`` is replaced, never written through.

    Raises:
        IsADirectoryError: A directory is at ``path``.
        ValidationError: ``validate`` exited non-zero (the message quotes its output).
        ValueError, UnsafePathError, OSError: See :func:`open_parent`.
    """
    if validate is not None and not any("{}" in arg for arg in validate):
        raise ValueError(f"validate command has no '{{}}' for the file: {list(validate)}")
    parent, name = open_parent(path, create=True)
    try:
        old, digest = _current(parent, name, path, (mode, uid, gid))
        if old is not None and digest == sha256.lower():
            return False
        _clean_leftovers(parent, name)
        if old is not None:
            uid = old.st_uid if uid == -1 else uid
            gid = old.st_gid if gid == -1 else gid
            mode = stat.S_IMODE(old.st_mode) if mode is None else mode
        tmp = _write_temp(parent, name, data_or_writer, 0o644 if mode is None else mode, uid, gid)
        _rename_into_place(parent, tmp, name, validate, path)
        return True
    finally:
        os.close(parent)


def make_directory(path: str, *, mode: int | None = None, uid: int = -1, gid: int = -1) -> bool:
    """Make ``path`` a directory (parents 0o755) and fix only its differing attributes.

    Args:
        path: Absolute path.
        mode: Permission bits; a new directory gets 0o755 when None.
        uid: Owner, -1 to leave as is.
        gid: Group, -1 to leave as is.

    Returns:
        Whether anything was created or changed.

    Raises:
        FileExistsError: A link or another non-directory is at ``path`` (the message says which).
        ValueError, UnsafePathError, OSError: See :func:`open_parent`.
    """
    parent, name = open_parent(path, create=True)
    try:
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
            created, mode = True, 0o755 if mode is None else mode
        except FileExistsError:
            created = False
        try:
            fd = os.open(name, _DIR, dir_fd=parent)
        except OSError as exc:
            st = _lstat(parent, name)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR) and st is not None:
                raise FileExistsError(errno.EEXIST, f"{_kind(st)} is in the way of a directory", path) from exc
            raise
        try:
            changed = _fix(fd, fd, mode, uid, gid)
        finally:
            os.close(fd)
        if created:
            os.fsync(parent)
        return created or changed
    finally:
        os.close(parent)


def make_link(path: str, target: str) -> bool:
    """Make ``path`` a symbolic link to ``target``, atomically replacing a file or link there.

    Returns:
        Whether the link was created or changed.

    Raises:
        IsADirectoryError: A directory is at ``path``.
        ValueError: ``target`` is empty or has a NUL; see also :func:`open_parent`.
        UnsafePathError, OSError: See :func:`open_parent`.
    """
    if not target or "\0" in target:
        raise ValueError(f"bad link target: {target!r}")
    parent, name = open_parent(path, create=True)
    try:
        with contextlib.suppress(FileNotFoundError):
            fd = os.open(name, _PATH, dir_fd=parent)
            try:
                st = os.fstat(fd)
                if stat.S_ISLNK(st.st_mode) and os.readlink("", dir_fd=fd) == target:
                    return False
                if stat.S_ISDIR(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "is a directory; remove it first", path)
            finally:
                os.close(fd)
        _clean_leftovers(parent, name)
        tmp = _temp_prefix(name) + secrets.token_hex(8)
        os.symlink(target, tmp, dir_fd=parent)
        _rename_into_place(parent, tmp, name, None, path)
        return True
    finally:
        os.close(parent)


def _remove_tree(dir_fd: int, name: str) -> None:
    """Remove directory ``name`` and its contents; only ever opens directories, never through links.

    Not ``shutil.rmtree``: in 3.11 it opens each subdirectory with plain ``O_RDONLY``
    (checking the inode only afterwards), so a subdirectory swapped for a link gets
    its target opened: a FIFO blocks the run forever (CPython gh-116401), a device's
    open has side effects (``/dev/watchdog``). ``O_DIRECTORY|O_NOFOLLOW`` opens neither.
    """
    fd = os.open(name, _DIR, dir_fd=dir_fd)
    try:
        for entry in os.listdir(fd):
            try:
                os.unlink(entry, dir_fd=fd)
            except IsADirectoryError:  # Linux unlinkat() refuses directories with EISDIR
                _remove_tree(fd, entry)
            except FileNotFoundError:
                pass
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)


def remove(path: str, *, recursive: bool = False) -> bool:
    """Remove what is at ``path``: a link itself (never its target), a file, or a directory.

    Args:
        path: Absolute path; ``/`` is refused.
        recursive: Remove a non-empty directory with its contents (by fd, see :func:`_remove_tree`).

    Returns:
        Whether something was removed (False when nothing is there).

    Raises:
        ValueError: ``path`` is ``/`` or not absolute and normalised.
        OSError: ``ENOTEMPTY`` for a non-empty directory without ``recursive``; see :func:`open_parent`.
    """
    if not _split(path):
        raise ValueError("refusing to remove /")
    try:
        parent, name = open_parent(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        st = _lstat(parent, name)
        if st is None:
            return False
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=parent)
        elif recursive:
            _remove_tree(parent, name)
        else:
            os.rmdir(name, dir_fd=parent)
        os.fsync(parent)
        return True
    finally:
        os.close(parent)


def _proc_path(fd: int, path: str) -> str:
    """``/proc/self/fd/<fd>``, checked to lead to the inode ``fd`` pins."""
    proc = f"/proc/self/fd/{fd}"
    st = os.fstat(fd)
    try:
        seen = os.stat(proc)
    except FileNotFoundError:
        raise OSError(errno.EOPNOTSUPP, f"{_kind(st)}: changing it needs /proc, which is not mounted", path) from None
    if (seen.st_dev, seen.st_ino) != (st.st_dev, st.st_ino):
        raise UnsafePathError(f"{path}: {proc} does not lead to the file; not changed")
    return proc


def _fix_reopened(parent: int, name: str, pinned: int, mode: int | None, uid: int, gid: int, path: str) -> bool:
    """Reopen the file or directory ``pinned`` (O_PATH) readable, check the inode, fix attributes."""
    st = os.fstat(pinned)
    flags = _READ | (os.O_DIRECTORY if stat.S_ISDIR(st.st_mode) else 0)
    try:
        fd = os.open(name, flags, dir_fd=parent)
    except PermissionError:  # not readable by a non-root caller: go through /proc instead
        return _fix(pinned, _proc_path(pinned, path), mode, uid, gid)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
            raise UnsafePathError(f"{path} was replaced while being changed; not changed") from exc
        raise
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise UnsafePathError(f"{path} was replaced while being changed; not changed")
        return _fix(fd, fd, mode, uid, gid)
    finally:
        os.close(fd)


def set_attributes(path: str, *, mode: int | None = None, uid: int = -1, gid: int = -1) -> bool:
    """Change only the differing mode, owner and group of what is at ``path``.

    A link at ``path`` gets only its own ownership changed (links have no mode of their
    own; ``mode`` is ignored), never its target's. FIFOs, sockets and devices are changed
    through ``/proc/self/fd`` without being opened.

    Returns:
        Whether anything changed.

    Raises:
        FileNotFoundError: Nothing is at ``path``.
        UnsafePathError: The file was replaced while being changed; see also :func:`open_parent`.
        OSError: ``EOPNOTSUPP`` for a special file when /proc is not mounted.
    """
    parent, name = open_parent(path)
    try:
        try:
            pinned = os.open(name, _PATH, dir_fd=parent)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path) from None
        try:
            st = os.fstat(pinned)
            if stat.S_ISLNK(st.st_mode):
                if not _differs(st, None, uid, gid)[0]:
                    return False
                os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
                return True
            if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
                return _fix_reopened(parent, name, pinned, mode, uid, gid, path)
            return _fix(pinned, _proc_path(pinned, path), mode, uid, gid)
        finally:
            os.close(pinned)
    finally:
        os.close(parent)
