"""Where the lab keeps things, what it is built from, and how hosts are named.

Everything is derived from two environment variables, read at call time so tests
and tools can point the lab elsewhere:

* ``PARACRINE_LAB_DIR`` — the state directory (default ``/srv/paracrine-lab``);
* ``PARACRINE_LAB_PORT_BASE`` — host ``hNN`` listens on ``127.0.0.1:(base + NN)``
  (default 22000).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from paracrine.errors import SetupError

DEFAULT_DIR = "/srv/paracrine-lab"
DEFAULT_PORT_BASE = 22000
ADDRESS = "127.0.0.1"
SUITE = "bookworm"
#: Packages debootstrap adds to the minbase variant of the raw root filesystem.
INCLUDE_PACKAGES = (
    "python3",
    "python3-apt",
    "openssh-server",
    "sudo",
    "systemctl",
    "cron",
    "git",
    "ca-certificates",
)
#: Packages always in the offline apt repository (the benchmark workload installs ``tree``).
OFFLINE_PACKAGES = ("tree",)
#: Where every host sees the offline apt repository (a read-only bind mount).
APT_REPO_IN_HOST = "/srv/lab-apt"
#: The suites of :data:`SUITE` the offline repository is resolved from, when the machine has them.
APT_SUITES = (SUITE, f"{SUITE}-updates", f"{SUITE}-security")
#: Bump to force every lab to rebuild its base layer after a change to image.py.
BASE_VERSION = 3
#: Name of the marker file that says a build step finished.
MARKER = ".paracrine-complete"
LAB_USER = "lab"
ROOT_USER = "root"
MAX_HOSTS = 999
#: Service port slot N of a host is its SSH port - N * SERVICE_PORT_STEP (see :func:`service_port`).
SERVICE_PORT_STEP = 10000

_NAME_RE = re.compile(r"h(\d{2,3})")
_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")


@dataclass(frozen=True)
class LabPaths:
    """The lab's directory layout below its state directory."""

    root: Path

    @property
    def cache(self) -> Path:
        """Built-once things: raw rootfs, offline apt repository, client key."""
        return self.root / "cache"

    @property
    def rootfs(self) -> Path:
        """The raw debootstrap result."""
        return self.cache / f"rootfs-{SUITE}"

    @property
    def apt_repo(self) -> Path:
        """The offline apt repository (debs plus a ``Packages`` index)."""
        return self.cache / "apt-repo"

    @property
    def apt_state(self) -> Path:
        """apt's private lists and configuration for resolving and downloading the offline packages."""
        return self.cache / "apt-state"

    @property
    def key(self) -> Path:
        """The lab client key (private half; ``.pub`` beside it)."""
        return self.cache / "id_ed25519"

    @property
    def base(self) -> Path:
        """The customised lower layer shared by every host."""
        return self.root / "base"

    @property
    def hosts(self) -> Path:
        """Per-host directories ``hNN/{upper,work,root}``."""
        return self.root / "hosts"

    @property
    def state(self) -> Path:
        """Files for clients: inventory, known_hosts, ssh_config, key copy."""
        return self.root / "state"

    @property
    def lock(self) -> Path:
        """The file ``up``/``fresh``/``stop``/``down`` hold an exclusive flock on."""
        return self.root / "lock"

    def host_dir(self, name: str) -> Path:
        """The directory of host ``name``."""
        return self.hosts / name

    def host_root(self, name: str) -> Path:
        """The mount point of host ``name``'s root filesystem."""
        return self.hosts / name / "root"


def lab_dir() -> Path:
    """The lab's state directory: ``$PARACRINE_LAB_DIR`` or ``/srv/paracrine-lab``.

    Raises:
        SetupError: the path contains a character overlayfs options cannot carry.
    """
    path = Path(os.environ.get("PARACRINE_LAB_DIR") or DEFAULT_DIR).absolute()
    if any(c in str(path) for c in ",:\n"):
        raise SetupError(
            f"lab directory {str(path)!r} contains ',' or ':'", hint="set PARACRINE_LAB_DIR to a plain path"
        )
    return path


def lab_paths() -> LabPaths:
    """The layout below :func:`lab_dir`."""
    return LabPaths(lab_dir())


def port_base() -> int:
    """The port base: ``$PARACRINE_LAB_PORT_BASE`` or 22000.

    Raises:
        SetupError: the variable is not an integer in 1..65535.
    """
    raw = os.environ.get("PARACRINE_LAB_PORT_BASE") or str(DEFAULT_PORT_BASE)
    if not raw.isdigit() or not 0 < int(raw) < 65535:
        raise SetupError(f"PARACRINE_LAB_PORT_BASE={raw!r} is not a port number", hint="use e.g. 22000")
    return int(raw)


def host_name(index: int) -> str:
    """The name of host number ``index``: 1 -> ``h01``, 100 -> ``h100``."""
    return f"h{index:02d}"


def host_index(name: str) -> int:
    """The number of host ``name`` (inverse of :func:`host_name`).

    Raises:
        SetupError: ``name`` is not a lab host name.
    """
    match = _NAME_RE.fullmatch(name)
    if not match or host_name(int(match.group(1))) != name or int(match.group(1)) == 0:
        raise SetupError(f"{name!r} is not a lab host name", hint="lab hosts are named h01, h02, ...")
    return int(match.group(1))


def host_port(name: str) -> int:
    """The SSH port of host ``name``."""
    return port_base() + host_index(name)


def service_port(ssh_port: int, slot: int) -> int:
    """The port service ``slot`` (1 or 2) of the host with SSH port ``ssh_port`` listens on.

    Hosts share the machine's network namespace, so two hosts' services on their
    default port (80, 5432) would collide. Slot N is the SSH port minus N * 10000:
    unique across hosts, and across labs (whose SSH ports differ). While every lab's
    SSH ports lie in 22000..31999 (the default base and bases above it), slot 1
    (12000..21999) and slot 2 (2000..11999) never meet an SSH port.

    Raises:
        SetupError: ``slot`` is not 1 or 2, or the port would be below 1024.
    """
    if slot not in (1, 2):
        raise SetupError(f"service port slot {slot} does not exist", hint="use slot 1 or 2")
    port = ssh_port - SERVICE_PORT_STEP * slot
    if port < 1024:
        raise SetupError(
            f"service port slot {slot} of SSH port {ssh_port} would be {port}", hint="raise PARACRINE_LAB_PORT_BASE"
        )
    return port


def check_count(count: int) -> None:
    """Reject a host count that is out of range or would overflow the port range.

    Raises:
        SetupError: ``count`` is not in 1..MAX_HOSTS or its last port exceeds 65535.
    """
    if not 1 <= count <= MAX_HOSTS:
        raise SetupError(f"host count {count} is out of range", hint=f"use 1..{MAX_HOSTS}")
    if port_base() + count > 65535:
        raise SetupError(
            f"host h{count:02d} would need port {port_base() + count}", hint="lower PARACRINE_LAB_PORT_BASE"
        )


def debian_mirror(
    sources_glob: str = "/etc/apt/sources.list.d/*.sources", sources_list: str = "/etc/apt/sources.list"
) -> str:
    """The Debian mirror debootstrap uses: ``$PARACRINE_LAB_MIRROR``, else this machine's apt source.

    The first ``URIs:`` entry of the deb822 ``*.sources`` files wins, then the
    first ``deb`` line of ``sources.list``.

    Args:
        sources_glob: where the deb822 source files are.
        sources_list: the one-line-style sources file.

    Raises:
        SetupError: no mirror is configured anywhere.
    """
    override = os.environ.get("PARACRINE_LAB_MIRROR")
    if override:
        return override
    for path in sorted(glob.glob(sources_glob)):
        for line in _read_lines(path):
            if line.startswith("URIs:") and line.split()[1:]:
                return line.split()[1]
    for line in _read_lines(sources_list):
        words = re.sub(r"\[[^]]*\]", " ", line).split()
        if len(words) >= 2 and words[0] == "deb":
            return words[1]
    raise SetupError(
        "no Debian mirror found in this machine's apt sources", hint="set PARACRINE_LAB_MIRROR=<mirror URL>"
    )


def check_package_names(names: Iterable[str]) -> list[str]:
    """The package names, unique and sorted, after checking each is a plain Debian package name.

    Raises:
        SetupError: a name has a version, an architecture, an option or other characters.
    """
    unique = sorted(set(names))
    for name in unique:
        if not _PACKAGE_RE.fullmatch(name):
            raise SetupError(
                f"{name!r} is not a Debian package name", hint="use plain names such as nginx-light (no versions)"
            )
    return unique


@dataclass(frozen=True)
class AptSource:
    """One Debian archive suite (component main) the offline repository is resolved from."""

    uri: str
    suite: str
    signed_by: str | None = None

    def line(self) -> str:
        """The ``sources.list`` line for this suite."""
        options = f" [signed-by={self.signed_by}]" if self.signed_by else ""
        return f"deb{options} {self.uri} {self.suite} main\n"


def apt_sources(
    sources_glob: str = "/etc/apt/sources.list.d/*.sources",
    sources_list: str = "/etc/apt/sources.list",
    lists_glob: str = "/etc/apt/sources.list.d/*.list",
) -> list[AptSource]:
    """The suites of :data:`APT_SUITES` that this machine's apt sources name, else the mirror's :data:`SUITE`.

    ``$PARACRINE_LAB_MIRROR`` (the mirror debootstrap uses) gives just its
    :data:`SUITE`. Otherwise every enabled ``deb`` entry for ``bookworm``,
    ``bookworm-updates`` or ``bookworm-security`` with component ``main`` is
    kept (deb822 ``*.sources`` files first, then one-line ``*.list`` files),
    with its ``signed-by`` key file. With none, :func:`debian_mirror`'s
    :data:`SUITE` alone.

    Raises:
        SetupError: no mirror is configured anywhere.
    """
    if os.environ.get("PARACRINE_LAB_MIRROR"):
        return [AptSource(debian_mirror(), SUITE)]
    found: list[AptSource] = []
    for path in sorted(glob.glob(sources_glob)):
        for stanza in _deb822_stanzas(_read_lines(path, strip=False)):
            if "deb" not in stanza.get("types", "").split() or stanza.get("enabled", "yes").lower() == "no":
                continue
            if "main" not in stanza.get("components", "").split():
                continue
            key = stanza.get("signed-by", "")
            signed_by = key if key.startswith("/") and " " not in key else None
            for uri in stanza.get("uris", "").split():
                found += [AptSource(uri, s, signed_by) for s in stanza.get("suites", "").split() if s in APT_SUITES]
    for path in [sources_list, *sorted(glob.glob(lists_glob))]:
        for line in _read_lines(path):
            source = _one_line_source(line)
            if source is not None:
                found.append(source)
    return list(dict.fromkeys(found)) or [AptSource(debian_mirror(sources_glob, sources_list), SUITE)]


def _deb822_stanzas(lines: list[str]) -> list[dict[str, str]]:
    """The stanzas of a deb822 file as lower-cased field -> value (continuation lines joined)."""
    stanzas: list[dict[str, str]] = [{}]
    field = ""
    for line in lines:
        if not line.strip():
            if stanzas[-1]:
                stanzas.append({})
        elif line.startswith("#"):
            continue
        elif ":" in line and not line[0].isspace() and not line.startswith("."):
            field, value = line.split(":", 1)
            field = field.strip().lower()
            stanzas[-1][field] = value.strip()
        elif field:
            stanzas[-1][field] += " " + line.strip()
    return [s for s in stanzas if s]


def _one_line_source(line: str) -> AptSource | None:
    """The :class:`AptSource` of a one-line ``deb`` entry for one of :data:`APT_SUITES` with ``main``."""
    options = re.search(r"\[([^]]*)\]", line)
    words = re.sub(r"\[[^]]*\]", " ", line).split()
    if len(words) < 4 or words[0] != "deb" or words[2] not in APT_SUITES or "main" not in words[3:]:
        return None
    signed_by = None
    for option in options.group(1).split() if options else []:
        if option.startswith("signed-by="):
            signed_by = option.split("=", 1)[1]
    return AptSource(words[1], words[2], signed_by)


def _read_lines(path: str, *, strip: bool = True) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.strip() if strip else line.rstrip() for line in f]
    except OSError:
        return []
