"""Paracrine's demo (demo/deploy.py and demo/roles/) as a pyinfra 3 deploy: the same end state.

Run (see bench/tools.py):  pyinfra -y INVENTORY.py bench/peers/pyinfra/demo_deploy.py

PostgreSQL with a role, a database and a table; the demo's web application in a virtualenv
installed from the controller's wheelhouse (demo/wheelhouse, built by demo/showcase.py), run by
systemd; nginx in front of it; a nightly cleanup job; a kernel setting. The same templates
(demo/templates/), files, owners, modes and ports as the Paracrine deploy. Settings come from the
environment as demo/inventory.py reads them: DEMO_PORT_BASE (this host's ports are the base plus
its number: nginx base+N, the app base+100+N, PostgreSQL base+200+N), DEMO_GREETING (the one line
the bench's "change" scenario changes), DEMO_DB_PASSWORD.

Handlers are pyinfra's: the restart runs with ``_if=any_changed(...)`` of the config, the unit and
the pip install, before the "running and enabled" operation (so the first apply starts the app
once and never restarts it, like Paracrine's ``reload_on``). Where the demo has an ``unless=``
guard, this deploy asks a fact when the deploy file runs, pyinfra's idiom (bench/peers/pyinfra/
deploy.py does the same for its guarded command). The services go through lab_systemd.service:
pyinfra's systemd.service with facts the lab's daemonless systemctl can answer (see there).
"""

import os
import sys
from pathlib import Path

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import apt, crontab, files, pip, postgres, server, systemd
from pyinfra.operations.util import any_changed

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import lab_systemd  # noqa: E402  (beside this file)

DEMO = Path(__file__).resolve().parents[3] / "demo"
TEMPLATES = DEMO / "templates"

APP_DIR = "/srv/demo-app"
VENV = f"{APP_DIR}/venv"
LOG_DIR = "/var/log/demo-app"
PG_VERSION = "15"
PG_CONF = f"/etc/postgresql/{PG_VERSION}/main/postgresql.conf"
CLUSTER = f"{PG_VERSION} main"
APP_VERSION = "1.0.0"
# demo/roles/database.py's table, verbatim.
VISITS = """
CREATE TABLE visits (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), path text, agent text);
ALTER TABLE visits OWNER TO {owner};
"""

# demo/inventory.py's group data.
port_base = int(os.environ.get("DEMO_PORT_BASE", "18000"))
greeting = os.environ.get("DEMO_GREETING", "Hello from Paracrine")
keep_days = 30
db_name = "demo"
db_user = "demo"
db_password = os.environ.get("DEMO_DB_PASSWORD", "demo-password-change-me")

number = int(host.name.lstrip("h"))  # h01 -> 1: lab hosts are h01, h02, ...
web_port, app_port, db_port = port_base + number, port_base + 100 + number, port_base + 200 + number

# ---------------------------------------------------------------- base
apt.packages(name="stack packages", packages=["postgresql", "nginx-light", "python3-venv"])
server.sysctl(name="kernel.domainname", key="kernel.domainname", value="demo.internal",
              persist=True, persist_file="/etc/sysctl.d/99-paracrine.conf")

# ---------------------------------------------------------------- database
pg_conf = files.line(name="PostgreSQL port", path=PG_CONF, line=r"^#?\s*port\s*=", replace=f"port = {db_port}",
                     extended_regex=True)
# No operation fits: Debian runs each cluster through the template unit postgresql@15-main, which
# the lab's daemonless systemctl cannot start, so pg_ctlcluster starts it (the demo does the same,
# with the same guard: pg_ctl's status as the postgres user, as pg_ctlcluster's status does).
pg_ctl = f"/usr/lib/postgresql/{PG_VERSION}/bin/pg_ctl status -D /var/lib/postgresql/{PG_VERSION}/main"
status = f"runuser -u postgres -- {pg_ctl} >/dev/null 2>&1 && echo running || echo stopped"
if host.get_fact(Command, command=status) != "running":
    server.shell(name="start PostgreSQL", commands=[f"pg_ctlcluster {CLUSTER} start"])
server.shell(name="restart PostgreSQL", commands=[f"pg_ctlcluster {CLUSTER} restart"], _if=pg_conf.did_change)
postgres.role(name="database role", role=db_user, password=db_password, psql_port=db_port, _sudo_user="postgres")
postgres.database(name="database", database=db_name, owner=db_user, encoding="UTF8", psql_port=db_port,
                  _sudo_user="postgres")
table = f"psql -p {db_port} -d {db_name} -tAc \"SELECT 1 FROM pg_tables WHERE tablename = 'visits'\" || true"
if host.get_fact(Command, command=table, _sudo_user="postgres") != "1":
    postgres.sql(name="table visits", sql=VISITS.format(owner=db_user), psql_database=db_name, psql_port=db_port,
                 _sudo_user="postgres")

# ---------------------------------------------------------------- app
server.group(name="app group", group="demo", system=True)
server.user(name="app user", user="demo", group="demo", home=APP_DIR, shell="/usr/sbin/nologin", system=True,
            create_home=False, ensure_home=False)
files.directory(name="app directory", path=APP_DIR, mode=755, user="demo", group="demo")
files.directory(name="log directory", path=LOG_DIR, mode=770, user="root", group="demo")
files.directory(name="config directory", path="/etc/demo-app", mode=750, user="root", group="demo")
# The hosts have no network: the wheels come from the controller.
files.sync(name="wheels", src=str(DEMO / "wheelhouse"), dest=f"{APP_DIR}/wheels", delete=True,
           user="root", group="root", mode=644, dir_mode=755)
installed = pip.packages(
    name="app in its virtualenv", packages=[f"paracrine-demo-app=={APP_VERSION}"], virtualenv=VENV,
    virtualenv_kwargs={"venv": True, "python": "/usr/bin/python3"},
    extra_install_args=f"--disable-pip-version-check --no-input --no-index --find-links {APP_DIR}/wheels",
    _sudo_user="demo",
)
config = files.template(
    name="app config", src=str(TEMPLATES / "app.conf.j2"), dest="/etc/demo-app/app.conf",
    mode=640, user="root", group="demo",
    app_port=app_port, db_port=db_port, greeting=greeting, keep_days=keep_days,
    db_name=db_name, db_user=db_user, db_password=db_password,
)
unit = files.template(name="app unit", src=str(TEMPLATES / "demo-app.service.j2"),
                      dest="/etc/systemd/system/demo-app.service", mode=644, user="root", group="root", venv=VENV)
systemd.daemon_reload(name="daemon-reload", _if=unit.did_change)
lab_systemd.service(name="restart app", service="demo-app", restarted=True,
                    _if=any_changed(config, unit, installed))
lab_systemd.service(name="app running", service="demo-app", running=True, enabled=True)
crontab.crontab(
    name="nightly cleanup", command=f"{VENV}/bin/paracrine-demo-cleanup --config /etc/demo-app/app.conf",
    cron_name="demo-cleanup", user="demo", hour="3", minute="17",
)

# ---------------------------------------------------------------- web
site = files.template(name="nginx site", src=str(TEMPLATES / "nginx-site.conf.j2"),
                      dest="/etc/nginx/sites-available/demo", mode=644, user="root", group="root",
                      web_port=web_port, app_port=app_port)
enabled = files.link(name="site enabled", path="/etc/nginx/sites-enabled/demo", target="../sites-available/demo")
default = files.link(name="default site disabled", path="/etc/nginx/sites-enabled/default", present=False)
lab_systemd.service(name="reload nginx", service="nginx", reloaded=True, _if=any_changed(site, enabled, default))
lab_systemd.service(name="nginx running", service="nginx", running=True, enabled=True)
