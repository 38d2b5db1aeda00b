"""Is a host really in the desired state? Checked from the controller, on the host's root filesystem.

Nothing here connects to a host: each lab host's root is a directory on the controller, so files,
modes, owners (mapped through the host's own /etc/passwd and /etc/group), ctimes and the dpkg
database are read directly. Every function returns a list of problems (empty: all is well), each
one line naming the host and the path.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2

from bench.config import FOUROP_DIR, WORKLOAD_DIR

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
