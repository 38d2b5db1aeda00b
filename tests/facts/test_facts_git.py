"""Tests of paracrine.facts.git: real repositories in tmp_path (including ones of another user), and captured output."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paracrine.facts import _command, git

IDENTITY = ["-c", "user.name=Paracrine Test", "-c", "user.email=test@example.com"]
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another user")


def run_git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *IDENTITY, "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def chown_tree(top: Path, uid: int, gid: int) -> None:
    for directory, dirs, files in os.walk(top):
        for name in [directory, *(os.path.join(directory, n) for n in dirs + files)]:
            os.lchown(name, uid, gid)


def make_repo(path: Path) -> Path:
    """A repository with two commits on "main", a "feature" branch checked out, and origin set."""
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


def make_remote(bare: Path, repo: Path) -> Path:
    """A bare repository: branches main and feature (HEAD: main), tag v1 (light) and v2 (annotated, on main~1)."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    run_git(repo, "tag", "v1")
    run_git(repo, "tag", "-a", "-m", "two", "v2", "main~1")
    run_git(repo, "push", "-q", str(bare), "main", "feature", "v1", "v2")
    return bare


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "app")


@pytest.fixture
def remote(tmp_path: Path, repo: Path) -> Path:
    return make_remote(tmp_path / "remote.git", repo)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory every user may enter (pytest's tmp_path is root's only)."""
    path = Path(tempfile.mkdtemp(prefix="paracrine-git-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


# ---------------------------------------------------------------- checkout


def test_checkout_clean_branch(repo: Path) -> None:
    assert git.checkout(str(repo)) == {
        "head": run_git(repo, "rev-parse", "HEAD"),
        "branch": "feature",
        "upstream": None,
        "remote_url": "https://git.example.com/app.git",
        "dirty": False,
        "owner": pwd.getpwuid(os.geteuid()).pw_name,
        "mine": True,
    }


@pytest.mark.parametrize("change", ["modify", "staged", "delete"])
def test_checkout_dirty(repo: Path, change: str) -> None:
    if change == "modify":
        (repo / "README").write_text("changed\n")
    elif change == "staged":
        (repo / "staged.txt").write_text("s\n")
        run_git(repo, "add", "staged.txt")
    else:
        (repo / "app.py").unlink()
    state = git.checkout(str(repo))
    assert state is not None and state["dirty"] is True
    assert state["branch"] == "feature"


def test_untracked_files_are_not_local_changes(repo: Path) -> None:
    (repo / "new.txt").write_text("new\n")
    state = git.checkout(str(repo))
    assert state is not None and state["dirty"] is False


def test_checkout_tracking_a_remote_branch(remote: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--branch", "feature", str(remote), str(clone)], check=True)
    state = git.checkout(str(clone))
    assert state is not None
    assert (state["branch"], state["upstream"], state["remote_url"]) == ("feature", "origin/feature", str(remote))


def test_checkout_detached_without_origin(repo: Path) -> None:
    run_git(repo, "checkout", "-q", "--detach", "HEAD~1")
    run_git(repo, "remote", "remove", "origin")
    state = git.checkout(str(repo))
    assert state is not None
    assert state["head"] == run_git(repo, "rev-parse", "HEAD")
    assert (state["branch"], state["upstream"], state["remote_url"], state["dirty"]) == (None, None, None, False)


def test_checkout_before_the_first_commit(tmp_path: Path) -> None:
    run_git(tmp_path, "init", "-q", "-b", "trunk")
    state = git.checkout(str(tmp_path))
    assert state is not None and (state["head"], state["branch"]) == (None, "trunk")


def test_checkout_of_something_else_is_none(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert git.checkout(str(tmp_path)) is None
    assert git.checkout(str(tmp_path / "absent")) is None
    assert git.checkout(str(tmp_path / "file")) is None


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


# ---------------------------------------------------------------- checkouts of another user


def global_config() -> list[str]:
    """root's and the system's git configuration files, with their contents."""
    files = [Path.home() / ".gitconfig", Path.home() / ".config/git/config", Path("/etc/gitconfig")]
    return [f"{f}: {f.read_text()}" for f in files if f.exists()]


@pytest.fixture
def nobody() -> pwd.struct_passwd:
    return pwd.getpwnam("nobody")


@as_root
def test_a_checkout_of_another_user_is_read_as_that_user(shared_tmp: Path, nobody: pwd.struct_passwd) -> None:
    """The "dubious ownership" case: root's own git refuses it; the fact reads it, and never runs its config as root."""
    repo = make_repo(shared_tmp / "app")
    hook_out = shared_tmp / "hook"
    hook_out.mkdir(mode=0o777)
    hook_out.chmod(0o777)
    hook = shared_tmp / "fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\nid -u >> {hook_out}/ran-as\nexit 1\n")
    hook.chmod(0o755)
    run_git(repo, "config", "core.fsmonitor", str(hook))  # what a hostile owner could make root run
    head = run_git(repo, "rev-parse", "HEAD")
    config_before = global_config()
    chown_tree(repo, nobody.pw_uid, nobody.pw_gid)
    refused = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert refused.returncode != 0 and "dubious ownership" in refused.stderr  # the hand-written guard's failure
    state = git.checkout(str(repo))
    assert state is not None
    assert (state["head"], state["branch"], state["owner"], state["mine"]) == (head, "feature", "nobody", False)
    ran_as = (hook_out / "ran-as").read_text().split()
    assert ran_as and set(ran_as) == {str(nobody.pw_uid)}
    assert global_config() == config_before  # nobody's git configuration was touched


@as_root
def test_a_checkout_of_a_uid_without_a_name(shared_tmp: Path) -> None:
    repo = make_repo(shared_tmp / "app")
    chown_tree(repo, 54321, 54321)
    state = git.checkout(str(repo))
    assert state is not None
    assert (state["branch"], state["owner"], state["mine"]) == ("feature", "54321", False)


def test_a_checkout_of_another_user_needs_root(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    with pytest.raises(PermissionError, match=r"belongs to .*: git reads a checkout only as its owner"):
        git.checkout(str(repo))


@as_root
def test_git_failures_are_reported_not_hidden(repo: Path, nobody: pwd.struct_passwd) -> None:
    """The owner (nobody) cannot enter the checkout (tmp_path is root's only): git's own error is the fact's error."""
    chown_tree(repo, nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(RuntimeError, match=r"git status in .* failed: fatal: cannot change to"):
        git.checkout(str(repo))


# ---------------------------------------------------------------- remote_ref


def test_remote_ref_default_branch(remote: Path, repo: Path) -> None:
    assert git.remote_ref(str(remote)) == {"ref": "refs/heads/main", "commit": run_git(repo, "rev-parse", "main")}


def test_remote_ref_branches_and_tags(remote: Path, repo: Path) -> None:
    assert git.remote_ref(str(remote), "feature") == {
        "ref": "refs/heads/feature",
        "commit": run_git(repo, "rev-parse", "feature"),
    }
    assert git.remote_ref("file://" + str(remote), "v1") == {
        "ref": "refs/tags/v1",
        "commit": run_git(repo, "rev-parse", "v1"),
    }
    annotated = git.remote_ref(str(remote), "v2")
    assert annotated == {"ref": "refs/tags/v2", "commit": run_git(repo, "rev-parse", "main~1")}
    assert annotated["commit"] != run_git(repo, "rev-parse", "v2")  # the commit, not the tag object


def test_remote_ref_missing_rev_or_commits(remote: Path, tmp_path: Path) -> None:
    assert git.remote_ref(str(remote), "nope") is None
    assert git.remote_ref(str(remote), "feat") is None  # no prefix matching
    empty = tmp_path / "empty.git"
    subprocess.run(["git", "init", "-q", "--bare", str(empty)], check=True)
    assert git.remote_ref(str(empty)) is None


def test_remote_ref_failures_are_errors_without_passwords(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"git ls-remote .*absent\.git failed: fatal: .*absent\.git' does not"):
        git.remote_ref(str(tmp_path / "absent.git"))
    with pytest.raises(RuntimeError, match=r"https://deploy:\*\*\*@127\.0\.0\.1:9/app\.git failed") as info:
        git.remote_ref("https://deploy:s3cret@127.0.0.1:9/app.git", "main")
    assert "s3cret" not in str(info.value)


@as_root
def test_remote_ref_of_another_users_repository_runs_as_that_user(shared_tmp: Path, nobody: pwd.struct_passwd) -> None:
    remote = make_remote(shared_tmp / "remote.git", make_repo(shared_tmp / "app"))
    chown_tree(remote, nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(PermissionError, match="git refuses a repository that belongs to another user"):
        git.remote_ref(str(remote))  # root's git: git's ownership check
    found = git.remote_ref(str(remote), user="nobody")
    assert found is not None and found["ref"] == "refs/heads/main"


def test_remote_ref_as_another_user_needs_root(remote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    with pytest.raises(PermissionError, match="only root may run git as nobody"):
        git.remote_ref(str(remote), user="nobody")
    with pytest.raises(KeyError):
        git.remote_ref(str(remote), user="no-such-user-x")


def test_remote_ref_gives_up_and_kills_what_git_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hanging remote (here a fake git whose child sleeps) fails after the timeout, leaving no process behind."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "child-pid"
    (bin_dir / "git").write_text(f"#!/bin/sh\nsleep 30 &\necho $! > {marker}\nwait\n")
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setattr(_command, "STANDARD_PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(git, "REMOTE_TIMEOUT", 0.5)
    start = time.monotonic()
    with pytest.raises(
        RuntimeError, match=r"git ls-remote https://u:\*\*\*@git\.example\.com/app\.git did not finish wi"
    ):
        git.remote_ref("https://u:s3cret@git.example.com/app.git")
    assert time.monotonic() - start < 10
    child = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(child, 0)
            time.sleep(0.05)


# ---------------------------------------------------------------- parsers (captured output)


def test_parse_status_branch_dirty(captured: Callable[[str], str]) -> None:
    assert git.parse_status(captured("git-status-branch-dirty.txt")) == {
        "head": "bb98ffe2f1adb1fe5f1a2c95b0576884826dbbb5",
        "branch": "feature",
        "upstream": None,
        "dirty": True,
    }


def test_parse_status_detached_clean(captured: Callable[[str], str]) -> None:
    assert git.parse_status(captured("git-status-detached-clean.txt")) == {
        "head": "59b12192adcc45a47a22c6f52a455d03ffd54f5b",
        "branch": None,
        "upstream": None,
        "dirty": False,
    }


def test_parse_status_unborn_upstream_untracked(captured: Callable[[str], str]) -> None:
    unborn = git.parse_status(captured("git-status-unborn.txt"))
    assert unborn == {"head": None, "branch": "main", "upstream": None, "dirty": False}
    ahead = git.parse_status(captured("git-status-upstream-ahead.txt"))
    assert ahead == {
        "head": "10a56d1bf89ef8d27f16cb9aa7331ba6aded8704",
        "branch": "main",
        "upstream": "origin/main",
        "dirty": False,
    }
    untracked = git.parse_status(captured("git-status-untracked-only.txt"))
    assert (untracked["upstream"], untracked["dirty"]) == ("origin/main", False)


def test_parse_status_rejects_output_without_branch_headers() -> None:
    with pytest.raises(ValueError, match=r"branch\.oid"):
        git.parse_status("1 .M N... 100644 100644 100644 aa bb README\n")


def test_parse_ls_remote_default_branch(captured: Callable[[str], str]) -> None:
    assert git.parse_ls_remote(captured("git-ls-remote-symref-head.txt"), None) == {
        "ref": "refs/heads/main",
        "commit": "5ee3e97c69c3cb7898fcd3751592ad0e26d97729",
    }
    assert git.parse_ls_remote(captured("git-ls-remote-detached-head.txt"), None) == {
        "ref": None,
        "commit": "07af7a7e4cbf7b10ff2f828e1ed7fed0e7fe939e",
    }
    assert git.parse_ls_remote("", None) is None


def test_parse_ls_remote_annotated_tag_is_peeled(captured: Callable[[str], str]) -> None:
    assert git.parse_ls_remote(captured("git-ls-remote-annotated-tag.txt"), "v2") == {
        "ref": "refs/tags/v2",
        "commit": "5ee3e97c69c3cb7898fcd3751592ad0e26d97729",
    }


def test_parse_ls_remote_branch_wins_over_tag(captured: Callable[[str], str]) -> None:
    """As with ``git clone --branch both`` (``git rev-parse both`` would take the tag)."""
    assert git.parse_ls_remote(captured("git-ls-remote-branch-and-tag.txt"), "both") == {
        "ref": "refs/heads/both",
        "commit": "5ee3e97c69c3cb7898fcd3751592ad0e26d97729",
    }
    assert git.parse_ls_remote(captured("git-ls-remote-branch-and-tag.txt"), "other") is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://deploy:s3cret@git.example.com/app.git", "https://deploy:***@git.example.com/app.git"),
        ("https://deploy@git.example.com/app.git", "https://deploy@git.example.com/app.git"),
        ("git@git.example.com:app.git", "git@git.example.com:app.git"),
        ("/srv/git/app.git", "/srv/git/app.git"),
    ],
)
def test_shown_url_hides_passwords(url: str, shown: str) -> None:
    assert git.shown_url(url) == shown


@pytest.mark.lab
def test_lab_checkout_absent(lab_fact: Callable[..., Any]) -> None:
    assert lab_fact(git.checkout, path="/") is None
    assert lab_fact(git.checkout, path="/srv/no-such-checkout") is None
