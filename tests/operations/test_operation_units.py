"""Unit tests of the built-in operations beyond the JSON cases: bytes, template caching, failed facts, docs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from paracrine.errors import TemplateError
from paracrine.gather import FactFailure
from paracrine.operation import builtin_operations
from paracrine.operations import _template, files
from paracrine.testing import changes_json, plan_case


def test_file_content_may_be_bytes() -> None:
    data = b"\x00\xffbinary"
    path = "/var/lib/app/blob"
    facts = [["files.path_info", {"path": path}, None], ["files.sha256", {"path": path}, None]]
    planned = plan_case(files.file, {"args": [path], "kwargs": {"content": data}, "facts": facts})
    (change,) = changes_json(planned)
    assert change["sha256"] == hashlib.sha256(data).hexdigest()
    assert "content" not in change  # not UTF-8: --json shows only its size
    assert change["size"] == len(data)


def test_line_names_what_is_there_when_the_lines_fact_failed() -> None:
    """On a real host files.lines raises for a directory; the error still says what is at the path."""
    path = "/etc/app.conf"
    failed = FactFailure("ValueError", f"{path} is a directory, not a regular file")
    info = {"kind": "directory", "mode": 0o755, "owner": "root", "group": "root", "uid": 0, "gid": 0}
    facts = [["files.path_info", {"path": path}, info], ["files.lines", {"path": path}, failed]]
    planned = plan_case(files.line, {"args": [path, "x = 1"], "facts": facts})
    assert planned.error is not None
    assert planned.error.message == "path exists and is a directory"


def test_line_reports_a_failed_lines_fact_of_a_regular_file() -> None:
    path = "/var/log/huge.log"
    failed = FactFailure("ValueError", f"{path} is 9999999 bytes, more than max_bytes=1048576")
    info = {"kind": "file", "mode": 0o644, "owner": "root", "group": "root", "uid": 0, "gid": 0}
    facts = [["files.path_info", {"path": path}, info], ["files.lines", {"path": path}, failed]]
    planned = plan_case(files.line, {"args": [path, "x"], "facts": facts})
    assert planned.error is not None and "max_bytes" in planned.error.message


def _render_case(tmp_path: Path, src: str) -> dict[str, object]:
    dest = "/etc/out"
    facts = [["files.path_info", {"path": dest}, None], ["files.sha256", {"path": dest}, None]]
    return {"args": [src, dest], "facts": facts, "host": {"name": "h1", "data": {"who": "world"}}}


def test_template_is_recompiled_when_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "t.j2"
    source.write_text("hello {{ who }}\n")
    first = changes_json(plan_case(files.template, _render_case(tmp_path, "t.j2")))
    assert first[0]["content"] == "hello world\n"
    assert _template.load(str(source)) is _template.load(str(source))  # compiled once
    source.write_text("bye {{ who }}\n")
    os.utime(source, ns=(0, source.stat().st_mtime_ns + 1_000_000_000))
    second = changes_json(plan_case(files.template, _render_case(tmp_path, "t.j2")))
    assert second[0]["content"] == "bye world\n"


def test_template_errors_are_template_errors_with_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.j2").write_text("a\n{{ who }} {{ nobody }}\n")
    with pytest.raises(TemplateError) as caught:
        _template.render(str(tmp_path / "t.j2"), {"who": "x"})
    assert caught.value.message == "t.j2:2: 'nobody' is undefined"
    assert caught.value.hint is not None and "files.template" in caught.value.hint


def test_template_keeps_a_missing_trailing_newline_missing(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("no newline")
    assert _template.render(str(tmp_path / "t.j2"), {}) == "no newline"
    (tmp_path / "u.j2").write_text("newline\n")
    assert _template.render(str(tmp_path / "u.j2"), {}) == "newline\n"


@pytest.mark.parametrize("name", sorted(builtin_operations()))
def test_operations_are_documented(name: str) -> None:
    op = builtin_operations()[name]
    summary = op.summary
    assert summary.endswith(".") and len(summary) <= 100, summary
    assert "\nArgs:\n" in op.doc and "\nExample:\n" in op.doc, f"{name}: Google-style Args and Example sections"
    for param in op.signature.parameters:
        assert f"    {param}:" in op.doc or f"**{param}:" in op.doc, f"{name}: argument {param!r} is not documented"


def test_server_service_is_the_systemd_service_operation() -> None:
    from paracrine.operations import server, systemd

    assert server.service is systemd.service
