"""Fixtures for the fact library tests: captured tool outputs and a fake tool runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fake_tools import FakeRun

from paracrine.facts import _command

CAPTURED = Path(__file__).parent / "captured"


@pytest.fixture
def captured() -> Callable[[str], str]:
    """Read a file from tests/facts/captured/ by name."""

    def read(name: str) -> str:
        return (CAPTURED / name).read_text(encoding="utf-8")

    return read


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> FakeRun:
    """Replace the tool runner of every fact module with a :class:`FakeRun`."""
    fake = FakeRun()
    monkeypatch.setattr(_command, "run", fake)
    return fake
