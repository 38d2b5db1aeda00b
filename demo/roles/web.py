"""nginx in front of the application: a templated site on this host's port, reloaded when it changes."""

from __future__ import annotations

from paracrine.operations import files, systemd
from roles.common import ports


def web() -> None:
    p = ports()
    site = files.template(
        "templates/nginx-site.conf.j2", "/etc/nginx/sites-available/demo", web_port=p.web, app_port=p.app
    )
    enabled = files.link("/etc/nginx/sites-enabled/demo", "../sites-available/demo")
    default = files.link("/etc/nginx/sites-enabled/default", "/etc/nginx/sites-available/default", present=False)
    systemd.service("nginx", running=True, enabled=True, reloaded=True, reload_on=[site, enabled, default])
