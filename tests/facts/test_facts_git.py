"""Tests of paracrine.facts.git on repositories made in tmp_path, and on captured status output."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.facts import _command, git

IDENTITY = ["-c", "user.name=Paracrine Test", "-c", "user.email=test@example.com"]


def run_git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *IDENTITY, "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two commits on "main", a "feature" branch checked out, and origin set."""
    path = tmp_path / "app"
    path.mkdir()
    run_git(path, "init", "-q", "-b", "main")
    (path / "README").write_text("one\n")
    run_git(path, "add", "README")
    run_git(path, "commit", "-q", "-m", "one")
    (path / "app.py").write_text("print('hi')\n")
    run_git(path, "add", "app.py")
    run_git(path, "commit", "-q", "-m", "two")
    run_git(path, "checkout", "-q", "-b", "feature")
    run_git(path, "remote", "add", "origin", "https://git.example.com/app.git")
    return path


def test_checkout_clean_branch(repo: Path) -> None:
    assert git.checkout(str(repo)) == {
        "head": run_git(repo, "rev-parse", "HEAD"),
        "branch": "feature",
        "remote_url": "https://git.example.com/app.git",
        "dirty": False,
    }


@pytest.mark.parametrize("change", ["modify", "untracked", "staged", "delete"])
def test_checkout_dirty(repo: Path, change: str) -> None:
    if change == "modify":
        (repo / "README").write_text("changed\n")
    elif change == "untracked":
        (repo / "new.txt").write_text("new\n")
    elif change == "staged":
        (repo / "staged.txt").write_text("s\n")
        run_git(repo, "add", "staged.txt")
    else:
        (repo / "app.py").unlink()
    state = git.checkout(str(repo))
    assert state is not None and state["dirty"] is True
    assert state["branch"] == "feature"


def test_checkout_detached_without_origin(repo: Path) -> None:
    run_git(repo, "checkout", "-q", "--detach", "HEAD~1")
    run_git(repo, "remote", "remove", "origin")
    assert git.checkout(str(repo)) == {
        "head": run_git(repo, "rev-parse", "HEAD"),
        "branch": None,
        "remote_url": None,
        "dirty": False,
    }


def test_checkout_before_the_first_commit(tmp_path: Path) -> None:
    run_git(tmp_path, "init", "-q", "-b", "trunk")
    assert git.checkout(str(tmp_path)) == {"head": None, "branch": "trunk", "remote_url": None, "dirty": False}


def test_checkout_of_something_else_is_none(tmp_path: Path) -> None:
    assert git.checkout(str(tmp_path)) is None
    assert git.checkout(str(tmp_path / "absent")) is None


def test_checkout_does_not_write_the_index(repo: Path) -> None:
    index = repo / ".git" / "index"
    before = index.stat().st_mtime_ns
    os.utime(repo / "README", (2_000_000_000, 2_000_000_000))  # stat changed, content not
    state = git.checkout(str(repo))
    assert state is not None and state["dirty"] is False
    assert index.stat().st_mtime_ns == before


def test_checkout_without_git_installed(repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setattr(_command, "STANDARD_PATH", str(empty))
    with pytest.raises(FileNotFoundError, match="git is not installed"):
        git.checkout(str(repo))
    assert git.checkout(str(tmp_path / "absent")) is None  # no checkout: git is not needed


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_checkout_owned_by_another_user(repo: Path) -> None:
    for directory, dirs, files in os.walk(repo):
        for name in [directory, *(os.path.join(directory, n) for n in dirs + files)]:
            os.lchown(name, 54321, 54321)
    with pytest.raises(PermissionError, match="owned by another user"):
        git.checkout(str(repo))


def test_parse_status_branch_dirty(captured: Callable[[str], str]) -> None:
    assert git.parse_status(captured("git-status-branch-dirty.txt")) == {
        "head": "bb98ffe2f1adb1fe5f1a2c95b0576884826dbbb5",
        "branch": "feature",
        "dirty": True,
    }


def test_parse_status_detached_clean(captured: Callable[[str], str]) -> None:
    assert git.parse_status(captured("git-status-detached-clean.txt")) == {
        "head": "59b12192adcc45a47a22c6f52a455d03ffd54f5b",
        "branch": None,
        "dirty": False,
    }


def test_parse_status_unborn_and_upstream(captured: Callable[[str], str]) -> None:
    assert git.parse_status(captured("git-status-unborn.txt")) == {"head": None, "branch": "main", "dirty": False}
    ahead = git.parse_status(captured("git-status-upstream-ahead.txt"))
    assert ahead == {"head": "10a56d1bf89ef8d27f16cb9aa7331ba6aded8704", "branch": "main", "dirty": False}


def test_parse_status_rejects_output_without_branch_headers() -> None:
    with pytest.raises(ValueError, match=r"branch\.oid"):
        git.parse_status(" M README\n")


@pytest.mark.lab
def test_lab_checkout_absent(lab_fact: Callable[..., Any]) -> None:
    assert lab_fact(git.checkout, path="/") is None
    assert lab_fact(git.checkout, path="/srv/no-such-checkout") is None
