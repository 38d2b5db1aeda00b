"""Throwaway lab hosts: real sshd processes on 127.0.0.1, each in its own Debian root filesystem.

Host ``hNN`` listens on ``127.0.0.1:(PARACRINE_LAB_PORT_BASE + NN)`` and has its own
overlayfs root (shared debootstrap base + per-host upper layer), its own hostname,
host key and PID namespace. Logins: ``lab`` (passwordless sudo) and ``root``, both
with the lab client key. Needs root on a Linux controller; nothing runs in Docker.

Hosts have no package mirror; they install from an offline apt repository that
``up(..., packages=[...])`` fills with the packages and their dependencies
(:mod:`paracrine.lab.aptrepo`). Package installs never start services
(``/usr/sbin/policy-rc.d`` exits 101); a service listens on
``host.service_port(1)`` or ``(2)`` so that hosts do not collide.

Example:
    >>> from paracrine import lab
    >>> hosts = lab.up(3, packages=["nginx-light"])    # doctest: +SKIP
    >>> hosts[0].name, hosts[0].port, hosts[0].service_port(1)
    ('h01', 22001, 12001)

The state files for clients are under ``lab_dir() / "state"``: ``inventory.json``,
``known_hosts``, ``ssh_config`` (``ssh -F .../ssh_config h01`` works) and ``id_ed25519``.
"""

from paracrine.lab.core import down, fresh, offline_packages, running_hosts, status, stop, up
from paracrine.lab.paths import OFFLINE_PACKAGES, lab_dir
from paracrine.lab.state import LabHost
from paracrine.lab.tools import check_requirements

__all__ = [
    "OFFLINE_PACKAGES",
    "LabHost",
    "check_requirements",
    "down",
    "fresh",
    "lab_dir",
    "offline_packages",
    "running_hosts",
    "status",
    "stop",
    "up",
]
