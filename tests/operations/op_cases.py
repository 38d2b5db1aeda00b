"""Helpers shared by the operation tests: the built-in operations and their case files."""

from __future__ import annotations

import importlib
from pathlib import Path

from paracrine.operation import OPERATIONS_PREFIX, Operation, builtin_operation_modules
from paracrine.testing import CaseFile, find_cases

CASES_DIR = Path(__file__).parent / "cases"


def operation_named(name: str) -> Operation:
    """The built-in operation ``domain.function`` (e.g. ``files.file``)."""
    domain, _, function = name.rpartition(".")
    op = getattr(importlib.import_module(OPERATIONS_PREFIX + domain), function)
    assert isinstance(op, Operation), f"{name} is not an operation"
    return op


def builtin_operations() -> dict[str, Operation]:
    """Every operation defined in the built-in library, by name."""
    ops: dict[str, Operation] = {}
    for module_name in builtin_operation_modules():
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, Operation) and value.__module__ == module_name:
                ops[value.name] = value
    return ops


def all_cases() -> list[CaseFile]:
    return find_cases(CASES_DIR)
