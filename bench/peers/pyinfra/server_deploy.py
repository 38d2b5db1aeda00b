"""The bench's ``server`` workload (bench/paracrine/server.py) as a pyinfra 3 deploy: the same end state.

Run (see bench/tools.py):  pyinfra -y INVENTORY.py bench/peers/pyinfra/server_deploy.py

pyinfra 3.10's own operations wherever one fits; where none does, or its behaviour differs, the
nearest ones (bench/README.md, "The server workload", lists every difference and why):

* the APT keyring is ``files.put`` (pyinfra's ``apt.key`` runs gpg --dearmor on a local key; the
  keyring is a binary one already), the source a one-line ``apt.repo`` file (``[trusted=yes]``: the
  lab's repository is unsigned; pyinfra's deb822 ``apt.sources_file`` has no ``Trusted``);
* the ``.deb`` is put on the host, then ``apt.deb`` installs it from there;
* the locale is ``files.replace`` in /etc/locale.gen + ``locale-gen`` when it changed + ``files.line``
  for LANG: ``server.locale`` fails while /etc/locale.gen does not exist yet (the ``locales`` package
  is installed by this same deploy, after pyinfra's prepare phase ran the operation);
* the download is Python's urllib guarded by pyinfra's ``Sha256File`` fact (``files.download``
  needs curl or wget, which lab hosts do not have);
* the fstab entry is ``files.line`` (``server.mount`` mounts, and leaves fstab alone by design), the
  module file ``files.file(present=False)`` (``server.modprobe`` reads /proc/modules, which this
  kernel does not have), the sudoers file ``files.put`` (pyinfra has no sudoers operation);
* the worker and the timer go through lab_systemd.service (pyinfra's systemd.service with facts the
  lab's daemonless systemctl answers, as in the demo's deploy) after their unit files are put.
"""

import hashlib
import os
import sys
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import Sha256File
from pyinfra.facts.server import Command
from pyinfra.operations import apt, crontab, files, git, pip, postgres, server, systemd
from pyinfra.operations.util import any_changed

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import lab_systemd  # noqa: E402  (beside this file)

BENCH = Path(__file__).resolve().parents[2]
STATIC = BENCH / "server"
ASSETS = BENCH / ".work" / "server"
URL = os.environ["SERVER_URL"]
NUMBER = int(host.name.lstrip("h"))  # h01 -> 1: lab hosts are h01, h02, ...
PG_PORT = int(os.environ["SERVER_PORT_BASE"]) + 200 + NUMBER
PG_CONF = "/etc/postgresql/15/main/postgresql.conf"
TOOL_SHA256 = hashlib.sha256((ASSETS / "www" / "tool.sh").read_bytes()).hexdigest()
FQDN = f"{host.name}.server.bench"
K1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIITi37B4vAj+OriQScslpeZ0Kzcv9XTdytPS3q0/mehZ k1@example"
K2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDNEZ2KPoS0GN0fKYbvpieXSeFgzDDca4p3Z610krAM1 k2@example"
DEB = "server-bench-hello_1.0-1_all.deb"
WORKER_UNIT = """\
[Unit]
Description=server-bench worker

[Service]
ExecStart=/bin/sh -c 'echo started >> /var/log/server-bench-worker.log; exec sleep infinity'

[Install]
WantedBy=multi-user.target
"""
TIMER = "[Unit]\nDescription=server-bench-tick\n\n[Timer]\nOnCalendar=hourly\n\n[Install]\nWantedBy=timers.target\n"
TIMER_SERVICE = (
    '[Unit]\nDescription=server-bench-tick\n\n[Service]\nType=oneshot\nExecStart="/opt/server-bench/tool.sh"\n'
)

# ---------------------------------------------------------------- packages
files.put(name="APT keyring", src=str(ASSETS / "server-bench.gpg"), dest="/etc/apt/keyrings/server-bench.gpg",
          user="root", group="root", mode=644)
apt.repo(name="APT source", src="deb [trusted=yes] file:/srv/lab-apt/ ./", filename="server-bench")
apt.packages(name="packages", packages=["postgresql", "python3-venv", "locales", "tree=2.1.0-1"], update=True,
             cache_time=86400)
apt.packages(name="latest python3-venv", packages=["python3-venv"], latest=True)
apt.packages(name="no nano", packages=["nano"], present=False, purge=True)
files.put(name=".deb on the host", src=str(ASSETS / DEB), dest=f"/var/cache/server-bench/{DEB}")
apt.deb(name="local .deb", src=f"/var/cache/server-bench/{DEB}")

# ---------------------------------------------------------------- system
server.hostname(name="host name", hostname=FQDN)
files.line(name="host name in /etc/hosts", path="/etc/hosts", line=r"^127\.0\.1\.1\s.*$",
           replace=f"127.0.1.1\t{FQDN} {host.name}")
server.timezone(name="time zone", timezone="Europe/Berlin")
locale = files.replace(name="locale enabled", path="/etc/locale.gen", text="^# de_DE.UTF-8 UTF-8$",
                       replace="de_DE.UTF-8 UTF-8")
server.shell(name="locale-gen", commands=["locale-gen"], _if=locale.did_change)
files.line(name="default locale", path="/etc/default/locale", line="^LANG=.*$", replace="LANG=de_DE.UTF-8")
server.sysctl(name="kernel.domainname", key="kernel.domainname", value="server.bench", persist=True,
              persist_file="/etc/sysctl.d/99-server-bench.conf")
files.directory(name="mount point", path="/mnt/server-bench")
files.line(name="fstab entry", path="/etc/fstab", line=r"^tmpfs\s+/mnt/server-bench\s.*$",
           replace="tmpfs\t/mnt/server-bench\ttmpfs\tsize=1m,mode=1777\t0\t0")
# The options as the kernel reports them (size=1m is listed as size=1024k): server.mount compares them
# with the mounted file system's, and would remount it on every run otherwise.
server.mount(name="tmpfs mounted", path="/mnt/server-bench", device="tmpfs", fs_type="tmpfs",
             options=["size=1024k", "mode=1777"])
files.file(name="module not loaded at boot", path="/etc/modules-load.d/server_bench_dummy.conf", present=False)
server.user(name="deploy user", user="deploy", home="/home/deploy", shell="/bin/bash", create_home=True)
server.user_authorized_keys(name="deploy's keys", user="deploy", group="deploy", public_keys=[K1, K2],
                            delete_keys=True, authorized_key_directory="/home/deploy/.ssh")
files.put(name="sudoers", src=StringIO("deploy ALL=(root) NOPASSWD: /usr/bin/systemctl\n"), dest="/etc/sudoers.d/deploy",
          user="root", group="root", mode=440)
crontab.crontab(name="report job", command="/opt/server-bench/tool.sh", cron_name="server-bench-report", user="root",
                hour=4, minute=17)

# ---------------------------------------------------------------- files
files.directory(name="base directory", path="/srv/server-bench", mode=755, user="root", group="root")
files.sync(name="site", src=str(STATIC / "site"), dest="/srv/server-bench/site", delete=True, user="root",
           group="root", mode=644, dir_mode=755)
files.directory(name="config directory", path="/etc/server-bench", mode=755, user="root", group="root")
files.sync(name="conf.d", src=str(STATIC / "conf.d"), dest="/etc/server-bench/conf.d", user="root", group="root",
           mode=644, dir_mode=755)
files.directory(name="opt directory", path="/opt/server-bench", mode=755, user="root", group="root")
# pyinfra's files.download runs curl or wget, and lab hosts have neither (their packages come from
# an offline repository without them): Python's urllib downloads instead, when the file's SHA-256
# differs (the check files.download itself makes), then files.file sets owner and mode.
if host.get_fact(Sha256File, path="/opt/server-bench/tool.sh") != TOOL_SHA256:
    server.shell(name="tool", commands=[
        f"python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' {URL}/tool.sh"
        " /opt/server-bench/tool.sh.tmp && mv /opt/server-bench/tool.sh.tmp /opt/server-bench/tool.sh"])
files.file(name="tool's mode", path="/opt/server-bench/tool.sh", user="root", group="root", mode=755)
files.block(name="hosts block", path="/etc/hosts", content=["10.0.0.1 db1", "10.0.0.2 db2"],
            marker="# {mark} server-bench hosts", begin="BEGIN", end="END")
files.replace(name="umask", path="/etc/login.defs", text="^UMASK.*022$", replace="UMASK 027")
files.directory(name="app directory", path="/opt/server-bench/app", mode=755, user="root", group="root")
# creates=: pyinfra's files.unarchive extracts again on every run without it (it compares nothing).
files.unarchive(name="app archive", src=str(ASSETS / "app.tar.gz"), dest="/opt/server-bench/app",
                extra_opts=["--strip-components=1"], creates="/opt/server-bench/app/bin/app")
git.repo(name="checkout", src=f"{URL}/app.git", dest="/srv/server-bench/checkout", branch="main")

# ---------------------------------------------------------------- python
files.sync(name="wheels", src=str(ASSETS / "wheels"), dest="/srv/server-bench/wheels", delete=True, user="root",
           group="root", mode=644, dir_mode=755)
pip.venv(name="virtualenv", path="/srv/server-bench/venv", python="/usr/bin/python3")
pip.packages(name="package from the wheelhouse", packages=["server-bench-hello==1.0"],
             virtualenv="/srv/server-bench/venv",
             extra_install_args="--disable-pip-version-check --no-input --no-index --find-links /srv/server-bench/wheels")

# ---------------------------------------------------------------- services
unit = files.put(name="worker unit", src=StringIO(WORKER_UNIT), dest="/etc/systemd/system/server-bench-worker.service",
                 user="root", group="root", mode=644)
timer = files.put(name="timer unit", src=StringIO(TIMER), dest="/etc/systemd/system/server-bench-tick.timer",
                  user="root", group="root", mode=644)
timer_service = files.put(name="timer service", src=StringIO(TIMER_SERVICE),
                          dest="/etc/systemd/system/server-bench-tick.service", user="root", group="root", mode=644)
systemd.daemon_reload(name="daemon-reload", _if=any_changed(unit, timer, timer_service))
lab_systemd.service(name="restart worker", service="server-bench-worker", restarted=True, _if=unit.did_change)
lab_systemd.service(name="worker running", service="server-bench-worker", running=True, enabled=True)
lab_systemd.service(name="timer enabled", service="server-bench-tick.timer", running=None, enabled=True)

# ---------------------------------------------------------------- PostgreSQL
pg_conf = files.line(name="PostgreSQL port", path=PG_CONF, line=r"^#?\s*port\s*=.*$", replace=f"port = {PG_PORT}",
                     extended_regex=True)
# Debian runs a cluster through the template unit postgresql@15-main, which the lab's daemonless
# systemctl cannot start: pg_ctlcluster does (as in the demo). pyinfra's idiom for the demo's
# unless= guard: a fact read when the deploy file runs.
status = "pg_ctlcluster 15 main status >/dev/null 2>&1 && echo running || echo stopped"
if host.get_fact(Command, command=status) != "running":
    server.shell(name="start PostgreSQL", commands=["pg_ctlcluster 15 main start"])
server.shell(name="restart PostgreSQL", commands=["pg_ctlcluster 15 main restart"], _if=pg_conf.did_change)
postgres.role(name="role", role="app", login=True, createdb=True, psql_port=PG_PORT, _sudo_user="postgres")
postgres.database(name="database", database="app", owner="app", encoding="UTF8", psql_port=PG_PORT,
                  _sudo_user="postgres")
table = f"psql -p {PG_PORT} -d app -tAc \"SELECT 1 FROM pg_tables WHERE tablename = 'items'\" || true"
if host.get_fact(Command, command=table, _sudo_user="postgres") != "1":
    postgres.sql(name="table items", sql="CREATE TABLE items (id serial PRIMARY KEY, name text);"
                 " ALTER TABLE items OWNER TO app", psql_database="app", psql_port=PG_PORT, _sudo_user="postgres")
