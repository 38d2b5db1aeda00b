"""git.repo and its GitCheckout change beyond the JSON cases: a user created in the same run, and applying steps."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from paracrine.changes import GitCheckout
from paracrine.changes import git as git_change
from paracrine.gather import FactFailure, make_key
from paracrine.operations import git
from paracrine.predict import Unpredictable
from paracrine.remote import wire
from paracrine.testing import changes_json, plan_case, planner_for

SRC = "https://git.example.com/app.git"
APP = {"uid": 950, "gid": 950, "home": "/home/app", "shell": "/bin/sh", "comment": "", "group": "app", "groups": []}
IDENTITY = ["-c", "user.name=T", "-c", "user.email=t@example.com"]


def test_a_user_created_earlier_in_the_run_clones_at_a_commit_known_only_afterwards() -> None:
    """server.user("app") then git.repo(..., user="app"): the remote cannot be read as app before app exists."""
    no_user = FactFailure("KeyError", "\"getpwnam(): name not found: 'app'\"")
    facts = [
        ["git.checkout", {"path": "/srv/app"}, None],
        ["files.path_info", {"path": "/srv/app"}, None],
        ["server.users", {}, {"app": APP}],  # as predicted after server.user("app")
        ["git.remote_ref", {"url": SRC, "rev": "v1.2", "user": "app"}, no_user],
    ]
    case = {"args": [SRC, "/srv/app"], "kwargs": {"rev": "v1.2", "user": "app"}, "facts": facts}
    planned = plan_case(git.repo, case)
    assert planned.error is None, planned.error
    mkdir, clone = changes_json(planned)
    assert mkdir == {"kind": "mkdir", "path": "/srv/app", "mode": None, "owner": "app", "group": "app"}
    assert clone["steps"] == [["git", "clone", "--branch", "v1.2", "--", SRC, "/srv/app"]]
    assert planned.changes[1].describe() == f"clone {SRC} into /srv/app at 'v1.2' as app"
    planner, call = planner_for(git.repo, case)
    planner.plan([call], set(), set())
    with pytest.raises(Unpredictable):  # later operations read the checkout once it exists
        planner.state.lookup(make_key("git.checkout", {"path": "/srv/app"}))


def test_other_fact_failures_are_the_operations_error() -> None:
    refused = FactFailure("RuntimeError", "git ls-remote https://git.example.com/app.git failed: fatal: unreachable")
    facts = [
        ["git.checkout", {"path": "/srv/app"}, None],
        ["files.path_info", {"path": "/srv/app"}, None],
        ["git.remote_ref", {"url": SRC, "rev": None, "user": None}, refused],
    ]
    planned = plan_case(git.repo, {"args": [SRC, "/srv/app"], "facts": facts})
    assert planned.error is not None and "fatal: unreachable" in planned.error.format_line()


def test_description_names_commits_and_hides_passwords() -> None:
    url = "https://deploy:s3cret@git.example.com/app.git"
    change = GitCheckout("/srv/app", url, ((),), "branch main", "9b8e7d6a5b4c3d2e", before="3f2a1c9d0e1f on main")
    assert change.describe() == "update /srv/app: 3f2a1c9d0e1f on main -> branch main (9b8e7d6a5b4c)"
    moved = GitCheckout("/srv/app", url, ((),), "tag v1", "9b8e7d6a5b4c", before="x", discard=True, new_url=True)
    assert moved.describe() == (
        "update /srv/app: x -> tag v1 (9b8e7d6a5b4c), discarding local changes, "
        "origin https://deploy:***@git.example.com/app.git"
    )
    assert "s3cret" not in moved.describe(masked=True) and "***" in moved.describe(masked=True)
    assert moved.to_json(masked=True)["steps"] == [["***"]]


# ---------------------------------------------------------------- applying (real git, here as the test's user)


def run_git(*args: str) -> str:
    return subprocess.run(["git", *IDENTITY, *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[Path, list[str]]:
    """A bare repository with two commits on main; their ids, oldest first."""
    bare, work = tmp_path / "up.git", tmp_path / "work"
    run_git("init", "-q", "--bare", "-b", "main", str(bare))
    run_git("init", "-q", "-b", "main", str(work))
    commits = []
    for text in ("one", "two"):
        (work / "README").write_text(text + "\n")
        run_git("-C", str(work), "add", "README")
        run_git("-C", str(work), "commit", "-qm", text)
        commits.append(run_git("-C", str(work), "rev-parse", "HEAD"))
    run_git("-C", str(work), "push", "-q", str(bare), "main")
    return bare, commits


def apply(change: GitCheckout) -> wire.Outcome:
    outcome = wire.new_outcome()
    git_change.apply(change.to_wire(), outcome)
    return outcome


def test_apply_runs_the_steps_and_reports_the_commit(upstream: tuple[Path, list[str]], tmp_path: Path) -> None:
    bare, (one, _two) = upstream
    dest = str(tmp_path / "app")
    facts = [["git.checkout", {"path": dest}, None], ["files.path_info", {"path": dest}, None]]
    planned = plan_case(git.repo, {"args": [str(bare), dest], "kwargs": {"rev": one}, "facts": facts})
    (clone,) = planned.changes
    assert isinstance(clone, GitCheckout)
    outcome = apply(clone)
    assert outcome["error"] is None, outcome
    assert outcome["changed"] and outcome["stdout"].endswith(f"{dest} is at {one}\n")
    assert "detached HEAD" not in outcome["stderr"]  # no advice


def test_a_branch_that_cannot_be_fast_forwarded_fails_with_a_hint(
    upstream: tuple[Path, list[str]], tmp_path: Path
) -> None:
    bare, (_one, two) = upstream
    dest = tmp_path / "app"
    run_git("clone", "-q", str(bare), str(dest))
    run_git("-C", str(dest), "commit", "-q", "--allow-empty", "-m", "local")
    steps = (("git", "-C", str(dest), "merge-base", "--is-ancestor", "HEAD", two),)
    outcome = apply(GitCheckout(str(dest), str(bare), steps, "branch main", two, before="x"))
    assert outcome["error"] == (
        f"{dest} cannot be fast-forwarded to {two[:12]}: the branch has commits the remote does not have; "
        "pass force=True to reset it to the remote's"
    )


def test_a_failed_step_stops_the_others_and_hides_url_passwords(tmp_path: Path) -> None:
    url = "https://deploy:s3cret@127.0.0.1:9/app.git"
    steps = (("git", "clone", "--", url, str(tmp_path / "app")), ("touch", str(tmp_path / "not-run")))
    outcome = apply(GitCheckout(str(tmp_path / "app"), url, steps, "branch main", None))
    assert outcome["error"] is not None and outcome["error"].startswith("git clone -- https://deploy:***@127.0.0.1:9")
    assert "s3cret" not in outcome["error"] + outcome["stderr"] + outcome["stdout"]
    assert not (tmp_path / "not-run").exists()
