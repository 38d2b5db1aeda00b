"""Operations on files, directories, links, lines and templates (mirrors ``paracrine.facts.files``).

Each operation asks for every fact it needs in one round (``ctx.facts``) and
yields only the difference between what is at the path and what is wanted:
nothing when the host is already right. Links are never followed: an operation
on a path acts on the path itself.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from typing import Any

from paracrine.changes import Change, LocalFile, MakeDirectory, MakeLink, RemovePath, SetAttributes, WriteFile
from paracrine.changes.remove import is_protected
from paracrine.errors import FactError, LocalFileError, PlanError
from paracrine.facts import files as file_facts
from paracrine.operation import Changes, operation
from paracrine.operations import _template
from paracrine.plan import OpContext
from paracrine.validate import AbsPath, LocalPath, Mode, OneLine, Regex

FORCE_HINT = "pass force=True to replace it"


# ---------------------------------------------------------------- shared helpers


def _what(info: Mapping[str, Any]) -> str:
    """``a regular file``, ``a symbolic link to /x``, ... for error messages."""
    kind = info["kind"]
    if kind == "link":
        return f"a symbolic link to {info['target']}"
    names = {"file": "a regular file", "directory": "a directory"}
    return names.get(kind, "a special file (device, socket or FIFO)")


def _exists(arg: str, info: Mapping[str, Any], hint: str = FORCE_HINT) -> PlanError:
    return PlanError(f"{arg} exists and is {_what(info)}", hint=hint)


def _same_id(wanted: str, name: str | None, number: int | None) -> bool:
    """Whether an owner/group given as a name or as digits is the one in a fact."""
    return wanted == name or (wanted.isdigit() and number is not None and int(wanted) == number)


def _attributes(
    path: str, info: Mapping[str, Any], mode: int | None, owner: str | None, group: str | None
) -> list[Change]:
    """A SetAttributes of only the attributes that differ (none if all are right)."""
    new_mode = mode if mode is not None and mode != info["mode"] else None
    new_owner = owner if owner is not None and not _same_id(owner, info["owner"], info["uid"]) else None
    new_group = group if group is not None and not _same_id(group, info["group"], info["gid"]) else None
    if new_mode is None and new_owner is None and new_group is None:
        return []
    return [SetAttributes(path, new_mode, new_owner, new_group)]


def _removal(path: str, recursive: bool, force: bool) -> RemovePath:
    """A RemovePath, refusing "/" and the system's top-level directories unless ``force``."""
    if is_protected(path) and not force:
        raise PlanError(f"refusing to remove {path}, a system directory", hint="pass force=True if you really mean it")
    return RemovePath(path, recursive=recursive, force=force)


def _ensure_file(
    arg: str,
    path: str,
    facts: list[Any],
    data: bytes | LocalFile | None,
    attrs: tuple[int | None, str | None, str | None],
    force: bool,
) -> Changes:
    """Make ``path`` a regular file with ``data`` (None: keep its content) and attributes ``attrs``.

    ``facts`` are the path's [path_info, sha256]. ``data`` may be a controller
    file (streamed, never read whole). A rewritten file keeps the attributes it
    had unless others are asked for.
    """
    info, digest = facts
    mode, owner, group = attrs
    if info is not None and info["kind"] != "file":
        if not force:
            raise _exists(arg, info)
        if info["kind"] == "directory":
            yield _removal(path, True, force)
        info = None  # a write replaces a link or special file atomically
    content = {"source": data} if isinstance(data, LocalFile) else {"data": b"" if data is None else data}
    if info is None:
        yield WriteFile(path, mode=mode, owner=owner, group=group, **content)
    elif data is not None and digest != _sha256(data):
        keep_mode = info["mode"] if mode is None else mode
        yield WriteFile(path, mode=keep_mode, owner=owner or info["owner"], group=group or info["group"], **content)
    else:
        yield from _attributes(path, info, mode, owner, group)


def _sha256(data: bytes | LocalFile) -> str:
    return data.sha256 if isinstance(data, LocalFile) else hashlib.sha256(data).hexdigest()


def _file_facts(ctx: OpContext, path: str) -> list[Any]:
    """[path_info, sha256] of ``path``, in one round."""
    return ctx.facts((file_facts.path_info, {"path": path}), (file_facts.sha256, {"path": path}))


def _local_file(src: str) -> LocalFile:
    """A controller-side file (made absolute when the operation was called), hashed but not held in memory."""
    path = os.path.join(os.getcwd(), src)
    try:
        if os.path.isdir(path):
            raise IsADirectoryError(path)
        return LocalFile.of(path)
    except FileNotFoundError:
        problem = "does not exist"
    except IsADirectoryError:
        problem = "is a directory"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror})"
    hint = "relative paths are relative to the deploy file's directory"
    shown = os.path.relpath(path)
    raise LocalFileError(f"local file {shown if not shown.startswith('..') else path!r} {problem}", hint=hint)


# ---------------------------------------------------------------- operations


def _path_claim(args: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [("path", args["path"], args["present"])]


@operation(claims=_path_claim)
def file(
    ctx: OpContext,
    path: AbsPath,
    *,
    present: bool = True,
    content: str | bytes | None = None,
    mode: Mode | None = None,
    owner: str | None = None,
    group: str | None = None,
    force: bool = False,
) -> Changes:
    """Ensure a regular file exists with the given content and attributes, or does not exist.

    Without ``content`` an existing file keeps its content and a missing one is
    created empty. A directory, link or special file at ``path`` is an error
    unless ``force=True`` (then it is replaced; with ``present=False``, removed).

    Args:
        path: absolute path of the file.
        present: False to remove the file.
        content: the whole content (str is written as UTF-8).
        mode: permission bits, e.g. ``0o644`` or ``"0644"``.
        owner: user name (or uid as digits).
        group: group name (or gid as digits).
        force: replace (or remove) whatever else is at ``path``.

    Example:
        files.file("/etc/motd", content="Managed by Paracrine\\n", mode=0o644, owner="root")
    """
    if not present:
        (info,) = ctx.facts((file_facts.path_info, {"path": path}))
        if info is not None:
            if info["kind"] == "directory" and not force:
                raise _exists("path", info)
            yield _removal(path, info["kind"] == "directory", force)
        return
    data = content.encode("utf-8") if isinstance(content, str) else content
    yield from _ensure_file("path", path, _file_facts(ctx, path), data, (mode, owner, group), force)


def _directory_provides(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("dir", args["path"])] if args["present"] else []


@operation(provides=_directory_provides, claims=_path_claim)
def directory(
    ctx: OpContext,
    path: AbsPath,
    *,
    present: bool = True,
    mode: Mode | None = None,
    owner: str | None = None,
    group: str | None = None,
    recursive: bool = False,
    force: bool = False,
) -> Changes:
    """Ensure a directory exists with the given attributes, or does not exist.

    Missing parents are created. Anything else at ``path`` is an error unless
    ``force=True``. Operations on paths below it run after this one.

    Args:
        path: absolute path of the directory.
        present: False to remove the directory.
        mode: permission bits, e.g. ``0o755`` or ``"0755"``.
        owner: user name (or uid as digits).
        group: group name (or gid as digits).
        recursive: with ``present=False``, remove a non-empty directory with its contents.
        force: replace (or remove) a file or link at ``path``.

    Example:
        files.directory("/srv/app", mode=0o750, owner="app", group="app")
    """
    if not present:
        info, names = ctx.facts((file_facts.path_info, {"path": path}), (file_facts.listing, {"path": path}))
        if info is None:
            return
        if info["kind"] != "directory" and not force:
            raise _exists("path", info)
        if names and not recursive:
            count = f"{len(names)} entr{'y' if len(names) == 1 else 'ies'}"
            raise PlanError(
                f"directory is not empty ({count})", hint="pass recursive=True to remove it with its contents"
            )
        yield _removal(path, recursive, force)
        return
    (info,) = ctx.facts((file_facts.path_info, {"path": path}))
    if info is not None and info["kind"] != "directory":
        if not force:
            raise _exists("path", info)
        yield _removal(path, False, force)
        info = None
    if info is None:
        yield MakeDirectory(path, mode, owner, group)
    else:
        yield from _attributes(path, info, mode, owner, group)


@operation(claims=_path_claim)
def link(ctx: OpContext, path: AbsPath, target: str, *, present: bool = True, force: bool = False) -> Changes:
    """Ensure ``path`` is a symbolic link to ``target``, or is not a link.

    A link pointing elsewhere is replaced atomically. A file, directory or
    special file at ``path`` is an error unless ``force=True``.

    Args:
        path: absolute path of the link.
        target: what the link points to (relative targets are relative to the link's directory).
        present: False to remove the link.
        force: replace (or remove) whatever else is at ``path``.

    Example:
        files.link("/etc/nginx/sites-enabled/app", "/etc/nginx/sites-available/app")
    """
    (info,) = ctx.facts((file_facts.path_info, {"path": path}))
    is_link = info is not None and info["kind"] == "link"
    if info is not None and not is_link and not force:
        raise _exists("path", info)
    if not present:
        if info is not None:
            yield _removal(path, info["kind"] == "directory", force)
        return
    if is_link and info["target"] == target:
        return
    if info is not None and info["kind"] == "directory":
        yield _removal(path, True, force)
    yield MakeLink(path, target)


@operation
def put(
    ctx: OpContext,
    src: LocalPath,
    dest: AbsPath,
    *,
    mode: Mode | None = None,
    owner: str | None = None,
    group: str | None = None,
    force: bool = False,
) -> Changes:
    """Upload a local file to ``dest`` when its content differs; set its attributes.

    Args:
        src: path of the file on the controller, relative to the deploy file's directory.
        dest: absolute path on the host.
        mode: permission bits (default: keep those of an existing file, else 0o644).
        owner: user name (or uid as digits).
        group: group name (or gid as digits).
        force: replace a directory, link or special file at ``dest``.

    Example:
        files.put("files/logrotate.conf", "/etc/logrotate.d/app", mode=0o644)
    """
    data = _local_file(src)
    yield from _ensure_file("dest", dest, _file_facts(ctx, dest), data, (mode, owner, group), force)


@operation
def template(
    ctx: OpContext,
    src: LocalPath,
    dest: AbsPath,
    *,
    mode: Mode | None = None,
    owner: str | None = None,
    group: str | None = None,
    variables: Mapping[str, Any] | None = None,
    force: bool = False,
    **extra: Any,
) -> Changes:
    """Render a local Jinja2 template for this host and upload it when the result differs.

    The template sees every host data key at the top level, ``host`` (``.name``,
    ``.data``, ``.groups``), then ``variables``, then the extra keyword
    arguments (later ones win). An undefined variable is an error naming the
    template line. Includes are looked up beside the template.

    Args:
        src: path of the template on the controller, relative to the deploy file's directory.
        dest: absolute path on the host.
        mode: permission bits (default: keep those of an existing file, else 0o644).
        owner: user name (or uid as digits).
        group: group name (or gid as digits).
        variables: more names for the template.
        force: replace a directory, link or special file at ``dest``.
        **extra: more names for the template, as keyword arguments.

    Example:
        files.template("templates/site.j2", "/etc/nginx/sites-enabled/app", port=host.data.port)
    """
    values: dict[str, Any] = dict(ctx.host.data)
    values["host"] = ctx.host
    values.update(variables or {})
    values.update(extra)
    path = os.path.join(os.getcwd(), src)
    if not os.path.isfile(path):
        _local_file(src)  # raises the same error as files.put
    data = ctx.once("rendered", lambda: _template.render(path, values).encode("utf-8"))
    yield from _ensure_file("dest", dest, _file_facts(ctx, dest), data, (mode, owner, group), force)


def _edited(lines: list[str], line: str, present: bool, pattern: re.Pattern[str] | None) -> list[str]:
    """``lines`` with ``line`` present exactly once (at the first hit) or absent."""

    def hit(text: str) -> bool:
        return text == line or (pattern is not None and pattern.search(text) is not None)

    if not present:
        return [text for text in lines if not hit(text)]
    result, placed = [], False
    for text in lines:
        if not hit(text):
            result.append(text)
        elif not placed:
            result.append(line)
            placed = True
    if not placed:
        result.append(line)
    return result


@operation
def line(
    ctx: OpContext,
    path: AbsPath,
    line: OneLine,
    *,
    present: bool = True,
    match: Regex | None = None,
    create: bool = False,
) -> Changes:
    """Ensure a whole line is in a text file exactly once, or not at all.

    Without ``match``, lines equal to ``line`` count. With ``match`` (a regular
    expression searched in each line), matching lines count too: the first one
    is replaced by ``line`` and the others are removed; if none matches, ``line``
    is appended. With ``present=False`` every line that counts is removed. The
    file is rewritten whole, keeping its attributes, with "\\n" after every line.

    Args:
        path: absolute path of a regular file.
        line: the line, without a newline.
        present: False to remove the line.
        match: a regular expression for the lines to replace (or remove).
        create: create a missing file (otherwise a missing file is an error).

    Example:
        files.line("/etc/ssh/sshd_config", "PermitRootLogin no", match=r"^#?\\s*PermitRootLogin\\b")
    """
    try:
        info, lines = ctx.facts((file_facts.path_info, {"path": path}), (file_facts.lines, {"path": path}))
    except FactError:  # files.lines refuses what is not a regular file; say what is there instead
        info, lines = ctx.fact(file_facts.path_info, path=path), None
        if info is None or info["kind"] == "file":
            raise
    if info is not None and info["kind"] != "file":
        raise _exists("path", info, hint="files.line edits regular files only")
    if info is None:
        if present and not create:
            raise PlanError("path does not exist", hint="pass create=True to create it")
        if present:
            yield WriteFile(path, (line + "\n").encode("utf-8"))
        return
    new = _edited(lines, line, present, re.compile(match) if match is not None else None)
    if new != lines:
        data = "".join(text + "\n" for text in new).encode("utf-8", "surrogateescape")
        yield WriteFile(path, data, info["mode"], info["owner"], info["group"])
