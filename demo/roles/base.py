"""What every demo host has: the Debian packages of the stack, a kernel setting, the log directory."""

from __future__ import annotations

from paracrine.operations import apt, files, server
from roles.common import LOG_DIR


def base() -> None:
    # One apt-get for all three (the lab serves them from its offline repository).
    apt.packages(["postgresql", "nginx-light", "python3-venv"])
    # kernel.domainname belongs to the host's own UTS namespace, so on lab hosts (which share this
    # machine's kernel) it changes the host, not the machine; a real server would set net.* keys here.
    server.sysctl("kernel.domainname", "demo.internal")
    files.directory(LOG_DIR, mode=0o750, owner="root", group="adm")
