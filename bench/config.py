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
DEMO_DIR: Final = BENCH_DIR.parent / "demo"

Tool = Literal["paracrine", "paracrine-agent", "pyinfra", "ansible", "ansible-mitogen"]
Workload = Literal["standard", "fourop", "demo", "server"]
Scenario = Literal["first", "noop", "change"]

TOOLS: Final[tuple[Tool, ...]] = ("paracrine", "paracrine-agent", "pyinfra", "ansible", "ansible-mitogen")
#: What ``--tools`` defaults to: ``paracrine-agent`` (runs handed to a ``paracrine agent`` that keeps the
#: hosts connected between runs) is measured when asked for.
DEFAULT_TOOLS: Final[tuple[Tool, ...]] = ("paracrine", "pyinfra", "ansible", "ansible-mitogen")
PEERS: Final[tuple[Tool, ...]] = ("pyinfra", "ansible", "ansible-mitogen")
WORKLOADS: Final[tuple[Workload, ...]] = ("standard", "fourop", "demo", "server")
SCENARIOS: Final[tuple[Scenario, ...]] = ("first", "noop", "change")

#: The scenarios each workload has. The four-operation workload of pyinfra-performance has a
#: "first" and a "second" run (here: noop) and nothing that could be changed by a revision; the
#: server workload (every operation of issue 11) is about the zero-change run.
WORKLOAD_SCENARIOS: Final[dict[Workload, tuple[Scenario, ...]]] = {
    "standard": ("first", "noop", "change"),
    "fourop": ("first", "noop"),
    "demo": ("first", "noop", "change"),
    "server": ("first", "noop"),
}

#: The tools that have a deploy of each workload: the demo has no Ansible playbook.
WORKLOAD_TOOLS: Final[dict[Workload, tuple[Tool, ...]]] = {
    "standard": TOOLS,
    "fourop": TOOLS,
    "demo": ("paracrine", "paracrine-agent", "pyinfra"),
    "server": TOOLS,
}

DEFAULT_HOSTS: Final[dict[Workload, tuple[int, ...]]] = {
    "standard": (1, 5, 20),
    "fourop": (1, 5, 20, 50),
    "demo": (3,),
    "server": (1, 5, 20),
}

#: Requirements of each tool's virtualenv (bench/.venvs/<tool>), pinned. See README "Versions".
#: Paracrine gets a clean virtualenv too (an editable install of this checkout), so that no tool
#: starts up in an environment crowded with unrelated packages.
PINS: Final[dict[Tool, tuple[str, ...]]] = {
    "paracrine": ("-e", str(BENCH_DIR.parent)),
    "paracrine-agent": ("-e", str(BENCH_DIR.parent)),  # the same virtualenv (bench.venvs.venv_dir)
    "pyinfra": ("pyinfra==3.10.0",),
    "ansible": ("ansible-core==2.19.14",),
    "ansible-mitogen": ("ansible-core==2.19.14", "mitogen==0.3.54"),
}

#: The bench lab lives beside the shared lab (``<lab dir>-bench``) on ports base+600+N.
LAB_SUFFIX: Final = "-bench"
LAB_PORT_OFFSET: Final = 600

#: The environment variable every tool's deploy reads for the revision of template #1.
REV_VAR: Final = "LAB_REV"
#: The demo's ports (nginx base+N, the app base+100+N, PostgreSQL base+200+N for host hNN): the
#: environment's DEMO_PORT_BASE, else the bench lab's port base minus this (the lab's service port
#: slot 1, see paracrine.lab.paths.service_port: clear of every lab's SSH ports).
DEMO_PORT_OFFSET: Final = 10000
#: The server workload's loopback HTTP server (the downloaded tool, the git repository) listens on
#: the demo's port base plus this; its PostgreSQL ports are the demo's (base+200+N).
SERVER_HTTP_OFFSET: Final = 400
DEFAULT_TIMEOUT: Final = 1800.0
