"""The bench's ``server`` workload (bench/paracrine/server.py) on a real lab host over SSH.

The workload uses every operation of issue 11 that can work on a lab host; the promise it keeps is
the plan's shape: once the host is converged, a run costs one fact round trip and no apply round
trip, whether the fact list of the last run is cached or not.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import server_assets, verify_server
from paracrine.factcache import FactCache
from paracrine.inventory import load_inventory
from paracrine.run import DeployRun
from paracrine.testing import invoke

pytestmark = pytest.mark.lab

SITE = Path(__file__).resolve().parents[1] / "bench" / "paracrine" / "server.py"


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The workload's assets, served to the lab hosts on 127.0.0.1 (SERVER_URL set)."""
    www = server_assets.build() / "www"
    with server_assets.serving(www) as url:
        monkeypatch.setenv("SERVER_URL", url)
        yield url


def test_a_zero_change_run_of_the_server_workload_is_one_fact_round_trip(
    lab_hosts: Callable[..., list[Any]], tmp_path: Path, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (host,) = lab_hosts(1, packages=verify_server.PACKAGES)
    monkeypatch.setenv("SERVER_PORT_BASE", str(host.service_port(2) - 201))  # PostgreSQL on base+200+1
    inventory_file = tmp_path / "inventory.py"
    inventory_file.write_text('lab = ["@lab/1"]\n')
    applied = invoke([str(SITE), "-i", str(inventory_file), "-y", "--state-dir", str(tmp_path / "state")])
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert verify_server.verify_server(verify_server.host_fs(host), host_pid=None) == []
    for state in ("state", "fresh-state"):  # with the last run's fact list, and without any cache
        with DeployRun([SITE], load_inventory(str(inventory_file)), cache=FactCache(tmp_path / state)) as deploy:
            deploy.connect()
            deploy.plan()
            assert not deploy.pending_changes()
            assert dict(deploy.session.round_trips) == {"h01": 1}, state
            assert deploy.round_trips("facts") == 1 and deploy.round_trips("apply") == 0
    assert os.environ["SERVER_URL"] == served
