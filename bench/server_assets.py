"""What the ``server`` workload deploys from the controller, built once into bench/.work/server/.

Lab hosts have no network but loopback, so everything the workload installs comes from here:

* ``server-bench-hello_1.0-1_all.deb``: a tiny package (``apt.deb``), built with ``dpkg-deb``;
* ``app.tar.gz``: an archive of one top directory (``files.unarchive`` with ``strip_components=1``);
* ``wheels/``: a wheel of one pure-Python distribution (``pip.packages`` from a local wheelhouse;
  written with ``zipfile``, as tests/operations/lab/test_pip_ops.py does, since PyPI is out of reach);
* ``server-bench.gpg``: an APT keyring (``apt.key``: a copy of Debian's bookworm archive key);
* ``www/``: what the loopback HTTP server (:func:`serving`) hands to the hosts: ``tool.sh``
  (``files.download``) and ``app.git``, a bare repository with one commit on branch ``main``, served over
  git's dumb HTTP protocol (``git.repo``). No tag: pyinfra's ``GitBranch`` fact (``git describe --all``)
  would name a tag on HEAD instead of the branch, and check the branch out again on every run.

Everything is deterministic (fixed dates, fixed owners), so a rebuild gives the same bytes, the same
package version and the same commit ids. The static trees (``files.sync``, ``files.put`` of a
directory) are in the repository: bench/server/site and bench/server/conf.d.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from bench.config import BENCH_DIR, WORK_DIR
from paracrine.testing import make_wheel
from paracrine.testing import serving as serving  # the loopback HTTP server the hosts download from

ASSETS = WORK_DIR / "server"
STATIC = BENCH_DIR / "server"
DEB_NAME = "server-bench-hello"
DEB_FILE = f"{DEB_NAME}_1.0-1_all.deb"
WHEEL_NAME = "server_bench_hello"
WHEEL_VERSION = "1.0"
TOOL = b"#!/bin/sh\necho server-bench tool 1.0\n"
TOOL_SHA256 = hashlib.sha256(TOOL).hexdigest()
KEYRING_SOURCE = Path("/usr/share/keyrings/debian-archive-bookworm-stable.gpg")
#: 2026-01-01 00:00 UTC: every date in the assets.
EPOCH = 1767225600
#: Files of the archive (below its top directory ``app-1.0/``).
ARCHIVE_FILES = {"bin/app": b"#!/bin/sh\necho app 1.0\n", "README": b"server-bench app 1.0\n"}
#: The repository's files.
GIT_FILES = {"README": "server-bench repository\n", "VERSION": "1\n"}


def build(dest: Path = ASSETS) -> Path:
    """Build what is missing of the assets below ``dest``; returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "www").mkdir(exist_ok=True)
    if not (dest / "www" / "tool.sh").is_file():
        (dest / "www" / "tool.sh").write_bytes(TOOL)
    if not (dest / DEB_FILE).is_file():
        build_deb(dest)
    if not (dest / "app.tar.gz").is_file():
        build_archive(dest / "app.tar.gz")
    if not (dest / "wheels").is_dir():
        build_wheel(dest / "wheels")
    if not (dest / "server-bench.gpg").is_file():
        shutil.copyfile(KEYRING_SOURCE, dest / "server-bench.gpg")
    if not (dest / "www" / "app.git").is_dir():
        build_git(dest / "www" / "app.git")
    return dest


def build_deb(dest: Path) -> None:
    tree = dest / "deb-tree"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "usr/share/server-bench-hello").mkdir(parents=True)
    (tree / "usr/share/server-bench-hello/version").write_text("1.0-1\n")
    (tree / "DEBIAN/control").write_text(
        f"Package: {DEB_NAME}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: bench <bench@invalid>\n"
        "Description: a package of the server workload\n"
    )
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)}
    argv = ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(dest / DEB_FILE)]
    subprocess.run(argv, check=True, capture_output=True, env=env)
    shutil.rmtree(tree)


def build_archive(path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("app-1.0", "app-1.0/bin"):
            archive.addfile(_tar_info(name, tarfile.DIRTYPE, 0o755))
        for name, data in ARCHIVE_FILES.items():
            info = _tar_info(f"app-1.0/{name}", tarfile.REGTYPE, 0o755 if name.startswith("bin/") else 0o644)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())


def _tar_info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.uname, info.gname = kind, mode, EPOCH, "root", "root"
    return info


def build_wheel(where: Path) -> None:
    """A pure-Python wheel of one module (:func:`paracrine.testing.make_wheel`)."""
    where.mkdir(parents=True)
    make_wheel(where, WHEEL_NAME, WHEEL_VERSION, dist="server-bench-hello")


def build_git(bare: Path) -> None:
    """A bare repository with one commit on ``main``, ready for git's dumb HTTP protocol."""
    work = bare.with_name("app-work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    date = f"@{EPOCH} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date, "HOME": str(work)}
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@invalid"]

    def git(*args: str, cwd: Path = work) -> None:
        subprocess.run(["git", *ident, *args], cwd=cwd, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    for name, text in GIT_FILES.items():
        (work / name).write_text(text)
    git("add", ".")
    git("commit", "-q", "-m", "version 1")
    git("clone", "-q", "--bare", str(work), str(bare), cwd=work.parent)
    git("update-server-info", cwd=bare)
    shutil.rmtree(work)


def git_commit(bare: Path = ASSETS / "www" / "app.git") -> str:
    """The commit of branch ``main``."""
    argv = ["git", "-C", str(bare), "rev-parse", "main"]
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()
