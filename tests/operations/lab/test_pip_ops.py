"""``pip.venv`` and ``pip.packages`` on a real lab host: converge, upgrade, and second runs that change nothing.

Lab hosts have no network: the test builds a wheelhouse of tiny pure-Python
distributions on the controller (wheels are zip files: written here with
``zipfile``, no build tool or index needed), the deploy puts it on the host,
and pip installs from it with ``--no-index --find-links``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from deploys import assert_nothing_changes, run

from paracrine.testing import make_wheel

pytestmark = pytest.mark.lab

VENV = "/srv/app/venv"

SITE = """\
import os
from paracrine.operations import apt, files, pip, server

stage = os.environ["T_STAGE"]
apt.packages(["python3-venv"])
server.user("app", home="/home/app", shell="/usr/sbin/nologin")
files.directory("/srv/app")
files.directory("/srv/wheels")
for wheel in sorted(os.listdir("wheels" + stage)):
    files.put(f"wheels{stage}/{wheel}", f"/srv/wheels/{wheel}")
pip.venv("/srv/app/venv", owner="app")
index = {"venv": "/srv/app/venv", "no_index": True, "find_links": "/srv/wheels"}
pip.packages(["alpha" if stage == "2" else "alpha==1.0"], latest=stage == "2", **index)
pip.packages(requirements="requirements.txt", **index)
pip.packages(["delta"], venv="/srv/app/venv", present=False)
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    for stage in ("1", "2"):
        (tmp_path / f"wheels{stage}").mkdir()
        make_wheel(tmp_path / f"wheels{stage}", "alpha", "1.0", requires=["beta>=1"])
        make_wheel(tmp_path / f"wheels{stage}", "beta", "1.0")
        make_wheel(tmp_path / f"wheels{stage}", "gamma", "0.5")
    make_wheel(tmp_path / "wheels2", "alpha", "2.0", requires=["beta>=1"])
    (tmp_path / "requirements.txt").write_text("# what the app needs\ngamma>=0.5\n")
    (tmp_path / "site.py").write_text(SITE)
    return tmp_path / "site.py"


def distributions(host: Any) -> dict[str, str]:
    """Name -> version of what is installed in the virtualenv (its .dist-info directories)."""
    found = {}
    for info in Path(host.root, VENV.lstrip("/")).glob("lib/python3*/site-packages/*.dist-info"):
        name, version = info.name[: -len(".dist-info")].split("-")
        found[name] = version
    return found


def test_venv_packages_and_an_upgrade(
    lab_hosts: Callable[..., list[Any]], site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (host,) = lab_hosts(1, packages=["python3-venv"])
    monkeypatch.chdir(site.parent)
    monkeypatch.setenv("T_STAGE", "1")
    applied = run(site, "-y")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    venv = Path(host.root, VENV.lstrip("/"))
    config = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in config and "executable = /usr/bin/python3." in config
    app_uid = int(
        next(line for line in Path(host.root, "etc/passwd").read_text().splitlines() if line.startswith("app:")).split(
            ":"
        )[2]
    )
    assert venv.stat().st_uid == app_uid  # made for the owner, and pip ran as the owner
    assert all(p.stat().st_uid == app_uid for p in venv.glob("lib/python3*/site-packages/alpha/*"))
    installed = distributions(host)
    assert {k: installed[k] for k in ("alpha", "beta", "gamma")} == {"alpha": "1.0", "beta": "1.0", "gamma": "0.5"}
    assert "delta" not in installed
    assert not list(Path(host.root, "tmp").glob("paracrine-requirements-*"))  # the uploaded requirements are gone
    assert_nothing_changes(site)

    monkeypatch.setenv("T_STAGE", "2")  # alpha 2.0 in the wheelhouse; alpha unpinned with latest=True
    upgraded = run(site, "-y")
    assert upgraded.exit_code == 0, upgraded.stdout + upgraded.stderr
    assert "--upgrade" in upgraded.stdout  # in the same run as the new wheel: pip.outdated was gathered again
    installed = distributions(host)
    assert {k: installed[k] for k in ("alpha", "beta", "gamma")} == {"alpha": "2.0", "beta": "1.0", "gamma": "0.5"}
    assert_nothing_changes(site)
