"""One lab host: its mounts, its identity, its sshd, and stopping it.

A host ``hNN`` is an overlayfs root (lower: the shared base, upper: the host's own
changes) with /dev, /dev/pts, /dev/shm, /run and the offline apt repository
(/srv/lab-apt, read-only) mounted in, and a real sshd
chrooted into it. The sshd is PID 1 of its own PID, UTS and mount namespaces
(so ``hostname`` says hNN and killing it ends every process of the host); the
network namespace is shared, so hosts are told apart by their port.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from paracrine.atomic import write_atomic
from paracrine.errors import SetupError
from paracrine.lab import procs
from paracrine.lab.image import write_file
from paracrine.lab.mounts import (
    MS_BIND,
    MS_NODEV,
    MS_NOSUID,
    MS_PRIVATE,
    MS_SLAVE,
    bind_readonly,
    mount,
    mounts_under,
    unmount_tree,
)
from paracrine.lab.paths import ADDRESS, APT_REPO_IN_HOST, LabPaths, host_index, host_port
from paracrine.lab.procs import ProcRef
from paracrine.lab.tools import run

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
#: The environment of a host's sshd: nothing of the caller's (PYTHONPATH, virtualenvs) leaks in.
HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

#: unshare processes started by this Python process, so that it can reap them.
_children: dict[int, subprocess.Popen[bytes]] = {}


def existing_hosts(paths: LabPaths) -> list[str]:
    """Names of the hosts that have a directory (running or not), in numeric order."""
    if not paths.hosts.is_dir():
        return []
    names = []
    for entry in paths.hosts.iterdir():
        try:
            names.append((host_index(entry.name), entry.name))
        except SetupError:
            continue
    return [name for _, name in sorted(names)]


def recorded(paths: LabPaths, name: str) -> dict[str, ProcRef]:
    """The processes recorded for host ``name``: keys ``unshare`` and ``sshd``."""
    try:
        data = json.loads((paths.host_dir(name) / "pids.json").read_text())
    except (OSError, ValueError):
        return {}
    return {role: ProcRef(int(ref["pid"]), int(ref["start"])) for role, ref in data.items()}


def _record(paths: LabPaths, name: str, refs: Mapping[str, ProcRef]) -> None:
    data = {role: {"pid": ref.pid, "start": ref.start} for role, ref in refs.items()}
    write_atomic(paths.host_dir(name) / "pids.json", json.dumps(data).encode(), 0o644, durable=True)


def running_sshd(paths: LabPaths, name: str) -> ProcRef | None:
    """The host's sshd (its PID 1) if it is running."""
    ref = recorded(paths, name).get("sshd")
    return ref if ref is not None and procs.is_alive(ref) else None


def prepare(paths: LabPaths, name: str) -> None:
    """Mount the host's root filesystem and give it its identity (idempotent)."""
    hdir, root = paths.host_dir(name), paths.host_root(name)
    for sub in ("upper", "work", "root"):
        (hdir / sub).mkdir(parents=True, exist_ok=True)
    mounted = set(mounts_under(root))
    if str(root) not in mounted:
        options = f"lowerdir={paths.base},upperdir={hdir / 'upper'},workdir={hdir / 'work'}"
        mount(f"lab-{name}", root, "overlay", 0, options)
        mount(None, root, None, MS_PRIVATE)
    # Slave binds: nothing mounted below them can propagate back to the real /dev.
    for source in ("/dev", "/dev/pts"):
        target = root / source.lstrip("/")
        if str(target) not in mounted:
            target.mkdir(exist_ok=True)
            mount(source, target, None, MS_BIND)
            mount(None, target, None, MS_SLAVE)
    for rel, options in (("dev/shm", "size=64m,mode=1777"), ("run", "size=64m,mode=755")):
        if str(root / rel) not in mounted:
            (root / rel).mkdir(exist_ok=True)
            mount(f"lab-{name}-{rel.replace('/', '-')}", root / rel, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for rel in ("run/sshd", "run/lock"):
        (root / rel).mkdir(mode=0o755, exist_ok=True)
    repo = root / APT_REPO_IN_HOST.lstrip("/")
    if str(repo) not in mounted:
        repo.mkdir(parents=True, exist_ok=True)
        bind_readonly(paths.apt_repo.resolve(), repo)
    _set_identity(hdir, name)


def _set_identity(hdir: Path, name: str) -> None:
    """Give a new host its hostname, /etc/hosts and a host key of its own.

    Done once per host state: the files live in the upper layer, so a later
    change (a deploy editing /etc/hosts) survives stop and start.
    """
    root, upper = hdir / "root", hdir / "upper"
    if not (upper / "etc/hostname").is_file():
        write_file(root / "etc/hostname", f"{name}\n", 0o644)
    if not (upper / "etc/hosts").is_file():
        hosts = f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        write_file(root / "etc/hosts", hosts, 0o644)
    key = root / HOST_KEY
    pub = key.with_name(key.name + ".pub")
    if not (key.is_file() and pub.is_file()):
        key.unlink(missing_ok=True)
        pub.unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key], what=f"{name}: ssh-keygen")


def port_in_use(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection((ADDRESS, port), timeout=0.5):
            return True
    except OSError:
        return False


def launch(paths: LabPaths, name: str) -> ProcRef:
    """Start the host's sshd in new namespaces, in the background; see :func:`wait_ready`.

    Returns:
        The ``unshare`` process (the parent of the host's PID 1).

    Raises:
        SetupError: the host's port is taken by something that is not this host.
    """
    root, port = paths.host_root(name), host_port(name)
    if port_in_use(port):
        raise SetupError(
            f"{name}: port {port} is already in use by another program", hint="free it or set PARACRINE_LAB_PORT_BASE"
        )
    sshd = f"/usr/sbin/sshd -D -p {port} -E /var/log/sshd.log"
    script = f"hostname {shlex.quote(name)} && exec chroot {shlex.quote(str(root))} {sshd}"
    argv = ["unshare", "--uts", "--pid", "--fork", "--mount", "--propagation", "private"]
    argv += [f"--mount-proc={root}/proc", "--", "sh", "-c", script]
    with open(paths.host_dir(name) / "console.log", "ab") as console:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
            env=HOST_ENV,
        )
    _children[proc.pid] = proc
    ref = procs.proc_ref(proc.pid) or ProcRef(proc.pid, -1)
    _record(paths, name, {"unshare": ref})
    return ref


def wait_ready(paths: LabPaths, launched: Mapping[str, ProcRef], timeout: float = START_TIMEOUT) -> None:
    """Record each launched host's sshd and wait until all of them accept TCP connections.

    Raises:
        SetupError: a host's sshd exited, or its port did not open before the deadline.
    """
    pending = dict(launched)
    found: dict[str, ProcRef] = {}
    deadline = time.monotonic() + timeout
    while pending:
        for name, unshare in list(pending.items()):
            _reap(unshare.pid)
            sshd = found.get(name) or _first_child(unshare)
            if sshd is None:
                if not procs.is_alive(unshare):
                    raise _start_error(paths, name, "failed to start")
                continue
            if name not in found:
                found[name] = sshd
                _record(paths, name, {"unshare": unshare, "sshd": sshd})
            if port_in_use(host_port(name)):
                del pending[name]
            elif not procs.is_alive(sshd):
                raise _start_error(paths, name, "sshd exited")
        if pending and time.monotonic() > deadline:
            name = next(iter(pending))
            raise _start_error(paths, name, f"port {host_port(name)} not listening after {timeout:.0f} s")
        if pending:
            time.sleep(0.02)


def _first_child(unshare: ProcRef) -> ProcRef | None:
    kids = procs.children(unshare.pid) if procs.is_alive(unshare) else []
    return procs.proc_ref(kids[0]) if kids else None


def _start_error(paths: LabPaths, name: str, what: str) -> SetupError:
    logs = f"{paths.host_dir(name) / 'console.log'} and {paths.host_root(name)}/var/log/sshd.log"
    return SetupError(f"{name}: {what}", hint=f"see {logs}")


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is an unshare this process started and it has ended."""
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]


def stop_hosts(paths: LabPaths, names: Iterable[str]) -> None:
    """Stop hosts: SIGKILL each host's PID 1 (the kernel ends the rest), then unmount its tree.

    Only processes the lab recorded are signalled. Per-host state (the upper layer) is kept.

    Raises:
        SetupError: a recorded process did not end within STOP_TIMEOUT.
    """
    names = list(names)
    waiting: list[ProcRef] = []
    for name in names:
        refs = recorded(paths, name)
        sshd, unshare = refs.get("sshd"), refs.get("unshare")
        if sshd is None and unshare is not None:  # interrupted between launch and wait_ready
            sshd = _first_child(unshare)
        if sshd is not None:
            procs.kill(sshd)
        waiting += [r for r in (sshd, unshare) if r is not None]
    left = procs.wait_gone(waiting, STOP_TIMEOUT, reap=_reap)
    if left:
        raise SetupError(f"processes {', '.join(str(r.pid) for r in left)} did not end after SIGKILL")
    for name in names:
        unmount_tree(paths.host_root(name))
        (paths.host_dir(name) / "pids.json").unlink(missing_ok=True)
