"""What a user of the PyPI package expects: a license that matches the metadata, typed package, a
changelog for this version, ``python -m paracrine``, shell completion; and the wheel check in scripts/test.

The wheel itself is built, installed in a clean virtualenv and used by ``scripts/check-wheel``, which
``scripts/test`` (and so CI) runs before pytest.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

import paracrine

ROOT = Path(__file__).resolve().parent.parent


def metadata() -> configparser.SectionProxy:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config["metadata"]


def python_m(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paracrine", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        timeout=60,
    )


def test_the_license_file_is_the_mit_license_of_the_metadata() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert metadata()["license"] == "MIT"
    assert metadata()["license_files"].strip() == "LICENSE"
    assert text.startswith("MIT License\n\nCopyright (c) ")
    assert "the Paracrine authors" in text.splitlines()[2]
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def test_metadata_names_authors_and_classifiers_but_no_invented_addresses() -> None:
    meta = metadata()
    assert meta["author"] == "the Paracrine authors"
    classifiers = meta["classifiers"].split("\n")
    assert "License :: OSI Approved :: MIT License" in classifiers
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert not {"author_email", "url", "project_urls", "maintainer_email"} & set(meta)


def test_the_package_is_typed() -> None:
    assert (ROOT / "paracrine" / "py.typed").is_file()
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert "py.typed" in config["options.package_data"]["paracrine"].replace(",", " ").split()


def test_the_changelog_describes_this_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert f"\n## {paracrine.__version__} " in text
    for command in ("paracrine run", "paracrine op", "--path DIR", "shell completion"):
        assert command.lower() in text.lower(), command


def test_python_m_paracrine() -> None:
    assert (ROOT / "paracrine" / "__main__.py").is_file()
    result = python_m("--version")
    assert (result.returncode, result.stdout) == (0, f"paracrine {paracrine.__version__}\n")
    bad = python_m("nonexistent.py")
    assert bad.returncode == 3
    assert bad.stderr == "error: deploy file nonexistent.py not found; pass the path of a .py deploy file\n"


@pytest.mark.parametrize(("shell", "marker"), [("bash", "complete -o nosort"), ("zsh", "#compdef paracrine"),
                                               ("fish", "complete --no-files --command paracrine")])  # fmt: skip
def test_shell_completion_scripts(shell: str, marker: str) -> None:
    result = python_m(env={"_PARACRINE_COMPLETE": f"{shell}_source"})
    assert result.returncode == 0, result.stderr
    assert "_paracrine_completion" in result.stdout and marker in result.stdout
    readme = (ROOT / "README.md").read_text()
    assert f"_PARACRINE_COMPLETE={shell}_source paracrine" in readme


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("paracrine fa", "plain,facts"),
        ("paracrine ops files.temp", "plain,files.template"),
        ("paracrine facts @local files.path_i", "plain,files.path_info"),
        ("paracrine facts --lis", "plain,--list"),
    ],
)
def test_shell_completion_completes(words: str, expected: str) -> None:
    env = {"_PARACRINE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    result = python_m(env=env)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout.splitlines(), result.stdout


def test_scripts_test_checks_the_wheel_before_pytest() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    assert "scripts/check-wheel" in script
    assert script.index("\nscripts/check-wheel") < script.index("\npython -m pytest")
    check = (ROOT / "scripts" / "check-wheel").read_text()
    for needed in ("paracrine/operations/files.py", "paracrine/facts/files.py", "paracrine/changes/write.py",
                   "facts @local", "paracrine\" ops", "--without-pip"):  # fmt: skip
        assert needed in check, needed
