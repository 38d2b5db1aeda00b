"""The CLI boundary: version, help, exit codes, one-line errors, facts and deploy argument handling.

Most tests never connect anywhere. A few use ``@local``: a real Mitogen context on this
machine (no root, no SSH).
"""

from __future__ import annotations

import json
import os
import re
import stat
import textwrap
from pathlib import Path

import pytest

import paracrine
from paracrine import cli
from paracrine.commands import facts as facts_command
from paracrine.commands.args import convert
from paracrine.errors import ExitCode, SetupError
from paracrine.factspec import registered
from paracrine.gather import load_builtin_facts
from paracrine.testing import Invocation, invoke


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own directory (the fact cache defaults to ./.paracrine)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PARACRINE_STATE_DIR", raising=False)
    monkeypatch.delenv("PARACRINE_DEBUG", raising=False)


def one_line_error(result: Invocation, code: int = 3) -> str:
    """Assert a failed invocation printed exactly one line on stderr, no traceback; return that line."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stderr.endswith("\n")
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


# ====================================================================== version and help


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"paracrine {paracrine.__version__}\n"
    assert result.stderr == ""


def test_help_lists_commands_and_exit_codes() -> None:
    result = invoke(["--help"])
    assert result.exit_code == 0
    commands = re.search(r"^Commands:\n((?:  .*\n)+)", result.stdout, re.MULTILINE)
    assert commands is not None, result.stdout
    listed = {line.split()[0] for line in commands.group(1).splitlines()}
    assert listed == {"agent", "deploy", "disconnect", "facts", "graph", "lab", "ops", "op", "run", "watch"}
    assert "Exit codes:" in result.stdout
    documented = {
        int(m.group(1)) for m in re.finditer(r"^\s+(\d+)\s+\S", result.stdout.split("Exit codes:")[1], re.MULTILINE)
    }
    assert documented == {int(code) for code in ExitCode}


def test_short_help_shows_the_group_help() -> None:
    result = invoke(["-h"])
    assert result.exit_code == 0
    assert "Commands:" in result.stdout and "Exit codes:" in result.stdout


def test_deploy_help_documents_exit_codes() -> None:
    result = invoke(["deploy", "--help"])
    assert result.exit_code == 0
    assert "--dry-run" in result.stdout and "--check" in result.stdout
    assert "2 changes pending" in result.stdout and "3 bad input" in result.stdout


def test_facts_help() -> None:
    result = invoke(["facts", "--help"])
    assert result.exit_code == 0
    for option in ("--list", "--cached", "--json", "--state-dir", "--limit", "-i, --inventory"):
        assert option in result.stdout


# ====================================================================== the error boundary


@pytest.mark.parametrize("args", [["--bogus"], ["facts", "--bogus"], ["deploy", "x.py", "--bogus"]])
def test_unknown_option_is_bad_input_without_traceback(args: list[str]) -> None:
    result = invoke(args)
    assert result.exit_code == 3
    assert "Traceback" not in result.stderr
    assert "--bogus" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args", [["--bogus"], ["facts", "--bogus"], ["deploy"]])
def test_usage_errors_are_one_line(args: list[str]) -> None:
    one_line_error(invoke(args))


def test_missing_deploy_file() -> None:
    line = one_line_error(invoke(["nonexistent.py"]))
    assert line == "error: deploy file nonexistent.py not found; pass the path of a .py deploy file"


def test_deploy_is_the_default_command() -> None:
    assert invoke(["nonexistent.py"]).stderr == invoke(["deploy", "nonexistent.py"]).stderr
    assert invoke(["nonexistent.py", "--dry-run"]).stderr == invoke(["deploy", "nonexistent.py"]).stderr


def test_graph_missing_deploy_file() -> None:
    line = one_line_error(invoke(["graph", "nonexistent.py"]))
    assert "deploy file nonexistent.py not found" in line


def test_deploy_file_must_be_python(tmp_path: Path) -> None:
    write(tmp_path / "site.txt", "print(1)\n")
    line = one_line_error(invoke(["site.txt"]))
    assert "deploy file site.txt is not a .py file" in line


def test_main_exits_with_the_run_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["nonexistent.py"])
    assert info.value.code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["nonexistent.py", "--debug"])
    assert info.value.code == 3
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert (
        err.rstrip().splitlines()[-1]
        == "error: deploy file nonexistent.py not found; pass the path of a .py deploy file"
    )


def test_internal_error_is_one_line_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(name: str | None) -> int:
        raise RuntimeError("unexpected\nstate")

    monkeypatch.setattr(facts_command, "_list", boom)
    result = invoke(["facts", "--list"])
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("internal error: RuntimeError: unexpected")
    assert "--debug" in result.stderr


def test_setup_error_is_exit_4(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str | None) -> int:
        raise SetupError("debootstrap is not installed", hint="apt-get install debootstrap")

    monkeypatch.setattr(facts_command, "_list", missing)
    line = one_line_error(invoke(["facts", "--list"]), code=4)
    assert line == "error: debootstrap is not installed; apt-get install debootstrap"


def test_interrupt_is_exit_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(name: str | None) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(facts_command, "_list", interrupted)
    result = invoke(["facts", "--list"])
    assert result.exit_code == 130
    # click turns the KeyboardInterrupt into Abort, which the boundary reports as "aborted"
    assert result.stderr.strip() in ("interrupted", "aborted")
    assert "Traceback" not in result.stderr


def test_multiline_error_message_is_printed_as_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from paracrine.errors import DeployFileError

    def raising(name: str | None) -> int:
        raise DeployFileError("deploy file raised ValueError: a\nb", host="web1", where="d.py:2")

    monkeypatch.setattr(facts_command, "_list", raising)
    line = one_line_error(invoke(["facts", "--list"]))
    assert line == "error: web1 [d.py:2]: deploy file raised ValueError: a b"


# ====================================================================== facts --list


def test_facts_list_one_line_per_fact() -> None:
    result = invoke(["facts", "--list"])
    assert result.exit_code == 0, result.stderr
    load_builtin_facts()
    facts = registered()
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["fact", "description"]
    rows = {line.split()[0]: line.split(None, 1)[1] for line in lines[2:]}
    assert len(lines) - 2 == len(rows)  # one line each
    assert set(rows) >= {"files.path_info", "apt.packages", "server.hostname", "files.lines"}
    assert set(rows) == set(facts)  # every registered fact, once
    assert rows["files.path_info"].startswith("Describe ``path`` without following links")
    assert rows["apt.packages"].startswith("The installed Debian packages")
    assert all(description.strip() for description in rows.values())
    assert list(rows) == sorted(rows)


def test_facts_list_one_fact() -> None:
    result = invoke(["facts", "--list", "files.path_info"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "files.path_info(path: str) -> PathInfo | None"
    assert "Describe ``path`` without following links; None if nothing is there." in result.stdout
    assert "Args:" in result.stdout and "path: an absolute path." in result.stdout


def test_facts_list_one_fact_with_defaults() -> None:
    result = invoke(["facts", "--list", "files.lines"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("files.lines(path: str, max_bytes: int = 1048576)")


def test_facts_list_unknown_fact_did_you_mean() -> None:
    line = one_line_error(invoke(["facts", "--list", "files.path_inf"]))
    assert line.startswith("error: unknown fact 'files.path_inf'; did you mean 'files.path_info'")


# ====================================================================== facts argument errors (no connection)


def test_facts_unknown_fact() -> None:
    line = one_line_error(invoke(["facts", "@local", "no.such_fact"]))
    assert line == "error: unknown fact 'no.such_fact'; list facts with `paracrine facts --list`"


def test_facts_unknown_fact_did_you_mean() -> None:
    line = one_line_error(invoke(["facts", "@local", "files.path_inf"]))
    assert "unknown fact 'files.path_inf'" in line
    assert "did you mean 'files.path_info'" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["files.path_info", "nope=1"], "error: files.path_info has no parameter 'nope'; parameters: path"),
        (["files.path_info", "pth=/etc"], "error: files.path_info has no parameter 'pth'; did you mean 'path'?"),
        (["server.hostname", "x=1"], "error: server.hostname has no parameter 'x'; parameters: none"),
        (["files.lines", "path=/etc/hosts", "max_bytes=abc"], "error: files.lines: max_bytes='abc' is not a valid int"),
        (["files.lines", "path=/etc/hosts", "max_bytes=1.5"], "error: files.lines: max_bytes='1.5' is not a valid int"),
        (["files.path_info", "/etc/hosts"], "error: files.path_info: expected key=value, got '/etc/hosts'"),
        (
            ["files.path_info", "path=/a", "path=/b"],
            "error: files.path_info: path= is given twice; pass each parameter once",
        ),
        (
            ["server.command_status", "argv=[true"],
            "error: server.command_status: argv='[true' is not a valid list[str]",
        ),
        (["server.command_status", "argv=5"], "error: server.command_status: argv='5' is not a valid list[str]"),
        (
            ["server.command_status", 'argv={"a": 1}'],
            "error: server.command_status: argv='{\"a\": 1}' is not a valid list[str]",
        ),
        (["files.path_info"], "error: files.path_info: missing a required argument: 'path'"),
    ],
)
def test_facts_bad_arguments(monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str) -> None:
    _no_connections(monkeypatch)
    line = one_line_error(invoke(["facts", "@local", *args]))
    assert line == expected


def test_facts_without_target() -> None:
    line = one_line_error(invoke(["facts"]))
    assert line.startswith("error: name a TARGET")


def test_facts_parse_args_converts_by_annotation() -> None:
    from paracrine.gather import resolve_fact

    assert facts_command.parse_args(resolve_fact("files.lines"), ("path=/etc/hosts", "max_bytes=12")) == {
        "path": "/etc/hosts",
        "max_bytes": 12,
    }
    assert facts_command.parse_args(resolve_fact("server.command_status"), ('argv=["true", "x=y"]',)) == {
        "argv": ["true", "x=y"]
    }
    assert facts_command.parse_args(resolve_fact("files.path_info"), ("path=/a=b",)) == {"path": "/a=b"}


@pytest.mark.parametrize(
    ("annotation", "text", "value"),
    [
        ("int", "-3", -3),
        ("int | None", "7", 7),
        ("float", "1.5", 1.5),
        ("bool", "yes", True),
        ("bool", "False", False),
        ("bool", "0", False),
        ("list[str]", '["a"]', ["a"]),
        ("dict[str, int]", '{"a": 1}', {"a": 1}),
        ("str", "007", "007"),
        ("", "x", "x"),
    ],
)
def test_facts_convert(annotation: str, text: str, value: object) -> None:
    assert convert(annotation, text, "f", "k") == value


@pytest.mark.parametrize(
    ("annotation", "text"),
    [("int", "x"), ("float", "one"), ("bool", "maybe"), ("list[str]", "{}"), ("dict", "[]"), ("list", "nope")],
)
def test_facts_convert_errors(annotation: str, text: str) -> None:
    from paracrine.errors import ArgumentError

    with pytest.raises(ArgumentError) as info:
        convert(annotation, text, "f", "k")
    assert info.value.format_line() == f"f: k={text!r} is not a valid {annotation}"


# ====================================================================== inventory errors through the CLI


def _no_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to connect fail the test."""
    import paracrine.connect

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("this command must not connect")

    monkeypatch.setattr(paracrine.connect.Session, "__init__", refuse)


def test_facts_missing_inventory_file(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    line = one_line_error(invoke(["facts", "-i", "missing.yaml", "web1"]))
    assert line == "error: inventory file missing.yaml not found; check the -i argument"


def test_deploy_missing_inventory_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    write(tmp_path / "site.py", "pass\n")
    line = one_line_error(invoke(["site.py", "-i", "missing.yaml"]))
    assert "inventory file missing.yaml not found" in line


def test_duplicate_yaml_key_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    write(tmp_path / "inv.yaml", "hosts:\n  web1:\n  web1:\n")
    line = one_line_error(invoke(["facts", "-i", "inv.yaml", "web1"]))
    assert line == "error: [inv.yaml:3]: duplicate key 'web1'; each host and group may appear only once"


def test_default_inventory_error_through_deploy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    deploy = tmp_path / "project"
    deploy.mkdir()
    write(deploy / "site.py", "pass\n")
    write(deploy / "inventory.py", "web = ['web1']\ngroup_data = {'wbe': {}}\n")
    line = one_line_error(invoke([str(deploy / "site.py"), "--dry-run"]))
    assert f"[{deploy / 'inventory.py'}]" in line
    assert "group_data names unknown group 'wbe'; did you mean 'web'?" in line


def test_bad_connector_through_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    line = one_line_error(invoke(["facts", "@docker/web1"]))
    assert "unknown connector '@docker/web1'" in line and "@local" in line


def test_limit_matching_nothing_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    write(tmp_path / "site.py", "pass\n")
    line = one_line_error(invoke(["site.py", "-i", "web1,web2", "--limit", "wbe1", "--dry-run"]))
    assert line == "error: [-i]: --limit 'wbe1' matches no host or group; did you mean 'web1'?"


def test_empty_limit_through_the_cli_deploys_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    write(tmp_path / "site.py", "pass\n")
    line = one_line_error(invoke(["site.py", "-i", "web1,web2", "--limit", "", "--dry-run"]))
    assert "names no host or group" in line


def test_connector_target_with_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    write(tmp_path / "inv.yaml", "hosts:\n  web1:\n")
    line = one_line_error(invoke(["facts", "-i", "inv.yaml", "@local"]))
    assert "'@local' is an inventory itself" in line


def test_facts_cached_malformed_lab_target(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    line = one_line_error(invoke(["facts", "--cached", "@lab/x"]))
    assert "unknown connector '@lab/x'" in line


def test_facts_cached_lab_target_does_not_start_the_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    import paracrine.lab

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the lab must not start")

    monkeypatch.setattr(paracrine.lab, "up", refuse)
    result = invoke(["facts", "--cached", "@lab/2", "--state-dir", str(tmp_path / "state"), "--json"])
    assert result.exit_code == 1, result.stderr
    assert json.loads(result.stdout)["h02"]["hostname"] == {"error": "never cached"}
    assert result.stderr.splitlines() == [
        "error: nothing ever cached on h01; run without --cached",
        "error: nothing ever cached on h02; run without --cached",
    ]


def test_facts_cached_lab_count_out_of_range(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    line = one_line_error(invoke(["facts", "--cached", "@lab/0"]))
    assert "the lab holds 1 to 999 hosts" in line


# ====================================================================== @local: real Mitogen context


def test_facts_local_hostname() -> None:
    result = invoke(["facts", "@local", "server.hostname"])
    assert result.exit_code == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["host", "value"]
    assert rows[2].split() == ["@local", os.uname().nodename]
    assert "1/1 hosts" in result.stderr


def test_facts_local_json_then_cached(tmp_path: Path) -> None:
    target = tmp_path / "target.conf"
    target.write_text("x = 1\n")
    target.chmod(0o640)
    state = tmp_path / "state"

    live = invoke(["facts", "@local", "files.path_info", f"path={target}", "--json", "--state-dir", str(state)])
    assert live.exit_code == 0, live.stderr
    info = json.loads(live.stdout)["@local"]["files.path_info"]
    assert info["kind"] == "file"
    assert info["mode"] == 0o640
    assert info["size"] == 6
    assert info["uid"] == os.getuid()
    assert list((state / "facts").iterdir()), "the value was not cached"

    # Change the file: --cached must show the remembered value, not the current one.
    target.chmod(0o600)
    target.write_text("changed and longer\n")
    cached = invoke(
        ["facts", "@local", "files.path_info", f"path={target}", "--json", "--cached", "--state-dir", str(state)]
    )
    assert cached.exit_code == 0, cached.stderr
    again = json.loads(cached.stdout)["@local"]["files.path_info"]
    assert again == info
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert re.search(r"^@local: cached \d+ s ago$", cached.stderr, re.MULTILINE), cached.stderr
    assert "round trip" not in cached.stderr  # nothing was gathered

    # Another argument was never gathered: not cached.
    other = invoke(
        ["facts", "@local", "files.path_info", "path=/nonexistent", "--json", "--cached", "--state-dir", str(state)]
    )
    assert json.loads(other.stdout)["@local"]["files.path_info"] == {"error": "never cached"}
    assert other.exit_code == 1
    assert other.stderr == (
        "error: files.path_info(path='/nonexistent') never cached on @local; run without --cached\n"
    )


def test_facts_cached_does_not_connect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_connections(monkeypatch)
    result = invoke(["facts", "@local", "server.hostname", "--cached", "--state-dir", str(tmp_path / "empty")])
    assert result.exit_code == 1, result.stderr
    assert result.stderr == "error: server.hostname() never cached on @local; run without --cached\n"


def test_deploy_uses_the_inventory_beside_the_deploy_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write(
        project / "site.py",
        """
        from paracrine import host

        print(f"{host.name} greets {host.data.greeting} in {','.join(host.groups)}")
        """,
    )
    write(project / "inventory.yaml", "hosts:\n  '@local': {greeting: hello}\ngroups:\n  here: ['@local']\n")
    result = invoke([str(project / "site.py"), "--dry-run", "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 0, result.stderr
    assert "@local greets hello in here" in result.stdout


# Deploy files are given by absolute path: paracrine.deploy caches compiled files by path
# for the whole process (see test_edited_deploy_file_is_reloaded).


def test_deploy_host_data_typo(tmp_path: Path) -> None:
    site = write(tmp_path / "site.py", "from paracrine import host\n\nport = host.data.prot\n")
    write(tmp_path / "inventory.yaml", "hosts:\n  '@local': {port: 80}\n")
    result = invoke([str(site), "--dry-run", "--state-dir", "state"])
    line = one_line_error(result, code=result.exit_code)
    assert line == f"error: @local [{site}:3]: host data has no key 'prot'; did you mean 'port'?"


def test_deploy_file_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    site = write(tmp_path / "site.py", "from paracrine import host\n\nx = (\n")
    result = invoke([str(site), "-i", "@local", "--dry-run", "--state-dir", "state"])
    line = one_line_error(result, code=result.exit_code)
    assert line == f"error: @local [{site}:3]: syntax error: '(' was never closed"


def test_deploy_file_raising_names_the_deploy_file_line(tmp_path: Path) -> None:
    write(
        tmp_path / "site.py",
        """
        from paracrine import host

        def check(value):
            raise RuntimeError(f"bad value {value}")

        check(host.name)
        """,
    )
    result = invoke([str(tmp_path / "site.py"), "-i", "@local", "--dry-run", "--state-dir", "state"])
    line = one_line_error(result, code=result.exit_code)
    assert line == f"error: @local [{tmp_path / 'site.py'}:4]: deploy file raised RuntimeError: bad value @local"


@pytest.mark.parametrize("body", ["x = (\n", "raise RuntimeError('boom')\n"], ids=["syntax", "raises"])
def test_deploy_file_errors_are_bad_input(tmp_path: Path, body: str) -> None:
    site = write(tmp_path / "site.py", body)
    result = invoke([str(site), "-i", "@local", "--dry-run", "--state-dir", "state"])
    assert result.exit_code == 3, (result.stdout, result.stderr)


def test_edited_deploy_file_is_reloaded(tmp_path: Path) -> None:
    site = write(tmp_path / "site.py", "print('first version')\n")
    first = invoke([str(site), "-i", "@local", "--dry-run", "--state-dir", "state"])
    assert "first version" in first.stdout, first.stderr
    write(site, "print('second version')\n")
    second = invoke([str(site), "-i", "@local", "--dry-run", "--state-dir", "state"])
    assert "second version" in second.stdout, second.stderr


def test_ops_lists_and_documents_the_builtin_operations() -> None:
    listing = invoke(["ops"])
    assert listing.exit_code == 0
    names = [line.split()[0] for line in listing.stdout.splitlines()[2:]]
    assert {"files.template", "files.directory", "server.user", "apt.packages"} <= set(names)
    doc = invoke(["ops", "files.template"])
    assert doc.exit_code == 0
    assert doc.stdout.startswith("files.template(src: LocalPath, dest: AbsPath, *, mode: Mode | None = None")
    assert "Example:" in doc.stdout
    unknown = invoke(["ops", "files.templat"])
    assert unknown.exit_code == 3
    assert unknown.stderr.startswith("error: unknown operation 'files.templat'; did you mean 'files.template'")
