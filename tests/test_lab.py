"""The lab: real sshd hosts in their own Debian roots, reached over real SSH.

Tests marked ``lab`` need root, debootstrap and friends; without them they fail
(with the one-line SetupError saying what to install) rather than skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from paracrine import lab
from paracrine.errors import ExitCode, SetupError
from paracrine.lab import mounts, paths
from paracrine.lab.cli import lab as lab_cli

ROOT = Path(__file__).resolve().parents[1]
SELFTEST_PORT_OFFSET = 500


# ---------------------------------------------------------------- unit tests (no root needed)


def test_check_requirements_names_missing_tools_and_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    missing = {"debootstrap", "dpkg-scanpackages"}
    monkeypatch.setattr("shutil.which", lambda tool: None if tool in missing else f"/usr/bin/{tool}")
    with pytest.raises(SetupError) as info:
        lab.check_requirements()
    assert info.value.exit_code == ExitCode.ENVIRONMENT
    assert info.value.format_line() == (
        "the lab needs debootstrap, dpkg-scanpackages, which are not installed; apt-get install debootstrap dpkg-dev"
    )


def test_check_requirements_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SetupError, match="needs root"):
        lab.check_requirements()


def test_host_names_and_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARACRINE_LAB_PORT_BASE", "30000")
    assert [paths.host_name(i) for i in (1, 9, 10, 100)] == ["h01", "h09", "h10", "h100"]
    assert paths.host_index("h100") == 100
    assert paths.host_port("h07") == 30007
    for bad in ("h1", "h000", "web1", "h0100"):
        with pytest.raises(SetupError):
            paths.host_index(bad)


def test_lab_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PARACRINE_LAB_DIR", str(tmp_path))
    assert lab.lab_dir() == tmp_path
    monkeypatch.delenv("PARACRINE_LAB_DIR")
    assert lab.lab_dir() == Path("/srv/paracrine-lab")


def test_mirror_from_apt_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PARACRINE_LAB_MIRROR", raising=False)
    (tmp_path / "a.sources").write_text("Types: deb\nURIs: http://one.invalid/debian\nSuites: bookworm\n")
    (tmp_path / "sources.list").write_text("# c\ndeb [arch=amd64] http://two.invalid/debian bookworm main\n")
    glob_, list_ = str(tmp_path / "*.sources"), str(tmp_path / "sources.list")
    assert paths.debian_mirror(glob_, list_) == "http://one.invalid/debian"
    assert paths.debian_mirror(str(tmp_path / "none*"), list_) == "http://two.invalid/debian"
    monkeypatch.setenv("PARACRINE_LAB_MIRROR", "http://three.invalid/debian")
    assert paths.debian_mirror(glob_, list_) == "http://three.invalid/debian"
    monkeypatch.delenv("PARACRINE_LAB_MIRROR")
    with pytest.raises(SetupError, match="PARACRINE_LAB_MIRROR"):
        paths.debian_mirror(str(tmp_path / "none*"), str(tmp_path / "missing"))


def test_mount_points_are_unescaped() -> None:
    assert mounts._unescape(r"/srv/my\040lab/root") == "/srv/my lab/root"
    assert mounts._unescape("/plain") == "/plain"


# ---------------------------------------------------------------- on real lab hosts


@pytest.fixture(scope="module")
def own_lab() -> Iterator[Path]:
    """A lab of its own beside the shared one, so that stop/fresh/down never disturb other users.

    It shares the shared lab's cache (raw root filesystem, apt repository, client key)
    through a symlink, so only its base layer is built (a few seconds, once) and kept.
    """
    lab.check_requirements()
    shared_dir, shared_ports = lab.lab_dir(), paths.port_base()
    own_dir = shared_dir.with_name(shared_dir.name + "-selftest")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PARACRINE_LAB_DIR", str(own_dir))
        mp.setenv("PARACRINE_LAB_PORT_BASE", str(shared_ports + SELFTEST_PORT_OFFSET))
        own_dir.mkdir(parents=True, exist_ok=True)
        (shared_dir / "cache").mkdir(parents=True, exist_ok=True)
        if not (own_dir / "cache").exists():
            (own_dir / "cache").symlink_to(shared_dir / "cache")
        try:
            yield own_dir
        finally:
            lab.down()


@pytest.fixture
def hosts(own_lab: Path) -> list[lab.LabHost]:
    """h01..h03 of the test's own lab, running."""
    return lab.up(3)


def ssh(host: lab.LabHost, *command: str, root: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a command on a lab host through the generated ssh_config."""
    config = lab.lab_dir() / "state" / "ssh_config"
    argv = ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    argv += ["-l", "root"] if root else []
    return subprocess.run([*argv, host.name, *command], capture_output=True, text=True, timeout=60)


def out(host: lab.LabHost, *command: str, root: bool = False) -> str:
    """The stdout of a command that must succeed."""
    result = ssh(host, *command, root=root)
    assert result.returncode == 0, f"{host.name}: {command}: {result.stderr}"
    return result.stdout.strip()


def refuses(port: int) -> bool:
    """Whether 127.0.0.1:port refuses TCP connections."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def pids(names: set[str]) -> dict[str, int | None]:
    return {name: pid for name, _, _, pid in lab.status() if name in names}


@pytest.fixture
def token() -> str:
    """A unique marker for files a test writes on the hosts."""
    return uuid.uuid4().hex


@pytest.mark.lab
def test_hosts_have_own_names_users_and_sudo(hosts: list[lab.LabHost]) -> None:
    assert [h.name for h in hosts] == ["h01", "h02", "h03"]
    for host in hosts:
        assert (host.address, host.port - paths.port_base(), host.user, host.become) == (
            "127.0.0.1",
            int(host.name[1:]),
            "lab",
            True,
        )
        assert out(host, "hostname; id -un") == f"{host.name}\nlab"
        assert out(host, "hostname; id -un", root=True) == f"{host.name}\nroot"
        assert out(host, "sudo -n id -un") == "root"
        assert out(host, "cat /proc/1/comm", root=True) == "sshd"  # its own PID namespace


@pytest.mark.lab
def test_state_files_describe_running_hosts(hosts: list[lab.LabHost]) -> None:
    state = lab.lab_dir() / "state"
    inventory = json.loads((state / "inventory.json").read_text())["hosts"]
    by_name = {entry["name"]: entry for entry in inventory}
    for host in hosts:
        assert lab.LabHost(**by_name[host.name]) == host
        assert f"[127.0.0.1]:{host.port} ssh-ed25519 " in (state / "known_hosts").read_text()
    assert (state / "id_ed25519").stat().st_mode & 0o777 == 0o600
    assert {h.name for h in hosts} <= {h.name for h in lab.running_hosts()}


@pytest.mark.lab
def test_root_filesystems_are_separate(hosts: list[lab.LabHost], token: str) -> None:
    h01, h02, h03 = hosts
    (Path(h01.root) / "tmp" / f"lab-test-{token}").write_text(token)
    assert out(h01, f"cat /tmp/lab-test-{token}") == token
    for other in (h02, h03):
        assert ssh(other, f"test -e /tmp/lab-test-{token}").returncode == 1
    out(h02, f"echo {token} > /root/lab-test-{token}", root=True)
    assert (Path(h02.root) / "root" / f"lab-test-{token}").read_text().strip() == token
    assert not (Path(h01.root) / "root" / f"lab-test-{token}").exists()


@pytest.mark.lab
def test_fresh_resets_only_the_named_hosts(hosts: list[lab.LabHost], token: str) -> None:
    h01, h02, h03 = hosts
    for host in hosts:
        out(host, f"touch /etc/lab-test-{token}", root=True)
    before = pids({"h01", "h02", "h03"})
    assert lab.fresh(["h02"]) == [h02]
    after = pids({"h01", "h02", "h03"})
    assert (after["h01"], after["h03"]) == (before["h01"], before["h03"])
    assert after["h02"] != before["h02"]
    assert ssh(h02, f"test -e /etc/lab-test-{token}").returncode == 1  # new host key accepted too
    for host in (h01, h03):
        assert ssh(host, f"test -e /etc/lab-test-{token}").returncode == 0


@pytest.mark.lab
def test_stop_makes_a_host_unreachable_and_up_restarts_it(hosts: list[lab.LabHost], token: str) -> None:
    h01, h02, h03 = hosts
    out(h03, f"touch /etc/lab-test-{token}", root=True)
    lab.stop(["h03"])
    assert refuses(h03.port)
    assert out(h01, "hostname") == "h01"
    assert out(h02, "hostname") == "h02"
    assert ("h03", h03.port, False, None) in lab.status()
    assert "h03" not in {h.name for h in lab.running_hosts()}
    lab.up(3)
    assert ssh(h03, f"test -e /etc/lab-test-{token}").returncode == 0  # stopping kept the state


@pytest.mark.lab
def test_concurrent_commands_are_serialised(hosts: list[lab.LabHost]) -> None:
    code = "from paracrine import lab; lab.fresh(['h03'])"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE) for _ in range(3)]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()
    assert out(hosts[2], "hostname") == "h03"
    assert sum(1 for h in lab.status() if h[0] == "h03" and h[2]) == 1


@pytest.mark.lab
def test_cli_status_inventory_and_errors(hosts: list[lab.LabHost]) -> None:
    runner = CliRunner()
    status = runner.invoke(lab_cli, ["status"])
    assert status.exit_code == 0
    assert "h01" in status.output and "running" in status.output
    names = runner.invoke(lab_cli, ["inventory", "--names"])
    assert {"h01", "h02", "h03"} <= set(names.output.split())
    bad = runner.invoke(lab_cli, ["stop", "web1"])
    assert bad.exit_code == ExitCode.ENVIRONMENT
    assert "'web1' is not a lab host name" in bad.output


@pytest.mark.lab
def test_down_leaves_no_mounts_or_processes_and_keeps_state(hosts: list[lab.LabHost], token: str) -> None:
    out(hosts[0], f"touch /etc/lab-test-{token}", root=True)
    running = [pid for _, _, up, pid in lab.status() if up and pid]
    lab.down()
    top = str(lab.lab_dir()) + "/"
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if line.split()[4].startswith(top)]
    assert not [pid for pid in running if Path(f"/proc/{pid}").exists()]
    assert not [p for p in Path("/proc").glob("[0-9]*/root") if _resolves_under(p, top)]
    assert not (lab.lab_dir() / "state" / "inventory.json").exists()
    assert all(refuses(h.port) for h in hosts)
    lab.up(3)
    assert ssh(hosts[0], f"test -e /etc/lab-test-{token}").returncode == 0


def _resolves_under(link: Path, top: str) -> bool:
    try:
        return os.readlink(link).startswith(top)
    except OSError:
        return False
