"""``postgresql.*`` on a real lab host: install, start, converge, change a password, and runs that change nothing.

The deploy installs PostgreSQL from the lab's offline repository, moves the
cluster to the host's own port (hosts share the machine's network namespace)
and starts it with ``pg_ctlcluster`` (the lab's daemonless ``systemctl`` does
not start template units); the ``postgresql.*`` operations after that command
are planned once it ran.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deploys import assert_nothing_changes, run

import paracrine.lab as lab

pytestmark = pytest.mark.lab

SITE = """\
import os
from paracrine.api import Secret
from paracrine.operations import apt, postgresql, server

port = int(os.environ["T_PORT"])
conf = "/etc/postgresql/15/main/postgresql.conf"
apt.packages(["postgresql"])
server.shell(f"sed -i 's/^port = .*/port = {port}/' {conf} && pg_ctlcluster 15 main start",
             unless=["pg_ctlcluster", "15", "main", "status"])
postgresql.role("app", password=Secret(os.environ["T_PASSWORD"]), createdb=True, port=port, title="role app")
postgresql.role('read"only', login=False, port=port)
postgresql.database("app db", owner="app", port=port)
postgresql.sql("CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) VALUES ('first')",
               database="app db", unless="SELECT 1 FROM pg_tables WHERE tablename = 'items'", port=port)
"""


def on_host(host: Any, command: str, env: str = "") -> str:
    """Run a shell command as root on a lab host; its stdout (it must succeed)."""
    config = lab.lab_dir() / "state" / "ssh_config"
    argv = ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-l", "root", host.name, f"cd / && {env} {command}"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result.stdout.strip()


def test_roles_database_and_guarded_sql(
    lab_hosts: Callable[..., list[Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (host,) = lab_hosts(1, packages=["postgresql"])
    port = host.service_port(2)
    site = tmp_path / "site.py"
    site.write_text(SITE)
    monkeypatch.setenv("T_PORT", str(port))
    monkeypatch.setenv("T_PASSWORD", "pässwörd 'one' \\ :x")

    applied = run(site, "-y")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert "pässwörd" not in applied.stdout + applied.stderr  # the role's SQL is masked: the call is sensitive
    assert 'CREATE DATABASE "app db" OWNER "app"' in applied.stdout
    psql = f"runuser -u postgres -- psql -X -At -p {port}"
    assert on_host(host, f"{psql} -d 'app db' -c 'SELECT name FROM items'") == "first"
    roles = on_host(
        host, f"""{psql} -c "SELECT rolname, rolcanlogin, rolcreatedb FROM pg_roles WHERE rolname !~ '^pg_'" """
    )
    assert set(roles.splitlines()) == {"postgres|t|t", "app|t|t", 'read"only|f|f'}
    as_app = f"psql -X -At -h 127.0.0.1 -p {port} -U app -d 'app db' -c 'SELECT current_user'"
    assert on_host(host, as_app, env="PGPASSWORD=\"pässwörd 'one' \\\\ :x\"") == "app"  # the password works
    assert_nothing_changes(site)

    monkeypatch.setenv("T_PASSWORD", "another one")  # only the password differs: only it is set
    changed = run(site, "-y", "--json")
    assert changed.exit_code == 0, changed.stderr
    statuses = {op["title"]: op["status"] for op in json.loads(changed.stdout)["hosts"]["h01"]["operations"]}
    assert [title for title, status in statuses.items() if status != "ok"] == ["role app"]
    assert on_host(host, as_app, env="PGPASSWORD='another one'") == "app"
    assert_nothing_changes(site)
    assert on_host(host, f"{psql} -d 'app db' -c 'SELECT count(*) FROM items'") == "1"  # the guard held every time
    on_host(host, "pg_ctlcluster 15 main stop")
