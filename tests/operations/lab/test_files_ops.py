"""files.sync, put of a directory, download, block, replace and unarchive on a real lab host over SSH.

One deploy applies them all to a fresh host; the host's files are then read
from the controller (the host's root filesystem is a directory here). A second
run must change nothing: every operation "ok", no apply round trip, and
``--check`` exits 0. Downloads come from an HTTP server this test starts on
127.0.0.1 (lab hosts share the controller's network namespace).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paracrine.testing import Invocation, invoke, serving

pytestmark = pytest.mark.lab

TOOL = b"#!/bin/sh\necho tool 1.0\n"
DEPLOY = """\
from paracrine.operations import files

files.sync("site", "/srv/site", delete=True, exclude=["*.tmp"], owner="www-data", group="www-data")
files.directory("/etc/app/conf.d", mode=0o750)
files.put("conf.d", "/etc/app/conf.d", mode=0o640)
files.download("{url}/tool", "/opt/tool/tool", sha256="{sha256}", mode=0o755)
files.download("{url}/notes.txt", "/opt/tool/notes.txt")
files.block("/etc/hosts", "10.0.0.1 db1\\n10.0.0.2 db2\\n", marker="# {{mark}} db hosts")
files.block("/etc/hosts", "10.0.1.1 web1", marker="# {{mark}} web hosts", insert_before="BOF")
files.replace("/etc/login.defs", r"^UMASK(\\s+)022$", r"UMASK\\g<1>027", validate=["grep", "-q", "^UMASK", "{{}}"])
files.unarchive("app.tar.gz", "/opt/app", strip_components=1, owner="www-data")
"""
WRONG_SHA256 = """\
from paracrine.operations import files

files.download("{url}/tool", "/opt/bad/tool", sha256="{sha256}")
"""


@pytest.fixture
def http_url(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving tmp_path/served (tool, notes.txt)."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "tool").write_bytes(TOOL)
    (served / "notes.txt").write_text("notes\n")

    with serving(served) as url:
        yield url


def _archive(path: Path) -> None:
    """app.tar.gz: app-1.0/{bin/run (setuid in the archive), README, current -> README}."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data, mode in [
            ("app-1.0/bin/run", b"#!/bin/sh\necho run\n", 0o4755),
            ("app-1.0/README", b"app\n", 0o664),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid = len(data), mode, 1234
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("app-1.0/current")
        link.type, link.linkname = tarfile.SYMTYPE, "README"
        tar.addfile(link)


@pytest.fixture
def deploy(tmp_path: Path, http_url: str) -> Path:
    site = tmp_path / "site"
    (site / "css").mkdir(parents=True)
    (site / "index.html").write_text("<h1>hello</h1>\n")
    (site / "css" / "site.css").write_text("body {}\n")
    (site / "home.html").symlink_to("index.html")
    (site / "draft.tmp").write_text("excluded\n")
    for path in (site / "index.html", site / "css" / "site.css"):
        path.chmod(0o644)
    (site / "css").chmod(0o755)
    site.chmod(0o755)
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "app.conf").write_text("port = 80\n")
    _archive(tmp_path / "app.tar.gz")
    path = tmp_path / "deploy.py"
    path.write_text(DEPLOY.format(url=http_url, sha256=hashlib.sha256(TOOL).hexdigest()))
    return path


def run(deploy: Path, *args: str) -> Invocation:
    return invoke([str(deploy), "-i", "@lab/1", "--state-dir", str(deploy.parent / "state"), *args])


def on(host: Any, path: str) -> Path:
    """A path inside the lab host's root filesystem, seen from the controller."""
    return Path(host.root) / path.lstrip("/")


def _prepare(host: Any) -> None:
    """What the host has before the first run: stale files sync removes, and one it must keep."""
    (on(host, "/srv/site/old")).mkdir(parents=True)
    (on(host, "/srv/site/old/page.html")).write_text("old\n")
    (on(host, "/srv/site/stale.html")).write_text("stale\n")
    (on(host, "/srv/site/keep.tmp")).write_text("excluded on the host too\n")


def _check_converged(host: Any) -> None:
    site = on(host, "/srv/site")
    assert sorted(p.name for p in site.iterdir()) == ["css", "home.html", "index.html", "keep.tmp"]
    assert (site / "index.html").read_text() == "<h1>hello</h1>\n"
    st = (site / "css" / "site.css").lstat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o644, 33, 33)
    assert os.readlink(site / "home.html") == "index.html" and (site / "home.html").lstat().st_uid == 33
    conf = on(host, "/etc/app/conf.d/app.conf")
    assert conf.read_text() == "port = 80\n" and conf.stat().st_mode & 0o7777 == 0o640
    assert on(host, "/etc/app/conf.d").stat().st_mode & 0o7777 == 0o750  # put keeps a directory's mode
    tool = on(host, "/opt/tool/tool")
    assert tool.read_bytes() == TOOL and tool.stat().st_mode & 0o7777 == 0o755
    assert on(host, "/opt/tool/notes.txt").read_text() == "notes\n"
    hosts = on(host, "/etc/hosts").read_text().splitlines()
    assert hosts[:3] == ["# BEGIN web hosts", "10.0.1.1 web1", "# END web hosts"]
    assert hosts[-4:] == ["# BEGIN db hosts", "10.0.0.1 db1", "10.0.0.2 db2", "# END db hosts"]
    assert "UMASK\t\t027" in on(host, "/etc/login.defs").read_text().splitlines()
    run_ = on(host, "/opt/app/bin/run").stat()
    assert (run_.st_mode & 0o7777, run_.st_uid) == (0o755, 33)  # no setuid, never the archive's owner
    assert on(host, "/opt/app/README").read_text() == "app\n"
    assert os.readlink(on(host, "/opt/app/current")) == "README"


def _assert_nothing_changes(deploy: Path) -> None:
    again = run(deploy, "-y", "--json")
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    statuses = {op["title"]: op["status"] for data in report["hosts"].values() for op in data["operations"]}
    assert set(statuses.values()) == {"ok"}, statuses
    assert report["round_trips"]["apply"] == 0
    assert run(deploy, "--check").exit_code == 0


def test_files_operations_converge_and_then_change_nothing(lab_hosts: Callable[[int], list[Any]], deploy: Path) -> None:
    (host,) = lab_hosts(1)
    _prepare(host)
    assert run(deploy, "--check").exit_code == 2
    applied = run(deploy, "-y", "--json")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    # every change was predicted (also the new conf.d's files.tree): one batch, no re-planning
    assert json.loads(applied.stdout)["round_trips"]["apply"] == 1
    _check_converged(host)
    _assert_nothing_changes(deploy)

    # drift on the host is repaired, and only the drift
    on(host, "/srv/site/index.html").write_text("defaced\n")
    on(host, "/opt/app/README").unlink()
    on(host, "/srv/site/new.html").write_text("new\n")
    on(host, "/etc/hosts").write_text(on(host, "/etc/hosts").read_text().replace("10.0.0.2 db2", "10.0.0.3 db3"))
    assert run(deploy, "--check").exit_code == 2
    repaired = run(deploy, "-y")
    assert repaired.exit_code == 0, repaired.stdout + repaired.stderr
    _check_converged(host)
    _assert_nothing_changes(deploy)


def test_a_download_with_a_wrong_sha256_fails_and_leaves_nothing(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path, http_url: str
) -> None:
    (host,) = lab_hosts(1)
    deploy = tmp_path / "wrong.py"
    deploy.write_text(WRONG_SHA256.format(url=http_url, sha256="0" * 64))
    failed = run(deploy, "-y")
    assert failed.exit_code == 1
    assert (
        f"{http_url}/tool has sha256 {hashlib.sha256(TOOL).hexdigest()}, not the expected"
        in failed.stdout + failed.stderr
    )
    assert list(on(host, "/opt/bad").iterdir()) == []  # no file, no temporary file
