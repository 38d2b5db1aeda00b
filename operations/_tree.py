"""Planning a directory tree on a host: what differs between the wanted entries and ``files.tree``.

Shared by ``files.sync``, ``files.put`` of a directory and ``files.unarchive``:

* :func:`scan` describes a local directory (links are not followed: they are
  wanted as links, like ``rsync -l``);
* :func:`compare` lists the :class:`Action` values that make the host's tree
  (the ``files.tree`` fact) hold the wanted entries, and :func:`predicted`
  the tree after them;
* :func:`declaring` lets an ordinary change also declare the new value of the
  ``files.tree`` fact (:func:`tree_effects`), so that planning again against the
  predicted state sees the tree as the changes leave it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, NamedTuple, TypeVar

from paracrine.changes import Change, LocalFile
from paracrine.errors import LocalFileError
from paracrine.facts.files import excluded
from paracrine.predict import Effect, fact_named

Entry = Mapping[str, Any]
C = TypeVar("C", bound=Change)
DEFAULT_MODES = {"file": 0o644, "directory": 0o755, "link": 0o777}


@dataclasses.dataclass(frozen=True)
class Wanted:
    """What one path below the root should be; ``mode=None`` keeps what is there (the default for new ones)."""

    kind: Literal["file", "directory", "link"]
    mode: int | None = None
    sha256: str | None = None
    size: int | None = None
    target: str | None = None
    source: LocalFile | None = None


class Action(NamedTuple):
    """One difference at ``rel``: ``remove`` (in the way, or unwanted), ``create`` (kind or content), ``attrs``.

    ``old`` is the entry there: for ``create``, the regular file whose content
    is replaced (its attributes are kept unless others are wanted), else None.
    For ``attrs``, only the attributes that differ are set.
    """

    op: Literal["remove", "create", "attrs"]
    rel: str
    old: Entry | None = None
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    recursive: bool = False


def same_id(wanted: str, name: str | None, number: int | None) -> bool:
    """Whether an owner/group given as a name or as digits is the one in a fact."""
    return wanted == name or (wanted.isdigit() and number is not None and int(wanted) == number)


def differing(
    info: Entry, mode: int | None, owner: str | None, group: str | None
) -> tuple[int | None, str | None, str | None] | None:
    """The wanted ``(mode, owner, group)`` that differ from ``info`` (None each where equal), or None if none."""
    new_mode = mode if mode is not None and mode != info["mode"] else None
    new_owner = owner if owner is not None and not same_id(owner, info["owner"], info["uid"]) else None
    new_group = group if group is not None and not same_id(group, info["group"], info["gid"]) else None
    if new_mode is None and new_owner is None and new_group is None:
        return None
    return new_mode, new_owner, new_group


def join(root: str, rel: str) -> str:
    """The absolute path of ``rel`` below ``root``."""
    return root.rstrip("/") + "/" + rel


def _ancestors(rel: str) -> Iterator[str]:
    parts = rel.split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])


# ---------------------------------------------------------------- the local side


def scan(src: str, exclude: Sequence[str]) -> dict[str, Wanted]:
    """The entries below the local directory ``src``, sorted, with their modes, hashes and link targets.

    Links are wanted as links with the same target (not followed, like
    ``rsync -l``); devices, sockets and FIFOs are an error.
    """
    found: dict[str, Wanted] = {}
    pending = [("", src)]
    while pending:
        prefix, directory = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                rel = prefix + entry.name
                if exclude and excluded(rel, exclude):
                    continue
                found[rel] = _wanted(entry)
                if found[rel].kind == "directory":
                    pending.append((rel + "/", entry.path))
    return dict(sorted(found.items()))


def _wanted(entry: os.DirEntry[str]) -> Wanted:
    st = entry.stat(follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        return Wanted("directory", stat.S_IMODE(st.st_mode))
    if stat.S_ISLNK(st.st_mode):
        return Wanted("link", target=os.readlink(entry.path))
    if not stat.S_ISREG(st.st_mode):
        raise LocalFileError(
            f"local file {entry.path!r} is a device, socket or FIFO", hint="exclude it (exclude=[...])"
        )
    source = LocalFile.of(entry.path)
    return Wanted("file", stat.S_IMODE(st.st_mode), source.sha256, source.size, source=source)


# ---------------------------------------------------------------- comparing


def compare(
    remote: Mapping[str, Entry], wanted: Mapping[str, Wanted], owner: str | None, group: str | None, *, delete: bool
) -> list[Action]:
    """The actions that make ``remote`` (a ``files.tree`` value) hold ``wanted``, in path order.

    With ``delete``, entries that are not wanted are removed first (the
    topmost only: a directory goes with everything below it).
    """
    actions = list(_unwanted(remote, wanted)) if delete else []
    for rel in sorted(wanted):
        actions.extend(_entry_actions(rel, wanted[rel], remote.get(rel), owner, group))
    return actions


def _unwanted(remote: Mapping[str, Entry], wanted: Mapping[str, Wanted]) -> Iterator[Action]:
    removed: set[str] = set()
    for rel in sorted(remote):
        if rel in wanted or any(a in removed for a in _ancestors(rel)):
            continue
        entry = remote[rel]
        removed.add(rel)
        yield Action("remove", rel, entry, recursive=entry["kind"] == "directory")


def _entry_actions(rel: str, want: Wanted, old: Entry | None, owner: str | None, group: str | None) -> list[Action]:
    actions = []
    if old is not None and old["kind"] != want.kind and "directory" in (old["kind"], want.kind):
        actions.append(Action("remove", rel, old, recursive=old["kind"] == "directory"))
        old = None  # a write or a link replaces anything but a directory atomically
    if old is None or old["kind"] != want.kind or (want.kind == "link" and old["target"] != want.target):
        return [*actions, Action("create", rel)]
    if want.kind == "file" and old["sha256"] != want.sha256:
        return [Action("create", rel, old)]
    diff = differing(old, want.mode if want.kind != "link" else None, owner, group)
    return [Action("attrs", rel, old, *diff)] if diff is not None else []


def predicted(
    remote: Mapping[str, Entry], wanted: Mapping[str, Wanted], actions: Sequence[Action], owner: str | None,
    group: str | None,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The ``files.tree`` value after ``actions`` (None where a value is not known, like uids of new entries)."""
    tree = {rel: dict(entry) for rel, entry in remote.items()}
    for action in actions:
        if action.op == "remove":
            prefix = action.rel + "/"
            for rel in [r for r in tree if r == action.rel or r.startswith(prefix)]:
                del tree[rel]
        elif action.op == "create":
            tree[action.rel] = _new_entry(wanted[action.rel], action.old, owner, group)
            for above in _ancestors(action.rel):  # missing parents are created (0755, the user's)
                tree.setdefault(above, _new_entry(Wanted("directory"), None, None, None))
        else:
            tree[action.rel] = _with_attrs(tree[action.rel], action.mode, action.owner, action.group)
    return dict(sorted(tree.items()))


def _new_entry(want: Wanted, old: Entry | None, owner: str | None, group: str | None) -> dict[str, Any]:
    """A created entry (``old``: the regular file whose content it replaces, keeping its attributes)."""
    mode = 0o777 if want.kind == "link" else want.mode
    if old is not None:
        kept = _with_attrs(old, mode, owner, group)
        return {**kept, "size": want.size, "sha256": want.sha256}
    return {
        "kind": want.kind,
        "mode": mode if mode is not None else DEFAULT_MODES[want.kind],
        "owner": owner,
        "group": group,
        "uid": None,
        "gid": None,
        "size": want.size,
        "sha256": want.sha256,
        "target": want.target,
    }


def _with_attrs(entry: Entry, mode: int | None, owner: str | None, group: str | None) -> dict[str, Any]:
    new = dict(entry)
    if mode is not None:
        new["mode"] = mode
    if owner is not None and not same_id(owner, entry["owner"], entry["uid"]):
        new["owner"], new["uid"] = owner, None  # the name is known, the number is not
    if group is not None and not same_id(group, entry["group"], entry["gid"]):
        new["group"], new["gid"] = group, None
    return new


# ---------------------------------------------------------------- predicted tree facts


def tree_effects(args: Mapping[str, Any], value: Any) -> list[Effect]:
    """The ``files.tree`` fact with (all) these ``args`` becomes ``value``; trees overlapping it are gathered again."""
    path: str = args["path"]
    prefix = path.rstrip("/") + "/"

    def overlapping(key: Any) -> bool:
        other = key.args.get("path") if key.name == "files.tree" else None
        if not isinstance(other, str):
            return False
        return other == path or other.startswith(prefix) or prefix.startswith(other.rstrip("/") + "/")

    return [Effect.opaque(overlapping), Effect.set(fact_named("files.tree", **args), value)]


def declaring(change: C, effects: Sequence[Effect]) -> C:
    """``change``, also declaring ``effects`` (same kind, wire form, JSON, description and apply)."""
    cls = _declaring_class(type(change))  # type: ignore[arg-type]
    values = {f.name: getattr(change, f.name) for f in dataclasses.fields(change)}
    result: C = cls(**values, also=tuple(effects))
    return result


@functools.cache
def _declaring_class(kind: type[Change]) -> type[Any]:
    def effects(self: Any) -> list[Effect]:
        return [*kind.effects(self), *self.also]

    namespace = {
        "__module__": kind.__module__,  # the target applies it with the ordinary kind's module
        "__qualname__": kind.__qualname__,
        "__annotations__": {"also": "tuple[Effect, ...]"},
        "also": dataclasses.field(default=(), compare=False, repr=False, metadata={"wire": False}),
        "effects": effects,
    }
    return dataclasses.dataclass(frozen=True)(type(kind.__name__, (kind,), namespace))
