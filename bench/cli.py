"""``python -m bench``: run the side-by-side benchmark and write bench/RESULTS.md.

Example:
    python -m bench --hosts 1,5,20 --tools paracrine,pyinfra,ansible,ansible-mitogen
    python -m bench --workload fourop --hosts 1 --runs 1 --tools pyinfra
    python -m bench --workload demo --tools paracrine,pyinfra --runs 3
    python -m bench --workload server --tools paracrine,pyinfra,ansible-mitogen --scenarios noop
    python -m bench --report            # rewrite RESULTS.md from the last invocation's records
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import signal
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from bench import labenv, machine, report, server_assets, venvs, verify
from bench import tools as tools_module
from bench.config import (
    DEFAULT_HOSTS,
    DEFAULT_TIMEOUT,
    DEFAULT_TOOLS,
    RESULTS_JSONL,
    RESULTS_MD,
    SCENARIOS,
    TOOLS,
    WORKLOAD_SCENARIOS,
    WORKLOADS,
    Scenario,
    Tool,
    Workload,
)
from bench.runner import Recorder, Runner

log = logging.getLogger("bench")


def csv_of(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated list of names from ``allowed``."""

    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [item for item in items if item not in allowed]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"choose from {','.join(allowed)} (got {text!r})")
        return list(dict.fromkeys(items))

    return parse


def host_counts(text: str) -> list[int]:
    try:
        counts = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of host counts, e.g. 1,5,20 (got {text!r})") from None
    if not counts or any(not 1 <= c <= 200 for c in counts):
        raise argparse.ArgumentTypeError(f"host counts are 1 to 200 (got {text!r})")
    return sorted(set(counts))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument(
        "--tools", type=csv_of(TOOLS), default=list(DEFAULT_TOOLS),
        help=f"of {','.join(TOOLS)}; default: {','.join(DEFAULT_TOOLS)}",
    )  # fmt: skip
    p.add_argument(
        "--hosts",
        type=host_counts,
        default=None,
        help="host counts, e.g. 1,5,20 (default: standard and server 1,5,20; fourop 1,5,20,50; demo 3)",
    )
    p.add_argument("--scenarios", type=csv_of(SCENARIOS), default=list(SCENARIOS), help="default: first,noop,change")
    p.add_argument("--workload", choices=(*WORKLOADS, "all"), default="all", help="default: all")
    p.add_argument("--runs", type=int, default=3, help="runs per figure; the figure is their median (default 3)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per run before it is killed")
    p.add_argument("--results", type=Path, default=RESULTS_MD, help=f"where to write the table (default {RESULTS_MD})")
    p.add_argument("--keep-lab", action="store_true", help="leave the bench lab's hosts running at the end")
    p.add_argument(
        "--report",
        nargs="?",
        const="last",
        metavar="INVOCATION",
        help="only rewrite the results file from the records of an invocation (default: the last one;"
        " ID,ID... for several together)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.report:
        records = report.read_records(RESULTS_JSONL, None if args.report == "last" else args.report)
        if not records:
            log.error("bench: no records of that invocation in %s", RESULTS_JSONL)
            return 1
        report.write(args.results, records)
        log.info("bench: wrote %s", args.results)
        return 0
    if args.runs < 1:
        log.error("bench: --runs must be at least 1")
        return 2
    workloads = cast(list[Workload], list(WORKLOADS) if args.workload == "all" else [args.workload])
    return run(args, workloads, shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)]))


def run(args: argparse.Namespace, workloads: list[Workload], command: str) -> int:
    tools = cast(list[Tool], args.tools)
    scenarios = cast(list[Scenario], args.scenarios)
    labenv.use_bench_lab()
    for tool in tools:
        venvs.ensure_venv(tool)
    if "demo" in workloads:
        log.info("bench: building demo/wheelhouse (the demo app's wheel and its dependencies)")
        verify.build_demo_wheelhouse()
    with contextlib.ExitStack() as stack:
        if "server" in workloads:
            log.info("bench: building %s; serving its www/ on %s", server_assets.ASSETS, labenv.server_url())
            www = server_assets.build() / "www"
            stack.enter_context(server_assets.serving(www, labenv.server_http_port()))
        return run_matrix(args, workloads, tools, scenarios, command)


def run_matrix(
    args: argparse.Namespace, workloads: list[Workload], tools: list[Tool], scenarios: list[Scenario], command: str
) -> int:
    recorder = Recorder(time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6])
    hosts = labenv.up(1, fresh=False)
    recorder.write(
        "start",
        command=command,
        tools=tools,
        workloads=workloads,
        scenarios=scenarios,
        runs=args.runs,
        machine=machine.machine_facts(),
        versions=machine.tool_versions(tools),
        extra_versions={"paracrine commit": machine.git_revision()},
        target=f"Debian 12, {machine.target_python(Path(hosts[0].root))}, OpenSSH sshd",
    )
    log.info("bench: invocation %s; raw records in %s", recorder.invocation, RESULTS_JSONL)
    runner = Runner(recorder, runs=args.runs, timeout=args.timeout)
    interrupted = False
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` ends the run in progress like Ctrl-C does
    try:
        for workload in workloads:
            wanted = [s for s in scenarios if s in WORKLOAD_SCENARIOS[workload]]
            if not wanted:
                continue
            for count in args.hosts or DEFAULT_HOSTS[workload]:
                for tool in tools:
                    runner.run_cell(workload, count, tool, wanted)
    except KeyboardInterrupt:
        interrupted = True
        log.error("bench: interrupted; writing what has finished")
    finally:
        tools_module.stop_agents()
        recorder.write("end", load=machine.load(), interrupted=interrupted)
        report.write(args.results, report.read_records(RESULTS_JSONL, recorder.invocation))
        log.info("bench: wrote %s", args.results)
        if not args.keep_lab:
            labenv.down()
    return 130 if interrupted else 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
