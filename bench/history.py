"""Before/after numbers of Paracrine's own speed-ups: one zero-change run, at several commits.

    python -m bench.history --hosts 1,20 --runs 5 COMMIT...

Each commit is checked out into a temporary git worktree and run with that
worktree first on PYTHONPATH (the installed dependencies are shared), against
lab hosts that the current code converged on the standard workload first. Only
Paracrine is measured: wall time and controller CPU (user+sys of the CLI process
and its children) of the whole CLI process, median of --runs. The commits' runs
are interleaved (A B A B ...), so a change in the machine's load during the
invocation falls on every commit alike. Prints one Markdown table row per commit
(for RESULTS.md).

From the commit that made ``ssh_reuse`` the default on, every run after the first
finds the OpenSSH masters of the one before (a warm run); older commits make new
connections every time. ``python -m bench.warm`` compares cold and warm runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.venvs import compile_tree

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "bench" / "paracrine" / "deploy.py"


def run_once(tree: Path, hosts: int, state: Path) -> tuple[float, float]:
    """(wall, cpu) seconds of one zero-change run of the standard workload."""
    env = {**os.environ, "PYTHONPATH": str(tree), "LAB_REV": "0"}
    argv = [sys.executable, "-m", "paracrine", str(DEPLOY), "-i", f"@lab/{hosts}", "-y", "--state-dir", str(state)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=tree, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or "0 apply round trip" not in done.stderr:
        raise SystemExit(f"{tree.name}: not a zero-change run (exit {done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


@contextlib.contextmanager
def worktrees(commits: list[str], tmp: Path) -> Iterator[dict[str, Path]]:
    """One compiled, detached worktree per commit, removed afterwards."""
    trees: dict[str, Path] = {}
    try:
        for n, commit in enumerate(commits):
            tree = tmp / f"tree{n}"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True,
                           capture_output=True)  # fmt: skip
            trees[commit] = tree
            compile_tree(tree)
        yield trees
    finally:
        for tree in trees.values():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)


def measure(commits: list[str], hosts: list[int], runs: int) -> dict[str, dict[int, tuple[float, float]]]:
    """commit -> host count -> (median wall, median cpu), the commits' runs interleaved."""
    result: dict[str, dict[int, tuple[float, float]]] = {commit: {} for commit in commits}
    with tempfile.TemporaryDirectory(prefix="paracrine-history-") as tmp, worktrees(commits, Path(tmp)) as trees:
        for count in hosts:
            samples: dict[str, list[tuple[float, float]]] = {commit: [] for commit in commits}
            for commit, tree in trees.items():  # warm each fact cache, as a user's repeated runs would
                run_once(tree, count, Path(tmp) / f"state-{commit}-{count}")
            for _ in range(runs):
                for commit, tree in trees.items():
                    samples[commit].append(run_once(tree, count, Path(tmp) / f"state-{commit}-{count}"))
            for commit, got in samples.items():
                result[commit][count] = (statistics.median(w for w, _ in got), statistics.median(c for _, c in got))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commits", nargs="+")
    parser.add_argument("--hosts", default="1,20")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    hosts = [int(h) for h in args.hosts.split(",")]
    converge = [sys.executable, "-m", "paracrine", str(DEPLOY), "-i", f"@lab/{max(hosts)}", "-y"]
    subprocess.run(converge, env={**os.environ, "LAB_REV": "0"}, check=True, capture_output=True)
    numbers = measure(args.commits, hosts, args.runs)
    print("| commit | " + " | ".join(f"{h} host{'s' if h > 1 else ''} wall / CPU" for h in hosts) + " |")
    print("| --- | " + " | ".join("---" for _ in hosts) + " |")
    for commit in args.commits:
        subject = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %s", commit],
                                 capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        cells = (f"{numbers[commit][h][0]:.2f} / {numbers[commit][h][1]:.2f} s" for h in hosts)
        print(f"| {subject[:90]} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
