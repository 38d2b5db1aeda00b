"""systemd.* on a real lab host: nginx installed offline, its site written, started and reloaded by handlers.

Lab hosts run Debian's daemonless ``systemctl`` (see the README's "Lab hosts"):
units really start and stop, timers are enabled but never fire.
"""

from __future__ import annotations

import json
import os
import textwrap
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine import lab
from paracrine.testing import invoke

pytestmark = pytest.mark.lab

SITE = """\
import os
from paracrine.operations import apt, files, systemd

apt.packages(["nginx-light"])
page = "server { listen 127.0.0.1:{port} default_server; location / { return 200 'rev %s\\\\n'; } }\\n"
site = files.file("/etc/nginx/sites-enabled/default", content=page % os.environ["T_REV"], force=True)
systemd.service("nginx", running=True, enabled=True, reloaded=True, reload_on=[site])
systemd.unit("paracrine-hello", content="[Unit]\\nDescription=hello\\n\\n[Service]\\nExecStart=/bin/sleep 600\\n"
             "\\n[Install]\\nWantedBy=multi-user.target\\n")
systemd.unit("paracrine-gone", content="[Service]\\nExecStart=/bin/true\\n", present=os.environ["T_REV"] == "1")
systemd.service("paracrine-hello", running=True, enabled=True)
systemd.timer("paracrine-tick", on_calendar="hourly", command=["/bin/sh", "-c", "date >> /tmp/tick"], running=None)
"""


def deploy(site: Path, rev: str, *extra: str) -> Any:
    os.environ["T_REV"] = rev
    try:
        return invoke([str(site), "-i", "@lab/1", "-y", "--json", "--state-dir", str(site.parent / "state"), *extra])
    finally:
        del os.environ["T_REV"]


def ops(result: Any) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    return list(report["hosts"]["h01"]["operations"])


def ran(operations: list[dict[str, Any]], title: str) -> list[str]:
    """The commands (or kinds) the operation ran."""
    op = next(o for o in operations if o["title"] == title)
    return [" ".join(c["argv"]) if "argv" in c else c["kind"] for c in op["changes"]] if op["result"] else []


def page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        return str(response.read().decode())


def ssh(host: lab.LabHost, command: str) -> str:
    config = lab.lab_dir() / "state" / "ssh_config"
    import subprocess

    argv = ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-l", "root", host.name, command]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_nginx_site_start_reload_once_and_units(lab_hosts: Callable[..., list[lab.LabHost]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1, packages=["nginx-light"])
    root = Path(host.root)
    port = host.service_port(1)
    site = tmp_path / "site.py"
    site.write_text(textwrap.dedent(SITE).replace("{port}", str(port)))

    first = ops(deploy(site, "1"))
    assert page(port) == "rev 1\n"
    nginx = "systemd.service('nginx')"
    assert ran(first, nginx) == ["systemctl enable nginx.service", "systemctl start nginx.service"] or ran(
        first, nginx
    ) == ["systemctl start nginx.service"]  # installed units are enabled by the lab's preset
    assert ssh(host, "systemctl show -p ActiveState paracrine-hello") == "ActiveState=active"
    assert ssh(host, "systemctl is-enabled paracrine-tick.timer") == "enabled"
    assert (root / "etc/systemd/system/paracrine-gone.service").exists()
    pid = (root / "run/nginx.pid").read_text().strip()

    again = ops(deploy(site, "1"))
    assert {o["status"] for o in again} == {"ok"}, [o for o in again if o["status"] != "ok"]

    changed = ops(deploy(site, "2"))
    assert ran(changed, nginx) == ["systemctl reload nginx.service"]  # reloaded exactly once
    assert page(port) == "rev 2\n"
    assert (root / "run/nginx.pid").read_text().strip() == pid  # a reload, not a restart
    assert not (root / "etc/systemd/system/paracrine-gone.service").exists()

    final = deploy(site, "2")
    assert {o["status"] for o in ops(final)} == {"ok"}
    assert json.loads(final.stdout)["round_trips"]["apply"] == 0
    assert page(port) == "rev 2\n"
    ssh(host, "systemctl stop nginx paracrine-hello")
