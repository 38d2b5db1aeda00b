"""Helpers shared by the operation tests: the built-in operations and their case files."""

from __future__ import annotations

import importlib
from pathlib import Path

from paracrine.operation import OPERATIONS_PREFIX, Operation
from paracrine.testing import CaseFile, find_cases

CASES_DIR = Path(__file__).parent / "cases"


def operation_named(name: str) -> Operation:
    """The built-in operation ``domain.function`` (e.g. ``files.file``)."""
    domain, _, function = name.rpartition(".")
    op = getattr(importlib.import_module(OPERATIONS_PREFIX + domain), function)
    assert isinstance(op, Operation), f"{name} is not an operation"
    return op


def all_cases() -> list[CaseFile]:
    return find_cases(CASES_DIR)
