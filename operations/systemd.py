"""Operations on systemd services, unit files and timers (mirrors ``paracrine.facts.systemd``).

``systemctl`` commands are planned from the ``systemd.unit`` fact (``systemctl
show``) and predict their effect on it, so later operations plan without a
round trip. A unit file changed by ``systemd.unit`` is followed by one
``systemctl daemon-reload`` per run, however many unit files changed, before
anything is started (:class:`~paracrine.changes.DaemonReload`).

``systemd.service`` is also a handler: with ``reload_on=[site]`` (or named in
``notify=``) its start/stop/enable part always applies and its
``restarted``/``reloaded`` part runs only when a trigger changed. A service
that is started by this run is not restarted or reloaded as well: starting it
loads the new configuration.

Note for ``operations/server.py``: ``server.service`` is this ``systemd.service``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from paracrine.changes import Change, DaemonReload, RemovePath, RunCommand, WriteFile
from paracrine.changes.daemon_reload import ARGV as DAEMON_RELOAD
from paracrine.errors import PlanError
from paracrine.factkey import FactKey
from paracrine.facts import files as file_facts
from paracrine.facts import systemd as systemd_facts
from paracrine.facts.systemd import unit_file_name
from paracrine.operation import Changes, operation
from paracrine.operations import files
from paracrine.plan import OpContext
from paracrine.predict import Effect, Matcher
from paracrine.validate import Converter, LocalPath, OneLine

#: Unit names (systemd.unit(5)): letters, digits and ``:_.\@-``; at most 255 characters.
_UNIT = re.compile(r"[A-Za-z0-9:_.\\@-]{1,255}")


def _unit_name(value: Any) -> Any:
    if isinstance(value, str) and (not _UNIT.fullmatch(value) or value.startswith("-")):
        raise ValueError(f"{value!r} is not a systemd unit name (letters, digits, ':', '_', '.', '\\', '@', '-')")
    return value


#: A unit: ``nginx`` (a service), ``nginx.service``, ``fstrim.timer``, ``getty@tty1``.
UnitName = Annotated[str, Converter(_unit_name, "a systemd unit name")]

UNIT_DIR = "/etc/systemd/system"
#: ActiveState values of a unit that runs (or is about to).
ACTIVE = ("active", "reloading", "activating")
#: UnitFileState values of an enabled unit.
ENABLED = ("enabled", "enabled-runtime")
#: UnitFileState values of units that cannot be enabled or disabled themselves: ``enabled=`` leaves them be.
FIXED = ("static", "indirect", "generated", "transient", "alias")


# ---------------------------------------------------------------- predicted effects


def _this_unit(name: str) -> Matcher:
    """Match the systemd.unit facts of ``name``, however it is spelled (``nginx`` or ``nginx.service``)."""
    full = unit_file_name(name)

    def match(key: FactKey) -> bool:
        other = key.args.get("name")
        return key.name == "systemd.unit" and isinstance(other, str) and unit_file_name(other) == full

    return match


def _unit_effect(name: str, **fields: Any) -> Effect:
    """The unit's fact with ``fields`` changed."""
    return Effect.updating(_this_unit(name), lambda old: {**old, **fields} if isinstance(old, dict) else old)


def _new_state(old: Any, path: str, content: str) -> dict[str, Any]:
    """The unit as systemd sees it after a daemon-reload of the unit file ``path`` with ``content``."""
    description = next(
        (line.partition("=")[2].strip() for line in content.splitlines() if line.startswith("Description=")), None
    )
    installable = any(line.strip() == "[Install]" for line in content.splitlines())
    if not isinstance(old, dict) or old.get("load") == "not-found":
        old = {"active": "inactive", "sub": "dead", "enabled": "disabled" if installable else "static"}
    return {**old, "load": "loaded", "path": path, "description": description or None, "need_daemon_reload": False}


def _systemctl(action: str, full: str, *effects: Effect) -> RunCommand:
    return RunCommand(("systemctl", action, full), predicted=effects)


# ---------------------------------------------------------------- services


def _checked(full: str, unit: Any, running: bool | None, enabled: bool | None) -> bool:
    """Whether the unit is there to act on; an error when it must be and is not (or is masked)."""
    wanted = bool(running) or bool(enabled)
    if unit is None:
        if wanted:
            raise PlanError(
                f"there is no unit {full}", hint="install the package that has it or write it with systemd.unit"
            )
        return False
    if unit["load"] == "masked" and wanted:
        raise PlanError(f"{full} is masked", hint=f"unmask it first (systemctl unmask {full})")
    return True


def _service_changes(
    ctx: OpContext,
    name: str,
    unit: Any,
    state: tuple[bool | None, bool | None],
    handler: tuple[bool, bool],
    daemon_reload: bool = False,
) -> list[Change]:
    """The changes that bring ``unit`` (its fact, as predicted) to ``state`` = (running, enabled).

    ``handler`` = (restarted, reloaded): the part that runs only when the call
    is triggered (or on every run, for a call that is not a handler).
    """
    running, enabled = state
    full = unit_file_name(name)
    if ctx.triggered is not None:
        ctx.uses_triggers = True  # a handler deciding per change: start/enable always apply
    if not _checked(full, unit, running, enabled):
        return []
    changes: list[Change] = []
    if daemon_reload and unit.get("need_daemon_reload"):
        changes.append(RunCommand(DAEMON_RELOAD, predicted=(_unit_effect(name, need_daemon_reload=False),)))
    if enabled is True and unit["enabled"] not in (*ENABLED, *FIXED):
        changes.append(_systemctl("enable", full, _unit_effect(name, enabled="enabled")))
    elif enabled is False and unit["enabled"] in ENABLED:
        changes.append(_systemctl("disable", full, _unit_effect(name, enabled="disabled")))
    active = unit["active"] in ACTIVE
    restarted, reloaded = handler
    action = "restart" if restarted else "reload" if reloaded else None
    if running is True and not active:
        start = _systemctl("start", full, _unit_effect(name, active="active", sub="running"))
        # Triggered: the start is what the handler does (it loads the new configuration); marked
        # so, it clears the trigger's record, and no restart follows it.
        changes.append(ctx.when_triggered(start) if action and ctx.triggered else start)
    elif running is False and active:
        changes.append(_systemctl("stop", full, _unit_effect(name, active="inactive", sub="dead")))
    elif action and active:
        again = _systemctl(action, full)
        changes.append(ctx.when_triggered(again) if ctx.triggered is not None else again)
    return changes


@operation
def service(
    ctx: OpContext,
    name: UnitName,
    *,
    running: bool | None = None,
    enabled: bool | None = None,
    restarted: bool = False,
    reloaded: bool = False,
    daemon_reload: bool = False,
) -> Changes:
    """Ensure a systemd unit is running or stopped, enabled or not; restart or reload it when triggered.

    Only what differs runs (``systemctl show`` says what the unit is). As a
    handler (``reload_on=[...]``, or named in ``notify=``) the ``restarted``/
    ``reloaded`` part runs only when a trigger changed, the rest always; in a
    call that is not a handler it runs on every run. A stopped unit is never
    restarted or reloaded (``running=True`` starts it, which loads the new
    configuration). ``enabled=`` leaves static units (no ``[Install]``) alone.

    Args:
        name: the unit: ``nginx`` (``.service`` is implied), ``cron.service``, ``fstrim.timer``.
        running: True to start it, False to stop it (None: leave it).
        enabled: True to enable it at boot, False to disable it (None: leave it).
        restarted: restart it (when triggered, if it runs).
        reloaded: reload its configuration (when triggered, if it runs); ``restarted`` wins.
        daemon_reload: run ``systemctl daemon-reload`` first when systemd says its unit file changed.

    Example:
        systemd.service("nginx", running=True, enabled=True, reloaded=True, reload_on=[site])
    """
    (unit,) = ctx.facts((systemd_facts.unit, {"name": unit_file_name(name)}))
    yield from _service_changes(ctx, name, unit, (running, enabled), (restarted, reloaded), daemon_reload)


# ---------------------------------------------------------------- unit files


def _unit_path(name: str) -> str:
    return f"{UNIT_DIR}/{unit_file_name(name)}"


def _unit_claim(args: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [("path", _unit_path(args["name"]), args["present"])]


def _unit_facts(ctx: OpContext, names: list[str]) -> dict[str, Any]:
    """The unit fact of each unit, and path_info/sha256 of its file in /etc/systemd/system, in one round."""
    requests: list[Any] = []
    for name in names:
        path = _unit_path(name)
        requests += [(systemd_facts.unit, {"name": unit_file_name(name)}), (file_facts.path_info, {"path": path})]
        requests.append((file_facts.sha256, {"path": path}))
    values = ctx.facts(*requests)
    return {name: values[3 * i] for i, name in enumerate(names)}


def _written(changes: list[Change]) -> str | None:
    """The new content of the unit file among ``changes`` (None: not rewritten)."""
    write = next((c for c in changes if isinstance(c, WriteFile)), None)
    return None if write is None else write.content().decode("utf-8", "replace")


def _removals(ctx: OpContext, names: list[str]) -> list[Change]:
    """Stop and disable the units whose files in /etc/systemd/system are there, and remove the files."""
    infos = ctx.facts(*[(file_facts.path_info, {"path": _unit_path(n)}) for n in names])
    there = [n for n, info in zip(names, infos, strict=True) if info is not None]
    if not there:
        return []
    units = ctx.facts(*[(systemd_facts.unit, {"name": unit_file_name(n)}) for n in there])
    changes: list[Change] = []
    for name, unit in zip(there, units, strict=True):
        full = unit_file_name(name)
        if unit is not None and unit["active"] in ACTIVE:
            changes.append(_systemctl("stop", full, _unit_effect(name, active="inactive", sub="dead")))
        if unit is not None and unit["enabled"] in ENABLED:
            changes.append(_systemctl("disable", full, _unit_effect(name, enabled="disabled")))
        changes.append(RemovePath(_unit_path(name)))
    return changes


@operation(claims=_unit_claim)
def unit(
    ctx: OpContext,
    name: UnitName,
    *,
    content: str | None = None,
    src: LocalPath | None = None,
    template: LocalPath | None = None,
    variables: Mapping[str, Any] | None = None,
    present: bool = True,
) -> Changes:
    """Ensure a unit file in ``/etc/systemd/system``, or its absence; systemd reloads once per run.

    After the unit files of a run changed, ``systemctl daemon-reload`` runs
    once, before the first later operation that starts or restarts anything.
    Use ``systemd.service`` to start or enable the unit, with ``reload_on=[...]``
    on this call to restart it when its file changes. Removing a unit file
    stops and disables the unit first.

    Args:
        name: the unit, e.g. ``"app"`` (``app.service``) or ``"backup.timer"``.
        content: the unit file's text.
        src: a unit file on the controller, copied as is.
        template: a Jinja2 template on the controller, rendered with host data and ``variables``.
        variables: more names for ``template``.
        present: False to remove the unit file.

    Example:
        systemd.unit("app", template="templates/app.service.j2", variables={"port": 8080})
    """
    path = _unit_path(name)
    if not present:
        changes = _removals(ctx, [name])
        yield from changes
        if changes:  # a unit of the same name in /lib may show again: its fact is unknown
            yield DaemonReload(predicted=(Effect.opaque(_this_unit(name)),))
        return
    given = [v for v in (content, src, template) if v is not None]
    if len(given) != 1:
        raise PlanError("give the unit file as exactly one of content=, src= and template=")
    old = _unit_facts(ctx, [name])[name]
    if content is not None:
        changes = list(files.file.changes(ctx, path, content=content, mode=0o644))
    elif src is not None:
        changes = list(files.put.changes(ctx, src, path, mode=0o644))
    else:
        changes = list(files.template.changes(ctx, template, path, mode=0o644, variables=variables or {}))
    yield from changes
    text = _written(changes)
    if text is not None:
        yield DaemonReload(predicted=(Effect.set(_this_unit(name), _new_state(old, path, text)),))


# ---------------------------------------------------------------- timers

#: Characters systemd expands in ExecStart= (specifiers and variables), doubled to mean themselves.
_EXPANDED = {"%": "%%", "$": "$$"}


def exec_line(argv: list[str]) -> str:
    """An argument list as a systemd ``ExecStart=`` value: every word quoted, ``%`` and ``$`` escaped."""
    words = []
    for arg in argv:
        escaped = "".join(_EXPANDED.get(c, c) for c in arg).replace("\\", "\\\\").replace('"', '\\"')
        words.append(f'"{escaped}"')
    return " ".join(words)


def _timer_files(
    name: str, schedule: dict[str, str | None], command: list[str] | None, user: str | None, description: str
) -> dict[str, str]:
    """The unit files of a timer: ``NAME.timer``, and ``NAME.service`` running ``command``."""
    timer = [f"[Unit]\nDescription={description}\n\n[Timer]\n"]
    timer += [f"{key}={value}\n" for key, value in schedule.items() if value]
    timer.append("\n[Install]\nWantedBy=timers.target\n")
    unit_files = {f"{name}.timer": "".join(timer)}
    if command is not None:
        service_text = f"[Unit]\nDescription={description}\n\n[Service]\nType=oneshot\nExecStart={exec_line(command)}\n"
        unit_files[f"{name}.service"] = service_text + (f"User={user}\n" if user else "")
    return unit_files


def _timer_name(value: Any) -> Any:
    value = _unit_name(value)
    if isinstance(value, str) and value.endswith(systemd_facts.UNIT_SUFFIXES):
        raise ValueError(f"{value!r}: name the timer without a suffix (NAME.timer and NAME.service are written)")
    return value


def _command_argv(value: Any) -> Any:
    if isinstance(value, str):
        return ["/bin/sh", "-c", value]
    if isinstance(value, list | tuple) and not value:
        raise ValueError("the command's argument list is empty")
    return value


TimerName = Annotated[str, Converter(_timer_name, "a timer name without suffix")]
#: A command for ``ExecStart=``: an argument list, or a shell command line (run with ``/bin/sh -c``).
Command = Annotated[list[str], Converter(_command_argv, "a command (an argument list or a shell command line)")]


def _timer_claim(args: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [("path", _unit_path(args["name"] + ".timer"), args["present"])]


@operation(claims=_timer_claim)
def timer(
    ctx: OpContext,
    name: TimerName,
    *,
    on_calendar: OneLine | None = None,
    on_boot_sec: OneLine | None = None,
    on_unit_active_sec: OneLine | None = None,
    command: Command | None = None,
    user: OneLine | None = None,
    persistent: bool = False,
    description: OneLine | None = None,
    enabled: bool = True,
    running: bool | None = True,
    present: bool = True,
) -> Changes:
    """Ensure a systemd timer ``NAME.timer`` (and the service it runs) is written, enabled and started.

    With ``command`` the oneshot service is written too; without it the timer
    runs an existing ``NAME.service``. When a file changes, systemd reloads
    and a running timer is restarted, so the new schedule applies.

    Args:
        name: the timer's name, without ``.timer``.
        on_calendar: when to run, e.g. ``"daily"``, ``"*-*-* 03:00:00"`` (systemd.time(7)).
        on_boot_sec: run this long after boot, e.g. ``"15min"``.
        on_unit_active_sec: run again this long after the last run, e.g. ``"1h"``.
        command: what the service runs: an argument list, or a shell command line.
        user: the user the command runs as (default root).
        persistent: run at boot when a calendar run was missed while the host was off.
        description: the units' description (default: the name).
        enabled: enable the timer (started at boot).
        running: start the timer now (False: stop it; None: leave it).
        present: False to stop and disable the timer and remove its files.

    Example:
        systemd.timer("backup", on_calendar="*-*-* 03:00:00", command=["/usr/local/bin/backup"], persistent=True)
    """
    names = [f"{name}.timer", *([f"{name}.service"] if command is not None else [])]
    if not present:
        changes = _removals(ctx, names)
        yield from changes
        if changes:
            yield DaemonReload(predicted=tuple(Effect.opaque(_this_unit(n)) for n in names))
        return
    schedule = {"OnCalendar": on_calendar, "OnBootSec": on_boot_sec, "OnUnitActiveSec": on_unit_active_sec}
    if not any(schedule.values()):
        raise PlanError("a timer needs a schedule", hint="pass on_calendar=, on_boot_sec= or on_unit_active_sec=")
    units = _unit_facts(ctx, names)
    schedule["Persistent"] = "true" if persistent else None
    texts = _timer_files(name, schedule, command, user, description or name)
    changes = []
    predicted = []
    for unit_name, text in texts.items():
        written = list(files.file.changes(ctx, _unit_path(unit_name), content=text, mode=0o644))
        if _written(written) is not None:
            units[unit_name] = _new_state(units[unit_name], _unit_path(unit_name), text)
            predicted.append(Effect.set(_this_unit(unit_name), units[unit_name]))
        changes += written
    timer_unit = units[f"{name}.timer"]
    if predicted:
        changes.append(RunCommand(DAEMON_RELOAD, predicted=tuple(predicted)))
        if timer_unit["active"] in ACTIVE and running is not False:
            changes.append(_systemctl("restart", f"{name}.timer"))
    yield from changes
    yield from _service_changes(ctx, f"{name}.timer", timer_unit, (running, enabled), (False, False))
