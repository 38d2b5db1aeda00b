"""Is a host in the ``server`` workload's end state? Checked on its root filesystem from the controller.

The same checks for every tool (bench/paracrine/server.py, bench/peers/pyinfra/server_deploy.py,
bench/peers/ansible/server.yml): what the workload means, not one tool's spelling of it (each tool
marks its crontab entry its own way; an APT source is a one-line ``.list`` or a deb822 ``.sources``
file). What lives in the host's namespaces rather than its files (the running host name and
``kernel.domainname``, the tmpfs mount, PostgreSQL's role, database and table) is read with
``nsenter`` into the host's sshd, PID 1 of its namespaces.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bench import server_assets
from bench.verify import ACCOUNT_FILES, DPKG_STATUS, HostFS, check_lines

#: The Debian packages the hosts must be able to install offline (``lab.up(packages=...)``).
PACKAGES = ["postgresql", "python3-venv", "locales"]
INSTALLED = ["postgresql", "python3-venv", "locales", "tree", server_assets.DEB_NAME]
TREE_VERSION = "2.1.0-1"
PURGED = "nano"
KEYRING = "/etc/apt/keyrings/server-bench.gpg"
SOURCES = ("/etc/apt/sources.list.d/server-bench.sources", "/etc/apt/sources.list.d/server-bench.list")
REPO_URI = "file:/srv/lab-apt/"
TIMEZONE = "Europe/Berlin"
LOCALE = "de_DE.UTF-8"
SYSCTL_FILE = "/etc/sysctl.d/99-server-bench.conf"
SYSCTL_LINE = "kernel.domainname = server.bench"
MOUNT_POINT = "/mnt/server-bench"
FSTAB_LINE = "tmpfs\t/mnt/server-bench\ttmpfs\tsize=1m,mode=1777\t0\t0"
MODULE_FILE = "/etc/modules-load.d/server_bench_dummy.conf"
KEYS = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIITi37B4vAj+OriQScslpeZ0Kzcv9XTdytPS3q0/mehZ",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDNEZ2KPoS0GN0fKYbvpieXSeFgzDDca4p3Z610krAM1",
)
AUTHORIZED_KEYS = "/home/deploy/.ssh/authorized_keys"
SUDOERS = "/etc/sudoers.d/deploy"
SUDOERS_TEXT = b"deploy ALL=(root) NOPASSWD: /usr/bin/systemctl\n"
CRONTAB = "/var/spool/cron/crontabs/root"
CRON_JOB = "17 4 * * * /opt/server-bench/tool.sh"
BASE = "/srv/server-bench"
SITE, WHEELS, VENV, CHECKOUT = f"{BASE}/site", f"{BASE}/wheels", f"{BASE}/venv", f"{BASE}/checkout"
CONF_D = "/etc/server-bench/conf.d"
TOOL = "/opt/server-bench/tool.sh"
APP = "/opt/server-bench/app"
HOSTS_BLOCK = ["# BEGIN server-bench hosts", "10.0.0.1 db1", "10.0.0.2 db2", "# END server-bench hosts"]
UNIT_DIR = "/etc/systemd/system"
WORKER = f"{UNIT_DIR}/server-bench-worker.service"
WORKER_LINK = f"{UNIT_DIR}/multi-user.target.wants/server-bench-worker.service"
WORKER_LOG = "/var/log/server-bench-worker.log"
TIMER, TIMER_SERVICE = f"{UNIT_DIR}/server-bench-tick.timer", f"{UNIT_DIR}/server-bench-tick.service"
PG_CONF = "/etc/postgresql/15/main/postgresql.conf"
PG_PID = "/var/lib/postgresql/15/main/postmaster.pid"
WORKER_TEXT = (
    "[Unit]\nDescription=server-bench worker\n\n[Service]\n"
    "ExecStart=/bin/sh -c 'echo started >> /var/log/server-bench-worker.log; exec sleep infinity'\n\n"
    "[Install]\nWantedBy=multi-user.target\n"
)
TIMER_TEXT = (
    "[Unit]\nDescription=server-bench-tick\n\n[Timer]\nOnCalendar=hourly\n\n[Install]\nWantedBy=timers.target\n"
)
TIMER_SERVICE_TEXT = (
    '[Unit]\nDescription=server-bench-tick\n\n[Service]\nType=oneshot\nExecStart="/opt/server-bench/tool.sh"\n'
)


def host_fs(host: Any) -> HostFS:
    """The root filesystem of a lab host."""
    return HostFS(host.name, Path(host.root), host.port)


def pg_port(name: str, base: int) -> int:
    """PostgreSQL's port on host ``name`` (hNN): base + 200 + N, as in the demo."""
    return base + 200 + int(name.lstrip("h"))


def verify_server(fs: HostFS, host_pid: int | None, port_base: int | None = None) -> list[str]:
    """Problems of ``fs`` against the server workload; with ``host_pid`` (the host's sshd) also what
    only the host's namespaces hold (with ``port_base`` PostgreSQL's port and contents too)."""
    check_packages(fs)
    fs.check_file(KEYRING, (server_assets.ASSETS / "server-bench.gpg").read_bytes(), 0o644, "root", "root")
    check_sources(fs)
    fs.check_file("/etc/hostname", f"{fs.name}.server.bench\n".encode())
    check_lines(fs, "/etc/hosts", [f"127.0.1.1\t{fs.name}.server.bench {fs.name}", *HOSTS_BLOCK])
    fs.check_link("/etc/localtime", f"/usr/share/zoneinfo/{TIMEZONE}")
    fs.check_file("/etc/timezone", f"{TIMEZONE}\n".encode())
    check_lines(fs, "/etc/locale.gen", [f"{LOCALE} UTF-8"])
    check_lines(fs, "/etc/default/locale", [f"LANG={LOCALE}"])
    if fs.lstat("/usr/lib/locale/locale-archive") is None:
        fs.problem("/usr/lib/locale/locale-archive", "missing: no locale generated")
    check_lines(fs, SYSCTL_FILE, [SYSCTL_LINE])
    check_lines(fs, "/etc/fstab", [FSTAB_LINE])
    if fs.lstat(MODULE_FILE) is not None:
        fs.problem(MODULE_FILE, "present, expected absent")
    check_account(fs)
    check_lines(fs, CRONTAB, [CRON_JOB])
    check_files(fs)
    check_python(fs)
    fs.check_file(WORKER, WORKER_TEXT.encode(), 0o644, "root", "root")
    fs.check_link(WORKER_LINK, WORKER)
    fs.check_file(TIMER, TIMER_TEXT.encode(), 0o644, "root", "root")
    fs.check_file(TIMER_SERVICE, TIMER_SERVICE_TEXT.encode(), 0o644, "root", "root")
    if worker_starts(fs) < 1:
        fs.problem(WORKER_LOG, "the worker never started")
    if host_pid is not None:
        check_namespaces(fs, host_pid, port_base)
    return fs.problems


def check_packages(fs: HostFS) -> None:
    installed = fs.installed_packages()
    missing = set(INSTALLED) - installed
    if missing:
        fs.problem(DPKG_STATUS, f"not installed: {', '.join(sorted(missing))}")
    if PURGED in installed:
        fs.problem(DPKG_STATUS, f"{PURGED} installed, expected purged")
    version = package_version(fs, "tree")
    if "tree" in installed and version != TREE_VERSION:
        fs.problem(DPKG_STATUS, f"tree {version}, expected {TREE_VERSION}")


def package_version(fs: HostFS, package: str) -> str | None:
    text = fs.path(DPKG_STATUS).read_text(encoding="utf-8", errors="replace")
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line[0].isspace())
        if fields.get("Package") == package:
            return fields.get("Version")
    return None


def check_sources(fs: HostFS) -> None:
    present = [p for p in SOURCES if fs.lstat(p) is not None]
    if len(present) != 1:
        fs.problem(SOURCES[0], f"expected one source file of {', '.join(SOURCES)}, found {present}")
    elif REPO_URI not in fs.path(present[0]).read_text():
        fs.problem(present[0], f"does not name {REPO_URI}")


def check_account(fs: HostFS) -> None:
    fs.check_file(SUDOERS, SUDOERS_TEXT, 0o440, "root", "root")
    fs.check_user("deploy", uid=None, group=None, home="/home/deploy", shell="/bin/bash")
    fs.check_directory("/home/deploy/.ssh", 0o700, "deploy")
    fs.check_file(AUTHORIZED_KEYS, None, 0o600, "deploy")
    try:
        lines = fs.path(AUTHORIZED_KEYS).read_text().splitlines()
    except OSError:
        return
    keys = sorted(" ".join(line.split()[:2]) for line in lines if line.strip() and not line.startswith("#"))
    if keys != sorted(KEYS):
        fs.problem(AUTHORIZED_KEYS, f"holds {keys}, expected exactly the two keys")


def check_files(fs: HostFS) -> None:
    check_tree(fs, server_assets.STATIC / "site", SITE, exact=True)
    check_tree(fs, server_assets.STATIC / "conf.d", CONF_D, exact=False)
    fs.check_file(TOOL, server_assets.TOOL, 0o755, "root", "root")
    try:
        login_defs = fs.path("/etc/login.defs").read_text().splitlines()
    except OSError:
        login_defs = []
    umask = [line for line in login_defs if line.startswith("UMASK")]
    if umask != ["UMASK 027"]:
        fs.problem("/etc/login.defs", f"UMASK lines {umask}, expected ['UMASK 027']")
    for name, data in server_assets.ARCHIVE_FILES.items():
        fs.check_file(f"{APP}/{name}", data)
    if checkout_commit(fs) != server_assets.git_commit():
        fs.problem(CHECKOUT, f"checked out {checkout_commit(fs)}, expected branch main at {server_assets.git_commit()}")
    for name, text in server_assets.GIT_FILES.items():
        fs.check_file(f"{CHECKOUT}/{name}", text.encode())


def checkout_commit(fs: HostFS) -> str | None:
    """The commit of the checkout's branch ``main`` (HEAD must name it), from its refs or packed refs."""
    git = fs.path(f"{CHECKOUT}/.git")
    try:
        if (git / "HEAD").read_text().strip() != "ref: refs/heads/main":
            return None
        if (git / "refs/heads/main").is_file():
            return (git / "refs/heads/main").read_text().strip()
        refs = [line.split() for line in (git / "packed-refs").read_text().splitlines()]
    except OSError:
        return None
    return next((f[0] for f in refs if f[1:] == ["refs/heads/main"]), None)


def check_tree(fs: HostFS, local: Path, remote: str, *, exact: bool) -> None:
    """Every file below ``local`` is at ``remote`` (0644, root's; directories 0755); with ``exact`` nothing else."""
    fs.check_directory(remote, 0o755, "root", "root")
    wanted = sorted(str(p.relative_to(local)) for p in local.rglob("*"))
    for name in wanted:
        if (local / name).is_dir():
            fs.check_directory(f"{remote}/{name}", 0o755, "root", "root")
        else:
            fs.check_file(f"{remote}/{name}", (local / name).read_bytes(), 0o644, "root", "root")
    if exact and fs.path(remote).is_dir():
        present = sorted(str(p.relative_to(fs.path(remote))) for p in fs.path(remote).rglob("*"))
        if present != wanted:
            fs.problem(remote, f"holds {present}, expected {wanted}")


def check_python(fs: HostFS) -> None:
    check_tree(fs, server_assets.ASSETS / "wheels", WHEELS, exact=True)
    fs.check_file(f"{VENV}/pyvenv.cfg", None)
    info = f"{server_assets.WHEEL_NAME}-{server_assets.WHEEL_VERSION}.dist-info"
    if not list(fs.path(VENV).glob(f"lib/python3*/site-packages/{info}")):
        fs.problem(VENV, f"server-bench-hello {server_assets.WHEEL_VERSION} is not installed")


def worker_starts(fs: HostFS) -> int:
    """How often the worker service started (its ``started`` lines)."""
    try:
        return fs.path(WORKER_LOG).read_text().count("started\n")
    except OSError:
        return 0


def in_host(pid: int, *command: str) -> str:
    """Run a command inside every namespace of the host whose PID 1 is ``pid``; its output."""
    argv = ["nsenter", "-t", str(pid), "-a", "-r", "-w", "--", *command]  # -r -w: the host's root, as its own
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False).stdout


def check_namespaces(fs: HostFS, pid: int, port_base: int | None) -> None:
    name = in_host(pid, "cat", "/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname").split()
    if name != [f"{fs.name}.server.bench", "server.bench"]:
        fs.problem(
            "/proc/sys/kernel", f"host name and domain name {name}, expected {fs.name}.server.bench server.bench"
        )
    mounts = [line.split() for line in in_host(pid, "cat", "/proc/self/mountinfo").splitlines()]
    if not any(f[4] == MOUNT_POINT and "tmpfs" in f for f in mounts):
        fs.problem(MOUNT_POINT, "not mounted")
    if port_base is None:
        return
    port = pg_port(fs.name, port_base)
    check_lines(fs, PG_CONF, [f"port = {port}"])
    sql = (
        "SELECT rolcanlogin, rolcreatedb FROM pg_roles WHERE rolname = 'app';"
        " SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'"
    )
    psql = ["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-p", str(port)]
    got = in_host(pid, *psql, "-c", sql).split()
    table = in_host(pid, *psql, "-d", "app", "-c", "SELECT tableowner FROM pg_tables WHERE tablename = 'items'").split()
    if got != ["t|t", "app"] or table != ["app"]:
        fs.problem("PostgreSQL", f"role/database/table {got} {table}, expected role app (login, createdb), database"
                   " app and table items owned by app")  # fmt: skip


def managed_paths() -> list[str]:
    """Every path the workload manages whose ctime a zero-change run must leave alone (with PostgreSQL's
    pid file, which a restart rewrites, and the files accounts and packages live in).

    Not the checkout's ``.git/HEAD``: Ansible's git module checks the branch out again on every run,
    which rewrites HEAD with the same content (and reports no change); the checked-out commit and the
    checkout's files are verified instead.
    """
    site = [
        f"{SITE}/{p.relative_to(server_assets.STATIC / 'site')}" for p in (server_assets.STATIC / "site").rglob("*")
    ]
    conf = [f"{CONF_D}/{p.name}" for p in (server_assets.STATIC / "conf.d").iterdir()]
    wheels = [f"{WHEELS}/{p.name}" for p in (server_assets.ASSETS / "wheels").iterdir()]
    return sorted({
        KEYRING, *SOURCES, "/etc/hostname", "/etc/hosts", "/etc/localtime", "/etc/timezone", "/etc/locale.gen",
        "/etc/default/locale", "/usr/lib/locale/locale-archive", SYSCTL_FILE, "/etc/fstab", MOUNT_POINT,
        "/home/deploy", "/home/deploy/.ssh", AUTHORIZED_KEYS, SUDOERS, CRONTAB, BASE, SITE, *site, CONF_D, *conf,
        TOOL, "/etc/login.defs", APP, *(f"{APP}/{n}" for n in server_assets.ARCHIVE_FILES), CHECKOUT,
        *(f"{CHECKOUT}/{n}" for n in server_assets.GIT_FILES), WHEELS, *wheels, VENV,
        f"{VENV}/bin", f"{VENV}/pyvenv.cfg", WORKER, WORKER_LINK, WORKER_LOG, TIMER, TIMER_SERVICE, PG_CONF, PG_PID,
        *ACCOUNT_FILES, DPKG_STATUS,
    })  # fmt: skip
