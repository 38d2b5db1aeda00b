"""Facts about mounted file systems (from /proc/self/mountinfo), and the fstab format.

The mount table is the one of the process's own mount namespace, with mount
points as its root directory sees them. ``/etc/fstab`` is read as a file
(``files.lines``) by ``server.mount``; :func:`parse_fstab_line` splits its lines.
"""

from __future__ import annotations

from typing import TypedDict

from paracrine.fact import fact

MOUNTINFO = "/proc/self/mountinfo"


class MountPoint(TypedDict):
    """One mounted file system, as /proc/self/mountinfo describes it."""

    path: str
    fstype: str
    source: str
    options: list[str]
    super_options: list[str]
    root: str


class FstabEntry(TypedDict):
    """The fields of one /etc/fstab line (spaces in them unescaped)."""

    device: str
    path: str
    fstype: str
    options: str
    dump: int
    passno: int


def unescape(field: str) -> str:
    r"""Undo the octal escapes of mountinfo and fstab fields (``\040`` is a space, ``\134`` a backslash)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        chunk = field[i + 1 : i + 4]
        if field[i] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def escape(field: str) -> str:
    r"""Escape a field for /etc/fstab: space, tab, newline and backslash as octal (``\040``)."""
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in field)


def parse_mountinfo(text: str) -> list[MountPoint]:
    """Parse /proc/self/mountinfo (proc(5)).

    Args:
        text: the file's contents.

    Returns:
        One entry per line, in mount order (a later mount on the same path
        hides the earlier ones): {"path", "fstype", "source" (the device, or
        e.g. "tmpfs"), "options" (per-mount options, e.g. ["rw", "relatime"]),
        "super_options" (the file system's, e.g. ["rw", "size=1024k"]), "root"
        (the mounted directory inside the file system)}.

    Raises:
        ValueError: a line lacks the " - " separator or fields (with its number).
    """
    points: list[MountPoint] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split(" ")
        try:
            dash = fields.index("-", 6)
            fstype, source, super_options = fields[dash + 1 : dash + 4]
        except ValueError:
            raise ValueError(
                f"mountinfo line {number}: not 'ID PARENT DEV ROOT PATH OPTIONS ... - TYPE SOURCE OPTIONS'"
            ) from None
        points.append(
            {
                "path": unescape(fields[4]),
                "fstype": fstype,
                "source": unescape(source),
                "options": fields[5].split(","),
                "super_options": super_options.split(","),
                "root": unescape(fields[3]),
            }
        )
    return points


def parse_fstab_line(line: str) -> FstabEntry | None:
    """The fields of one /etc/fstab line (fstab(5)); None for comments, blank and malformed lines.

    Args:
        line: one line, without its newline.

    Returns:
        {"device", "path", "fstype", "options", "dump", "passno"}, the last
        three defaulting to "defaults", 0 and 0 when the line omits them.
    """
    fields = line.split()
    if len(fields) < 3 or fields[0].startswith("#"):
        return None
    numbers = [int(f) if f.isdigit() else 0 for f in fields[4:6]] + [0, 0]
    return {
        "device": unescape(fields[0]),
        "path": unescape(fields[1]),
        "fstype": fields[2],
        "options": fields[3] if len(fields) > 3 else "defaults",
        "dump": numbers[0],
        "passno": numbers[1],
    }


@fact
def points() -> list[MountPoint]:
    """The file systems mounted in the host's mount namespace (/proc/self/mountinfo).

    Returns:
        In mount order: {"path", "fstype", "source", "options", "super_options",
        "root"} as :func:`parse_mountinfo` gives them; [] without /proc.

    Example:
        paracrine facts web1 mount.points
    """
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="replace") as f:
            return parse_mountinfo(f.read())
    except FileNotFoundError:
        return []
