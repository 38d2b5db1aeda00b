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
#: Packages served to the hosts from the offline apt repository baked into the base.
OFFLINE_PACKAGES = ("tree",)
#: Bump to force every lab to rebuild its base layer after a change to image.py.
BASE_VERSION = 1
#: Name of the marker file that says a build step finished.
MARKER = ".paracrine-complete"
LAB_USER = "lab"
ROOT_USER = "root"
MAX_HOSTS = 999

_NAME_RE = re.compile(r"h(\d{2,3})")


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


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.strip() for line in f]
    except OSError:
        return []
