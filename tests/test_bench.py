"""Smoke tests of the benchmark harness's own logic (bench/): verification, measuring, reporting, plumbing.

No timings are asserted and no lab host is started: host root filesystems are built in tmp_path.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench import cli, labenv, report, server_assets, tools, venvs, verify, verify_server
from bench.config import WORKLOAD_DIR, Workload

ROOT = Path(__file__).resolve().parents[1]
from paracrine.lab.state import LabHost as Host  # noqa: E402

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="building a host tree with other owners needs root")


# ---------------------------------------------------------------- a converged host, built by hand


def build_standard(root: Path, name: str, port: int, rev: str) -> None:
    """Write what a correct apply of the standard workload leaves on a host."""
    spec = verify.load_spec()
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\nwkuser:x:2001:2001::/home/wkuser:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\nwkgroup:x:2001:\n")
    for d in spec["directories"]:
        path = root / d["path"].lstrip("/")
        path.mkdir(parents=True)
        path.chmod(0o755)
    for f in spec["files"]:
        write(root / f["dest"].lstrip("/"), (WORKLOAD_DIR / f["src"]).read_bytes(), 0o644)
    for t in spec["templates"]:
        data = verify.render_template(
            WORKLOAD_DIR / t["src"], lab_hostname=name, lab_port=port, index=t["index"], revision=rev
        )
        write(root / t["dest"].lstrip("/"), data, 0o644)
    lines = [verify.WORKLOAD_CONF_EXISTING, *spec["lines"]["lines"]]
    write(root / "etc/workload.conf", "".join(f"{line}\n" for line in lines).encode(), 0o644)
    for link in spec["links"]:
        (root / link["path"].lstrip("/")).symlink_to(link["target"])
    home = root / "home/wkuser"
    home.mkdir(parents=True)
    os.chown(home, 2001, 2001)
    status = "".join(f"Package: {p}\nStatus: install ok installed\n\n" for p in [*spec["packages"]["present"], "tree"])
    write(root / verify.DPKG_STATUS.lstrip("/"), status.encode(), 0o644)
    write(root / "srv/workload/bootstrap.log", f"bootstrapped {name}\n".encode(), 0o644)
    write(root / "srv/workload/.bootstrapped", b"", 0o644)


def write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    if os.geteuid() == 0:
        os.chown(path, 0, 0)


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    root = tmp_path / "h01"
    build_standard(root, "h01", 22601, "0")
    return root


def problems(root: Path, rev: str = "0") -> list[str]:
    return verify.verify_standard(verify.HostFS("h01", root, 22601), verify.load_spec(), rev)


@needs_root
def test_a_converged_host_verifies(host_root: Path) -> None:
    assert problems(host_root) == []


def test_an_empty_host_fails_every_resource(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/workload.conf").write_text(verify.WORKLOAD_CONF_EXISTING + "\n")  # as in the base image
    found = problems(tmp_path)
    assert len(found) == 75  # one problem per resource of the workload
    assert "h01: /srv/workload/d01: missing" in found


@needs_root
@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda r: (r / "srv/workload/d03/f03.txt").chmod(0o600),
            "/srv/workload/d03/f03.txt: mode 0600, expected 0644",
        ),
        (lambda r: os.chown(r / "srv/workload/d02", 2001, 0), "/srv/workload/d02: owner wkuser, expected root"),
        (lambda r: (r / "srv/workload/d01/f11.txt").write_text("x\n"), "/srv/workload/d01/f11.txt: content differs"),
        (lambda r: _append(r / "etc/workload.conf", "option_2 = value_2\n"), "'option_2 = value_2' present 2 times"),
        (lambda r: _append(r / "srv/workload/bootstrap.log", "bootstrapped h01\n"), "bootstrap.log: content differs"),
        (lambda r: (r / "srv/workload/link02").unlink(), "/srv/workload/link02: missing"),
        (lambda r: (r / "etc/group").write_text("root:x:0:\nwkgroup:x:2002:\n"), "no group wkgroup with gid 2001"),
        (lambda r: (r / "var/lib/dpkg/status").write_text(""), "not installed: coreutils, grep, sed, tree"),
    ],
)
def test_damage_is_reported(host_root: Path, damage: Any, expected: str) -> None:
    damage(host_root)
    found = problems(host_root)
    assert found and expected in found[0], found
    assert len(found) == 1 or "wkgroup" in expected  # a wrong gid also leaves wkuser's group unnamed


@needs_root
def test_templates_are_checked_against_the_revision(host_root: Path) -> None:
    assert problems(host_root, rev="7") == ["h01: /srv/workload/d01/c01.conf: content differs"]


def _append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


@needs_root
def test_fourop_verification(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/bash\npyinfra:x:1000:1000::/home/pyinfra:/bin/bash\n")
    (tmp_path / "etc/group").write_text("root:x:0:\npyinfra:x:1000:\n")
    (tmp_path / "home/pyinfra").mkdir(parents=True)
    os.chown(tmp_path / "home/pyinfra", 1000, 1000)
    for path, data, mode in [
        ("var/log/pyinfra.log", b"", 0o777),
        ("home/pyinfra/test_file.txt", verify.FOUROP_SOURCE.read_bytes(), 0o644),
    ]:
        write(tmp_path / path, data, mode)
        os.chown(tmp_path / path, 1000, 0)
    assert verify.verify_fourop(verify.HostFS("h01", tmp_path)) == []
    (tmp_path / "var/log/pyinfra.log").chmod(0o644)
    assert verify.verify_fourop(verify.HostFS("h01", tmp_path)) == [
        "h01: /var/log/pyinfra.log: mode 0644, expected 0777"
    ]


# ---------------------------------------------------------------- ctimes


def test_ctime_rules() -> None:
    before = {"/a": 1, "/b": 1, "/c": None}
    assert verify.ctime_problems("h", before, {"/a": 1, "/b": 1, "/c": None}) == []
    assert verify.ctime_problems("h", before, {"/a": 2, "/b": 1, "/c": None}) == [
        "h: /a: changed (ctime moved) but should not have"
    ]
    must, may = frozenset({"/a"}), frozenset({"/b"})
    assert verify.ctime_problems("h", before, {"/a": 2, "/b": 2, "/c": None}, must=must, may=may) == []
    assert verify.ctime_problems("h", before, {"/a": 1, "/b": 1, "/c": None}, must=must, may=may) == [
        "h: /a: not changed (ctime did not move) but should have"
    ]


def test_managed_paths_cover_the_changing_template() -> None:
    spec = verify.load_spec()
    paths = verify.managed_paths(spec)
    assert verify.changed_path(spec) == "/srv/workload/d01/c01.conf" in paths
    assert len(paths) == len(set(paths)) and "/etc/passwd" in paths and "/srv/workload/link05" in paths


# ---------------------------------------------------------------- the measuring wrapper


def wrap(tmp_path: Path, *argv: str, timeout: float = 30) -> dict[str, Any]:
    result, log = tmp_path / "r.json", tmp_path / "out.log"
    wrapper = ROOT / "bench" / "wrap.py"
    subprocess.run(
        [sys.executable, "-I", "-S", str(wrapper), str(result), str(log), str(timeout), "--", *argv], check=True
    )
    data: dict[str, Any] = json.loads(result.read_text())
    return data


def test_wrapper_reports_exit_code_and_output(tmp_path: Path) -> None:
    data = wrap(tmp_path, "sh", "-c", "echo hello; exit 3")
    assert data["exit_code"] == 3 and not data["timed_out"] and data["wall"] >= 0
    assert set(data) >= {"cpu_user", "cpu_sys", "maxrss_kb", "leftovers"}
    assert (tmp_path / "out.log").read_text() == "hello\n"


def test_wrapper_ends_what_the_tool_left_behind(tmp_path: Path) -> None:
    # The tool leaves `sleep 60` running and exits. It waits until its child has exec'd sleep
    # (/proc/PID/comm says so): exiting between fork and exec, the wrapper would find the child
    # still named `sh`. It prints the leftover's PID to check that the wrapper ended it.
    tool = 'sleep 60 & child=$!; until [ "$(cat /proc/$child/comm)" = sleep ]; do :; done; echo $child'
    started = time.monotonic()
    data = wrap(tmp_path, "sh", "-c", tool)
    assert data["exit_code"] == 0 and data["leftovers"] == ["sleep"]
    assert time.monotonic() - started < 30  # it did not wait for the sleep to end
    leftover = int((tmp_path / "out.log").read_text())
    assert not Path(f"/proc/{leftover}").exists()  # ended and reaped


def test_wrapper_kills_a_run_that_times_out(tmp_path: Path) -> None:
    data = wrap(tmp_path, "sleep", "60", timeout=0.2)
    assert data["timed_out"] and data["exit_code"] != 0


# ---------------------------------------------------------------- reporting


def run_record(tool: str, wall: float, ok: bool = True, scenario: str = "noop", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "run", "invocation": "i", "workload": "standard", "hosts": 1, "scenario": scenario, "tool": tool,
        "ok": ok, "failure": None if ok else "h01: /x: missing", "wall": wall, "cpu": wall / 2,
        "maxrss_kb": 51200, "target_cpu": 0.1, **extra,
    }  # fmt: skip


def test_report_medians_ratios_and_failures() -> None:
    start = {
        "kind": "start", "invocation": "i", "time": 0, "command": "python -m bench", "runs": 3,
        "tools": ["paracrine", "pyinfra", "ansible"], "target": "Debian 12",
        "machine": {"cpu_model": "cpu", "cores": 2, "ram_gib": 1, "kernel": "k", "os": "os", "openssh": "ssh",
                    "python": "3.11", "load": [0, 0, 0]},
        "versions": {"pyinfra": {"python": "3.11", "pyinfra": "3.10.0"}},
    }  # fmt: skip
    records = [
        start,
        *(run_record("paracrine", w) for w in (0.5, 0.6, 0.4)),
        *(run_record("pyinfra", w) for w in (6.0, 5.0, 7.0)),
        run_record("ansible", 20.0),
        run_record("ansible", 21.0, ok=False),
        {"kind": "end", "invocation": "i", "time": 1, "load": [1, 1, 1]},
    ]
    text = report.render(records)
    row = next(line for line in text.splitlines() if line.startswith("| standard | 1 | noop | 0.50"))
    assert "| 6.00 |" in row and "12.0×" in row
    assert "FAILED: h01: /x: missing" in row and row.endswith("| — |")
    assert "pyinfra 3.10.0" in text


def test_wall_table_without_peers_has_no_ratio_columns() -> None:
    header, separator, row = report.wall_table(report.cells([run_record("paracrine", 0.5)]), ["paracrine"])
    assert header == "| workload | hosts | scenario | paracrine |"
    assert separator.count("|") == header.count("|") == row.count("|")


def test_ratio_format() -> None:
    assert report.ratio(12.34, 1.0) == "12.3×"
    assert report.ratio(None, 1.0) == report.ratio(1.0, None) == "—"


def test_read_records_takes_the_last_invocation(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    lines = [
        {"kind": "start", "invocation": "a"},
        {"kind": "start", "invocation": "b"},
        {"kind": "run", "invocation": "b"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert [r["kind"] for r in report.read_records(path)] == ["start", "run"]
    assert len(report.read_records(path, "a")) == 1


# ---------------------------------------------------------------- plumbing


def test_cli_arguments() -> None:
    args = cli.parser().parse_args(["--tools", "pyinfra,paracrine", "--hosts", "5,1,5", "--runs", "1"])
    assert args.tools == ["pyinfra", "paracrine"] and args.hosts == [1, 5] and args.workload == "all"
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["--tools", "chef"])
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["--hosts", "0"])


def test_bench_lab_is_beside_the_shared_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARACRINE_LAB_DIR", str(tmp_path / "lab"))
    monkeypatch.setenv("PARACRINE_LAB_PORT_BASE", "23000")
    env = labenv.bench_lab_env()
    assert env == {"PARACRINE_LAB_DIR": str(tmp_path / "lab-bench"), "PARACRINE_LAB_PORT_BASE": "23600"}
    assert (tmp_path / "lab-bench" / "cache").resolve() == (tmp_path / "lab" / "cache").resolve()
    monkeypatch.setenv("PARACRINE_LAB_DIR", env["PARACRINE_LAB_DIR"])  # already the bench lab: unchanged
    monkeypatch.setenv("PARACRINE_LAB_PORT_BASE", env["PARACRINE_LAB_PORT_BASE"])
    assert labenv.bench_lab_env() == env


HOSTS = [Host(f"h0{i}", "127.0.0.1", 22600 + i, "lab", "root", True, "/k", "/kh", f"/r{i}") for i in (1, 2)]


@pytest.mark.parametrize("tool", ["paracrine", "pyinfra"])
def test_python_inventories(tool: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "WORK_DIR", tmp_path)
    cases: list[tuple[Workload, str]] = [("standard", "lab"), ("fourop", "root")]
    for workload, user in cases:
        path = tools.adapter(tool).write_inventory(workload, HOSTS)
        tree = ast.parse(path.read_text())
        hosts = ast.literal_eval(tree.body[0].value)  # type: ignore[attr-defined]
        assert [h[0] for h in hosts] == ["h01", "h02"]
        assert hosts[1][1]["ssh_port"] == 22602 and hosts[0][1]["ssh_user"] == user


def test_ansible_runs_get_their_own_control_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "WORK_DIR", tmp_path)
    monkeypatch.setattr(tools.Ansible, "config", lambda self: tmp_path / "ansible.cfg")
    inventory = tools.adapter("ansible").write_inventory("standard", HOSTS)
    assert json.loads(inventory.read_text().split("\n", 1)[1])["lab"]["hosts"]["h02"]["ansible_port"] == 22602
    plain = tools.adapter("ansible").command("standard", inventory, tmp_path, "4")
    mitogen = tools.adapter("ansible-mitogen").command("standard", inventory, tmp_path, "4")
    try:
        assert plain.env["LAB_REV"] == "4" and "ANSIBLE_STRATEGY" not in plain.env
        assert mitogen.env["ANSIBLE_STRATEGY"] == "mitogen_linear"
        assert plain.env["ANSIBLE_SSH_CONTROL_PATH_DIR"] != mitogen.env["ANSIBLE_SSH_CONTROL_PATH_DIR"]
        assert plain.cleanup == (Path(plain.env["ANSIBLE_SSH_CONTROL_PATH_DIR"]),)
    finally:
        for command in (plain, mitogen):
            for path in command.cleanup:
                path.rmdir()


def test_compile_tree_writes_the_bytecode_of_the_three_packages(tmp_path: Path) -> None:
    for name in ("paracrine", "operations", "facts"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "mod.py").write_text("X = 1\n")
    venvs.compile_tree(tmp_path)
    for name in ("paracrine", "operations", "facts"):
        assert [p.name for p in (tmp_path / name / "__pycache__").iterdir()] == [
            f"mod.cpython-{sys.version_info[0]}{sys.version_info[1]}.pyc"
        ]


# ---------------------------------------------------------------- the demo workload

DEMO_BASE = 32700


def build_demo(root: Path, name: str, greeting: str, wheelhouse: Path) -> None:
    """Write what a correct apply of the demo leaves on a host (owners need root)."""
    ports = verify.DemoPorts.of(name, DEMO_BASE)
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\ndemo:x:999:999::/srv/demo-app:/usr/sbin/nologin\n"
    )
    (root / "etc/group").write_text("root:x:0:\ncrontab:x:101:\ndemo:x:999:\n")
    status = "".join(f"Package: {p}\nStatus: install ok installed\n\n" for p in verify.demo_packages())
    write(root / verify.DPKG_STATUS.lstrip("/"), status.encode(), 0o644)
    write(root / verify.DEMO_SYSCTL_FILE.lstrip("/"), f"{verify.DEMO_SYSCTL_LINE}\n".encode(), 0o644)
    write(
        root / verify.DEMO_PG_CONF.lstrip("/"), f"#listen_addresses = 'localhost'\nport = {ports.db}\n".encode(), 0o644
    )
    for path, mode, uid, gid in [
        (verify.DEMO_APP_DIR, 0o755, 999, 999),
        (verify.DEMO_LOG_DIR, 0o770, 0, 999),
        (verify.DEMO_ETC, 0o750, 0, 999),
        (verify.DEMO_WHEELS, 0o755, 0, 0),
        (verify.DEMO_VENV, 0o755, 999, 999),
        (f"{verify.DEMO_VENV}/lib/python3.11/site-packages/paracrine_demo_app-1.0.0.dist-info", 0o755, 999, 999),
        (verify.DEMO_SITES_ENABLED, 0o755, 0, 0),
    ]:
        (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).chmod(mode)
        os.chown(root / path.lstrip("/"), uid, gid)
    for wheel in wheelhouse.iterdir():
        write(root / verify.DEMO_WHEELS.lstrip("/") / wheel.name, wheel.read_bytes(), 0o644)
    write(root / verify.DEMO_VENV.lstrip("/") / "bin/paracrine-demo-app", b"#!/bin/sh\n", 0o755)
    os.chown(root / verify.DEMO_VENV.lstrip("/") / "bin/paracrine-demo-app", 999, 999)
    templates = verify.DEMO_TEMPLATES
    variables = {**verify.DEMO_DATA, "db_password": verify.demo_password(), "greeting": greeting}
    config = verify.render_template(templates / "app.conf.j2", **variables, app_port=ports.app, db_port=ports.db)
    write(root / verify.DEMO_CONFIG.lstrip("/"), config, 0o640)
    os.chown(root / verify.DEMO_CONFIG.lstrip("/"), 0, 999)
    unit = verify.render_template(templates / "demo-app.service.j2", venv=verify.DEMO_VENV)
    write(root / verify.DEMO_UNIT.lstrip("/"), unit, 0o644)
    (root / verify.DEMO_UNIT_LINK.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (root / verify.DEMO_UNIT_LINK.lstrip("/")).symlink_to(verify.DEMO_UNIT)
    write(
        root / verify.DEMO_CRONTAB.lstrip("/"), f"# pyinfra-name=demo-cleanup\n{verify.DEMO_CRON_JOB}\n".encode(), 0o600
    )
    os.chown(root / verify.DEMO_CRONTAB.lstrip("/"), 999, 101)
    site = verify.render_template(
        templates / "nginx-site.conf.j2", host=type("H", (), {"name": name}), web_port=ports.web, app_port=ports.app
    )
    write(root / verify.DEMO_SITE.lstrip("/"), site, 0o644)
    (root / verify.DEMO_SITE_LINK.lstrip("/")).symlink_to("../sites-available/demo")


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    path = tmp_path / "wheelhouse"
    path.mkdir()
    for name in ("paracrine_demo_app-1.0.0-py3-none-any.whl", "pg8000-1.31.6-py3-none-any.whl"):
        (path / name).write_bytes(name.encode())
    return path


def demo_problems(root: Path, wheelhouse: Path, greeting: str = "Hi") -> list[str]:
    return verify.verify_demo(verify.HostFS("h02", root), DEMO_BASE, greeting, wheelhouse)


@needs_root
def test_a_converged_demo_host_verifies(tmp_path: Path, wheelhouse: Path) -> None:
    build_demo(tmp_path / "h02", "h02", "Hi", wheelhouse)
    assert demo_problems(tmp_path / "h02", wheelhouse) == []


@needs_root
@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda r: None, "/etc/demo-app/app.conf: content differs"),  # checked for another greeting
        (lambda r: (r / "srv/demo-app/wheels/pg8000-1.31.6-py3-none-any.whl").unlink(), "/srv/demo-app/wheels: holds"),
        (lambda r: (r / "etc/nginx/sites-enabled/default").symlink_to("x"), "default: present, expected removed"),
        (lambda r: _append(r / verify.DEMO_PG_CONF.lstrip("/"), "port = 5432\n"), "port lines ['port = 32902', "),
        (lambda r: os.chown(r / "etc/demo-app", 0, 0), "/etc/demo-app: group root, expected demo"),
        (lambda r: (r / verify.DEMO_CRONTAB.lstrip("/")).write_text(""), "present 0 times, expected once"),
    ],
)
def test_demo_damage_is_reported(tmp_path: Path, wheelhouse: Path, damage: Any, expected: str) -> None:
    root = tmp_path / "h02"
    build_demo(root, "h02", "Hi", wheelhouse)
    damage(root)
    found = demo_problems(root, wheelhouse, greeting="Hello" if "app.conf" in expected else "Hi")
    assert expected in found[0] and len(found) == (2 if "holds" in expected else 1), found  # + the wheel: missing


def test_an_empty_host_fails_the_demo(tmp_path: Path, wheelhouse: Path) -> None:
    found = demo_problems(tmp_path, wheelhouse)
    assert "h02: /var/lib/dpkg/status: not installed: nginx-light, postgresql, python3-venv" in found
    assert "h02: /etc/demo-app/app.conf: missing" in found


def test_demo_managed_paths(wheelhouse: Path) -> None:
    paths = verify.demo_managed_paths(wheelhouse)
    assert len(paths) == len(set(paths))
    assert {verify.DEMO_CONFIG, verify.DEMO_ETC, verify.DEMO_PG_PID, "/etc/passwd"} <= set(paths)
    assert "/srv/demo-app/wheels/pg8000-1.31.6-py3-none-any.whl" in paths


def test_demo_settings_agree_with_the_demo_inventory() -> None:
    import runpy

    data = runpy.run_path(str(tools.DEMO_INVENTORY))["group_data"]["lab"]
    assert {k: data[k] for k in verify.DEMO_DATA} == verify.DEMO_DATA
    assert data["db_password"].value == verify.demo_password() == verify.DEMO_DEFAULT_PASSWORD
    assert verify.DemoPorts.of("h03", data["port_base"]) == verify.DemoPorts(18003, 18103, 18203)
    assert verify.demo_packages() == ["postgresql", "nginx-light", "python3-venv"]


def test_demo_inventories_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import runpy

    monkeypatch.setattr(tools, "WORK_DIR", tmp_path)
    monkeypatch.setenv("DEMO_PORT_BASE", "32700")
    for tool in ("paracrine", "pyinfra"):
        adapter = tools.adapter(tool)
        inventory = adapter.write_inventory("demo", HOSTS)
        command = adapter.command("demo", inventory, tmp_path, "3")
        assert command.env["DEMO_GREETING"] == verify.demo_greeting("3") and command.env["DEMO_PORT_BASE"] == "32700"
        assert command.argv[-1 if tool == "pyinfra" else 2].endswith(("demo/deploy.py", "pyinfra/demo_deploy.py"))
        loaded = runpy.run_path(str(inventory))
        assert [h[0] for h in loaded["lab"]] == ["h01", "h02"] and loaded["lab"][0][1]["ssh_user"] == "lab"
        assert ("group_data" in loaded) == (tool == "paracrine")  # pyinfra's deploy reads the environment itself
    assert not tools.adapter("ansible").supports("demo") and tools.adapter("pyinfra").supports("demo")


def test_server_workload_settings_environment_and_deploys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every tool has a deploy of the server workload, gets the loopback server's URL and the port base,
    and writes the unit files the verification expects, byte for byte."""
    import runpy

    monkeypatch.setattr(tools, "WORK_DIR", tmp_path)
    monkeypatch.setenv("DEMO_PORT_BASE", "32700")
    for tool in ("paracrine", "pyinfra", "ansible", "ansible-mitogen"):
        adapter = tools.adapter(tool)
        assert adapter.supports("server")
        command = adapter.command("server", adapter.write_inventory("server", HOSTS), tmp_path, "0")
        assert command.env["SERVER_URL"] == "http://127.0.0.1:33100" and command.env["SERVER_PORT_BASE"] == "32700"
    assert verify_server.pg_port("h03", 32700) == 32903
    for deploy in (ROOT / "bench/paracrine/server.py", ROOT / "bench/peers/pyinfra/server_deploy.py"):
        constants = {
            node.targets[0].id: ast.literal_eval(node.value)
            for node in ast.parse(deploy.read_text()).body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id
            in ("WORKER_UNIT", "TIMER", "TIMER_SERVICE")
        }  # fmt: skip
        assert constants["WORKER_UNIT"] == verify_server.WORKER_TEXT, deploy
    playbook = (ROOT / "bench/peers/ansible/server.yml").read_text()
    assert "ExecStart=/bin/sh -c 'echo started >> /var/log/server-bench-worker.log; exec sleep infinity'" in playbook
    assert runpy.run_path(str(ROOT / "bench/verify_server.py"))["PACKAGES"] == ["postgresql", "python3-venv", "locales"]


def test_server_verification_names_what_is_missing(tmp_path: Path) -> None:
    """On an empty host tree every part of the server workload is reported, and the managed paths
    cover the files a zero-change run must not touch."""
    server_assets.build()  # what the hosts' files are compared with (bench/.work/server, built on first use)
    (tmp_path / "etc").mkdir()
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text("Package: nano\nStatus: install ok installed\nVersion: 7.2-1\n")
    problems = "\n".join(verify_server.verify_server(verify.HostFS("h01", tmp_path), host_pid=None))
    for expected in ("not installed: locales, postgresql", "nano installed, expected purged", "/etc/hostname",
                     verify_server.KEYRING, "expected one source file", "/etc/localtime", "/etc/fstab",
                     verify_server.AUTHORIZED_KEYS, verify_server.SUDOERS, verify_server.CRONTAB,
                     verify_server.SITE, verify_server.TOOL, "UMASK lines [], expected", verify_server.CHECKOUT,
                     verify_server.VENV, verify_server.WORKER, "the worker never started"):  # fmt: skip
        assert expected in problems, expected
    paths = verify_server.managed_paths()
    assert {verify_server.PG_PID, verify_server.WORKER_LOG, "/etc/hosts", verify.DPKG_STATUS} <= set(paths)
    assert f"{verify_server.SITE}/css/site.css" in paths and len(paths) == len(set(paths))


def test_demo_page_check_waits_for_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """demo/showcase.py's check through a stand-in app: 502 first (not listening yet), then pages."""
    import http.server
    import threading

    visits = []

    class App(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            visits.append(len(visits) + 1)
            if len(visits) == 1:
                self.send_error(502)
                return
            rows = "".join(f"<li>#{v} at 2026-12-01 00:00:00: /</li>" for v in visits[1:])
            page = f"<h1>Hi</h1><p>host h01, app 1.0.0</p><p>visit #{visits[-1]} stored in PostgreSQL</p>{rows}"
            self.send_response(200)
            self.end_headers()
            self.wfile.write(page.encode())

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = server.server_address[1] - 1  # h01's page is on base + 1
    try:
        monkeypatch.setattr(verify.time, "sleep", lambda s: None)
        assert verify.demo_page_problems("h01", base, "Hi", wait=5) == []
        problems = verify.demo_page_problems("h01", base, "Hello", wait=0)
        assert len(problems) == 1 and "not so (greeting 'Hello' expected)" in problems[0]
    finally:
        server.shutdown()


def test_report_sections_keep_each_other(tmp_path: Path) -> None:
    start = {
        "kind": "start", "invocation": "i", "time": 0, "command": "python -m bench", "runs": 3,
        "tools": ["paracrine", "pyinfra"], "target": "Debian 12", "workloads": ["standard"],
        "machine": {"cpu_model": "cpu", "cores": 2, "ram_gib": 1, "kernel": "k", "os": "os", "openssh": "ssh",
                    "python": "3.11", "load": [0, 0, 0]},
        "versions": {"pyinfra": {"python": "3.11", "pyinfra": "3.10.0"}},
    }  # fmt: skip
    standard = [start, run_record("paracrine", 0.5, load1=1.5), run_record("pyinfra", 5.0, load1=2.5)]
    demo = [
        {**start, "workloads": ["demo"]},
        *(
            run_record(t, w, workload="demo", hosts=3, scenario="first")
            for t, w in (("paracrine", 50), ("pyinfra", 75))
        ),
    ]
    results = tmp_path / "RESULTS.md"
    (tmp_path / "NOTES.md").write_text("## Notes\n\nby hand\n")
    report.write(results, standard)
    report.write(results, demo)
    text = results.read_text()
    assert "| standard | 1 | noop | 0.50 | 5.00 | 10.0× |" in text
    assert "| demo | 3 | first | 50.00 | 75.00 | 1.5× |" in text
    assert text.index("# Benchmark results") < text.index(report.DEMO_MARKER) < text.index("## Notes")
    assert text.endswith("## Notes\n\nby hand\n") and text.count("## Notes") == 1
    assert "at the start of the 2 runs: 1.50 to 2.50 (median 2.00)" in text
    report.write(results, [{**standard[0], "invocation": "j"}, run_record("paracrine", 0.4)])  # a rerun: demo stays
    again = results.read_text()
    assert "| demo | 3 | first | 50.00 | 75.00 | 1.5× |" in again and "invocation `j`" in again
    assert "| standard | 1 | noop | 0.40 | — | — |" in again and again.endswith("## Notes\n\nby hand\n")
    server = [{**start, "invocation": "k", "workloads": ["server"]}, run_record("pyinfra", 20.0, workload="server")]
    report.write(results, [*server, run_record("paracrine", 1.0, workload="server")])
    third = results.read_text()
    assert "| server | 1 | noop | 1.00 | 20.00 | 20.0× |" in third and "invocation `j`" in third
    assert third.index(report.DEMO_MARKER) < third.index(report.SERVER_MARKER) < third.index("## Notes")
    assert "| demo | 3 | first | 50.00 | 75.00 | 1.5× |" in third and third.count(report.SERVER_MARKER) == 1
    jsonl = tmp_path / "results.jsonl"
    again_server = [{**server[0], "invocation": "m", "tools": ["ansible-mitogen"], "runs": 3},
                    {**run_record("ansible-mitogen", 8.0, workload="server"), "invocation": "m"}]  # fmt: skip
    runs = [
        {**run_record(t, w, workload="server"), "invocation": "k"} for t, w in (("paracrine", 1.0), ("pyinfra", 20.0))
    ]
    lines = [server[0], *runs, *again_server]
    failed = {**run_record("ansible-mitogen", 1.0, ok=False, workload="server"), "invocation": "k"}
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in [*lines[:3], failed, *lines[3:]]))  # "m" reruns it
    report.write(results, report.read_records(jsonl, "k,m"))
    merged = results.read_text()
    assert "| server | 1 | noop | 1.00 | 20.00 | 8.00 | 20.0× | 8.0× |" in merged and "invocation `k, m`" in merged


def test_cli_takes_the_demo_workload() -> None:
    args = cli.parser().parse_args(["--workload", "demo", "--tools", "paracrine,pyinfra", "--runs", "3"])
    assert args.workload == "demo" and args.hosts is None


def test_only_ssh_sessions_hold_up_the_targets_cpu_reading(tmp_path: Path) -> None:
    """Daemons adopted by a host's sshd (the demo's services) are not sessions still closing down."""
    import shutil

    sshd = tmp_path / "sshd"
    shutil.copy("/bin/sleep", sshd)
    daemon = subprocess.Popen(["sleep", "30"])
    try:
        assert not labenv.has_children([os.getpid()])
        session = subprocess.Popen([str(sshd), "30"])
        try:
            assert labenv.has_children([os.getpid()])
        finally:
            session.kill()
            session.wait()
    finally:
        daemon.kill()
        daemon.wait()


def test_the_targets_cpu_counts_sessions_still_open(tmp_path: Path) -> None:
    """A `paracrine agent` keeps its SSH sessions between runs: their CPU counts though never reaped."""
    import shutil

    sshd = tmp_path / "sshd"  # a "session": its name is what marks it
    shutil.copy(sys.executable, sshd)
    marker = tmp_path / "burnt"
    burn = "import time, pathlib\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    burn += f"pathlib.Path({str(marker)!r}).touch()\ntime.sleep(30)\n"
    session = subprocess.Popen([str(sshd), "-c", burn])
    try:
        while not marker.exists():
            assert session.poll() is None
            time.sleep(0.01)
        own = labenv.process_cpu(os.getpid())
        total = labenv.targets_cpu({"h01": os.getpid()})
        assert own is not None and total is not None
        assert total - own >= 0.25  # the session's 0.3 s of CPU (this process's own grows by less meanwhile)
    finally:
        session.kill()
        session.wait()
