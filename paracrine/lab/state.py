"""What clients read: ``state/{inventory.json,known_hosts,ssh_config,id_ed25519}``.

Every file is written atomically (temporary file in the same directory, fsync,
rename), so a reader never sees half a file.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from paracrine.atomic import write_atomic
from paracrine.lab.paths import ADDRESS, LAB_USER, ROOT_USER, LabPaths, host_port, service_port

STATE_FILES = ("inventory.json", "known_hosts", "ssh_config", "id_ed25519", "id_ed25519.pub")
HOST_KEY = "etc/ssh/ssh_host_ed25519_key.pub"


@dataclass(frozen=True)
class LabHost:
    """One lab host as a client connects to it.

    Attributes:
        name: ``h01``, ``h02``, ...
        address: always ``127.0.0.1``; hosts are told apart by port.
        port: the SSH port.
        user: the unprivileged login user (``lab``), which has passwordless sudo.
        root_user: ``root``, which may log in with the same key.
        become: whether ``user`` may become root (always True).
        key: path of the client private key.
        known_hosts: path of the known_hosts file with every host's key.
        root: the host's root filesystem as seen from the controller.
    """

    name: str
    address: str
    port: int
    user: str
    root_user: str
    become: bool
    key: str
    known_hosts: str
    root: str

    def service_port(self, slot: int) -> int:
        """The port service ``slot`` of this host listens on: slot 1 is ``port - 10000``, slot 2 ``port - 20000``.

        Hosts share the machine's network namespace, so services must not all use their
        default port (80, 5432); these are unique across hosts and labs.

        Raises:
            SetupError: ``slot`` is not 1 or 2, or the port would be below 1024.
        """
        return service_port(self.port, slot)


def lab_host(paths: LabPaths, name: str) -> LabHost:
    """The :class:`LabHost` record for host ``name``."""
    return LabHost(
        name=name,
        address=ADDRESS,
        port=host_port(name),
        user=LAB_USER,
        root_user=ROOT_USER,
        become=True,
        key=str(paths.state / "id_ed25519"),
        known_hosts=str(paths.state / "known_hosts"),
        root=str(paths.host_root(name)),
    )


def write_state(paths: LabPaths, hosts: Sequence[LabHost]) -> None:
    """Write the inventory, known_hosts, ssh_config and the key copy for ``hosts``."""
    paths.state.mkdir(parents=True, exist_ok=True)
    write_atomic(paths.state / "id_ed25519", paths.key.read_bytes(), 0o600, durable=True)
    write_atomic(
        paths.state / "id_ed25519.pub", paths.key.with_name("id_ed25519.pub").read_bytes(), 0o644, durable=True
    )
    known = "".join(_known_hosts_line(h) for h in hosts)
    write_atomic(paths.state / "known_hosts", known.encode(), 0o644, durable=True)
    write_atomic(paths.state / "ssh_config", render_ssh_config(paths, hosts).encode(), 0o644, durable=True)
    inventory = {"hosts": [dataclasses.asdict(h) for h in hosts]}
    write_atomic(paths.state / "inventory.json", (json.dumps(inventory, indent=2) + "\n").encode(), 0o644, durable=True)


def render_ssh_config(paths: LabPaths, hosts: Sequence[LabHost]) -> str:
    """An ssh_config in which ``ssh -F FILE h01`` reaches h01 as ``lab``."""
    blocks = [f"Host {h.name}\n  HostName {h.address}\n  Port {h.port}\n  User {h.user}\n" for h in hosts]
    blocks.append(
        "Host *\n"
        f"  IdentityFile {paths.state / 'id_ed25519'}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {paths.state / 'known_hosts'}\n"
        "  StrictHostKeyChecking yes\n"
        "  LogLevel ERROR\n"
    )
    return "".join(blocks)


def _known_hosts_line(host: LabHost) -> str:
    key_type, key = (Path(host.root) / HOST_KEY).read_text().split()[:2]
    return f"[{host.address}]:{host.port} {key_type} {key}\n"


def read_inventory(paths: LabPaths) -> list[LabHost]:
    """The hosts listed in ``state/inventory.json`` (empty when the lab is down)."""
    try:
        data = json.loads((paths.state / "inventory.json").read_text())
    except (OSError, ValueError):
        return []
    return [LabHost(**entry) for entry in data.get("hosts", [])]


def remove_state(paths: LabPaths) -> None:
    """Delete the state files (the lab is down)."""
    for name in STATE_FILES:
        (paths.state / name).unlink(missing_ok=True)
