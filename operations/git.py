"""Operations on git checkouts (mirrors ``paracrine.facts.git``).

``git.repo`` reads the checkout (:func:`paracrine.facts.git.checkout`, as its
owner) and, for a branch or tag, the commit the remote names now
(:func:`paracrine.facts.git.remote_ref`, ``git ls-remote`` as the user who
fetches), in the same round trip as every other fact: a checkout that is
already right costs no command and no extra round trip. What it yields is one
:class:`~paracrine.changes.git.GitCheckout` (plus the directory to clone into
when it must belong to ``user``), whose predicted effect is the checkout's new
state; the files inside the checkout are unknown until it ran, so operations
reading them later in the same run are planned again after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from paracrine.changes import MakeDirectory
from paracrine.changes.git import GitCheckout, short
from paracrine.errors import FactError, PlanError, did_you_mean
from paracrine.factkey import FactKey
from paracrine.facts import files as file_facts
from paracrine.facts import git as git_facts
from paracrine.facts import server as server_facts
from paracrine.operation import Changes, operation
from paracrine.operations.server import Name
from paracrine.plan import OpContext
from paracrine.predict import PATH_FACTS, Effect, fact_named, path_effects
from paracrine.validate import AbsPath, Converter

#: A full commit id (SHA-1, or SHA-256 in repositories that use it).
_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_NOT_IN_REFS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.")


def _source(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip() or value.startswith("-") or any(c in value for c in "\n\r\0"):
            raise ValueError(f"{value!r} is not a repository URL or path")
        if ":" not in value and not value.startswith("/"):
            raise ValueError(f"{value!r} is a relative path: give an absolute path or a URL")
    return value


def _rev(value: Any) -> Any:
    if value == "HEAD":
        raise ValueError("leave rev unset (None) for the remote's default branch")
    if isinstance(value, str) and (
        not value
        or _NOT_IN_REFS.search(value)
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
        or value == "@"
    ):
        raise ValueError(f"{value!r} is not a branch, tag or full commit id")
    return value


def _depth(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value < 1:
        raise ValueError(f"depth {value} is not a number of commits (1 or more)")
    return value


#: A repository: a URL git understands (``https://``, ``ssh://``, ``git@host:path``, ``file://``) or an absolute path.
Source = Annotated[str, Converter(_source, "a repository URL or absolute path")]
#: A branch or tag name, or a full commit id.
Rev = Annotated[str, Converter(_rev, "a branch, tag or full commit id")]
#: A number of commits, 1 or more.
Depth = Annotated[int, Converter(_depth, "a number of commits (1 or more)")]


@dataclass(frozen=True)
class _Want:
    """What ``dest`` should have checked out: a branch (tracking origin's), a tag or a commit (detached)."""

    kind: Literal["branch", "tag", "commit"]
    name: str
    commit: str | None

    @property
    def branch(self) -> str | None:
        return self.name if self.kind == "branch" else None

    @property
    def label(self) -> str:
        return f"commit {short(self.name)}" if self.kind == "commit" else f"{self.kind} {self.name}"


def _repo_provides(args: dict[str, Any]) -> list[tuple[str, str]]:
    return [("dir", args["dest"])]


@operation(provides=_repo_provides)
def repo(
    ctx: OpContext,
    src: Source,
    dest: AbsPath,
    *,
    rev: Rev | None = None,
    user: Name | None = None,
    update: bool = True,
    depth: Depth | None = None,
    force: bool = False,
) -> Changes:
    """Ensure ``dest`` is a git checkout of ``src`` at a branch's latest commit, a tag or a commit.

    Clones when ``dest`` is missing or an empty directory; otherwise fetches
    and checks out the wanted revision when it differs. A branch is checked
    out tracking ``origin``'s and only fast-forwarded; a tag or commit is
    checked out as a detached HEAD. Local changes to tracked files are an
    error unless ``force=True`` (untracked files are left alone). The change
    names the commit before and after. The remote is asked for the branch's
    or tag's commit on every run (``git ls-remote``, in the facts round
    trip); a commit id needs no remote once it is checked out. git runs as
    ``user`` (pass it rather than ``become=``, which costs a round trip of
    its own), never as root in another user's checkout. A commit is fetched
    by its id, which the server must allow (git protocol v2: git 2.18+,
    GitHub, GitLab).

    Args:
        src: the repository: a URL (``https://``, ``ssh://``, ``git@host:path``)
            or an absolute path on the host.
        dest: the checkout's directory.
        rev: a branch or tag name, or a full commit id; None for the
            remote's default branch.
        user: run git as this user (their ssh keys and git configuration); a
            new checkout belongs to them. Required when an existing checkout
            belongs to a user other than the one the operation runs as.
        update: False to only clone when ``dest`` is missing, never fetch.
        depth: clone and fetch only this many commits of history.
        force: discard local changes (and, on a branch, local commits)
            instead of failing on them.

    Example:
        git.repo("https://git.example.com/app.git", "/srv/app", rev="main", user="app")
    """
    commit_rev = rev is not None and _COMMIT.fullmatch(rev) is not None
    remote_request = (git_facts.remote_ref, {"url": src, "rev": rev, "user": user})
    requests: list[tuple[Any, dict[str, Any]]] = [
        (git_facts.checkout, {"path": dest}),
        (file_facts.path_info, {"path": dest}),
    ]
    requests += [(server_facts.users, {})] if user is not None else []
    ask_remote = update and not commit_rev
    state, info, *rest = _read(ctx, [*requests, remote_request] if ask_remote else requests, user)
    remote = rest[-1] if ask_remote else None
    users = rest[0] if user is not None else {}
    if user is not None:
        _check_user(user, users)
    if state is not None:
        if update:
            _check_owner(state, user, dest)
            yield from _update(state, _wanted(rev, remote, src), (src, dest, depth), user, force)
        return
    if not ask_remote and not commit_rev:
        (remote,) = _read(ctx, [remote_request], user)
    yield from _clone(info, _wanted(rev, remote, src), rev, (src, dest, depth), user, users)


# ---------------------------------------------------------------- reading


class _NoUserYet:
    """The remote could not be read as ``user``: the user does not exist yet (an earlier operation creates it)."""


def _read(ctx: OpContext, requests: list[tuple[Any, dict[str, Any]]], user: str | None) -> list[Any]:
    """The facts, all in one round; a remote read as a user who does not exist yet is :class:`_NoUserYet`."""
    try:
        return ctx.facts(*requests)
    except FactError as exc:
        if user is None or exc.remote_type != "KeyError" or requests[-1][0] is not git_facts.remote_ref:
            raise
        return [*ctx.facts(*requests[:-1]), _NoUserYet()]


def _check_user(user: str, users: dict[str, Any]) -> None:
    if user not in users:
        raise PlanError(
            f"user {user!r} does not exist",
            hint=did_you_mean(user, users) or f"create it first with server.user({user!r})",
        )


def _check_owner(state: dict[str, Any], user: str | None, dest: str) -> None:
    """git works in a checkout only as its owner: say whom to pass as ``user``."""
    owner = state.get("owner")
    if owner is None:
        return
    if user is not None and owner != user:
        raise PlanError(f"{dest} belongs to {owner}, not {user}", hint=f"pass user={owner!r}, or chown -R it to {user}")
    if user is None and not state.get("mine", True):
        raise PlanError(
            f"{dest} belongs to {owner}; git commands run as the checkout's owner", hint=f"pass user={owner!r}"
        )


def _wanted(rev: str | None, remote: Any, src: str) -> _Want | None:
    """What to check out; None when the remote cannot be read yet (see :class:`_NoUserYet`)."""
    if rev is not None and _COMMIT.fullmatch(rev):
        return _Want("commit", rev, rev)
    if isinstance(remote, _NoUserYet):
        return None
    shown = git_facts.shown_url(src)
    if remote is None and rev is None:
        raise PlanError(f"{shown} has no commits", hint="push a first commit, or pass rev=")
    if remote is None:
        raise PlanError(
            f"{shown} has no branch or tag {rev!r}",
            hint="check the name; a commit is given as its full 40-character id",
        )
    ref = remote["ref"]
    if ref is None:
        raise PlanError(f"the HEAD of {shown} is not a branch", hint="pass rev= (a branch, tag or commit id)")
    if ref.startswith("refs/heads/"):
        return _Want("branch", ref.removeprefix("refs/heads/"), remote["commit"])
    return _Want("tag", ref.removeprefix("refs/tags/"), remote["commit"])


# ---------------------------------------------------------------- changes


def _fetch(dest: str, want: _Want, depth: int | None) -> tuple[str, ...]:
    refspec = {
        "branch": f"+refs/heads/{want.name}:refs/remotes/origin/{want.name}",
        "tag": f"+refs/tags/{want.name}:refs/tags/{want.name}",
        "commit": want.name,
    }[want.kind]
    return ("git", "-C", dest, "fetch", *_deep(depth), "origin", refspec)


def _deep(depth: int | None) -> tuple[str, ...]:
    return ("--depth", str(depth)) if depth else ()


def _clone(
    info: dict[str, Any] | None,
    want: _Want | None,
    rev: str | None,
    where: tuple[str, str, int | None],
    user: str | None,
    users: dict[str, Any],
) -> Changes:
    src, dest, depth = where
    if info is not None and info["kind"] != "directory":
        raise PlanError(f"{dest} is a {info['kind']}, not a git checkout", hint="remove it, or choose another dest")
    if user is not None and info is None:
        yield MakeDirectory(dest, owner=user, group=users[user]["group"])
    elif user is not None and info is not None and info["owner"] != user:
        raise PlanError(
            f"{dest} belongs to {info['owner']}, and the clone runs as {user}",
            hint=f"create it with files.directory({dest!r}, owner={user!r}), or remove it",
        )
    url = "file://" + src if depth and src.startswith("/") else src  # git ignores --depth for plain paths
    steps: tuple[tuple[str, ...], ...]
    if want is not None and want.kind == "commit":
        clone = ("git", "clone", "--no-checkout", *_deep(depth), "--", url, dest)
        steps = (clone, _fetch(dest, want, depth), ("git", "-C", dest, "checkout", "--detach", want.name))
    else:
        name = want.name if want is not None else rev
        steps = (("git", "clone", *_deep(depth), *(("--branch", name) if name else ()), "--", url, dest),)
    after = None if want is None else _state_after({"owner": user, "mine": user is None}, want, url)
    effects = _effects(dest, after, new_dir=info is None and user is None)
    target = want.label if want is not None else (repr(rev) if rev else "its default branch")
    commit = want.commit if want is not None else None
    yield GitCheckout(dest, src, steps, target, commit, user=user, predicted=effects)


def _update(
    state: dict[str, Any], want: _Want | None, where: tuple[str, str, int | None], user: str | None, force: bool
) -> Changes:
    """Fetch and check out ``want`` in an existing checkout, only what differs."""
    src, dest, depth = where
    if want is None:  # the remote could not be read as user: _check_owner passed, so the owner does not exist
        raise PlanError(f"user {user!r} does not exist", hint=f"create it first with server.user({user!r})")
    placed = state["branch"] == want.branch and state["head"] == want.commit
    tracking = want.branch is None or state["upstream"] == f"origin/{want.branch}"
    new_url = not _same_url(state["remote_url"], src)
    if placed and tracking and not new_url and not state["dirty"]:
        return
    if state["dirty"] and not force:
        raise PlanError(f"{dest} has local changes", hint="commit or discard them, or pass force=True to discard them")
    git = ("git", "-C", dest)
    steps: list[tuple[str, ...]] = []
    if new_url:
        steps.append((*git, "remote", "set-url" if state["remote_url"] else "add", "origin", src))
    if not placed or not tracking:
        steps.append(_fetch(dest, want, depth))
    steps += _checkout_steps(state, want, git, force)
    after = _state_after(state, want, src if new_url else state["remote_url"])
    yield GitCheckout(
        dest,
        src,
        tuple(steps),
        want.label,
        want.commit,
        before=_before(state),
        user=user,
        discard=state["dirty"],
        new_url=new_url,
        predicted=_effects(dest, after, new_dir=False),
    )


def _checkout_steps(state: dict[str, Any], want: _Want, git: tuple[str, ...], force: bool) -> list[tuple[str, ...]]:
    """Move HEAD to ``want`` (after the fetch): detach, switch branch and fast-forward, or reset (``force``)."""
    placed = state["branch"] == want.branch and state["head"] == want.commit
    commit = str(want.commit)
    if want.branch is None:
        moving = not placed or state["dirty"]
        return [(*git, "checkout", *(("--force",) if force else ()), "--detach", commit)] if moving else []
    branch, steps = want.branch, []
    switched = state["branch"] != branch
    if force and (not placed or state["dirty"]):
        steps.append((*git, "checkout", "--force", "-B", branch, commit))
    elif not placed:
        if switched:
            steps.append((*git, "checkout", branch, "--"))  # the local branch, or a new one tracking origin's
        steps.append((*git, "merge-base", "--is-ancestor", "HEAD", commit))  # a fast-forward, or fail
        steps.append((*git, "merge", "--ff-only", commit))
    if switched or state["upstream"] != f"origin/{branch}":
        steps.append((*git, "branch", f"--set-upstream-to=origin/{branch}", branch))
    return steps


def _before(state: dict[str, Any]) -> str:
    where = f"on {state['branch']}" if state["branch"] else "detached"
    return f"{short(state['head'])} {where}" + (" with local changes" if state["dirty"] else "")


def _same_url(current: str | None, wanted: str) -> bool:
    """Whether origin's URL is ``wanted`` (a path and its ``file://`` URL are the same)."""

    def plain(url: str) -> str:
        return url.removeprefix("file://").rstrip("/") if url.startswith("file:///") else url.rstrip("/")

    return current is not None and plain(current) == plain(wanted)


# ---------------------------------------------------------------- predicted effects


def _state_after(before: dict[str, Any], want: _Want, url: str | None) -> dict[str, Any]:
    """The git.checkout fact once ``want`` is checked out (owner as before)."""
    return {
        "head": want.commit,
        "branch": want.branch,
        "upstream": f"origin/{want.branch}" if want.branch else None,
        "remote_url": url,
        "dirty": False,
        "owner": before.get("owner"),
        "mine": before.get("mine", True),
    }


def _inside(dest: str) -> Any:
    """Matches the file facts of paths inside ``dest`` (and its listing): what a checkout changes."""
    prefix = dest.rstrip("/") + "/"

    def match(key: FactKey) -> bool:
        path = key.args.get("path")
        if key.name not in PATH_FACTS or not isinstance(path, str):
            return False
        return path.startswith(prefix) or (key.name == "files.listing" and path == dest)

    return match


def _effects(dest: str, after: dict[str, Any] | None, *, new_dir: bool) -> tuple[Effect, ...]:
    """The checkout fact is ``after`` (None: unknown); the files inside ``dest`` are unknown until it ran."""
    checkout = fact_named("git.checkout", path=dest)
    effects = [Effect.opaque(checkout) if after is None else Effect.set(checkout, after)]
    if new_dir:
        effects += path_effects.directory(dest, None, None, None)
    return (*effects, Effect.opaque(_inside(dest)))
