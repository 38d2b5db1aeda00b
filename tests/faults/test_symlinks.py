"""Changes act on the path itself, never through a symbolic link an unprivileged user planted (issue 9, item 2).

On a real lab host, user ``mallory`` owns ``/srv/shared`` and keeps swapping
``/srv/shared/f`` between a file of her own and a link to root's 0600 secret,
while root applies attribute changes and writes to that path thousands of times
through the real executor (one batch over SSH). The secret must keep its mode,
owner and content. The path-based code this replaced made it world-readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faultlab import on, run, ssh, write

from paracrine.batches import Spool, build_batch
from paracrine.changes import SetAttributes, WriteFile
from paracrine.connect import Session
from paracrine.inventory import load_inventory
from paracrine.remote.execute import run_batch

pytestmark = pytest.mark.lab

FLIPPER = """
import os, time
os.chdir("/srv/shared")
end, flips = time.monotonic() + {seconds}, 0
while time.monotonic() < end:
    flips += 1
    try:
        os.unlink("f")
    except OSError:
        pass
    try:
        fd = os.open("f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"mine")
        os.close(fd)
        os.unlink("f")
        os.symlink("/root/secret", "f")
    except OSError:
        pass  # root replaced it in between: go on
with open("/tmp/flips", "w") as stream:
    stream.write(str(flips))
"""


FILE_OP = 'from paracrine.operations import files\nfiles.file("/srv/shared/f", mode=0o644{extra})\n'


@pytest.fixture
def attacked(lab_hosts: Callable[[int], list[Any]]) -> Iterator[Any]:
    """h01 with user mallory owning /srv/shared and a root-only /root/secret."""
    (host,) = lab_hosts(1)
    setup = "useradd -m mallory && mkdir -p /srv/shared && chown mallory /srv/shared && chmod 0755 /srv/shared"
    setup += " && printf secret > /root/secret && chmod 0600 /root/secret"
    assert ssh(host, setup).returncode == 0
    yield host


def secret_is_intact(host: Any) -> None:
    secret = on(host, "/root/secret")
    assert secret.read_text() == "secret"
    assert secret.stat().st_mode & 0o7777 == 0o600 and secret.stat().st_uid == 0


def batch_of(changes: list[Any]) -> Any:
    from paracrine.dag import Graph
    from paracrine.operation import OpCall, Operation, Options
    from paracrine.plan import HostPlan, PlannedOp

    def noop(ctx: Any) -> Any:
        yield from ()

    op = Operation(noop)
    ops = [PlannedOp(OpCall(op, {}, Options(), None, "h01", i), "change", [c], [False]) for i, c in enumerate(changes)]
    graph = Graph()
    for planned in ops:
        graph.add(planned.call)
    return build_batch(HostPlan("h01", graph, ops, set(), []), "test", set(), Spool())


def test_a_link_swapped_in_during_thousands_of_changes_is_never_followed(attacked: Any) -> None:
    host = attacked
    on(host, "/tmp/flip.py").write_text(FLIPPER.format(seconds=8))
    attack = ssh(host, "nohup su mallory -s /bin/sh -c 'python3 /tmp/flip.py' >/dev/null 2>&1 &")
    assert attack.returncode == 0, attack.stderr
    time.sleep(0.5)
    chmods = batch_of([SetAttributes("/srv/shared/f", mode=0o644) for _ in range(3000)])
    writes = batch_of([WriteFile("/srv/shared/f", b"root wrote this\n", mode=0o644) for _ in range(500)])
    inventory = load_inventory("@lab/1")
    acted = 0
    with Session() as session:
        session.connect(inventory.hosts)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            for batch in (chmods, writes):
                reply = session.call("h01", run_batch, batch)
                acted += sum(step["status"] == "changed" for step in reply["steps"])
    secret_is_intact(host)
    deadline = time.monotonic() + 10
    while not on(host, "/tmp/flips").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert int(on(host, "/tmp/flips").read_text()) > 1000  # the attack really ran
    assert acted > 100  # and root really acted on mallory's file while it was one
    secret_is_intact(host)


def test_operations_refuse_a_planted_link_and_force_replaces_the_link_itself(attacked: Any, tmp_path: Path) -> None:
    host = attacked
    assert ssh(host, "su mallory -s /bin/sh -c 'ln -s /root/secret /srv/shared/f'").returncode == 0
    site = write(tmp_path / "site.py", FILE_OP.format(extra=""))
    refused = run(site, "-y")
    assert refused.exit_code == 1
    assert "path exists and is a symbolic link to /root/secret; pass force=True to replace it" in refused.stderr
    write(site, FILE_OP.format(extra=", force=True"))
    forced = run(site, "-y")
    assert forced.exit_code == 0, forced.stderr
    assert not on(host, "/srv/shared/f").is_symlink() and on(host, "/srv/shared/f").read_text() == ""
    secret_is_intact(host)
