"""Operations on Debian packages with APT (mirrors ``paracrine.facts.apt``).

Package commands are :class:`~paracrine.changes.AptGet` changes: non-interactive,
waiting for another package manager's lock, keeping locally changed
configuration files, and merged on the host so that consecutive package
operations of a run cost one ``apt-get``. Their effects on the ``apt.*``
facts are predicted (which packages are installed, at which version when it is
known), so later operations plan without a round trip. A package's maintainer
scripts may change anything else the package manager owns, so facts about
``/etc``, ``/usr``, ``/var``... (and users, services) read after an install
are gathered again once it ran; files in ``/srv``, ``/home``, ``/usr/local``
are left to the deploy.

Repositories are deb822 ``.sources`` files and keys are keyrings in
``/etc/apt/keyrings`` named by the repository's ``Signed-By`` (``apt-key`` is
deprecated and not used).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Annotated, Any

from paracrine.changes import AptGet, LocalFile, RemovePath, WriteFile
from paracrine.changes.apt import download_key, key_format
from paracrine.changes.call import CallFunction
from paracrine.errors import LocalFileError, PlanError
from paracrine.factkey import FactKey
from paracrine.facts import apt as apt_facts
from paracrine.facts import files as file_facts
from paracrine.operation import Changes, operation
from paracrine.operations import files
from paracrine.plan import OpContext
from paracrine.predict import PATH_FACTS, Effect, fact_named, path_effects
from paracrine.validate import AbsPath, Converter, LocalPath

# Debian policy 5.6.7: lowercase letters, digits, "+", "-" and "."; at least two
# characters, starting with a letter or digit. Optionally ":arch" (multi-arch) and
# "=version" (5.6.12: [epoch:]upstream[-revision], starting with a digit).
_SPEC = re.compile(r"([a-z0-9][a-z0-9+.-]+(?::[a-z0-9][a-z0-9-]*)?)(?:=([0-9][A-Za-z0-9.+~:-]*))?")


def _package_spec(value: Any) -> Any:
    if isinstance(value, str) and not _SPEC.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Debian package name (lowercase letters, digits, '+', '-', '.'; "
            "optionally :arch and =version)"
        )
    return value


#: A Debian package: ``nginx``, ``libc6:i386``, or with a version ``nginx=1.22.1-9``.
PackageName = Annotated[str, Converter(_package_spec, "a Debian package name")]

# ---------------------------------------------------------------- predicted effects

#: The apt facts the package changes predict exactly; every other fact may change with a package.
PREDICTED = ("apt.packages", "apt.candidates", "apt.residual_configs", "apt.update_age")
#: Where packages and their maintainer scripts put files (Debian policy 9.1, FHS); the rest is the admin's.
PACKAGE_TREES = (
    "/etc",
    "/usr",
    "/var",
    "/opt",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/boot",
    "/run",
)


def _package_managed(key: FactKey) -> bool:
    """Whether installing or removing packages may change fact ``key`` in a way nobody can predict."""
    if key.name in PREDICTED:
        return False
    if key.name in PATH_FACTS:
        path = key.args.get("path")
        if not isinstance(path, str) or path == "/usr/local" or path.startswith("/usr/local/"):
            return False
        return any(path == top or path.startswith(top + "/") for top in PACKAGE_TREES)
    return True


def _updating(fact: str, change: Callable[[Any], Any]) -> Effect:
    """An effect editing a copy of the previous value of ``fact``."""
    return Effect.updating(fact_named(fact), lambda old: change(copy.deepcopy(old)))


def _name(package: str) -> str:
    return package.partition("=")[0]


def _installed(installed: dict[str, Any], package: str) -> dict[str, Any] | None:
    """The apt.packages entry of ``package`` (``name`` or ``name:arch``), or None."""
    if package in installed:
        return dict(installed[package])
    name, _, arch = package.partition(":")
    entry = installed.get(name)
    if arch and entry is not None and entry.get("arch") in (arch, "all"):
        return dict(entry)
    return None


def _installed_effects(versions: dict[str, str | None], refreshed: bool) -> list[Effect]:
    """Packages ``name[:arch]`` -> version (None: unknown) are installed."""

    def packages(old: Any) -> Any:
        new = old if isinstance(old, dict) else {}
        for package, version in versions.items():
            name, _, arch = package.partition(":")
            key = package if arch and name in new and new[name].get("arch") not in (arch, "all") else name
            new[key] = {"version": version, "arch": arch or (new.get(key) or {}).get("arch")}
        return new

    def candidates(old: Any) -> Any:
        new = old if isinstance(old, dict) else {}
        for package, version in versions.items():
            entry = new.setdefault(package, {"installed": None, "candidate": None})
            entry["installed"] = version if version is not None else entry["candidate"]
        return new

    effects = [_updating("apt.packages", packages)]
    if refreshed:  # after an update nothing is known of the candidates, except that these are at theirs
        unknown = {"installed": None, "candidate": None}

        def covered(key: FactKey) -> bool:
            return key.name == "apt.candidates" and set(key.args.get("packages", ())) <= set(versions)

        effects.append(Effect(covered, value={p: dict(unknown) for p in versions}))
    else:
        effects.append(_updating("apt.candidates", candidates))
    effects.append(_updating("apt.residual_configs", lambda old: [n for n in old or [] if n not in versions]))
    return [*effects, Effect.opaque(_package_managed)]


def _removed_effects(names: list[str], purge: bool) -> list[Effect]:
    def packages(old: Any) -> Any:
        new = old if isinstance(old, dict) else {}
        for package in names:
            name, _, arch = package.partition(":")
            new.pop(package, None)
            if not arch or (new.get(name) or {}).get("arch") == arch:
                new.pop(name, None)
        return new

    def candidates(old: Any) -> Any:
        new = old if isinstance(old, dict) else {}
        for package in names:
            if package in new:
                new[package]["installed"] = None
        return new

    residual = (
        _updating("apt.residual_configs", lambda old: [n for n in old or [] if n not in names])
        if purge  # a removed package keeps its configuration files only if it has some
        else Effect.opaque(fact_named("apt.residual_configs"))
    )
    return [_updating("apt.packages", packages), _updating("apt.candidates", candidates), residual,
            Effect.opaque(_package_managed)]  # fmt: skip


def _refreshed_effects() -> list[Effect]:
    return [
        Effect.set(fact_named("apt.update_age"), 0.0),
        Effect.opaque(lambda key: key.name in ("apt.candidates", "apt.upgradable", "apt.last_update")),
    ]


def _read(ctx: OpContext, **requests: tuple[Callable[..., Any], dict[str, Any]] | None) -> dict[str, Any]:
    """The facts of ``requests`` (None: not needed), fetched in one round, by request name."""
    wanted = {k: v for k, v in requests.items() if v is not None}
    return dict(zip(wanted, ctx.facts(*wanted.values()), strict=True))


def _age_request(update: bool, cache_valid_time: int | None) -> tuple[Callable[..., Any], dict[str, Any]] | None:
    return (apt_facts.update_age, {}) if update and cache_valid_time is not None else None


def _refresh(update: bool, cache_valid_time: int | None, age: Any) -> bool:
    """Whether the lists need ``apt-get update``: asked for, and no freshness given or older than it (or stale)."""
    if not update:
        return False
    return cache_valid_time is None or age is None or age > cache_valid_time


def _update_change() -> AptGet:
    return AptGet("update", predicted=tuple(_refreshed_effects()))


# ---------------------------------------------------------------- packages


def _wanted(packages: list[str]) -> dict[str, str | None]:
    """Package ``name[:arch]`` -> pinned version or None, in order, without repeats."""
    wanted: dict[str, str | None] = {}
    for spec in packages:
        name, _, version = spec.partition("=")
        if wanted.get(name) not in (None, version or None):
            raise PlanError(f"{name} is asked for at two versions", hint="name each package once")
        wanted[name] = version or wanted.get(name)
    return wanted


def _removals(ctx: OpContext, wanted: dict[str, str | None], purge: bool) -> Changes:
    requests: list[Any] = [(apt_facts.packages, {})]
    if purge:
        requests.append((apt_facts.residual_configs, {}))
    installed, *rest = ctx.facts(*requests)
    residual = set(rest[0]) if rest else set()
    todo = []
    for name, version in wanted.items():
        entry = _installed(installed, name)
        if (entry is not None and version in (None, entry["version"])) or name in residual:
            todo.append(name)
    if todo:
        yield AptGet("purge" if purge else "remove", tuple(todo), predicted=tuple(_removed_effects(todo, purge)))


def _install_options(install_recommends: bool | None, allow_downgrades: bool) -> tuple[str, ...]:
    options = {True: ("--install-recommends",), False: ("--no-install-recommends",), None: ()}[install_recommends]
    return (*options, *(("--allow-downgrades",) if allow_downgrades else ()))


@operation
def packages(
    ctx: OpContext,
    packages: list[PackageName],
    *,
    present: bool = True,
    latest: bool = False,
    purge: bool = False,
    update: bool = False,
    cache_valid_time: int | None = None,
    install_recommends: bool | None = None,
    allow_downgrades: bool = False,
) -> Changes:
    """Ensure Debian packages are installed (at a version, or the newest), or are not installed.

    Only the packages that differ are passed to ``apt-get``, so an up-to-date
    host runs nothing; consecutive ``apt.packages`` of a run share one
    ``apt-get``. ``name=version`` installs that version (and keeps it: with
    ``latest`` too). The package lists are refreshed only when something is to
    be installed (or checked with ``latest``) and they are older than
    ``cache_valid_time``.

    Args:
        packages: package names, e.g. ``["nginx", "curl"]``; ``name:arch`` for another
            architecture, ``name=version`` for a version.
        present: False to remove the packages (``apt-get remove``; configuration files stay).
        latest: upgrade installed packages to their candidate version (``apt-cache policy``).
        purge: with ``present=False``, remove the configuration files too (also of
            packages already removed without them).
        update: run ``apt-get update`` first (when something is to be installed).
        cache_valid_time: seconds the package lists stay fresh; implies ``update``
            (also when an APT source changed since the last update).
        install_recommends: True/False to install recommended packages or not (default: APT's setting).
        allow_downgrades: allow ``name=version`` to go down to an older version.

    Example:
        apt.packages(["nginx", "curl=7.88.1-10+deb12u8"], update=True, cache_valid_time=3600)
    """
    wanted = _wanted(packages)
    if not present:
        yield from _removals(ctx, wanted, purge)
        return
    if purge:
        raise PlanError("purge=True is for removing packages", hint="pass present=False with it")
    update = update or cache_valid_time is not None
    unpinned = sorted(n for n, v in wanted.items() if v is None)
    check = latest and bool(unpinned) and not (update and cache_valid_time is None)
    facts = _read(
        ctx,
        installed=(apt_facts.packages, {}),
        age=_age_request(update, cache_valid_time),
        candidates=(apt_facts.candidates, {"packages": unpinned}) if check else None,
    )
    refresh = _refresh(update, cache_valid_time, facts.get("age"))
    versions: dict[str, str | None] = {}
    for name, version in wanted.items():
        entry = _installed(facts["installed"], name)
        if version is not None:
            if entry is None or entry["version"] != version:
                versions[name] = version
            continue
        found = facts["candidates"].get(name) if check else None
        if check and found is None:
            raise PlanError(
                f"apt knows no package {name!r}", hint="check the name, its repository (apt.repo) and pass update=True"
            )
        if entry is None:
            versions[name] = None if refresh or found is None else found["candidate"]
        elif latest and refresh:
            versions[name] = None  # the candidate is known only after the refresh
        elif latest and found is not None and found["candidate"] not in (None, found["installed"]):
            versions[name] = found["candidate"]
    if not versions:
        return
    if refresh:
        yield _update_change()
    todo = tuple(n if wanted[n] is None else f"{n}={v}" for n, v in versions.items())
    options = _install_options(install_recommends, allow_downgrades)
    yield AptGet("install", todo, options, predicted=tuple(_installed_effects(versions, refresh)))


@operation
def update(ctx: OpContext, *, cache_valid_time: int | None = None) -> Changes:
    """Refresh the package lists (``apt-get update``), unless they are fresh enough.

    Args:
        cache_valid_time: seconds the lists stay fresh (stale anyway when an APT
            source changed since); without it, the lists are refreshed on every run.

    Example:
        apt.update(cache_valid_time=3600)
    """
    facts = _read(ctx, age=_age_request(True, cache_valid_time))
    if _refresh(True, cache_valid_time, facts.get("age")):
        yield _update_change()


@operation
def upgrade(
    ctx: OpContext, *, dist: bool = False, update: bool = False, cache_valid_time: int | None = None
) -> Changes:
    """Upgrade every installed package that has a newer candidate (``apt-get upgrade``).

    Runs only when the simulation (``apt-get -s upgrade``) finds something to
    do; its result predicts the new versions. After a refresh of the lists in
    the same run the simulation is out of date, so the upgrade runs then.

    Args:
        dist: ``apt-get dist-upgrade``: also install new dependencies and remove
            packages that conflict.
        update: run ``apt-get update`` first.
        cache_valid_time: seconds the package lists stay fresh; implies ``update``.

    Example:
        apt.upgrade(dist=True, cache_valid_time=86400)
    """
    update = update or cache_valid_time is not None
    facts = _read(ctx, age=_age_request(update, cache_valid_time), plan=(apt_facts.upgradable, {"dist": dist}))
    refresh = _refresh(update, cache_valid_time, facts.get("age"))
    plan: dict[str, str | None] = facts["plan"]
    if not plan and not refresh:
        return
    done = Effect.set(fact_named("apt.upgradable", dist=dist), {})
    if refresh:
        yield _update_change()
        unknown = Effect.opaque(lambda key: key.name in ("apt.packages", "apt.candidates", "apt.residual_configs"))
        effects = [unknown, Effect.opaque(_package_managed), done]
    else:
        removed = [n for n, v in plan.items() if v is None]
        effects = [*_removed_effects(removed, False), *_installed_effects({n: v for n, v in plan.items() if v}, False)]
        effects += [Effect.opaque(fact_named("apt.upgradable", dist=not dist)), done]
    yield AptGet("dist-upgrade" if dist else "upgrade", predicted=tuple(effects))


# ---------------------------------------------------------------- local .deb files


def _unreadable(src: str, exc: OSError) -> LocalFileError:
    return LocalFileError(
        f"local file {src!r} cannot be read ({exc.strerror})",
        hint="relative paths are relative to the deploy file's directory",
    )


#: Where apt.deb puts a .deb for the time of its installation.
DEB_SPOOL = "/var/cache/paracrine/debs"


@operation
def deb(ctx: OpContext, src: LocalPath, *, present: bool = True, allow_downgrades: bool = False) -> Changes:
    """Install a ``.deb`` file from the controller with its dependencies, or remove its package.

    Nothing runs when the package is installed at the file's version. The file
    is streamed to the host, installed with ``apt-get install /path/x.deb`` and
    removed again.

    Args:
        src: the .deb file on the controller, relative to the deploy file's directory.
        present: False to remove the package the file holds.
        allow_downgrades: install the file although a newer version is installed.

    Example:
        apt.deb("dist/app_1.4.0-1_amd64.deb")
    """
    try:
        local, info = ctx.once("deb", lambda: (LocalFile.of(src), apt_facts.read_deb(src)))
    except OSError as exc:
        raise _unreadable(src, exc) from None
    except ValueError as exc:
        raise PlanError(str(exc), hint="build it with dpkg-deb --build") from None
    name = info["package"] if info["arch"] == "all" else f"{info['package']}:{info['arch']}"
    (installed,) = ctx.facts((apt_facts.packages, {}))
    entry = _installed(installed, name)
    if not present:
        if entry is not None:
            yield AptGet("remove", (info["package"],), predicted=tuple(_removed_effects([info["package"]], False)))
        return
    if entry is not None and entry["version"] == info["version"]:
        return
    remote = f"{DEB_SPOOL}/{info['package']}_{info['version'].replace(':', '%3a')}_{info['arch']}.deb"
    yield WriteFile(remote, source=local, mode=0o644)
    effects = _installed_effects({info["package"]: info["version"]}, False)
    yield AptGet("install", (remote,), _install_options(None, allow_downgrades), predicted=tuple(effects))
    yield RemovePath(remote)


# ---------------------------------------------------------------- repositories and keys

_FILE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_WORD = re.compile(r"[^\s#]+")


def _file_name(value: Any) -> Any:
    if isinstance(value, str) and (not _FILE_NAME.fullmatch(value) or value.startswith(".")):
        raise ValueError(f"{value!r} is not a file name apt reads (letters, digits, '_', '-', '.')")
    return value


def _words(value: Any) -> Any:
    """A list of words, or one string of words separated by spaces."""
    items = value.split() if isinstance(value, str) else value
    if isinstance(items, list | tuple):
        for item in items:
            if isinstance(item, str) and not _WORD.fullmatch(item):
                raise ValueError(f"{item!r} is not a single word (no spaces, '#' or line breaks)")
        return list(items)
    return value


#: A name for a file of sources.list.d or keyrings: letters, digits, ``_``, ``-``, ``.``.
FileName = Annotated[str, Converter(_file_name, "a file name (letters, digits, '_', '-', '.')")]
#: Words: a list, or a string of words separated by spaces.
Words = Annotated[list[str], Converter(_words, "a list of words (or a string of words)")]

SOURCES_DIR = "/etc/apt/sources.list.d"
KEYRINGS_DIR = "/etc/apt/keyrings"


def _repo_claim(args: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [("path", f"{SOURCES_DIR}/{args['name']}.sources", args["present"])]


def _sources_text(fields: list[tuple[str, list[str] | str | None]]) -> str:
    return "".join(f"{k}: {v if isinstance(v, str) else ' '.join(v)}\n" for k, v in fields if v)


def _check_repo(types: list[str], uris: list[str], suites: list[str], components: list[str]) -> None:
    if not types or not uris or not suites:
        raise PlanError(
            "a repository needs types, uris and suites",
            hint="e.g. uris='https://deb.example.org/debian', suites='bookworm'",
        )
    bad = [t for t in types if t not in ("deb", "deb-src")]
    if bad:
        raise PlanError(f"type {bad[0]!r} is not 'deb' or 'deb-src'")
    bad = [u for u in uris if ":" not in u]
    if bad:
        raise PlanError(f"{bad[0]!r} is not a URI", hint="e.g. https://deb.example.org/debian or file:/srv/repo")
    flat = [s for s in suites if s.endswith("/")]
    if flat and components:
        raise PlanError(f"suite {flat[0]!r} is a path: it takes no components", hint="pass components=[]")
    if not flat and not components:
        raise PlanError("a suite that is not a path ('./') needs components", hint="e.g. components='main'")


@operation(claims=_repo_claim)
def repo(
    ctx: OpContext,
    name: FileName,
    uris: Words,
    suites: Words,
    components: Words | None = None,
    *,
    signed_by: AbsPath | None = None,
    types: Words = "deb",  # type: ignore[assignment]
    architectures: Words | None = None,
    trusted: bool = False,
    enabled: bool = True,
    present: bool = True,
) -> Changes:
    """Ensure an APT source file ``/etc/apt/sources.list.d/NAME.sources`` (deb822 format), or its absence.

    A change to a source makes the package lists stale: the next
    ``apt.packages(..., update=True)`` or ``cache_valid_time=`` refreshes them.

    Args:
        name: the file's name, without ``.sources``.
        uris: the repository's URIs (a list, or one string).
        suites: e.g. ``"bookworm"``, or a path ending in ``/`` (``"./"``) for a flat repository.
        components: e.g. ``"main contrib"``; none for a flat repository.
        signed_by: the keyring that signs the repository (``apt.key`` writes one); it must exist.
        types: ``"deb"``, ``"deb-src"`` or both.
        architectures: limit the source to these architectures.
        trusted: accept the repository unsigned (``Trusted: yes``: only for local repositories).
        enabled: False to keep the file but disable it.
        present: False to remove the file.

    Example:
        apt.repo("docker", "https://download.docker.com/linux/debian", "bookworm", "stable",
                 signed_by="/etc/apt/keyrings/docker.asc")
    """
    path = f"{SOURCES_DIR}/{name}.sources"
    if not present:
        yield from files.file.changes(ctx, path, present=False)
        return
    _check_repo(types, uris, suites, components or [])
    if signed_by is not None:
        info, *_ = ctx.facts(
            (file_facts.path_info, {"path": signed_by}),
            (file_facts.path_info, {"path": path}),
            (file_facts.sha256, {"path": path}),
        )
        if info is None:
            raise PlanError(f"keyring {signed_by} does not exist", hint="add it first with apt.key(...)")
    text = _sources_text(
        [
            ("Types", types),
            ("URIs", uris),
            ("Suites", suites),
            ("Components", components),
            ("Architectures", architectures),
            ("Signed-By", signed_by),
            ("Trusted", "yes" if trusted else None),
            ("Enabled", None if enabled else "no"),
        ]
    )
    yield from files.file.changes(ctx, path, content=text, mode=0o644)


def _key_claim(args: dict[str, Any]) -> list[tuple[str, str, bool]]:
    name = args["name"]
    return [("path", f"{KEYRINGS_DIR}/{name}", args["present"])] if name.endswith((".asc", ".gpg")) else []


def _key_head(src: str | None, content: str | bytes | None) -> bytes | None:
    """The start of a key given as content or as a controller file (None for a URL)."""
    if content is not None:
        return content.encode() if isinstance(content, str) else content
    if src is None:
        return None
    try:
        with open(src, "rb") as stream:
            return stream.read(64)
    except OSError as exc:
        raise _unreadable(src, exc) from None


def _key_kind(name: str, head: bytes | None, url: str | None) -> str:
    """``asc`` or ``gpg``: from the key itself, else from the name or the URL."""
    given = name.rpartition(".")[2] if name.endswith((".asc", ".gpg")) else None
    if head is not None:
        found = key_format(head)
        if found is None:
            raise PlanError("the key is not an OpenPGP public key", hint="export it with gpg --export [--armor]")
        if given is not None and given != found:
            raise PlanError(
                f"the key is {'armored' if found == 'asc' else 'binary'}", hint=f"name it {name[:-4]}.{found}"
            )
        return found
    inferred = given or next((e for e in ("asc", "gpg") if (url or "").endswith("." + e)), None)
    if inferred is None:
        raise PlanError(
            "cannot tell whether the key at the URL is armored", hint="name it NAME.asc (armored) or NAME.gpg (binary)"
        )
    return inferred


@operation(claims=_key_claim)
def key(
    ctx: OpContext,
    name: FileName,
    *,
    src: LocalPath | None = None,
    content: str | bytes | None = None,
    url: str | None = None,
    sha256: str | None = None,
    present: bool = True,
) -> Changes:
    """Ensure an OpenPGP keyring for APT in ``/etc/apt/keyrings``, or its absence.

    The keyring is ``NAME.asc`` for an armored key, ``NAME.gpg`` for a binary one.
    Point a repository at it with ``apt.repo(..., signed_by=...)``. A key from
    a URL is downloaded by the host when the keyring is missing, or when its
    content differs from ``sha256``.

    Args:
        name: the keyring's name, e.g. ``"docker"`` (the extension follows the key) or ``"docker.asc"``.
        src: a key file on the controller (``gpg --export [--armor]``).
        content: the key itself.
        url: an http(s) URL the host downloads the key from.
        sha256: the key's SHA-256, checked after a download (and compared to decide on one).
        present: False to remove the keyring.

    Example:
        apt.key("docker", url="https://download.docker.com/linux/debian/gpg.asc")
    """
    given = [k for k, v in (("src", src), ("content", content), ("url", url)) if v is not None]
    if not present:
        names = [name] if name.endswith((".asc", ".gpg")) else [f"{name}.asc", f"{name}.gpg"]
        for each in names:
            yield from files.file.changes(ctx, f"{KEYRINGS_DIR}/{each}", present=False)
        return
    if len(given) != 1:
        raise PlanError("give the key as exactly one of src=, content= and url=")
    if url is not None and not url.startswith(("https://", "http://")):
        raise PlanError(f"{url!r} is not an http(s) URL")
    kind = _key_kind(name, _key_head(src, content), url)
    path = f"{KEYRINGS_DIR}/{name if name.endswith('.' + kind) else name + '.' + kind}"
    if src is not None:
        yield from files.put.changes(ctx, src, path, mode=0o644)
        return
    if content is not None:
        yield from files.file.changes(ctx, path, content=content, mode=0o644)
        return
    requests = [(file_facts.path_info, {"path": path}), *([(file_facts.sha256, {"path": path})] if sha256 else [])]
    info, *digest = ctx.facts(*requests)
    if info is not None and (sha256 is None or digest == [sha256.lower()]):
        return
    yield CallFunction.of(
        download_key, predicted=_downloaded(path, sha256), url=url, path=path, kind=kind, sha256=sha256
    )


def _downloaded(path: str, sha256: str | None) -> list[Effect]:
    """A file of unknown size (and of unknown content without ``sha256``) at ``path``."""
    effects = path_effects.written(path, (sha256 or "").lower(), 0, None, 0o644, "root", "root")
    effects.append(Effect.updating(fact_named("files.path_info", path=path), lambda old: {**old, "size": None}))
    if sha256 is None:
        effects.append(Effect.opaque(fact_named("files.sha256", path=path)))
    return effects
