"""The client side of ``paracrine agent``: hand a deploy run to a running agent, if there is one.

``paracrine DEPLOY.py ...`` first looks for the agent's socket. When an agent of the
same user answers, the run happens in the agent, which keeps the hosts connected
between runs; this process passes it its standard input, output and error (the
descriptors themselves, over the socket), its arguments, working directory and
environment, forwards Ctrl-C, and exits with the run's exit code. Output, prompts,
colours and exit codes are those of a run without the agent.

No agent, a busy one (another run is in it), one of another user, or anything
unexpected: the run happens here, as without an agent. ``PARACRINE_AGENT=off``
skips the agent. Standard library only, imported before anything else: it must cost
nothing when there is no agent.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import sys
from pathlib import Path
from typing import Any

#: The agent's socket, overriding the default (:func:`socket_path`).
SOCKET_ENV = "PARACRINE_AGENT_SOCKET"
#: ``off``: never hand runs to an agent.
SWITCH_ENV = "PARACRINE_AGENT"
#: A unix socket path holds 107 bytes.
MAX_SOCKET_PATH = 107
#: Seconds to wait for the agent to take a run (or say it is busy) before running here.
ANSWER_TIMEOUT = 5.0
#: Commands that go to the agent: a deploy (``paracrine DEPLOY.py`` is ``paracrine deploy DEPLOY.py``), op, run, facts.
AGENT_COMMANDS = ("deploy", "op", "run", "facts")


def socket_path() -> Path:
    """Where the agent listens: ``$PARACRINE_AGENT_SOCKET``, else ``~/.cache/paracrine/agent/agent.sock``.

    ``$XDG_CACHE_HOME`` is honoured; when that path is too long for a unix socket,
    ``/tmp/paracrine-agent-<uid>/agent.sock``. The directory is private to the user (0700).
    """
    explicit = os.environ.get(SOCKET_ENV)
    if explicit:
        return Path(explicit).absolute()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paracrine" / "agent"
    path = base / "agent.sock"
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        path = Path(f"/tmp/paracrine-agent-{os.geteuid()}") / "agent.sock"
    return path


def installed() -> str:
    """Which Paracrine this process runs (its package directory and version): an agent runs only its own."""
    import paracrine

    return f"{os.path.dirname(os.path.abspath(paracrine.__file__))} {paracrine.__version__}"


def peer_uid(sock: socket.socket) -> int:
    """The user id of the process at the other end of a unix socket (``SO_PEERCRED``)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def send_line(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode("utf-8") + b"\n")


class LineReader:
    """JSON lines from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def next(self) -> dict[str, Any] | None:
        """The next message; None at the end of the stream."""
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        message = json.loads(line)
        return message if isinstance(message, dict) else None


def wants_agent(args: list[str]) -> bool:
    """Whether ``args`` are a deploy run (the commands an agent takes), not help or another command."""
    if os.environ.get(SWITCH_ENV, "").lower() in ("off", "0", "no", "false"):
        return False
    if any(a in ("-h", "--help", "--version") for a in args):
        return False
    from paracrine.commands import LAZY_COMMANDS

    first = next((a for a in args if not a.startswith("-")), None)
    return first is not None and (first in AGENT_COMMANDS or first not in LAZY_COMMANDS)


def connect(path: Path | None = None, timeout: float = ANSWER_TIMEOUT) -> socket.socket | None:
    """A connection to this user's agent, or None if none answers there."""
    path = path or socket_path()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(os.fspath(path))
        if peer_uid(sock) != os.geteuid():  # someone else's socket: never hand it our environment
            raise OSError("the agent's socket belongs to another user")
    except OSError:
        sock.close()
        return None
    return sock


def ask(message: dict[str, Any], path: Path | None = None) -> dict[str, Any] | None:
    """Send the agent one message (``ping``, ``stop``) and return its answer; None if no agent answers."""
    sock = connect(path)
    if sock is None:
        return None
    with sock:
        try:
            send_line(sock, message)
            return LineReader(sock).next()
        except (OSError, ValueError):
            return None


def try_run(args: list[str]) -> int | None:
    """Run ``args`` in the agent and return its exit code; None when the run should happen here."""
    if not wants_agent(args):
        return None
    path = socket_path()
    if not path.exists():
        return None
    sock = connect(path)
    if sock is None:
        return None
    with sock:
        return _run(sock, args)


def _run(sock: socket.socket, args: list[str]) -> int | None:
    env = dict(os.environ)
    if sys.stdout.isatty():  # the agent's own terminal size is not the user's
        size = os.get_terminal_size(sys.stdout.fileno())
        env.setdefault("COLUMNS", str(size.columns))
        env.setdefault("LINES", str(size.lines))
    request = {"run": args, "cwd": os.getcwd(), "env": env, "paracrine": installed()}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        socket.send_fds(sock, [json.dumps(request).encode("utf-8") + b"\n"], [0, 1, 2])
        reader = LineReader(sock)
        answer = reader.next()
    except (OSError, ValueError):
        return None
    if answer is None or not answer.get("running"):
        note = answer.get("note") if answer else None
        if note:
            print(f"paracrine: {note}", file=sys.stderr)
        return None
    return _follow(sock, reader)


def _follow(sock: socket.socket, reader: LineReader) -> int:
    """Wait for the run's exit code, passing Ctrl-C (and SIGTERM, SIGHUP) on to the agent."""

    def interrupt(signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            sock.sendall(b"interrupt\n")

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    sock.settimeout(None)
    while True:
        try:
            message = reader.next()
        except InterruptedError:  # pragma: no cover - recv retries by itself (PEP 475)
            continue
        except (OSError, ValueError):
            message = None
        if message is None:
            print("paracrine: the agent ended during the run; run again (without it: PARACRINE_AGENT=off)",
                  file=sys.stderr)  # fmt: skip
            return 1
        if "exit" in message:
            return int(message["exit"])
