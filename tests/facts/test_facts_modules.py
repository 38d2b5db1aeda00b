"""Tests of paracrine.facts.modules: a Debian kernel's modules.builtin and a reconstructed /proc/modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.facts import modules


def test_parse_proc_modules(captured: Callable[[str], str]) -> None:
    found = modules.parse_proc_modules(captured("proc-modules-reconstructed.txt"))
    assert found["br_netfilter"] == {"size": 32768, "instances": 0, "used_by": [], "state": "Live"}
    assert found["llc"]["used_by"] == ["bridge", "stp"]
    assert found["vboxdrv"]["state"] == "Loading"
    assert len(found) == 9
    assert modules.parse_proc_modules("\nnot a module line\n") == {}


def test_parse_modules_builtin(captured: Callable[[str], str]) -> None:
    names = modules.parse_modules_builtin(captured("modules.builtin-6.1-cloud.txt"))
    assert {"ext4", "unix", "crc32c_generic", "amd_uncore"} <= set(names)  # "-" in file names becomes "_"
    assert names == sorted(names) and len(names) == 141


@pytest.mark.parametrize(("name", "canonical"), [("snd-hda-intel", "snd_hda_intel"), ("br_netfilter", "br_netfilter")])
def test_canonical(name: str, canonical: str) -> None:
    assert modules.canonical(name) == canonical


def test_loaded_and_builtin_from_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, captured: Callable[[str], str]
) -> None:
    import os

    (tmp_path / "modules").write_text(captured("proc-modules-reconstructed.txt"))
    release = tmp_path / "lib" / os.uname().release
    release.mkdir(parents=True)
    (release / "modules.builtin").write_text("kernel/net/unix/unix.ko\n")
    monkeypatch.setattr(modules, "PROC_MODULES", str(tmp_path / "modules"))
    monkeypatch.setattr(modules, "MODULES_DIR", str(tmp_path / "lib"))
    loaded = modules.loaded()
    assert loaded is not None and "ext4" in loaded
    assert modules.builtin() == ["unix"]


def test_without_module_support(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(modules, "PROC_MODULES", str(tmp_path / "none"))
    monkeypatch.setattr(modules, "MODULES_DIR", str(tmp_path))
    assert modules.loaded() is None
    assert modules.builtin() is None


@pytest.mark.lab
def test_lab_modules(lab_fact: Callable[..., Any]) -> None:
    import os

    loaded = lab_fact(modules.loaded)
    assert loaded is None or isinstance(loaded, dict)  # this machine's kernel has no /proc/modules
    assert (loaded is None) == (not os.path.exists("/proc/modules"))  # lab hosts share the kernel
