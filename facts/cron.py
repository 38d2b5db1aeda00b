"""Facts about cron: a user's crontab, entry by entry."""

from __future__ import annotations

from typing import TypedDict, Union

from paracrine.fact import fact
from paracrine.facts import _command

SPECIALS = frozenset(("@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"))


class CronJob(TypedDict):
    """A timed job: the five time fields as written, then the command."""

    minute: str
    hour: str
    day: str
    month: str
    weekday: str
    command: str


class CronSpecial(TypedDict):
    """A job with a special schedule such as ``@reboot`` or ``@daily``."""

    special: str
    command: str


class CronEnv(TypedDict):
    """An environment setting such as ``MAILTO=ops@example.com``."""

    name: str
    value: str


# Union, not "|": a runtime alias, and targets may run Python older than 3.10.
CronEntry = Union[CronJob, CronSpecial, CronEnv]  # noqa: UP007


def _env_assignment(line: str) -> CronEnv | None:
    """``NAME = value`` (spaces and quotes allowed, as cron(8) reads it), else None."""
    name, sep, value = line.partition("=")
    name = name.strip()
    if not sep or not name or not (name[0].isalpha() or name[0] == "_"):
        return None
    if not all(c.isalnum() or c == "_" for c in name):
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return {"name": name, "value": value}


def parse_crontab(text: str) -> list[CronEntry]:
    """Parse a user crontab as ``crontab -l`` prints it (no user column).

    Args:
        text: the crontab.

    Returns:
        In file order: {"minute", "hour", "day", "month", "weekday",
        "command"} for timed jobs (fields as written, e.g. "*/5", "mon-fri";
        the command keeps "%" and any "#" in it), {"special": "@reboot",
        "command"} for special schedules, and {"name", "value"} for
        environment settings (quotes removed). Comments and blank lines are
        skipped.

    Raises:
        ValueError: a line is none of these (with its line number).
    """
    entries: list[CronEntry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            special, _, command = line.replace("\t", " ").partition(" ")
            command = command.strip()
            if special not in SPECIALS or not command:
                raise ValueError(f"crontab line {number}: unknown schedule or no command: {raw!r}")
            entries.append({"special": special, "command": command})
            continue
        env = _env_assignment(line)
        if env is not None:
            entries.append(env)
            continue
        fields = line.split(None, 5)
        if len(fields) < 6:
            raise ValueError(f"crontab line {number}: expected 5 time fields and a command: {raw!r}")
        minute, hour, day, month, weekday, command = fields
        entries.append(
            {
                "minute": minute,
                "hour": hour,
                "day": day,
                "month": month,
                "weekday": weekday,
                "command": command.strip(),
            }
        )
    return entries


def _listed(user: str) -> str | None:
    """``crontab -l -u USER``: the table's text ("" without one), None if the user does not exist."""
    import pwd

    if not user or user.startswith("-"):
        raise ValueError(f"not a user name: {user!r}")
    try:
        pwd.getpwnam(user)
    except KeyError:
        return None
    out = _command.run(["crontab", "-l", "-u", user], ok=None)
    if out.returncode == 0:
        return out.stdout
    if out.stderr.strip().startswith("no crontab for"):
        return ""
    raise RuntimeError(
        f"crontab -l -u {user} failed with exit code {out.returncode}: {out.stderr.strip() or 'no output'}"
    )


@fact(cache=False, concurrent=True)
def crontab(user: str = "root") -> list[CronEntry]:
    """A user's crontab (``crontab -l -u USER``), parsed into entries.

    Args:
        user: the account whose crontab to read.

    Returns:
        The entries as :func:`parse_crontab` gives them: timed jobs
        {"minute", "hour", "day", "month", "weekday", "command"}, special
        jobs {"special": "@reboot", "command"} and environment settings
        {"name", "value"}; [] if the user has no crontab.

    Raises:
        FileNotFoundError: crontab is not installed (Debian package cron).
        RuntimeError: the user does not exist, or crontab failed otherwise.

    Example:
        paracrine facts web1 cron.crontab user=www-data
    """
    text = _listed(user)
    if text is None:
        raise RuntimeError(f"crontab -l -u {user} failed: user {user} does not exist")
    return parse_crontab(text)


@fact(cache=False, concurrent=True)
def table(user: str = "root") -> list[str] | None:
    """The lines of a user's crontab as ``crontab -l -u USER`` prints them, comments included.

    What ``server.crontab`` edits: it keeps every line it does not manage as it is.

    Args:
        user: the account whose crontab to read.

    Returns:
        The lines, without newlines ([] if the user has no crontab); None if
        the user does not exist.

    Raises:
        FileNotFoundError: crontab is not installed (Debian package cron).
        RuntimeError: crontab failed for another reason.

    Example:
        paracrine facts web1 cron.table user=www-data
    """
    text = _listed(user)
    return None if text is None else text.splitlines()
