"""Facts about Python interpreters, their virtualenvs and the distributions installed for them."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from paracrine.fact import fact
from paracrine.facts import _command

LIST_SCRIPT = """\
import json, re, sys
sys.path[:] = [p for p in sys.path if p]
from importlib import metadata
found = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        found.setdefault(re.sub(r"[-_.]+", "-", name).lower(), dist.version)
sys.stdout.write(json.dumps(found))
"""
"""Run by the target interpreter: print {normalized name: version} as JSON.

It needs only ``importlib.metadata`` (Python 3.8+), not pip. The current
directory is dropped from ``sys.path`` so that stray ``*.dist-info`` there do
not count; when a name is installed twice, the copy that ``import`` finds first
wins.
"""


def normalize(name: str) -> str:
    """A distribution name normalized as in PEP 503 ("Foo_Bar.baz" -> "foo-bar-baz")."""
    out: list[str] = []
    for char in name.lower():
        if char in "-_.":
            if not out or out[-1] != "-":
                out.append("-")
        else:
            out.append(char)
    return "".join(out)


def parse_distributions(text: str) -> dict[str, str]:
    """Parse the JSON printed by :data:`LIST_SCRIPT`.

    Args:
        text: a JSON object of distribution name -> version.

    Returns:
        Normalized name -> version, e.g. {"jinja2": "3.1.2", "typing-extensions": "4.12.2"}.
    """
    import json

    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object of name -> version, got {type(data).__name__}")
    return {normalize(str(name)): str(version) for name, version in data.items()}


def _run_python(python: str, args: list[str], failure: str, hint: Callable[[str], str] = lambda last: "") -> str | None:
    """The output of ``python ARGS``; None if ``python`` does not exist; RuntimeError "python FAILURE" if it fails."""
    if not os.path.isabs(python):
        raise ValueError(f"python must be an absolute path, got {python!r}")
    if not os.path.isfile(python):
        return None
    out = _command.run([python, *args], ok=None)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{python} {failure} (exit code {out.returncode}): {last}{hint(last)}")
    return out.stdout


SYSTEM_SITE_DIRS = (
    "/usr/lib/python3/dist-packages",
    "/usr/local/lib/python3*/dist-packages",
    "/usr/lib/python3*/site-packages",
    "/usr/local/lib/python3*/site-packages",
)


def packages_fingerprint(python: str = "/usr/bin/python3") -> list[Any] | None:
    """What changes whenever a distribution is installed, removed or upgraded for ``python``.

    The modification times of its site-packages directories (installing or
    removing a distribution adds or removes a ``*.dist-info`` entry there) and
    of the interpreter itself: a few ``stat`` calls instead of starting it.
    """
    import glob

    try:
        real = os.path.realpath(python)
        stamp: list[Any] = [real, os.stat(real).st_mtime_ns]
    except OSError:
        return None
    venv = os.path.dirname(os.path.dirname(python))
    if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
        patterns: tuple[str, ...] = (
            os.path.join(venv, "lib", "python3*", "site-packages"),
            os.path.join(venv, "pyvenv.cfg"),
        )
    else:
        patterns = SYSTEM_SITE_DIRS
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            try:
                stamp += [path, os.stat(path).st_mtime_ns]
            except OSError:
                continue
    return stamp


@fact(fingerprint=packages_fingerprint, concurrent=True)
def packages(python: str = "/usr/bin/python3") -> dict[str, str] | None:
    """The Python distributions that an interpreter (or a virtualenv's python) can import.

    Does not need pip on the target: the interpreter runs a short
    ``importlib.metadata`` script (Python 3.8 or later).

    Args:
        python: absolute path of the interpreter, e.g. "/srv/app/venv/bin/python".

    Returns:
        Normalized distribution name (PEP 503: lowercase, runs of "-_." as
        "-") -> version, e.g. {"requests": "2.28.1"}; None if ``python`` does
        not exist (a virtualenv not created yet).

    Example:
        paracrine facts web1 pip.packages python=/srv/app/venv/bin/python
    """

    def hint(last: str) -> str:
        return "; importlib.metadata needs Python 3.8 or later" if "metadata" in last else ""

    out = _run_python(python, ["-c", LIST_SCRIPT], "could not list its distributions", hint)
    return None if out is None else parse_distributions(out)


INTERPRETER_SCRIPT = """\
import json, os, sys
v = sys.version_info
sys.stdout.write(json.dumps({"executable": os.path.realpath(sys.executable), "version": "%d.%d.%d" % v[:3]}))
"""
"""Run by the target interpreter: print its real path and version as JSON."""


def interpreter_fingerprint(python: str = "/usr/bin/python3") -> list[Any] | None:
    """The interpreter's real path and its file's identity: its path and version change only with these.

    A ``stat`` instead of starting the interpreter (about 0.1 s) in every run.
    """
    try:
        real = os.path.realpath(python)
        st = os.stat(real)
    except OSError:
        return None
    return [real, st.st_mtime_ns, st.st_size, st.st_ino]


@fact(fingerprint=interpreter_fingerprint, concurrent=True)
def interpreter(python: str = "/usr/bin/python3") -> dict[str, str] | None:
    """A Python interpreter: its real path (symbolic links resolved) and version.

    Args:
        python: absolute path of the interpreter, e.g. "/usr/bin/python3".

    Returns:
        {"executable": "/usr/bin/python3.11", "version": "3.11.2"}; None if
        ``python`` does not exist.

    Example:
        paracrine facts web1 pip.interpreter python=/usr/bin/python3
    """
    import json

    out = _run_python(python, ["-c", INTERPRETER_SCRIPT], "is not a working Python interpreter")
    if out is None:
        return None
    data = json.loads(out)
    return {"executable": str(data["executable"]), "version": str(data["version"])}


def parse_pyvenv_cfg(text: str) -> dict[str, str]:
    """Parse a virtualenv's ``pyvenv.cfg``: ``key = value`` lines (keys lowercased).

    Args:
        text: the file's content.

    Returns:
        Key -> value, e.g. {"home": "/usr/bin", "version": "3.11.2"}.
    """
    config: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            config[key.strip().lower()] = value.strip()
    return config


@fact
def venv(path: str) -> dict[str, object] | None:
    """A virtualenv's configuration, from its ``pyvenv.cfg``.

    Args:
        path: the virtualenv's directory, e.g. "/srv/app/venv".

    Returns:
        {"home": "/usr/bin", "version": "3.11.2", "executable": "/usr/bin/python3.11",
        "system_site_packages": False}; None if ``path`` has no ``pyvenv.cfg``.
        ``executable`` is the base interpreter's real path: the file's
        ``executable`` key (Python 3.11+), else where ``bin/python`` leads;
        None if neither says.

    Example:
        paracrine facts web1 pip.venv path=/srv/app/venv
    """
    if not os.path.isabs(path):
        raise ValueError(f"path must be an absolute path, got {path!r}")
    cfg_path = os.path.join(path, "pyvenv.cfg")
    if os.path.islink(cfg_path) or not os.path.isfile(cfg_path):
        return None
    with open(cfg_path, encoding="utf-8", errors="replace") as stream:
        config = parse_pyvenv_cfg(stream.read(65536))
    executable = config.get("executable")
    if executable:
        executable = os.path.realpath(executable)
    elif os.path.islink(os.path.join(path, "bin", "python")):
        executable = os.path.realpath(os.path.join(path, "bin", "python"))
    return {
        "home": config.get("home"),
        "version": config.get("version") or config.get("version_info"),
        "executable": executable or None,
        "system_site_packages": config.get("include-system-site-packages", "false").lower() == "true",
    }


def parse_outdated(text: str) -> dict[str, str]:
    """Parse ``pip list --outdated --format=json``.

    Args:
        text: a JSON list of {"name", "version", "latest_version", ...} objects.

    Returns:
        Normalized name -> latest version, e.g. {"flask": "3.0.3"}.
    """
    import json

    data = json.loads(text or "[]")
    if not isinstance(data, list):
        raise ValueError(f"expected a JSON list, got {type(data).__name__}")
    return {normalize(str(entry["name"])): str(entry["latest_version"]) for entry in data}


def index_options(index_url: str | None, find_links: list[str], no_index: bool) -> list[str]:
    """pip's options for where packages come from (shared by the fact and the install command)."""
    options = ["--index-url", index_url] if index_url else []
    options += ["--no-index"] if no_index else []
    for link in find_links:
        options += ["--find-links", link]
    return options


def _local_links(
    python: str = "/usr/bin/python3",
    index_url: str | None = None,
    find_links: list[str] | None = None,
    no_index: bool = False,
) -> list[str]:
    """The local directories among ``find_links``: a file put there earlier in a run changes what is outdated."""
    local = [link[len("file://") :] if link.startswith("file://") else link for link in find_links or []]
    return [link for link in local if link.startswith("/")]


@fact(prefetch=False, paths=_local_links, concurrent=True)
def outdated(
    python: str = "/usr/bin/python3",
    index_url: str | None = None,
    find_links: list[str] | None = None,
    no_index: bool = False,
) -> dict[str, str] | None:
    """The installed distributions that have a newer version in the package index.

    Runs ``python -m pip list --outdated``, which asks the index (PyPI unless
    told otherwise) about every installed distribution: only gathered when a
    deploy asks for it (``pip.packages(..., latest=True)``). A change earlier
    in the run to a local ``find_links`` directory (a wheel put there) makes
    it gathered again after that change.

    Args:
        python: absolute path of the interpreter, e.g. "/srv/app/venv/bin/python".
        index_url: the package index (pip's ``--index-url``).
        find_links: local directories or URLs of distributions (``--find-links``).
        no_index: do not use an index, only ``find_links`` (``--no-index``).

    Returns:
        Normalized name -> newest version, e.g. {"flask": "3.0.3"}; None if
        ``python`` does not exist.

    Example:
        paracrine facts web1 pip.outdated python=/srv/app/venv/bin/python
    """
    args = ["-m", "pip", "list", "--outdated", "--format=json", "--disable-pip-version-check", "--no-input"]
    args += index_options(index_url, list(find_links or []), no_index)
    out = _run_python(python, args, "-m pip list --outdated failed")
    return None if out is None else parse_outdated(out)
