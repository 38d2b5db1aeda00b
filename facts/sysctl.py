"""Facts about kernel parameters (sysctl), read from /proc/sys.

Keys use sysctl(8)'s dotted form: "net.ipv4.ip_forward" is
/proc/sys/net/ipv4/ip_forward. As in sysctl(8), a "/" in a dotted key stands for
a "." inside one component (a VLAN interface: "net.ipv4.conf.eth0/100.rp_filter"),
and a key written with "/" separators ("net/ipv4/ip_forward") is taken as a path.
"""

from __future__ import annotations

import os

from paracrine.fact import fact

PROC_SYS = "/proc/sys"


def key_to_path(key: str) -> str:
    """The /proc/sys path of a sysctl key.

    Args:
        key: dotted ("kernel.hostname") or slashed ("kernel/hostname").

    Returns:
        e.g. "/proc/sys/kernel/hostname".

    Raises:
        ValueError: the key is empty or has empty, "." or ".." components.
    """
    first = next((c for c in key if c in "./"), ".")
    relative = key if first == "/" else key.translate(str.maketrans("./", "/."))
    parts = relative.split("/")
    if not key or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a sysctl key: {key!r}")
    return PROC_SYS + "/" + relative


def path_to_key(path: str) -> str:
    """The dotted sysctl key of a path under /proc/sys (inverse of :func:`key_to_path`)."""
    relative = os.path.relpath(path, PROC_SYS)
    return relative.translate(str.maketrans("./", "/."))


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().strip()


@fact
def value(key: str) -> str | None:
    """The current value of one kernel parameter.

    Args:
        key: a sysctl key such as "net.ipv4.ip_forward".

    Returns:
        The value as the kernel prints it, stripped of surrounding whitespace
        (several numbers stay separated by tabs, e.g. "4096\\t131072\\t6291456"),
        or None if the kernel has no such parameter.

    Raises:
        ValueError: the key is malformed or names a directory of parameters.
        PermissionError: the parameter cannot be read (write-only ones, e.g. vm.drop_caches).

    Example:
        paracrine facts web1 sysctl.value key=net.ipv4.ip_forward
    """
    path = key_to_path(key)
    try:
        return _read(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError:
        raise ValueError(f"{key} is a group of parameters; use sysctl.values prefix={key}") from None


@fact
def values(prefix: str = "") -> dict[str, str]:
    """Every readable kernel parameter, optionally only those under a prefix.

    Parameters that cannot be read (write-only, or failing with an error when
    read) are skipped, as ``sysctl -a`` does.

    Args:
        prefix: a key naming a group, e.g. "net.ipv4" ("" for everything).
            A prefix naming a single parameter gives just that one.

    Returns:
        Dotted key -> value (stripped), sorted by key; {} if nothing is under ``prefix``.

    Example:
        paracrine facts web1 sysctl.values prefix=net.ipv4.conf.all
    """
    top = key_to_path(prefix) if prefix else PROC_SYS
    found: dict[str, str] = {}
    if os.path.isfile(top):
        paths = [top]
    else:
        paths = []
        for directory, _dirs, files in os.walk(top):
            paths.extend(os.path.join(directory, name) for name in files)
    for path in paths:
        try:
            found[path_to_key(path)] = _read(path)
        except OSError:
            continue
    return dict(sorted(found.items()))
