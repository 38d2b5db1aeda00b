"""Mitogen's minified core source is cached on disk between runs and is Mitogen's, less three start-up imports."""

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
    assert text == coresource.lighter(mitogen.master._get_core_source())
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
    assert coresource.minified_core_source(blocker / "cache") == coresource.lighter(mitogen.master._get_core_source())


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


def test_the_lighter_core_differs_from_mitogens_only_in_its_replaced_lines() -> None:
    """Fails loudly if a Mitogen upgrade changes a replaced line (the source would then boot unchanged)."""
    original = mitogen.master._get_core_source()
    light = coresource.lighter(original)
    before, after = original.split("\n"), light.split("\n")
    assert len(before) == len(after)  # tracebacks from targets keep their line numbers
    changed = [(b.strip(), a.strip()) for b, a in zip(before, after, strict=True) if b != a]
    assert changed == list(coresource.LIGHTER)
    compile(light, "mitogen.core", "exec")


def test_a_source_without_those_lines_is_left_alone() -> None:
    source = "import os\nimport pstats\nimport pstats\n"
    assert coresource.lighter(source) == source


def test_a_context_booted_from_it_works_without_the_profiler_or_pty() -> None:
    coresource.install()
    broker = mitogen.master.Broker()
    try:
        context = mitogen.master.Router(broker).local()
        loaded = "sorted(m for m in __import__('sys').modules if m in ('pstats', 'cProfile', 'pty', 'inspect'))"
        assert context.call(eval, loaded) == []
        assert context.call(eval, "__import__('mitogen.core').core.pty.STDERR_FILENO") == 2
        assert context.call(eval, "1 + 1") == 2
    finally:
        broker.shutdown()
        broker.join()
