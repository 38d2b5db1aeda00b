"""Facts about the machine itself: names, OS, kernel, CPUs, memory, users and groups."""

from __future__ import annotations

import os
from typing import TypedDict

from paracrine.fact import fact
from paracrine.facts import _command


class Kernel(TypedDict):
    """The running kernel, as ``uname`` reports it."""

    name: str
    release: str
    version: str


class Memory(TypedDict):
    """Memory sizes in KiB, named as in /proc/meminfo (MemAvailable is None before Linux 3.14)."""

    MemTotal: int
    MemAvailable: int | None


class User(TypedDict):
    """One account from the user database (/etc/passwd or NSS)."""

    uid: int
    gid: int
    home: str
    shell: str
    comment: str
    group: str
    groups: list[str]


class Group(TypedDict):
    """One group from the group database (/etc/group or NSS)."""

    gid: int
    members: list[str]


OS_RELEASE_FILES = ("/etc/os-release", "/usr/lib/os-release")


@fact
def hostname() -> str:
    """The host's name, as the kernel knows it (``uname -n``).

    Returns:
        The node name, e.g. "web1".

    Example:
        paracrine facts web1 server.hostname
    """
    return os.uname().nodename


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release(5) text: ``KEY=value`` lines, shell-style quoting.

    Args:
        text: the file's contents.

    Returns:
        Every assignment, e.g. {"ID": "debian", "VERSION_ID": "12"}; comments,
        blank lines and lines that are not assignments are skipped.
    """
    result: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key.isidentifier():
            result[key] = _unquote(value.strip())
    return result


def _unquote(value: str) -> str:
    """Undo shell quoting of a single os-release value."""
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
        out: list[str] = []
        chars = iter(value)
        for char in chars:
            if char == "\\":
                nxt = next(chars, "")
                out.append(nxt if nxt in '$"\\`' else char + nxt)
            else:
                out.append(char)
        return "".join(out)
    return value


@fact
def os_release() -> dict[str, str] | None:
    """The operating system's identification from /etc/os-release.

    Returns:
        All its keys, e.g. {"ID": "debian", "VERSION_ID": "12",
        "VERSION_CODENAME": "bookworm", ...}; None if neither /etc/os-release
        nor /usr/lib/os-release exists.

    Example:
        paracrine facts web1 server.os_release
    """
    for path in OS_RELEASE_FILES:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return parse_os_release(f.read())
        except FileNotFoundError:
            continue
    return None


@fact
def kernel() -> Kernel:
    """The running kernel's name, release and build version.

    Returns:
        {"name": "Linux", "release": "6.1.0-18-amd64", "version": "#1 SMP ..."}.

    Example:
        paracrine facts web1 server.kernel
    """
    uname = os.uname()
    return {"name": uname.sysname, "release": uname.release, "version": uname.version}


@fact
def arch() -> str:
    """The machine's hardware architecture as ``uname -m`` prints it.

    Returns:
        e.g. "x86_64" or "aarch64" (kernel names, not Debian's "amd64").

    Example:
        paracrine facts web1 server.arch
    """
    return os.uname().machine


@fact
def cpus() -> int:
    """The number of CPUs in the system (``os.cpu_count()``, ignoring affinity limits).

    Returns:
        The CPU count, e.g. 4.

    Example:
        paracrine facts web1 server.cpus
    """
    count = os.cpu_count()
    if count is None:
        raise RuntimeError("cannot determine the number of CPUs")
    return count


def parse_meminfo(text: str) -> dict[str, int]:
    """Parse /proc/meminfo: ``Name:   1234 kB`` lines.

    Args:
        text: the file's contents.

    Returns:
        Every field as an int in KiB (fields without a unit, like
        HugePages_Total, as plain counts), e.g. {"MemTotal": 2030000, ...}.
    """
    result: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if sep and fields and fields[0].isdigit():
            result[name.strip()] = int(fields[0])
    return result


@fact
def memory() -> Memory:
    """Total and available memory from /proc/meminfo.

    Returns:
        {"MemTotal": KiB, "MemAvailable": KiB or None if the kernel lacks it}.

    Example:
        paracrine facts web1 server.memory
    """
    with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
        info = parse_meminfo(f.read())
    if "MemTotal" not in info:
        raise RuntimeError("/proc/meminfo has no MemTotal line")
    return {"MemTotal": info["MemTotal"], "MemAvailable": info.get("MemAvailable")}


@fact
def users() -> dict[str, User]:
    """Every user account with its primary and supplementary groups.

    Returns:
        User name -> {"uid", "gid", "home", "shell", "comment" (GECOS),
        "group" (primary group name, or str(gid) if it has none),
        "groups" (sorted names of the groups that list the user as a member)}.
        If a name occurs twice in the database, the first entry wins.

    Example:
        paracrine facts web1 server.users
    """
    import grp
    import pwd

    group_names: dict[int, str] = {}
    memberships: dict[str, set[str]] = {}
    for g in grp.getgrall():
        group_names.setdefault(g.gr_gid, g.gr_name)
        for member in g.gr_mem:
            memberships.setdefault(member, set()).add(g.gr_name)
    result: dict[str, User] = {}
    for p in pwd.getpwall():
        if p.pw_name in result:
            continue
        result[p.pw_name] = {
            "uid": p.pw_uid,
            "gid": p.pw_gid,
            "home": p.pw_dir,
            "shell": p.pw_shell,
            "comment": p.pw_gecos,
            "group": group_names.get(p.pw_gid, str(p.pw_gid)),
            "groups": sorted(memberships.get(p.pw_name, ())),
        }
    return result


@fact
def groups() -> dict[str, Group]:
    """Every group with its gid and explicit members.

    Returns:
        Group name -> {"gid": int, "members": sorted user names from the
        group's member list (users whose primary group it is are not added)}.

    Example:
        paracrine facts web1 server.groups
    """
    import grp

    result: dict[str, Group] = {}
    for g in grp.getgrall():
        if g.gr_name not in result:
            result[g.gr_name] = {"gid": g.gr_gid, "members": sorted(set(g.gr_mem))}
    return result


@fact
def which(command: str) -> str | None:
    """Where an executable is, searching the standard system PATH.

    Args:
        command: a command name like "nginx", or an absolute path to check.

    Returns:
        The absolute path of the first executable file named ``command`` in
        /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, or None.

    Example:
        paracrine facts web1 server.which command=nginx
    """
    if os.path.isabs(command):
        return command if os.path.isfile(command) and os.access(command, os.X_OK) else None
    if not command or "/" in command:
        raise ValueError(f"command must be a bare name or an absolute path, got {command!r}")
    return _command.which(command)


@fact(prefetch=False, cache=False)
def command_status(argv: list[str]) -> int:
    """The exit status of running a command on the host (for guards such as ``unless=``).

    Args:
        argv: the command and its arguments, run without a shell (pass
            ``["sh", "-c", "..."]`` for a shell command); stdin is empty and
            the output is discarded.

    Returns:
        The exit status (0 = success); 127 if the command does not exist.

    Example:
        paracrine facts web1 server.command_status argv='["test", "-e", "/etc/nginx"]'
    """
    import subprocess

    if not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError(f"argv must be a non-empty list of strings, got {argv!r}")
    env = dict(os.environ)
    env["PATH"] = _command.STANDARD_PATH
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=_command.TIMEOUT)
    except FileNotFoundError:
        return 127
    return proc.returncode


def normalize_locale(name: str) -> str:
    """A locale name as glibc lists it: the codeset lowercased, without punctuation.

    Args:
        name: e.g. "en_US.UTF-8" or "de_DE.ISO-8859-15@euro".

    Returns:
        e.g. "en_US.utf8" or "de_DE.iso885915@euro" (what ``locale -a`` prints).
    """
    base, at, modifier = name.partition("@")
    language, dot, codeset = base.partition(".")
    if dot:
        codeset = "".join(c for c in codeset.lower() if c.isalnum())
    return language + dot + codeset + at + modifier


@fact(concurrent=True)
def locales() -> list[str]:
    """The locales available on the host (``locale -a``).

    Returns:
        Sorted names as glibc lists them, e.g. ["C", "C.utf8", "POSIX",
        "en_US.utf8"] (codesets are normalised: "UTF-8" is listed as "utf8").

    Example:
        paracrine facts web1 server.locales
    """
    out = _command.run(["locale", "-a"])
    return sorted({line.strip() for line in out.stdout.splitlines() if line.strip()})
