"""Relays vs direct connections: what the controller holds (bench/NOTES.md, "Relays").

Runs a paracrine command line in a process of its own, several times, alternating a direct run
and one through ``--relays N``, and samples the controller process every 20 ms from /proc:
its open file descriptors, its threads, its ssh client children (count and RSS), and, at the
end, its peak RSS (VmHWM) and CPU; the whole tree's CPU (ssh clients included) comes from
``wait4``. Prints one JSON line per run and a table of medians.

    python -m bench.relays --runs 3 --relays 4 -- bench/paracrine/deploy.py -i @lab/200 --check

Lab hosts run on this machine, so wall time includes their sshd and interpreters' CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    """Children of every thread of ``pid`` (ssh clients are started from the connecting threads)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _pss(pid: int) -> int:
    """Proportional set size: shared pages (libraries, the ssh binary) divided among their users."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class Sampler(threading.Thread):
    """Peaks of one process: fds, threads, ssh children and their RSS; last VmHWM and CPU."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak = {"fds": 0, "threads": 0, "ssh": 0, "ssh_rss": 0, "ssh_pss": 0, "children_rss": 0}
        self._last_pss = 0.0
        self.hwm = 0
        self.cpu = 0.0

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(0.02)

    def sample(self) -> None:
        pid = self.pid
        try:
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            status = Path(f"/proc/{pid}/status").read_text()
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        self.hwm = max(self.hwm, int(fields.get("VmHWM", "0 kB").split()[0]) * 1024)
        threads = int(fields.get("Threads", "0"))
        self.cpu = (int(stat[11]) + int(stat[12])) / TICK  # utime + stime of the controller itself
        kids = _children(pid)
        ssh = [k for k in kids if _comm(k) == "ssh"]
        values = {
            "fds": fds,
            "threads": threads,
            "ssh": len(ssh),
            "ssh_rss": sum(_rss(k) for k in ssh),
            "children_rss": sum(_rss(k) for k in kids),
        }
        if time.monotonic() - self._last_pss > 0.5:  # smaps_rollup of every client: not every 20 ms
            self._last_pss = time.monotonic()
            values["ssh_pss"] = sum(_pss(k) for k in ssh)
        for key, value in values.items():
            self.peak[key] = max(self.peak[key], value)


def measure(argv: list[str]) -> dict[str, Any]:
    """Run ``argv`` once and return its figures."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(process.pid)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    stderr = process.stderr.read() if process.stderr else ""
    return {
        "exit": os.waitstatus_to_exitcode(status),
        "wall": round(wall, 2),
        "cpu_total": round(usage.ru_utime + usage.ru_stime, 2),  # the controller and its ssh clients
        "cpu_controller": round(sampler.cpu, 2),
        "peak_rss_mib": round(sampler.hwm / 2**20, 1),
        "peak_fds": sampler.peak["fds"],
        "peak_threads": sampler.peak["threads"],
        "peak_ssh_clients": sampler.peak["ssh"],
        "peak_ssh_rss_mib": round(sampler.peak["ssh_rss"] / 2**20, 1),
        "peak_ssh_pss_mib": round(sampler.peak["ssh_pss"] / 2**20, 1),
        "errors": sum(1 for line in stderr.splitlines() if line.startswith("error:")),
        "last_line": (stderr.strip().splitlines() or [""])[-1][-160:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--relays", type=int, default=4)
    parser.add_argument("--only", choices=["direct", "relays"], help="measure only one of the two")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then the paracrine arguments")
    options = parser.parse_args()
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    paracrine = str(Path(sys.executable).with_name("paracrine"))
    at = args.index("--") if "--" in args else len(args)  # `run ... -- COMMAND`: the option goes before `--`
    relayed = [*args[:at], "--relays", str(options.relays), *args[at:]]
    variants = {"direct": [paracrine, *args], "relays": [paracrine, *relayed]}
    if options.only:
        variants = {options.only: variants[options.only]}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for run in range(options.runs):
        for name, argv in variants.items():
            figures = measure(argv)
            results[name].append(figures)
            load = os.getloadavg()[0]
            print(json.dumps({"variant": name, "run": run + 1, "load1": round(load, 1), **figures}), flush=True)
    keys = ["wall", "cpu_total", "cpu_controller", "peak_rss_mib", "peak_fds", "peak_threads", "peak_ssh_clients"]
    keys += ["peak_ssh_rss_mib", "peak_ssh_pss_mib"]
    print("| variant | " + " | ".join(keys) + " |")
    print("| --- |" + " ---: |" * len(keys))
    for name, runs in results.items():
        medians = [statistics.median(r[k] for r in runs) for k in keys]
        print(f"| {name} | " + " | ".join(f"{m:g}" for m in medians) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
