"""The offline apt repository: the packages hosts can ``apt-get install`` with no network.

The repository (``cache/apt-repo``) is flat: ``.deb`` files and one ``Packages``
index. Every host sees it read-only at ``/srv/lab-apt`` (a bind mount), configured as
its only apt source (``file:``, ``trusted=yes``). For a ``file:`` source apt's list
entry is a symlink to that index, so hosts see a grown repository at once, with no
``apt-get update`` and no rebuild of the base layer.

It holds the requested packages with their dependency closure for the lab's release
(:data:`~paracrine.lab.paths.SUITE`, the controller's architecture) minus what the
base root filesystem already has. apt itself resolves it on the controller, as an
``apt-get install --download-only`` of all requested packages against the raw root
filesystem's dpkg status, with package lists of its own (``cache/apt-state``) fetched
from the machine's ``bookworm``, ``bookworm-updates`` and ``bookworm-security``
sources (see :func:`~paracrine.lab.paths.apt_sources`). Recommends are followed, as
``apt-get install`` on a host follows them by default; installing with
``--no-install-recommends`` needs a subset, so both work offline.

The repository only grows. Its marker lists the requested packages, sorted, and the
debootstrap they were resolved against; a request outside that set, or a new root
filesystem, resolves the union again, downloads only the missing ``.deb`` files into
``apt-repo.tmp``, moves them in and appends their entries to ``Packages`` with an
atomic rename, then rewrites the marker. A failed resolution or download leaves the
repository as it was. An exclusive ``flock`` on ``cache/apt-repo.lock`` serialises labs
that share the cache.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from paracrine.atomic import write_atomic
from paracrine.errors import SetupError, did_you_mean
from paracrine.lab.paths import MARKER, OFFLINE_PACKAGES, SUITE, LabPaths, apt_sources, check_package_names
from paracrine.lab.tools import run

log = logging.getLogger("paracrine.lab")

INDEX = "Packages"
_UNKNOWN = "E: Unable to locate package "


def offline_packages(paths: LabPaths) -> list[str]:
    """The packages the offline repository was asked for, sorted (empty before it is built)."""
    try:
        return sorted((paths.apt_repo / MARKER).read_text().partition("\n")[0].split())
    except OSError:
        return []


def _rootfs_id(paths: LabPaths) -> str:
    """Which debootstrap the repository was resolved against (its marker's mtime)."""
    try:
        return f"rootfs {(paths.rootfs / MARKER).stat().st_mtime_ns}"
    except OSError:
        return "rootfs none"


def _resolved_for(paths: LabPaths) -> str:
    """The root filesystem line of the repository's marker."""
    try:
        return (paths.apt_repo / MARKER).read_text().partition("\n")[2].strip()
    except OSError:
        return ""


def _is_current(paths: LabPaths, wanted: set[str]) -> bool:
    return wanted <= set(offline_packages(paths)) and _resolved_for(paths) == _rootfs_id(paths)


def ensure_apt_repo(paths: LabPaths, packages: Iterable[str] = ()) -> None:
    """Make the offline repository hold :data:`OFFLINE_PACKAGES`, ``packages`` and their dependencies.

    Needs the raw root filesystem (its dpkg status is the installed set).

    Raises:
        SetupError: a name is not a package name or not a package of the release,
            or apt could not fetch the package lists or a package.
    """
    wanted = set(check_package_names([*OFFLINE_PACKAGES, *packages]))
    if _is_current(paths, wanted):
        return
    with _locked(paths.cache / "apt-repo.lock"):
        if not _is_current(paths, wanted):
            have = set(offline_packages(paths))
            _extend(paths, sorted(have | wanted), sorted(wanted - have))


def _extend(paths: LabPaths, key: Sequence[str], new: Sequence[str]) -> None:
    """Resolve and download ``key`` (all requested packages) and add what the repository lacks."""
    started = time.monotonic()
    log.info("lab: adding %s to the offline apt repository", ", ".join(new) or "what a new root filesystem lacks")
    repo, tmp = paths.apt_repo, paths.apt_repo.with_name(paths.apt_repo.name + ".tmp")
    apt = PrivateApt(paths)
    apt.update()
    repo.mkdir(parents=True, exist_ok=True)
    indexed = indexed_files(repo / INDEX)
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "partial").mkdir(parents=True)
    try:
        added = _download_into(repo, tmp, apt, key, indexed)
    finally:
        shutil.rmtree(tmp)
    marker = f"{' '.join(key)}\n{_rootfs_id(paths)}\n"
    write_atomic(repo / MARKER, marker.encode(), 0o644, durable=True)
    size = sum((repo / name).stat().st_size for name in added)
    log.info(
        "lab: offline apt repository: %d new .deb files (%.1f MB) in %.1f s",
        len(added),
        size / 1e6,
        time.monotonic() - started,
    )


def _download_into(repo: Path, tmp: Path, apt: PrivateApt, key: Sequence[str], indexed: set[str]) -> list[str]:
    """Download ``key`` with its closure into ``tmp``, then move what ``repo`` lacks into it.

    Returns:
        The names of the ``.deb`` files added to the repository and its index.
    """
    for name in indexed:  # apt downloads only what is not in its archive directory already
        if (repo / name).is_file():
            os.link(repo / name, tmp / name)
    apt.download(key, tmp)
    added = sorted(deb.name for deb in tmp.glob("*.deb") if deb.name not in indexed)
    if added:
        batch = tmp / "new"
        batch.mkdir()
        for name in added:
            (tmp / name).rename(batch / name)
        entries = run(["dpkg-scanpackages", "--multiversion", ".", "/dev/null"], what="dpkg-scanpackages", cwd=batch)
        for name in added:
            os.replace(batch / name, repo / name)
        old = (repo / INDEX).read_text() if (repo / INDEX).is_file() else ""
        index = (old.rstrip("\n") + "\n\n" if old.strip() else "") + entries
        write_atomic(repo / INDEX, index.encode(), 0o644, durable=True)
    return added


def indexed_files(index: Path) -> set[str]:
    """The ``.deb`` file names a ``Packages`` index lists (``Filename: ./NAME``)."""
    try:
        lines = index.read_text().splitlines()
    except OSError:
        return set()
    return {line.split(":", 1)[1].strip().removeprefix("./") for line in lines if line.startswith("Filename:")}


def _apt_env() -> dict[str, str]:
    """This process's environment (proxies included) with apt untranslated, since its messages are parsed."""
    return {**os.environ, "LC_ALL": "C.UTF-8", "LANGUAGE": ""}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (waiting for another lab that shares the cache)."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class PrivateApt:
    """The controller's apt with package lists, sources and preferences of the lab's own.

    The machine's apt configuration still applies (proxies, ``Check-Valid-Until``),
    but nothing of its package state: lists, sources, pinning and the installed set
    (the raw root filesystem's dpkg status) are the lab's. Locking is left to the
    caller's flock, so the machine's own apt and dpkg locks are never taken.
    """

    def __init__(self, paths: LabPaths) -> None:
        state = paths.apt_state
        for sub in ("lists/partial", "sources.list.d", "preferences.d", "cache", "log"):
            (state / sub).mkdir(parents=True, exist_ok=True)
        write_atomic(state / "sources.list", "".join(s.line() for s in apt_sources()).encode(), 0o644)
        self.logfile = paths.cache / "apt-repo.log"
        self.logfile.write_text("")
        arch = run(["dpkg", "--print-architecture"], what="dpkg --print-architecture").strip()
        settings = {
            "Dir::Etc::SourceList": state / "sources.list",
            "Dir::Etc::SourceParts": state / "sources.list.d",
            "Dir::Etc::Preferences": state / "preferences",
            "Dir::Etc::PreferencesParts": state / "preferences.d",
            "Dir::State::Lists": state / "lists",
            "Dir::State::status": paths.rootfs / "var/lib/dpkg/status",
            "Dir::State::extended_states": state / "extended_states",
            "Dir::Cache": state / "cache",
            "Dir::Log": state / "log",
            "APT::Architecture": arch,
            "APT::Architectures::": arch,
            "Debug::NoLocking": "true",
        }
        self.options = [arg for name, value in settings.items() for arg in ("-o", f"{name}={value}")]

    def update(self) -> None:
        """Fetch the package lists (only what changed since the last time).

        Raises:
            SetupError: apt could not fetch them.
        """
        self._run(["update"], "fetching the lab's package lists")

    def download(self, packages: Sequence[str], archives: Path) -> None:
        """Download ``packages`` and every package they need that the root filesystem lacks into ``archives``.

        Raises:
            SetupError: a package does not exist (with close names as a hint), or apt failed.
        """
        argv = ["-o", f"Dir::Cache::archives={archives}/", "-o", "APT::Install-Recommends=true"]
        argv += ["-o", "APT::Install-Suggests=false", "--download-only", "-y", "install", *packages]
        self._run(argv, "downloading the offline packages")

    def package_names(self) -> list[str]:
        """Every package name in the lists."""
        argv = ["apt-cache", *self.options, "pkgnames"]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=_apt_env())
        return proc.stdout.split()

    def _run(self, args: Sequence[str], what: str) -> None:
        argv = ["apt-get", "-q", *self.options, *args]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=_apt_env())
        with open(self.logfile, "a") as f:
            f.write(f"$ {' '.join(argv)}\n{proc.stdout}{proc.stderr}(exit {proc.returncode})\n")
        if proc.returncode == 0:
            return
        errors = [line[3:] for line in proc.stderr.splitlines() if line.startswith("E: ")]
        unknown = [line[len(_UNKNOWN) :].strip() for line in proc.stderr.splitlines() if line.startswith(_UNKNOWN)]
        if unknown:
            names = ", ".join(repr(n) for n in unknown)
            word = unknown[0]
            raise SetupError(
                f"no such Debian package {names} in {SUITE}",
                hint=did_you_mean(word, [n for n in self.package_names() if n[:1] == word[:1]]),
            )
        detail = errors[0] if errors else (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise SetupError(f"{what} failed: {detail}", hint=f"see {self.logfile}")
