"""What the benchmark knows without looking at anything: tools, workloads, scenarios, pins, paths."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

BENCH_DIR: Final = Path(__file__).resolve().parent
WORK_DIR: Final = BENCH_DIR / ".work"
VENVS_DIR: Final = BENCH_DIR / ".venvs"
RESULTS_JSONL: Final = WORK_DIR / "results.jsonl"
RESULTS_MD: Final = BENCH_DIR / "RESULTS.md"

WORKLOAD_DIR: Final = BENCH_DIR / "workload"
FOUROP_DIR: Final = BENCH_DIR / "fourop"
PEERS_DIR: Final = BENCH_DIR / "peers"
PARACRINE_DIR: Final = BENCH_DIR / "paracrine"

Tool = Literal["paracrine", "pyinfra", "ansible", "ansible-mitogen"]
Workload = Literal["standard", "fourop"]
Scenario = Literal["first", "noop", "change"]

TOOLS: Final[tuple[Tool, ...]] = ("paracrine", "pyinfra", "ansible", "ansible-mitogen")
PEERS: Final[tuple[Tool, ...]] = ("pyinfra", "ansible", "ansible-mitogen")
WORKLOADS: Final[tuple[Workload, ...]] = ("standard", "fourop")
SCENARIOS: Final[tuple[Scenario, ...]] = ("first", "noop", "change")

#: The scenarios each workload has. The four-operation workload of pyinfra-performance has a
#: "first" and a "second" run (here: noop) and nothing that could be changed by a revision.
WORKLOAD_SCENARIOS: Final[dict[Workload, tuple[Scenario, ...]]] = {
    "standard": ("first", "noop", "change"),
    "fourop": ("first", "noop"),
}

DEFAULT_HOSTS: Final[dict[Workload, tuple[int, ...]]] = {
    "standard": (1, 5, 20),
    "fourop": (1, 5, 20, 50),
}

#: Requirements of each tool's virtualenv (bench/.venvs/<tool>), pinned. See README "Versions".
#: Paracrine gets a clean virtualenv too (an editable install of this checkout), so that no tool
#: starts up in an environment crowded with unrelated packages.
PINS: Final[dict[Tool, tuple[str, ...]]] = {
    "paracrine": ("-e", str(BENCH_DIR.parent)),
    "pyinfra": ("pyinfra==3.10.0",),
    "ansible": ("ansible-core==2.19.14",),
    "ansible-mitogen": ("ansible-core==2.19.14", "mitogen==0.3.54"),
}

#: The bench lab lives beside the shared lab (``<lab dir>-bench``) on ports base+600+N.
LAB_SUFFIX: Final = "-bench"
LAB_PORT_OFFSET: Final = 600

#: The environment variable every tool's deploy reads for the revision of template #1.
REV_VAR: Final = "LAB_REV"
DEFAULT_TIMEOUT: Final = 1800.0
