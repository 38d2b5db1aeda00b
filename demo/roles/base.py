"""What every demo host has: the Debian packages of the stack and a kernel setting."""

from __future__ import annotations

from paracrine.operations import apt, server


def base() -> None:
    # One apt-get for all three (the lab serves them from its offline repository).
    apt.packages(["postgresql", "nginx-light", "python3-venv"])
    # kernel.domainname belongs to the host's own UTS namespace, so on lab hosts (which share this
    # machine's kernel) it changes the host, not the machine; a real server would set net.* keys here.
    server.sysctl("kernel.domainname", "demo.internal")
