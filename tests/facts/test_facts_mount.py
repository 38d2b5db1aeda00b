"""Tests of paracrine.facts.mount: mountinfo captured on a lab host, fstab lines, and this machine's table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.facts import mount


def test_parse_mountinfo_captured(captured: Callable[[str], str]) -> None:
    points = mount.parse_mountinfo(captured("mountinfo-lab.txt"))
    assert [p["path"] for p in points] == ["/", "/dev", "/dev/pts", "/dev/shm", "/run", "/proc", "/mnt/my disk"]
    root, tmp = points[0], points[-1]
    assert root["fstype"] == "overlay" and root["source"] == "lab-h01" and root["root"] == "/"
    assert root["options"] == ["rw", "relatime"] and "uuid=on" in root["super_options"]
    assert tmp == {
        "path": "/mnt/my disk",
        "fstype": "tmpfs",
        "source": "tmpfs",
        "options": ["rw", "relatime"],
        "super_options": ["rw", "size=1024k"],
        "root": "/",
    }


def test_parse_mountinfo_optional_fields() -> None:
    line = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n"
    (point,) = mount.parse_mountinfo(line + "\n")
    assert point["path"] == "/mnt2" and point["root"] == "/mnt1" and point["fstype"] == "ext3"
    assert point["source"] == "/dev/root" and point["super_options"] == ["rw", "errors=continue"]


def test_parse_mountinfo_rejects_lines_without_a_separator() -> None:
    with pytest.raises(ValueError, match="mountinfo line 1"):
        mount.parse_mountinfo("36 35 98:0 /mnt1 /mnt2 rw ext3 /dev/root rw\n")


@pytest.mark.parametrize(
    ("field", "text"),
    [("a\\040b", "a b"), ("tab\\011", "tab\t"), ("back\\134slash", "back\\slash"), ("x\\04", "x\\04")],
)
def test_unescape_and_escape(field: str, text: str) -> None:
    assert mount.unescape(field) == text
    if field != "x\\04":  # not an escape: kept as written
        assert mount.escape(text) == field


def test_parse_fstab_line() -> None:
    assert mount.parse_fstab_line("UUID=0a3f\t/\text4\terrors=remount-ro\t0\t1") == {
        "device": "UUID=0a3f",
        "path": "/",
        "fstype": "ext4",
        "options": "errors=remount-ro",
        "dump": 0,
        "passno": 1,
    }
    short = mount.parse_fstab_line("LABEL=x /mnt/my\\040disk vfat")
    assert short is not None and short["path"] == "/mnt/my disk" and short["options"] == "defaults"
    assert (short["dump"], short["passno"]) == (0, 0)
    for ignored in ("", "   ", "# /etc/fstab", "  #UUID=1 / ext4 defaults 0 1", "/dev/sda1 /"):
        assert mount.parse_fstab_line(ignored) is None


def test_points_of_this_machine() -> None:
    points = mount.points()
    assert any(p["path"] == "/" for p in points)
    assert any(p["fstype"] == "proc" and p["path"] == "/proc" for p in points)


def test_points_without_proc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(mount, "MOUNTINFO", str(tmp_path / "mountinfo"))
    assert mount.points() == []


@pytest.mark.lab
def test_lab_mount_points(lab_fact: Callable[..., Any]) -> None:
    points = lab_fact(mount.points)
    assert points[0]["path"] == "/" and points[0]["fstype"] == "overlay"  # the host's own mount namespace
