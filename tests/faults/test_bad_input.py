"""Bad input gets one line naming host, operation and file:line, and a documented exit code (issue 9, items 9-13).

These runs use ``@local`` (this machine, no SSH) with ``--dry-run`` or paths under
the test's temporary directory, so they need no lab.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from faultlab import write

from paracrine.testing import invoke


def dry_run(site: Path, *args: str, inventory: str = "@local") -> tuple[int, str, str]:
    result = invoke([str(site), "-i", inventory, "--state-dir", str(site.parent / "state"), "--dry-run", *args])
    return result.exit_code, result.stdout, result.stderr


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_sys_exit_in_a_deploy_file_is_bad_input(tmp_path: Path) -> None:
    site = write(tmp_path / "site.py", "import sys\nfrom paracrine.operations import files\nsys.exit(0)\n")
    code, _, stderr = dry_run(site)
    assert code == 3
    assert errors(stderr) == [
        f"error: @local [{site}:3]: deploy file called sys.exit(0); "
        "a deploy file cannot end the run; raise an exception to report a problem"
    ]


def test_a_damaged_fact_cache_is_ignored_with_one_warning_and_rebuilt(tmp_path: Path) -> None:
    site = write(tmp_path / "site.py", f"from paracrine.operations import files\nfiles.directory({str(tmp_path)!r})\n")
    cache = tmp_path / "state" / "facts" / "@local.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"version": 2, "host": "@local", "facts": {"k": {"fact": "files.path_info"}}}))
    code, _, stderr = dry_run(site)
    assert code == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "is damaged" in warnings[0] and "rebuilt" in warnings[0]
    assert json.loads(cache.read_text())["facts"]  # rewritten with real entries
    code, _, stderr = dry_run(site)
    assert code == 0 and "warning" not in stderr


def test_a_missing_template_is_bad_input(tmp_path: Path) -> None:
    site = write(tmp_path / "site.py", 'from paracrine.operations import files\nfiles.template("nope.j2", "/tmp/x")\n')
    code, _, stderr = dry_run(site)
    assert code == 3
    (line,) = errors(stderr)
    assert line.startswith(f"error: @local: files.template('/tmp/x') [{site}:2]: local file")
    assert "nope.j2' does not exist; relative paths are relative to the deploy file's directory" in line


def test_one_path_wanted_present_and_absent_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    site = write(
        tmp_path / "site.py",
        """\
        from paracrine.operations import files
        files.directory("/srv/x")
        files.file("/srv/x/../x/", present=False, force=True)
        """,
    )
    code, _, stderr = dry_run(site)
    assert code == 3
    (line,) = errors(stderr)
    assert f"path /srv/x is wanted present by files.directory('/srv/x') [{site}:2]" in line
    assert f"and absent by files.file('/srv/x') [{site}:3]" in line


def test_control_characters_in_paths_are_escaped_in_the_plan(tmp_path: Path) -> None:
    target = f"{tmp_path}/a\nb\x1b[31m"
    site = write(tmp_path / "site.py", f"from paracrine.operations import files\nfiles.file({target!r})\n")
    code, stdout, stderr = dry_run(site)
    assert code == 0, stderr
    assert "\x1b" not in stdout and "a\\nb\\x1b[31m" in stdout


def test_an_unreachable_host_is_counted_as_unreachable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: connections are refused
    site = write(tmp_path / "site.py", "from paracrine.operations import files\nfiles.directory('/srv/u')\n")
    inventory = write(tmp_path / "inventory.yaml", f"hosts:\n  gone: {{ssh_hostname: 127.0.0.1, ssh_port: {port}}}\n")
    result = invoke([str(site), "-i", str(inventory), "--state-dir", str(tmp_path / "state"), "-y", "--json"])
    assert result.exit_code == 1
    (row,) = json.loads(result.stdout)["summary"]
    assert (row["state"], row["changed"], row["unchanged"], row["failed"]) == ("unreachable", 0, 0, 0)
    assert errors(result.stderr) == [f"error: gone: unreachable: connection refused by 127.0.0.1:{port}"]


def test_an_operation_that_catches_every_exception_cannot_swallow_the_fact_request(tmp_path: Path) -> None:
    package = tmp_path / "greedy.py"
    package.write_text(
        """\
from paracrine.api import OpContext, Changes, RunCommand, operation
from paracrine.facts import files


@operation
def careless(ctx: OpContext, path: str) -> Changes:
    try:
        info = ctx.fact(files.path_info, path=path)
    except Exception:  # a third-party operation that swallows everything
        info = "swallowed"
    if info is None:
        yield RunCommand(("touch", path))
"""
    )
    site = write(tmp_path / "site.py", f"import greedy\ngreedy.careless({str(tmp_path / 'missing')!r})\n")
    code, stdout, stderr = dry_run(site)
    assert code == 0, stderr
    assert "run touch" in stdout  # the fact was fetched and the operation planned against it
