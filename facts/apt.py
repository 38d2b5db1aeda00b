"""Facts about Debian packaging: installed packages, APT sources, last ``apt-get update``."""

from __future__ import annotations

import os
from typing import TypedDict

from paracrine.fact import fact
from paracrine.facts import _command

DPKG_STATUS = "/var/lib/dpkg/status"
SOURCES_LIST = "/etc/apt/sources.list"
SOURCES_DIR = "/etc/apt/sources.list.d"
UPDATE_STAMP = "/var/lib/apt/periodic/update-success-stamp"
LISTS_DIR = "/var/lib/apt/lists"

DPKG_QUERY_FORMAT = "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"

INSTALLED_STATES = frozenset("iWt")
"""dpkg status letters (2nd of Status-Abbrev) that count as installed: Installed,
triggers-aWaited, triggers-pending. Unpacked, half-configured, half-installed,
config-files and not-installed do not."""

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class Package(TypedDict):
    """An installed package's version and architecture."""

    version: str
    arch: str


class Source(TypedDict):
    """One APT source: one type, as in a sources.list line or a deb822 stanza."""

    file: str
    type: str
    uris: list[str]
    suites: list[str]
    components: list[str]
    options: dict[str, str]
    enabled: bool


def parse_dpkg_query(text: str) -> dict[str, Package]:
    """Parse ``dpkg-query -W -f`` output in :data:`DPKG_QUERY_FORMAT`.

    Args:
        text: tab-separated lines: status abbreviation, package, version, arch.

    Returns:
        Package name -> {"version", "arch"} for installed packages only. When
        a package is installed for several architectures (multi-arch), the
        first listed keeps the plain name and the others are keyed "name:arch".
    """
    result: dict[str, Package] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 4 or len(fields[0]) < 2 or fields[0][1] not in INSTALLED_STATES:
            continue
        _, name, version, arch = fields
        key = name if name not in result else f"{name}:{arch}"
        result[key] = {"version": version, "arch": arch}
    return result


def packages_fingerprint() -> list[int] | None:
    """Fingerprint for :func:`packages`: [st_mtime_ns, st_size, st_ino] of the dpkg status file."""
    try:
        st = os.stat(DPKG_STATUS)
    except FileNotFoundError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


@fact(fingerprint=packages_fingerprint)
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


def _split_options(text: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in text.split():
        key, _, value = item.partition("=")
        options[key] = value
    return options


def parse_sources_list(text: str, file: str = SOURCES_LIST) -> list[Source]:
    """Parse the one-line format of sources.list(5).

    Args:
        text: the file's contents: ``deb [opt=value ...] URI suite [component ...]``.
        file: the path to record in each entry.

    Returns:
        One :class:`Source` per line; comments (from "#" to the end of the
        line) and blank lines are skipped. ``options`` holds the bracketed
        options as written (e.g. {"arch": "amd64", "signed-by": "/usr/share/keyrings/x.gpg"}).

    Raises:
        ValueError: a line that is neither blank nor a comment is malformed.
    """
    result: list[Source] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        kind, _, rest = line.replace("\t", " ").partition(" ")
        rest = rest.strip()
        options: dict[str, str] = {}
        if rest.startswith("["):
            close = rest.find("]")
            if close < 0:
                raise ValueError(f"{file}:{number}: unterminated [options]: {raw!r}")
            options = _split_options(rest[1:close])
            rest = rest[close + 1 :].strip()
        uri, rest = _take_uri(rest)
        words = rest.split()
        if kind not in ("deb", "deb-src") or not uri or not words:
            raise ValueError(f"{file}:{number}: not a 'deb[-src] URI suite [components]' line: {raw!r}")
        result.append(_source(file, kind, [uri], words[:1], words[1:], options, True))
    return result


def _take_uri(text: str) -> tuple[str, str]:
    """Split off the URI, allowing ``cdrom:[Label with spaces]/``."""
    if text.startswith("cdrom:["):
        close = text.find("]")
        end = text.find(" ", close) if close >= 0 else -1
    else:
        end = text.find(" ")
    if end < 0:
        return text, ""
    return text[:end], text[end + 1 :]


def _source(
    file: str,
    kind: str,
    uris: list[str],
    suites: list[str],
    components: list[str],
    options: dict[str, str],
    enabled: bool,
) -> Source:
    return {
        "file": file,
        "type": kind,
        "uris": uris,
        "suites": suites,
        "components": components,
        "options": options,
        "enabled": enabled,
    }


def _deb822_stanzas(text: str, file: str) -> list[dict[str, str]]:
    """Split deb822 text into stanzas of lowercased field name -> value.

    Continuation lines (starting with a space or tab) are joined with "\\n";
    a continuation line of a single "." stands for an empty line.
    """
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    field = ""
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, field = {}, ""
        elif raw[0] in " \t" and field:
            line = raw.strip()
            current[field] += "\n" + ("" if line == "." else line)
        else:
            name, sep, value = raw.partition(":")
            if not sep:
                raise ValueError(f"{file}:{number}: not a 'Field: value' line: {raw!r}")
            field = name.strip().lower()
            current[field] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def parse_deb822_sources(text: str, file: str = SOURCES_DIR + "/debian.sources") -> list[Source]:
    """Parse the deb822 format of sources.list(5) (``*.sources`` files).

    Args:
        text: the file's contents: stanzas of Types/URIs/Suites/Components fields.
        file: the path to record in each entry.

    Returns:
        One :class:`Source` per stanza and type (a stanza with
        "Types: deb deb-src" gives two). ``options`` holds every other field
        with its name lowercased (e.g. "signed-by", "architectures"); a stanza
        with "Enabled: no" is reported with ``enabled`` False.
    """
    result: list[Source] = []
    for stanza in _deb822_stanzas(text, file):
        fields = dict(stanza)
        types = fields.pop("types", "").split()
        uris = fields.pop("uris", "").split()
        suites = fields.pop("suites", "").split()
        components = fields.pop("components", "").split()
        if not types or not uris or not suites:
            raise ValueError(f"{file}: a stanza lacks Types, URIs or Suites: {stanza}")
        enabled = fields.pop("enabled", "yes").strip().lower() not in ("no", "false", "0")
        for kind in types:
            result.append(_source(file, kind, list(uris), list(suites), list(components), dict(fields), enabled))
    return result


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
