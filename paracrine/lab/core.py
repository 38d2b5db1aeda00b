"""The lab's public operations: up, fresh, stop, down, status.

Commands that change the lab hold an exclusive ``flock`` on ``$PARACRINE_LAB_DIR/lock``,
so two processes (two pytest workers, a test and a CLI call) never race.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from paracrine.errors import SetupError
from paracrine.lab import aptrepo, hosts
from paracrine.lab.image import base_is_current, build_base, ensure_cache, remove_tree
from paracrine.lab.mounts import mounts_under, unmount_tree
from paracrine.lab.paths import (
    LabPaths,
    check_count,
    check_package_names,
    host_index,
    host_name,
    host_port,
    lab_paths,
)
from paracrine.lab.procs import ProcRef
from paracrine.lab.state import LabHost, lab_host, remove_state, write_state
from paracrine.lab.tools import check_requirements, require_root

log = logging.getLogger("paracrine.lab")
START_WORKERS = 16


@contextmanager
def _locked(paths: LabPaths) -> Iterator[None]:
    """Hold the lab's exclusive lock (waiting for another lab command if need be)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("lab: waiting for another lab command to finish (%s)", paths.lock)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def up(count: int, *, fresh: bool = False, stop_others: bool = True, packages: Iterable[str] = ()) -> list[LabHost]:
    """Ensure hosts h01..hNN are running and return them.

    Args:
        count: how many hosts (N).
        fresh: wipe the state of h01..hNN first, so they start clean.
        stop_others: stop running hosts numbered above N.
        packages: Debian packages every host must be able to ``apt-get install`` offline
            (they are added, with their dependencies, to the offline apt repository, not installed).

    Raises:
        SetupError: a requirement is missing, a package does not exist or cannot be
            downloaded, or a host failed to start.

    Example:
        >>> hosts = up(3, packages=["nginx-light"])      # doctest: +SKIP
        >>> hosts[0].name, hosts[0].port
        ('h01', 22001)
    """
    check_requirements()
    check_count(count)
    wanted = check_package_names(packages)
    paths = lab_paths()
    started = time.monotonic()
    targets = [host_name(i) for i in range(1, count + 1)]
    with _locked(paths):
        _ensure_base(paths, wanted)
        others = [n for n in hosts.existing_hosts(paths) if n not in targets] if stop_others else []
        hosts.stop_hosts(paths, others)
        if fresh:
            _wipe(paths, targets)
        launched = _start(paths, [n for n in targets if hosts.running_sshd(paths, n) is None])
        write_state(paths, _running(paths))
    elapsed = time.monotonic() - started
    log.info("lab: up %d hosts in %.2f s (%d started)", count, elapsed, launched)
    return [lab_host(paths, n) for n in targets]


def fresh(names: Sequence[str], *, packages: Iterable[str] = ()) -> list[LabHost]:
    """Reset just these hosts (stop, wipe their upper layer, start); the others keep running.

    Args:
        names: the hosts, e.g. ``["h02", "h05"]``.
        packages: Debian packages to make installable offline, as for :func:`up`.

    Raises:
        SetupError: a name is not a lab host name or a package name, a requirement is
            missing, a package cannot be downloaded, or a host failed to start.
    """
    check_requirements()
    wanted = _check_names(names)
    extra = check_package_names(packages)
    paths = lab_paths()
    with _locked(paths):
        _ensure_base(paths, extra)
        _wipe(paths, wanted)
        _start(paths, wanted)
        write_state(paths, _running(paths))
    return [lab_host(paths, n) for n in wanted]


def stop(names: Sequence[str]) -> None:
    """Stop these hosts but keep their state; the state files still list them (tests use this).

    Raises:
        SetupError: a name is not a lab host name, or a process did not end.
    """
    require_root()
    wanted = _check_names(names)
    paths = lab_paths()
    with _locked(paths):
        hosts.stop_hosts(paths, wanted)


def down() -> None:
    """Stop every host, unmount everything, and remove the state files (host state is kept).

    Raises:
        SetupError: something could not be stopped or unmounted.
    """
    require_root()
    paths = lab_paths()
    if not paths.root.is_dir():
        return
    started = time.monotonic()
    with _locked(paths):
        names = hosts.existing_hosts(paths)
        hosts.stop_hosts(paths, names)
        unmount_tree(paths.hosts)
        remove_state(paths)
        left = mounts_under(paths.root)
    if left:
        raise SetupError(f"still mounted after down: {left[0]}", hint="check `grep lab /proc/mounts`")
    log.info("lab: down: %d hosts stopped in %.2f s", len(names), time.monotonic() - started)


def status() -> list[tuple[str, int, bool, int | None]]:
    """Every host that has state: ``(name, port, running, sshd pid or None)``."""
    paths = lab_paths()
    rows: list[tuple[str, int, bool, int | None]] = []
    for name in hosts.existing_hosts(paths):
        ref = hosts.running_sshd(paths, name)
        rows.append((name, host_port(name), ref is not None, ref.pid if ref else None))
    return rows


def offline_packages() -> list[str]:
    """The packages hosts can ``apt-get install`` offline (as requested; their dependencies come along)."""
    return aptrepo.offline_packages(lab_paths())


def running_hosts() -> list[LabHost]:
    """The hosts whose sshd is running, in numeric order."""
    return _running(lab_paths())


def _running(paths: LabPaths) -> list[LabHost]:
    return [lab_host(paths, n) for n in hosts.existing_hosts(paths) if hosts.running_sshd(paths, n)]


def _check_names(names: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(names))
    for name in unique:
        host_index(name)
    return unique


def _ensure_base(paths: LabPaths, packages: Sequence[str] = ()) -> None:
    """Build the cache (with ``packages`` in the apt repository) and the base as needed.

    A rebuilt base resets every host; a grown apt repository changes no host.
    """
    ensure_cache(paths, packages)
    if base_is_current(paths):
        return
    existing = hosts.existing_hosts(paths)
    if existing:
        log.info("lab: the base layer changes, so all %d hosts are stopped and reset", len(existing))
        _wipe(paths, existing)
    build_base(paths)


def _wipe(paths: LabPaths, names: Sequence[str]) -> None:
    """Stop hosts and delete their directories (upper layer, host key, logs)."""
    hosts.stop_hosts(paths, names)
    for name in names:
        remove_tree(paths.host_dir(name))


def _start(paths: LabPaths, names: Sequence[str]) -> int:
    """Start hosts concurrently and wait until all accept connections; returns how many.

    On failure every host of this batch is stopped again before the error propagates.
    """
    if not names:
        return 0
    hosts.stop_hosts(paths, names)  # leftovers of a crash: stale mounts, a dead sshd
    try:
        with ThreadPoolExecutor(max_workers=min(START_WORKERS, len(names))) as pool:
            refs = list(pool.map(lambda n: _launch(paths, n), names))
        hosts.wait_ready(paths, dict(zip(names, refs, strict=True)))
    except BaseException:
        try:
            hosts.stop_hosts(paths, names)
        except SetupError as cleanup:
            log.warning("lab: cleaning up after a failed start: %s", cleanup)
        raise
    return len(names)


def _launch(paths: LabPaths, name: str) -> ProcRef:
    hosts.prepare(paths, name)
    return hosts.launch(paths, name)
