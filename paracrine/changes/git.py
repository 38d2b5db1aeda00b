"""GitCheckout: bring a git checkout to a commit (clone, fetch, switch, fast-forward, reset) as one step.

Why not a list of :class:`~paracrine.changes.command.RunCommand`: the change is
described in terms of commits (``update /srv/app: 3f2a1c9d0e1f on main ->
branch main (9b8e7d6a5b4c)``), not as the git commands that get there; its
commands run in order as one user and stop at the first failure, with a hint
when a fast-forward is impossible; and its output reports the commit the
checkout is at afterwards. The commands themselves are computed on the
controller (``git.repo``) and are part of the change's wire and JSON form, so
what is approved is exactly what runs.

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from typing import TYPE_CHECKING, Any, ClassVar

from paracrine.changes import command
from paracrine.changes.base import Change, shown
from paracrine.remote import wire
from paracrine.secret import MASK

if TYPE_CHECKING:
    from paracrine.predict import Effect

#: Added to the commands' environment: git never prompts, speaks English, and gives no advice on detached HEADs.
GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "advice.detachedHead",
    "GIT_CONFIG_VALUE_0": "false",
}
#: Why a branch cannot be fast-forwarded, and what to do.
DIVERGED = "the branch has commits the remote does not have; pass force=True to reset it to the remote's"


def short(commit: str | None) -> str:
    """The first 12 characters of a commit id."""
    return (commit or "?")[:12]


@dataclasses.dataclass(frozen=True)
class GitCheckout(Change):
    """Run ``steps`` (git argument lists) as ``user`` so that ``dest`` is at ``commit``.

    ``target`` says what is checked out (``branch main``, ``tag v1.2``,
    ``commit 9b8e7d6a5b4c``); ``commit`` is None when it is not known before
    the steps run (a clone as a user who does not exist yet); ``before`` the state it replaces
    (``3f2a1c9d0e1f on main``), None for a clone. ``discard``: local changes
    are thrown away (``force=True``); ``new_url``: origin is set to ``url``.
    """

    kind: ClassVar[str] = "git"
    dest: str
    url: str
    steps: tuple[tuple[str, ...], ...]
    target: str
    commit: str | None
    before: str | None = None
    user: str | None = None
    discard: bool = False
    new_url: bool = False
    predicted: tuple[Effect, ...] | None = dataclasses.field(default=None, compare=False, metadata={"wire": False})

    def to_json(self, masked: bool = False, contents: bool = False) -> dict[str, Any]:
        data = super().to_json()
        if masked:
            data["url"], data["steps"] = MASK, [[MASK]]
        return data

    def describe(self, masked: bool = False) -> str:
        from paracrine.facts.git import shown_url

        url = MASK if masked else shown(shown_url(self.url))
        new = (
            self.target
            if not self.commit or short(self.commit) in self.target
            else f"{self.target} ({short(self.commit)})"
        )
        if self.before is None:
            text = f"clone {url} into {shown(self.dest)} at {new}"
        else:
            text = f"update {shown(self.dest)}: {self.before} -> {new}"
            text += ", discarding local changes" if self.discard else ""
            text += f", origin {url}" if self.new_url else ""
        return text + (f" as {self.user}" if self.user else "")

    def effects(self) -> list[Effect]:
        if self.predicted is not None:
            return list(self.predicted)
        return super().effects()


# ---------------------------------------------------------------- target side


def _run_as(user: str | None) -> str | None:
    """``user``, or None when it is the user running this (switching needs root)."""
    import pwd

    if user is None or pwd.getpwnam(user).pw_uid == os.geteuid():
        return None
    return user


def _head(dest: str, user: str | None) -> str:
    step = wire.new_outcome()
    command.apply({"argv": ["git", "-C", dest, "rev-parse", "HEAD"], "user": user, "env": GIT_ENV, "cwd": "/"}, step)
    return step["stdout"].strip() if step["error"] is None else "?"


def _failure(dest: str, argv: list[str], error: str) -> str:
    """The error of a failed step: a diverged branch, or the command and git's message."""
    if "--is-ancestor" in argv:
        return f"{dest} cannot be fast-forwarded to {short(argv[-1])}: {DIVERGED}"
    return f"{shlex.join(argv)}: {error}"


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Run the steps in order as the user (in ``/``, no terminal); stop at the first that fails.

    The output is each step's output, then ``DEST is at COMMIT``; a password in the URL is never shown.
    """
    from paracrine.facts.git import shown_url

    user = _run_as(change.get("user"))
    outcome["changed"] = True
    out, err = [], []
    for argv in change["steps"]:
        step = wire.new_outcome()
        command.apply({"argv": list(argv), "user": user, "env": GIT_ENV, "cwd": "/"}, step)
        out.append(step["stdout"])
        err.append(step["stderr"])
        outcome["rc"] = step["rc"]
        if step["error"] is not None:
            outcome["error"] = _failure(change["dest"], argv, step["error"])
            break
    else:
        head = _head(change["dest"], user)
        planned = "" if change["commit"] in (None, head) else f" (planned: {change['commit']})"
        out.append(f"{change['dest']} is at {head}{planned}\n")
    url, shown = change["url"], shown_url(change["url"])
    outcome["stdout"] = wire.tail("".join(out).replace(url, shown))
    outcome["stderr"] = wire.tail("".join(err).replace(url, shown))
    if outcome["error"] is not None:
        outcome["error"] = outcome["error"].replace(url, shown)
