"""paracrine.testing's case runner: what it reports when a case is wrong or incomplete."""

from __future__ import annotations

from typing import Any

import pytest

from paracrine.errors import PlanError
from paracrine.operations import files
from paracrine.testing import CaseError, check_case, plan_case, plan_predicted

DIR_INFO = {"kind": "directory", "mode": 0o755, "owner": "root", "group": "root", "uid": 0, "gid": 0, "size": 4096,
            "mtime": 1.0, "target": None}  # fmt: skip
FILE_INFO = {**DIR_INFO, "kind": "file", "mode": 0o644}


def case(**fields: Any) -> dict[str, Any]:
    return {"args": ["/srv/app"], "facts": [["files.path_info", {"path": "/srv/app"}, None]], **fields}


def test_a_fact_the_case_does_not_list_is_an_error() -> None:
    with pytest.raises(CaseError) as info:
        plan_case(files.file, case(facts=[]))
    assert "files.file read facts the case does not list: " in str(info.value)
    assert '["files.path_info", {"path": "/srv/app"}, null]' in str(info.value)


def test_a_malformed_fact_entry() -> None:
    with pytest.raises(CaseError, match="a fact entry is \\[name, args, value\\]"):
        plan_case(files.directory, case(facts=[["files.path_info", {"path": "/srv/app"}]]))


def test_changes_errors_and_after_states() -> None:
    made = [{"kind": "mkdir", "path": "/srv/app", "mode": None, "owner": None, "group": None}]
    check_case(files.directory, case(changes=made, after=[["files.path_info", {"path": "/srv/app"}, DIR_INFO]]))
    with pytest.raises(AssertionError):
        check_case(files.directory, case(changes=[]))
    with pytest.raises(AssertionError, match="the after state still plans changes"):
        check_case(files.directory, case(changes=made, after=[["files.path_info", {"path": "/srv/app"}, None]]))
    file_there = case(facts=[["files.path_info", {"path": "/srv/app"}, FILE_INFO]])
    check_case(files.directory, {**file_there, "error": "path exists and is a regular file"})
    with pytest.raises(PlanError):
        check_case(files.directory, file_there)
    with pytest.raises(AssertionError, match="expected error 'nope', got changes"):
        check_case(files.directory, case(error="nope"))
    check_case(files.directory, {"args": ["relative"], "error": "'relative' is not an absolute path"})
    with pytest.raises(AssertionError, match="expected error 'other'"):
        check_case(files.directory, {"args": ["relative"], "error": "other"})


def test_plan_predicted_plans_twice_against_the_predicted_state() -> None:
    first, second = plan_predicted(files.directory, case())
    assert first.ops[0].status == "change" and second.ops[0].status == "ok"
