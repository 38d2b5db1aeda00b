"""The demo end to end on three lab hosts (issue 12): HTTP through nginx to the app and its
PostgreSQL, zero changes on a re-run, and a one-line configuration change that applies exactly
that change and restarts the app once. The same steps as ``scripts/demo`` (demo/showcase.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import paracrine.lab as lab

pytestmark = pytest.mark.lab

DEMO = Path(__file__).resolve().parent.parent / "demo"
PORT_BASE = 38000  # the demo's ports on the test lab: 38001.. (nginx), 38101.. (app), 38201.. (PostgreSQL)


def test_the_demo_serves_requests_converges_and_applies_one_change(lab_hosts: Callable[..., list[Any]]) -> None:
    sys.path.insert(0, str(DEMO))
    try:
        import showcase
    finally:
        sys.path.remove(str(DEMO))
    showcase.build_wheelhouse()
    lab_hosts(3, packages=showcase.PACKAGES)  # fresh hosts: the first apply installs everything
    report = showcase.run(PORT_BASE, lab.lab_dir(), showcase.Report())
    assert len(report.checks) == 13, report.checks
    assert set(report.seconds) == {"first apply", "zero change", "one change", "zero change, agent"}
