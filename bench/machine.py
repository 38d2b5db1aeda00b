"""Facts about the controller and the versions of every tool, for RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.config import BENCH_DIR, Tool
from bench.venvs import package_versions

#: Packages whose versions matter, per tool environment.
VERSION_PACKAGES: dict[Tool, list[str]] = {
    "paracrine": ["paracrine", "mitogen", "jinja2"],
    "paracrine-agent": ["paracrine", "mitogen", "jinja2"],
    "pyinfra": ["pyinfra", "paramiko", "gevent", "jinja2"],
    "ansible": ["ansible-core", "jinja2"],
    "ansible-mitogen": ["ansible-core", "mitogen", "jinja2"],
}


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "unknown"


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_facts() -> dict[str, Any]:
    """CPU model, cores, RAM, kernel, OS, OpenSSH, and the load average now."""
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    return {
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "ram_gib": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else None,
        "kernel": platform.release(),
        "os": _first("/etc/os-release", "PRETTY_NAME="),
        "openssh": ssh,
        "python": sys.version.split()[0],
        "load": load(),
    }


def tool_versions(tools: list[Tool]) -> dict[str, dict[str, str]]:
    """Versions of the tool and its key dependencies, per tool environment."""
    return {tool: package_versions(tool, VERSION_PACKAGES[tool]) for tool in tools}


def git_revision() -> str:
    """The commit of the repository the bench runs from (with ``-dirty`` if it has changes)."""
    root = BENCH_DIR.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty.stdout.strip() else "")


def target_python(host_root: Path) -> str:
    """The target's Python version, read from its root filesystem (``usr/lib/python3.N``)."""
    versions = sorted(p.name for p in (host_root / "usr" / "lib").glob("python3.*") if p.is_dir())
    return versions[-1] if versions else "unknown"
