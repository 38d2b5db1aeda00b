"""The lab's offline apt repository, and services installed from it running on lab hosts.

The unit tests build tiny ``.deb`` files and stand in for apt's download; the tests
marked ``lab`` resolve real Debian packages and run nginx and PostgreSQL on real hosts.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import subprocess
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from paracrine import lab
from paracrine.errors import ExitCode, SetupError
from paracrine.lab import aptrepo, paths
from paracrine.lab.cli import _split_packages
from paracrine.lab.cli import lab as lab_cli

# ---------------------------------------------------------------- unit tests (no root, no network)


def test_sources_are_the_machines_bookworm_suites(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PARACRINE_LAB_MIRROR", raising=False)
    (tmp_path / "debian.sources").write_text(
        "Types: deb\n"
        "# a comment\n"
        "URIs: http://one.invalid/debian\n"
        "Suites: bookworm bookworm-updates bookworm-backports\n"
        "Components: main contrib\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        "\n"
        "Types: deb\n"
        "URIs: http://one.invalid/debian-security\n"
        "Suites: bookworm-security\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://off.invalid/debian\n"
        "Suites: bookworm\n"
        "Components: main\n"
        "Enabled: no\n"
        "\n"
        "Types: deb-src\n"
        "URIs: http://src.invalid/debian\n"
        "Suites: bookworm\n"
        "Components: main\n"
        "\n"
        "Types: deb\n"
        "URIs: http://other.invalid/node\n"
        "Suites: nodistro\n"
        "Components: main\n"
    )
    (tmp_path / "extra.list").write_text(
        "deb [arch=amd64 signed-by=/k.gpg] http://two.invalid/debian bookworm main\n"
        "deb http://two.invalid/debian trixie main\n"
        "deb http://three.invalid/debian bookworm contrib\n"
    )
    found = paths.apt_sources(str(tmp_path / "*.sources"), str(tmp_path / "none.list"), str(tmp_path / "*.list"))
    key = "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert found == [
        paths.AptSource("http://one.invalid/debian", "bookworm", key),
        paths.AptSource("http://one.invalid/debian", "bookworm-updates", key),
        paths.AptSource("http://one.invalid/debian-security", "bookworm-security", None),
        paths.AptSource("http://two.invalid/debian", "bookworm", "/k.gpg"),
    ]
    assert found[0].line() == f"deb [signed-by={key}] http://one.invalid/debian bookworm main\n"
    assert found[2].line() == "deb http://one.invalid/debian-security bookworm-security main\n"


def test_sources_fall_back_to_the_mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PARACRINE_LAB_MIRROR", raising=False)
    (tmp_path / "sources.list").write_text("deb http://four.invalid/debian trixie main\n")
    found = paths.apt_sources(str(tmp_path / "*.sources"), str(tmp_path / "sources.list"), str(tmp_path / "*.list"))
    assert found == [paths.AptSource("http://four.invalid/debian", "bookworm")]
    monkeypatch.setenv("PARACRINE_LAB_MIRROR", "http://five.invalid/debian")
    assert paths.apt_sources() == [paths.AptSource("http://five.invalid/debian", "bookworm")]


def test_package_names_are_checked_and_split() -> None:
    assert paths.check_package_names(["tree", "nginx-light", "tree", "libstdc++6", "python3.11"]) == [
        "libstdc++6",
        "nginx-light",
        "python3.11",
        "tree",
    ]
    for bad in ("nginx=1.22", "-y", "Nginx", "nginx:amd64", "a", ""):
        with pytest.raises(SetupError, match="is not a Debian package name"):
            paths.check_package_names([bad])
    assert _split_packages(("nginx-light, postgresql", "git,,", "")) == ["nginx-light", "postgresql", "git"]


def test_service_ports_are_below_the_ssh_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARACRINE_LAB_PORT_BASE", "28000")
    host = lab.LabHost("h07", "127.0.0.1", 28007, "lab", "root", True, "k", "kh", "/r")
    assert (host.service_port(1), host.service_port(2)) == (18007, 8007)
    with pytest.raises(SetupError, match="slot 3 does not exist"):
        host.service_port(3)
    with pytest.raises(SetupError, match="would be 1001; raise PARACRINE_LAB_PORT_BASE"):
        paths.service_port(21001, 2)


def _deb(where: Path, name: str, version: str) -> Path:
    """Build a tiny architecture-independent package with dpkg-deb."""
    tree = where / f"{name}-{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@invalid>\nDescription: test\n"
    )
    deb = where / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, deb], check=True, capture_output=True)
    return deb


class FakeApt:
    """Stands in for :class:`aptrepo.PrivateApt`: "downloads" prebuilt debs, like apt only those missing."""

    debs: ClassVar[dict[str, Path]] = {}
    calls: ClassVar[list[list[str]]] = []

    def __init__(self, paths: Any) -> None:
        pass

    def update(self) -> None:
        pass

    def download(self, packages: Sequence[str], archives: Path) -> None:
        FakeApt.calls.append(list(packages))
        for name in packages:
            if name not in self.debs:
                raise SetupError(f"no such Debian package {name!r} in bookworm")
            deb = self.debs[name]
            if not (archives / deb.name).exists():
                (archives / deb.name).write_bytes(deb.read_bytes())


def test_repository_grows_in_place_and_a_failure_leaves_it_intact(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    debs = {name: _deb(tmp_path, name, "1.0-1") for name in ("pkg-a", "pkg-b")}
    monkeypatch.setattr(aptrepo, "PrivateApt", FakeApt)
    monkeypatch.setattr(aptrepo, "OFFLINE_PACKAGES", ("pkg-a",))
    monkeypatch.setattr(FakeApt, "debs", debs)
    monkeypatch.setattr(FakeApt, "calls", [])
    layout = paths.LabPaths(tmp_path / "lab")
    layout.cache.mkdir(parents=True)
    repo = layout.apt_repo

    aptrepo.ensure_apt_repo(layout)
    assert aptrepo.offline_packages(layout) == ["pkg-a"]
    assert aptrepo.indexed_files(repo / "Packages") == {"pkg-a_1.0-1_all.deb"}
    first = (repo / "pkg-a_1.0-1_all.deb").stat().st_ino

    aptrepo.ensure_apt_repo(layout, ["pkg-b"])
    assert FakeApt.calls == [["pkg-a"], ["pkg-a", "pkg-b"]]  # the union is resolved again
    assert aptrepo.offline_packages(layout) == ["pkg-a", "pkg-b"]
    index = (repo / "Packages").read_text()
    assert index.count("Package: pkg-a\n") == 1 and index.count("Package: pkg-b\n") == 1
    assert "\n\nPackage: pkg-b\n" in index
    assert (repo / "pkg-a_1.0-1_all.deb").stat().st_ino == first  # kept, not downloaded again

    aptrepo.ensure_apt_repo(layout, ["pkg-b", "pkg-a"])  # already there: apt is not run
    assert len(FakeApt.calls) == 2
    layout.rootfs.mkdir(parents=True)
    (layout.rootfs / paths.MARKER).touch()  # a new debootstrap: resolved again, nothing new to add
    aptrepo.ensure_apt_repo(layout, ["pkg-a"])
    assert FakeApt.calls[2:] == [["pkg-a", "pkg-b"]]
    assert (repo / "Packages").read_text() == index
    aptrepo.ensure_apt_repo(layout, ["pkg-a"])
    assert len(FakeApt.calls) == 3

    before = {p.name: p.read_bytes() for p in repo.iterdir()}
    with pytest.raises(SetupError, match="no such Debian package 'pkg-c'"):
        aptrepo.ensure_apt_repo(layout, ["pkg-c"])
    assert {p.name: p.read_bytes() for p in repo.iterdir()} == before
    assert not repo.with_name("apt-repo.tmp").exists()


# ---------------------------------------------------------------- on real lab hosts


def ssh(host: lab.LabHost, command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a shell command as root on a lab host through the lab's ssh_config."""
    config = lab.lab_dir() / "state" / "ssh_config"
    argv = ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-l", "root", host.name, command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def out(host: lab.LabHost, command: str) -> str:
    """The stdout of a command that must succeed."""
    result = ssh(host, command)
    assert result.returncode == 0, f"{host.name}: {command}: {result.stdout}{result.stderr}"
    return result.stdout.strip()


def install(host: lab.LabHost, package: str) -> str:
    """``apt-get install -y PACKAGE`` on the host (from the offline repository); returns its output."""
    return out(host, f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q {package} 2>&1")


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def sshd_pid(host: lab.LabHost) -> int | None:
    return next(pid for name, _, _, pid in lab.status() if name == host.name)


@pytest.mark.lab
def test_an_unknown_package_is_one_line_and_changes_nothing(test_lab: Path) -> None:
    lab.up(1)
    repo = lab.lab_dir() / "cache" / "apt-repo"
    before = (repo / "Packages").read_bytes(), lab.offline_packages()
    result = CliRunner().invoke(lab_cli, ["up", "1", "--packages", "tree,nginx-lite"])
    assert result.exit_code == ExitCode.ENVIRONMENT
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("no such Debian package 'nginx-lite' in bookworm; did you mean 'nginx-light'"), line
    assert ((repo / "Packages").read_bytes(), lab.offline_packages()) == before
    assert not repo.with_name("apt-repo.tmp").exists()


@pytest.mark.lab
def test_nginx_from_the_offline_repository_serves_on_the_hosts_port(
    lab_hosts: Callable[..., list[lab.LabHost]],
) -> None:
    (host,) = lab_hosts(1)
    pid = sshd_pid(host)
    # Packages added while a host runs are installable at once: no restart, no apt-get update.
    assert lab.up(1, packages=["nginx-light"]) == [host]
    assert sshd_pid(host) == pid
    index = (lab.lab_dir() / "cache" / "apt-repo" / "Packages").read_bytes()
    assert out(host, "sha256sum < /srv/lab-apt/Packages").split()[0] == hashlib.sha256(index).hexdigest()
    uris = out(host, "apt-get -qq --print-uris install nginx-light").splitlines()
    assert uris and all(line.startswith("'file:/srv/lab-apt/") for line in uris), uris
    assert "nginx-light" in lab.offline_packages() and "tree" in lab.offline_packages()

    output = install(host, "nginx-light")
    assert "policy-rc.d denied execution of start" in output
    assert ssh(host, "pgrep -x nginx").returncode == 1  # the install started nothing
    assert out(host, "systemctl is-enabled nginx") == "enabled"  # but enabled it, as Debian does

    port, token = host.service_port(1), uuid.uuid4().hex
    assert not listening(port)
    site = f"server {{ listen 127.0.0.1:{port} default_server; root /var/www/html; index index.nginx-debian.html; }}"
    out(host, f"echo '{site}' > /etc/nginx/sites-enabled/default && echo {token} > /var/www/html/token.txt")
    out(host, "systemctl start nginx")
    assert out(host, "systemctl is-active nginx") == "active"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
        assert page.status == 200 and page.headers["Server"].startswith("nginx")
        assert "Welcome to nginx!" in page.read().decode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/token.txt", timeout=10) as page:
        assert page.read().decode().strip() == token  # served from this host's root
    out(host, "systemctl stop nginx")
    assert not listening(port)


def _postgres_answers(port: int) -> bytes:
    """Send PostgreSQL's SSLRequest to 127.0.0.1:port; a server answers b"S" or b"N"."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(struct.pack("!II", 8, 80877103))
        return conn.recv(1)


@pytest.mark.lab
def test_postgresql_cluster_starts_on_the_hosts_port(lab_hosts: Callable[..., list[lab.LabHost]]) -> None:
    (host,) = lab_hosts(1, packages=["postgresql"])
    install(host, "postgresql")
    # The postinst created the cluster but, with policy-rc.d, did not start it on 5432.
    assert out(host, "pg_lsclusters -h").split()[:4] == ["15", "main", "5432", "down"]
    port = host.service_port(2)
    assert not listening(port)
    out(host, f"sed -i 's/^port = .*/port = {port}/' /etc/postgresql/15/main/postgresql.conf")
    out(host, "pg_ctlcluster 15 main start")
    assert out(host, "pg_lsclusters -h").split()[:4] == ["15", "main", str(port), "online"]
    assert _postgres_answers(port) in (b"S", b"N")
    query = f"runuser -u postgres -- psql -p {port} -Atc \"select current_setting('port')\""
    assert out(host, f"cd / && {query}") == str(port)
    out(host, "pg_ctlcluster 15 main stop")
    assert not listening(port)
