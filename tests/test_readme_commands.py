"""The README's commands, as written: the Quick start and the CLI reference's examples run against the
test lab and exit as documented (0 unless a comment says ``# exit N``); the operation table is the one
``paracrine ops --markdown`` generates.

Commands run through bash, from a directory holding ``demo`` (a link to the repository's) and
``lib/myapp`` (the README's package example), with ``.venv/bin`` first on PATH. ``sudo`` keeps the test
lab's environment (``--preserve-env``): without it, sudo would drop PARACRINE_LAB_DIR and act on your lab.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from paracrine.commands.ops import markdown_table
from paracrine.operation import builtin_operations

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SECTIONS = ("Quick start", "CLI reference")
LAB_ENV = ("PARACRINE_LAB_DIR", "PARACRINE_LAB_PORT_BASE")
#: README commands of those sections that the test does not run, and why.
DEMO = "tests/test_demo.py runs the demo (demo/showcase.py, what scripts/demo runs) on the test lab"
EXCLUDED: dict[str, str] = {
    "sudo scripts/demo": f"{DEMO}; it installs PostgreSQL, nginx and an app and takes minutes",
    "paracrine demo/deploy.py --check": f"needs the demo deployed; {DEMO}, re-run included (nothing changes)",
    "DEMO_GREETING=Hi paracrine demo/deploy.py --dry-run --diff": f"needs the demo deployed; {DEMO}, "
    "changing the greeting included",
}


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def commands() -> list[tuple[str, int]]:
    """``(command, expected exit code)`` of every line of the sections' ``sh`` blocks, in order."""
    found = []
    for title in SECTIONS:
        for block in re.findall(r"```sh\n(.*?)```", section(title), re.S):
            for line in block.splitlines():
                command, _, comment = line.partition("  #")
                if command.strip():
                    expected = re.search(r"\bexit (\d+)", comment)
                    found.append((command.strip(), int(expected[1]) if expected else 0))
    return found


def test_the_readme_operation_table_is_generated() -> None:
    text = README.read_text(encoding="utf-8")
    table = re.search(r"<!-- ops-table:[^\n]*-->\n(.*?)<!-- /ops-table -->", text, re.S)
    assert table is not None, "the README lost its ops-table markers"
    assert table[1] == markdown_table(builtin_operations()), (
        "the README's operation table is stale: replace it with the output of `paracrine ops --markdown`"
    )


def test_every_readme_command_is_run_or_excluded_with_a_reason() -> None:
    found = [command for command, _ in commands()]
    assert len(found) >= 15, found
    for command in found:
        assert command.startswith(("paracrine ", 'sudo "$(command -v paracrine)" ')) or command in EXCLUDED, command
    assert set(EXCLUDED) <= set(found), "an exclusion names a command the README no longer shows"
    assert all(EXCLUDED.values()), "every exclusion says why"


def readme_package(directory: Path) -> None:
    """``lib/myapp`` of "Writing an operation package", as the README writes it."""
    blocks = dict(re.findall(r"```python\n# (\S+)[^\n]*\n(.*?)```", README.read_text(encoding="utf-8"), re.S))
    package = directory / "lib" / "myapp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("facts.py", "ops.py"):
        (package / name).write_text(blocks[f"myapp/{name}"])


@pytest.mark.lab
def test_the_readme_commands_run_as_written(test_lab: Path, tmp_path: Path) -> None:
    (tmp_path / "demo").symlink_to(ROOT / "demo")
    readme_package(tmp_path)
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "PARACRINE_STATE_DIR": str(tmp_path / "state"),
    }
    keep = "sudo --preserve-env=" + ",".join(LAB_ENV) + " "
    for command, expected in commands():
        if command in EXCLUDED:
            continue
        shell = command.replace("sudo ", keep, 1) if command.startswith("sudo ") else command
        result = subprocess.run(
            ["bash", "-c", shell], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == expected, f"{command}\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "lab.yaml").is_file()
