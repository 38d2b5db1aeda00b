"""Test helper: a stand-in for ``paracrine.facts._command.run`` with canned outputs."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paracrine.facts import _command


class FakeRun:
    """Stands in for ``_command.run``: canned outputs by argv, and a record of the calls."""

    def __init__(self) -> None:
        self.outputs: dict[tuple[str, ...], _command.Output] = {}
        self.calls: list[list[str]] = []

    def add(self, argv: list[str], stdout: str = "", stderr: str = "", returncode: int = 0) -> None:
        """Make ``argv`` print ``stdout``/``stderr`` and exit with ``returncode``."""
        self.outputs[tuple(argv)] = _command.Output(returncode, stdout, stderr)

    def __call__(self, argv: list[str], *, ok: tuple[int, ...] | None = (0,)) -> _command.Output:
        self.calls.append(list(argv))
        try:
            out = self.outputs[tuple(argv)]
        except KeyError:
            raise AssertionError(f"unexpected command {argv}") from None
        if ok is not None and out.returncode not in ok:
            raise RuntimeError(f"`{' '.join(argv)}` failed with exit code {out.returncode}: {out.stderr}")
        return out


PSQL = """\
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
sql = sys.stdin.read()
with open(os.path.join(here, "calls.json"), "a") as log:
    log.write(json.dumps({"argv": sys.argv[1:], "sql": sql, "env": {k: v for k, v in os.environ.items()
                                                                      if k.startswith("PG") or k == "LC_ALL"}}) + "\\n")
for needle, stdout, code in json.load(open(os.path.join(here, "rules.json"))):
    if needle in sql:
        sys.stdout.write(stdout)
        sys.stderr.write("psql: error: " + stdout if code else "")
        sys.exit(code)
sys.exit("no rule for " + sql)
"""


@contextlib.contextmanager
def fake_psql(directory: Path, rules: list[tuple[str, str, int]]) -> Iterator[list[dict[str, Any]]]:
    """A ``psql`` in ``directory`` for ``paracrine.facts.postgresql``, run as this user.

    ``rules`` are (text in the SQL, stdout, exit code), the first match wins.
    Yields the list of calls made (argv, SQL, PG* environment), filled when the block ends.
    """
    from paracrine.facts import postgresql

    directory.mkdir(parents=True, exist_ok=True)
    tool = directory / "psql"
    tool.write_text(f"#!{sys.executable}\n{PSQL}")
    tool.chmod(0o755)
    (directory / "rules.json").write_text(json.dumps(rules))
    saved = _command.STANDARD_PATH, postgresql.run_as, postgresql.CLIENTS
    _command.STANDARD_PATH = f"{directory}:{saved[0]}"
    postgresql.run_as = lambda user: None  # type: ignore[assignment]
    postgresql.CLIENTS = str(directory / "no-versioned-clients")  # the fake on the PATH, not this machine's psql
    calls: list[dict[str, Any]] = []
    try:
        yield calls
    finally:
        _command.STANDARD_PATH, postgresql.run_as, postgresql.CLIENTS = saved
        log = directory / "calls.json"
        if log.exists():
            calls.extend(json.loads(line) for line in log.read_text().splitlines())
