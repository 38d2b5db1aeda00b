"""Run one command and report what it cost: ``python -I -S wrap.py RESULT.json LOG TIMEOUT -- ARGV...``.

This tiny process exists so that every measured run has a fresh ``RUSAGE_CHILDREN``:

* it makes itself a *child subreaper*, so processes the tool leaves behind (Ansible's
  ``ControlPersist`` ssh masters daemonise themselves) are re-parented to it instead of to PID 1;
* wall time runs from just before the fork to the moment the tool's own process exits;
* then it ends the leftovers (SIGTERM, by PID, only its own descendants), reaps everything, and reads
  ``getrusage(RUSAGE_CHILDREN)``: user+sys CPU of the tool *and* every process it started, and the
  peak RSS of the largest of them (``ru_maxrss`` is a maximum over processes, not a sum).

Standard library only, no ``site`` import (it must start fast and must not depend on any venv).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
LEFTOVER_GRACE = 5.0


def set_subreaper() -> bool:
    """Become a child subreaper (Linux); False when the kernel refuses."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def children_of(pid: int) -> list[tuple[int, str]]:
    """Live processes whose parent is ``pid``: ``(pid, command name)``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid and fields[0] != "Z":
            found.append((int(entry), name))
    return found


def spawn(argv: list[str], log_path: str) -> int:
    """Fork and exec ``argv`` with stdout and stderr appended to ``log_path``; stdin is /dev/null."""
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null_fd = os.open(os.devnull, os.O_RDONLY)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.dup2(null_fd, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.close(log_fd)
    os.close(null_fd)
    return pid


def wait_main(pid: int, timeout: float) -> tuple[int, bool]:
    """Wait for the tool's process; returns (exit code, timed out). On timeout it is killed."""
    timed_out = False

    def on_alarm(signum: int, frame: object) -> None:
        nonlocal timed_out
        timed_out = True
        os.kill(pid, signal.SIGKILL)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        _, status = os.waitpid(pid, 0)  # retried after the handler ran (PEP 475)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return os.waitstatus_to_exitcode(status), timed_out


def end_leftovers() -> list[str]:
    """SIGTERM every remaining child (re-parented leftovers), then SIGKILL after a grace; reap all.

    Returns only when no child is left, not even a zombie: a leftover that exits between the reaping
    and the listing of live children is reaped on the next round, so that its CPU time is counted in
    ``RUSAGE_CHILDREN``. (As a subreaper, no child means no descendant: orphans come to this process.)
    """
    me = os.getpid()
    names: list[str] = []
    deadline = time.monotonic() + LEFTOVER_GRACE
    signalled: set[int] = set()
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:  # reap whatever has exited
                pass
        except ChildProcessError:  # no child at all, alive or zombie
            return names
        sig = signal.SIGKILL if time.monotonic() > deadline else signal.SIGTERM
        for pid, name in children_of(me):
            if pid not in signalled or sig == signal.SIGKILL:
                if pid not in signalled:
                    names.append(name)
                signalled.add(pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        time.sleep(0.01)


def main(args: list[str]) -> int:
    result_path, log_path, timeout = args[0], args[1], float(args[2])
    argv = args[4:] if args[3] == "--" else args[3:]
    subreaper = set_subreaper()
    # Ctrl-C reaches the tool (same process group) and ends it; this process stays to report and
    # clean up. A handler, not SIG_IGN, so that the tool does not inherit "ignored".
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    started = time.perf_counter()
    pid = spawn(argv, log_path)
    # The bench was told to stop (SIGTERM, see measure.py): interrupt the tool as Ctrl-C would.
    signal.signal(signal.SIGTERM, lambda signum, frame: os.kill(pid, signal.SIGINT))
    code, timed_out = wait_main(pid, timeout)
    wall = time.perf_counter() - started
    leftovers = end_leftovers()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "wall": wall,
        "cpu_user": usage.ru_utime,
        "cpu_sys": usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss,
        "exit_code": code,
        "timed_out": timed_out,
        "subreaper": subreaper,
        "leftovers": leftovers,
    }
    with open(result_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
