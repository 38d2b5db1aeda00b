"""Parsers of the Debian packaging tools' output and files, for :mod:`paracrine.facts.apt`.

Pure functions on text (tested on captured outputs), plus reading the control
data of a ``.deb`` file. Not a fact domain. Standard library only.
"""

from __future__ import annotations

from typing import Any, TypedDict

from paracrine.facts import _command

SOURCES_LIST = "/etc/apt/sources.list"
SOURCES_DIR = "/etc/apt/sources.list.d"
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


class Candidate(TypedDict):
    """A package's installed and candidate versions, as ``apt-cache policy`` shows them."""

    installed: str | None
    candidate: str | None


def parse_apt_cache_policy(text: str) -> dict[str, Candidate]:
    """Parse ``apt-cache policy NAME...`` output (C locale).

    Args:
        text: the output: a ``name:`` line per known package, then indented
            ``Installed:``/``Candidate:`` lines and the version table.

    Returns:
        Package name (as printed: ``libc6:i386`` for another architecture) ->
        {"installed", "candidate"}; ``(none)`` is None. Packages apt does not
        know are not printed, so they are absent.
    """
    result: dict[str, Candidate] = {}
    current: Candidate | None = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = {"installed": None, "candidate": None}
            result[line[:-1]] = current
            continue
        field, sep, value = line.strip().partition(":")
        version = None if value.strip() in ("", "(none)") else value.strip()
        if current is None or not sep:
            continue
        if field == "Installed":
            current["installed"] = version
        elif field == "Candidate":
            current["candidate"] = version
    return result


def parse_apt_simulation(text: str) -> dict[str, str | None]:
    """Parse the actions of ``apt-get -s`` (a simulation) in the C locale.

    Args:
        text: the output, with lines like ``Inst pcdemo [1.0-1] (2.0-1 repo [all])``,
            ``Inst new (1.0 repo [all])``, ``Remv old [1.0]`` and ``Purg old [1.0]``.

    Returns:
        Package -> the version it will have (None: it will be removed).
    """
    result: dict[str, str | None] = {}
    for line in text.splitlines():
        action, _, rest = line.partition(" ")
        words = rest.split()
        if not words:
            continue
        if action == "Inst":
            new = rest[rest.find("(") + 1 :].split() if "(" in rest else []
            result[words[0]] = new[0] if new else None
        elif action in ("Remv", "Purg"):
            result[words[0]] = None
    return result


def parse_residual(text: str) -> list[str]:
    """Packages removed with their configuration files left (dpkg state ``rc``), from ``dpkg-query`` output.

    Args:
        text: ``dpkg-query -W -f`` output in :data:`DPKG_QUERY_FORMAT`.

    Returns:
        Their names, sorted.
    """
    names = set()
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[0][:2] == "rc":
            names.add(fields[1])
    return sorted(names)


class DebFile(TypedDict):
    """The identity of a ``.deb`` file, from its control data."""

    package: str
    version: str
    arch: str


def _ar_members(stream: Any) -> Any:
    """Yield (name, data) of the members of an ``ar`` archive (a .deb), reading each whole."""
    if stream.read(8) != b"!<arch>\n":
        raise ValueError(f"{stream.name} is not a Debian package (no ar archive header)")
    while True:
        header = stream.read(60)
        if len(header) < 60:
            return
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip() or 0)
        data = stream.read(size)
        if size % 2:
            stream.read(1)
        yield name, data


def _control_text(path: str) -> str:
    """The ``control`` file of the .deb at ``path`` (``dpkg-deb`` for compressions Python lacks)."""
    import io
    import tarfile

    with open(path, "rb") as stream:
        for name, data in _ar_members(stream):
            if not name.startswith("control.tar"):
                continue
            try:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                    for member in tar.getmembers():
                        if member.name in ("./control", "control") and member.isfile():
                            extracted = tar.extractfile(member)
                            return extracted.read().decode("utf-8", "replace") if extracted else ""
            except tarfile.ReadError:  # e.g. zstd before Python 3.14
                return _command.run(["dpkg-deb", "--field", path]).stdout
            break
    raise ValueError(f"{path} is not a Debian package (no control data)")


def parse_deb_control(text: str, file: str = "control") -> DebFile:
    """The package name, version and architecture from a .deb's ``control`` file.

    Raises:
        ValueError: a field is missing.
    """
    stanzas = _deb822_stanzas(text, file)
    fields = stanzas[0] if stanzas else {}
    try:
        return {"package": fields["package"], "version": fields["version"], "arch": fields["architecture"]}
    except KeyError as exc:
        raise ValueError(f"{file}: the control data has no {exc.args[0].title()} field") from None


def read_deb(path: str) -> DebFile:
    """The package name, version and architecture of the .deb file at ``path`` (here, not on a host).

    Raises:
        ValueError: it is not a Debian package.
        OSError: it cannot be read.
    """
    return parse_deb_control(_control_text(path), path)
