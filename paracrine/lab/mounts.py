"""Mounting and unmounting through the mount(2)/umount2(2) system calls.

Calling libc directly (ctypes, standard library) instead of running ``mount``
keeps starting 100 hosts from forking 800 processes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from pathlib import Path

from paracrine.errors import SetupError

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MNT_DETACH = 0x2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


def _b(text: str | Path | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def mount(source: str | Path | None, target: Path, fstype: str | None, flags: int, data: str = "") -> None:
    """Call mount(2).

    Args:
        source: the device, directory or label (None for a propagation change).
        target: the mount point.
        fstype: e.g. ``"overlay"``, ``"tmpfs"``; None for binds and propagation changes.
        flags: ``MS_*`` flags.
        data: filesystem options, e.g. ``"size=16m,mode=755"``.

    Raises:
        SetupError: the kernel refused (message names target and errno).
    """
    rc: int = _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data) if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        what = fstype or ("bind" if flags & MS_BIND else "propagation change")
        raise SetupError(f"mount {what} on {target} failed: {os.strerror(err)}", hint="the lab needs root")


def bind_readonly(source: Path, target: Path) -> None:
    """Bind-mount the directory ``source`` on ``target``, read-only and private (nothing propagates).

    Raises:
        SetupError: the kernel refused.
    """
    mount(source, target, None, MS_BIND)
    mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    mount(None, target, None, MS_PRIVATE)


def unmount(target: str | Path) -> None:
    """Unmount ``target``; fall back to a lazy unmount when it is busy.

    Raises:
        SetupError: even the lazy unmount failed.
    """
    err = 0
    for flags in (0, MNT_DETACH):
        if _libc.umount2(_b(target), flags) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EINVAL:  # not a mount point (any more)
            return
    raise SetupError(f"cannot unmount {target}: {os.strerror(err)}")


def mounts_under(top: Path) -> list[str]:
    """Mount points at or below ``top`` in this mount namespace, deepest first."""
    prefix = str(top).rstrip("/") + "/"
    found = [p for p in _mount_points() if p == str(top) or p.startswith(prefix)]
    return sorted(found, key=lambda p: (p.count("/"), p), reverse=True)


def is_mount_point(path: Path) -> bool:
    """Whether ``path`` is a mount point in this mount namespace."""
    return str(path) in _mount_points()


def unmount_tree(top: Path) -> None:
    """Unmount everything at or below ``top``, deepest first."""
    for point in mounts_under(top):
        unmount(point)


def _mount_points() -> list[str]:
    """Mount points listed in /proc/self/mountinfo (octal escapes decoded)."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        return [_unescape(line.split()[4]) for line in f if line.strip()]


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field
    raw = os.fsencode(field)
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x5C and i + 3 < len(raw) and raw[i + 1 : i + 4].isdigit():
            out.append(int(raw[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return os.fsdecode(bytes(out))
