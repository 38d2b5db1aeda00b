"""Tests of paracrine.facts.pip: real interpreters and a virtualenv made in tmp_path."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.facts import pip


def test_packages_of_the_running_interpreter() -> None:
    packages = pip.packages(python=sys.executable)
    assert packages is not None
    assert packages["pytest"] == pytest.__version__
    assert all(name == pip.normalize(name) for name in packages)


def test_packages_of_a_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    assert pip.packages(python=python) == {}
    purelib = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    info = purelib / "Foo_Bar.Baz-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: Foo_Bar.Baz\nVersion: 1.2.3\n")
    assert pip.packages(python=python) == {"foo-bar-baz": "1.2.3"}


def test_packages_ignores_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stray = tmp_path / "stray-9.9.dist-info"
    stray.mkdir()
    (stray / "METADATA").write_text("Metadata-Version: 2.1\nName: stray\nVersion: 9.9\n")
    monkeypatch.chdir(tmp_path)
    packages = pip.packages(python=sys.executable)
    assert packages is not None and "stray" not in packages


def test_packages_of_debian_python_without_pip() -> None:
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no /usr/bin/python3")
    packages = pip.packages()
    assert isinstance(packages, dict)


def test_packages_absent_interpreter_is_none(tmp_path: Path) -> None:
    assert pip.packages(python=str(tmp_path / "venv" / "bin" / "python")) is None


def test_packages_needs_an_absolute_path() -> None:
    with pytest.raises(ValueError, match="absolute path"):
        pip.packages(python="python3")


def test_packages_reports_an_old_interpreter(tmp_path: Path) -> None:
    old = tmp_path / "python2"
    old.write_text(
        "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
        "echo 'ImportError: cannot import name metadata' >&2\nexit 1\n"
    )
    old.chmod(0o755)
    with pytest.raises(RuntimeError, match=r"exit code 1\): ImportError: cannot import name metadata; "):
        pip.packages(python=str(old))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Foo_Bar", "foo-bar"), ("a.-_b", "a-b"), ("typing_extensions", "typing-extensions"), ("Jinja2", "jinja2")],
)
def test_normalize(name: str, expected: str) -> None:
    assert pip.normalize(name) == expected


def test_parse_distributions() -> None:
    assert pip.parse_distributions('{"Foo_Bar": "1.0", "six": "1.16.0"}') == {"foo-bar": "1.0", "six": "1.16.0"}
    with pytest.raises(ValueError, match="JSON object"):
        pip.parse_distributions("[]")


def test_list_script_runs_standalone() -> None:
    """The script must be valid for the target interpreter and print what parse_distributions reads."""
    out = subprocess.run([sys.executable, "-c", pip.LIST_SCRIPT], capture_output=True, text=True, check=True)
    assert pip.parse_distributions(out.stdout)["pytest"] == pytest.__version__


@pytest.mark.lab
def test_lab_pip(lab_fact: Callable[..., Any]) -> None:
    packages = lab_fact(pip.packages, python="/usr/bin/python3")
    assert isinstance(packages, dict)
    assert all(isinstance(version, str) for version in packages.values())
    assert lab_fact(pip.packages, python="/srv/no-such-venv/bin/python") is None
