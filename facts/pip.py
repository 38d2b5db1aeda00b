"""Facts about Python distributions installed for an interpreter or a virtualenv."""

from __future__ import annotations

import os

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


@fact
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
    if not os.path.isabs(python):
        raise ValueError(f"python must be an absolute path, got {python!r}")
    if not os.path.isfile(python):
        return None
    out = _command.run([python, "-c", LIST_SCRIPT], ok=None)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        hint = "; importlib.metadata needs Python 3.8 or later" if "metadata" in last else ""
        raise RuntimeError(f"{python} could not list its distributions (exit code {out.returncode}): {last}{hint}")
    return parse_distributions(out.stdout)
