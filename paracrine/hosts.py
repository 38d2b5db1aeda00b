"""Hosts: a name, its groups, its merged data, and the connection settings read from that data.

Connection settings are ordinary host data keys, so they can be set at any
level of the inventory (defaults, group, host):

=====================  =============================================================
key                    meaning (default)
=====================  =============================================================
``connector``          ``"ssh"`` or ``"local"`` (``"ssh"``)
``ssh_hostname``       address to connect to (the host's name)
``ssh_port``           port (ssh's own: ~/.ssh/config, else 22)
``ssh_user``           login user (ssh's default)
``ssh_key``            private key file
``ssh_known_hosts``    known_hosts file used to check host keys (ssh's default)
``ssh_host_keys``      ``"enforce"`` (check against known_hosts) or ``"accept"`` (add new keys)
``ssh_compression``    compress the stream (False: faster on loopback and LANs)
``ssh_args``           extra ssh arguments (e.g. ``["-o", "ProxyJump=bastion"]``)
``ssh_reuse``          keep OpenSSH master connections between runs (True; see :mod:`paracrine.sshmux`)
``ssh_kex_algorithms`` ssh KexAlgorithms ("": ssh's own order; :data:`FAST_KEX` saves CPU per new connection)
``via``                name of another inventory host to connect through (Mitogen ``via=``)
``python``             interpreter on the target (``/usr/bin/python3``)
``become``             run as ``become_user`` through sudo (False)
``become_user``        (``"root"``)
``become_password``    sudo password; without one, passwordless sudo in a single hop
``connect_timeout``    seconds (30)
``ssh_alive_interval`` seconds between keep-alive probes of a silent connection (15)
``ssh_alive_count``    unanswered probes before a host is declared lost (3)
=====================  =============================================================
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from paracrine.errors import HostDataError, InventoryError, did_you_mean

#: ``ssh_kex_algorithms`` to prefer the classic curve25519 key exchange: OpenSSH 9's default
#: post-quantum hybrid (sntrup761x25519) costs about 50 ms of CPU per new connection on each side.
#: "^" keeps ssh's whole default list as the fallback. Not the default: master connections
#: (``ssh_reuse``) make new connections rare, so ssh's own (post-quantum) order is kept.
FAST_KEX = "^curve25519-sha256,curve25519-sha256@libssh.org"

CONNECTION_KEYS: dict[str, type | tuple[type, ...]] = {
    "connector": str,
    "ssh_hostname": str,
    "ssh_port": int,
    "ssh_user": str,
    "ssh_key": str,
    "ssh_known_hosts": str,
    "ssh_host_keys": str,
    "ssh_compression": bool,
    "ssh_args": (list, tuple),
    "ssh_reuse": bool,
    "ssh_kex_algorithms": str,
    "via": str,
    "python": str,
    "become": bool,
    "become_user": str,
    "become_password": str,
    "connect_timeout": (int, float),
    "ssh_alive_interval": int,
    "ssh_alive_count": int,
}
#: Settings whose values are never printed, not even in an error about their type.
SECRET_KEYS = ("become_password",)


# Attributes of HostData itself: a data key with one of these names would be
# hidden behind the method (``host.data.items`` is ``Mapping.items``).
RESERVED_DATA_KEYS = ("get", "items", "keys", "values")


class HostData(Mapping[str, Any]):
    """Read-only merged data of one host; ``data.port`` or ``data["port"]``.

    A missing key raises :class:`HostDataError` naming the host and the key.
    Mutable values (lists, dicts, sets) are handed out as copies, so a deploy
    file that changes one affects neither other hosts (which may share the
    inventory's ``defaults``) nor later runs of the file for the same host.
    """

    __slots__ = ("_host", "_values")

    def __init__(self, host: str, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_host", host)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return _copy(self._values[key])
        except KeyError:
            raise HostDataError(
                f"host data has no key {key!r}",
                host=self._host,
                hint=did_you_mean(key, self._values) or "define it in the inventory (defaults, group or host)",
            ) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("host data is read-only; change the inventory instead")

    def __delattr__(self, key: str) -> None:
        raise AttributeError("host data is read-only; change the inventory instead")

    def __reduce__(self) -> tuple[type[HostData], tuple[str, dict[str, Any]]]:
        # copy/deepcopy/pickle: the default protocol would go through __setattr__.
        return (HostData, (self._host, self._values))

    def __getitem__(self, key: str) -> Any:
        return _copy(self._values[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"HostData({self._host!r}, {self._values!r})"


def _copy(value: Any) -> Any:
    if isinstance(value, list | dict | set | bytearray):
        try:
            return copy.deepcopy(value)
        except Exception:  # an uncopyable object inside (Python inventories may hold anything)
            return value
    return value


@dataclass(frozen=True)
class Connection:
    """How to reach one host, validated from its data."""

    connector: Literal["ssh", "local"]
    hostname: str
    port: int | None  # None: whatever ssh's own configuration says (22 unless ~/.ssh/config sets Port)
    user: str | None
    key: str | None
    known_hosts: str | None
    host_keys: Literal["enforce", "accept"]
    compression: bool
    ssh_args: tuple[str, ...]
    reuse: bool
    kex_algorithms: str  # "" = ssh's own default
    via: str | None
    python: str | None  # None: /usr/bin/python3 over ssh, the controller's own for local
    become: bool
    become_user: str
    become_password: str | None = field(repr=False)
    connect_timeout: float
    alive_interval: int = 15
    alive_count: int = 3


@dataclass(frozen=True)
class Host:
    """One inventory host."""

    name: str
    groups: tuple[str, ...]
    data: HostData
    source: str = ""  # where the host was defined ("inventory.yaml", "-i", ...)

    def connection(self) -> Connection:
        """The validated connection settings of this host."""
        return connection_from_data(self.name, self.data, self.source)


def _check_types(name: str, data: Mapping[str, Any], source: str) -> None:
    for key, value in data.items():
        if key in RESERVED_DATA_KEYS:
            raise InventoryError(
                f"host data key {key!r} would be hidden by the method host.data.{key}()",
                host=name,
                where=source or None,
                hint="rename the key",
            )
        expected = CONNECTION_KEYS.get(key)
        if expected is None:
            if key.startswith("ssh_") or key.startswith("become_"):
                raise InventoryError(
                    f"unknown connection setting {key!r}",
                    host=name,
                    where=source or None,
                    hint=did_you_mean(key, CONNECTION_KEYS) or "see `paracrine --help` for the settings",
                )
            continue
        # bool is a subclass of int: True is not a port or a timeout.
        ok = isinstance(value, expected) and not (isinstance(value, bool) and expected is not bool)
        if not ok:
            want = expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
            shown = "" if key in SECRET_KEYS else f" {value!r}"
            raise InventoryError(
                f"{key} must be {want}, got {type(value).__name__}{shown}",
                host=name,
                where=source or None,
                hint="quote it in the inventory" if key in SECRET_KEYS else None,
            )
    port = data.get("ssh_port", 22)
    if not 1 <= port <= 65535:
        raise InventoryError(f"ssh_port must be 1 to 65535, got {port!r}", host=name, where=source or None)
    for key, default in (("connect_timeout", 30), ("ssh_alive_interval", 15), ("ssh_alive_count", 3)):
        if data.get(key, default) <= 0:
            raise InventoryError(f"{key} must be positive, got {data[key]!r}", host=name, where=source or None)


def connection_from_data(name: str, data: Mapping[str, Any], source: str = "") -> Connection:
    """Build and validate a :class:`Connection` from a host's merged data."""
    _check_types(name, data, source)
    connector = data.get("connector", "ssh")
    host_keys = data.get("ssh_host_keys", "enforce")
    for key, value, allowed in (
        ("connector", connector, ("ssh", "local")),
        ("ssh_host_keys", host_keys, ("enforce", "accept")),
    ):
        if value not in allowed:
            raise InventoryError(
                f"{key} must be one of {', '.join(allowed)}, got {value!r}", host=name, where=source or None
            )
    hostname = data.get("ssh_hostname", name)
    if connector == "ssh" and (hostname.startswith("-") or not hostname.isprintable() or " " in hostname):
        raise InventoryError(
            f"{'ssh_hostname' if 'ssh_hostname' in data else 'host name'} {hostname!r} is not a host name "
            "(it must not start with '-' or hold spaces or control characters)",
            host=name,
            where=source or None,
        )
    password = data.get("become_password")
    if password:
        from paracrine.secret import remember

        remember(password)
    return Connection(
        connector=connector,
        hostname=hostname,
        port=data.get("ssh_port"),
        user=data.get("ssh_user"),
        key=data.get("ssh_key"),
        known_hosts=data.get("ssh_known_hosts"),
        host_keys=host_keys,
        compression=data.get("ssh_compression", False),
        ssh_args=tuple(str(a) for a in data.get("ssh_args", ())),
        reuse=data.get("ssh_reuse", True),
        kex_algorithms=data.get("ssh_kex_algorithms", ""),
        via=data.get("via"),
        python=data.get("python"),
        become=data.get("become", False),
        become_user=data.get("become_user", "root"),
        become_password=password,
        connect_timeout=float(data.get("connect_timeout", 30)),
        alive_interval=data.get("ssh_alive_interval", 15),
        alive_count=data.get("ssh_alive_count", 3),
    )
