"""Where the user's packages are imported from (paracrine/searchpath.py): the deploy file's directory,
the project root, ``--path DIR``; import errors shown as themselves; ``paracrine ops PACKAGE``;
calls of one operation with the same key argument labelled apart.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from paracrine import searchpath
from paracrine.testing import Invocation, invoke

PACKAGES = ("myops", "extops", "brokenops")

FACTS = '''
from paracrine.api import fact


@fact
def answer(question: str = "life") -> int:
    """The answer to ``question``."""
    return 42
'''

OPS = '''
from paracrine.api import Changes, MakeDirectory, OpContext, operation


@operation
def site(ctx: OpContext, name: str, *, enabled: bool = True) -> Changes:
    """Enable site ``name``.

    Example:
        myops.ops.site("app")
    """
    yield MakeDirectory(f"/nonexistent-site/{name}")


@operation
def other(ctx: OpContext, path: str) -> Changes:
    """Another operation."""
    return iter(())
'''


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PARACRINE_STATE_DIR", raising=False)
    path_before = list(sys.path)
    yield
    assert sys.path == path_before, "a command left directories on sys.path"
    for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
        del sys.modules[name]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def package(root: Path, name: str = "myops", facts: str = FACTS, ops: str = OPS) -> Path:
    write(root / name / "__init__.py", "")
    write(root / name / "facts.py", facts.replace("myops", name))
    write(root / name / "ops.py", ops.replace("myops", name))
    return root / name


def one_line_error(result: Invocation, code: int = 3) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


# ====================================================================== the project root


def test_project_root_is_the_nearest_marked_directory(tmp_path: Path) -> None:
    (tmp_path / "proj" / "deploys" / "web").mkdir(parents=True)
    (tmp_path / "proj" / "pyproject.toml").write_text("")
    assert searchpath.project_root(tmp_path / "proj" / "deploys" / "web") == tmp_path / "proj"
    (tmp_path / "proj" / "deploys" / ".git").mkdir()
    assert searchpath.project_root(tmp_path / "proj" / "deploys" / "web") == tmp_path / "proj" / "deploys"
    (tmp_path / "proj" / "deploys" / "web" / "setup.cfg").write_text("")
    assert searchpath.project_root(tmp_path / "proj" / "deploys" / "web") == tmp_path / "proj" / "deploys" / "web"


def test_search_dirs_order(tmp_path: Path) -> None:
    (tmp_path / "proj" / "deploys").mkdir(parents=True)
    (tmp_path / "proj" / ".git").mkdir()
    (tmp_path / "lib").mkdir()
    searchpath.set_extra([tmp_path / "lib"])
    try:
        assert searchpath.search_dirs(tmp_path / "proj" / "deploys") == [
            tmp_path / "lib",
            tmp_path / "proj" / "deploys",
            tmp_path / "proj",
        ]
    finally:
        searchpath.set_extra([])


def test_a_deploy_file_imports_packages_of_the_project_root(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    write(project / "pyproject.toml", "")
    package(project)
    site = write(project / "deploys" / "site.py", "from myops import ops\n\nops.site('app')\n")
    result = invoke([str(site), "-i", "@local", "--dry-run", "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 0, result.stderr
    assert "~ myops.ops.site('app')" in result.stdout


def test_a_deploy_file_imports_packages_of_path_dirs(tmp_path: Path) -> None:
    package(tmp_path / "vendor", "extops")
    site = write(tmp_path / "deploys" / "site.py", "from extops import ops\n\nops.site('app')\n")
    args = [str(site), "-i", "@local", "--dry-run", "--state-dir", str(tmp_path / "state")]
    missing = one_line_error(invoke(args))
    assert "deploy file raised ModuleNotFoundError: No module named 'extops'" in missing
    result = invoke([*args, "--path", str(tmp_path / "vendor")])
    assert result.exit_code == 0, result.stderr
    assert "~ extops.ops.site('app')" in result.stdout
    graph = invoke(["graph", str(site), "-i", "@local", "--path", "vendor", "--state-dir", str(tmp_path / "state")])
    assert graph.exit_code == 0, graph.stderr
    assert "extops.ops.site('app')" in graph.stdout


def test_path_must_be_a_directory() -> None:
    line = one_line_error(invoke(["facts", "@local", "--path", "nonexistent"]))
    assert "Directory 'nonexistent' does not exist" in line


@pytest.mark.parametrize("command", ["deploy", "graph", "facts", "ops", "op"])
def test_commands_that_load_user_code_take_path(command: str) -> None:
    assert "--path DIR" in invoke([command, "--help"]).stdout


# ====================================================================== facts of a package


def test_facts_of_a_package_on_the_path_run_on_the_target(tmp_path: Path) -> None:
    package(tmp_path / "lib")
    args = ["facts", "@local", "myops.facts.answer", "question=why", "--json", "--state-dir", str(tmp_path / "s")]
    result = invoke([*args, "--path", str(tmp_path / "lib")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("42") == 1


def test_facts_of_a_package_in_the_current_directory(tmp_path: Path) -> None:
    package(tmp_path)
    result = invoke(["facts", "--list", "myops.facts.answer"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("myops.facts.answer(question: str = 'life') -> int")


def test_facts_shows_the_import_error_of_a_package(tmp_path: Path) -> None:
    package(tmp_path, "brokenops", facts="import json\nimport no_such_dependency_xyz\n" + FACTS)
    line = one_line_error(invoke(["facts", "@local", "brokenops.facts.answer"]))
    assert line == (
        "error: [brokenops/facts.py:2]: cannot import brokenops.facts: ModuleNotFoundError: "
        "No module named 'no_such_dependency_xyz'; fix the module, or add the directory it imports from with "
        "--path DIR"
    )


def test_facts_shows_the_syntax_error_of_a_package(tmp_path: Path) -> None:
    package(tmp_path, "brokenops", facts="x = 1\ndef broken(:\n")
    line = one_line_error(invoke(["facts", "@local", "brokenops.facts.answer"]))
    assert line.startswith("error: [brokenops/facts.py:2]: cannot import brokenops.facts: syntax error:")


def test_facts_shows_an_exception_at_import_time(tmp_path: Path) -> None:
    package(tmp_path, "brokenops", facts="x = 1\nraise RuntimeError('no config')\n")
    line = one_line_error(invoke(["facts", "@local", "brokenops.facts.answer"]))
    assert line.startswith("error: [brokenops/facts.py:2]: cannot import brokenops.facts: RuntimeError: no config")


def test_an_unknown_fact_of_an_existing_module_is_unknown(tmp_path: Path) -> None:
    package(tmp_path)
    line = one_line_error(invoke(["facts", "@local", "myops.facts.answr"]))
    assert line.startswith("error: unknown fact 'myops.facts.answr'")


# ====================================================================== operations of a package


def test_ops_lists_a_package_a_module_and_documents_one(tmp_path: Path) -> None:
    package(tmp_path)
    listing = invoke(["ops", "myops"])
    assert listing.exit_code == 0, listing.stderr
    rows = [line.split()[0] for line in listing.stdout.splitlines()[2:]]
    assert rows == ["myops.ops.other", "myops.ops.site"]
    assert invoke(["ops", "myops.ops"]).stdout == listing.stdout
    doc = invoke(["ops", "myops.ops.site"])
    assert doc.exit_code == 0, doc.stderr
    assert doc.stdout.startswith("myops.ops.site(name: str, *, enabled: bool = True)\n\nEnable site ``name``.")


def test_ops_lists_a_builtin_domain() -> None:
    rows = [line.split()[0] for line in invoke(["ops", "files"]).stdout.splitlines()[2:]]
    assert rows and all(name.startswith("files.") for name in rows)


def test_ops_of_a_package_on_the_path(tmp_path: Path) -> None:
    package(tmp_path / "vendor", "extops")
    assert invoke(["ops", "extops"]).exit_code == 3
    assert invoke(["ops", "extops", "--path", str(tmp_path / "vendor")]).exit_code == 0


def test_ops_shows_the_import_error_of_a_package(tmp_path: Path) -> None:
    package(tmp_path, "brokenops", ops="import no_such_dependency_xyz\n" + OPS)
    line = one_line_error(invoke(["ops", "brokenops.ops.site"]))
    assert line.startswith("error: [brokenops/ops.py:1]: cannot import brokenops.ops: ModuleNotFoundError:")


def test_ops_a_module_without_operations(tmp_path: Path) -> None:
    write(tmp_path / "extops" / "__init__.py", "X = 1\n")
    line = one_line_error(invoke(["ops", "extops"]))
    assert line == "error: extops defines no operation; operations are functions decorated with @operation"


def test_op_applies_an_operation_of_a_package(tmp_path: Path) -> None:
    package(tmp_path)
    result = invoke(["op", "@local", "myops.ops.site", "name=app", "--dry-run", "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 0, result.stderr
    assert "~ myops.ops.site('app')  [command line]" in result.stdout


# ====================================================================== labels


def labels(tmp_path: Path, body: str) -> list[str]:
    site = write(tmp_path / "site.py", "from paracrine.operations import files, server\n" + body)
    result = invoke(["graph", str(site), "-i", "@local", "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 0, result.stderr
    return [line.split("  [")[0].split(" ", 4)[-1] for line in result.stdout.splitlines()[1:]]


def test_calls_with_the_same_key_argument_are_labelled_apart(tmp_path: Path) -> None:
    target = tmp_path / "hosts"
    body = f"""
files.line({str(target)!r}, "10.0.0.1 db", create=True)
files.line({str(target)!r}, "10.0.0.2 web", create=True)
files.directory({str(tmp_path / "d")!r})
"""
    assert labels(tmp_path, body) == [
        f"files.line('{target}', line='10.0.0.1 db')",
        f"files.line('{target}', line='10.0.0.2 web')",
        f"files.directory('{tmp_path / 'd'}')",
    ]


def test_the_first_argument_that_differs_is_shown_shortened(tmp_path: Path) -> None:
    long_a, long_b = "/" + "a" * 100, "/" + "b" * 100
    body = f"""
server.shell("make", creates="/a")
server.shell("make", creates="/b")
server.shell("make", creates="/a", unless="false")
server.shell("make install", creates={long_a!r})
server.shell("make install", creates={long_b!r})
"""
    shown = labels(tmp_path, body)
    assert shown[:3] == [  # creates= alone does not tell the first and third apart: unless= too
        "server.shell('make', creates='/a', unless=None)",
        "server.shell('make', creates='/b', unless=None)",
        "server.shell('make', creates='/a', unless='false')",
    ]
    assert shown[3] == "server.shell('make install', creates='/" + "a" * 57 + "…)"
    assert len(shown[4]) == len(shown[3]) and shown[4] != shown[3]


def test_identical_calls_keep_one_label_and_sensitive_values_stay_masked(tmp_path: Path) -> None:
    body = """
server.shell("true", creates="/a")
server.shell("true", creates="/a")
server.shell("secret-a", sensitive=True)
server.shell("secret-b", sensitive=True)
"""
    shown = labels(tmp_path, body)
    assert shown[0] == shown[1] == "server.shell('true')"
    assert shown[2] == shown[3] == "server.shell(***)"
