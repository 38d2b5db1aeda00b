"""Mitogen's minified core source is cached on disk between runs and stays exactly Mitogen's."""

from __future__ import annotations

import stat
from pathlib import Path

import mitogen.master
import mitogen.parent
import pytest

from paracrine import coresource
from paracrine.connect import Session


def _cached(directory: Path) -> Path:
    (path,) = directory.glob("mitogen-core-*.py")
    return path


def test_first_call_minifies_like_mitogen_and_stores_it(tmp_path: Path) -> None:
    text = coresource.minified_core_source(tmp_path)
    assert text == mitogen.master._get_core_source()
    path = _cached(tmp_path)
    assert path.read_text(encoding="utf-8") == text
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_later_calls_read_the_stored_copy(tmp_path: Path) -> None:
    text = coresource.minified_core_source(tmp_path)
    marked = text.replace("\n", "#\n", 1)  # same lines, different bytes: only reading the file can return it
    _cached(tmp_path).write_text(marked, encoding="utf-8")
    assert coresource.minified_core_source(tmp_path) == marked


def test_a_damaged_copy_is_replaced(tmp_path: Path) -> None:
    text = coresource.minified_core_source(tmp_path)
    path = _cached(tmp_path)
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    assert coresource.minified_core_source(tmp_path) == text
    assert path.read_text(encoding="utf-8") == text


def test_an_unusable_cache_only_costs_the_minification(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    assert coresource.minified_core_source(blocker / "cache") == mitogen.master._get_core_source()


def test_the_cache_lives_in_xdg_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    coresource.minified_core_source()
    assert _cached(tmp_path / "paracrine").is_file()
    assert stat.S_IMODE((tmp_path / "paracrine").stat().st_mode) == 0o700


def test_sessions_boot_contexts_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mitogen.parent, "_get_core_source", mitogen.master._get_core_source)
    with Session():
        assert mitogen.parent._get_core_source is coresource.minified_core_source


def test_the_patched_mitogen_hook_still_exists() -> None:
    """coresource.install replaces a private Mitogen function: fail loudly if an upgrade renames or changes it."""
    import inspect

    source = inspect.getsource(mitogen.parent)  # the file, not the (possibly patched) module attribute
    assert "\ndef _get_core_source():" in source, "mitogen.parent._get_core_source is gone or takes arguments"
    assert "_get_core_source()" in source.split("\ndef _get_core_source():", 1)[1]  # still called to boot contexts


def test_the_first_stage_source_is_read_once_per_process() -> None:
    import inspect

    coresource.install()
    stage = mitogen.parent.Connection._first_stage
    first = mitogen.parent.inspect.getsourcelines(stage)
    lines, start = inspect.getsourcelines(stage)
    assert first == (list(lines), start)
    assert mitogen.parent.inspect.getsourcelines(stage) is first
    assert mitogen.parent.inspect.ismethod is inspect.ismethod  # the rest is inspect's own
