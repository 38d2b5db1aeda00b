"""The benchmark's own lab (beside the shared one) and the targets' CPU accounting.

The bench never touches the developers' lab or the test lab: it sets ``PARACRINE_LAB_DIR`` to
``<shared lab dir>-bench`` (whose ``cache`` is a symlink to the shared lab's cache, so the Debian
root filesystem is built once) and ``PARACRINE_LAB_PORT_BASE`` to the shared base + 600.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench.config import DEMO_PORT_OFFSET, LAB_PORT_OFFSET, LAB_SUFFIX, SERVER_HTTP_OFFSET
from paracrine.lab.procs import stat_fields
from paracrine.lab.state import LabHost

CLK_TCK = os.sysconf("SC_CLK_TCK")


def bench_lab_env() -> dict[str, str]:
    """The environment of the bench lab, creating its directory and cache link as needed."""
    from paracrine.lab import paths

    shared, base = paths.lab_dir(), paths.port_base()
    port = base + LAB_PORT_OFFSET
    if shared.name.endswith(LAB_SUFFIX):  # already pointed at a bench lab (e.g. by a parent bench process)
        own, shared = shared, shared.with_name(shared.name[: -len(LAB_SUFFIX)])
        port = base if "PARACRINE_LAB_PORT_BASE" in os.environ else port
    else:
        own = shared.with_name(shared.name + LAB_SUFFIX)
    own.mkdir(parents=True, exist_ok=True)
    (shared / "cache").mkdir(parents=True, exist_ok=True)
    if not (own / "cache").exists():
        (own / "cache").symlink_to(shared / "cache")
    return {"PARACRINE_LAB_DIR": str(own), "PARACRINE_LAB_PORT_BASE": str(port)}


def use_bench_lab() -> dict[str, str]:
    """Point this process (and so ``paracrine.lab``) at the bench lab; returns the variables."""
    env = bench_lab_env()
    os.environ.update(env)
    return env


def up(count: int, *, fresh: bool, packages: Iterable[str] = ()) -> list[LabHost]:
    """Bring h01..hNN of the bench lab up (``fresh``: wiped first); others are stopped.

    ``packages`` are made installable from the hosts' offline apt repository (not installed).
    """
    import paracrine.lab as lab

    return lab.up(count, fresh=fresh, packages=packages)


def demo_port_base() -> int:
    """The demo's port base: ``$DEMO_PORT_BASE``, else the bench lab's port base minus 10000."""
    from paracrine.lab import paths

    raw = os.environ.get("DEMO_PORT_BASE")
    return int(raw) if raw else paths.port_base() - DEMO_PORT_OFFSET


def server_http_port() -> int:
    """The port of the server workload's loopback HTTP server: the demo's port base + 400."""
    return demo_port_base() + SERVER_HTTP_OFFSET


def server_url() -> str:
    """The base URL lab hosts download the server workload's tool and git repository from."""
    return f"http://127.0.0.1:{server_http_port()}"


def lab_root() -> Path:
    """The bench lab's state directory (hosts' roots are ``hosts/hNN/root`` below it)."""
    from paracrine.lab import paths

    return paths.lab_dir()


def down() -> None:
    """Stop every host of the bench lab."""
    import paracrine.lab as lab

    lab.down()


def sshd_pids(hosts: Sequence[LabHost]) -> dict[str, int]:
    """The controller PID of each host's sshd (PID 1 of the host's namespace)."""
    from paracrine.lab import hosts as lab_hosts
    from paracrine.lab.paths import lab_paths

    paths, pids = lab_paths(), {}
    for host in hosts:
        ref = lab_hosts.running_sshd(paths, host.name)
        if ref is not None:
            pids[host.name] = ref.pid
    return pids


def process_cpu(pid: int) -> float | None:
    """utime+stime+cutime+cstime of ``pid`` in seconds (its own and its reaped children's CPU)."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def has_children(pids: Sequence[int]) -> bool:
    """Whether any of ``pids`` still has an SSH session (a child ``sshd``: sessions still closing down).

    Other children do not count: daemons a run started (the demo's PostgreSQL, nginx, app) are
    adopted by the host's sshd, its namespace's PID 1, and stay for good.
    """
    children = _children_map()
    return any(_sessions(pid, children) for pid in pids)


def _sessions(pid: int, children: dict[int, list[int]]) -> list[int]:
    """The SSH sessions of a host's sshd: its children that are ``sshd`` processes."""
    return [c for c in children.get(pid, []) if _comm(str(c)).startswith("sshd")]


def _comm(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def targets_cpu(pids: dict[str, int], *, settle: float = 0.0) -> float | None:
    """Total CPU seconds of all hosts' sshd trees; waits up to ``settle`` s for sessions to be reaped.

    A host's figure is its sshd's own CPU and its reaped children's, plus that of the SSH sessions
    still open and everything under them: a ``paracrine agent`` keeps its sessions (and their
    interpreters) between runs, so their CPU is never reaped into the sshd's. Daemons the sshd
    adopted (PostgreSQL, nginx) count as before: only what they cost a session that ended.
    """
    deadline = time.monotonic() + settle
    while settle and has_children(list(pids.values())) and time.monotonic() < deadline:
        time.sleep(0.02)
    children = _children_map()
    total = 0.0
    for pid in pids.values():
        cpu = process_cpu(pid)
        if cpu is None:
            return None
        total += cpu + sum(_tree_cpu(c, children) for c in _sessions(pid, children))
    return total


def _children_map() -> dict[int, list[int]]:
    """Parent PID -> live child PIDs, from one pass over /proc."""
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = stat_fields(int(entry))
            if fields is not None and len(fields) > 1:
                found.setdefault(int(fields[1]), []).append(int(entry))
    return found


def _tree_cpu(pid: int, children: dict[int, list[int]]) -> float:
    """CPU seconds of a live process and of everything under it (each one's own and reaped children's)."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        total += process_cpu(current) or 0.0
        stack.extend(children.get(current, []))
    return total
