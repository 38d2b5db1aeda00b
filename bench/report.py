"""RESULTS.md from the records of one invocation (bench/.work/results.jsonl).

The file has a section per group of workloads (:data:`SECTIONS`): the standard and fourop tables,
then the demo's, then the server workload's. An invocation rewrites the sections of the workloads
it ran and keeps the others as they are in the file, so ``python -m bench --workload demo`` adds or
replaces the demo's tables without losing the others (and a later standard/fourop invocation keeps
the demo's). The hand-written NOTES.md follows them.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import RESULTS_JSONL, SCENARIOS, TOOLS, WORKLOAD_TOOLS, WORKLOADS, Workload

Record = dict[str, Any]
#: More than this share of a core used by other processes during a run makes the report say so.
BUSY_SHARE = 0.25
#: RESULTS.md's sections and the workloads each holds, in the file's order.
SECTIONS: dict[str, tuple[Workload, ...]] = {"main": ("standard", "fourop"), "demo": ("demo",), "server": ("server",)}
TITLES = {
    "main": "# Benchmark results",
    "demo": "# Demo workload: Paracrine's demo vs the same deploy in pyinfra",
    "server": "# Server workload: every operation of issue 11, Paracrine vs pyinfra and Ansible",
}
#: The first line of the demo's section (how :func:`write` finds it again).
DEMO_MARKER = "<!-- bench section: demo (rewritten by invocations that run the demo workload, kept by others) -->"
#: The first line of the server workload's section.
SERVER_MARKER = "<!-- bench section: server (rewritten by invocations that run the server workload, kept by others) -->"
MARKERS = {"demo": DEMO_MARKER, "server": SERVER_MARKER}
#: What the demo's section says about the workload, above its tables.
DEMO_INTRO = [
    "The demo (`demo/deploy.py`, run by Paracrine) and the same end state written for pyinfra",
    "(`bench/peers/pyinfra/demo_deploy.py`) on the same lab hosts: PostgreSQL with a role, a database and a",
    "table; the demo app in a virtualenv from the controller's wheelhouse, run by systemd; nginx in front;",
    "a cron job; a kernel setting. *first*: first apply on fresh hosts (installs the packages); *noop*:",
    "zero change; *change*: a one-line change (the greeting), applied with one restart of the app. Every",
    "run of both tools passed the same checks: the end state on each host's filesystem, demo/showcase.py's",
    "page check through nginx (a visit written to PostgreSQL and read back, the greeting shown), the app's",
    "restarts counted in its log (none in *noop*, exactly one in *change*), and the ctimes of every managed",
    "path (none may move in *noop*; only the app's config in *change*). See bench/README.md, \"The demo",
    'workload", for what differs between the two deploys.',
    "",
]
#: What the server workload's section says about it, above its tables.
SERVER_INTRO = [
    "One deploy that uses every operation of issue 11 that can run on a lab host (bench/paracrine/server.py),",
    "and the same end state with pyinfra's operations (bench/peers/pyinfra/server_deploy.py) and Ansible's",
    "builtin modules (bench/peers/ansible/server.yml): APT key, source, packages (a version, latest, purge,",
    "update with cache_valid_time) and a local .deb; a unit, a service and a timer; files.sync, a directory",
    "put, a download, a block, a replace, an archive; a git checkout; a virtualenv with a package from a local",
    "wheelhouse; crontab, sysctl, host name, time zone, locale, a tmpfs mount, a module kept unloaded, a user",
    "with authorized keys and a sudoers file; PostgreSQL's port, role, database and a table. *first*: first",
    "apply on fresh hosts; *noop*: zero change, the figure the issue asks for (≥ 10× pyinfra). Every run",
    "passed the same checks (bench/verify_server.py): the end state on each host's filesystem and in its",
    "namespaces; in *noop* no managed path's ctime moved and the worker service did not start again.",
    "",
]
#: The last line of every section.
FOOTER = "— means not run (or no Paracrine figure to compare with)."


def read_records(path: Path = RESULTS_JSONL, invocation: str | None = None) -> list[Record]:
    """The records of ``invocation`` (default: the last invocation in the file); ``A,B`` for the records
    of several invocations together (e.g. a cell that failed, run again on its own)."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if invocation is None:
        starts = [r["invocation"] for r in records if r["kind"] == "start"]
        if not starts:
            return []
        invocation = starts[-1]
    wanted = set(invocation.split(","))
    return [r for r in records if r["invocation"] in wanted]


def merged_start(records: list[Record]) -> Record:
    """The start record of the invocation(s) ``records`` come from: several are merged (their tools and
    workloads together, their commands and ids listed, the fewest runs per figure)."""
    starts = [r for r in records if r["kind"] == "start"]
    if len(starts) == 1:
        return starts[0]
    versions = {tool: v for start in starts for tool, v in start["versions"].items()}
    extra: dict[str, str] = {}
    for start in starts:
        for key, value in start.get("extra_versions", {}).items():
            if key not in extra:
                extra[key] = str(value)
            elif str(value) not in extra[key]:
                extra[key] += f", {value}"
    return {
        **starts[0],
        "command": "` then `".join(start["command"] for start in starts),
        "invocation": ", ".join(start["invocation"] for start in starts),
        "tools": [t for t in TOOLS if any(t in start["tools"] for start in starts)],
        "workloads": sorted({w for start in starts for w in start["workloads"]}),
        "runs": min(start["runs"] for start in starts),
        "versions": versions,
        "extra_versions": extra,
    }


@dataclass(frozen=True)
class Cell:
    """The runs of one tool in one row; ``failure`` set when any run did not converge."""

    runs: list[Record]
    failure: str | None

    def median(self, key: str) -> float | None:
        values = [r[key] for r in self.runs if r.get(key) is not None]
        if key == "target_cpu" and values and not any(values):
            return None  # no run costs its hosts nothing: not measured (an agent's open sessions, before 2026-12-01)
        return statistics.median(values) if values and self.failure is None else None


def cells(records: Iterable[Record]) -> dict[tuple[str, int, str, str], Cell]:
    """Runs grouped by (workload, hosts, scenario, tool); where records of several invocations are read
    together, a cell holds the runs of the last invocation that ran it (a cell run again replaces it)."""
    grouped: dict[tuple[str, int, str, str], list[Record]] = {}
    for r in records:
        if r["kind"] == "run":
            grouped.setdefault((r["workload"], r["hosts"], r["scenario"], r["tool"]), []).append(r)
    result = {}
    for key, runs in grouped.items():
        runs = [r for r in runs if r.get("invocation") == runs[-1].get("invocation")]
        failed = [r for r in runs if not r["ok"]]
        result[key] = Cell(runs, failed[0]["failure"] if failed else None)
    return result


def ratio(peer: float | None, paracrine: float | None) -> str:
    """Peer time / Paracrine time, e.g. ``12.3×``."""
    if peer is None or paracrine is None or paracrine <= 0:
        return "—"
    return f"{peer / paracrine:.1f}×"


def fmt(value: float | None, cell: Cell | None, scale: Callable[[float], str]) -> str:
    if cell is None:
        return "—"
    if cell.failure is not None:
        return "FAILED: " + cell.failure.replace("|", "\\|")
    return "—" if value is None else scale(value)


def seconds(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def mebibytes(value: float) -> str:
    return f"{value / 1024:.0f}"


def rows(table: dict[tuple[str, int, str, str], Cell]) -> list[tuple[str, int, str]]:
    keys = {(w, h, s) for (w, h, s, _) in table}
    order: dict[str, int] = {name: i for i, name in enumerate((*WORKLOADS, *SCENARIOS))}
    return sorted(keys, key=lambda k: (order[k[0]], k[1], order[k[2]]))


def metric_table(
    table: dict[tuple[str, int, str, str], Cell], tools: list[str], key: str, scale: Callable[[float], str]
) -> list[str]:
    lines = ["| workload | hosts | scenario | " + " | ".join(tools) + " |"]
    lines.append("|---|---:|---|" + "---:|" * len(tools))
    for w, h, s in rows(table):
        values = [fmt(table[w, h, s, t].median(key) if (w, h, s, t) in table else None, table.get((w, h, s, t)), scale)
                  for t in tools]  # fmt: skip
        lines.append(f"| {w} | {h} | {s} | " + " | ".join(values) + " |")
    return lines


def wall_table(table: dict[tuple[str, int, str, str], Cell], tools: list[str]) -> list[str]:
    ours = [t for t in ("paracrine", "paracrine-agent") if t in tools]
    ratios = [(p, o) for o in ours for p in tools if not p.startswith("paracrine")]  # the ratio columns
    header = ["workload", "hosts", "scenario", *tools, *(f"{p} ÷ {o}" for p, o in ratios)]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|---|" + "---:|" * (len(tools) + len(ratios))]
    for w, h, s in rows(table):
        medians = {t: table[w, h, s, t].median("wall") if (w, h, s, t) in table else None for t in tools}
        values = [fmt(medians[t], table.get((w, h, s, t)), seconds) for t in tools]
        values += [ratio(medians[p], medians[o]) for p, o in ratios]
        lines.append(f"| {w} | {h} | {s} | " + " | ".join(values) + " |")
    return lines


def versions_lines(versions: dict[str, dict[str, str]], extra: dict[str, Any]) -> list[str]:
    lines = []
    for tool, packages in versions.items():
        parts = ", ".join(f"{name} {version}" for name, version in packages.items() if name != "python")
        lines.append(f"* **{tool}**: {parts} (controller Python {packages.get('python', '?')})")
    lines += [f"* **{key}**: {value}" for key, value in extra.items()]
    return lines


def section_records(records: list[Record], section: str) -> list[Record]:
    """The records of ``section``: the runs of its workloads, and the invocation's other records."""
    return [r for r in records if "workload" not in r or r["workload"] in SECTIONS[section]]


def render(records: list[Record], section: str = "main") -> str:
    """One section of RESULTS.md from the records of an invocation."""
    start = merged_start(records)
    end = max((r for r in records if r["kind"] == "end"), key=lambda r: float(r["time"]), default=None)
    records = section_records(records, section)
    table = cells(records)
    tools: list[str] = [
        t for t in TOOLS if t in start["tools"] and any(t in WORKLOAD_TOOLS[w] for w in SECTIONS[section])
    ]
    m = start["machine"]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(start["time"]))
    finished = time.strftime("%H:%M UTC", time.gmtime(end["time"])) if end else "(did not finish)"
    out = [
        *([MARKERS[section]] if section in MARKERS else []),
        TITLES[section],
        "",
        f"Generated by `{start['command']}` on {when}, finished {finished}"
        f" (invocation `{start['invocation']}`, {start['runs']} run(s) per figure).",
        "See bench/README.md for what is measured and how the peers are kept faithful.",
        "",
        *({"demo": DEMO_INTRO, "server": SERVER_INTRO}.get(section, [])),
    ]
    if start["runs"] < 3:
        out += [f"**Only {start['runs']} run(s) per figure: a smoke test, not a result** (the issue asks for ≥ 3).", ""]
    busy = interference(records)
    if busy > BUSY_SHARE:
        out += [
            f"**The machine was busy: other processes used up to {busy:.0%} of a core during some runs"
            " (see `other_cpu` in results.jsonl); those figures are noisy. Rerun on a quiet machine.**",
            "",
        ]
    if end and end.get("interrupted"):
        out += ["**The invocation was interrupted; the tables hold what had finished.**", ""]
    out += [
        "## Machine",
        "",
        f"* CPU: {m['cpu_model']}, {m['cores']} cores; RAM {m['ram_gib']} GiB; kernel {m['kernel']}; {m['os']}",
        f"* {m['openssh']}; controller Python {m['python']}; targets: lab hosts on 127.0.0.1 ({start['target']})",
        f"* Load average (1/5/15 min) at start {m['load']}, at end {end['load'] if end else '?'}",
        *load_lines(records),
        "",
        "## Versions",
        "",
        *versions_lines(start["versions"], start.get("extra_versions", {})),
        "",
        "## Wall time (median, seconds) and Paracrine's ratio (peer time ÷ Paracrine time)",
        "",
        *wall_table(table, tools),
        "",
        "## Controller CPU (median, seconds: user+sys of the tool and every process it started)",
        "",
        *metric_table(table, tools, "cpu", seconds),
        "",
        "## Peak RSS (median, MiB: the largest single process of the run)",
        "",
        *metric_table(table, tools, "maxrss_kb", mebibytes),
        "",
        "## Targets' CPU (median, seconds, all hosts together)",
        "",
        *metric_table(table, tools, "target_cpu", seconds),
        "",
        "A cell reads FAILED when any run of it did not exit 0 or did not verify: such a tool gets no time.",
        *(AGENT_NOTE if "paracrine-agent" in tools else []),
        FOOTER,
        "",
    ]
    return "\n".join(out)


def load_lines(records: Iterable[Record]) -> list[str]:
    """The 1-minute load average at the start of the measured runs (each run records it)."""
    loads = sorted(r["load1"] for r in records if r["kind"] == "run" and r.get("load1") is not None)
    if not loads:
        return []
    median = statistics.median(loads)
    return [f"* Load average (1 min) at the start of the {len(loads)} runs: {loads[0]:.2f} to {loads[-1]:.2f}"
            f" (median {median:.2f})"]  # fmt: skip


def split_sections(text: str) -> dict[str, str]:
    """The sections of an existing RESULTS.md (each up to and including its :data:`FOOTER` line; the demo's
    and the server workload's start with their markers)."""
    sections: dict[str, str] = {}
    first_end = text.find(FOOTER)
    if first_end >= 0 and not any(marker in text[:first_end] for marker in MARKERS.values()):
        sections["main"] = text[: first_end + len(FOOTER)] + "\n"
    for section, marker in MARKERS.items():
        start = text.find(marker)
        end = text.find(FOOTER, start) if start >= 0 else -1
        if end >= 0:
            sections[section] = text[start : end + len(FOOTER)] + "\n"
    return sections


AGENT_NOTE = [
    "`paracrine-agent`: the same runs handed to a `paracrine agent` that keeps the hosts connected",
    "between runs (started before the cell, untimed); its controller CPU is the client's only, the",
    "agent's own is in `other_cpu` of results.jsonl (bench/README.md).",
]


def interference(records: Iterable[Record]) -> float:
    """The largest share of a core that other processes used during a run (``other_cpu / wall``).

    Not of ``paracrine-agent`` runs: there the agent's own work is "other" (bench/README.md).
    """
    shares = [
        r["other_cpu"] / r["wall"]
        for r in records
        if r["kind"] == "run" and r.get("other_cpu") and r["wall"] and r.get("tool") != "paracrine-agent"
    ]
    return max(shares, default=0.0)


def write(path: Path, records: list[Record]) -> None:
    """The sections of the workloads the invocation ran, the file's other sections as they were, then the
    hand-written ``NOTES.md`` beside it (improvements, scale, analysis)."""
    start = merged_start(records)
    sections = split_sections(path.read_text()) if path.is_file() else {}
    for section, workloads in SECTIONS.items():
        if set(start["workloads"]) & set(workloads):
            sections[section] = render(records, section)
    notes = path.with_name("NOTES.md")
    extra = "\n" + notes.read_text() if notes.is_file() else ""
    path.write_text("\n".join(sections[s] for s in SECTIONS if s in sections) + extra)
