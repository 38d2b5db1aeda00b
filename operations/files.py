"""Operations on files, directories, links, lines and templates (mirrors ``paracrine.facts.files``).

Each operation asks for every fact it needs in one round (``ctx.facts``) and
yields only the difference between what is at the path and what is wanted:
nothing when the host is already right. Links are never followed: an operation
on a path acts on the path itself.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import operator
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal

from paracrine.changes import (
    Change,
    DownloadFile,
    ExtractArchive,
    LocalFile,
    MakeDirectory,
    MakeLink,
    RemovePath,
    SetAttributes,
    WriteFile,
)
from paracrine.changes.remove import is_protected
from paracrine.errors import FactError, LocalFileError, PlanError
from paracrine.facts import files as file_facts
from paracrine.operation import Changes, operation
from paracrine.operations import _template, _text, _tree
from paracrine.plan import OpContext
from paracrine.validate import AbsPath, Converter, LocalPath, Mode, OneLine, Regex

FORCE_HINT = "pass force=True to replace it"
LOCAL_HINT = "relative paths are relative to the deploy file's directory"


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


def _attributes(
    path: str, info: Mapping[str, Any], mode: int | None, owner: str | None, group: str | None
) -> list[Change]:
    """A SetAttributes of only the attributes that differ (none if all are right)."""
    diff = _tree.differing(info, mode, owner, group)
    return [] if diff is None else [SetAttributes(path, *diff)]


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
    raise LocalFileError(f"local file {_shown_local(path)!r} {problem}", hint=LOCAL_HINT)


def _shown_local(path: str) -> str:
    """A controller path as the user knows it: relative to the current directory when inside it."""
    shown = os.path.relpath(path)
    return shown if not shown.startswith("..") else path


def _ensure_dir(
    arg: str,
    path: str,
    info: Mapping[str, Any] | None,
    attrs: tuple[int | None, str | None, str | None],
    force: bool | None,
) -> list[Change]:
    """Make ``path`` a directory with ``attrs`` (``info``: its path_info); ``force`` replaces a non-directory.

    ``force=None``: the operation has no ``force`` option (the error says to remove what is there).
    """
    if info is not None and info["kind"] != "directory":
        if not force:
            raise _exists(arg, info, FORCE_HINT if force is not None else "remove it first")
        return [_removal(path, False, force), MakeDirectory(path, *attrs)]
    if info is None:
        return [MakeDirectory(path, *attrs)]
    return _attributes(path, info, *attrs)


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
    yield from _ensure_dir("path", path, info, (mode, owner, group), force)


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


def _put_provides(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("dir", args["dest"])] if isinstance(args["src"], str) and os.path.isdir(args["src"]) else []


@operation(provides=_put_provides)
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
    """Upload a local file or directory to ``dest`` when its content differs.

    A local directory is uploaded with everything in it, as ``files.sync``
    without ``delete`` does: ``dest`` is the directory itself (its contents are
    those of ``src``, whether or not ``src`` ends with "/"), only files that
    differ are sent, and what else is in ``dest`` stays. Files get ``mode`` (default:
    their local modes); new directories get 0755 and existing ones keep theirs.

    Args:
        src: path of the file (or directory) on the controller, relative to the deploy file's directory.
        dest: absolute path on the host.
        mode: permission bits (default: keep those of an existing file, else 0o644; for a
            directory's files: their local ones).
        owner: user name (or uid as digits).
        group: group name (or gid as digits).
        force: replace a directory, link or special file at ``dest`` (a non-directory, for a directory).

    Example:
        files.put("files/logrotate.conf", "/etc/logrotate.d/app", mode=0o644)
    """
    if os.path.isdir(os.path.join(os.getcwd(), src)):
        yield from _sync(ctx, src, dest, [], False, (mode, False, owner, group), force)
        return
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


# ---------------------------------------------------------------- text files


def _text_facts(ctx: OpContext, path: str, op: str) -> tuple[Mapping[str, Any] | None, list[str] | None]:
    """[path_info, lines] of a text file, in one round; anything but a regular file is an error naming it."""
    try:
        info, lines = ctx.facts((file_facts.path_info, {"path": path}), (file_facts.lines, {"path": path}))
    except FactError:  # files.lines refuses what is not a regular file; say what is there instead
        info, lines = ctx.fact(file_facts.path_info, path=path), None
        if info is None or info["kind"] == "file":
            raise
    if info is not None and info["kind"] != "file":
        raise _exists("path", info, hint=f"{op} edits regular files only")
    return info, lines


def _rewrite(path: str, info: Mapping[str, Any], data: bytes, validate: Sequence[str] | None = None) -> WriteFile:
    """The write of new content to an existing file, keeping its attributes (checked by ``validate`` first)."""
    check = tuple(validate) if validate else None
    return WriteFile(path, data, info["mode"], info["owner"], info["group"], validate=check)


def _validator(value: Any) -> Any:
    if isinstance(value, list | tuple) and not any("{}" in str(arg) for arg in value):
        raise ValueError(f"{value!r} has no '{{}}' where the new file's path goes")
    return value


#: A command checking a file before it is moved in place: an argument list with ``{}`` for the file's path.
Validator = Annotated[list[str], Converter(_validator, "an argument list with {} for the file")]


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
    info, lines = _text_facts(ctx, path, "files.line")
    if info is None or lines is None:
        if present and not create:
            raise PlanError("path does not exist", hint="pass create=True to create it")
        if present:
            yield WriteFile(path, _text.encode([line]))
        return
    new = _text.with_line(lines, line, present, re.compile(match) if match is not None else None)
    if new != lines:
        yield _rewrite(path, info, _text.encode(new))


DEFAULT_MARKER = "# {mark} MANAGED BY PARACRINE"


def _marker(value: Any) -> Any:
    if isinstance(value, str) and (_text.MARK not in value or "\n" in value or "\r" in value):
        raise ValueError(f"{value!r} is not a one-line marker with {_text.MARK} in it")
    return value


#: A one-line block marker; ``{mark}`` in it becomes ``BEGIN`` and ``END``.
Marker = Annotated[str, Converter(_marker, "a one-line marker containing {mark}")]


@operation
def block(
    ctx: OpContext,
    path: AbsPath,
    block: str = "",
    *,
    present: bool = True,
    marker: Marker = DEFAULT_MARKER,
    insert_after: Regex | None = None,
    insert_before: Regex | None = None,
    create: bool = False,
    validate: Validator | None = None,
) -> Changes:
    """Ensure a block of lines between two marker lines is in a text file, or is not.

    Like Ansible's ``blockinfile``: the markers are ``marker`` with ``{mark}``
    replaced by ``BEGIN`` and ``END``. A block already between them is replaced
    in place; a missing one goes after the last line ``insert_after`` matches,
    before the last line ``insert_before`` matches (``"BOF"``: at the start), or
    at the end (also when nothing matches). Blocks with different markers are
    managed separately, so a file can hold several. The file is rewritten whole,
    keeping its attributes, with "\\n" after every line.

    Args:
        path: absolute path of a regular file.
        block: the lines between the markers (one trailing newline is ignored).
        present: False to remove the block with its markers.
        marker: the marker line, with ``{mark}`` where BEGIN and END go.
        insert_after: a regular expression (or ``"EOF"``) placing a new block after the last matching line.
        insert_before: a regular expression (or ``"BOF"``) placing a new block before the last matching line.
        create: create a missing file (otherwise a missing file is an error).
        validate: a command that checks the new file before it replaces the old one, as an
            argument list with ``{}`` for its path (e.g. ``["visudo", "-cf", "{}"]``).

    Example:
        files.block("/etc/hosts", "10.0.0.1 db1\\n10.0.0.2 db2", marker="# {mark} database hosts")
    """
    if insert_after is not None and insert_before is not None:
        raise PlanError("insert_after and insert_before are both given", hint="pass one of them")
    markers = (marker.replace(_text.MARK, "BEGIN"), marker.replace(_text.MARK, "END"))
    wanted = _text.block_lines(block) if present else None
    if wanted is not None and any(text.rstrip("\r") in markers for text in wanted):
        raise PlanError("the block contains one of its marker lines", hint="use another marker=")
    info, lines = _text_facts(ctx, path, "files.block")
    if info is None or lines is None:
        if wanted is not None and not create:
            raise PlanError("path does not exist", hint="pass create=True to create it")
        if wanted is not None:
            check = tuple(validate) if validate else None
            yield WriteFile(path, _text.encode([markers[0], *wanted, markers[1]]), validate=check)
        return
    try:
        new = _text.with_block(lines, markers, wanted, insert_after, insert_before)
    except ValueError as exc:
        raise PlanError(str(exc), hint="repair the markers in the file") from None
    if new != lines:
        yield _rewrite(path, info, _text.encode(new), validate)


def _count(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise ValueError(f"{value!r} is negative")
    return value


#: A count of zero or more.
Count = Annotated[int, Converter(_count, "a count of 0 or more")]
Flag = Literal["IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "ASCII"]


@operation
def replace(
    ctx: OpContext,
    path: AbsPath,
    regex: Regex,
    replacement: str,
    *,
    count: Count = 0,
    flags: Sequence[Flag] = ("MULTILINE",),
    validate: Validator | None = None,
) -> Changes:
    """Ensure text matching a regular expression in a file is replaced.

    Like Ansible's ``replace`` (and pyinfra's, without sed): Python's
    ``re.sub`` over the whole text, so ``replacement`` may use ``\\1`` or
    ``\\g<name>``; by default ``^`` and ``$`` match at every line (MULTILINE).
    Nothing changes when nothing matches. The file keeps its attributes, and a
    missing final newline is added when the file is rewritten. A regex that
    would match again after its replacement is an error: the file would change
    on every run.

    Args:
        path: absolute path of an existing regular file (at most 1 MiB).
        regex: the regular expression.
        replacement: what replaces each match.
        count: replace at most this many matches (0: all).
        flags: names of ``re`` flags: IGNORECASE, MULTILINE, DOTALL, VERBOSE, ASCII.
        validate: a command that checks the new file before it replaces the old one, as an
            argument list with ``{}`` for its path (e.g. ``["sshd", "-t", "-f", "{}"]``).

    Example:
        files.replace("/etc/default/grub", r"^GRUB_TIMEOUT=(?!2$).*$", "GRUB_TIMEOUT=2")
    """
    pattern = re.compile(regex, functools.reduce(operator.or_, (getattr(re, f) for f in flags), re.NOFLAG))
    try:
        pattern.sub(replacement, "")  # parses the replacement: a bad group reference fails here
    except (re.error, IndexError) as exc:
        raise PlanError(
            f"the replacement {replacement!r} does not fit the regex: {exc}", hint=r"refer to groups as \1 or \g<name>"
        ) from None
    info, lines = _text_facts(ctx, path, "files.replace")
    if info is None or lines is None:
        raise PlanError("path does not exist", hint="files.replace edits existing files")
    text = _text.replaced(lines, pattern, replacement, count)
    if text == "".join(line + "\n" for line in lines):
        return
    if not _text.converges(text, pattern, replacement, count):
        raise PlanError(
            "the regex matches again what it is replaced with, so the file would change on every run",
            hint="make the regex not match the result, e.g. with a negative lookahead (?!...)",
        )
    yield _rewrite(path, info, text.encode("utf-8", "surrogateescape"), validate)


# ---------------------------------------------------------------- trees of files


def _dest_provides(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("dir", args["dest"])]


def _local_dir(src: str) -> str:
    path = os.path.join(os.getcwd(), src)
    if os.path.isdir(path):
        return path
    problem = "is not a directory" if os.path.lexists(path) else "does not exist"
    raise LocalFileError(f"local directory {_shown_local(path)!r} {problem}", hint=LOCAL_HINT)


def _tree_facts(args: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """[path_info, listing, tree] of a directory (the listing lets files.tree be predicted for a new one)."""
    path = {"path": args["path"]}
    return [(file_facts.path_info, path), (file_facts.listing, path), (file_facts.tree, args)]


def _tree_args(dest: str, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> dict[str, Any]:
    """The arguments of the files.tree fact as bound (so that its predicted value matches them exactly)."""
    return {"path": dest, "exclude": list(exclude) or None, "only": only, "max_entries": file_facts.MAX_TREE_ENTRIES}


def _with_tree(changes: list[Change], args: dict[str, Any], after: Callable[[], Any]) -> list[Change]:
    """``changes``, the last one also declaring the files.tree value ``after()`` they leave."""
    if changes:
        changes[-1] = _tree.declaring(changes[-1], _tree.tree_effects(args, after()))
    return changes


def _tree_changes(
    dest: str, actions: list[_tree.Action], wanted: Mapping[str, _tree.Wanted], owner: str | None, group: str | None
) -> Iterator[Change]:
    """Ordinary changes for ``actions`` below ``dest`` (files streamed from the controller)."""
    for action in actions:
        path = _tree.join(dest, action.rel)
        if action.op == "remove":
            yield _removal(path, action.recursive, False)
        elif action.op == "attrs":
            yield SetAttributes(path, action.mode, action.owner, action.group)
        else:
            yield from _created(path, wanted[action.rel], action.old, owner, group)


def _created(
    path: str, want: _tree.Wanted, old: Mapping[str, Any] | None, owner: str | None, group: str | None
) -> Iterator[Change]:
    if want.kind == "directory":
        yield MakeDirectory(path, want.mode, owner, group)
    elif want.kind == "link":
        yield MakeLink(path, want.target or "")
        if owner is not None or group is not None:
            yield SetAttributes(path, None, owner, group)
    else:
        kept = old or {}
        yield WriteFile(
            path, mode=want.mode, owner=owner or kept.get("owner"), group=group or kept.get("group"), source=want.source
        )


def _moded(want: _tree.Wanted, mode: int | None, dir_mode: int | bool | None) -> _tree.Wanted:
    """``want`` with the mode asked for its kind (``dir_mode=False``: directories keep theirs, new ones 0755)."""
    if want.kind == "file" and mode is not None:
        return dataclasses.replace(want, mode=mode)
    if want.kind == "directory" and dir_mode is not None:
        return dataclasses.replace(want, mode=None if dir_mode is False else dir_mode)
    return want


def _sync(
    ctx: OpContext,
    src: str,
    dest: str,
    exclude: list[str],
    delete: bool,
    attrs: tuple[int | None, int | bool | None, str | None, str | None],
    force: bool,
) -> Changes:
    """Changes making ``dest`` hold the local directory ``src``; ``dir_mode=False`` leaves directory modes alone."""
    mode, dir_mode, owner, group = attrs
    local = _local_dir(src)
    scanned = ctx.once("scan", lambda: _tree.scan(local, exclude))
    wanted = {rel: _moded(want, mode, dir_mode) for rel, want in scanned.items()}
    root_mode: int | None = stat.S_IMODE(os.stat(local).st_mode) if dir_mode is None else dir_mode
    root_mode = None if dir_mode is False else root_mode
    args = _tree_args(dest, exclude)
    info, _names, tree = ctx.facts(*_tree_facts(args))
    remote = tree or {}
    changes = _ensure_dir("dest", dest, info, (root_mode, owner, group), force)
    actions = _tree.compare(remote, wanted, owner, group, delete=delete)
    changes.extend(_tree_changes(dest, actions, wanted, owner, group))
    yield from _with_tree(changes, args, lambda: _tree.predicted(remote, wanted, actions, owner, group))


@operation(provides=_dest_provides)
def sync(
    ctx: OpContext,
    src: LocalPath,
    dest: AbsPath,
    *,
    delete: bool = False,
    exclude: Sequence[str] = (),
    mode: Mode | None = None,
    dir_mode: Mode | None = None,
    owner: str | None = None,
    group: str | None = None,
    force: bool = False,
) -> Changes:
    """Ensure a host directory mirrors a local one; only files that differ are sent.

    Like ``rsync -rlp`` (and pyinfra's ``files.sync``, Ansible's
    ``synchronize``): ``dest`` becomes a copy of ``src`` itself. One fact
    (``files.tree``) gives the host's whole tree with a SHA-256 per file, so a
    host in sync costs no transfer. Files keep their local modes and links are
    copied as links with the same target (never followed, on either side);
    ``mode``/``dir_mode`` set the files'/directories' modes instead. With
    ``delete``, what is in ``dest`` but not in ``src`` is removed (never through
    a link, never outside ``dest``). Devices, sockets and FIFOs in ``src`` are an error.
    Every run hashes the files below ``dest`` on the host (like ``rsync --checksum``):
    exclude what need not be compared; at most 50000 entries.

    Args:
        src: the local directory, relative to the deploy file's directory.
        dest: absolute path of the directory on the host (created when missing).
        delete: remove what is in ``dest`` but not in ``src``.
        exclude: glob patterns left out on both sides: ``*.pyc`` matches names at any depth,
            ``/build`` or ``cache/*`` paths relative to ``src``; an excluded directory is left whole.
        mode: permission bits of every file (default: each file's local ones).
        dir_mode: permission bits of ``dest`` and every directory (default: the local ones).
        owner: user owning everything synced (or uid as digits; default: root, or kept).
        group: group of everything synced.
        force: replace a file or link at ``dest`` by the directory.

    Example:
        files.sync("site/", "/srv/www", delete=True, exclude=["*.tmp", ".git"], owner="www-data")
    """
    if delete and is_protected(dest):
        raise PlanError(f"refusing delete=True on {dest}, a system directory", hint="sync into a directory of its own")
    yield from _sync(ctx, src, dest, list(exclude), delete, (mode, dir_mode, owner, group), force)


# ---------------------------------------------------------------- downloads and archives


def _url(value: Any) -> Any:
    if isinstance(value, str):
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "ftp") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http, https or ftp URL")
    return value


def _hex_sha256(value: Any) -> Any:
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ValueError(f"{value!r} is not a SHA-256 (64 hexadecimal digits)")
        return value.lower()
    return value


#: A URL the target can download: http, https or ftp.
URL = Annotated[str, Converter(_url, "an http, https or ftp URL")]
#: A SHA-256 digest in hexadecimal.
SHA256 = Annotated[str, Converter(_hex_sha256, "a SHA-256 in hexadecimal")]


@operation
def download(
    ctx: OpContext,
    url: URL,
    dest: AbsPath,
    *,
    sha256: SHA256 | None = None,
    mode: Mode | None = None,
    owner: str | None = None,
    group: str | None = None,
    force: bool = False,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Changes:
    """Ensure a file downloaded from a URL is at ``dest`` (the host downloads it).

    Like Ansible's ``get_url`` (pyinfra's ``files.download`` without curl or
    wget): the host fetches ``url`` with Python's urllib into a temporary file
    beside ``dest``, checks ``sha256`` if given, and renames it into place; a
    failed download or a wrong checksum leaves nothing behind. With ``sha256``,
    a file that has it is left alone and one that does not is downloaded again.
    Without it, an existing file is left alone unless ``force=True`` (then it is
    downloaded on every run, and counts as changed only when it differs).

    Args:
        url: an http, https or ftp URL (the host's proxy environment applies).
        dest: absolute path of the file on the host.
        sha256: the SHA-256 the file must have (hexadecimal).
        mode: permission bits (default: keep those of an existing file, else 0o644).
        owner: user name (or uid as digits).
        group: group name (or gid as digits).
        force: without ``sha256``, download again even though the file exists.
        headers: HTTP request headers (values are never shown).
        timeout: seconds to wait for the server.

    Example:
        files.download("https://example.org/tool-1.2.tar.gz", "/opt/tool-1.2.tar.gz", sha256="9f86d0...")
    """
    requests: list[tuple[Any, dict[str, Any]]] = [(file_facts.path_info, {"path": dest})]
    if sha256 is not None:
        requests.append((file_facts.sha256, {"path": dest}))
    info, *digest = ctx.facts(*requests)
    if info is not None and info["kind"] != "file":
        raise _exists("dest", info, hint="files.download writes regular files; remove it first")
    stale = digest[0] != sha256 if sha256 is not None else force
    if info is not None and not stale:
        yield from _attributes(dest, info, mode, owner, group)
        return
    kept = info or {}
    yield DownloadFile(
        dest,
        url,
        sha256,
        mode if mode is not None else kept.get("mode"),
        owner or kept.get("owner"),
        group or kept.get("group"),
        dict(headers) if headers else None,
        timeout,
    )


@operation(provides=_dest_provides)
def unarchive(
    ctx: OpContext,
    src: LocalPath,
    dest: AbsPath,
    *,
    creates: AbsPath | None = None,
    owner: str | None = None,
    group: str | None = None,
    strip_components: Count = 0,
) -> Changes:
    """Ensure a local tar archive is extracted into a directory on the host.

    Like Ansible's ``unarchive`` (with a controller-side ``src``): the archive
    (.tar, .tar.gz, .tar.bz2, .tar.xz) is streamed to the host and extracted
    there member by member, safely: absolute names, ``..``, links leading out of
    ``dest`` or through other links, devices and FIFOs are refused at plan time,
    nothing is written through a link on the host, and modes and owners follow
    Python's tarfile ``data`` filter (no setuid bits, owners from ``owner``/``group``).
    Each member is compared with the host (one ``files.tree`` fact of the
    archive's top-level entries), so a second run changes nothing and a changed
    or removed file is extracted again; other files in ``dest`` stay. Hard links
    become copies; modification times are not restored.

    Args:
        src: the archive on the controller, relative to the deploy file's directory.
        dest: absolute path of the directory to extract into (created when missing).
        creates: skip everything when this path exists (cheaper for huge archives: nothing is compared).
        owner: user owning what is extracted (default: the extracting user).
        group: group of what is extracted.
        strip_components: leading path components to drop from member names (like tar's option).

    Example:
        files.unarchive("dist/app-1.4.tar.gz", "/opt/app", strip_components=1, owner="app")
    """
    from paracrine.operations import _archive  # archive code is loaded by the deploys that use it

    archive = _local_file(src)
    if creates is not None and ctx.fact(file_facts.path_info, path=creates) is not None:
        return
    wanted = ctx.once("members", lambda: _archive.members(archive, strip_components))
    args = _tree_args(dest, only=sorted({rel.split("/")[0] for rel in wanted}))
    info, _names, tree = ctx.facts(*_tree_facts(args))
    remote = tree or {}
    changes = _ensure_dir("dest", dest, info, (None, owner, group) if info is None else (None, None, None), None)
    actions = _tree.compare(remote, wanted, owner, group, delete=False)
    changes += [_removal(_tree.join(dest, a.rel), a.recursive, False) for a in actions if a.op == "remove"]
    names = [a.rel for a in actions if a.op != "remove"]
    if names:
        after = _tree.predicted(remote, wanted, actions, owner, group)
        effects = [*_archive.effects(dest, names, wanted, owner, group), *_tree.tree_effects(args, after)]
        members = tuple((name, wanted[name].sha256) for name in names)
        changes.append(ExtractArchive(dest, archive, members, strip_components, owner, group, tuple(effects)))
    yield from changes
