"""Operations on the machine itself (mirrors ``paracrine.facts.server`` and its neighbours).

* shell commands, groups and users: changed with the shadow tools
  (``groupadd``/``useradd`` and friends), given only the settings that differ;
* the system's settings: crontab entries, kernel parameters, host name, time
  zone, locales, mounts, kernel modules, SSH authorized keys and sudoers files.

Files are edited line by line, keeping what the operation does not manage, and
written atomically (never through a link). The effects of the commands on the
facts (``server.users``, ``cron.table``, ``sysctl.value``, ``mount.points``, ...)
are predicted, so later operations plan against the host as it will be. Argument
types, line editors and effects of the system operations are in
:mod:`paracrine.operations._system`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from paracrine.changes import MakeDirectory, MakeLink, RemovePath, RunCommand, WriteFile
from paracrine.errors import FactError, PlanError, did_you_mean
from paracrine.facts import apt as apt_facts
from paracrine.facts import cron as cron_facts
from paracrine.facts import files as file_facts
from paracrine.facts import modules as module_facts
from paracrine.facts import mount as mount_facts
from paracrine.facts import server as server_facts
from paracrine.facts import sysctl as sysctl_facts
from paracrine.gather import make_key
from paracrine.operation import Changes, operation
from paracrine.operations._system import (
    CRON_MARKER,
    DEFAULT_LOCALE,
    DEVICE_TAGS,
    FSTAB,
    LOCALE_GEN,
    SUPPORTED_LOCALES,
    VISUDO,
    ZONEINFO,
    CronCommand,
    CronEnv,
    CronField,
    CronName,
    CronSpecial,
    Device,
    FsType,
    HostName,
    LocaleName,
    ModuleName,
    MountOptions,
    PublicKey,
    SudoersName,
    SysctlKey,
    SysctlValue,
    TimeZone,
    authorized_lines,
    cron_predicted,
    cron_table,
    env_line,
    fstab_lines,
    info_facts,
    lines_facts,
    locale_entry,
    module_effect,
    mount_effects,
    replace_line,
    rewrite,
    sysctl_predicted,
    text_of,
    umount_effects,
)
from paracrine.operations.files import _attributes, _ensure_file, _exists, _file_facts
from paracrine.plan import OpContext
from paracrine.predict import Effect, FactMissing, Unpredictable, fact_named, path_effects
from paracrine.validate import AbsPath, Converter

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?")


def _account_name(value: Any) -> Any:
    if isinstance(value, str) and (not _NAME.fullmatch(value) or len(value) > 32 or value.isdigit()):
        raise ValueError(f"{value!r} is not a valid user or group name")
    return value


def _account_names(value: Any) -> Any:
    if isinstance(value, list | tuple):
        for name in value:
            _account_name(name)
    return value


def _command(value: Any) -> Any:
    if isinstance(value, list | tuple) and not value:
        raise ValueError("the command's argument list is empty")
    if isinstance(value, str) and not value.strip():
        raise ValueError("the command is empty")
    return value


#: A user or group name: letters, digits, "_", "." and "-" (not first), at most 32 characters.
Name = Annotated[str, Converter(_account_name, "a user or group name")]
#: A list of user or group names.
Names = Annotated[list[str], Converter(_account_names, "a list of group names")]
#: A shell command line (run with ``sh -c``) or an argument list (run without a shell).
Command = Annotated[str | list[str], Converter(_command, "a command (a string or an argument list)")]


def _argv(command: str | list[str]) -> tuple[str, ...]:
    return ("sh", "-c", command) if isinstance(command, str) else tuple(command)


@operation
def shell(
    ctx: OpContext,
    command: Command,
    *,
    creates: AbsPath | None = None,
    removes: AbsPath | None = None,
    unless: Command | None = None,
    onlyif: Command | None = None,
    cwd: AbsPath | None = None,
    env: Mapping[str, str] | None = None,
) -> Changes:
    """Run a command, unless a guard says the host is already right.

    A string runs with ``sh -c``; a list runs without a shell. Without guards
    the command runs on every run. Guard commands run without a shell when
    given as lists, in no particular directory, with the standard PATH. What a
    command changes cannot be predicted: facts read after it are refreshed.

    Args:
        command: a shell command line or an argument list.
        creates: skip when this path exists (the command creates it).
        removes: skip when this path does not exist (the command removes it).
        unless: skip when this command exits 0.
        onlyif: skip when this command exits non-zero.
        cwd: the directory to run the command in.
        env: environment variables to add.

    Example:
        server.shell("tar -xzf /tmp/app.tgz -C /srv/app", creates="/srv/app/bin/app")
    """
    guards: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {}
    if creates is not None:
        guards["creates"] = (file_facts.path_info, {"path": creates})
    if removes is not None:
        guards["removes"] = (file_facts.path_info, {"path": removes})
    if unless is not None:
        guards["unless"] = (server_facts.command_status, {"argv": list(_argv(unless))})
    if onlyif is not None:
        guards["onlyif"] = (server_facts.command_status, {"argv": list(_argv(onlyif))})
    found = dict(zip(guards, ctx.facts(*guards.values()), strict=True))
    if (
        found.get("creates") is not None
        or ("removes" in found and found["removes"] is None)
        or found.get("unless") == 0
        or found.get("onlyif", 0) != 0
    ):
        return
    yield RunCommand(_argv(command), env=dict(env) if env else None, cwd=cwd)


# ---------------------------------------------------------------- predicted effects


def _updating(fact: str, change: Callable[[dict[str, Any]], None]) -> Effect:
    """An effect on a dict-valued fact: ``change`` edits a copy of the previous value."""

    def update(old: Any) -> Any:
        new: dict[str, Any] = copy.deepcopy(old) if isinstance(old, dict) else {}
        change(new)
        return new

    return Effect.updating(fact_named(fact), update)


def _memberships(user: str, groups: list[str]) -> Effect:
    """``user`` is a member of exactly ``groups`` in the server.groups fact."""

    def change(all_groups: dict[str, Any]) -> None:
        for name, entry in all_groups.items():
            members = set(entry["members"]) - {user}
            entry["members"] = sorted(members | {user} if name in groups else members)

    return _updating("server.groups", change)


# ---------------------------------------------------------------- groups


def _group_provides(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("group", args["group"])] if args["present"] else []


@operation(provides=_group_provides)
def group(
    ctx: OpContext, group: Name, *, present: bool = True, gid: int | None = None, system: bool = False
) -> Changes:
    """Ensure a group exists (with a given gid), or does not exist.

    Operations on users and files that name the group run after this one.

    Args:
        group: the group's name.
        present: False to remove the group.
        gid: the numeric group id (default: the next free one; changed if it differs).
        system: create a system group (only when the group is created).

    Example:
        server.group("app", gid=950, system=True)
    """
    (groups,) = ctx.facts((server_facts.groups, {}))
    current = groups.get(group)
    if not present:
        if current is not None:
            yield RunCommand(("groupdel", group), predicted=_group_removed(group))
        return
    if current is None:
        argv = ["groupadd", *(["--gid", str(gid)] if gid is not None else []), *(["--system"] if system else [])]
        added = _updating("server.groups", lambda new: new.__setitem__(group, {"gid": gid, "members": []}))
        yield RunCommand((*argv, group), predicted=(added,))
    elif gid is not None and current["gid"] != gid:
        changed = _updating("server.groups", lambda new: new[group].__setitem__("gid", gid))
        yield RunCommand(("groupmod", "--gid", str(gid), group), predicted=(changed,))


def _group_removed(group: str) -> tuple[Effect, ...]:
    def from_users(users: dict[str, Any]) -> None:
        for entry in users.values():
            entry["groups"] = [g for g in entry["groups"] if g != group]

    return (
        _updating("server.groups", lambda new: new.pop(group, None)),
        _updating("server.users", from_users),
    )


# ---------------------------------------------------------------- users


def _user_provides(args: dict[str, Any]) -> list[tuple[str, str]]:
    if not args["present"]:
        return []
    home = args["home"]
    return [("user", args["user"]), *([("dir", home)] if home else [])]


def _check_groups(wanted: list[str], groups: Mapping[str, Any]) -> None:
    """PlanError if a group the user should be in does not exist (in the predicted state)."""
    missing = [g for g in wanted if g not in groups]
    if not missing:
        return
    names = ", ".join(repr(g) for g in missing)
    message = f"group {names} does not exist" if len(missing) == 1 else f"groups {names} do not exist"
    it = "it" if len(missing) == 1 else "them"
    hint = did_you_mean(missing[0], groups) or f"create {it} with server.group(...) or fix the name"
    raise PlanError(message, hint=hint)


USERMOD_OPTIONS = (
    ("uid", "--uid"),
    ("group", "--gid"),
    ("groups", "--groups"),
    ("home", "--home"),
    ("shell", "--shell"),
    ("comment", "--comment"),
)


def _user_differences(
    current: Mapping[str, Any], settings: dict[str, Any], home_option: str = "--home"
) -> tuple[list[str], dict[str, Any]]:
    """usermod flags (useradd's with ``home_option="--home-dir"``) and fact fields for the settings that differ.

    A setting of None is not managed.
    """
    flags: list[str] = []
    fields: dict[str, Any] = {}
    for key, option in USERMOD_OPTIONS:
        wanted = settings[key]
        if wanted is None or current[key] == wanted:
            continue
        fields[key] = wanted
        flags += [home_option if key == "home" else option, ",".join(wanted) if key == "groups" else str(wanted)]
    return flags, fields


@operation(provides=_user_provides)
def user(
    ctx: OpContext,
    user: Name,
    *,
    present: bool = True,
    uid: int | None = None,
    group: Name | None = None,
    groups: Names | None = None,
    home: AbsPath | None = None,
    shell: str | None = None,
    create_home: bool = True,
    system: bool = False,
    comment: str | None = None,
) -> Changes:
    """Ensure a user account exists with the given settings, or does not exist.

    Only settings that are given are managed; a new user without ``group``
    gets a group of its own name. The groups must exist: a missing one fails
    planning (create it with ``server.group`` in the same deploy).

    Args:
        user: the user's name.
        present: False to remove the account (its home directory stays).
        uid: the numeric user id.
        group: the primary group.
        groups: the supplementary groups, exactly (others are left).
        home: the home directory.
        shell: the login shell.
        create_home: create the home directory when the user is created.
        system: create a system account (only when the user is created).
        comment: the GECOS field (full name).

    Example:
        server.user("app", group="app", groups=["www-data"], home="/srv/app", shell="/usr/sbin/nologin")
    """
    if not present:
        (users,) = ctx.facts((server_facts.users, {}))
        if user in users:
            # userdel may also delete the user's own group: server.groups is not predicted.
            gone = _updating("server.users", lambda new: new.pop(user, None))
            yield RunCommand(("userdel", user), predicted=(gone, Effect.opaque(fact_named("server.groups"))))
        return
    users, all_groups = ctx.facts((server_facts.users, {}), (server_facts.groups, {}))
    _check_groups([*([group] if group else []), *(groups or [])], all_groups)
    wanted_groups = sorted(set(groups)) if groups is not None else None
    settings = {"uid": uid, "group": group, "groups": wanted_groups, "home": home, "shell": shell, "comment": comment}
    current = users.get(user)
    if current is None:
        yield _useradd(user, settings, all_groups, create_home, system)
        return
    flags, fields = _user_differences(current, settings)
    if not flags:
        return
    if group is not None and "group" in fields:
        fields["gid"] = all_groups[group]["gid"]
    effects = [_updating("server.users", lambda new: new[user].update(copy.deepcopy(fields)))]
    if wanted_groups is not None:
        effects.append(_memberships(user, wanted_groups))
    yield RunCommand(("usermod", *flags, user), predicted=tuple(effects))


def _useradd(
    user: str, settings: dict[str, Any], all_groups: Mapping[str, Any], create_home: bool, system: bool
) -> RunCommand:
    """The useradd command creating ``user`` with ``settings``, and its predicted effects."""
    group = settings["group"]
    own_group = group is None and user not in all_groups  # useradd --user-group creates it
    primary = group or user
    given = {**settings, "groups": settings["groups"] or None}  # no --groups for none
    flags, _ = _user_differences(dict.fromkeys(settings), given, home_option="--home-dir")
    if group is None:
        flags += ["--user-group"] if own_group else ["--gid", user]
    flags += ["--create-home"] if create_home else ["--no-create-home"]
    flags += ["--system"] if system else []
    entry = {
        "uid": settings["uid"],
        "gid": None if own_group else all_groups[primary]["gid"],
        "home": settings["home"],
        "shell": settings["shell"],
        "comment": settings["comment"] or "",
        "group": primary,
        "groups": settings["groups"] or [],
    }
    effects = [_updating("server.users", lambda new: new.__setitem__(user, copy.deepcopy(entry)))]
    if own_group:
        effects.append(_updating("server.groups", lambda new: new.__setitem__(user, {"gid": None, "members": []})))
    if settings["groups"]:
        effects.append(_memberships(user, settings["groups"]))
    if create_home and settings["home"]:
        effects += path_effects.directory(settings["home"], None, user, primary)
        # the new home's mode comes from the host's login.defs: unknown
        unknown_mode = Effect.updating(fact_named("files.path_info", path=settings["home"]), _without_mode)
        effects.append(unknown_mode)
    return RunCommand(("useradd", *flags, user), predicted=tuple(effects))


def _without_mode(info: Any) -> Any:
    return {**info, "mode": None} if isinstance(info, dict) else info


# ---------------------------------------------------------------- shared by the system operations


def _await_package(ctx: OpContext, package: str) -> None:
    """Defer planning when an earlier ``apt.packages`` of this run installs ``package``.

    What a package installs (/etc/locale.gen, /usr/share/zoneinfo, modprobe)
    is only known once it is installed: the engine plans this operation again
    with fresh facts after the install ran, instead of failing now.
    """
    (installed,) = ctx.facts((apt_facts.packages, {}))
    entry = installed.get(package) if isinstance(installed, dict) else None
    if isinstance(entry, dict) and entry.get("version") is None:  # predicted, not installed yet
        raise Unpredictable(make_key(apt_facts.packages, {}))


# ---------------------------------------------------------------- crontab


@operation
def crontab(
    ctx: OpContext,
    command: CronCommand,
    *,
    name: CronName | None = None,
    user: Name = "root",
    minute: CronField = "*",
    hour: CronField = "*",
    day_of_month: CronField = "*",
    month: CronField = "*",
    day_of_week: CronField = "*",
    special: CronSpecial | None = None,
    env: CronEnv | None = None,
    present: bool = True,
) -> Changes:
    """Ensure a job is in a user's crontab (once, with this schedule), or is not.

    An entry is found by ``name`` (a ``#Paracrine: NAME`` comment line written
    above it, like Ansible's ``#Ansible: NAME``), or without a name by its
    command. Every other line of the crontab stays as it is. The whole new
    table is installed with ``crontab -u USER -``. ``env`` settings are written
    inside the named entry, above its job; cron applies a setting to every
    line after it, so later entries see it too. A "%" in the command is a
    newline to cron (write "\\%" for a literal one).

    Args:
        command: the command line cron runs (through /bin/sh).
        name: the entry's name; without one the command identifies the entry.
        user: whose crontab.
        minute: the minute field (``"*/5"``, ``0``, ...).
        hour: the hour field.
        day_of_month: the day-of-month field.
        month: the month field (``"1-6"``, ``"jan"``).
        day_of_week: the day-of-week field (``"mon-fri"``, ``0`` is Sunday).
        special: a schedule such as ``"@daily"`` or ``"@reboot"``, instead of the fields.
        env: settings such as ``{"MAILTO": "ops@example.com"}`` above the job (needs ``name``).
        present: False to remove the entry.

    Example:
        server.crontab("/usr/local/bin/backup", name="backup", hour=2, minute=30, env={"MAILTO": "ops@example.com"})
    """
    fields = (minute, hour, day_of_month, month, day_of_week)
    if special is not None and fields != ("*",) * 5:
        raise PlanError("special= replaces the time fields", hint="pass either special= or minute=/hour=/...")
    if env and name is None:
        raise PlanError("env= needs name=", hint="name the entry: its settings are found by that name")
    (lines,) = ctx.facts((cron_facts.table, {"user": user}))
    if lines is None:
        (users,) = ctx.facts((server_facts.users, {}))
        if user not in users:
            raise PlanError(f"user {user!r} does not exist", hint="create it with server.user(...) first")
        lines = []  # created earlier in this run: no crontab yet
    block = None
    if present:
        schedule = special or " ".join(fields)
        block = [
            *([CRON_MARKER + name] if name is not None else []),
            *(env_line(k, v) for k, v in (env or {}).items()),
            f"{schedule} {command}",
        ]
    new = cron_table(lines, name, command, block)
    if new != lines:
        stdin = text_of(new)
        preview = (tuple(lines), tuple(new), f"crontab of {user}")
        yield RunCommand(
            ("crontab", "-u", user, "-"), stdin=stdin, predicted=cron_predicted(user, new), preview=preview
        )


# ---------------------------------------------------------------- sysctl


@operation
def sysctl(
    ctx: OpContext,
    key: SysctlKey,
    value: SysctlValue,
    *,
    persist: bool = True,
    file: AbsPath = "/etc/sysctl.d/99-paracrine.conf",
) -> Changes:
    """Ensure a kernel parameter has a value now (``sysctl -w``) and after a reboot.

    The value is compared with the one in /proc/sys, whitespace-insensitively:
    write it as the kernel prints it (``1``, not ``0x1``). With ``persist``,
    ``file`` holds one ``key = value`` line for the key (other lines for it are
    removed; the file's other lines stay).

    Args:
        key: the parameter, e.g. ``"vm.swappiness"``.
        value: its value: an int, a string, or a list for several numbers.
        persist: also write it to ``file`` (read by systemd-sysctl and ``sysctl --system`` at boot).
        file: the sysctl.d file holding the persisted value.

    Example:
        server.sysctl("vm.swappiness", 10)
    """
    wanted = " ".join(value.split())
    requests = [(sysctl_facts.value, {"key": key}), *(lines_facts(file) if persist else [])]
    current, *persisted = ctx.facts(*requests)
    if current is None:
        raise PlanError(
            f"the kernel has no parameter {key}", hint="check the name (sysctl -a lists them); a module may be missing"
        )
    if " ".join(current.split()) != wanted:
        yield RunCommand(("sysctl", "-w", f"{key}={wanted}"), predicted=sysctl_predicted(key, wanted))
    if persist:
        new = replace_line(persisted[2], f"{key} = {wanted}", rf"^\s*-?{re.escape(key)}\s*=")
        yield from rewrite(file, persisted, new)


# ---------------------------------------------------------------- hostname


@operation
def hostname(ctx: OpContext, hostname: HostName) -> Changes:
    """Ensure the host's name: /etc/hostname, its /etc/hosts line and the running name.

    /etc/hosts gets Debian's ``127.0.1.1`` line for the name (``127.0.1.1
    web1.example.com web1`` for a dotted name), replacing the one that is
    there, so the name resolves (sudo warns when it does not). The running
    name is set with ``hostname`` after the files are written.

    Args:
        hostname: the name, e.g. ``"web1"`` or ``"web1.example.com"``.

    Example:
        server.hostname("web1.example.com")
    """
    current, *found = ctx.facts((server_facts.hostname, {}), *lines_facts("/etc/hostname"), *lines_facts("/etc/hosts"))
    yield from _ensure_file("/etc/hostname", "/etc/hostname", found[:2], f"{hostname}\n".encode(), (None,) * 3, False)
    hosts = found[3:]
    short = hostname.split(".")[0]
    line = f"127.0.1.1\t{hostname}" + (f" {short}" if short != hostname else "")
    new = replace_line(hosts[2] if hosts[2] is not None else ["127.0.0.1\tlocalhost"], line, r"^\s*127\.0\.1\.1\s")
    yield from rewrite("/etc/hosts", hosts, new)
    if current != hostname:
        effects = (
            Effect.set(fact_named("server.hostname"), hostname),
            *sysctl_predicted("kernel.hostname", hostname),
        )
        yield RunCommand(("hostname", hostname), predicted=effects)


# ---------------------------------------------------------------- time zone


def _unknown_zone(ctx: OpContext, tz: str) -> PlanError:
    zone = f"{ZONEINFO}/{tz}"
    region, name = posixpath.split(zone)
    top, names = ctx.facts((file_facts.path_info, {"path": ZONEINFO}), (file_facts.listing, {"path": region}))
    if top is None:
        return PlanError(
            f"{ZONEINFO} does not exist", hint="install the tzdata package first: apt.packages(['tzdata'])"
        )
    hint = did_you_mean(name, names or []) or "zone names are paths under /usr/share/zoneinfo, e.g. 'Europe/Berlin'"
    return PlanError(f"time zone {tz!r} does not exist on the host (no {zone})", hint=hint)


@operation
def timezone(ctx: OpContext, tz: TimeZone) -> Changes:
    """Ensure the system time zone: /etc/localtime links to its zoneinfo file, /etc/timezone names it.

    The zone must exist on the host (package tzdata). Running programs keep
    the zone they read at start.

    Args:
        tz: the zone's name, e.g. ``"Europe/Berlin"`` or ``"Etc/UTC"``.

    Example:
        server.timezone("Europe/Berlin")
    """
    zone = f"{ZONEINFO}/{tz}"
    info, localtime, *named = ctx.facts(
        (file_facts.path_info, {"path": zone}),
        (file_facts.path_info, {"path": "/etc/localtime"}),
        *info_facts("/etc/timezone"),
    )
    if info is None or info["kind"] not in ("file", "link"):
        _await_package(ctx, "tzdata")
        raise _unknown_zone(ctx, tz)
    if localtime is not None and localtime["kind"] == "directory":
        raise _exists("/etc/localtime", localtime, hint="remove it: it should be a link to the zone's file")
    target = localtime["target"] if localtime is not None and localtime["kind"] == "link" else None
    if target is None or posixpath.normpath(posixpath.join("/etc", target)) != zone:
        yield MakeLink("/etc/localtime", zone)
    yield from _ensure_file("/etc/timezone", "/etc/timezone", named, f"{tz}\n".encode(), (None,) * 3, False)


# ---------------------------------------------------------------- locales


def _enabled(ctx: OpContext, lines: list[str], locale: str, available: bool) -> list[str]:
    """locale.gen's lines with ``locale`` enabled (uncommented, or added from SUPPORTED)."""
    if any(locale_entry(line, locale) and not line.lstrip().startswith("#") for line in lines):
        return lines
    for index, line in enumerate(lines):
        if locale_entry(line, locale):
            return [*lines[:index], " ".join(line.lstrip("#").split()), *lines[index + 1 :]]
    if available:  # built in (C.UTF-8) or from locales-all: nothing to generate
        return lines
    (supported,) = ctx.facts((file_facts.lines, {"path": SUPPORTED_LOCALES}))
    for line in supported or []:
        if locale_entry(line, locale):
            return [*lines, " ".join(line.split())]
    names = [line.split()[0] for line in supported or [] if line.strip()]
    hint = did_you_mean(locale, names) or "names look like 'en_US.UTF-8' (see /usr/share/i18n/SUPPORTED)"
    raise PlanError(f"{locale!r} is not a locale this host supports", hint=hint)


@operation
def locale(ctx: OpContext, locale: LocaleName, *, default: bool = False) -> Changes:
    """Ensure a locale is generated (enabled in /etc/locale.gen), and optionally the system's default.

    A commented-out entry in /etc/locale.gen is enabled (or the entry is added
    from /usr/share/i18n/SUPPORTED), then ``locale-gen`` runs. Needs the
    ``locales`` package. With ``default``, /etc/default/locale sets ``LANG``.

    Args:
        locale: the locale, e.g. ``"en_US.UTF-8"``.
        default: also make it the system's ``LANG``.

    Example:
        server.locale("de_DE.UTF-8", default=True)
    """
    requests = [(server_facts.locales, {}), *lines_facts(LOCALE_GEN)]
    available_names, *found = ctx.facts(*requests, *(lines_facts(DEFAULT_LOCALE) if default else []))
    canonical = server_facts.normalize_locale(locale)
    available = canonical in available_names
    gen = found[:3]
    if gen[2] is None and not available:
        _await_package(ctx, "locales")
        raise PlanError(
            f"{LOCALE_GEN} does not exist, so {locale} cannot be generated",
            hint="install the locales package first: apt.packages(['locales'])",
        )
    if gen[2] is not None:
        new = _enabled(ctx, gen[2], locale, available)
        yield from rewrite(LOCALE_GEN, gen, new)
        if new != gen[2] or not available:
            added = Effect.updating(fact_named("server.locales"), lambda old: sorted({*(old or []), canonical}))
            yield RunCommand(("locale-gen",), predicted=(added,))
    if default:
        settings = found[3:]
        yield from rewrite(DEFAULT_LOCALE, settings, replace_line(settings[2], f"LANG={locale}", r"^\s*LANG="))


# ---------------------------------------------------------------- mounts


def _mount_changes(ctx: OpContext, path: str, top: Any, wanted: mount_facts.FstabEntry, changed: bool) -> Changes:
    """Mount ``wanted`` at ``path`` (a missing mount point is made); remount it when its fstab entry ``changed``."""
    device, fstype, options = wanted["device"], wanted["fstype"], wanted["options"]
    mount = ("mount", "-t", fstype, "-o", options, device, path)
    if top is None:
        (info,) = ctx.facts((file_facts.path_info, {"path": path}))
        if info is None:
            yield MakeDirectory(path)
        yield RunCommand(mount, predicted=mount_effects(path, fstype, device))
    elif changed:
        other_device = not device.startswith(DEVICE_TAGS) and top["source"] != device
        if top["fstype"] != fstype or other_device:
            yield RunCommand(("umount", path), predicted=umount_effects(path))
            yield RunCommand(mount, predicted=mount_effects(path, fstype, device))
        else:
            yield RunCommand(("mount", "-o", f"remount,{options}", path), predicted=())


def _mount_provides(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("dir", args["path"])] if args["present"] and args["mounted"] else []


@operation(provides=_mount_provides)
def mount(
    ctx: OpContext,
    path: AbsPath,
    *,
    device: Device,
    fstype: FsType,
    options: MountOptions = "defaults",
    dump: int = 0,
    passno: int = 0,
    present: bool = True,
    mounted: bool = True,
) -> Changes:
    """Ensure a file system's /etc/fstab entry, and that it is mounted (or not).

    The entry for ``path`` is replaced when it differs (an equal one is left as
    written). A missing mount point is created. When the entry changes while
    the file system is mounted, it is remounted with the new options (unmounted
    and mounted again if its type or device changed). Operations on paths
    below ``path`` run after this one.

    Args:
        path: the mount point.
        device: what to mount: ``/dev/sdb1``, ``UUID=...``, ``LABEL=...``, ``host:/export``, ``tmpfs``.
        fstype: the file system type, e.g. ``"ext4"``, ``"nfs"``, ``"tmpfs"``.
        options: the mount options, comma-separated.
        dump: the fstab dump field.
        passno: the fstab fsck order field (0: not checked).
        present: False to remove the entry and unmount the file system.
        mounted: with ``present``, whether it is mounted now (False: only the entry, unmounted).

    Example:
        server.mount("/srv/cache", device="tmpfs", fstype="tmpfs", options="size=512m,mode=1777")
    """
    points, *fstab = ctx.facts((mount_facts.points, {}), *lines_facts(FSTAB))
    tops = [p for p in points if posixpath.normpath(p["path"]) == path]
    top = tops[-1] if tops else None
    wanted: mount_facts.FstabEntry | None = None
    if present:
        wanted = {"device": device, "path": path, "fstype": fstype, "options": options, "dump": dump, "passno": passno}
    new = fstab_lines(fstab[2] or [], path, wanted)
    if fstab[2] is not None or wanted is not None:
        yield from rewrite(FSTAB, fstab, new)
    if wanted is not None and mounted:
        yield from _mount_changes(ctx, path, top, wanted, new != (fstab[2] or []))
    elif top is not None:
        yield RunCommand(("umount", path), predicted=umount_effects(path))


# ---------------------------------------------------------------- kernel modules


@operation
def modprobe(ctx: OpContext, module: ModuleName, *, present: bool = True, persist: bool = True) -> Changes:
    """Ensure a kernel module is loaded now and at boot, or is not.

    Loaded with ``modprobe`` (package kmod); with ``persist``,
    /etc/modules-load.d/MODULE.conf names it so it is loaded at boot (with
    ``present=False`` that file is removed). A module built into the kernel
    counts as loaded and cannot be unloaded.

    Args:
        module: the module's name, e.g. ``"br_netfilter"`` ("-" and "_" are the same).
        present: False to unload the module (``modprobe -r``).
        persist: also manage /etc/modules-load.d/MODULE.conf.

    Example:
        server.modprobe("br_netfilter")
    """
    conf = f"/etc/modules-load.d/{module}.conf"
    loaded, builtin, *conf_facts = ctx.facts((module_facts.loaded, {}), (module_facts.builtin, {}), *info_facts(conf))
    name = module_facts.canonical(module)
    is_builtin = name in (builtin or [])
    is_loaded = is_builtin or (loaded is not None and name in loaded)
    if present and not is_loaded:
        if loaded is None:
            raise PlanError(
                f"cannot load {module}: the kernel has no loadable module support (no /proc/modules)",
                hint="build the module into the kernel, or run on a kernel with modules",
            )
        (modprobe_path,) = ctx.facts((server_facts.which, {"command": "modprobe"}))
        if modprobe_path is None:
            _await_package(ctx, "kmod")
            raise PlanError("modprobe is not installed", hint="install the kmod package first: apt.packages(['kmod'])")
        yield RunCommand(("modprobe", module), predicted=(module_effect(name, True),))
    if not present and is_builtin:
        raise PlanError(f"{module} is built into the kernel and cannot be unloaded", hint="pass present=True")
    if not present and is_loaded:
        yield RunCommand(("modprobe", "-r", module), predicted=(module_effect(name, False),))
    if persist and present:
        yield from _ensure_file(conf, conf, conf_facts, f"{module}\n".encode(), (None,) * 3, False)
    elif persist and conf_facts[0] is not None:
        yield RemovePath(conf)


# ---------------------------------------------------------------- authorized keys


def _keys_facts(ctx: OpContext, target: str, around: list[str]) -> list[Any]:
    """path_info of the ``around`` paths, then [path_info, sha256, lines] of ``target``, in one round.

    A link or other non-file at ``target`` is an error: it is never followed.
    """
    infos = [(file_facts.path_info, {"path": p}) for p in around]
    try:
        return ctx.facts(*infos, *lines_facts(target))
    except FactError:  # files.lines refuses what is not a regular file: say what is there
        (info,) = ctx.facts((file_facts.path_info, {"path": target}))
        if info is None or info["kind"] == "file":
            raise
        raise _exists(target, info, hint="remove it; keys are only written to a regular file") from None


def _users(ctx: OpContext, user: str, file: str | None) -> dict[str, Any]:
    """The accounts; while they are unknown, the facts of the keys file are asked for in the same round.

    Without ``file`` the keys file lives in the user's home, which only the accounts tell: the
    usual home (/home/USER, /root for root) is a guess that is right on most hosts, so a host
    already in sync costs one fact round trip instead of two (a home elsewhere costs the second).
    """
    try:
        users: dict[str, Any] = ctx.fact(server_facts.users)
    except FactMissing:
        if file is None:
            home = "/root" if user == "root" else posixpath.join("/home", user)
            around = [(file_facts.path_info, {"path": p}) for p in (home, posixpath.join(home, ".ssh"))]
            guess = [*around, *lines_facts(posixpath.join(home, ".ssh", "authorized_keys"))]
        else:
            guess = lines_facts(file)
        with contextlib.suppress(FactError):  # a guessed fact that failed is asked again if it is needed
            ctx.facts((server_facts.users, {}), *guess)
        raise
    return users


@operation
def authorized_keys(
    ctx: OpContext, user: Name, keys: list[PublicKey], *, exclusive: bool = False, file: AbsPath | None = None
) -> Changes:
    """Ensure SSH public keys are in a user's authorized_keys file (and, if exclusive, no others).

    Keys are compared by type and key data: a comment may differ, options may
    not (a key with other options is rewritten with the given ones). Without
    ``file``, ~USER/.ssh is made a directory of mode 0700 and the file gets mode
    0600, both owned by the user. A symbolic link at either is an error: it is
    never followed (nor is one the user plants later: writes go through
    directory descriptors).

    Args:
        user: the account whose keys these are (it must exist).
        keys: public key lines, e.g. ``"ssh-ed25519 AAAA... alice@laptop"`` (options allowed in front).
        exclusive: remove every other key from the file (comments stay).
        file: another file to manage (e.g. ``/etc/ssh/authorized_keys/alice``); its directory is left alone.

    Example:
        server.authorized_keys("deploy", [Path("keys/deploy.pub").read_text()], exclusive=True)
    """
    account = _users(ctx, user, file).get(user)
    if account is None:
        raise PlanError(f"user {user!r} does not exist", hint="create it with server.user(...) first")
    if file is None and not account["home"]:
        # created earlier in this run without home=: its home is known once useradd ran
        raise Unpredictable(make_key(server_facts.users, {}))
    owner, group = user, account["group"]
    target = file or posixpath.join(account["home"], ".ssh", "authorized_keys")
    directory = posixpath.dirname(target)
    around = [account["home"], directory] if file is None else []
    *infos, info, digest, lines = _keys_facts(ctx, target, around)
    if file is None:
        home, found = infos
        if home is None or home["kind"] != "directory":
            raise PlanError(f"the home directory {account['home']} does not exist", hint="create it, or pass file=")
        if found is not None and found["kind"] != "directory":
            raise _exists(directory, found, hint="remove it; ~/.ssh must be a directory")
        if found is None:
            yield MakeDirectory(directory, 0o700, owner, group)
        else:
            yield from _attributes(directory, found, 0o700, owner, group)
    new = authorized_lines(lines or [], keys, exclusive)
    data = None if info is not None and new == lines else text_of(new)
    yield from _ensure_file(target, target, [info, digest], data, (0o600, owner, group), False)


# ---------------------------------------------------------------- sudoers


@operation
def sudoers(ctx: OpContext, name: SudoersName, content: str | None = None, *, present: bool = True) -> Changes:
    """Ensure a file in /etc/sudoers.d with this content (mode 0440, root), checked by visudo first.

    The new content is written to a temporary file beside the old one and
    checked with ``visudo -cf``; only a file that passes replaces the old one,
    so a syntax error fails the operation (with visudo's message) and leaves
    sudo working. A newline is added to content that lacks a final one.

    Args:
        name: the file's name: letters, digits, "_" and "-" (sudo ignores names with "." or "~").
        content: the sudoers rules.
        present: False to remove the file.

    Example:
        server.sudoers("deploy", "deploy ALL=(root) NOPASSWD: /usr/bin/systemctl restart app\\n")
    """
    path = f"/etc/sudoers.d/{name}"
    if not present:
        (info,) = ctx.facts((file_facts.path_info, {"path": path}))
        if info is not None:
            yield RemovePath(path)
        return
    if content is None:
        raise PlanError("content is missing", hint="pass the sudoers rules, or present=False to remove the file")
    data = (content if content.endswith("\n") else content + "\n").encode("utf-8")
    for change in _ensure_file(path, path, _file_facts(ctx, path), data, (0o440, "root", "root"), False):
        yield dataclasses.replace(change, validate=VISUDO) if isinstance(change, WriteFile) else change


# ---------------------------------------------------------------- services


def __getattr__(name: str) -> Any:
    """``server.service`` is ``systemd.service`` (``server.service("nginx", running=True)``), for deploys
    that come from pyinfra (whose ``server.service`` manages init services) or from Ansible's
    ``service`` module; it is labelled ``systemd.service`` in the plan. Imported on first use, so
    deploys that do not use it do not load the systemd operations."""
    if name == "service":
        from paracrine.operations.systemd import service

        return service
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
