"""The controller's own limits that grow with the number of hosts: open files.

Every host reached directly holds a few file descriptors on the controller for the
whole run (its ssh client's pipes and Mitogen's stream: about 4, measured 92 for 20
hosts), so a large inventory meets ``ulimit -n`` (1024 by default) at a few hundred
hosts. Running into it half way through connecting fails in the middle of Mitogen's
I/O; instead :func:`ensure_open_files` raises the soft limit up to the hard one
before connecting, as much as the run needs, and when even the hard limit is too
low stops the run before anything is connected, in one line that says what to do.
Hosts behind a relay (``via``) cost the controller nothing: their streams go
through the relay's connection.
"""

from __future__ import annotations

import resource

from paracrine.errors import SetupError

#: File descriptors a directly connected host holds on the controller (measured about 4).
PER_HOST = 5
#: What the controller's Python, Mitogen's broker, the fact cache and the output use besides.
RESERVE = 64


def open_files_needed(connections: int) -> int:
    """The open files a run with ``connections`` direct connections needs, with room to spare."""
    return RESERVE + PER_HOST * connections


def ensure_open_files(connections: int) -> None:
    """Make sure this process may open the files ``connections`` direct connections need.

    Raises the soft ``RLIMIT_NOFILE`` (never above the hard limit, never lowering it);
    raises :class:`SetupError` (exit 4) when the hard limit is too low.
    """
    need = open_files_needed(connections)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    allowed = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if allowed > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (allowed, hard))
        except (ValueError, OSError):
            allowed = soft
    if allowed < need:
        raise SetupError(
            f"{connections} direct connections need about {need} open files, but this process may open "
            f"only {allowed} (ulimit -n; hard limit {hard}): raise the limit (e.g. `ulimit -n {need}` or "
            f"LimitNOFILE/limits.conf), connect through relay hosts (--relays N), or deploy to fewer hosts"
        )
