"""The target side of DownloadFile and ExtractArchive, offline in temporary directories.

``apply_change`` runs a change's wire form as the target's executor does. The
archive's transfer from the controller (Mitogen's FileService) is replaced by a
local copy; downloads come from an HTTP server on 127.0.0.1 started here.
"""

from __future__ import annotations

import hashlib
import io
import os
import pwd
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from paracrine.changes import DownloadFile, ExtractArchive, LocalFile
from paracrine.changes import write as write_kind
from paracrine.remote.execute import apply_change
from paracrine.testing import serving

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (owners)")


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if ".paracrine-" in p.name]


# ---------------------------------------------------------------- DownloadFile


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "served"
    root.mkdir()

    with serving(root) as url:
        yield root, url


def test_download_checks_the_sha256_before_moving_the_file_in_place(served: tuple[Path, str], tmp_path: Path) -> None:
    root, url = served
    (root / "tool").write_bytes(b"tool\n")
    dest = tmp_path / "opt" / "tool"
    good = DownloadFile(str(dest), f"{url}/tool", hashlib.sha256(b"tool\n").hexdigest(), mode=0o755)
    outcome = apply_change(good.to_wire())
    assert outcome["error"] is None and outcome["changed"]
    assert dest.read_bytes() == b"tool\n" and stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert not apply_change(good.to_wire())["changed"]  # the file has the sha256: not fetched again

    (root / "tool").write_bytes(b"tampered\n")
    other = tmp_path / "other"
    bad = DownloadFile(str(other / "tool"), f"{url}/tool", hashlib.sha256(b"tool\n").hexdigest())
    outcome = apply_change(bad.to_wire())
    assert outcome["error"] is not None and "not the expected" in outcome["error"]
    assert list(other.iterdir()) == []  # neither the file nor a temporary file

    missing = apply_change(DownloadFile(str(other / "x"), f"{url}/nope").to_wire())
    assert missing["error"] is not None and f"downloading {url}/nope failed" in missing["error"]
    assert list(other.iterdir()) == []


def test_download_without_sha256_is_a_change_only_when_the_file_differs(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = served
    (root / "notes").write_bytes(b"v1\n")
    dest = tmp_path / "notes"
    change = DownloadFile(str(dest), f"{url}/notes").to_wire()
    assert apply_change(change)["changed"]
    assert not apply_change(change)["changed"]  # downloaded again (force), the same content
    (root / "notes").write_bytes(b"v2\n")
    assert apply_change(change)["changed"] and dest.read_bytes() == b"v2\n"
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------- ExtractArchive


@pytest.fixture(autouse=True)
def local_transfer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stream "from the controller" by copying the local file (what FileService does over the wire)."""

    def streamer(source: dict[str, Any], sha256: str) -> Any:
        def write(stream: BinaryIO) -> None:
            stream.write(Path(source["path"]).read_bytes())

        return write

    monkeypatch.setattr(write_kind, "_streamer", streamer)


def _archive(path: Path) -> LocalFile:
    with tarfile.open(path, "w:gz") as tar:
        for name, data, mode in [("app/bin/run", b"run\n", 0o6777), ("app/README", b"app\n", 0o600)]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), mode, 4321, 4321
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("app/current")
        link.type, link.linkname = tarfile.SYMTYPE, "README"
        tar.addfile(link)
    return LocalFile.of(str(path))


def _members(*names: str) -> tuple[tuple[str, str | None], ...]:
    digests = {"bin/run": hashlib.sha256(b"run\n").hexdigest(), "README": hashlib.sha256(b"app\n").hexdigest()}
    return tuple((name, digests.get(name)) for name in names)


def test_extract_writes_the_listed_members_with_safe_modes(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "app.tar.gz")
    dest = tmp_path / "dest"
    dest.mkdir()
    change = ExtractArchive(str(dest), archive, _members("bin/run", "README", "current"), 1, owner="nobody")
    outcome = apply_change(change.to_wire())
    assert outcome["error"] is None and outcome["changed"]
    run = (dest / "bin" / "run").stat()
    assert stat.S_IMODE(run.st_mode) == 0o755  # no setuid, setgid or group/other write
    assert run.st_uid == (dest / "README").stat().st_uid == pwd.getpwnam("nobody").pw_uid  # never the archive's
    assert stat.S_IMODE((dest / "README").stat().st_mode) == 0o600
    assert os.readlink(dest / "current") == "README"
    assert not apply_change(change.to_wire())["changed"]
    assert sorted(os.listdir(dest)) == ["README", "bin", "current"]  # the spooled archive left nothing


def test_extract_only_the_members_listed(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "app.tar.gz")
    dest = tmp_path / "dest"
    dest.mkdir()
    outcome = apply_change(ExtractArchive(str(dest), archive, _members("README"), 1).to_wire())
    assert outcome["error"] is None
    assert sorted(os.listdir(dest)) == ["README"]


def test_extract_never_writes_through_a_link_on_the_host(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "app.tar.gz")
    dest, elsewhere = tmp_path / "dest", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    (dest / "bin").symlink_to(elsewhere)
    outcome = apply_change(ExtractArchive(str(dest), archive, _members("bin/run"), 1).to_wire())
    assert outcome["error"] is not None and "which is not a directory" in outcome["error"]
    assert list(elsewhere.iterdir()) == []


def test_extract_refuses_a_member_that_is_not_what_was_planned(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "app.tar.gz")
    dest = tmp_path / "dest"
    dest.mkdir()
    planned = (("README", hashlib.sha256(b"something else\n").hexdigest()),)
    outcome = apply_change(ExtractArchive(str(dest), archive, planned, 1).to_wire())
    assert outcome["error"] is not None and "not what was planned" in outcome["error"]
    assert os.listdir(dest) == []
