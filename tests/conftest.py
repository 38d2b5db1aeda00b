"""Shared fixtures: the lab fixtures of paracrine.testing, and running a fact on a lab host."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["paracrine.testing"]

# A developer's running `paracrine agent` must not take the tests' runs (tests/test_agent.py starts its own).
os.environ["PARACRINE_AGENT"] = "off"


@pytest.fixture(scope="module")
def lab_session(test_lab: Path) -> Iterator[tuple[Any, Any]]:
    """A Mitogen session connected (as root through sudo) to h01 of the test lab."""
    import paracrine.lab as lab
    from paracrine.connect import Session
    from paracrine.inventory import load_inventory

    lab.up(1, fresh=True)
    inventory = load_inventory("@lab/1")
    with Session() as session:
        session.connect(inventory.hosts)
        assert not session.failed, session.failed
        yield session, inventory.hosts[0]


@pytest.fixture
def lab_fact(lab_session: tuple[Any, Any]) -> Callable[..., Any]:
    """``lab_fact(func, **kwargs)``: the fact's value on lab host h01, gathered over SSH."""
    from paracrine.gather import Gatherer, make_key

    session, host = lab_session

    def run(func: Callable[..., Any], **kwargs: Any) -> Any:
        gatherer = Gatherer(session, None)
        key = make_key(func, kwargs)
        errors = gatherer.fetch({host.name: [key]})
        assert not errors, errors
        return gatherer.facts(host.name).get(key)

    return run
