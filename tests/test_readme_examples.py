"""The README's operation-package example, exactly as written: it imports only ``paracrine.api``,
its fact sees earlier changes of the same run (``paths=``/``derive=``), and its ``claims=`` turn a
contradictory deploy into an error instead of changes that undo each other on every run.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paracrine import dag
from paracrine.current import running_for
from paracrine.deploy import DeployHost
from paracrine.errors import ConflictError
from paracrine.gather import HostFacts, make_key
from paracrine.handlers import pending_fact_key
from paracrine.hosts import Host, HostData
from paracrine.operation import OpCall
from paracrine.plan import HostPlan, Planner
from paracrine.testing import invoke

README = Path(__file__).parent.parent / "README.md"
LINK = "/etc/nginx/sites-enabled/app"


def readme_blocks() -> dict[str, str]:
    """The README's Python blocks that start with ``# <file name>``, by file name."""
    blocks = re.findall(r"```python\n# (\S+)[^\n]*\n(.*?)```", README.read_text(), re.S)
    return {name: code for name, code in blocks}


@pytest.fixture
def myapp(tmp_path: Path) -> Iterator[Any]:
    """The README's ``myapp`` package, written out and importable."""
    blocks = readme_blocks()
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("myapp/facts.py", "myapp/ops.py"):
        (tmp_path / name).write_text(blocks[name])
    (tmp_path / "deploy.py").write_text(blocks["deploy.py"])
    sys.path.insert(0, str(tmp_path))
    try:
        import myapp.ops

        yield myapp.ops
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m == "myapp" or m.startswith("myapp.")]:
            del sys.modules[module]


def test_the_example_uses_only_the_authoring_api() -> None:
    blocks = readme_blocks()
    imports = re.findall(r"^from (\S+) import", blocks["myapp/facts.py"] + blocks["myapp/ops.py"], re.M)
    assert set(imports) <= {"paracrine.api", "myapp"}, imports


def plan(calls: Callable[[], None], facts: dict[Any, Any]) -> HostPlan:
    """Plan the operation calls ``calls()`` makes, for one host holding ``facts``."""
    host = Host("web1", (), HostData("web1", {}), "test")
    memo = HostFacts("web1", {pending_fact_key(): {}, **facts})
    deploy_host = DeployHost(host, memo.get)
    with running_for(deploy_host):
        calls()
    recorded: list[OpCall] = deploy_host.calls
    graph = dag.build(recorded)
    return Planner(host, graph, memo).plan(dag.order(graph), set(), set())


def link_info() -> dict[str, Any]:
    return {"kind": "link", "mode": 0o777, "owner": "root", "group": "root", "uid": 0, "gid": 0, "size": 14,
            "mtime": 0.0, "target": "../sites-available/app"}  # fmt: skip


def test_the_site_operation_enables_a_disabled_site(myapp: Any) -> None:
    result = plan(lambda: myapp.site("app"), {make_key("myapp.facts.site_enabled", {"name": "app"}): False})
    assert [c.to_json() for p in result.ops for c in p.changes] == [
        {"kind": "link", "path": LINK, "target": "../sites-available/app"}
    ]


def test_the_fact_sees_an_earlier_removal_of_the_link_in_the_same_run(myapp: Any) -> None:
    from paracrine.operations import files

    facts = {
        make_key("files.path_info", {"path": LINK}): link_info(),
        make_key("myapp.facts.site_enabled", {"name": "app"}): True,  # gathered before the run
    }

    def calls() -> None:
        files.link(LINK, "../sites-available/app", present=False)
        myapp.site("app", enabled=False)

    result = plan(calls, facts)
    assert [p.status for p in result.ops] == ["change", "ok"]  # derived: the site is already disabled by then
    assert not result.deferred and not result.missing


def test_a_deploy_that_disables_and_enables_one_site_is_an_error_not_a_flip_flop(myapp: Any) -> None:
    from paracrine.operations import files

    def calls() -> None:
        files.link(LINK, "../sites-available/app", present=False)
        myapp.site("app")

    with pytest.raises(ConflictError) as info:
        plan(calls, {})
    assert f"path {LINK} is wanted present by myapp.ops.site('app')" in info.value.format_line()


@pytest.mark.lab
def test_the_example_deploys_on_a_lab_host_and_converges(
    myapp: Any, lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    (host,) = lab_hosts(1)
    root = Path(host.root)
    (root / "etc/nginx/sites-available").mkdir(parents=True)
    (root / "etc/nginx/sites-available/app").write_text("server {}\n")
    (root / "etc/nginx/sites-enabled").mkdir()
    deploy = str(tmp_path / "deploy.py")
    args = [deploy, "-i", "@lab/1", "--state-dir", str(tmp_path / "state")]
    first = invoke([*args, "-y"])
    assert first.exit_code == 0, first.stderr
    assert (root / "etc/nginx/sites-enabled/app").is_symlink()
    assert invoke([*args, "--check"]).exit_code == 0
