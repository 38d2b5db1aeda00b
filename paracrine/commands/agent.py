"""``paracrine agent start|stop|status``: the process that keeps hosts connected between runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import click

from paracrine import report
from paracrine.agent import IDLE_SECONDS, socket_dir
from paracrine.agent_client import ask, socket_path
from paracrine.cli import debug_option
from paracrine.errors import ExitCode, SetupError

#: Seconds ``start`` waits for a new agent to answer.
START_TIMEOUT = 15.0


@click.group("agent")
def agent() -> None:
    """Keep hosts connected between runs (start, stop, status).

    While an agent runs, `paracrine DEPLOY.py` (and `op`, `run`, `facts`) hands each run to it:
    the run is the same (output, prompts, exit code), but the hosts' interpreters stay
    up for the next run, so a run that changes nothing costs one round trip per host. It ends
    after --idle seconds without a run, on `paracrine agent stop` and on
    `paracrine disconnect`. PARACRINE_AGENT=off runs without it.

    \b
      paracrine agent start
      paracrine deploy.py          # handed to the agent
      paracrine agent stop
    """


@agent.command("start")
@click.option(
    "--idle",
    type=click.FloatRange(1),
    default=IDLE_SECONDS,
    show_default=True,
    help="Exit after this many idle seconds.",
)
@click.option("--foreground", is_flag=True, help="Stay in the foreground, logging to standard error.")
@debug_option
def start(idle: float, foreground: bool) -> int:
    """Start an agent for this user (its socket: ~/.cache/paracrine/agent/agent.sock).

    Exit codes: 0 started or already running; 4 it could not start (the socket's directory is not private...).
    """
    path = socket_path()
    running = ask({"ping": True}, path)
    if running is not None:
        report.echo(f"an agent is already running (pid {running['pid']}, {path})")
        return int(ExitCode.OK)
    argv = [sys.executable, "-m", "paracrine.agent", "--idle", str(idle)]
    if foreground:
        os.execv(sys.executable, argv)
    socket_dir(path)
    log_path = path.with_name("agent.log")
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True, cwd="/"
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        answer = ask({"ping": True}, path)
        if answer is not None:
            report.echo(f"agent running (pid {answer['pid']}, {path}); it exits after {idle:g} s without a run")
            return int(ExitCode.OK)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] if log_path.exists() else []
    raise SetupError(f"the agent did not start: {tail[0] if tail else 'no answer'}", hint=f"see {log_path}")


@agent.command("stop")
@debug_option
def stop() -> int:
    """Stop this user's agent: it closes every connection it keeps (exit code 0 also when none ran)."""
    report.echo("agent stopped" if stop_agent() else "no agent was running")
    return int(ExitCode.OK)


def stop_agent(timeout: float = 30.0) -> bool:
    """Ask the agent to stop and wait until it has closed its connections; False if none ran.

    Its run, if one is in it, is interrupted. The agent removes its socket last.
    """
    path = socket_path()
    if ask({"stop": True}, path) is None:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and os.path.lexists(path):
        time.sleep(0.05)
    return True


@agent.command("status")
@debug_option
def status() -> int:
    """Whether an agent runs, and what it keeps (exit code 0 running, 1 not running)."""
    answer = ask({"ping": True})
    if answer is None:
        report.echo(f"no agent is running ({socket_path()})")
        return int(ExitCode.FAILED)
    since = time.time() - float(answer["since"])
    state = "in a run" if answer["busy"] else "idle"
    report.echo(
        f"agent pid {answer['pid']} ({answer['socket']}), up {since:.0f} s, {state}: "
        f"{answer['hosts']} host(s) connected in {answer['sessions']} session(s); exits after {answer['idle']:g} s idle"
    )
    return int(ExitCode.OK)
