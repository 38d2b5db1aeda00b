"""Operations on Python virtualenvs and distributions (mirrors ``paracrine.facts.pip``).

``pip.venv`` makes a virtualenv with the interpreter's own ``venv`` module;
``pip.packages`` installs, upgrades and removes distributions with the
interpreter's ``python -m pip``, planned from the ``pip.packages`` fact so that
a host already right runs nothing. Versions are compared on the controller as
PEP 440 orders them (:mod:`paracrine.operations._pep440`).
"""

from __future__ import annotations

import copy
import os
import posixpath
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from paracrine.changes import LocalFile, MakeDirectory, RemovePath, RunCommand, WriteFile
from paracrine.errors import PlanError
from paracrine.factkey import FactKey
from paracrine.facts import files as file_facts
from paracrine.facts import pip as pip_facts
from paracrine.operation import Changes, operation
from paracrine.operations import files
from paracrine.operations._pep440 import Requirement, parse_requirement
from paracrine.operations.server import Name
from paracrine.plan import OpContext
from paracrine.predict import PATH_FACTS, Effect, fact_named, path_effects
from paracrine.validate import AbsPath, Converter, LocalPath, OneLine

PIP_OPTIONS = ("--disable-pip-version-check", "--no-input")
#: Requirement file options that name other files or editable sources: what they ask for cannot be checked.
UNCHECKABLE_OPTIONS = ("-r", "--requirement", "-c", "--constraint", "-e", "--editable")


def _requirement(value: Any) -> Any:
    if isinstance(value, str):
        parse_requirement(value)
    return value


#: A requirement: a distribution name, optional extras and version clauses (``"flask>=2,<3"``).
RequirementText = Annotated[str, Converter(_requirement, "a requirement such as 'flask' or 'flask==3.0.0'")]


def _links(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


#: One location or a list of them (``--find-links``).
Links = Annotated[list[str], Converter(_links, "a directory or URL, or a list of them")]


def _python_effects(python: str) -> list[Effect]:
    """Every ``pip.*`` fact about ``python``'s distributions is unknown (a virtualenv made or rebuilt)."""

    def match(key: FactKey) -> bool:
        return key.name.startswith("pip.") and key.args.get("python") == python

    return [Effect.opaque(match)]


def _inside(path: str) -> Effect:
    """What is below ``path`` is unknown (a command wrote there)."""
    prefix = path.rstrip("/") + "/"

    def match(key: FactKey) -> bool:
        other = key.args.get("path")
        return key.name in PATH_FACTS and isinstance(other, str) and other.startswith(prefix)

    return Effect.opaque(match)


# ---------------------------------------------------------------- virtualenvs


def _venv_provides(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("dir", args["path"])] if args["present"] else []


def _venv_claims(args: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [("path", args["path"], args["present"])]


@operation(provides=_venv_provides, claims=_venv_claims)
def venv(
    ctx: OpContext,
    path: AbsPath,
    *,
    python: AbsPath = "/usr/bin/python3",
    site_packages: bool = False,
    owner: Name | None = None,
    present: bool = True,
) -> Changes:
    """Ensure a Python virtualenv exists at ``path``, made by ``python -m venv``, or does not exist.

    An existing virtualenv is recognised by its ``pyvenv.cfg``. It is made again
    (``--clear``: its installed packages are gone) only when it belongs to
    another interpreter than ``python`` (both compared with symbolic links
    resolved, so a Python bug-fix upgrade changes nothing); a different
    ``site_packages`` is only rewritten in its configuration. On Debian the
    interpreter needs the ``python3-venv`` package. Operations on paths below
    ``path`` run after this one.

    Args:
        path: the virtualenv's directory.
        python: the interpreter it is made with.
        site_packages: give it access to the interpreter's system site-packages.
        owner: the user who owns it: the directory is made for them and ``venv``
            runs as them (``pip.packages`` then runs pip as them too).
        present: False to remove the virtualenv (a directory without
            ``pyvenv.cfg`` is left alone).

    Example:
        pip.venv("/srv/app/venv", python="/usr/bin/python3", owner="app")
    """
    info, config, interpreter = ctx.facts(
        (file_facts.path_info, {"path": path}),
        (pip_facts.venv, {"path": path}),
        (pip_facts.interpreter, {"python": python}),
    )
    if info is not None and info["kind"] != "directory":
        raise files._exists("path", info, hint="pip.venv makes a directory there; remove it first")
    if info is None:
        config = None  # removed earlier in the run, say: what pyvenv.cfg said no longer counts
    if not present:
        if config is not None:
            yield files._removal(path, True, False)
        return
    wanted = interpreter["executable"] if interpreter else None
    flags = ["--system-site-packages"] if site_packages else []
    if config is not None and wanted and config["executable"] not in (None, wanted):
        flags.insert(0, "--clear")  # another interpreter: made again (the plan shows --clear)
    elif config is not None and config["system_site_packages"] != site_packages:
        flags.insert(0, "--without-pip")  # rewrites pyvenv.cfg, keeps the packages
    elif config is not None:
        return
    user = owner if owner not in (None, "root", ctx.user) else None
    if owner is not None and info is None:
        yield MakeDirectory(path, None, owner, None)
    new = {
        "home": None,
        "version": interpreter["version"] if interpreter else None,
        "executable": wanted or (config or {}).get("executable"),
        "system_site_packages": site_packages,
    }
    effects = [
        *_python_effects(posixpath.join(path, "bin", "python")),
        _inside(path),
        Effect.set(fact_named("pip.venv", path=path), new),
    ]
    if info is None and owner is None:
        effects += path_effects.directory(path, None, None, None)
    argv = (python, "-m", "venv", *flags, path)
    yield RunCommand(argv, cwd="/", user=user, predicted=tuple(effects))


# ---------------------------------------------------------------- packages


def _requirement_lines(lines: list[str], source: str) -> list[Requirement]:
    """The requirements of a requirements file; PlanError for a line that cannot be checked."""
    found: list[Requirement] = []
    number, logical = 0, ""
    for index, raw in enumerate(lines, 1):
        if not logical:
            number = index
        if raw.endswith("\\"):
            logical += raw[:-1]
            continue
        text = _without_comment(logical + raw).strip()
        logical = ""
        if not text:
            continue
        where = f"{source}, line {number}"
        if text.startswith("-"):
            option = text.split()[0].split("=")[0]
            if option in UNCHECKABLE_OPTIONS:
                raise PlanError(
                    f"{where}: {option} cannot be checked for what it installs",
                    hint="list the requirements in the file itself, or install with server.shell",
                )
            continue  # index and install options: they change how, not what
        text = " ".join(word for word in text.split() if not word.startswith("--hash"))
        try:
            found.append(parse_requirement(text))
        except ValueError as exc:
            raise PlanError(f"{where}: {exc}", hint="use plain requirements such as 'flask>=2,<3'") from None
    return found


def _without_comment(line: str) -> str:
    """A requirements file line without its comment ("#" at the start or after whitespace)."""
    for index, char in enumerate(line):
        if char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def _shown(path: str | None) -> str:
    """A controller path as messages show it: relative to the current directory when below it."""
    relative = os.path.relpath(path or "")
    return relative if not relative.startswith("..") else path or ""


def _read_local(ctx: OpContext, src: str) -> tuple[LocalFile, list[Requirement]]:
    """A requirements file on the controller and its requirements (read once per call)."""
    source = files._local_file(src)
    text: str = ctx.once("requirements", lambda: source.read().decode("utf-8"))
    return source, _requirement_lines(text.splitlines(), _shown(src))


def _packages_effect(python: str, change: Callable[[dict[str, Any]], None]) -> Effect:
    def update(old: Any) -> Any:
        new: dict[str, Any] = copy.deepcopy(old) if isinstance(old, dict) else {}
        change(new)
        return new

    return Effect.updating(fact_named("pip.packages", python=python), update)


def _outdated_effect(python: str, names: list[str]) -> Effect:
    def update(old: Any) -> Any:
        return {k: v for k, v in old.items() if k not in names} if isinstance(old, dict) else old

    return Effect.updating(fact_named("pip.outdated", python=python), update)


class _Planner:
    """What one ``pip.packages`` call needs done, from the installed and the outdated distributions."""

    def __init__(self, installed: dict[str, str | None], outdated: dict[str, str] | None) -> None:
        self.installed = installed
        self.outdated = outdated
        self.versions: dict[str, str | None] = {}  # name -> version after the install (None: not known)

    def newer(self, req: Requirement) -> str | None:
        """With ``latest=True``: the newer version in the index of an unversioned requirement, else None."""
        if self.outdated is None or req.specifiers:
            return None
        return self.outdated.get(req.key)

    def needs(self, req: Requirement) -> bool:
        """Whether ``req`` is missing, unsatisfied or outdated; records its version after the install."""
        newer = self.newer(req)
        if newer is None and req.key in self.installed and req.satisfied_by(self.installed[req.key]):
            return False
        self.versions[req.key] = newer or req.pinned
        return True

    def installing(self, reqs: list[Requirement]) -> bool:
        """Whether any of ``reqs`` is needed (a whole requirements file is installed when one is)."""
        needed = [r for r in reqs if self.needs(r)]
        for req in reqs if needed else []:
            self.versions.setdefault(req.key, self.installed.get(req.key))
        return bool(needed)


def _packages_needs(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("dir", args["venv"])] if args["venv"] else []


@operation(needs=_packages_needs)
def packages(
    ctx: OpContext,
    packages: Sequence[RequirementText] = (),
    *,
    venv: AbsPath | None = None,
    python: AbsPath | None = None,
    requirements: LocalPath | None = None,
    host_requirements: AbsPath | None = None,
    present: bool = True,
    latest: bool = False,
    index_url: OneLine | None = None,
    find_links: Links | None = None,
    no_index: bool = False,
    extra_args: Sequence[str] = (),
) -> Changes:
    """Ensure Python distributions are installed (at versions that satisfy their requirements), or are not.

    Requirements are PEP 508 names with extras and version clauses
    (``"flask==3.0.0"``, ``"requests>=2.28,<3"``); an installed version that
    does not satisfy them is replaced. Only what is missing, unsatisfied or
    (``latest=True``) outdated goes to one ``python -m pip install``, so a host
    already right runs nothing. pip runs as the owner of ``venv``.

    Requirements files (``requirements`` on the controller; ``host_requirements``
    on the host) are read when planning: when one of their requirements is not
    satisfied, pip installs the file (one on the controller is streamed to a
    file in ``/tmp`` for pip, and removed after).
    Index and hash options in them are passed on; ``-r``/``-c``/``-e`` lines,
    URLs and environment markers are refused, as what they install cannot be
    checked.

    Args:
        packages: requirements, e.g. ``["flask==3.0.0", "gunicorn"]``; names only with ``present=False``.
        venv: the virtualenv to install into (its ``bin/python``; see ``pip.venv``).
        python: the interpreter to install for, without ``venv`` (default ``/usr/bin/python3``;
            Debian's refuses unless ``extra_args=["--break-system-packages"]``).
        requirements: a requirements file on the controller, relative to the deploy file.
        host_requirements: a requirements file on the host (e.g. in a checkout).
        present: False to uninstall the named distributions (``pip uninstall``; not their dependencies).
        latest: upgrade requirements without a version clause when the index has a newer
            version (asks the index on every run: ``pip list --outdated``).
        index_url: the package index (``--index-url``).
        find_links: directories or URLs holding distributions (``--find-links``).
        no_index: use no index, only ``find_links`` (``--no-index``).
        extra_args: more ``pip install`` options, e.g. ``["--only-binary=:all:"]``.

    Example:
        pip.packages(["flask==3.0.0", "gunicorn"], venv="/srv/app/venv", requirements="requirements.txt")
    """
    if venv is not None and python is not None:
        raise PlanError("pass venv= or python=, not both", hint="venv= uses the virtualenv's bin/python")
    interpreter = posixpath.join(venv, "bin", "python") if venv else python or "/usr/bin/python3"
    links = list(find_links or [])
    index = {"index_url": index_url, "find_links": links or None, "no_index": no_index}
    found = _gather(ctx, interpreter, venv, host_requirements, index if latest and present else None)
    local, from_local = _read_local(ctx, requirements) if requirements is not None else (None, [])
    files_reqs = (from_local, _requirement_lines(found.get("lines") or [], host_requirements or ""))
    installed = found["installed"] or {}
    owner = (found.get("venv") or {}).get("owner")
    user = owner if ctx.user is None and owner not in (None, "root") else None
    wanted = [parse_requirement(p) for p in packages]
    if not present:
        yield from _uninstall(interpreter, [*wanted, *files_reqs[0], *files_reqs[1]], installed, user)
        return
    plan = _Planner(installed, found.get("outdated"))
    todo = [r.text for r in wanted if plan.needs(r)]
    use_local, use_host = plan.installing(files_reqs[0]), plan.installing(files_reqs[1])
    if not (todo or use_local or use_host):
        return
    argv = [interpreter, "-m", "pip", "install", *PIP_OPTIONS, *(["--upgrade"] if latest else [])]
    argv += [*pip_facts.index_options(index_url, links, no_index), *extra_args]
    upload = f"/tmp/paracrine-requirements-{local.sha256[:16]}.txt" if local is not None and use_local else None
    argv += ["-r", upload] if upload else []
    argv += ["-r", host_requirements] if use_host and host_requirements else []
    versions = dict(plan.versions)
    effects = (
        _packages_effect(interpreter, lambda new: new.update(versions)),
        _outdated_effect(interpreter, list(versions)),
    )
    if upload:  # streamed to the host, readable by the venv's owner, removed once pip read it
        yield WriteFile(upload, source=local, mode=0o644)
    yield RunCommand((*argv, *todo), user=user, cwd="/", predicted=effects)
    if upload:
        yield RemovePath(upload)


def _gather(
    ctx: OpContext, python: str, venv: str | None, host_requirements: str | None, index: dict[str, Any] | None
) -> dict[str, Any]:
    """Every fact ``pip.packages`` reads, in one round: installed, venv (its owner), lines, outdated."""
    requests: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
        "installed": (pip_facts.packages, {"python": python})
    }
    if venv is not None:
        requests["venv"] = (file_facts.path_info, {"path": venv})
    if host_requirements is not None:
        requests["lines"] = (file_facts.lines, {"path": host_requirements})
    if index is not None:
        requests["outdated"] = (pip_facts.outdated, {"python": python, **index})
    found = dict(zip(requests, ctx.facts(*requests.values()), strict=True))
    if host_requirements is not None and found["lines"] is None:
        raise PlanError(
            f"host_requirements {host_requirements} does not exist", hint="create it first, or fix the path"
        )
    return found


def _uninstall(python: str, reqs: list[Requirement], installed: dict[str, Any], user: str | None) -> Changes:
    versioned = [r.text for r in reqs if r.specifiers]
    if versioned:
        raise PlanError(
            f"present=False takes names without versions, got {', '.join(repr(t) for t in versioned)}",
            hint="remove the version clauses",
        )
    names = list(dict.fromkeys(r.key for r in reqs if r.key in installed))
    if not names:
        return

    def remove(new: dict[str, Any]) -> None:
        for name in names:
            new.pop(name, None)

    effects = (_packages_effect(python, remove), _outdated_effect(python, names))
    argv = (python, "-m", "pip", "uninstall", "--yes", *PIP_OPTIONS, *names)
    yield RunCommand(argv, user=user, cwd="/", predicted=effects)
