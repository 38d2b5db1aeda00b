"""The web application: a service account, a virtualenv from the controller's wheelhouse, its
configuration, a systemd unit and a nightly cleanup job."""

from __future__ import annotations

from paracrine.operation import OpCall
from paracrine.operations import files, pip, server, systemd
from roles.common import APP_DIR, LOG_DIR, VENV, ports

APP_VERSION = "1.0.0"


def app() -> OpCall:
    """Declare the application; returns its service (other roles may notify it)."""
    server.group("demo", system=True)
    server.user("demo", group="demo", home=APP_DIR, shell="/usr/sbin/nologin", system=True, create_home=False)
    files.directory(APP_DIR, mode=0o755, owner="demo", group="demo")
    files.directory(f"{LOG_DIR}", mode=0o770, owner="root", group="demo")
    files.directory("/etc/demo-app", mode=0o750, owner="root", group="demo")
    # The hosts have no network: the wheels (the app and its dependencies) come from the controller,
    # built by scripts/demo into demo/wheelhouse; only wheels that changed are sent.
    wheels = files.sync("wheelhouse", f"{APP_DIR}/wheels", delete=True)
    pip.venv(VENV, owner="demo")
    installed = pip.packages(
        [f"paracrine-demo-app=={APP_VERSION}"], venv=VENV, find_links=[f"{APP_DIR}/wheels"], no_index=True,
        requires=[wheels],
    )  # fmt: skip
    p = ports()
    config = files.template(
        "templates/app.conf.j2", "/etc/demo-app/app.conf", mode=0o640, owner="root", group="demo",
        app_port=p.app, db_port=p.db,
    )  # fmt: skip
    unit = systemd.unit("demo-app.service", template="templates/demo-app.service.j2", variables={"venv": VENV})
    service = systemd.service(
        "demo-app", running=True, enabled=True, restarted=True, reload_on=[config, unit, installed]
    )
    server.crontab(
        f"{VENV}/bin/paracrine-demo-cleanup --config /etc/demo-app/app.conf", name="demo-cleanup",
        user="demo", hour="3", minute="17",
    )  # fmt: skip
    return service
