"""The demo, end to end: what ``scripts/demo`` runs, and what tests/test_demo.py checks.

1. build the wheelhouse (the app and its pinned dependencies) on the controller;
2. start three lab hosts whose offline apt repository has PostgreSQL, nginx and python3-venv;
3. deploy demo/deploy.py and prove each host serves a page through nginx that shows data
   written to and read back from its PostgreSQL;
4. run again: every host in sync, one fact round trip and no apply round trip per host;
5. change one line of configuration (the greeting): exactly that change is applied, the
   app is restarted once, and the page shows the new greeting;
6. start ``paracrine agent`` (on a socket of the showcase's own) and run again: the hosts
   stay connected between runs, so a run that changes nothing costs only its fact round trip.

Run: ``python demo/showcase.py`` (scripts/demo does, after installing what is needed).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DEMO = Path(__file__).resolve().parent
WHEELHOUSE = DEMO / "wheelhouse"
PACKAGES = ["postgresql", "nginx-light", "python3-venv"]
HOSTS = ["h01", "h02", "h03"]
NEW_GREETING = "Hello again, after a one-line change"


@dataclass
class Report:
    """What the showcase measured and checked."""

    seconds: dict[str, float] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            raise SystemExit(f"demo: FAILED: {what}")
        self.checks.append(what)
        print(f"  ok: {what}", flush=True)


def paracrine() -> list[str]:
    script = Path(sys.executable).with_name("paracrine")
    return [str(script)] if script.exists() else [sys.executable, "-m", "paracrine"]


def build_wheelhouse(dest: Path = WHEELHOUSE) -> None:
    """The app's wheel and its pinned dependencies' wheels (downloaded once on the controller)."""
    dest.mkdir(exist_ok=True)
    pip = [sys.executable, "-m", "pip", "-q"]
    if not list(dest.glob("pg8000-*.whl")):
        requirements = str(DEMO / "app" / "requirements.txt")
        download = ["download", "--no-deps", "--only-binary=:all:", "-r", requirements, "-d", dest]
        subprocess.run([*pip, *download], check=True)
    for old in dest.glob("paracrine_demo_app-*.whl"):
        old.unlink()
    subprocess.run([*pip, "wheel", "--no-deps", "-w", dest, DEMO / "app"], check=True)


def deploy(*args: str, env: dict[str, str] | None = None, echo: bool = False) -> tuple[float, str]:
    """``paracrine demo/deploy.py ARGS``: seconds and standard output (standard error shown if ``echo``)."""
    started = time.monotonic()
    argv = [*paracrine(), str(DEMO / "deploy.py"), *args]
    proc = subprocess.run(
        argv, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=None if echo else subprocess.PIPE,
        text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"demo: `paracrine demo/deploy.py {' '.join(args)}` exited {proc.returncode}:\n{proc.stdout}")
    return time.monotonic() - started, proc.stdout


def web_port(host: str, base: int) -> int:
    return base + int(host.lstrip("h"))


def fetch(host: str, base: int) -> str:
    """The page of ``host`` through its nginx."""
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port(host, base)}/", timeout=10) as reply:
        return str(reply.read().decode())


def check_page(host: str, base: int, greeting: str) -> tuple[bool, str]:
    """Two requests to ``host`` through its nginx: whether the page names the host, shows ``greeting``
    and the visit the first request wrote to PostgreSQL is read back by the second; and what was checked."""
    first, second = fetch(host, base), fetch(host, base)
    found = [re.search(r"visit #(\d+) stored in PostgreSQL", page) for page in (first, second)]
    if found[0] is None or found[1] is None:
        return False, f"{host}: no visit stored in PostgreSQL on the page: {first[:300]!r}"
    visit_1, visit_2 = int(found[0].group(1)), int(found[1].group(1))
    ok = f"host {host}" in first and greeting in first and visit_2 == visit_1 + 1 and f"#{visit_1} at" in second
    what = f"{host}: nginx -> app -> PostgreSQL: visit #{visit_1} written, then read back by the next request"
    return ok, what if ok else f"{what}: not so (greeting {greeting!r} expected): {first[:300]!r}"


def check_pages(report: Report, base: int, greeting: str) -> None:
    for host in HOSTS:
        report.check(*check_page(host, base, greeting))


def restarts(lab_root: Path, host: str) -> int:
    log = lab_root / "hosts" / host / "root" / "var/log/demo-app/app.log"
    return log.read_text().count(" started pid ") if log.exists() else 0


def run(base: int, lab_root: Path, report: Report) -> Report:
    """Steps 3-6 against running lab hosts (the wheelhouse built, the inventory's port base ``base``)."""
    env = {"DEMO_PORT_BASE": str(base), "PARACRINE_AGENT": "off"}  # steps 3-5: each run on its own
    print("== first apply (the first time, installing packages takes a minute or two) ==", flush=True)
    report.seconds["first apply"], _ = deploy("-y", env=env, echo=True)
    check_pages(report, base, "Hello from Paracrine")
    print("== second run: nothing should change ==", flush=True)
    report.seconds["zero change"], out = deploy("-y", "--json", env=env)
    report.check(in_sync(out), "second run: every host in sync, 1 fact and 0 apply round trips per host")
    print("== a one-line configuration change: the greeting ==", flush=True)
    before = {h: restarts(lab_root, h) for h in HOSTS}
    report.seconds["one change"], out = deploy("-y", "--json", env={**env, "DEMO_GREETING": NEW_GREETING})
    doc = json.loads(out)
    hosts = doc["hosts"].items()
    changed = {(name, op["title"]) for name, h in hosts for op in h["operations"] if op["status"] == "change"}
    titles = ("files.template('/etc/demo-app/app.conf')", "systemd.service('demo-app')")
    expected = {(h, title) for h in HOSTS for title in titles}
    report.check(changed == expected, "the change applied exactly the config file and the app's restart on each host")
    report.check(all(restarts(lab_root, h) == before[h] + 1 for h in HOSTS), "the app was restarted once on each host")
    check_pages(report, base, NEW_GREETING)
    with_agent(report, {**env, "DEMO_GREETING": NEW_GREETING})
    return report


def in_sync(out: str) -> bool:
    """Whether a ``--json`` run's output says: every host in sync, 1 fact and 0 apply round trips per host."""
    doc = json.loads(out)
    return (
        all(row["changed"] == 0 and row["state"] == "done" for row in doc["summary"])
        and doc["round_trips"]["facts"] == 1
        and doc["round_trips"]["apply"] == 0
    )


def with_agent(report: Report, env: dict[str, str], runs: int = 3) -> None:
    """Step 6: zero-change runs handed to a ``paracrine agent``, which keeps the hosts connected between them."""
    print("== with `paracrine agent`: the hosts stay connected between runs ==", flush=True)
    with tempfile.TemporaryDirectory(prefix="paracrine-demo-agent-") as private:  # mode 0700
        env = {**env, "PARACRINE_AGENT": "on", "PARACRINE_AGENT_SOCKET": f"{private}/agent.sock"}

        def agent(*args: str) -> subprocess.CompletedProcess[str]:
            argv = [*paracrine(), "agent", *args]
            return subprocess.run(argv, env={**os.environ, **env}, check=False, capture_output=True, text=True)

        started = agent("start", "--idle", "300")
        if started.returncode != 0:
            raise SystemExit(f"demo: `paracrine agent start` exited {started.returncode}:\n{started.stderr}")
        try:
            deploy("-y", env=env)  # the agent connects the hosts
            seconds = []
            for _ in range(runs):
                elapsed, out = deploy("-y", "--json", env=env)
                seconds.append(elapsed)
                report.check(in_sync(out), "through the agent: every host in sync, 1 fact and 0 apply round trips")
            report.seconds["zero change, agent"] = statistics.median(seconds)
            status = agent("status").stdout
            kept = f"{len(HOSTS)} host(s) connected" in status
            report.check(kept, f"the agent kept the hosts connected: {status.strip()}")
        finally:
            agent("stop")


def main() -> int:
    import paracrine.lab as lab

    base = int(os.environ.get("DEMO_PORT_BASE", "18000"))
    report = Report()
    started = time.monotonic()
    print("== building the wheelhouse (the app and its dependencies, on this machine) ==", flush=True)
    build_wheelhouse()
    print(f"== starting 3 lab hosts with {', '.join(PACKAGES)} in their offline apt repository ==", flush=True)
    lab.up(3, packages=PACKAGES)
    run(base, lab.lab_dir(), report)
    print("\n== summary ==")
    for what, seconds in report.seconds.items():
        print(f"  {what:18} {seconds:6.2f} s (3 hosts)")
    print(f"  {len(report.checks)} checks passed in {time.monotonic() - started:.0f} s; pages: "
          + ", ".join(f"http://127.0.0.1:{web_port(h, base)}/" for h in HOSTS))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
