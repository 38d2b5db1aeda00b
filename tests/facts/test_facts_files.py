"""Tests of paracrine.facts.files on tmp_path fixtures."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.facts import files

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")


def test_path_info_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("hello\n")
    path.chmod(0o640)
    st = path.stat()
    assert files.path_info(str(path)) == {
        "kind": "file",
        "mode": 0o640,
        "owner": pwd.getpwuid(os.getuid()).pw_name,
        "group": grp.getgrgid(os.getgid()).gr_name,
        "uid": os.getuid(),
        "gid": os.getgid(),
        "size": 6,
        "mtime": st.st_mtime,
        "target": None,
    }


def test_path_info_of_a_directory_with_special_bits(tmp_path: Path) -> None:
    path = tmp_path / "shared"
    path.mkdir()
    path.chmod(0o2775)
    info = files.path_info(str(path))
    assert info is not None
    assert info["kind"] == "directory"
    assert info["mode"] == 0o2775


def test_path_info_does_not_follow_links(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("x")
    (tmp_path / "link").symlink_to("real")
    (tmp_path / "dangling").symlink_to("/nonexistent/target")
    info = files.path_info(str(tmp_path / "link"))
    assert info is not None
    assert info["kind"] == "link"
    assert info["target"] == "real"
    assert info["size"] == len("real")
    dangling = files.path_info(str(tmp_path / "dangling"))
    assert dangling is not None and dangling["target"] == "/nonexistent/target"


def test_path_info_of_other_kinds_and_absent_paths(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    info = files.path_info(str(tmp_path / "fifo"))
    assert info is not None and info["kind"] == "other"
    (tmp_path / "file").write_text("")
    assert files.path_info(str(tmp_path / "absent")) is None
    assert files.path_info(str(tmp_path / "file" / "child")) is None


@needs_root
def test_path_info_names_unknown_owners_by_number(tmp_path: Path) -> None:
    path = tmp_path / "orphan"
    path.write_text("")
    os.chown(path, 54321, 54322)
    info = files.path_info(str(path))
    assert info is not None
    assert (info["owner"], info["group"], info["uid"], info["gid"]) == ("54321", "54322", 54321, 54322)


def test_sha256_equals_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = os.urandom(3 * files.CHUNK + 17)
    path.write_bytes(data)
    assert files.sha256(str(path)) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert files.sha256(str(tmp_path / "empty")) == hashlib.sha256(b"").hexdigest()


def test_sha256_is_none_for_what_is_not_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to("file")
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")  # must not block
    for name in ("link", "dir", "fifo", "absent"):
        assert files.sha256(str(tmp_path / name)) is None, name
    assert files.sha256(str(tmp_path / "file" / "child")) is None


def test_listing(tmp_path: Path) -> None:
    for name in ("b", ".hidden", "a"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to("sub")
    assert files.listing(str(tmp_path)) == [".hidden", "a", "b", "link", "sub"]
    assert files.listing(str(tmp_path / "sub")) == []
    assert files.listing(str(tmp_path / "link")) is None
    assert files.listing(str(tmp_path / "a")) is None
    assert files.listing(str(tmp_path / "absent")) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"one\ntwo\n", ["one", "two"]),
        (b"one\ntwo", ["one", "two"]),
        (b"", []),
        (b"\n", [""]),
        (b"a\n\nb\n\n", ["a", "", "b", ""]),
        (b"dos\r\nline\r\n", ["dos\r", "line\r"]),
        (b"tab\there\x0cform\n", ["tab\there\x0cform"]),
        ("caf\u00e9\n".encode(), ["caf\u00e9"]),
    ],
)
def test_lines(tmp_path: Path, data: bytes, expected: list[str]) -> None:
    path = tmp_path / "text"
    path.write_bytes(data)
    assert files.lines(str(path)) == expected


def test_lines_keeps_undecodable_bytes_as_surrogates(tmp_path: Path) -> None:
    path = tmp_path / "latin1"
    path.write_bytes(b"caf\xe9\n")
    result = files.lines(str(path))
    assert result == ["caf\udce9"]
    assert result[0].encode("utf-8", "surrogateescape") == b"caf\xe9"


def test_lines_absent_is_none(tmp_path: Path) -> None:
    assert files.lines(str(tmp_path / "absent")) is None


def test_lines_refuses_large_files(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 101)
    with pytest.raises(ValueError, match=r"101 bytes, more than max_bytes=100"):
        files.lines(str(path), max_bytes=100)
    assert files.lines(str(path), max_bytes=101) == ["x" * 101]


def test_lines_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x\n")
    (tmp_path / "link").symlink_to("file")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ValueError, match="is a directory"):
        files.lines(str(tmp_path / "dir"))
    with pytest.raises(ValueError, match="is a symbolic link to file"):
        files.lines(str(tmp_path / "link"))
    with pytest.raises(ValueError, match="not a regular file"):
        files.lines(str(tmp_path / "fifo"))


def test_lines_reads_proc_files_despite_their_zero_size() -> None:
    result = files.lines("/proc/self/status")
    assert result is not None and any(line.startswith("Name:") for line in result)


@pytest.mark.lab
def test_lab_path_info(lab_fact: Callable[..., Any]) -> None:
    assert lab_fact(files.path_info, path="/etc/hostname")["kind"] == "file"
    release = lab_fact(files.path_info, path="/etc/os-release")
    assert release["kind"] == "link"
    assert release["target"] == "../usr/lib/os-release"
    assert lab_fact(files.path_info, path="/nonexistent") is None


@pytest.mark.lab
def test_lab_contents(lab_fact: Callable[..., Any]) -> None:
    assert "ID=debian" in lab_fact(files.lines, path="/usr/lib/os-release")
    assert lab_fact(files.sha256, path="/etc/os-release") is None  # a link
    assert len(lab_fact(files.sha256, path="/usr/lib/os-release")) == 64
    assert "passwd" in lab_fact(files.listing, path="/etc")


# ---------------------------------------------------------------- files.tree


def _sample_tree(root: Path) -> Path:
    """root/{a.txt, sub/{b.bin, deep/c.pyc}, link -> sub, dangling -> /nope, fifo, cache/x}."""
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "cache").mkdir()
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(b"\x00\x01")
    (root / "sub" / "deep" / "c.pyc").write_bytes(b"pyc")
    (root / "cache" / "x").write_text("x")
    (root / "link").symlink_to("sub")
    (root / "dangling").symlink_to("/nope")
    os.mkfifo(root / "fifo")
    (root / "a.txt").chmod(0o640)
    return root


def test_tree_describes_every_path_below_without_following_links(tmp_path: Path) -> None:
    root = _sample_tree(tmp_path / "t")
    result = files.tree(str(root))
    assert result is not None
    assert list(result) == [
        "a.txt", "cache", "cache/x", "dangling", "fifo", "link", "sub", "sub/b.bin", "sub/deep", "sub/deep/c.pyc",
    ]  # fmt: skip
    owner = pwd.getpwuid(os.getuid()).pw_name
    assert result["a.txt"] == {
        "kind": "file",
        "mode": 0o640,
        "owner": owner,
        "group": grp.getgrgid(os.getgid()).gr_name,
        "uid": os.getuid(),
        "gid": os.getgid(),
        "size": 6,
        "sha256": hashlib.sha256(b"alpha\n").hexdigest(),
        "target": None,
    }
    assert (result["link"]["kind"], result["link"]["target"], result["link"]["sha256"]) == ("link", "sub", None)
    assert result["dangling"]["target"] == "/nope"
    assert (result["fifo"]["kind"], result["fifo"]["sha256"]) == ("other", None)  # never opened: no hang
    assert (result["sub"]["kind"], result["sub"]["sha256"]) == ("directory", None)
    assert result["sub/deep/c.pyc"]["sha256"] == hashlib.sha256(b"pyc").hexdigest()


def test_tree_is_none_for_what_is_not_a_directory(tmp_path: Path) -> None:
    root = _sample_tree(tmp_path / "t")
    assert files.tree(str(tmp_path / "absent")) is None
    assert files.tree(str(root / "a.txt")) is None
    assert files.tree(str(root / "link")) is None  # a link to a directory is not entered
    assert files.tree(str(root / "a.txt" / "x")) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert files.tree(str(empty)) == {}


def test_tree_exclude_patterns(tmp_path: Path) -> None:
    root = str(_sample_tree(tmp_path / "t"))
    by_name = files.tree(root, exclude=["*.pyc", "fifo"])
    assert by_name is not None and "sub/deep/c.pyc" not in by_name and "fifo" not in by_name
    assert "sub/deep" in by_name
    pruned = files.tree(root, exclude=["/cache", "sub/deep"])
    assert pruned is not None
    assert not any(rel.startswith(("cache", "sub/deep")) for rel in pruned)
    assert "sub/b.bin" in pruned
    assert "a.txt" not in (files.tree(root, exclude=["/a.*"]) or {})


@pytest.mark.parametrize(
    ("rel", "patterns", "expected"),
    [
        ("a/b/c.pyc", ["*.pyc"], True),  # a name at any depth
        ("a/__pycache__", ["__pycache__/"], True),  # a trailing "/" is ignored
        ("build", ["/build"], True),
        ("src/build", ["/build"], False),  # anchored at the root
        ("cache/x/y.tmp", ["cache/*.tmp"], True),  # "*" matches "/" too
        ("other/cache/y.tmp", ["cache/*.tmp"], False),
        ("a.txt", ["*.TXT"], False),  # case matters
        ("a.txt", [], False),
    ],
)
def test_excluded(rel: str, patterns: list[str], expected: bool) -> None:
    assert files.excluded(rel, patterns) is expected


def test_tree_only_some_entries(tmp_path: Path) -> None:
    root = str(_sample_tree(tmp_path / "t"))
    result = files.tree(root, only=["sub", "absent", "a.txt"])
    assert result is not None
    assert list(result) == ["a.txt", "sub", "sub/b.bin", "sub/deep", "sub/deep/c.pyc"]
    with pytest.raises(ValueError, match="only= takes names"):
        files.tree(root, only=["../etc"])


def test_tree_refuses_too_many_entries(tmp_path: Path) -> None:
    root = str(_sample_tree(tmp_path / "t"))
    with pytest.raises(ValueError, match="more than 3 entries; exclude some or raise max_entries"):
        files.tree(root, max_entries=3)


def test_tree_prediction_after_earlier_changes() -> None:
    """Removed: None; a new empty directory: {}; anything else is gathered again after the changes ran."""
    from paracrine.predict import Unpredictable

    def facts(info: Any, names: Any) -> Callable[..., Any]:
        return lambda name, path: {"files.path_info": info, "files.listing": names}[name]

    derive = files._tree_derived
    directory = {"kind": "directory"}
    assert derive(facts(None, None), "/srv/app", exclude=None) is None
    assert derive(facts({"kind": "file"}, None), "/srv/app", exclude=None) is None
    assert derive(facts(directory, []), "/srv/app", exclude=None) == {}
    with pytest.raises(Unpredictable):
        derive(facts(directory, ["index.html"]), "/srv/app", exclude=None, only=None, max_entries=10)


@pytest.mark.lab
def test_lab_tree(lab_fact: Callable[..., Any]) -> None:
    result = lab_fact(files.tree, path="/etc/ssh", exclude=["*_key"])
    assert result["sshd_config"]["kind"] == "file" and len(result["sshd_config"]["sha256"]) == 64
    assert not any(rel.endswith("_key") for rel in result)
    assert any(rel.endswith("_key.pub") for rel in result)
