"""The data-driven cases of the built-in operations (``cases/<operation>/<case>.json``).

Each case gives facts and expects changes (or an error); its ``after`` facts
describe the state the changes produce, which must plan to nothing.
"""

from __future__ import annotations

import pytest
from op_cases import all_cases, operation_named

from paracrine.operation import builtin_operations
from paracrine.testing import CaseFile, check_case

CASES = all_cases()

# Without a guard a command runs every time (and SQL), and so does a forced download without a checksum:
# these cases have no "after" state.
NO_AFTER = {"server.shell/run_string", "server.shell/run_argv", "files.download/force", "postgresql.sql/no_guard"}


@pytest.mark.parametrize("case_file", CASES, ids=[c.id for c in CASES])
def test_case(case_file: CaseFile) -> None:
    check_case(operation_named(case_file.op_name), case_file.load(), case_file.path.parent)


def test_every_case_directory_names_an_operation() -> None:
    known = builtin_operations()
    unknown = sorted({c.op_name for c in CASES} - set(known))
    assert not unknown, f"case directories of no operation: {unknown}"


@pytest.mark.parametrize("name", sorted(builtin_operations()))
def test_every_operation_has_change_ok_and_error_cases(name: str) -> None:
    cases = [c.load() for c in CASES if c.op_name == name]
    assert any(c.get("changes") for c in cases), f"{name}: no case with changes"
    assert any(c.get("changes") == [] for c in cases), f"{name}: no case that is already right"
    assert any("error" in c for c in cases), f"{name}: no error case"


def test_every_change_case_has_an_after_state() -> None:
    missing = [c.id for c in CASES if "error" not in (data := c.load()) and "after" not in data]
    assert sorted(missing) == sorted(NO_AFTER)
