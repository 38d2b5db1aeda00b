"""paracrine.report: fact tables of every shape, table cells, JSON output, progress and host events."""

from __future__ import annotations

import io
import json
import sys

import pytest

from paracrine import report
from paracrine.report import Failure, fact_rows


def test_scalars_one_row_per_host() -> None:
    rows, headers = fact_rows({"a": "debian", "b": Failure("boom"), "c": None})
    assert headers == ["host", "value"]
    assert rows == [["a", "debian"], ["b", "error: boom"], ["c", None]]


def test_a_flat_dict_one_column_per_key() -> None:
    rows, headers = fact_rows({"a": {"kind": "file", "mode": 0o644}, "b": None, "c": Failure("x"), "d": {"size": 3}})
    assert headers == ["host", "kind", "mode", "size"]
    assert rows == [["a", "file", "0644", None], ["b", "(absent)", "", ""], ["c", "error: x", "", ""],
                    ["d", None, None, 3]]  # fmt: skip


def test_records_one_row_per_host_and_entry() -> None:
    rows, headers = fact_rows(
        {
            "a": {"nginx": {"version": "1.2", "arch": "amd64"}, "gone": None},
            "b": {},
            "c": Failure("no dpkg"),
        }
    )
    assert headers == ["host", "name", "version", "arch"]
    assert rows == [
        ["a", "nginx", "1.2", "amd64"],
        ["a", "gone", None, None],
        ["b", "(absent)", "", ""],
        ["c", "error: no dpkg", "", ""],
    ]


def test_a_list_of_dicts_one_row_per_item() -> None:
    rows, headers = fact_rows({"a": [{"name": "x", "n": 1}, {"name": "y"}], "b": [], "c": Failure("f")})
    assert headers == ["host", "name", "n"]
    assert rows == [["a", "x", 1], ["a", "y", None], ["b", "(absent)", ""], ["c", "error: f", ""]]


def test_a_list_of_dicts_that_is_empty_everywhere_is_a_scalar() -> None:
    rows, headers = fact_rows({"a": [], "b": Failure("f")})
    assert (rows, headers) == ([["a", []], ["b", "error: f"]], ["host", "value"])


def test_mixed_values_are_scalars() -> None:
    rows, headers = fact_rows({"a": {"x": 1}, "b": [1, 2]})
    assert headers == ["host", "value"] and rows == [["a", {"x": 1}], ["b", [1, 2]]]


def test_table_cells(capsys: pytest.CaptureFixture[str]) -> None:
    report.table([[None, ["a", "b"], {"k": 1}, "x" * 100, 12]], ["none", "list", "dict", "long", "number"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["none", "list", "dict", "long", "number"]
    cells = lines[2].split("  ")
    assert cells[0] == "-" and "a, b" in lines[2] and '{"k": 1}' in lines[2]
    assert "x" * 79 + "…" in lines[2] and "x" * 80 not in lines[2]


def test_json_output_of_bytes_sets_and_tuples(capsys: pytest.CaptureFixture[str]) -> None:
    report.print_json({"b": b"\xffok", "s": {3, 1}, "t": (1, 2), "f": frozenset({"x"})})
    assert json.loads(capsys.readouterr().out) == {"b": "\ufffdok", "s": [1, 3], "t": [1, 2], "f": ["x"]}
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        report.print_json({"o": object()})


def test_connection_progress_only_on_a_terminal_with_many_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    report.progress("h1", True, 1, 5)
    assert terminal.getvalue() == ""
    report.progress("h1", True, 1, 10)
    report.progress("h10", True, 10, 10)
    assert terminal.getvalue() == "\rconnecting: 1/10\rconnecting: 10/10\n"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    report.progress("h1", True, 1, 50)
    assert sys.stderr.getvalue() == ""
