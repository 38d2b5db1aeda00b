"""``git.repo`` on a lab host over SSH (as root through sudo), against a bare repository on the host.

The checkouts belong to ``app`` while the run is root's: root's own git refuses
them ("dubious ownership"), which is how a hand-written guard (``git -C
/srv/app rev-parse HEAD`` as root) said "in sync" while the host was behind.
One checkout comes over ssh (the host's own sshd) with app's key, which root
does not have: the remote is read as the user who fetches.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import paracrine.lab as lab
from paracrine.testing import Invocation, invoke

pytestmark = pytest.mark.lab

BARE = "/srv/git/app.git"

DEPLOY = """\
import os
from paracrine.operations import git

git.repo("/srv/git/app.git", "/srv/app", user="app", force=os.environ.get("T_FORCE") == "1")
git.repo("/srv/git/app.git", "/srv/tag", rev="v1", user="app")
git.repo("/srv/git/app.git", "/srv/pinned", rev=os.environ["T_PIN"], user="app", depth=1)
git.repo(os.environ["T_SSH"], "/srv/viassh", user="app")
"""

SETUP = """\
useradd --create-home --shell /bin/sh app
usermod --password '*' app  # not locked: sshd (without PAM) refuses locked accounts even with a key
install -d -o app -g app /srv/git
sudo -u app -H sh -ec '
git init -q --bare -b main {bare}
git clone -q {bare} ~/work 2>/dev/null
cd ~/work
git config user.name App; git config user.email app@example.com
echo one > README; git add README; git commit -q -m one; git tag -a -m "release 1" v1
echo two >> README; git commit -q -am two
git push -q origin main v1
ssh-keygen -q -t ed25519 -N "" -f ~/.ssh/id_ed25519
cp ~/.ssh/id_ed25519.pub ~/.ssh/authorized_keys
echo "[127.0.0.1]:{port} $(cut -d" " -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)" > ~/.ssh/known_hosts
'
"""


def on_host(host: lab.LabHost, command: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a shell command as root on the host (through the lab's ssh_config)."""
    config = lab.lab_dir() / "state" / "ssh_config"
    argv = ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-l", "root", host.name, command]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert not check or result.returncode == 0, f"{command}: {result.stderr}"
    return result


def as_app(host: lab.LabHost, script: str) -> str:
    return on_host(host, "sudo -u app -H sh -ec " + shlex.quote(script)).stdout.strip()


def head(host: lab.LabHost, checkout: str) -> str:
    return as_app(host, f"git -C {checkout} rev-parse HEAD")


def push_commit(host: lab.LabHost, line: str) -> str:
    """A new commit on main upstream; its id."""
    as_app(host, f"cd ~/work && echo {line} >> README && git commit -q -am {line} && git push -q origin main")
    return as_app(host, "git -C ~/work rev-parse HEAD")


def run(deploy: Path, *args: str) -> Invocation:
    return invoke([str(deploy), "-i", "@lab/1", "--state-dir", str(deploy.parent / "state"), *args])


def assert_no_op(deploy: Path) -> None:
    """Nothing to change: every operation ok, one fact round trip, no apply round trip."""
    again = run(deploy, "-y", "--json")
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    statuses = {op["status"] for data in report["hosts"].values() for op in data["operations"]}
    assert statuses == {"ok"}, again.stdout
    assert report["round_trips"]["facts"] == 1 and report["round_trips"]["apply"] == 0, report["round_trips"]


def test_repo_as_its_owner_while_the_run_is_roots(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (host,) = lab_hosts(1)
    on_host(host, SETUP.format(bare=BARE, port=host.port))
    first, second = as_app(host, "git -C ~/work rev-parse HEAD~1 HEAD").split()
    ssh_url = f"ssh://app@127.0.0.1:{host.port}{BARE}"
    assert on_host(host, f"git ls-remote {ssh_url}", check=False).returncode != 0  # root has no key for it
    monkeypatch.setenv("T_PIN", first)
    monkeypatch.setenv("T_SSH", ssh_url)
    deploy = tmp_path / "deploy.py"
    deploy.write_text(textwrap.dedent(DEPLOY))

    # a fresh host: cloned as app (branch, annotated tag, commit of a shallow clone)
    assert run(deploy, "--check").exit_code == 2
    applied = run(deploy, "-y")
    assert applied.exit_code == 0, applied.stderr
    assert f"clone /srv/git/app.git into /srv/app at branch main ({second[:12]}) as app" in applied.stdout
    app_uid = int(on_host(host, "id -u app").stdout)
    for checkout in ("/srv/app", "/srv/tag", "/srv/pinned", "/srv/viassh"):
        assert (Path(host.root) / checkout.lstrip("/") / ".git").stat().st_uid == app_uid
    assert head(host, "/srv/app") == head(host, "/srv/viassh") == second
    assert as_app(host, "git -C /srv/app rev-parse --abbrev-ref main@{upstream}") == "origin/main"
    assert (head(host, "/srv/tag"), head(host, "/srv/pinned")) == (first, first)
    assert as_app(host, "git -C /srv/tag symbolic-ref -q HEAD || echo detached") == "detached"
    assert as_app(host, "git -C /srv/pinned rev-parse --is-shallow-repository") == "true"
    # root's own git refuses app's checkout: a guard run as root would have read nothing
    refused = on_host(host, "git -C /srv/app rev-parse HEAD", check=False)
    assert refused.returncode != 0 and "dubious ownership" in refused.stderr
    assert_no_op(deploy)

    # a new commit upstream: --check sees it, the run moves the branch, the next run is a no-op
    third = push_commit(host, "three")
    checked = run(deploy, "--check")
    assert checked.exit_code == 2, checked.stdout
    assert f"update /srv/app: {second[:12]} on main -> branch main ({third[:12]}) as app" in checked.stdout
    assert run(deploy, "-y").exit_code == 0
    assert (head(host, "/srv/app"), head(host, "/srv/tag"), head(host, "/srv/pinned")) == (third, first, first)
    assert head(host, "/srv/viassh") == third
    assert_no_op(deploy)

    # local changes are an error, not overwritten; force=True discards them and updates
    as_app(host, "echo local >> /srv/app/README")
    fourth = push_commit(host, "four")
    refused_run = run(deploy, "-y")
    assert refused_run.exit_code == 1 and "/srv/app has local changes" in refused_run.stderr
    assert head(host, "/srv/app") == third
    monkeypatch.setenv("T_FORCE", "1")
    forced = run(deploy, "-y")
    assert forced.exit_code == 0, forced.stderr
    assert head(host, "/srv/app") == head(host, "/srv/viassh") == fourth
    assert (Path(host.root) / "srv/app/README").read_text() == "one\ntwo\nthree\nfour\n"
    assert_no_op(deploy)
