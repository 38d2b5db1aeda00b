"""Public test helpers for Paracrine and for operation/fact packages.

* :func:`plan_case` / :func:`check_case`: data-driven operation cases — facts
  in, changes out, plus an ``after`` state that must plan to nothing. A fact
  lookup the case does not list is an error, so cases say exactly what an
  operation reads.
* :func:`invoke`: run the ``paracrine`` CLI in-process and capture its output.
* :func:`serving` (a directory over HTTP on 127.0.0.1, which lab hosts reach too) and
  :func:`make_wheel` (a tiny pure-Python wheel): things to deploy in tests without a network.
* pytest fixtures (``pytest_plugins = ["paracrine.testing"]``): ``lab_hosts``
  gives a test N fresh lab hosts (real sshd, real SSH) in a lab of the test
  session's own, so tests never disturb a developer's lab.

A case file (JSON)::

    {"args": ["/srv/app"], "kwargs": {"mode": "0755"},
     "host": {"name": "web1", "data": {}},
     "facts": [["files.path_info", {"path": "/srv/app"}, null]],
     "changes": [{"kind": "mkdir", "path": "/srv/app", "mode": 493, "owner": null, "group": null}],
     "after": [["files.path_info", {"path": "/srv/app"}, {"kind": "directory", "mode": 493, ...}]]}

``error`` (a substring of the one-line error) replaces ``changes`` for error cases.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paracrine import dag
from paracrine.errors import ParacrineError
from paracrine.factkey import FactKey
from paracrine.gather import HostFacts, make_key
from paracrine.handlers import pending_fact_key
from paracrine.hosts import Host, HostData
from paracrine.operation import OpCall, Operation, Options
from paracrine.plan import HostPlan, PlannedOp, Planner

# ---------------------------------------------------------------- operation cases


class CaseError(AssertionError):
    """A case is wrong or incomplete (e.g. an unlisted fact lookup)."""


def _facts(entries: list[list[Any]], user: str | None = None) -> dict[FactKey, Any]:
    facts = {}
    for entry in entries:
        if len(entry) != 3:
            raise CaseError(f"a fact entry is [name, args, value], got {entry!r}")
        name, args, value = entry
        facts[make_key(name, args, user)] = value
    return facts


def planner_for(op: Operation, case: dict[str, Any], facts: list[list[Any]] | None = None) -> tuple[Planner, OpCall]:
    """A planner holding the case's host and facts (default: the case's), and the case's call."""
    host_spec = case.get("host", {})
    name = host_spec.get("name", "testhost")
    host = Host(name, tuple(host_spec.get("groups", ())), HostData(name, host_spec.get("data", {})), "case")
    memo = HostFacts(name, _facts(case.get("facts", []) if facts is None else facts))
    memo.values.setdefault(pending_fact_key(), {})
    from paracrine.current import running_for
    from paracrine.deploy import DeployHost

    with running_for(DeployHost(host, memo.get)):
        call = OpCall(op, op.bind(case.get("args", []), case.get("kwargs", {})), Options(), "case", name, 0)
    return Planner(host, dag.build([call]), memo), call


def plan_case(op: Operation, case: dict[str, Any], facts: list[list[Any]] | None = None) -> PlannedOp:
    """Plan one call of ``op`` as the case describes, against ``facts`` (default: the case's)."""
    planner, call = planner_for(op, case, facts)
    plan = planner.plan([call], set(), set())
    if plan.missing:
        wanted = ", ".join(sorted(json.dumps([k.name, k.args, None]) for k in plan.missing))
        raise CaseError(f"{op.name} read facts the case does not list: {wanted}")
    (planned,) = plan.ops
    return planned


def plan_predicted(op: Operation, case: dict[str, Any]) -> tuple[HostPlan, HostPlan]:
    """Plan the case's call, then again against the state its changes predict.

    The idempotency contract says the second plan changes nothing (or is deferred,
    when a change's effect is opaque).
    """
    planner, call = planner_for(op, case)
    return planner.plan([call], set(), set()), planner.plan([call], set(), set())


def changes_json(planned: PlannedOp) -> list[dict[str, Any]]:
    return [change.to_json(contents=True) for change in planned.changes]


def check_case(op: Operation, case: dict[str, Any], base_dir: Path | None = None) -> None:
    """Assert that ``case`` holds: its changes (or error), and an ``after`` state planning to nothing."""
    cwd = os.getcwd()
    if base_dir is not None:
        os.chdir(base_dir)  # local files (templates, put sources) are relative to the case
    try:
        _check_case(op, case)
    finally:
        os.chdir(cwd)


def _check_case(op: Operation, case: dict[str, Any]) -> None:
    try:
        planned = plan_case(op, case)
    except ParacrineError as exc:
        if "error" not in case:
            raise
        assert case["error"] in exc.format_line(), f"expected error {case['error']!r}, got {exc.format_line()!r}"
        return
    if "error" in case:
        assert planned.error is not None, f"expected error {case['error']!r}, got changes {changes_json(planned)}"
        assert case["error"] in planned.error.format_line(), planned.error.format_line()
        return
    if planned.error is not None:
        raise planned.error
    assert changes_json(planned) == case["changes"], json.dumps(changes_json(planned), indent=1)
    if "after" in case:
        after = _merge(case.get("facts", []), case["after"])
        again = plan_case(op, case, after)
        assert not again.changes, f"the after state still plans changes: {changes_json(again)}"


def _merge(facts: list[list[Any]], after: list[list[Any]]) -> list[list[Any]]:
    merged = {json.dumps(entry[:2], sort_keys=True): entry for entry in facts}
    merged.update({json.dumps(entry[:2], sort_keys=True): entry for entry in after})
    return list(merged.values())


@dataclass(frozen=True)
class CaseFile:
    """One case file of an operation."""

    op_name: str
    path: Path

    @property
    def id(self) -> str:
        return f"{self.op_name}/{self.path.stem}"

    def load(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        return data


def find_cases(root: Path) -> list[CaseFile]:
    """Case files below ``root``: ``<root>/<operation name>/<case>.json``."""
    return [CaseFile(d.name, p) for d in sorted(root.iterdir()) if d.is_dir() for p in sorted(d.glob("*.json"))]


# ---------------------------------------------------------------- things to deploy without a network


@contextlib.contextmanager
def serving(directory: Path, port: int = 0) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1:``port`` (0: any free port); yields the base URL."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def make_wheel(
    where: Path, module: str, version: str, *, dist: str | None = None, requires: Sequence[str] = ()
) -> Path:
    """A pure-Python wheel of one module ``module`` (holding ``__version__``), with its metadata and RECORD.

    ``dist`` is the distribution name (default ``module``); ``requires`` its ``Requires-Dist`` lines.
    The archive's dates are fixed, so the same arguments give the same bytes. Returns its path.
    """
    import base64
    import hashlib
    import zipfile

    info = f"{module}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {dist or module}\nVersion: {version}\n"
    files = {
        f"{module}/__init__.py": f'__version__ = "{version}"\n',
        f"{info}/METADATA": metadata + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: paracrine.testing\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(text.encode())}\n"
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    wheel = where / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, (2026, 1, 1, 0, 0, 0)), text)
    return wheel


# ---------------------------------------------------------------- the CLI


@dataclass(frozen=True)
class Invocation:
    """What a CLI run printed and returned."""

    exit_code: int
    stdout: str
    stderr: str


def invoke(args: list[str], *, input: str | None = None, env: dict[str, str] | None = None) -> Invocation:
    """Run ``paracrine ARGS`` in-process (the same error boundary as the console script); ``env`` is added."""
    from click.testing import CliRunner

    from paracrine.cli import run

    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        code = run(list(args), debug=False)
        return Invocation(code, out.getvalue().decode(), err.getvalue().decode())


# ---------------------------------------------------------------- pytest fixtures

TEST_LAB_PORT_OFFSET = 300


def _own_lab_env() -> dict[str, str]:
    """Environment of the test session's own lab beside the shared one (sharing its cache)."""
    from paracrine.lab import paths

    shared = paths.lab_dir()
    own = shared.with_name(shared.name + "-tests")
    own.mkdir(parents=True, exist_ok=True)
    (shared / "cache").mkdir(parents=True, exist_ok=True)
    if not (own / "cache").exists():
        (own / "cache").symlink_to(shared / "cache")
    return {"PARACRINE_LAB_DIR": str(own), "PARACRINE_LAB_PORT_BASE": str(paths.port_base() + TEST_LAB_PORT_OFFSET)}


try:
    import pytest
except ImportError:  # pytest is a dev dependency; the case helpers above work without it
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def test_lab() -> Iterator[Path]:
        """The test session's own lab (brought down at the end of the session)."""
        import paracrine.lab as lab

        lab.check_requirements()
        env = _own_lab_env()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield Path(env["PARACRINE_LAB_DIR"])
        finally:
            lab.down()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    @pytest.fixture
    def lab_hosts(test_lab: Path) -> Callable[..., list[Any]]:
        """``lab_hosts(n)``: h01..hNN of the test lab, freshly reset (real sshd, real SSH).

        ``lab_hosts(n, packages=["nginx-light"])`` also makes those Debian packages
        installable offline on the hosts (``apt-get install -y nginx-light``).
        """
        import paracrine.lab as lab

        def make(count: int, packages: Sequence[str] = ()) -> list[Any]:
            return lab.up(count, fresh=True, packages=packages)

        return make
