"""``paracrine deploy.py`` end to end on three lab hosts over SSH with sudo."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.factcache import FactCache
from paracrine.inventory import load_inventory
from paracrine.run import DeployRun
from paracrine.testing import invoke

pytestmark = pytest.mark.lab

SITE = """\
import os
from paracrine import host
from paracrine.operations import files, server

files.directory("/srv/t", mode=0o755)
files.directory("/srv/t/conf", mode=0o750, owner="svc", group="svc")
server.group("svc", gid=2500)
server.user("svc", uid=2500, group="svc", home="/home/svc", shell="/bin/bash")
conf = files.template("app.conf.j2", "/srv/t/conf/app.conf", mode=0o640, owner="svc", group="svc",
                      revision=os.environ.get("T_REV", "0"))
files.put("static.txt", "/srv/t/static.txt", mode="0600")
files.file("/srv/t/list.conf")
files.line("/srv/t/list.conf", "a = 1")
files.line("/srv/t/list.conf", "b = 2")
files.link("/srv/t/current", "/srv/t/conf")
server.shell("echo boot >> /srv/t/boot.log && touch /srv/t/.booted", creates="/srv/t/.booted")
server.shell("echo reload >> /srv/t/reloads.log", reload_on=[conf], title="reload app")
"""

TEMPLATE = "name = {{ host.name }}\nport = {{ port }}\nrevision = {{ revision }}\n"


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write(tmp_path / "app.conf.j2", TEMPLATE)
    write(tmp_path / "static.txt", "static content\n")
    write(tmp_path / "inventory.py", 'lab = ["@lab/3"]\ngroup_data = {"lab": {"port": 8080}}\n')
    return write(tmp_path / "site.py", SITE)


def run(site: Path, *args: str) -> Any:
    return invoke([str(site), "--state-dir", str(site.parent / "state"), *args])


def on(host: Any, path: str) -> Path:
    """A path inside a lab host's root filesystem, seen from the controller."""
    return Path(host.root) / path.lstrip("/")


def uid_of(host: Any, user: str) -> int:
    for line in on(host, "/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2])
    raise AssertionError(f"{host.name}: no user {user}")


def ctimes(host: Any, top: str) -> dict[str, int]:
    root = on(host, top)
    found = {str(p): p.lstat().st_ctime_ns for p in [root, *root.rglob("*")]}
    for path in ("/etc/passwd", "/etc/group"):
        found[path] = on(host, path).lstat().st_ctime_ns
    return found


def test_apply_then_nothing_changes(lab_hosts: Callable[[int], list[Any]], site: Path) -> None:
    hosts = lab_hosts(3)
    assert run(site, "--check").exit_code == 2
    applied = run(site, "-y")
    assert applied.exit_code == 0, applied.stderr
    for host in hosts:
        conf = on(host, "/srv/t/conf/app.conf")
        assert conf.read_text() == f"name = {host.name}\nport = 8080\nrevision = 0\n"
        assert conf.stat().st_mode & 0o7777 == 0o640 and conf.stat().st_uid == uid_of(host, "svc") == 2500
        assert on(host, "/srv/t/conf").stat().st_uid == 2500
        assert on(host, "/srv/t/static.txt").stat().st_mode & 0o777 == 0o600
        assert on(host, "/srv/t/list.conf").read_text() == "a = 1\nb = 2\n"
        assert os.readlink(on(host, "/srv/t/current")) == "/srv/t/conf"
        assert on(host, "/srv/t/boot.log").read_text() == "boot\n"
        assert on(host, "/srv/t/reloads.log").read_text() == "reload\n"
    before = {h.name: ctimes(h, "/srv/t") for h in hosts}
    again = run(site, "-y", "--json")
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    for name, data in report["hosts"].items():
        assert {op["status"] for op in data["operations"]} == {"ok"}, name
        assert all(op["result"] is None for op in data["operations"])
    assert report["round_trips"]["apply"] == 0
    assert {h.name: ctimes(h, "/srv/t") for h in hosts} == before
    assert run(site, "--check").exit_code == 0
    assert all(on(h, "/srv/t/boot.log").read_text() == "boot\n" for h in hosts)


def test_a_zero_change_run_is_one_fact_round_trip_per_host(lab_hosts: Callable[[int], list[Any]], site: Path) -> None:
    lab_hosts(3)
    assert run(site, "-y").exit_code == 0
    for state in ("state", "fresh-state"):  # with last run's fact list, and without any cache
        inventory = load_inventory(str(site.parent / "inventory.py"))
        with DeployRun([site], inventory, cache=FactCache(site.parent / state)) as deploy:
            deploy.connect()
            deploy.plan()
            assert not deploy.pending_changes()
            assert dict(deploy.session.round_trips) == {"h01": 1, "h02": 1, "h03": 1}
            assert deploy.round_trips("facts") == 1 and deploy.round_trips("apply") == 0


FAILING = """\
import os
from paracrine import host
from paracrine.operations import files, server

files.file("/srv/f/before.txt", content="before\\n")
gate = server.shell(f"exit {os.environ.get('FAIL_CODE', '3') if host.name == 'h02' else 0}", title="gate")
files.file("/srv/f/after.txt", content="after\\n" * 1000, requires=[gate])
files.file("/srv/f/independent.txt", content="independent\\n")
"""


def test_one_failing_host_leaves_the_others_applied(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = lab_hosts(3)
    site = write(tmp_path / "failing.py", FAILING)
    result = invoke([str(site), "-i", "@lab/3", "-y", "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: h02: gate [{site}:6]: exit code 3"]
    for host in hosts:
        names = sorted(p.name for p in on(host, "/srv/f").iterdir())
        expected = (
            ["after.txt", "before.txt", "independent.txt"] if host.name != "h02" else ["before.txt", "independent.txt"]
        )
        assert names == expected, host.name  # and no temporary file was left behind
    monkeypatch.setenv("FAIL_CODE", "0")
    again = invoke([str(site), "-i", "@lab/3", "-y", "--state-dir", str(tmp_path / "state")])
    assert again.exit_code == 0, again.stderr
    assert on(hosts[1], "/srv/f/after.txt").read_text() == "after\n" * 1000


HANDLERS = """\
import os
from paracrine.operations import files, server

notified = server.shell("echo notified >> /srv/h/notify.log", title="notified handler")
a = files.file("/srv/h/a", content=os.environ.get("A", "a") + "\\n", notify=[notified])
b = files.file("/srv/h/b", content=os.environ.get("B", "b") + "\\n", notify=[notified])
server.shell("echo fired >> /srv/h/fired.log", reload_on=[a, b], title="reload handler")
"""


def test_a_handler_runs_once_when_a_trigger_changed_and_not_otherwise(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (host,) = lab_hosts(1)
    site = write(tmp_path / "handlers.py", HANDLERS)
    args = [str(site), "-i", "@lab/1", "-y", "--state-dir", str(tmp_path / "state")]

    def logs() -> tuple[str, str]:
        return on(host, "/srv/h/fired.log").read_text(), on(host, "/srv/h/notify.log").read_text()

    assert invoke(args).exit_code == 0  # both triggers changed: each handler runs once
    assert logs() == ("fired\n", "notified\n")
    assert invoke(args).exit_code == 0  # nothing changed: no handler runs
    assert logs() == ("fired\n", "notified\n")
    monkeypatch.setenv("B", "b2")
    assert invoke(args).exit_code == 0  # one trigger changed
    assert logs() == ("fired\nfired\n", "notified\nnotified\n")


DURABLE = """\
import os
from paracrine.operations import files, server

conf = files.file("/srv/d/conf", content="v1\\n")
gate = server.shell("test -e /srv/d/ok", requires=[conf], title="gate")
server.shell("echo fired >> /srv/d/fired.log", reload_on=[conf], requires=[gate], title="handler")
"""


def test_a_trigger_survives_a_failed_run(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1)
    site = write(tmp_path / "durable.py", DURABLE)
    args = [str(site), "-i", "@lab/1", "-y", "--state-dir", str(tmp_path / "state")]
    first = invoke(args)
    assert first.exit_code == 1  # the gate failed after the trigger fired, so the handler was skipped
    assert not on(host, "/srv/d/fired.log").exists()
    assert len(list(on(host, "/var/lib/paracrine/pending").iterdir())) == 1
    on(host, "/srv/d/ok").write_text("")
    second = invoke(args)  # the trigger does not change again, but the pending handler runs
    assert second.exit_code == 0, second.stderr
    assert on(host, "/srv/d/fired.log").read_text() == "fired\n"
    assert list(on(host, "/var/lib/paracrine/pending").iterdir()) == []
    assert invoke(args).exit_code == 0
    assert on(host, "/srv/d/fired.log").read_text() == "fired\n"


SPLIT = """\
from paracrine.operations import files, server

server.shell("mkdir -p /srv/s && echo made > /srv/s/made", creates="/srv/s/made")
files.file("/srv/s/made", content="managed\\n")
"""


def test_an_unpredictable_command_splits_the_batch(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1)
    site = write(tmp_path / "split.py", SPLIT)
    inventory = load_inventory("@lab/1")
    with DeployRun([site], inventory, cache=FactCache(tmp_path / "state")) as deploy:
        deploy.connect()
        deploy.plan()
        assert [len(deploy.hosts["h01"].plan.changing), len(deploy.hosts["h01"].plan.deferred)] == [1, 1]
        deploy.apply()
        assert (deploy.round_trips("facts"), deploy.round_trips("apply")) == (2, 2)
    assert on(host, "/srv/s/made").read_text() == "managed\n"
    assert invoke([str(site), "-i", "@lab/1", "--check", "--state-dir", str(tmp_path / "state")]).exit_code == 0


def test_a_plan_error_on_one_host_names_host_operation_and_line(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    hosts = lab_hosts(3)
    on(hosts[1], "/srv/p").parent.mkdir(parents=True, exist_ok=True)
    on(hosts[1], "/srv/p").write_text("a file where a directory should be\n")
    site = write(tmp_path / "plan.py", 'from paracrine.operations import files\nfiles.directory("/srv/p")\n')
    result = invoke([str(site), "-i", "@lab/3", "-y", "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    expected = f"error: h02: files.directory('/srv/p') [{site}:2]: path exists and is a regular file"
    assert errors == [f"{expected}; pass force=True to replace it"]
    assert on(hosts[0], "/srv/p").is_dir() and on(hosts[2], "/srv/p").is_dir()


def test_a_cycle_is_one_error_naming_each_operation(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    lab_hosts(1)
    site = write(
        tmp_path / "cycle.py",
        'from paracrine.operations import files\nx = files.file("/srv/c/x")\nfiles.directory("/srv/c", requires=[x])\n',
    )
    result = invoke([str(site), "-i", "@lab/1", "--dry-run", "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 3
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "cycle" in line and f"files.file('/srv/c/x') [{site}:2]" in line
    assert f"files.directory('/srv/c') [{site}:3]" in line


def test_graph_and_diff(lab_hosts: Callable[[int], list[Any]], site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab_hosts(3)
    assert run(site, "-y").exit_code == 0
    monkeypatch.setenv("T_REV", "7")
    diff = run(site, "--dry-run", "--diff")
    assert diff.exit_code == 0
    assert "-revision = 0" in diff.stdout and "+revision = 7" in diff.stdout
    assert "~ files.template('/srv/t/conf/app.conf')" in diff.stdout
    assert "~ reload app" in diff.stdout and "(when triggered)" in diff.stdout
    graph = invoke(["graph", str(site), "--limit", "h01", "--state-dir", str(site.parent / "state")])
    assert graph.exit_code == 0, graph.stderr
    assert "~ #4 files.template('/srv/t/conf/app.conf')" in graph.stdout
    assert "after #1 (implicit), #2 (implicit), #3 (implicit)" in graph.stdout  # directory, group, owner
    assert "#8 files.line('/srv/t/list.conf', line='b = 2')" in graph.stdout  # two calls on one path: told apart
    assert "after #0 (implicit), #7 (implicit)" in graph.stdout
    dot = invoke(["graph", str(site), "--limit", "h01", "--dot", "--state-dir", str(site.parent / "state")])
    assert dot.stdout.startswith("digraph paracrine {") and '"h01:4" -> "h01:11"' in dot.stdout


IGNORED = """\
from paracrine.operations import files, server

flaky = server.shell("exit 5", title="flaky", ignore_errors=True)
files.file("/srv/i/after", content="ran\\n", requires=[flaky])
"""


def test_an_ignored_failure_does_not_stop_its_dependents(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1)
    site = write(tmp_path / "ignored.py", IGNORED)
    result = invoke([str(site), "-i", "@lab/1", "-y", "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 0, result.stderr
    assert f"error: h01: flaky [{site}:3]: exit code 5 (ignored)" in result.stderr.splitlines()
    assert on(host, "/srv/i/after").read_text() == "ran\n"
