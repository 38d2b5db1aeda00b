"""Measure one run of a tool's CLI: wall time, controller CPU, peak RSS, and the targets' CPU.

The tool runs under ``bench/wrap.py`` (a fresh process per run, so its ``RUSAGE_CHILDREN`` is this
run's alone). The targets' CPU is the growth of ``utime+stime+cutime+cstime`` of each lab host's
sshd, which is PID 1 of the host's namespaces and reaps every session; it is read after the
sessions have been reaped (at most ``SETTLE`` seconds).

``other_cpu`` is what the rest of the machine used in the same window: all busy CPU time of the
machine (``/proc/stat``) minus the tool's and the targets' CPU. It is the sign of outside
interference (other jobs on a shared machine); near zero on a quiet one.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.labenv import CLK_TCK, targets_cpu
from bench.tools import Command

WRAPPER = Path(__file__).resolve().parent / "wrap.py"
SETTLE = 3.0
INTERRUPT_GRACE = 30.0


@dataclass(frozen=True)
class Measurement:
    """What one run cost. CPU in seconds (user+sys), ``maxrss_kb`` the largest process of the run."""

    wall: float
    cpu: float
    maxrss_kb: int
    exit_code: int
    timed_out: bool
    target_cpu: float | None
    other_cpu: float | None = None
    leftovers: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def run_measured(command: Command, log: Path, result: Path, timeout: float, sshd: dict[str, int]) -> Measurement:
    """Run ``command`` under the wrapper; its output goes to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        f.write(f"$ {' '.join(command.argv)}\n")
    argv = [sys.executable, "-I", "-S", str(WRAPPER), str(result), str(log), str(timeout), "--", *command.argv]
    before = targets_cpu(sshd, settle=SETTLE) if sshd else None
    busy_before = machine_busy()
    try:
        wrapper = subprocess.Popen(argv, env=command.env, cwd=command.cwd)
        try:
            code = wrapper.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the tool too; SIGTERM (see cli.py) did not: pass it on
            if wrapper.poll() is None:
                wrapper.send_signal(signal.SIGTERM)
            wrapper.wait(timeout=INTERRUPT_GRACE)
            raise
        if code != 0:
            raise subprocess.CalledProcessError(code, argv)
    finally:
        for path in command.cleanup:
            shutil.rmtree(path, ignore_errors=True)
    after = targets_cpu(sshd, settle=SETTLE) if sshd else None
    busy = machine_busy() - busy_before
    data = json.loads(result.read_text())
    cpu = data["cpu_user"] + data["cpu_sys"]
    target_cpu = None if before is None or after is None else after - before
    return Measurement(
        wall=data["wall"],
        cpu=cpu,
        maxrss_kb=int(data["maxrss_kb"]),
        exit_code=int(data["exit_code"]),
        timed_out=bool(data["timed_out"]),
        target_cpu=target_cpu,
        other_cpu=None if target_cpu is None else max(0.0, busy - cpu - target_cpu),
        leftovers=list(data["leftovers"]),
    )


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLK_TCK
