"""Python requirements and versions, as far as planning needs them (PEP 440 and PEP 508, a subset).

``pip.packages`` decides on the controller whether an installed version
satisfies a requirement such as ``flask>=2,<3``, so that a host already right
runs nothing. This module parses requirements (a name, extras, version
specifiers; no URLs, no environment markers) and compares versions as PEP 440
orders them. Like pip when it checks what is installed, an installed
pre-release satisfies a specifier that matches it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from paracrine.facts.pip import normalize

_VERSION = re.compile(
    r"""
    v?(?:(?P<epoch>\d+)!)?(?P<release>\d+(?:\.\d+)*)
    (?:[-_.]?(?P<pre_l>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>\d+)?)?
    (?:-(?P<post_n1>\d+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>\d+)?)?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>\d+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_PRE = {"a": "a", "alpha": "a", "b": "b", "beta": "b", "c": "rc", "rc": "rc", "pre": "rc", "preview": "rc"}
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_REQUIREMENT = re.compile(
    rf"\s*(?P<name>{_NAME})\s*(?:\[(?P<extras>[^\]]*)\])?\s*(?P<specs>[^;@]*?)\s*(?P<rest>[;@].*)?",
    re.DOTALL,
)
_SPEC = re.compile(r"\s*(?P<op>~=|===|==|!=|<=|>=|<|>)\s*(?P<version>[^\s,]+)\s*")


@dataclass(frozen=True)
class Version:
    """A PEP 440 version, comparable with the others."""

    text: str
    epoch: int
    release: tuple[int, ...]
    pre: tuple[str, int] | None
    post: int | None
    dev: int | None
    local: tuple[Any, ...] | None

    @property
    def is_prerelease(self) -> bool:
        return self.pre is not None or self.dev is not None

    @property
    def public(self) -> Version:
        """The version without its local label (``1.0+ubuntu1`` -> ``1.0``)."""
        return Version(self.text.split("+")[0], self.epoch, self.release, self.pre, self.post, self.dev, None)

    @property
    def key(self) -> tuple[Any, ...]:
        """The sort key of PEP 440's ordering (trailing zeros do not count: 1.0 == 1.0.0)."""
        release = list(self.release)
        while len(release) > 1 and release[-1] == 0:
            release.pop()
        if self.pre is None and self.post is None and self.dev is not None:
            pre: tuple[Any, ...] = (-1, "", 0)  # 1.0.dev1 sorts before 1.0a1
        else:
            pre = (1, "", 0) if self.pre is None else (0, *self.pre)
        post = -1 if self.post is None else self.post
        dev = (1, 0) if self.dev is None else (0, self.dev)
        local = () if self.local is None else tuple((1, p, "") if isinstance(p, int) else (0, 0, p) for p in self.local)
        return (self.epoch, tuple(release), pre, post, dev, local)

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key

    def __le__(self, other: Version) -> bool:
        return self.key <= other.key

    def __gt__(self, other: Version) -> bool:
        return self.key > other.key

    def __ge__(self, other: Version) -> bool:
        return self.key >= other.key

    def same(self, other: Version) -> bool:
        return self.key == other.key


def parse_version(text: str) -> Version:
    """Parse a PEP 440 version; ValueError if ``text`` is not one."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a version (PEP 440)")
    g = match.groupdict()
    pre = (_PRE[g["pre_l"].lower()], int(g["pre_n"] or 0)) if g["pre_l"] else None
    post_number = g["post_n1"] or g["post_n2"]
    post = int(post_number or 0) if g["post_n1"] or g["post_l"] else None
    dev = int(g["dev_n"] or 0) if g["dev_l"] else None
    local = None
    if g["local"]:
        local = tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"[-_.]", g["local"]))
    release = tuple(int(p) for p in g["release"].split("."))
    return Version(text.strip(), int(g["epoch"] or 0), release, pre, post, dev, local)


@dataclass(frozen=True)
class Specifier:
    """One version clause: ``>=2.0``, ``==3.*``, ``~=1.4.2``."""

    op: str
    version: str

    def __str__(self) -> str:
        return f"{self.op}{self.version}"

    def contains(self, candidate: Version) -> bool:
        """Whether ``candidate`` satisfies this clause (pre-releases included, as pip checks installed ones)."""
        if self.op == "===":
            return candidate.text.lower() == self.version.lower()
        if self.version.endswith(".*"):
            matched = _prefix_match(candidate, parse_version(self.version[:-2]))
            return matched if self.op == "==" else not matched
        wanted = parse_version(self.version)
        if self.op == "~=":
            prefix = parse_version(f"{wanted.epoch}!" + ".".join(str(p) for p in wanted.release[:-1]))
            return candidate >= wanted and _prefix_match(candidate, prefix)
        if self.op in ("==", "!="):
            same = (candidate if wanted.local is not None else candidate.public).same(wanted)
            return same if self.op == "==" else not same
        return _ordered(self.op, candidate.public, wanted)


def _prefix_match(candidate: Version, prefix: Version) -> bool:
    """``==1.4.*``: the candidate's release starts with the prefix's (zero-padded)."""
    size = len(prefix.release)
    release = (candidate.release + (0,) * size)[:size]
    return candidate.epoch == prefix.epoch and release == prefix.release


def _ordered(op: str, candidate: Version, wanted: Version) -> bool:
    if op == "<=":
        return candidate <= wanted
    if op == ">=":
        return candidate >= wanted
    same_release = (candidate.epoch, candidate.release) == (wanted.epoch, wanted.release)
    if op == "<":  # <2.0 excludes 2.0's own pre-releases, unless it names a pre-release
        if wanted.is_prerelease:
            excluded = False
        elif wanted.post is not None:  # <2.0.post1 excludes 2.0.post1.dev1
            excluded = candidate.dev is not None and candidate.public.key[:4] == wanted.public.key[:4]
        else:
            excluded = same_release and candidate.is_prerelease
        return candidate < wanted and not excluded
    # ">": >2.0 excludes 2.0's post-releases, unless it names a post-release
    excluded = same_release and candidate.pre == wanted.pre and candidate.post is not None
    excluded = excluded and wanted.post is None and wanted.dev is None
    return candidate > wanted and not excluded


def _check_specifier(spec: Specifier) -> None:
    if spec.op == "===":
        return
    text = spec.version
    if text.endswith(".*"):
        if spec.op not in ("==", "!="):
            raise ValueError(f"a wildcard version works only with == and != ({spec})")
        text = text[:-2]
    version = parse_version(text)
    if spec.op == "~=" and len(version.release) < 2:
        raise ValueError(f"~= needs a version with at least two parts, e.g. ~=1.4 ({spec})")


@dataclass(frozen=True)
class Requirement:
    """A requirement: ``name[extras]`` and version clauses, all of which must hold."""

    text: str
    name: str
    specifiers: tuple[Specifier, ...]

    @property
    def key(self) -> str:
        """The normalized name, as the ``pip.packages`` fact names distributions."""
        return normalize(self.name)

    @property
    def pinned(self) -> str | None:
        """The version an exact ``==``/``===`` clause names (what pip will install), else None."""
        for spec in self.specifiers:
            if spec.op in ("==", "===") and not spec.version.endswith(".*"):
                return spec.version
        return None

    def satisfied_by(self, version: str | None) -> bool:
        """Whether an installed ``version`` satisfies every clause.

        None (installed, version not known: a prediction for a package this run
        installs) counts as satisfying; so does a version that is not PEP 440 but
        is named exactly by ``===``.
        """
        if version is None:
            return True
        try:
            parsed = parse_version(version)
        except ValueError:
            return all(s.op == "===" and s.version == version for s in self.specifiers)
        return all(spec.contains(parsed) for spec in self.specifiers)


def parse_requirement(text: str) -> Requirement:
    """Parse ``name[extras] clauses``; ValueError (saying why) for anything else."""
    match = _REQUIREMENT.fullmatch(text)
    if match is None or not text.strip():
        raise ValueError(f"{text!r} is not a requirement such as 'flask' or 'flask>=2,<3'")
    if match["rest"]:
        what = "environment markers (;)" if match["rest"].startswith(";") else "direct references (name @ url)"
        raise ValueError(f"{text!r}: {what} are not supported")
    specs: list[Specifier] = []
    clauses = match["specs"].strip()
    if clauses.startswith("(") and clauses.endswith(")"):
        clauses = clauses[1:-1]
    for clause in clauses.split(",") if clauses else []:
        found = _SPEC.fullmatch(clause)
        if found is None:
            raise ValueError(f"{text!r}: {clause.strip()!r} is not a version clause such as '>=2.0'")
        spec = Specifier(found["op"], found["version"])
        try:
            _check_specifier(spec)
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
        specs.append(spec)
    return Requirement(text.strip(), match["name"], tuple(specs))
