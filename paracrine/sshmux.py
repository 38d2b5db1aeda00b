"""OpenSSH master connections (``ssh_reuse``): where their sockets live, and closing them.

With ``ssh_reuse`` (the default) the first connection to a host becomes an OpenSSH
master (``ControlMaster=auto``) that stays up in the background for
:data:`CONTROL_PERSIST` after its last use, and later runs open sessions through
it, skipping the TCP connect, key exchange and authentication. Whoever can open a
master's socket can run commands on that host as its login user, without a key:
the sockets therefore live in a directory of the user's own, mode 0700, which is
checked before every run (:func:`control_dir`). ``paracrine disconnect`` ends the
masters (:func:`disconnect`).

A master that died (host rebooted, sshd restarted, process killed) leaves a socket
that refuses connections; ssh removes it and connects afresh. A removed socket just
means a new master.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from paracrine import coresource
from paracrine.errors import SetupError
from paracrine.hosts import Connection

#: How long an unused master stays up after its last session (ssh's ``ControlPersist``).
CONTROL_PERSIST = "10m"
#: A unix socket path holds 107 bytes; ssh first binds ``<path>.<16 random characters>``;
#: a socket's name has 40 characters (:func:`socket_name`).
MAX_DIR_LENGTH = 107 - len("/") - 40 - len(".") - 16


def control_dir() -> Path:
    """The directory of the master sockets, created private (0700) and checked.

    ``~/.cache/paracrine/ssh`` (``$XDG_CACHE_HOME`` honoured); when that path is too long
    for a unix socket, ``/tmp/paracrine-ssh-<uid>``.

    Raises:
        SetupError: the directory is a symbolic link, not a directory, not the
            user's own, or writable by group or others.
    """
    path = coresource.cache_dir() / "ssh"
    if len(os.fsencode(path)) > MAX_DIR_LENGTH:
        path = Path(f"/tmp/paracrine-ssh-{os.geteuid()}")
    return private_dir(path)


def private_dir(path: Path, purpose: str = "ssh master connections (ssh_reuse)") -> Path:
    """``path`` as a directory only this user can use: created 0700, else checked (never followed).

    ``purpose``: what the directory holds, for the error.
    """
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise _refused(purpose, path, f"cannot be created ({exc.strerror})") from None
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise _refused(purpose, path, "is a symbolic link")
    if not stat.S_ISDIR(info.st_mode):
        raise _refused(purpose, path, "is not a directory")
    if info.st_uid != os.geteuid():
        raise _refused(purpose, path, f"belongs to uid {info.st_uid}, not to you (uid {os.geteuid()})")
    if info.st_mode & 0o022:
        raise _refused(purpose, path, f"is writable by {'group' if info.st_mode & 0o020 else 'others'} (mode "
                       f"{info.st_mode & 0o777:04o})")  # fmt: skip
    return path


def _refused(purpose: str, path: Path, problem: str) -> SetupError:
    ssh = purpose.startswith("ssh")
    return SetupError(
        f"{purpose}: {path} {problem}, so another user could reach the sockets",
        hint=f"remove {path} (Paracrine creates it, mode 0700)" + (", or set ssh_reuse: false" if ssh else ""),
    )


def socket_name(conn: Connection) -> str:
    """The socket of a host's master: a hash of every ssh setting of the connection.

    Connections share a master only when they would have made the same connection
    (address, port, user, key, known_hosts file and policy, key exchange, keep-alive,
    extra arguments): a run with another key or known_hosts file never rides on a
    master that was authenticated with different ones.
    """
    settings = [
        conn.hostname, conn.port, conn.user, conn.key, conn.known_hosts, conn.host_keys, conn.compression,
        conn.kex_algorithms, conn.alive_interval, conn.alive_count, list(conn.ssh_args),
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:40]


def control_args(conn: Connection) -> list[str]:
    """The ssh options that make a host's connections share one master (socket in :func:`control_dir`)."""
    return [
        "-o", "ControlMaster=auto",
        "-o", f"ControlPath={control_dir()}/{socket_name(conn)}",
        "-o", f"ControlPersist={CONTROL_PERSIST}",
    ]  # fmt: skip


def _exit(socket: Path) -> bool:
    """``ssh -O exit`` on one socket: whether a master was running there."""
    argv = ["ssh", "-o", f"ControlPath={socket}", "-o", "LogLevel=QUIET", "-O", "exit", "--", "master"]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def disconnect(connections: Sequence[Connection] | None = None) -> int:
    """End master connections; returns how many were running.

    Args:
        connections: end the masters of these hosts; None: every master whose socket is
            in :func:`control_dir`.
    """
    directory = control_dir()
    if connections is None:
        candidates = list(directory.iterdir())
    else:
        candidates = [directory / socket_name(c) for c in connections if c.connector == "ssh"]
    sockets = sorted({p for p in candidates if _is_socket(p)})
    if not sockets:
        return 0
    with ThreadPoolExecutor(max_workers=min(16, len(sockets))) as pool:
        return sum(pool.map(_exit, sockets))


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False
