"""Inventories: which hosts a run targets, their groups and their data.

Sources (``-i``), all producing the same :class:`Inventory`:

* a Python file (``inventory.py``): every top-level list or tuple is a group
  of hosts; a host is ``"name"`` or ``("name", {data})``; optional dicts
  ``defaults`` (data for every host) and ``group_data`` (``{group: {data}}``);
* a YAML file (``inventory.yaml``): ``hosts:`` (name -> data), ``groups:``
  (name -> list of members, or ``{hosts: [...], data: {...}}``), ``defaults:``;
* ``host1,host2``: hosts reached over ssh by name;
* connector strings, alone or inside the above: ``@local``,
  ``@ssh/user@host:port``, ``@lab/N`` (N throwaway lab hosts, started on demand).

Host data is merged defaults <- groups (in definition order) <- host.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paracrine.errors import InventoryError, did_you_mean
from paracrine.hosts import Host, HostData

INVENTORY_NAMES = ("inventory.py", "inventory.yaml", "inventory.yml")
_SSH_CONNECTOR = re.compile(r"^@ssh/(?:(?P<user>[^@/]+)@)?(?P<host>[^:@/]+|\[[0-9a-fA-F:]+\])(?::(?P<port>\d+))?$")


@dataclass
class HostEntry:
    """A host as declared by a source, before data is merged."""

    name: str
    data: dict[str, Any]
    groups: list[str]


class InventoryBuilder:
    """Collects hosts, groups and data from a source, rejecting duplicates."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.defaults: dict[str, Any] = {}
        self.entries: dict[str, HostEntry] = {}
        self.group_data: dict[str, dict[str, Any]] = {}
        self.group_order: list[str] = []
        #: Lines of data keys, by (``"host"``/``"group"``/``"defaults"``, name, key), where the reader knows them.
        self.lines: dict[tuple[str, str, str], int] = {}

    def add_host(self, spec: str, data: Mapping[str, Any] | None = None, group: str | None = None) -> None:
        """Add a host (a name or a connector string), optionally as a member of ``group``."""
        for name, connector_data in expand_connector(spec, self.source):
            entry = self.entries.setdefault(name, HostEntry(name, {}, []))
            entry.data.update(connector_data)
            entry.data.update(data or {})
            if group is not None:
                if group in entry.groups:
                    raise InventoryError(
                        f"host {name!r} is listed twice in group {group!r}",
                        where=self.source,
                        hint="remove one of the entries",
                    )
                entry.groups.append(group)

    def add_group(self, group: str, data: Mapping[str, Any] | None = None) -> None:
        if not re.fullmatch(r"[A-Za-z_][\w.-]*", group):
            raise InventoryError(f"invalid group name {group!r}", where=self.source)
        if group not in self.group_order:
            self.group_order.append(group)
        self.group_data.setdefault(group, {}).update(data or {})

    def build(self) -> Inventory:
        hosts = []
        for entry in self.entries.values():
            merged = dict(self.defaults)
            for group in self.group_order:
                if group in entry.groups:
                    merged.update(self.group_data.get(group, {}))
            merged.update(entry.data)
            hosts.append(Host(entry.name, tuple(entry.groups), HostData(entry.name, merged), self.source))
        inventory = Inventory(hosts, self.group_order, self.source)
        for host in hosts:
            host.connection()  # validate connection settings now, not mid-run
        from paracrine.relays import check_routes

        check_routes({h.name: h for h in hosts}, lambda name: self.where_set(name, "via"))
        return inventory

    def where_set(self, name: str, key: str) -> str | None:
        """``file:line`` of the level (host, group, defaults) whose ``key`` host ``name`` gets, if known."""
        entry = self.entries[name]
        level: tuple[str, str] = ("defaults", "")
        if key in entry.data:
            level = ("host", name)
        else:
            for group in self.group_order:
                if group in entry.groups and key in self.group_data.get(group, {}):
                    level = ("group", group)
        line = self.lines.get((*level, key))
        return f"{self.source}:{line}" if line else (self.source or None)


class Inventory:
    """The hosts of a run, in definition order."""

    def __init__(
        self,
        hosts: Sequence[Host],
        groups: Sequence[str] = (),
        source: str = "",
        *,
        everyone: Mapping[str, Host] | None = None,
    ) -> None:
        self.hosts = list(hosts)
        self.groups = list(groups)
        self.source = source
        self._by_name = {h.name: h for h in self.hosts}
        #: Every host of the inventory before ``--limit``: relays are found here even when limited out.
        self.everyone: dict[str, Host] = {**(everyone or {}), **self._by_name}

    def __iter__(self) -> Any:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def get(self, name: str) -> Host | None:
        return self._by_name.get(name)

    def resolve(self, name: str) -> Host | None:
        """A host by name, also one that ``--limit`` left out (a relay of the hosts that remain)."""
        return self.everyone.get(name)

    def limit(self, patterns: Iterable[str]) -> Inventory:
        """Keep hosts matching any pattern: a host name, a group name or a glob.

        No patterns at all keeps every host; patterns given but empty (``--limit ""``,
        an unset shell variable) are an error, never "all hosts".
        """
        items = [patterns] if isinstance(patterns, str) else list(patterns)
        if not items:
            return self
        wanted = [p.strip() for item in items for p in item.split(",") if p.strip()]
        if not wanted:
            raise InventoryError(
                f"--limit {','.join(items)!r} names no host or group",
                where=self.source or None,
                hint="name hosts, groups or globs separated by commas, or drop --limit",
            )
        keep: set[str] = set()
        for pattern in wanted:
            matched = {
                h.name
                for h in self.hosts
                if h.name == pattern or pattern in h.groups or fnmatch.fnmatchcase(h.name, pattern)
            }
            if not matched:
                raise InventoryError(
                    f"--limit {pattern!r} matches no host or group",
                    where=self.source or None,
                    hint=did_you_mean(pattern, [*self._by_name, *self.groups]) or self._names(),
                )
            keep |= matched
        return Inventory([h for h in self.hosts if h.name in keep], self.groups, self.source, everyone=self.everyone)

    def _names(self, most: int = 8) -> str:
        """A hint listing (some of) the hosts and groups."""

        def some(names: Sequence[str]) -> str:
            return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")

        text = f"hosts: {some([h.name for h in self.hosts]) or 'none'}"
        return f"{text}; groups: {some(self.groups)}" if self.groups else text


def expand_connector(spec: str, source: str) -> list[tuple[str, dict[str, Any]]]:
    """Turn a host spec into ``[(name, data)]``; connector strings may yield several hosts."""
    if not spec.startswith("@"):
        if not re.fullmatch(r"[\w.:\[\]-]+", spec):
            raise InventoryError(f"invalid host name {spec!r}", where=source)
        return [(spec, {})]
    if spec == "@local":
        return [("@local", {"connector": "local"})]
    match = _SSH_CONNECTOR.match(spec)
    if match:
        host, port = match["host"].strip("[]"), match["port"]
        data: dict[str, Any] = {"ssh_hostname": host}
        if match["user"]:
            data["ssh_user"] = match["user"]
        if port:
            data["ssh_port"] = int(port)
        # Keep an IPv6 address's brackets in the name: "[::1]:22", not "::1:22".
        return [(f"{match['host']}:{port}" if port else host, data)]
    lab = re.fullmatch(r"@lab/(\d+)", spec)
    if lab:
        return lab_hosts(int(lab[1]), source)
    raise InventoryError(
        f"unknown connector {spec!r}",
        where=source,
        hint="use @local, @ssh/user@host:port or @lab/N",
    )


def lab_hosts(count: int, source: str) -> list[tuple[str, dict[str, Any]]]:
    """Bring lab hosts h01..hNN up if needed and describe them as inventory entries."""
    import paracrine.lab as lab
    from paracrine.lab.paths import MAX_HOSTS

    if not 1 <= count <= MAX_HOSTS:
        raise InventoryError(f"@lab/{count}: the lab holds 1 to {MAX_HOSTS} hosts", where=source)

    running = {h.name: h for h in lab.running_hosts()}
    wanted = [f"h{i:02d}" for i in range(1, count + 1)]
    hosts = [running[n] for n in wanted] if all(n in running for n in wanted) else lab.up(count, stop_others=False)
    return [(h.name, lab_host_data(h)) for h in hosts[:count]]


def lab_host_data(host: Any) -> dict[str, Any]:
    """The inventory data (connection settings) of a :class:`paracrine.lab.LabHost`."""
    return {
        "ssh_hostname": host.address,
        "ssh_port": host.port,
        "ssh_user": host.user,
        "ssh_key": host.key,
        "ssh_known_hosts": host.known_hosts,
        "become": host.become,
        "lab_root": host.root,
    }


def load_inventory(spec: str | None, deploy_dir: Path | None = None) -> Inventory:
    """Load the inventory named by ``-i`` (or the default one beside the deploy file)."""
    if spec is None:
        for name in INVENTORY_NAMES:
            candidate = (deploy_dir or Path.cwd()) / name
            if candidate.is_file():
                return load_inventory_file(candidate)
        spec = "@local"
    path = Path(spec)
    if path.suffix in (".py", ".yaml", ".yml", ".json") or path.is_file():
        if not path.is_file():
            raise InventoryError(f"inventory file {spec} not found", hint="check the -i argument")
        return load_inventory_file(path)
    builder = InventoryBuilder("-i")
    for item in spec.split(","):
        if item.strip():
            builder.add_host(item.strip())
    if not builder.entries:
        raise InventoryError("-i names no host", hint="pass host names separated by commas")
    return builder.build()


def load_inventory_file(path: Path) -> Inventory:
    """Load ``inventory.py`` or ``inventory.yaml``."""
    from paracrine import inventory_files

    if path.suffix == ".py":
        return inventory_files.load_python(path)
    return inventory_files.load_yaml(path)
