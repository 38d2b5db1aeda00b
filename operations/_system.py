"""Helpers of the system operations in :mod:`paracrine.operations.server`: argument types, editors, effects.

Pure controller-side functions: the argument types (converters checked when a
deploy calls an operation), the editors that turn a file's or a crontab's
lines into the wanted lines, parsers of authorized_keys lines, and the
predicted effects of the commands on the facts later operations read.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, NamedTuple

from paracrine.factkey import FactKey
from paracrine.facts import cron as cron_facts
from paracrine.facts import files as file_facts
from paracrine.facts import mount as mount_facts
from paracrine.facts import server as server_facts
from paracrine.facts import sysctl as sysctl_facts
from paracrine.operation import Changes
from paracrine.operations._text import with_line
from paracrine.operations.files import _ensure_file
from paracrine.predict import PATH_FACTS, Effect, fact_named
from paracrine.validate import Converter

# ---------------------------------------------------------------- files and argument checks


def lines_facts(path: str) -> list[tuple[Callable[..., Any], dict[str, Any]]]:
    """The requests for [path_info, sha256, lines] of a text file."""
    return [
        (file_facts.path_info, {"path": path}),
        (file_facts.sha256, {"path": path}),
        (file_facts.lines, {"path": path}),
    ]


def info_facts(path: str) -> list[tuple[Callable[..., Any], dict[str, Any]]]:
    """The requests for [path_info, sha256] of a file (what ``_ensure_file`` takes)."""
    return lines_facts(path)[:2]


def text_of(lines: list[str]) -> bytes:
    """File content of ``lines``: each ends with a newline (undecodable bytes kept as they were read)."""
    return "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")


def rewrite(path: str, facts: list[Any], new: list[str], mode: int | None = None) -> Changes:
    """Write ``new`` lines to ``path`` unless they are what is there; ``facts`` are [path_info, sha256, lines]."""
    info, digest, lines = facts
    if info is not None and lines == new:
        return
    yield from _ensure_file(path, path, [info, digest], text_of(new), (mode, None, None), False)


def replace_line(lines: list[str] | None, line: str, pattern: str) -> list[str]:
    """``lines`` with the first line matching ``pattern`` replaced by ``line`` (others removed), or it appended."""
    return with_line(lines or [], line, True, re.compile(pattern))


def one_line(what: str) -> Callable[[Any], Any]:
    """A converter refusing empty and multi-line strings (``what`` names the expected value)."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and (not value.strip() or "\n" in value or "\r" in value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def pattern(regex: str, what: str) -> Callable[[Any], Any]:
    """A converter refusing strings that ``regex`` does not match whole."""
    compiled = re.compile(regex)

    def check(value: Any) -> Any:
        if isinstance(value, str) and not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


# ---------------------------------------------------------------- crontab

#: The comment line naming a managed crontab entry (like Ansible's ``#Ansible: NAME``).
CRON_MARKER = "#Paracrine: "


def _cron_field(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return pattern(r"[0-9A-Za-z*/,-]+", "a cron time field (digits, names, '*', '/', ',' and '-')")(value)


def _cron_command(value: Any) -> Any:
    return one_line("a one-line command")(value.strip() if isinstance(value, str) else value)


def _cron_env(value: Any) -> Any:
    if isinstance(value, Mapping):
        for key, item in value.items():
            pattern(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name")(key)
            if isinstance(item, str) and ("\n" in item or "\r" in item):
                raise ValueError(f"the value of {key} is more than one line")
    return value


CronField = Annotated[str, Converter(_cron_field, "a cron time field such as '*/5' or 'mon-fri'")]
CronCommand = Annotated[str, Converter(_cron_command, "a one-line command")]


CronName = Annotated[str, Converter(pattern(r"\S(.*\S)?", "a one-line name"), "a one-line entry name")]
CronEnv = Annotated[dict[str, str], Converter(_cron_env, "environment variables")]


CronSpecial = Literal["@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]


class _CronSpan(NamedTuple):
    """Lines ``start:end`` of a crontab: a named block (marker, settings, job) or an unnamed job."""

    start: int
    end: int
    name: str | None
    command: str | None


def _cron_entry(line: str) -> Any:
    """The parsed entry of one crontab line, or None (comments, blank or malformed lines)."""
    try:
        entries = cron_facts.parse_crontab(line)
    except ValueError:
        return None
    return entries[0] if entries else None


def _cron_spans(lines: list[str]) -> list[_CronSpan]:
    spans: list[_CronSpan] = []
    index = 0
    while index < len(lines):
        text = lines[index].strip()
        if text.startswith(CRON_MARKER):
            end = index + 1
            while end < len(lines) and "name" in (_cron_entry(lines[end]) or {}):
                end += 1
            command = (_cron_entry(lines[end]) or {}).get("command") if end < len(lines) else None
            end += command is not None
            spans.append(_CronSpan(index, end, text[len(CRON_MARKER) :], command))
            index = end
            continue
        command = (_cron_entry(lines[index]) or {}).get("command")
        if command is not None:
            spans.append(_CronSpan(index, index + 1, None, command))
        index += 1
    return spans


def cron_table(lines: list[str], name: str | None, command: str, block: list[str] | None) -> list[str]:
    """``lines`` with the entry (by name, else by command) replaced by ``block`` (None: removed)."""
    mine = [s for s in _cron_spans(lines) if s.name == name and (name is not None or s.command == command)]
    result: list[str] = []
    position = 0
    for span in mine:
        result += lines[position : span.start]
        if block is not None and span is mine[0]:
            result += block
        position = span.end
    result += lines[position:]
    if block is not None and not mine:
        result += block
    return result


def env_line(key: str, value: str) -> str:
    plain = value == value.strip() and value[:1] not in ("'", '"')
    return f"{key}={value}" if plain else f'{key}="{value}"'


def cron_predicted(user: str, lines: list[str]) -> tuple[Effect, ...]:
    """The cron facts of ``user`` once ``lines`` are installed (the parsed one is unknown if a line is malformed)."""
    table = Effect.set(fact_named("cron.table", user=user), list(lines))
    try:
        entries = cron_facts.parse_crontab("".join(line + "\n" for line in lines))
    except ValueError:
        return (table, Effect.opaque(fact_named("cron.crontab", user=user)))
    return (table, Effect.set(fact_named("cron.crontab", user=user), entries))


# ---------------------------------------------------------------- sysctl


def _sysctl_key(value: Any) -> Any:
    if isinstance(value, str):
        if "=" in value or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not a sysctl key")
        sysctl_facts.key_to_path(value)  # ValueError for empty, "." or ".." components
    return value


def _sysctl_value(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list | tuple) and value and all(isinstance(v, int | str) for v in value):
        value = " ".join(str(v) for v in value)
    return one_line("a value (an int, a one-line string or a list of them)")(value)


SysctlKey = Annotated[str, Converter(_sysctl_key, "a sysctl key such as 'vm.swappiness'")]
SysctlValue = Annotated[str, Converter(_sysctl_value, "a value such as 1, '1' or [4096, 87380, 6291456]")]


def sysctl_predicted(key: str, value: str) -> tuple[Effect, ...]:
    printed = "\t".join(value.split())  # the kernel separates several numbers with tabs

    def in_values(fact: FactKey) -> bool:
        prefix = fact.args.get("prefix")
        return (
            fact.name == "sysctl.values"
            and isinstance(prefix, str)
            and (not prefix or key == prefix or key.startswith(prefix + "."))
        )

    def update(old: Any) -> Any:
        return {**old, key: printed} if isinstance(old, dict) else old

    return (Effect.set(fact_named("sysctl.value", key=key), printed), Effect.updating(in_values, update))


# ---------------------------------------------------------------- host name, time zone, locales

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


def _host_name(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 64:
        raise ValueError(f"{value!r} is longer than 64 characters, the kernel's limit")
    return pattern(rf"{_LABEL}(\.{_LABEL})*", "a host name (letters, digits and '-' in dot-separated labels)")(value)


HostName = Annotated[str, Converter(_host_name, "a host name such as 'web1' or 'web1.example.com'")]
ZONEINFO = "/usr/share/zoneinfo"


TimeZone = Annotated[
    str,
    Converter(pattern(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*", "a time zone name such as 'Europe/Berlin'"), "a zone"),
]
LOCALE_GEN = "/etc/locale.gen"


SUPPORTED_LOCALES = "/usr/share/i18n/SUPPORTED"
DEFAULT_LOCALE = "/etc/default/locale"


LocaleName = Annotated[
    str, Converter(pattern(r"[A-Za-z0-9_.@+-]+", "a locale name such as 'en_US.UTF-8'"), "a locale name")
]


def locale_entry(line: str, locale: str) -> str | None:
    """The locale of a locale.gen line (``# en_US.UTF-8 UTF-8`` too) if it is ``locale``, else None."""
    fields = line.lstrip("#").split()
    if len(fields) == 2 and server_facts.normalize_locale(fields[0]) == server_facts.normalize_locale(locale):
        return fields[0]
    return None


# ---------------------------------------------------------------- mounts

FSTAB = "/etc/fstab"
Device = Annotated[str, Converter(one_line("a device (a path, UUID=..., LABEL=..., host:/export, tmpfs)"), "a device")]


FsType = Annotated[str, Converter(pattern(r"[a-z0-9._+-]+", "a file system type such as 'ext4'"), "a type")]
MountOptions = Annotated[
    str, Converter(pattern(r"[^\s,]+(,[^\s,]+)*", "mount options such as 'defaults,noatime'"), "mount options")
]
#: Devices named by a tag: not comparable with the source the kernel lists.
DEVICE_TAGS = ("UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=", "/dev/disk/")


def fstab_lines(lines: list[str], path: str, wanted: mount_facts.FstabEntry | None) -> list[str]:
    """``lines`` with the entries for ``path`` replaced by ``wanted`` (None: removed); an equal one stays as written."""
    result: list[str] = []
    placed = False
    for line in lines:
        entry = mount_facts.parse_fstab_line(line)
        if entry is None or posixpath.normpath(entry["path"]) != path:
            result.append(line)
        elif wanted is not None and not placed:
            same = {**entry, "path": path} == wanted
            result.append(line if same else _fstab_line(wanted))
            placed = True
    if wanted is not None and not placed:
        result.append(_fstab_line(wanted))
    return result


def _fstab_line(entry: mount_facts.FstabEntry) -> str:
    fields = (mount_facts.escape(entry["device"]), mount_facts.escape(entry["path"]), entry["fstype"], entry["options"])
    return "\t".join([*fields, str(entry["dump"]), str(entry["passno"])])


def _below(path: str) -> Callable[[FactKey], bool]:
    """Matches the path facts of ``path`` and everything under it."""

    def match(key: FactKey) -> bool:
        other = key.args.get("path")
        return key.name in PATH_FACTS and isinstance(other, str) and (other == path or other.startswith(path + "/"))

    return match


def mount_effects(path: str, fstype: str, device: str) -> tuple[Effect, ...]:
    """A file system mounted at ``path``: listed, and what is at and under ``path`` unknown until it is gathered."""
    point = {"path": path, "fstype": fstype, "source": device, "options": None, "super_options": None, "root": None}
    listed = Effect.updating(fact_named("mount.points"), lambda old: [*(old or []), point])
    return (listed, Effect.opaque(_below(path)))


def umount_effects(path: str) -> tuple[Effect, ...]:
    """The file system on top at ``path`` unmounted: what was under it shows again (unknown)."""

    def update(old: Any) -> Any:
        points = list(old or [])
        tops = [i for i, p in enumerate(points) if posixpath.normpath(p["path"]) == path]
        return points[: tops[-1]] + points[tops[-1] + 1 :] if tops else points

    return (Effect.updating(fact_named("mount.points"), update), Effect.opaque(_below(path)))


# ---------------------------------------------------------------- kernel modules

ModuleName = Annotated[str, Converter(pattern(r"[A-Za-z0-9_-]+", "a kernel module name"), "a module name")]


def module_effect(name: str, loaded: bool) -> Effect:
    def update(old: Any) -> Any:
        if not isinstance(old, dict):
            return old
        new = {k: v for k, v in old.items() if k != name}
        if loaded:
            new[name] = {"size": None, "instances": None, "used_by": None, "state": None}
        return new

    return Effect.updating(fact_named("modules.loaded"), update)


# ---------------------------------------------------------------- authorized keys


class AuthorizedKey(NamedTuple):
    """One line of an authorized_keys file: options, key type, base64 blob, comment."""

    options: str
    kind: str
    blob: str
    comment: str


def _blob_type(blob: str) -> str | None:
    """The key type named inside a base64 SSH public key blob, or None if it is not one."""
    import base64
    import binascii

    try:
        data = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return None
    size = int.from_bytes(data[:4], "big")
    return data[4 : 4 + size].decode("ascii", "replace") if len(data) >= 4 + size else None


def _split_options(text: str) -> tuple[str, str]:
    """Split ``opt1,opt2="a b" rest`` at the first whitespace outside double quotes."""
    quoted = False
    for index, char in enumerate(text):
        if char == '"' and (index == 0 or text[index - 1] != "\\"):
            quoted = not quoted
        elif char.isspace() and not quoted:
            return text[:index], text[index:].strip()
    return text, ""


def parse_authorized_key(line: str) -> AuthorizedKey | None:
    """The parts of an authorized_keys line (sshd(8) format); None for comments, blank lines and non-keys."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    for options, rest in (("", text), _split_options(text)):
        fields = rest.split(None, 2)
        if len(fields) >= 2 and _blob_type(fields[1]) == fields[0]:
            return AuthorizedKey(options, fields[0], fields[1], fields[2] if len(fields) > 2 else "")
    return None


def _public_key(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()  # a .pub file's content ends with a newline
        one_line("a one-line SSH public key")(value)
        if parse_authorized_key(value) is None:
            raise ValueError(f"{value[:60]!r} is not an SSH public key ('[options] TYPE BASE64 [comment]')")
    return value


PublicKey = Annotated[str, Converter(_public_key, "an SSH public key line")]


def authorized_lines(lines: list[str], keys: list[str], exclusive: bool) -> list[str]:
    """``lines`` with each key once (same options), and with ``exclusive`` no other key; comments stay."""
    wanted: dict[tuple[str, str], tuple[AuthorizedKey, str]] = {}
    for text in keys:
        key = parse_authorized_key(text)
        assert key is not None  # checked by the argument type
        wanted.setdefault((key.kind, key.blob), (key, text))
    result: list[str] = []
    seen: set[tuple[str, str]] = set()
    for line in lines:
        key = parse_authorized_key(line)
        ident = (key.kind, key.blob) if key is not None else None
        if ident is not None and ident in wanted:
            if ident not in seen:
                seen.add(ident)
                result.append(line if key is not None and key.options == wanted[ident][0].options else wanted[ident][1])
        elif not exclusive or not line.strip() or line.lstrip().startswith("#"):
            result.append(line)
    result += [text for ident, (_key, text) in wanted.items() if ident not in seen]
    return result


# ---------------------------------------------------------------- sudoers

#: The command that checks a sudoers file before it is moved in place ("{}" is the new file).
VISUDO = ("visudo", "-cf", "{}")
# sudo skips files in /etc/sudoers.d whose names contain "." or end with "~".
SudoersName = Annotated[str, Converter(pattern(r"[A-Za-z0-9_-]+", "a sudoers.d file name"), "a file name")]
