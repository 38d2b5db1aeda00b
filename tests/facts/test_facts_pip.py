"""Tests of paracrine.facts.pip: real interpreters and a virtualenv made in tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_tools import FakeRun

from paracrine.fact import by_name
from paracrine.facts import pip
from paracrine.factspec import spec_of


def fact_paths(func: Callable[..., Any]) -> Callable[..., list[str]]:
    entry = by_name(f"pip.{func.__name__}")
    assert entry is not None and entry.paths is not None
    return entry.paths


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


def test_interpreter_resolves_links(tmp_path: Path) -> None:
    link = tmp_path / "python"
    link.symlink_to(sys.executable)
    found = pip.interpreter(python=str(link))
    assert found == {
        "executable": os.path.realpath(sys.executable),
        "version": ".".join(map(str, sys.version_info[:3])),
    }
    assert pip.interpreter(python=str(tmp_path / "none")) is None


def test_interpreter_has_a_cheap_fingerprint_that_follows_the_link(tmp_path: Path) -> None:
    assert spec_of(pip.interpreter).fingerprint is pip.interpreter_fingerprint
    first, second = tmp_path / "python3.11", tmp_path / "python3.12"
    first.write_text("#!/bin/sh\n")
    second.write_text("#!/bin/sh\nexit 0\n")
    link = tmp_path / "python3"
    link.symlink_to(first)
    before = pip.interpreter_fingerprint(str(link))
    assert before is not None and before[0] == str(first) and before == pip.interpreter_fingerprint(str(link))
    link.unlink()
    link.symlink_to(second)  # the link now names another interpreter
    assert pip.interpreter_fingerprint(str(link)) != before
    assert pip.interpreter_fingerprint(str(tmp_path / "none")) is None


def test_interpreter_that_does_not_work(tmp_path: Path) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'not python' >&2\nexit 2\n")
    broken.chmod(0o755)
    with pytest.raises(RuntimeError, match=r"is not a working Python interpreter \(exit code 2\): not python"):
        pip.interpreter(python=str(broken))


def test_parse_pyvenv_cfg(captured: Callable[[str], str]) -> None:
    assert pip.parse_pyvenv_cfg(captured("pyvenv-3.11-debian12.cfg")) == {
        "home": "/usr/bin",
        "include-system-site-packages": "false",
        "version": "3.11.2",
        "executable": "/usr/bin/python3.11",
        "command": "/usr/bin/python3 -m venv /srv/app/venv",
    }
    assert pip.parse_pyvenv_cfg("no equals sign\n = no key\nKey = a = b\n") == {"key": "a = b"}


def test_venv_of_a_real_virtualenv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    found = pip.venv(path=str(venv))
    assert found is not None
    assert found["executable"] == os.path.realpath(sys.executable)
    assert found["system_site_packages"] is True
    assert found["version"] == ".".join(map(str, sys.version_info[:3]))


def test_venv_without_executable_key_follows_bin_python(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(sys.executable)
    (tmp_path / "pyvenv.cfg").write_text(
        "home = /usr/bin\ninclude-system-site-packages = false\nversion_info = 3.8.10\n"
    )
    found = pip.venv(path=str(tmp_path))
    assert found == {
        "home": "/usr/bin",
        "version": "3.8.10",
        "executable": os.path.realpath(sys.executable),
        "system_site_packages": False,
    }
    (tmp_path / "bin" / "python").unlink()
    assert pip.venv(path=str(tmp_path))["executable"] is None  # type: ignore[index]


def test_venv_absent_or_linked_cfg_is_none(tmp_path: Path) -> None:
    assert pip.venv(path=str(tmp_path)) is None
    (tmp_path / "elsewhere.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "pyvenv.cfg").symlink_to(tmp_path / "elsewhere.cfg")
    assert pip.venv(path=str(tmp_path)) is None
    with pytest.raises(ValueError, match="absolute path"):
        pip.venv(path="venv")


def test_parse_outdated(captured: Callable[[str], str]) -> None:
    assert pip.parse_outdated(captured("pip-list-outdated-23.0.txt")) == {"alpha": "2.0"}
    assert pip.parse_outdated("") == {}
    with pytest.raises(ValueError, match="JSON list"):
        pip.parse_outdated("{}")


def test_outdated_asks_pip_with_the_index_options(fake_run: FakeRun, captured: Callable[[str], str]) -> None:
    argv = [sys.executable, "-m", "pip", "list", "--outdated", "--format=json", "--disable-pip-version-check"]
    argv += ["--no-input", "--index-url", "https://pypi.example.org/simple", "--no-index"]
    argv += ["--find-links", "/srv/wheels", "--find-links", "file:///srv/more"]
    fake_run.add(argv, captured("pip-list-outdated-23.0.txt"))
    links = ["/srv/wheels", "file:///srv/more"]
    found = pip.outdated(sys.executable, index_url="https://pypi.example.org/simple", find_links=links, no_index=True)
    assert found == {"alpha": "2.0"}
    fake_run.add(argv[:8], stderr="ERROR: no network\n", returncode=1)
    with pytest.raises(RuntimeError, match=r"pip list --outdated failed \(exit code 1\): ERROR: no network"):
        pip.outdated(sys.executable)


def test_outdated_of_this_interpreter_offline() -> None:
    assert pip.outdated(sys.executable, no_index=True) == {}


def test_outdated_is_gathered_again_after_a_change_to_local_links() -> None:
    spec = spec_of(pip.outdated)
    assert spec.prefetch is False
    paths = fact_paths(pip.outdated)
    assert paths(python="/x", find_links=["/srv/wheels", "file:///srv/more", "https://example.org/w/"]) == [
        "/srv/wheels",
        "/srv/more",
    ]


@pytest.mark.lab
def test_lab_pip(lab_fact: Callable[..., Any]) -> None:
    packages = lab_fact(pip.packages, python="/usr/bin/python3")
    assert isinstance(packages, dict)
    assert all(isinstance(version, str) for version in packages.values())
    assert lab_fact(pip.packages, python="/srv/no-such-venv/bin/python") is None
    interpreter = lab_fact(pip.interpreter, python="/usr/bin/python3")
    assert interpreter["executable"].startswith("/usr/bin/python3.") and interpreter["version"].startswith("3.")
    assert lab_fact(pip.venv, path="/srv/no-such-venv") is None
