"""The ``server`` workload: one deploy using every operation of issue 11 that can work on a lab host.

Run (see bench/tools.py):  paracrine deploy bench/paracrine/server.py -i INVENTORY.py -y

Settings come from the environment (the bench sets them; tests/test_bench_server.py too):
SERVER_URL, the loopback HTTP server that serves bench/.work/server/www (the downloaded tool and
the git repository), and SERVER_PORT_BASE (this host's PostgreSQL listens on base+200+N for hNN,
as in the demo). The controller-side files are bench/server/ (static) and bench/.work/server/
(built by bench/server_assets.py). The same end state in pyinfra and Ansible:
bench/peers/pyinfra/server_deploy.py, bench/peers/ansible/server.yml.

Left in a no-op-checkable form (see bench/README.md, "The server workload"): ``server.modprobe``
ensures a module is *not* loaded and not persisted (lab hosts share the controller's kernel, which
has no loadable modules), and ``apt.packages(..., present=False, purge=True)`` a package that no
host has.
"""

import hashlib
import os
from pathlib import Path

from paracrine import host
from paracrine.operations import apt, files, git, pip, postgresql, server, systemd

BENCH = Path(__file__).resolve().parents[1]
STATIC = BENCH / "server"
ASSETS = BENCH / ".work" / "server"
URL = os.environ["SERVER_URL"]
NUMBER = int(host.name.lstrip("h"))  # h01 -> 1: lab hosts are h01, h02, ...
PG_PORT = int(os.environ["SERVER_PORT_BASE"]) + 200 + NUMBER
PG_CONF = "/etc/postgresql/15/main/postgresql.conf"
TOOL_SHA256 = hashlib.sha256((ASSETS / "www" / "tool.sh").read_bytes()).hexdigest()
K1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIITi37B4vAj+OriQScslpeZ0Kzcv9XTdytPS3q0/mehZ k1@example"
K2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDNEZ2KPoS0GN0fKYbvpieXSeFgzDDca4p3Z610krAM1 k2@example"
WORKER_UNIT = """\
[Unit]
Description=server-bench worker

[Service]
ExecStart=/bin/sh -c 'echo started >> /var/log/server-bench-worker.log; exec sleep infinity'

[Install]
WantedBy=multi-user.target
"""

# ---------------------------------------------------------------- packages
apt.key("server-bench", src=str(ASSETS / "server-bench.gpg"))
apt.repo("server-bench", "file:/srv/lab-apt/", "./", trusted=True)  # the lab's repository, by another name
apt.packages(["postgresql", "python3-venv", "locales", "tree=2.1.0-1"], update=True, cache_valid_time=86400)
apt.packages(["python3-venv"], latest=True)
apt.packages(["nano"], present=False, purge=True)
apt.deb(str(ASSETS / "server-bench-hello_1.0-1_all.deb"))

# ---------------------------------------------------------------- system
server.hostname(f"{host.name}.server.bench")
server.timezone("Europe/Berlin")
server.locale("de_DE.UTF-8", default=True)
server.sysctl("kernel.domainname", "server.bench", file="/etc/sysctl.d/99-server-bench.conf")
server.mount("/mnt/server-bench", device="tmpfs", fstype="tmpfs", options="size=1m,mode=1777")
server.modprobe("server_bench_dummy", present=False)
server.user("deploy", home="/home/deploy", shell="/bin/bash")
server.authorized_keys("deploy", [K1, K2], exclusive=True)
server.sudoers("deploy", "deploy ALL=(root) NOPASSWD: /usr/bin/systemctl\n")
server.crontab("/opt/server-bench/tool.sh", name="server-bench-report", hour=4, minute=17)

# ---------------------------------------------------------------- files
files.directory("/srv/server-bench", mode=0o755)
files.sync(str(STATIC / "site"), "/srv/server-bench/site", delete=True, mode=0o644, dir_mode=0o755)
files.directory("/etc/server-bench", mode=0o755)
files.put(str(STATIC / "conf.d"), "/etc/server-bench/conf.d", mode=0o644)
files.directory("/opt/server-bench", mode=0o755)
files.download(f"{URL}/tool.sh", "/opt/server-bench/tool.sh", sha256=TOOL_SHA256, mode=0o755)
files.block("/etc/hosts", "10.0.0.1 db1\n10.0.0.2 db2", marker="# {mark} server-bench hosts")
files.replace("/etc/login.defs", r"^UMASK.*022$", "UMASK 027")
files.unarchive(str(ASSETS / "app.tar.gz"), "/opt/server-bench/app", strip_components=1)
git.repo(f"{URL}/app.git", "/srv/server-bench/checkout", rev="main")

# ---------------------------------------------------------------- python
files.sync(str(ASSETS / "wheels"), "/srv/server-bench/wheels", delete=True, mode=0o644, dir_mode=0o755)
pip.venv("/srv/server-bench/venv")
pip.packages(["server-bench-hello==1.0"], venv="/srv/server-bench/venv", no_index=True,
             find_links="/srv/server-bench/wheels")  # fmt: skip

# ---------------------------------------------------------------- services
unit = systemd.unit("server-bench-worker", content=WORKER_UNIT)
systemd.service("server-bench-worker", running=True, enabled=True, restarted=True, reload_on=[unit])
systemd.timer("server-bench-tick", on_calendar="hourly", command=["/opt/server-bench/tool.sh"], running=None)

# ---------------------------------------------------------------- PostgreSQL
conf = files.line(PG_CONF, f"port = {PG_PORT}", match=r"^#?\s*port\s*=")
# Debian runs a cluster through the template unit postgresql@15-main, which the lab's daemonless
# systemctl cannot start: pg_ctlcluster does (as in the demo).
started = server.shell("pg_ctlcluster 15 main start", unless="pg_ctlcluster 15 main status")
server.shell("pg_ctlcluster 15 main restart", reload_on=[conf], requires=[started], title="restart PostgreSQL")
postgresql.role("app", createdb=True, port=PG_PORT, requires=[started])
postgresql.database("app", owner="app", port=PG_PORT)
postgresql.sql(
    "CREATE TABLE items (id serial PRIMARY KEY, name text); ALTER TABLE items OWNER TO app",
    database="app",
    unless="SELECT 1 FROM pg_tables WHERE tablename = 'items'",
    port=PG_PORT,
    title="table items",
)
