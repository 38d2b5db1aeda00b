"""paracrine.deploy and paracrine.current: running a deploy file for one host, and what it can see and raise."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from planning import deploy_file, make_host

import paracrine
from paracrine.deploy import DeployFactMissing, load_calls
from paracrine.errors import DeployFileError, ParacrineError
from paracrine.factkey import FactKey
from paracrine.gather import make_key


def run(path: Path, lookup: Any = None, **data: Any) -> list[Any]:
    host = make_host("web1", **data)
    return load_calls([path], host, lookup or (lambda key: f"value of {key.name}"))


def test_a_deploy_file_sees_its_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "helper_beside_the_deploy.py").write_text("GREETING = 'hello'\n")
    path = deploy_file(
        tmp_path,
        """
        import sys
        from paracrine import host
        from paracrine.facts import server
        import helper_beside_the_deploy
        print(helper_beside_the_deploy.GREETING, host.name, host.data.port, host.groups, host.in_group("web"))
        print(repr(host), host.fact(server.hostname), host.fact("files.path_info", path="/etc"))
        """,
    )
    run(path, port=8080)
    assert capsys.readouterr().out.splitlines() == [
        "hello web1 8080 () False",
        "<host web1> value of server.hostname value of files.path_info",
    ]
    assert str(tmp_path) not in sys.path  # the deploy file's directory was on sys.path only while it ran
    assert repr(paracrine.host) == "<host (none: no deploy file is running)>"
    with pytest.raises(DeployFileError, match="`host` is only defined while a deploy file runs"):
        paracrine.host.name  # noqa: B018


def test_a_fact_not_gathered_yet_stops_the_file_for_a_second_run(tmp_path: Path) -> None:
    path = deploy_file(
        tmp_path, "from paracrine import host\ntry:\n    host.fact('server.hostname')\nexcept Exception:\n    pass\n"
    )
    key = make_key("server.hostname", {})

    def missing(wanted: FactKey) -> Any:
        raise DeployFactMissing([wanted])

    with pytest.raises(DeployFactMissing) as info:
        run(path, missing)  # `except Exception` in the deploy file cannot swallow it
    assert info.value.keys == [key] and str(info.value) == "server.hostname()"


@pytest.mark.parametrize(
    ("body", "message", "line"),
    [
        ("import sys\nsys.exit(2)\n", "deploy file called sys.exit(2)", 2),
        ("x = 1\nfrom paracrine import host\nhost.fact('no.such_fact')\n", "unknown fact 'no.such_fact'", 3),
        ("def f():\n    raise KeyError('k')\n\nf()\n", "deploy file raised KeyError: 'k'", 2),
        ("x = (\n", "syntax error: '(' was never closed", 1),
    ],
)
def test_errors_name_the_deploy_file_line(tmp_path: Path, body: str, message: str, line: int) -> None:
    path = deploy_file(tmp_path, body)
    with pytest.raises(ParacrineError) as info:
        run(path)
    assert message in info.value.message
    assert info.value.where == f"{path}:{line}"


def test_a_missing_deploy_file(tmp_path: Path) -> None:
    with pytest.raises(DeployFileError) as info:
        run(tmp_path / "missing.py")
    assert info.value.format_line() == f"[{tmp_path}/missing.py]: cannot read deploy file: No such file or directory"


def test_ctrl_c_in_a_deploy_file_is_not_an_error_of_the_file(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        run(deploy_file(tmp_path, "raise KeyboardInterrupt\n"))
