"""Predicted effects: planned again against the state its changes predict, a case plans nothing.

The ``after`` facts of a case are written by hand; this checks the changes'
own ``effects()`` (what later operations of the same run see) against the
same idempotency contract. Operations whose changes cannot be predicted
(opaque commands) must make the planner defer instead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from op_cases import all_cases, operation_named

from paracrine.changes import Change, RunCommand
from paracrine.gather import make_key
from paracrine.predict import FactMissing, Unpredictable
from paracrine.testing import CaseFile, plan_predicted, planner_for

# Cases with changes and a state after them (a command without guards has none: it always runs).
CHANGE_CASES = [c for c in all_cases() if c.load().get("changes") and "after" in c.load()]


def _unpredictable(change: Change) -> bool:
    """Commands whose result is unknown: what the user's shell command or ``apt-get update`` changes."""
    return isinstance(change, RunCommand) and change.predicted is None


def _partly_unpredictable(change: Change) -> bool:
    """Changes with some effects unknown (SQL: the server's other facts), which may defer what reads them."""
    return any(effect.opaque_ for effect in change.effects())


@pytest.mark.parametrize("case_file", CHANGE_CASES, ids=[c.id for c in CHANGE_CASES])
def test_planning_against_the_predicted_state_yields_nothing(
    case_file: CaseFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(case_file.path.parent)
    first, again = plan_predicted(operation_named(case_file.op_name), case_file.load())
    (planned,) = first.ops
    assert planned.status == "change", planned.error
    if again.deferred:  # an opaque change: the engine refreshes the facts on the host instead
        assert any(_partly_unpredictable(c) for c in planned.changes), "deferred although every effect is predicted"
        return
    assert not any(_unpredictable(c) for c in planned.changes), "an opaque change that defers nothing"
    assert not again.missing, f"the predicted state lacks facts: {sorted(k.label() for k in again.missing)}"
    (replanned,) = again.ops
    assert replanned.error is None, replanned.error
    assert not replanned.changes, json.dumps([c.to_json() for c in replanned.changes], indent=1, default=str)


def _agrees(predicted: Any, actual: Any, nested: bool = False) -> bool:
    """Whether a predicted fact value matches the actual one; a None field inside it means 'not predicted'."""
    if predicted is None and nested:
        return True
    if isinstance(predicted, dict) and isinstance(actual, dict):
        return predicted.keys() == actual.keys() and all(_agrees(predicted[k], actual[k], True) for k in predicted)
    if isinstance(predicted, list) and isinstance(actual, list):
        return len(predicted) == len(actual) and all(
            _agrees(p, a, True) for p, a in zip(predicted, actual, strict=True)
        )
    return bool(predicted == actual)


@pytest.mark.parametrize("case_file", CHANGE_CASES, ids=[c.id for c in CHANGE_CASES])
def test_predicted_facts_agree_with_the_after_state(case_file: CaseFile, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case_file.path.parent)
    case = case_file.load()
    planner, call = planner_for(operation_named(case_file.op_name), case)
    planner.plan([call], set(), set())
    for fact, args, actual in case["after"]:
        try:
            predicted = planner.state.lookup(make_key(fact, args))
        except Unpredictable:
            continue
        except FactMissing:
            pytest.fail(f"list {fact} {args} in the case's facts (its value before the changes)")
        assert _agrees(predicted, actual), f"{fact} {args}: predicted {predicted!r}, after {actual!r}"
