"""Helpers of the operation lab tests: run a deploy file on the test lab's h01, check that a run changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from paracrine.testing import Invocation, invoke


def run(site: Path, *args: str) -> Invocation:
    """``paracrine SITE -i @lab/1`` with a state directory beside the deploy file."""
    return invoke([str(site), "-i", "@lab/1", "--state-dir", str(site.parent / "state"), *args])


def assert_nothing_changes(site: Path) -> None:
    """Another run finds every operation right and sends the host nothing; ``--check`` agrees."""
    again = run(site, "-y", "--json")
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    assert {op["status"] for op in report["hosts"]["h01"]["operations"]} == {"ok"}
    assert report["round_trips"]["apply"] == 0
    assert run(site, "--check").exit_code == 0
