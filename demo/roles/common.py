"""Settings every role shares, computed from host data (inventory.py)."""

from __future__ import annotations

from dataclasses import dataclass

from paracrine import host

APP_DIR = "/srv/demo-app"
VENV = f"{APP_DIR}/venv"
LOG_DIR = "/var/log/demo-app"
PG_VERSION = "15"
PG_CONF = f"/etc/postgresql/{PG_VERSION}/main/postgresql.conf"
PG_DATA = f"/var/lib/postgresql/{PG_VERSION}/main"
PG_CTL = f"/usr/lib/postgresql/{PG_VERSION}/bin/pg_ctl"


@dataclass(frozen=True)
class Ports:
    """This host's ports: lab hosts share the machine's network, so each gets its own."""

    web: int  # nginx, the address the demo's HTTP requests go to
    app: int  # the application, behind nginx
    db: int  # PostgreSQL


def ports() -> Ports:
    number = int(host.name.lstrip("h"))  # h01 -> 1: lab hosts are h01, h02, ...
    base = host.data.port_base
    return Ports(web=base + number, app=base + 100 + number, db=base + 200 + number)
