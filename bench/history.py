"""Before/after numbers of Paracrine's own speed-ups: one zero-change run, at several commits.

    python -m bench.history --hosts 1,20 --runs 5 COMMIT...

Each commit is checked out into a temporary git worktree and run with that
worktree first on PYTHONPATH (the installed dependencies are shared), against
lab hosts that the current code converged on the standard workload first. Only
Paracrine is measured, wall time of the whole CLI process, median of --runs.
Prints one Markdown table row per commit (for RESULTS.md).

From the commit that made ``ssh_reuse`` the default on, every run after the first
finds the OpenSSH masters of the one before (a warm run); older commits make new
connections every time. ``python -m bench.warm`` compares cold and warm runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.venvs import compile_tree

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "bench" / "paracrine" / "deploy.py"


def run_once(tree: Path, hosts: int, state: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "LAB_REV": "0"}
    argv = [sys.executable, "-m", "paracrine", str(DEPLOY), "-i", f"@lab/{hosts}", "-y", "--state-dir", str(state)]
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=tree, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0 or "0 apply round trip" not in done.stderr:
        raise SystemExit(f"{tree.name}: not a zero-change run (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return wall


def measure(commit: str, hosts: list[int], runs: int) -> dict[int, float]:
    with tempfile.TemporaryDirectory(prefix="paracrine-history-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True,
                       capture_output=True)  # fmt: skip
        compile_tree(tree)
        try:
            result = {}
            for count in hosts:
                state = Path(tmp) / f"state-{count}"
                run_once(tree, count, state)  # warm the fact cache, as a user's repeated runs would
                result[count] = statistics.median(run_once(tree, count, state) for _ in range(runs))
            return result
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commits", nargs="+")
    parser.add_argument("--hosts", default="1,20")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    hosts = [int(h) for h in args.hosts.split(",")]
    converge = [sys.executable, "-m", "paracrine", str(DEPLOY), "-i", f"@lab/{max(hosts)}", "-y"]
    subprocess.run(converge, env={**os.environ, "LAB_REV": "0"}, check=True, capture_output=True)
    print("| commit | " + " | ".join(f"{h} host{'s' if h > 1 else ''}" for h in hosts) + " |")
    print("| --- | " + " | ".join("---" for _ in hosts) + " |")
    for commit in args.commits:
        subject = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s", commit],
                                 capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        numbers = measure(commit, hosts, args.runs)
        print(f"| {subject[:90]} | " + " | ".join(f"{numbers[h]:.2f} s" for h in hosts) + " |", flush=True)


if __name__ == "__main__":
    main()
