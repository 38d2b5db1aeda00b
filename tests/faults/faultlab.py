"""Helpers of the fault and bad-input tests: deploy files, CLI runs, and a hand on a lab host's processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import paracrine.lab as lab
from paracrine.lab import hosts as lab_hosts_module
from paracrine.lab.paths import lab_paths
from paracrine.testing import Invocation, invoke


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def on(host: Any, path: str) -> Path:
    """A path inside a lab host's root filesystem, seen from the controller."""
    return Path(host.root) / path.lstrip("/")


def run(site: Path, *args: str, inventory: str = "@lab/1") -> Invocation:
    """``paracrine SITE -i INVENTORY --state-dir <site dir>/state ARGS`` in this process."""
    return invoke([str(site), "-i", inventory, "--state-dir", str(site.parent / "state"), *args])


def cli() -> list[str]:
    """The ``paracrine`` console script of this environment (for runs in a process of their own)."""
    script = Path(sys.executable).with_name("paracrine")
    return [str(script)] if script.exists() else [shutil.which("paracrine") or "paracrine"]


def spawn(site: Path, *args: str, inventory: str = "@lab/1") -> subprocess.Popen[str]:
    """Start ``paracrine SITE ...`` in a process of its own (stdout and stderr captured)."""
    argv = [*cli(), str(site), "-i", inventory, "--state-dir", str(site.parent / "state"), *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def ssh(host: Any, *command: str) -> subprocess.CompletedProcess[str]:
    """Run a command as root on a lab host through the lab's ssh_config."""
    config = lab.lab_dir() / "state" / "ssh_config"
    argv = ["ssh", "-F", str(config), "-o", f"User={host.root_user}", host.name, *command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def host_pids(host: Any) -> list[int]:
    """Every process of a lab host (its own PID namespace), seen from the controller."""
    sshd = lab_hosts_module.recorded(lab_paths(), host.name).get("sshd")
    if sshd is None:
        return []
    try:
        namespace = os.readlink(f"/proc/{sshd.pid}/ns/pid")
    except OSError:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == namespace:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def host_commands(host: Any) -> list[str]:
    """The command lines of a lab host's processes."""
    lines = []
    for pid in host_pids(host):
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip())
        except OSError:
            continue
    return lines


def signal_host(host: Any, sig: int) -> None:
    """Send ``sig`` to every process of a lab host (SIGSTOP freezes the whole host)."""
    for pid in host_pids(host):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue


def thaw(host: Any) -> None:
    signal_host(host, signal.SIGCONT)
