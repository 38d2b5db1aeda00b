"""Facts about git: a checkout's commit, branch, origin and local changes; a remote's branch or tag.

Whose git runs. git refuses to work in a repository that belongs to another
user ("detected dubious ownership", its ``safe.directory`` check), because a
repository's own configuration can make git run programs (``core.fsmonitor``,
filters). So :func:`checkout`, gathered as root, reads a checkout that belongs
to another user *as that user*: the owner's configuration then runs with the
owner's rights, never root's. Passing ``-c safe.directory=PATH`` to a root git
would read it too, but would run whatever the owner wrote into ``.git/config``
as root. Reading ``.git`` files directly cannot tell local changes. Nobody's
git configuration is changed. As a user other than root and the owner, the
fact fails (as git would) and says so, instead of returning a wrong state.

:func:`remote_ref` asks the remote (``git ls-remote``), as the user who will
fetch from it, with no terminal (git and ssh cannot prompt), and gives up after
:data:`REMOTE_TIMEOUT` seconds.

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
from typing import NamedTuple, TypedDict

from paracrine.fact import fact
from paracrine.facts import _command

#: Seconds ``git ls-remote`` may take before :func:`remote_ref` fails.
REMOTE_TIMEOUT = 60.0


class Checkout(TypedDict):
    """The state of a working tree."""

    head: str | None
    branch: str | None
    upstream: str | None
    remote_url: str | None
    dirty: bool
    owner: str
    mine: bool


class Status(TypedDict):
    """What ``git status --porcelain=v2 --branch`` says (see :func:`parse_status`)."""

    head: str | None
    branch: str | None
    upstream: str | None
    dirty: bool


class RemoteRef(TypedDict):
    """A branch or tag of a remote and the commit it names."""

    ref: str | None
    commit: str


def parse_status(text: str) -> Status:
    """Parse ``git status --porcelain=v2 --branch`` output.

    Args:
        text: "# branch.oid SHA|(initial)", "# branch.head NAME|(detached)" and
            optional "# branch.upstream REMOTE/BRANCH" header lines, then one
            line per changed path ("1", "2", "u") or untracked/ignored path ("?", "!").

    Returns:
        {"head": the commit or None before the first commit, "branch": the
        checked-out branch or None when HEAD is detached, "upstream": the
        branch it tracks (``origin/main``) or None, "dirty": True if a tracked
        path is modified, staged, deleted, renamed or unmerged; untracked and
        ignored files do not count}.

    Raises:
        ValueError: the branch headers are missing.
    """
    headers: dict[str, str] = {}
    dirty = False
    for line in text.splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition(" ")
            headers[key] = value
        elif line[:2] in ("1 ", "2 ", "u "):
            dirty = True
    if "branch.oid" not in headers or "branch.head" not in headers:
        raise ValueError("git status printed no branch.oid/branch.head headers")
    oid, branch = headers["branch.oid"], headers["branch.head"]
    return {
        "head": None if oid == "(initial)" else oid,
        "branch": None if branch == "(detached)" else branch,
        "upstream": headers.get("branch.upstream"),
        "dirty": dirty,
    }


def parse_ls_remote(text: str, rev: str | None) -> RemoteRef | None:
    """Find ``rev`` in ``git ls-remote`` output.

    Args:
        text: "SHA<TAB>REFNAME" lines; with ``--symref`` also "ref: TARGET<TAB>HEAD";
            an annotated tag's commit is on a "SHA<TAB>refs/tags/NAME^{}" line.
        rev: a branch or tag name (a branch wins over a tag of the same name,
            as in ``git clone --branch``); None for the remote's HEAD.

    Returns:
        {"ref": ``refs/heads/NAME`` or ``refs/tags/NAME`` (for ``rev=None``:
        the branch HEAD points to, None if HEAD is detached), "commit": the
        commit it names (an annotated tag's commit, not the tag object)};
        None if the remote has no such branch or tag (or, for ``rev=None``, no commits).
    """
    refs: dict[str, str] = {}
    head_target = None
    for line in text.splitlines():
        if line.startswith("ref: "):
            target, _, name = line[5:].partition("\t")
            if name == "HEAD":
                head_target = target
        else:
            oid, _, name = line.partition("\t")
            refs[name] = oid
    if rev is None:
        return {"ref": head_target, "commit": refs["HEAD"]} if "HEAD" in refs else None
    for ref in (f"refs/heads/{rev}", f"refs/tags/{rev}"):
        if ref in refs:
            return {"ref": ref, "commit": refs.get(ref + "^{}", refs[ref])}
    return None


class _Account(NamedTuple):
    """Who git runs as: ids, supplementary groups, home (None: no passwd entry)."""

    uid: int
    gid: int
    groups: list[int]
    home: str | None
    name: str


def _account(uid: int, gid: int) -> _Account:
    """The account of ``uid``; without a passwd entry, ``gid`` and no supplementary groups."""
    import pwd

    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return _Account(uid, gid, [], None, str(uid))
    groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
    return _Account(uid, entry.pw_gid, groups, entry.pw_dir, entry.pw_name)


def _other(uid: int, gid: int) -> _Account | None:
    """The account of ``uid`` if it is not the user running this; None if it is."""
    return None if uid == os.geteuid() else _account(uid, gid)


def _git(argv: list[str], account: _Account | None, what: str, timeout: float = _command.TIMEOUT) -> _command.Output:
    """Run git as ``account`` (C locale, standard PATH, in ``/``, no terminal); on timeout kill it and its children.

    ``what`` names the command in errors (``git status in /srv/app``).
    """
    import signal
    import subprocess

    env = {"LC_ALL": "C", "PATH": _command.STANDARD_PATH, "GIT_TERMINAL_PROMPT": "0"}
    home = os.environ.get("HOME") if account is None else account.home
    if home:
        env["HOME"] = home
    try:
        proc = subprocess.Popen(
            ["git", *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd="/",
            start_new_session=True,
            user=None if account is None else account.uid,
            group=None if account is None else account.gid,
            extra_groups=None if account is None else account.groups,
        )
    except FileNotFoundError:
        raise FileNotFoundError(f"git is not installed (not found in {_command.STANDARD_PATH})") from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RuntimeError(f"{what} did not finish within {timeout:g} s") from None
    return _command.Output(proc.returncode, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))


def _failure(what: str, out: _command.Output) -> Exception:
    """The error for a failed git command: its first message line; PermissionError for git's ownership check."""
    lines = [line for line in out.stderr.splitlines() if line.strip() and not line.startswith(("hint:", "warning:"))]
    message = lines[0] if lines else f"exit code {out.returncode}, no message"
    if "dubious ownership" in out.stderr:
        return PermissionError(f"{what}: git refuses a repository that belongs to another user ({message})")
    return RuntimeError(f"{what} failed: {message}")


@fact(concurrent=True)
def checkout(path: str) -> Checkout | None:
    """The state of the git checkout at ``path``, read as the checkout's owner.

    Runs ``git status --porcelain=v2 --branch --untracked-files=no`` (commit,
    branch, upstream and local changes in one call) and ``git config --get
    remote.origin.url``, without taking the index lock. Gathered as root, git
    runs as the user owning ``path/.git`` (see the module documentation: never
    as root in another user's repository). Needs git on the target only if
    ``path`` holds a checkout.

    Args:
        path: the working tree's top directory (the one holding ``.git``).

    Returns:
        {"head": commit SHA or None before the first commit, "branch": branch
        name or None when detached, "upstream": the branch it tracks
        (``origin/main``) or None, "remote_url": URL of "origin" or None,
        "dirty": True if tracked files are modified, staged or deleted
        (untracked files do not count), "owner": the user owning ``.git`` (a
        number if it has no name), "mine": whether that is the user this fact
        ran as}; None if ``path`` has no ``.git``.

    Raises:
        FileNotFoundError: git is not installed.
        PermissionError: the checkout belongs to another user and this fact
            does not run as root (or git refuses it for another reason of ownership).

    Example:
        paracrine facts web1 git.checkout path=/srv/app
    """
    try:
        st = os.stat(os.path.join(path, ".git"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    account = _other(st.st_uid, st.st_gid)
    if account is not None and os.geteuid() != 0:
        raise PermissionError(
            f"{path} belongs to {account.name}: git reads a checkout only as its owner; "
            f"gather this fact as root or as {account.name}"
        )
    what = f"git status in {path}"
    status = _git(["--no-optional-locks", "-C", path, "status", "--porcelain=v2", "--branch", "-uno"], account, what)
    if status.returncode != 0:
        raise _failure(what, status)
    state = parse_status(status.stdout)
    what = f"git config in {path}"
    remote = _git(["--no-optional-locks", "-C", path, "config", "--get", "remote.origin.url"], account, what)
    if remote.returncode not in (0, 1):
        raise _failure(what, remote)
    return {
        "head": state["head"],
        "branch": state["branch"],
        "upstream": state["upstream"],
        "remote_url": remote.stdout.strip() or None,
        "dirty": state["dirty"],
        "owner": account.name if account is not None else _account(st.st_uid, st.st_gid).name,
        "mine": account is None,
    }


def shown_url(url: str) -> str:
    """``url`` without a password (``https://user:secret@host/`` -> ``https://user:***@host/``), for messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.partition("@")
    if not sep or not at or ":" not in userinfo or "/" in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


@fact(prefetch=False, cache=False, concurrent=True)
def remote_ref(url: str, rev: str | None = None, user: str | None = None) -> RemoteRef | None:
    """The commit a remote repository's branch or tag names now (``git ls-remote``).

    Contacts the remote on every run (it reads no local state), so it is never
    prefetched from an earlier run's list (which would make the state directory
    choose what a host connects to) and never cached. Runs without a terminal,
    so a missing key or password fails at once instead of prompting; gives up
    after 60 seconds.

    Args:
        url: the remote repository: a URL git understands or an absolute path.
        rev: a branch or tag name (a branch wins over a tag of the same name);
            None for the branch the remote's HEAD names (its default branch).
        user: run git as this user (their ssh keys, git configuration and
            permissions: the user that will clone or fetch); None for the user
            this fact runs as. Another user needs the fact to run as root.

    Returns:
        {"ref": ``refs/heads/NAME`` or ``refs/tags/NAME`` (for ``rev=None``,
        the default branch, or None if the remote's HEAD is detached),
        "commit": the commit SHA (an annotated tag's commit)}; None if the
        remote has no such branch or tag (or, for ``rev=None``, no commits yet).

    Raises:
        KeyError: ``user`` does not exist.
        PermissionError: ``user`` is another user and this fact does not run as root.
        RuntimeError: git could not read the remote (unreachable, refused,
            not a repository...), with git's message; or it took too long.

    Example:
        paracrine facts web1 git.remote_ref url=https://git.example.com/app.git rev=main
    """
    import pwd

    account = None
    if user is not None:
        entry = pwd.getpwnam(user)
        account = _other(entry.pw_uid, entry.pw_gid)
        if account is not None and os.geteuid() != 0:
            raise PermissionError(f"only root may run git as {user}; gather this fact as root or as {user}")
    if rev is None:
        argv = ["ls-remote", "--symref", "--", url, "HEAD"]
    else:
        argv = ["ls-remote", "--", url, f"refs/heads/{rev}", f"refs/tags/{rev}", f"refs/tags/{rev}^{{}}"]
    shown = shown_url(url)
    out = _git(argv, account, f"git ls-remote {shown}", timeout=REMOTE_TIMEOUT)
    if out.returncode != 0:
        raise _failure(f"git ls-remote {shown}", out._replace(stderr=out.stderr.replace(url, shown)))
    return parse_ls_remote(out.stdout, rev)
