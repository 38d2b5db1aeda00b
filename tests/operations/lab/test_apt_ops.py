"""apt.* on a real lab host, against a signed repository the test builds (two versions of a package).

The lab's offline repository has one version of each package, so the test adds
its own: packages built with ``dpkg-deb``, a ``Packages`` index and an
``InRelease`` signed with a throwaway key, placed on the host at
/srv/testrepo. The deploy adds the key (``apt.key``: one from a file, one
downloaded from a server the test runs on 127.0.0.1), the source
(``apt.repo``), then pins, upgrades, removes, purges, dist-upgrades and
installs a local ``.deb``, in three phases. Each phase runs twice: the second
run changes nothing.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import http.server
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paracrine import lab
from paracrine.facts import apt as apt_facts
from paracrine.testing import invoke

pytestmark = pytest.mark.lab

DEPLOY = """\
import os
from paracrine.operations import apt

phase = os.environ["T_PHASE"]
apt.key("paracrine-test", src="repo-key.asc")
apt.key("paracrine-url.asc", url=os.environ["T_KEY_URL"])
apt.repo("paracrine-test", "file:/srv/testrepo", "./", signed_by="/etc/apt/keyrings/paracrine-test.asc")
if phase == "1":
    apt.packages(["pcdemo=1.0-1", "pcdemo2=1.0-1", "pcconf"], update=True, cache_valid_time=3600)
    apt.packages(["tree"])
    apt.deb("hello-paracrine_1.0-1_all.deb")
elif phase == "2":
    apt.packages(["pcdemo"], latest=True, cache_valid_time=3600)
    apt.packages(["pcconf", "tree"], present=False)
    apt.upgrade(dist=True)
    apt.deb("hello-paracrine_1.0-1_all.deb", present=False)
else:
    apt.packages(["pcconf"], present=False, purge=True)
"""


def build_deb(where: Path, name: str, version: str, depends: str = "", conffile: str = "") -> Path:
    tree = where / f"tree-{name}-{version}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / f"usr/share/{name}").mkdir(parents=True)
    (tree / f"usr/share/{name}/version").write_text(version + "\n")
    control = f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@invalid>\n"
    control += (f"Depends: {depends}\n" if depends else "") + f"Description: {name} for the apt lab test\n"
    (tree / "DEBIAN/control").write_text(control)
    if conffile:
        (tree / conffile.lstrip("/")).parent.mkdir(parents=True)
        (tree / conffile.lstrip("/")).write_text("setting = 1\n")
        (tree / "DEBIAN/conffiles").write_text(conffile + "\n")
    deb = where / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, deb], check=True, capture_output=True)
    return deb


@pytest.fixture
def gpg(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``gpg(*args)`` with a throwaway home holding one signing key; its agent is stopped afterwards."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)

    def run(*args: str) -> str:
        done = subprocess.run(["gpg", "--homedir", str(home), "--batch", *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("--passphrase", "", "--quick-gen-key", "Paracrine Test <test@invalid>", "ed25519", "sign", "0")
    yield run
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True)


def signed_repository(repo: Path, gpg: Callable[..., str]) -> None:
    """Index the .deb files in ``repo`` and sign the index (a flat repository)."""
    packages = subprocess.run(
        ["dpkg-scanpackages", "-m", "."], cwd=repo, capture_output=True, check=True, text=True
    ).stdout
    (repo / "Packages").write_text(packages)
    data = packages.encode()
    release = (
        f"Origin: paracrine-test\nLabel: paracrine-test\nDate: {email.utils.formatdate(usegmt=True)}\n"
        f"SHA256:\n {hashlib.sha256(data).hexdigest()} {len(data)} Packages\n"
    )
    (repo / "Release").write_text(release)
    gpg("--yes", "--clearsign", "-o", str(repo / "InRelease"), str(repo / "Release"))


@pytest.fixture
def key_server(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Serve files of tmp_path/www on 127.0.0.1 (lab hosts share the network namespace)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def put(name: str, data: str) -> str:
        (www / name).write_text(data)
        return f"http://127.0.0.1:{server.server_address[1]}/{name}"

    yield put
    server.shutdown()
    server.server_close()


def deploy(site: Path, phase: str, url: str) -> Any:
    os.environ.update(T_PHASE=phase, T_KEY_URL=url)
    try:
        result = invoke([str(site), "-i", "@lab/1", "-y", "--json", "--state-dir", str(site.parent / "state")])
    finally:
        del os.environ["T_PHASE"], os.environ["T_KEY_URL"]
    assert result.exit_code == 0, result.stderr + result.stdout[-3000:]
    return json.loads(result.stdout)


def no_op(site: Path, phase: str, url: str) -> None:
    report = deploy(site, phase, url)
    statuses = {o["title"]: o["status"] for o in report["hosts"]["h01"]["operations"]}
    assert set(statuses.values()) == {"ok"}, statuses
    assert report["round_trips"]["apply"] == 0


def installed(host: lab.LabHost) -> dict[str, str]:
    status = (Path(host.root) / "var/lib/dpkg/status").read_text()
    found = {}
    for stanza in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line[0].isspace())
        if "Package" in fields:
            found[fields["Package"]] = f"{fields['Status'].split()[-1]} {fields.get('Version', '')}".strip()
    return found


def step(report: dict[str, Any], title: str) -> dict[str, Any]:
    return next(o for o in report["hosts"]["h01"]["operations"] if o["title"] == title)


def test_keys_repository_pins_latest_purge_upgrade_and_local_deb(
    lab_hosts: Callable[..., list[lab.LabHost]],
    tmp_path: Path,
    gpg: Callable[..., str],
    key_server: Callable[[str], str],
) -> None:
    (host,) = lab_hosts(1)
    root = Path(host.root)
    repo = root / "srv/testrepo"
    repo.mkdir(parents=True)
    for args in [("pcdemo", "1.0-1"), ("pcdemo", "2.0-1"), ("pcdemo2", "1.0-1"), ("pcdemo2", "1.1-1", "pcnew")]:
        build_deb(repo, *args)
    build_deb(repo, "pcnew", "1.0-1")
    build_deb(repo, "pcconf", "1.0-1", conffile="/etc/pcconf.conf")
    signed_repository(repo, gpg)
    key = gpg("--armor", "--export")
    (tmp_path / "repo-key.asc").write_text(key)
    url = key_server("key.asc", key)
    local = build_deb(tmp_path, "hello-paracrine", "1.0-1")  # beside the deploy file
    assert apt_facts.read_deb(str(local)) == {"package": "hello-paracrine", "version": "1.0-1", "arch": "all"}
    site = tmp_path / "site.py"
    site.write_text(DEPLOY)

    first = deploy(site, "1", url)
    assert (root / "etc/apt/keyrings/paracrine-test.asc").read_text() == key
    assert (root / "etc/apt/keyrings/paracrine-url.asc").read_text() == key
    assert (root / "etc/apt/sources.list.d/paracrine-test.sources").read_text() == (
        "Types: deb\nURIs: file:/srv/testrepo\nSuites: ./\nSigned-By: /etc/apt/keyrings/paracrine-test.asc\n"
    )
    packages = installed(host)
    assert packages["pcdemo"] == "installed 1.0-1"  # the pin, although 2.0-1 is the candidate
    assert packages["pcdemo2"] == "installed 1.0-1"
    assert packages["pcconf"] == "installed 1.0-1" and packages["tree"].startswith("installed")
    assert packages["hello-paracrine"] == "installed 1.0-1"
    assert not list((root / "var/cache/paracrine/debs").iterdir())  # the streamed .deb is gone
    # The two apt.packages steps ran as one apt-get: one update, one install of all four packages.
    pins, tree = (
        step(first, "apt.packages(['pcdemo=1.0-1', 'pcdemo2=1.0-1', 'pcconf'])"),
        step(first, "apt.packages(['tree'])"),
    )
    update, install = pins["result"]["changes"]
    assert update["error"] is None and "file:/srv/testrepo" in update["stdout"]
    assert "Setting up pcdemo (1.0-1)" in install["stdout"] and "Setting up tree" in install["stdout"]
    assert tree["result"]["changes"][0]["stdout"] == install["stdout"]
    assert (root / "var/lib/apt/periodic/update-success-stamp").exists()
    no_op(site, "1", url)

    deploy(site, "2", url)
    packages = installed(host)
    assert packages["pcdemo"] == "installed 2.0-1"  # latest
    assert packages["pcconf"] == "config-files 1.0-1" and (root / "etc/pcconf.conf").exists()  # removed, not purged
    assert "tree" not in packages or packages["tree"].startswith("not-installed")
    assert packages["pcdemo2"] == "installed 1.1-1" and packages["pcnew"] == "installed 1.0-1"  # dist-upgrade
    assert "hello-paracrine" not in packages or not packages["hello-paracrine"].startswith("installed")
    no_op(site, "2", url)

    deploy(site, "3", url)
    assert "pcconf" not in installed(host) and not (root / "etc/pcconf.conf").exists()  # purged
    no_op(site, "3", url)
