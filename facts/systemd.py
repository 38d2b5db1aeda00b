"""Facts about systemd units, read with ``systemctl show``.

Works with real systemd and with the daemonless ``systemctl`` replacement
(Debian package ``systemctl``, docker-systemctl-replacement) used in containers.
The latter implements only a subset of ``show``: it ignores a comma-separated
``--property=`` list (printing nothing) and has no ``FragmentPath``. So the fact
asks for all properties (real systemd fetches them all over D-Bus anyway and
filters locally) and, when ``FragmentPath`` is missing, looks for the unit file
in the standard unit directories itself.
"""

from __future__ import annotations

import os
from typing import Any, TypedDict

from paracrine.fact import fact
from paracrine.facts import _command

UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
)
"""Where system unit files live, highest precedence first (systemd.unit(5))."""

UNIT_SUFFIXES = (
    ".service",
    ".socket",
    ".target",
    ".timer",
    ".path",
    ".mount",
    ".automount",
    ".swap",
    ".slice",
    ".scope",
    ".device",
)
"""The unit types; a name without one of these suffixes means a service."""


class Unit(TypedDict):
    """A unit's state, named after ``systemctl status``."""

    load: str
    active: str
    sub: str
    enabled: str | None
    path: str | None
    description: str | None
    need_daemon_reload: bool


def parse_systemctl_show(text: str) -> dict[str, str]:
    """Parse ``systemctl show`` output: ``Name=value`` lines.

    Args:
        text: the output for one unit.

    Returns:
        Property name -> value (everything after the first "="). A property
        printed twice (e.g. several ExecStartPre) keeps its first value; lines
        that are not assignments are skipped.
    """
    props: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name and name not in props:
            props[name] = value
    return props


def parse_unit(text: str) -> Unit | None:
    """Turn ``systemctl show`` output into a :class:`Unit`.

    Args:
        text: the output of ``systemctl show NAME`` (real or daemonless systemctl).

    Returns:
        The unit's state; None if LoadState is "not-found". Properties the
        tool did not print (empty ones are omitted) are None.

    Raises:
        ValueError: the output has no LoadState, so it is not ``show`` output.
    """
    props = parse_systemctl_show(text)
    load = props.get("LoadState")
    if not load:
        raise ValueError("systemctl show printed no LoadState property")
    if load == "not-found":
        return None
    return {
        "load": load,
        "active": props.get("ActiveState") or "unknown",
        "sub": props.get("SubState") or "unknown",
        "enabled": props.get("UnitFileState") or None,
        "path": props.get("FragmentPath") or None,
        "description": props.get("Description") or None,
        "need_daemon_reload": props.get("NeedDaemonReload") == "yes",
    }


def unit_file_name(name: str) -> str:
    """The unit's file name: ``name`` itself if it has a unit type suffix, else ``name.service``."""
    return name if name.endswith(UNIT_SUFFIXES) else name + ".service"


def _find_unit_file(name: str) -> str | None:
    for directory in UNIT_DIRS:
        candidate = os.path.join(directory, unit_file_name(name))
        if os.path.lexists(candidate):
            return candidate
    return None


def _check_name(name: str) -> None:
    if not name or name.startswith("-") or "/" in name:
        raise ValueError(f"not a unit name: {name!r}")


def _units(requests: list[dict[str, Any]]) -> list[Unit | None]:
    """The states of several units with one ``systemctl show`` (its blocks come in the order asked)."""
    names = [str(r["name"]) for r in requests]
    for name in names:
        _check_name(name)
    out = _command.run(["systemctl", "show", *names])
    blocks = [b for b in out.stdout.split("\n\n") if b.strip()]
    if len(blocks) != len(names):
        raise ValueError(f"systemctl show printed {len(blocks)} units for {len(names)}")
    return [_completed(name, parse_unit(block)) for name, block in zip(names, blocks, strict=True)]


def _completed(name: str, result: Unit | None) -> Unit | None:
    if result is not None and result["path"] is None and result["load"] == "loaded":
        result["path"] = _find_unit_file(name)
    return result


@fact(batch=_units, concurrent=True)
def unit(name: str) -> Unit | None:
    """The state of a systemd unit, from ``systemctl show``.

    Args:
        name: the unit, e.g. "nginx" (".service" is implied) or "fstrim.timer".

    Returns:
        {"load": LoadState ("loaded", "masked", ...), "active": ActiveState
        ("active", "inactive", "failed", ...), "sub": SubState ("running",
        "dead", ...), "enabled": UnitFileState ("enabled", "disabled",
        "static", ...) or None, "path": the unit file (FragmentPath) or None,
        "description": Description or None, "need_daemon_reload": True when the
        unit file changed on disk since systemd loaded it}; None if there is no such unit.

    Example:
        paracrine facts web1 systemd.unit name=ssh
    """
    _check_name(name)
    out = _command.run(["systemctl", "show", name])
    return _completed(name, parse_unit(out.stdout))
