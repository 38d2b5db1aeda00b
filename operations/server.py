"""Operations on the machine itself: shell commands, groups and users (mirrors ``paracrine.facts.server``).

Groups and users are changed with the shadow tools (``groupadd``/``useradd``
and friends), given only the settings that differ. Their effects on the
``server.groups``/``server.users`` facts are predicted, so later operations
plan against the accounts as they will be.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from paracrine.changes import RunCommand
from paracrine.errors import PlanError, did_you_mean
from paracrine.facts import files as file_facts
from paracrine.facts import server as server_facts
from paracrine.operation import Changes, operation
from paracrine.validate import AbsPath
from paracrine.plan import OpContext
from paracrine.predict import Effect, fact_named, path_effects
from paracrine.validate import Converter

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
