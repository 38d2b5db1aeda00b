"""Facts about git checkouts: commit, branch, origin and local changes."""

from __future__ import annotations

import os
from typing import TypedDict

from paracrine.fact import fact
from paracrine.facts import _command


class Checkout(TypedDict):
    """The state of a working tree."""

    head: str | None
    branch: str | None
    remote_url: str | None
    dirty: bool


class Status(TypedDict):
    """What ``git status --porcelain=v2 --branch`` says (see :func:`parse_status`)."""

    head: str | None
    branch: str | None
    dirty: bool


def parse_status(text: str) -> Status:
    """Parse ``git status --porcelain=v2 --branch`` output.

    Args:
        text: "# branch.oid SHA|(initial)" and "# branch.head NAME|(detached)"
            header lines, then one line per changed or untracked path.

    Returns:
        {"head": the commit or None before the first commit, "branch": the
        checked-out branch or None when HEAD is detached, "dirty": True if
        any path is listed (modified, staged, deleted, unmerged or untracked)}.

    Raises:
        ValueError: the branch headers are missing.
    """
    headers: dict[str, str] = {}
    dirty = False
    for line in text.splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition(" ")
            headers[key] = value
        elif line.strip():
            dirty = True
    if "branch.oid" not in headers or "branch.head" not in headers:
        raise ValueError("git status printed no branch.oid/branch.head headers")
    oid, branch = headers["branch.oid"], headers["branch.head"]
    return {
        "head": None if oid == "(initial)" else oid,
        "branch": None if branch == "(detached)" else branch,
        "dirty": dirty,
    }


def _git(path: str, *args: str) -> _command.Output:
    out = _command.run(["git", "--no-optional-locks", "-C", path, *args], ok=None)
    if out.returncode != 0 and "dubious ownership" in out.stderr:
        raise PermissionError(
            f"git refuses {path}: it is owned by another user (safe.directory); "
            "gather this fact as the checkout's owner (become=OWNER)"
        )
    return out


@fact
def checkout(path: str) -> Checkout | None:
    """The state of the git checkout at ``path``.

    Runs ``git status --porcelain=v2 --branch`` (commit, branch and local
    changes in one call) and ``git config --get remote.origin.url``, without
    taking the index lock. Needs git on the target only if ``path`` holds a
    checkout.

    Args:
        path: the working tree's top directory (the one holding ``.git``).

    Returns:
        {"head": commit SHA or None before the first commit, "branch": branch
        name or None when detached, "remote_url": URL of "origin" or None,
        "dirty": True if files are modified, staged or untracked}; None if
        ``path`` has no ``.git``.

    Raises:
        FileNotFoundError: git is not installed.
        PermissionError: git refuses a checkout owned by another user.

    Example:
        paracrine facts web1 git.checkout path=/srv/app
    """
    if not os.path.lexists(os.path.join(path, ".git")):
        return None
    status = _git(path, "status", "--porcelain=v2", "--branch")
    if status.returncode != 0:
        raise RuntimeError(f"git status in {path} failed: {status.stderr.strip() or 'no output'}")
    state = parse_status(status.stdout)
    remote = _git(path, "config", "--get", "remote.origin.url")
    if remote.returncode not in (0, 1):
        raise RuntimeError(f"git config in {path} failed: {remote.stderr.strip() or 'no output'}")
    return {
        "head": state["head"],
        "branch": state["branch"],
        "remote_url": remote.stdout.strip() or None,
        "dirty": state["dirty"],
    }
