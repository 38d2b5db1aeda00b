"""Facts about Debian packaging: installed packages, APT sources, candidates, freshness of the lists, .deb files.

The parsers of the tools' output live in :mod:`paracrine.facts._apt_text`.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from paracrine.fact import fact
from paracrine.facts import _command
from paracrine.facts._apt_text import (
    _NAME_CHARS,
    DPKG_QUERY_FORMAT,
    INSTALLED_STATES,
    Candidate,
    DebFile,
    Package,
    Source,
    parse_apt_cache_policy,
    parse_apt_simulation,
    parse_deb822_sources,
    parse_deb_control,
    parse_dpkg_query,
    parse_residual,
    parse_sources_list,
    read_deb,
)

__all__ = [
    "DPKG_QUERY_FORMAT",
    "INSTALLED_STATES",
    "Candidate",
    "DebFile",
    "Package",
    "Source",
    "parse_apt_cache_policy",
    "parse_apt_simulation",
    "parse_deb822_sources",
    "parse_deb_control",
    "parse_dpkg_query",
    "parse_residual",
    "parse_sources_list",
    "read_deb",
]

DPKG_STATUS = "/var/lib/dpkg/status"
SOURCES_LIST = "/etc/apt/sources.list"
SOURCES_DIR = "/etc/apt/sources.list.d"
UPDATE_STAMP = "/var/lib/apt/periodic/update-success-stamp"
LISTS_DIR = "/var/lib/apt/lists"


def packages_fingerprint() -> list[int] | None:
    """Fingerprint for :func:`packages`: [st_mtime_ns, st_size, st_ino] of the dpkg status file."""
    try:
        st = os.stat(DPKG_STATUS)
    except FileNotFoundError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


@fact(fingerprint=packages_fingerprint, concurrent=True)
def packages() -> dict[str, Package]:
    """The installed Debian packages (from ``dpkg-query``).

    Returns:
        Package name -> {"version": "2.6.1", "arch": "amd64"}; only packages
        that are installed (not removed with config files left, not half
        installed). A second architecture of a multi-arch package is keyed
        "name:arch".

    Example:
        paracrine facts web1 apt.packages
    """
    out = _command.run(["dpkg-query", "-W", "-f", DPKG_QUERY_FORMAT])
    return parse_dpkg_query(out.stdout)


def _source_files() -> list[str]:
    """The files APT reads, in its order; names with other characters are ignored as APT does."""
    files = [SOURCES_LIST] if os.path.isfile(SOURCES_LIST) else []
    try:
        names = sorted(os.listdir(SOURCES_DIR))
    except FileNotFoundError:
        names = []
    for name in names:
        if name.endswith((".list", ".sources")) and set(name) <= _NAME_CHARS:
            path = os.path.join(SOURCES_DIR, name)
            if os.path.isfile(path):
                files.append(path)
    return files


@fact
def sources() -> list[Source]:
    """The APT sources from sources.list and sources.list.d (``*.list`` and ``*.sources``).

    Returns:
        A list of {"file", "type": "deb"|"deb-src", "uris", "suites",
        "components", "options": other settings as written, e.g.
        {"signed-by": "/usr/share/keyrings/debian-archive-keyring.gpg"},
        "enabled": False only for deb822 stanzas with "Enabled: no"}, in the
        order APT reads them.

    Example:
        paracrine facts web1 apt.sources
    """
    result: list[Source] = []
    for path in _source_files():
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        parse = parse_deb822_sources if path.endswith(".sources") else parse_sources_list
        result.extend(parse(text, path))
    return result


@fact
def last_update() -> float | None:
    """When the package lists were last refreshed (``apt-get update``), as an epoch time.

    Uses the mtime of /var/lib/apt/periodic/update-success-stamp when it exists
    (APT's periodic job and some hooks touch it); otherwise the newest mtime of
    /var/lib/apt/lists and the files in it. APT gives downloaded lists the
    server's Last-Modified time, so this may be earlier than the actual update.

    Returns:
        Seconds since the epoch, or None if APT has never fetched lists.

    Example:
        paracrine facts web1 apt.last_update
    """
    try:
        return os.stat(UPDATE_STAMP).st_mtime
    except FileNotFoundError:
        pass
    newest: float | None = None
    try:
        entries = os.scandir(LISTS_DIR)
    except FileNotFoundError:
        return None
    with entries:
        for entry in entries:
            if entry.name != "lock" and entry.is_file(follow_symlinks=False):
                mtime = entry.stat(follow_symlinks=False).st_mtime
                newest = mtime if newest is None else max(newest, mtime)
    if newest is None:
        return None
    return max(newest, os.stat(LISTS_DIR).st_mtime)


# ---------------------------------------------------------------- what apt would do

APT_CONFIG_DIR = "/etc/apt"
_CONFIG_NAMES = ("sources.list", "sources.list.d", "preferences", "preferences.d", "apt.conf.d")


def _stat_entry(path: str) -> list[int]:
    try:
        st = os.stat(path)
    except OSError:
        return []
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def _tree_stats(directory: str) -> list[list[Any]]:
    """[name, mtime_ns, size, inode] of ``directory`` and the entries in it (links followed)."""
    stats: list[list[Any]] = [[directory, *_stat_entry(directory)]]
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return stats
    return stats + [[name, *_stat_entry(os.path.join(directory, name))] for name in names]


def apt_state_fingerprint() -> list[Any]:
    """What apt's view of the packages depends on: the dpkg status, the package lists and apt's settings.

    A ``file:`` source's list entry is a link to the repository's index, so the
    entries are stat'ed through links: a repository that grows in place is seen.
    """
    state: list[Any] = [_stat_entry(DPKG_STATUS), _tree_stats(LISTS_DIR)]
    for name in _CONFIG_NAMES:
        path = os.path.join(APT_CONFIG_DIR, name)
        state.append(_tree_stats(path) if os.path.isdir(path) else [path, *_stat_entry(path)])
    return state


def _candidates_fingerprint(packages: list[str]) -> list[Any]:
    return apt_state_fingerprint()


@fact(fingerprint=_candidates_fingerprint, concurrent=True)
def candidates(packages: list[str]) -> dict[str, Candidate]:
    """The installed and candidate versions of packages (``apt-cache policy``).

    The candidate is the version ``apt-get install`` would install now, from
    the package lists as they are (no ``apt-get update``) and the pinning.

    Args:
        packages: package names (``name`` or ``name:arch``).

    Returns:
        Name -> {"installed": version or None, "candidate": version or None};
        a name apt does not know at all is absent.

    Example:
        paracrine facts web1 apt.candidates packages='["nginx", "curl"]'
    """
    names = [p for p in packages if p and not p.startswith("-")]
    if not names:
        return {}
    return parse_apt_cache_policy(_command.run(["apt-cache", "policy", *names]).stdout)


def _upgradable_fingerprint(dist: bool = False) -> list[Any]:
    return apt_state_fingerprint()


@fact(fingerprint=_upgradable_fingerprint, concurrent=True)
def upgradable(dist: bool = False) -> dict[str, str | None]:
    """What ``apt-get upgrade`` (or ``dist-upgrade``) would do now, simulated (``apt-get -s``).

    Args:
        dist: simulate ``dist-upgrade``, which may also install and remove packages.

    Returns:
        Package -> the version it would be upgraded (or newly installed) to, or
        None if it would be removed; {} when everything is up to date.

    Example:
        paracrine facts web1 apt.upgradable dist=true
    """
    command = "dist-upgrade" if dist else "upgrade"
    out = _command.run(["apt-get", "-s", "-o", "Debug::NoLocking=1", command])
    return parse_apt_simulation(out.stdout)


@fact(fingerprint=packages_fingerprint, concurrent=True)
def residual_configs() -> list[str]:
    """Packages that were removed but whose configuration files are still there (``apt-get purge`` clears them).

    Returns:
        Package names, sorted.

    Example:
        paracrine facts web1 apt.residual_configs
    """
    out = _command.run(["dpkg-query", "-W", "-f", DPKG_QUERY_FORMAT])
    return parse_residual(out.stdout)


# ---------------------------------------------------------------- freshness of the package lists


def _sources_paths() -> list[str]:
    return [SOURCES_LIST, SOURCES_DIR]


def _lists_stale(fact: Any) -> None:
    """A planned change to the APT sources makes the package lists stale (see :func:`update_age`)."""
    return None


def _newest_mtime(paths: list[str]) -> float | None:
    newest: float | None = None
    for path in paths:
        entries = [path]
        if os.path.isdir(path):
            with contextlib.suppress(OSError):
                entries += [os.path.join(path, name) for name in os.listdir(path)]
        for entry in entries:
            try:
                mtime = os.lstat(entry).st_mtime
            except OSError:
                continue
            newest = mtime if newest is None else max(newest, mtime)
    return newest


@fact(paths=_sources_paths, derive=_lists_stale)
def update_age() -> float | None:
    """Seconds since the package lists were refreshed, on the host's own clock; None when they are stale.

    The lists count as stale (None) when they were never fetched, or when an
    APT source (sources.list, a file in sources.list.d) changed after they
    were: a new repository is not installable before ``apt-get update``. A
    change to the sources planned earlier in the same run makes them stale too.

    Returns:
        Seconds (>= 0), or None.

    Example:
        paracrine facts web1 apt.update_age
    """
    import time

    updated = last_update()
    if updated is None:
        return None
    sources = _newest_mtime(_sources_paths())
    if sources is not None and sources > updated:
        return None
    return max(0.0, time.time() - updated)


# ---------------------------------------------------------------- .deb files


@fact(concurrent=True)
def deb_file(path: str) -> DebFile | None:
    """The package a ``.deb`` file on the host holds; None if there is no such file.

    Args:
        path: the .deb file.

    Returns:
        {"package", "version", "arch"} from its control data.

    Example:
        paracrine facts web1 apt.deb_file path=/tmp/app_1.0_all.deb
    """
    if not os.path.isfile(path):
        return None
    return read_deb(path)
