"""Units of the pip operations: PEP 440 versions and specifiers (checked against ``packaging``), requirements files."""

from __future__ import annotations

import itertools

import pytest
from packaging.specifiers import Specifier as Reference
from packaging.version import Version as ReferenceVersion

from paracrine.errors import PlanError
from paracrine.operations._pep440 import parse_requirement, parse_version
from paracrine.operations.pip import _requirement_lines

VERSIONS = [
    "0.9", "1.0", "1.0.0", "1.0a1", "1.0b2", "1.0rc1", "1.0.dev1", "1.0a1.dev2", "1.0.post1", "1.0.post1.dev1",
    "1.0+local.1", "1.0+abc", "1.0+5", "1!0.5", "1!0.6", "1.4", "1.4.2", "1.4.5", "1.5", "1.9", "2.0", "2.0.1",
    "2.0a1", "2.0.post1", "2.0.dev3", "2.0b1.post2", "3.0", "3.0.0", "1.0a1.post1", "1.0a1.post1.dev1",
    "v1.1", "1.1-1", "1.1_RC_2", "1.1.a3",
]  # fmt: skip
SPEC_VERSIONS = ["1.0", "2.0", "1.4.2", "1.4", "1.0a1", "1.0.post1", "1!0.5", "1.0a1.post1", "2.0.dev1"]
SPECS = [
    *(op + v for op in ("==", "!=", "<=", ">=", "<", ">") for v in SPEC_VERSIONS),
    *("~=" + v for v in SPEC_VERSIONS if v.count(".") >= 1),
    "==1.0+abc", "!=1.0+abc", "==1.*", "!=1.*", "==1.4.*", "==2.*", "===1.0",
]  # fmt: skip


def test_versions_order_as_pep_440_says() -> None:
    for a, b in itertools.permutations(VERSIONS, 2):
        mine, theirs = (parse_version(a), parse_version(b)), (ReferenceVersion(a), ReferenceVersion(b))
        assert (mine[0] < mine[1]) == (theirs[0] < theirs[1]), f"{a} < {b}"
        assert mine[0].same(mine[1]) == (theirs[0] == theirs[1]), f"{a} == {b}"


@pytest.mark.parametrize("spec", SPECS)
def test_specifiers_match_as_pip_checks_installed_versions(spec: str) -> None:
    (clause,) = parse_requirement("x" + spec).specifiers
    for version in VERSIONS:
        expected = Reference(spec).contains(version, prereleases=True)
        assert clause.contains(parse_version(version)) == expected, f"{version} {spec}"


def test_requirements() -> None:
    req = parse_requirement(" Flask_Login[extra1, extra2] >= 0.6 , < 1 ")
    assert (req.name, req.key, [str(s) for s in req.specifiers]) == ("Flask_Login", "flask-login", [">=0.6", "<1"])
    assert req.satisfied_by("0.6.3") and not req.satisfied_by("1.0") and req.satisfied_by(None)
    assert parse_requirement("a (>=1, <2)").satisfied_by("1.5")
    assert parse_requirement("a==1.0").pinned == "1.0" and parse_requirement("a==1.*").pinned is None
    assert parse_requirement("a===weird-1").satisfied_by("weird-1")
    assert not parse_requirement("a>=1").satisfied_by("not a version")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not a requirement"),
        (">=1", "is not a requirement"),
        ("a >= 1 b", "'>= 1 b' is not a version clause"),
        ("a >= one", "'one' is not a version (PEP 440)"),
        ("a ~= 1", "~= needs a version with at least two parts"),
        ("a >= 1.*", "a wildcard version works only with == and !="),
        ("a; python_version < '3.8'", "environment markers (;) are not supported"),
        ("a @ file:///x.whl", "direct references (name @ url) are not supported"),
        ("a => 1", "is not a version clause"),
    ],
)
def test_bad_requirements(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_requirement(text)


def test_requirements_file_lines() -> None:
    lines = [
        "# comment",
        "--extra-index-url https://example.org/simple",
        "flask>=3 \\",
        "  ,<4  # web#framework",
        "requests==2.31.0 --hash=sha256:abc --hash=sha256:def",
        "",
    ]
    reqs = _requirement_lines(lines, "req.txt")
    assert [r.text for r in reqs] == ["flask>=3 ,<4", "requests==2.31.0"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-r other.txt", "req.txt, line 2: -r cannot be checked"),
        ("--constraint=c.txt", "req.txt, line 2: --constraint cannot be checked"),
        ("-e .", "req.txt, line 2: -e cannot be checked"),
        ("./local/path", "req.txt, line 2: './local/path' is not a requirement"),
    ],
)
def test_requirements_file_lines_that_cannot_be_checked(line: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        _requirement_lines(["ok", line], "req.txt")
