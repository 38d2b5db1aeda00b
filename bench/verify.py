"""Is a host really in the desired state? Checked from the controller, on the host's root filesystem.

Nothing here connects to a host: each lab host's root is a directory on the controller, so files,
modes, owners (mapped through the host's own /etc/passwd and /etc/group), ctimes and the dpkg
database are read directly. Every function returns a list of problems (empty: all is well), each
one line naming the host and the path.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import stat
import sys
import time
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import jinja2

from bench.config import DEMO_DIR, FOUROP_DIR, WORKLOAD_DIR

WORKLOAD_CONF_EXISTING = "existing_option = 1"
ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
DPKG_STATUS = "/var/lib/dpkg/status"
FOUROP_USER = "pyinfra"
FOUROP_LOG = "/var/log/pyinfra.log"
FOUROP_COPY = "/home/pyinfra/test_file.txt"
FOUROP_SOURCE = FOUROP_DIR / "files" / "test_file.txt"


def load_spec(workload_dir: Path = WORKLOAD_DIR) -> dict[str, Any]:
    """The workload spec (``workload/spec.json``)."""
    spec: dict[str, Any] = json.loads((workload_dir / "spec.json").read_text())
    return spec


@dataclass
class HostFS:
    """A host's root filesystem as seen from the controller."""

    name: str
    root: Path
    port: int = 0
    problems: list[str] = field(default_factory=list)

    def path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def problem(self, path: str, what: str) -> None:
        self.problems.append(f"{self.name}: {path}: {what}")

    @cached_property
    def users(self) -> dict[str, list[str]]:
        """``/etc/passwd`` entries by name: [name, x, uid, gid, gecos, home, shell]."""
        return {f[0]: f for f in _colon_file(self.path("/etc/passwd")) if len(f) >= 7}

    @cached_property
    def groups(self) -> dict[str, list[str]]:
        """``/etc/group`` entries by name: [name, x, gid, members]."""
        return {f[0]: f for f in _colon_file(self.path("/etc/group")) if len(f) >= 3}

    def user_name(self, uid: int) -> str:
        return next((n for n, f in self.users.items() if f[2] == str(uid)), f"uid {uid}")

    def group_name(self, gid: int) -> str:
        return next((n for n, f in self.groups.items() if f[2] == str(gid)), f"gid {gid}")

    def lstat(self, path: str) -> os.stat_result | None:
        try:
            return os.lstat(self.path(path))
        except OSError:
            return None

    def installed_packages(self) -> set[str]:
        """Packages whose dpkg status is ``install ok installed``."""
        installed: set[str] = set()
        name = ""
        try:
            text = self.path(DPKG_STATUS).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return installed
        for line in text.splitlines():
            if line.startswith("Package: "):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("Status: ") and line.split(":", 1)[1].split() == ["install", "ok", "installed"]:
                installed.add(name)
        return installed

    # ------------------------------------------------------------------ checks
    def check_attrs(
        self, path: str, st: os.stat_result, mode: int | None, owner: str | None, group: str | None
    ) -> None:
        if mode is not None and stat.S_IMODE(st.st_mode) != mode:
            self.problem(path, f"mode {stat.S_IMODE(st.st_mode):04o}, expected {mode:04o}")
        if owner is not None and self.user_name(st.st_uid) != owner:
            self.problem(path, f"owner {self.user_name(st.st_uid)}, expected {owner}")
        if group is not None and self.group_name(st.st_gid) != group:
            self.problem(path, f"group {self.group_name(st.st_gid)}, expected {group}")

    def check_directory(
        self, path: str, mode: int | None = None, owner: str | None = None, group: str | None = None
    ) -> None:
        st = self.lstat(path)
        if st is None or not stat.S_ISDIR(st.st_mode):
            self.problem(path, "not a directory" if st else "missing")
            return
        self.check_attrs(path, st, mode, owner, group)

    def check_file(
        self,
        path: str,
        content: bytes | None,
        mode: int | None = None,
        owner: str | None = None,
        group: str | None = None,
    ) -> None:
        st = self.lstat(path)
        if st is None or not stat.S_ISREG(st.st_mode):
            self.problem(path, "not a regular file" if st else "missing")
            return
        self.check_attrs(path, st, mode, owner, group)
        if content is not None and self.path(path).read_bytes() != content:
            self.problem(path, "content differs")

    def check_link(self, path: str, target: str) -> None:
        st = self.lstat(path)
        if st is None or not stat.S_ISLNK(st.st_mode):
            self.problem(path, "not a symbolic link" if st else "missing")
        elif os.readlink(self.path(path)) != target:
            self.problem(path, f"points to {os.readlink(self.path(path))}, expected {target}")

    def check_user(self, name: str, *, uid: int | None, group: str | None, home: str, shell: str) -> None:
        entry = self.users.get(name)
        if entry is None:
            self.problem("/etc/passwd", f"no user {name}")
            return
        if uid is not None and entry[2] != str(uid):
            self.problem("/etc/passwd", f"user {name} has uid {entry[2]}, expected {uid}")
        if group is not None and self.group_name(int(entry[3])) != group:
            self.problem("/etc/passwd", f"user {name} has group {self.group_name(int(entry[3]))}, expected {group}")
        if entry[5] != home or entry[6] != shell:
            self.problem("/etc/passwd", f"user {name} has home {entry[5]} shell {entry[6]}, expected {home} {shell}")
        self.check_directory(home, owner=name)


def _colon_file(path: Path) -> list[list[str]]:
    try:
        return [line.split(":") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    except OSError:
        return []


def render_template(src: Path, **variables: Any) -> bytes:
    """The expected output of a workload template (Jinja2, trailing newline kept)."""
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)
    return env.from_string(src.read_text()).render(**variables).encode()


def verify_standard(fs: HostFS, spec: dict[str, Any], rev: str, workload_dir: Path = WORKLOAD_DIR) -> list[str]:
    """Problems of ``fs`` against the standard workload at revision ``rev``."""
    owner, group = spec["owner"], spec["group"]
    for d in spec["directories"]:
        fs.check_directory(d["path"], int(d["mode"], 8), owner, group)
    for f in spec["files"]:
        fs.check_file(f["dest"], (workload_dir / f["src"]).read_bytes(), int(f["mode"], 8), owner, group)
    for t in spec["templates"]:
        variables = {"lab_hostname": fs.name, "lab_port": fs.port, "index": t["index"], "revision": rev}
        fs.check_file(t["dest"], render_template(workload_dir / t["src"], **variables), int(t["mode"], 8), owner, group)
    check_lines(fs, spec["lines"]["path"], [WORKLOAD_CONF_EXISTING, *spec["lines"]["lines"]])
    for link in spec["links"]:
        fs.check_link(link["path"], link["target"])
    g, u = spec["group_account"], spec["user_account"]
    if fs.groups.get(g["name"], [None, None, None])[2] != str(g["gid"]):
        fs.problem("/etc/group", f"no group {g['name']} with gid {g['gid']}")
    fs.check_user(u["name"], uid=u["uid"], group=u["group"], home=u["home"], shell=u["shell"])
    missing = set(spec["packages"]["present"] + spec["packages"]["install"]) - fs.installed_packages()
    if missing:
        fs.problem(DPKG_STATUS, f"not installed: {', '.join(sorted(missing))}")
    log = str(Path(spec["command"]["creates"]).with_name("bootstrap.log"))
    fs.check_file(log, f"bootstrapped {fs.name}\n".encode())
    fs.check_file(spec["command"]["creates"], None)
    return fs.problems


def check_lines(fs: HostFS, path: str, lines: Iterable[str]) -> None:
    """Each of ``lines`` is present exactly once as a whole line of ``path``."""
    try:
        present = fs.path(path).read_text().splitlines()
    except OSError:
        fs.problem(path, "missing")
        return
    for line in lines:
        if present.count(line) != 1:
            fs.problem(path, f"line {line!r} present {present.count(line)} times, expected once")


def verify_fourop(fs: HostFS) -> list[str]:
    """Problems of ``fs`` against the four-operation workload of pyinfra-performance."""
    fs.check_user(FOUROP_USER, uid=None, group=None, home="/home/pyinfra", shell="/bin/bash")
    fs.check_file(FOUROP_LOG, None, mode=0o777, owner=FOUROP_USER)
    fs.check_file(FOUROP_COPY, FOUROP_SOURCE.read_bytes(), owner=FOUROP_USER)
    return fs.problems


# ---------------------------------------------------------------------- ctimes


def managed_paths(spec: dict[str, Any]) -> list[str]:
    """Every path the standard workload manages (plus the files accounts and packages live in)."""
    paths = [d["path"] for d in spec["directories"]]
    paths += [f["dest"] for f in spec["files"]] + [t["dest"] for t in spec["templates"]]
    paths += [spec["lines"]["path"], *(link["path"] for link in spec["links"])]
    creates = spec["command"]["creates"]
    paths += [creates, str(Path(creates).with_name("bootstrap.log")), spec["user_account"]["home"]]
    return [*paths, *ACCOUNT_FILES, DPKG_STATUS]


def changed_path(spec: dict[str, Any]) -> str:
    """The one file the change scenario changes (template #``changing_template_index``)."""
    index = spec["changing_template_index"]
    return str(next(t["dest"] for t in spec["templates"] if t["index"] == index))


def ctimes(fs: HostFS, paths: Iterable[str]) -> dict[str, int | None]:
    """``lstat`` ctime (ns) of each path, None when missing."""
    result: dict[str, int | None] = {}
    for path in paths:
        st = fs.lstat(path)
        result[path] = st.st_ctime_ns if st else None
    return result


def ctime_problems(
    name: str,
    before: dict[str, int | None],
    after: dict[str, int | None],
    *,
    must: frozenset[str] = frozenset(),
    may: frozenset[str] = frozenset(),
) -> list[str]:
    """Paths whose ctime moved though not in ``must`` or ``may``, and ``must`` paths whose ctime did not."""
    problems = []
    for path, old in before.items():
        moved = after.get(path) != old
        if moved and path not in must and path not in may:
            problems.append(f"{name}: {path}: changed (ctime moved) but should not have")
        if not moved and path in must:
            problems.append(f"{name}: {path}: not changed (ctime did not move) but should have")
    return problems


# ---------------------------------------------------------------------- the demo workload
#
# The demo (demo/deploy.py, and bench/peers/pyinfra/demo_deploy.py for pyinfra) checked twice: its
# end state on each host's root filesystem (files, contents, owners, modes, links, the account,
# packages, the crontab, the kernel setting, PostgreSQL's port), and in use, with demo/showcase.py's
# own checks: pages through nginx, a visit written to PostgreSQL and read back, the greeting, and
# the app's restarts counted in its log.

DEMO_APP_DIR = "/srv/demo-app"
DEMO_WHEELS = f"{DEMO_APP_DIR}/wheels"
DEMO_VENV = f"{DEMO_APP_DIR}/venv"
DEMO_LOG_DIR = "/var/log/demo-app"
DEMO_ETC = "/etc/demo-app"
DEMO_CONFIG = f"{DEMO_ETC}/app.conf"
DEMO_UNIT = "/etc/systemd/system/demo-app.service"
DEMO_UNIT_LINK = "/etc/systemd/system/multi-user.target.wants/demo-app.service"
DEMO_CRONTAB = "/var/spool/cron/crontabs/demo"
DEMO_CRON_JOB = f"17 3 * * * {DEMO_VENV}/bin/paracrine-demo-cleanup --config {DEMO_CONFIG}"
DEMO_SYSCTL_FILE = "/etc/sysctl.d/99-paracrine.conf"
DEMO_SYSCTL_LINE = "kernel.domainname = demo.internal"
DEMO_PG_CONF = "/etc/postgresql/15/main/postgresql.conf"
DEMO_PG_PID = "/var/lib/postgresql/15/main/postmaster.pid"
DEMO_SITE = "/etc/nginx/sites-available/demo"
DEMO_SITES_ENABLED = "/etc/nginx/sites-enabled"
DEMO_SITE_LINK = f"{DEMO_SITES_ENABLED}/demo"
DEMO_WHEELHOUSE = DEMO_DIR / "wheelhouse"
DEMO_TEMPLATES = DEMO_DIR / "templates"
#: demo/inventory.py's group data besides the port base, the greeting and the password
#: (tests/test_bench.py checks that they agree).
DEMO_DATA: dict[str, Any] = {"keep_days": 30, "db_name": "demo", "db_user": "demo"}
DEMO_DEFAULT_PASSWORD = "demo-password-change-me"
#: How long the checks wait for a page after a run (a restarted app takes a moment to listen).
DEMO_PAGE_WAIT = 30.0


@cache
def showcase() -> types.ModuleType:
    """demo/showcase.py (stdlib only), imported as ``showcase`` the way tests/test_demo.py does."""
    sys.path.insert(0, str(DEMO_DIR))
    try:
        return importlib.import_module("showcase")
    finally:
        sys.path.remove(str(DEMO_DIR))


def demo_packages() -> list[str]:
    """The Debian packages the demo's hosts must be able to install offline."""
    return [str(p) for p in showcase().PACKAGES]


def build_demo_wheelhouse() -> None:
    """demo/wheelhouse: the app's wheel and its dependencies (downloads from PyPI once)."""
    showcase().build_wheelhouse(DEMO_WHEELHOUSE)


def demo_greeting(rev: str) -> str:
    """The greeting of revision ``rev`` (the one line the ``change`` scenario changes)."""
    return f"Hello from the bench, revision {rev}"


def demo_password() -> str:
    """The database password, read as demo/inventory.py reads it."""
    return os.environ.get("DEMO_DB_PASSWORD", DEMO_DEFAULT_PASSWORD)


@dataclass(frozen=True)
class DemoPorts:
    """A demo host's ports (demo/roles/common.py)."""

    web: int
    app: int
    db: int

    @classmethod
    def of(cls, name: str, base: int) -> DemoPorts:
        number = int(name.lstrip("h"))
        return cls(web=base + number, app=base + 100 + number, db=base + 200 + number)


def verify_demo(fs: HostFS, base: int, greeting: str, wheelhouse: Path = DEMO_WHEELHOUSE) -> list[str]:
    """Problems of ``fs`` against the demo's end state (ports from ``base``, the page's ``greeting``)."""
    ports = DemoPorts.of(fs.name, base)
    missing = set(demo_packages()) - fs.installed_packages()
    if missing:
        fs.problem(DPKG_STATUS, f"not installed: {', '.join(sorted(missing))}")
    check_lines(fs, DEMO_SYSCTL_FILE, [DEMO_SYSCTL_LINE])
    try:
        port_lines = [line for line in fs.path(DEMO_PG_CONF).read_text().splitlines() if re.match(r"\s*port\s*=", line)]
    except OSError:
        port_lines = []
    if port_lines != [f"port = {ports.db}"]:
        fs.problem(DEMO_PG_CONF, f"port lines {port_lines}, expected ['port = {ports.db}']")
    if "demo" not in fs.groups:
        fs.problem("/etc/group", "no group demo")
    fs.check_user("demo", uid=None, group="demo", home=DEMO_APP_DIR, shell="/usr/sbin/nologin")
    if "demo" in fs.users and int(fs.users["demo"][2]) >= 1000:
        fs.problem("/etc/passwd", f"user demo has uid {fs.users['demo'][2]}, expected a system account (< 1000)")
    fs.check_directory(DEMO_APP_DIR, 0o755, "demo", "demo")
    fs.check_directory(DEMO_LOG_DIR, 0o770, "root", "demo")
    fs.check_directory(DEMO_ETC, 0o750, "root", "demo")
    check_wheels(fs, wheelhouse)
    fs.check_directory(DEMO_VENV, owner="demo")
    fs.check_file(f"{DEMO_VENV}/bin/paracrine-demo-app", None, owner="demo")
    if not list(fs.path(DEMO_VENV).glob("lib/python3*/site-packages/paracrine_demo_app-1.0.0.dist-info")):
        fs.problem(DEMO_VENV, "paracrine-demo-app 1.0.0 is not installed")
    variables = {**DEMO_DATA, "db_password": demo_password(), "greeting": greeting}
    config = render_template(DEMO_TEMPLATES / "app.conf.j2", **variables, app_port=ports.app, db_port=ports.db)
    fs.check_file(DEMO_CONFIG, config, 0o640, "root", "demo")
    unit = render_template(DEMO_TEMPLATES / "demo-app.service.j2", venv=DEMO_VENV)
    fs.check_file(DEMO_UNIT, unit, 0o644, "root", "root")
    fs.check_link(DEMO_UNIT_LINK, DEMO_UNIT)
    fs.check_file(DEMO_CRONTAB, None, 0o600, "demo", "crontab")
    if fs.lstat(DEMO_CRONTAB):
        check_lines(fs, DEMO_CRONTAB, [DEMO_CRON_JOB])
    host = types.SimpleNamespace(name=fs.name)
    site = render_template(DEMO_TEMPLATES / "nginx-site.conf.j2", host=host, web_port=ports.web, app_port=ports.app)
    fs.check_file(DEMO_SITE, site, 0o644, "root", "root")
    fs.check_link(DEMO_SITE_LINK, "../sites-available/demo")
    if fs.lstat(f"{DEMO_SITES_ENABLED}/default") is not None:
        fs.problem(f"{DEMO_SITES_ENABLED}/default", "present, expected removed")
    return fs.problems


def check_wheels(fs: HostFS, wheelhouse: Path) -> None:
    """The wheels directory holds exactly the wheelhouse's files (root's, 0644; the directory 0755)."""
    fs.check_directory(DEMO_WHEELS, 0o755, "root", "root")
    wanted = sorted(p.name for p in wheelhouse.iterdir() if p.is_file())
    try:
        present = sorted(os.listdir(fs.path(DEMO_WHEELS)))
    except OSError:
        return
    if present != wanted:
        fs.problem(DEMO_WHEELS, f"holds {present}, expected {wanted}")
    for name in wanted:
        fs.check_file(f"{DEMO_WHEELS}/{name}", (wheelhouse / name).read_bytes(), 0o644, "root", "root")


def demo_managed_paths(wheelhouse: Path = DEMO_WHEELHOUSE) -> list[str]:
    """Every path the demo manages whose ctime a zero-change run must leave alone (with PostgreSQL's
    pid file, which a restart of the cluster rewrites, and the files accounts and packages live in)."""
    wheels = [f"{DEMO_WHEELS}/{p.name}" for p in sorted(wheelhouse.iterdir()) if p.is_file()]
    return [
        DEMO_APP_DIR, DEMO_LOG_DIR, DEMO_ETC, DEMO_CONFIG, DEMO_WHEELS, *wheels,
        DEMO_VENV, f"{DEMO_VENV}/bin", f"{DEMO_VENV}/pyvenv.cfg", DEMO_UNIT, DEMO_UNIT_LINK, DEMO_CRONTAB,
        DEMO_SYSCTL_FILE, DEMO_PG_CONF, DEMO_PG_PID, DEMO_SITE, DEMO_SITES_ENABLED, DEMO_SITE_LINK,
        *ACCOUNT_FILES, DPKG_STATUS,
    ]  # fmt: skip


def demo_page_problems(name: str, base: int, greeting: str, wait: float = DEMO_PAGE_WAIT) -> list[str]:
    """demo/showcase.py's page check of host ``name`` (retried for up to ``wait`` seconds: a
    restarted app, or nginx before it, may not answer yet when the tool exits)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            ok, what = showcase().check_page(name, base, greeting)
        except OSError as exc:  # refused, 502 from nginx, 503 from the app (urllib's errors are OSErrors)
            ok, what = False, f"{name}: page through nginx on port {DemoPorts.of(name, base).web}: {exc}"
        if ok:
            return []
        if time.monotonic() >= deadline:
            return [str(what)]
        time.sleep(0.5)


def demo_restarts(lab_root: Path, name: str) -> int:
    """How often the app of host ``name`` started ("started pid" lines in its log; demo/showcase.py)."""
    return int(showcase().restarts(lab_root, name))
