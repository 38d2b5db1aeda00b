"""``paracrine agent``: a process of the user's that keeps hosts connected between runs.

Without it, every ``paracrine DEPLOY.py`` (and ``op``, ``run``, ``facts``) starts a Python interpreter on each host
(through an ``ssh_reuse`` master, so without a new SSH handshake) and ends it when the
run ends. With it, the run happens in the agent (:mod:`paracrine.agent_client` hands
it over) and the Mitogen contexts of its hosts stay up for the next run: a run that
changes nothing costs one fact round trip per host and no interpreter start, as a
``paracrine watch`` cycle does, but for runs started by hand, by git hooks or by CI.

What is kept, and when it is dropped:

* one :class:`Session` per set of hosts (name and connection settings); a run of
  other hosts or another inventory has its own (the oldest of :data:`MAX_SESSIONS`
  is closed), a run on some hosts of a kept session (``--limit``) uses that one;
* a session is closed, and the next run connects afresh, when a host of it was
  unreachable or lost, a run was interrupted, or a Python module of the user's
  (under the project's directories) changed since the session began: a target may
  hold an old copy of it;
* every host's run lock is given back at the end of each applying run;
* when a module of Paracrine or of an installed package changed since the agent
  loaded it (an upgrade), the agent does not take the run; it says so and exits,
  and the run happens without it;
* after ``--idle`` seconds without a run (default :data:`IDLE_SECONDS`), and on
  ``paracrine agent stop`` or ``paracrine disconnect``, the agent closes everything
  and exits.

One run at a time: a run started while another is in the agent runs on its own, as
without an agent (the hosts' run locks keep them apart as usual). The socket is in
a directory private to the user; both ends check that the other is the same user.
Each run gets the client's working directory and environment, and the environment
is put back afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import queue
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from paracrine.agent_client import LineReader, installed, peer_uid, send_line, socket_path
from paracrine.errors import ParacrineError
from paracrine.filestamp import Stamp, file_stamp

if TYPE_CHECKING:
    from paracrine.connect import ProgressFn, Session
    from paracrine.inventory import Inventory
    from paracrine.run import DeployRun

log = logging.getLogger("paracrine.agent")

#: Seconds without a run after which the agent exits (ssh's ControlPersist for the masters is the same).
IDLE_SECONDS = 600.0
#: Sessions kept at once (sets of hosts); the one unused longest is closed first.
MAX_SESSIONS = 4

Stamps = dict[str, Stamp]


@dataclass
class Kept:
    """A session the agent keeps, and the user modules that were loaded while it was up."""

    key: tuple[Any, ...]
    session: Session
    used: float = field(default_factory=time.monotonic)
    modules: Stamps = field(default_factory=dict)


class Pool:
    """The sessions an agent keeps, by the hosts they connect."""

    def __init__(self) -> None:
        self.kept: dict[tuple[Any, ...], Kept] = {}
        self.roots: list[Path] = []  # where the current run's user modules are (searchpath.search_dirs)

    @staticmethod
    def key(hosts: Inventory, parallel: int) -> tuple[Any, ...]:
        return (parallel, *((h.name, h.connection()) for h in hosts.hosts))

    def session(self, hosts: Inventory, parallel: int) -> Kept:
        """The kept session of these hosts (contexts still up), or a new one, connecting.

        A session kept for more hosts serves a run on some of them (``--limit``), as long as
        each of them is connected the same way.
        """
        key = self.key(hosts, parallel)
        kept = self.kept.get(key) or self._covering(key)
        if kept is not None and (_changed(kept.modules) or kept.session.lost()):
            self.drop(kept.key)
            kept = None
        if kept is None:
            from paracrine.connect import Session

            while len(self.kept) >= MAX_SESSIONS:
                self.drop(min(self.kept, key=lambda k: self.kept[k].used))
            session = Session(parallel=parallel)
            session.start_connecting(hosts.hosts, resolve=hosts.resolve)
            kept = self.kept[key] = Kept(key, session)
        kept.session.round_trips.clear()
        kept.session.bytes_received.clear()
        kept.used = time.monotonic()
        return kept

    def _covering(self, key: tuple[Any, ...]) -> Kept | None:
        """The most recently used kept session whose hosts include ``key``'s (same connections and parallelism)."""
        wanted = set(key[1:])
        covering = [k for k in self.kept.values() if k.key[0] == key[0] and wanted <= set(k.key[1:])]
        return max(covering, key=lambda k: k.used, default=None)

    def done(self, kept: Kept, run: DeployRun | Reached | None, *, applying: bool) -> None:
        """After a run on ``kept``: give back the run locks; drop the session unless every host stayed fine."""
        if self.kept.get(kept.key) is not kept:
            return
        session = kept.session
        reached = _reached(run) if run is not None else None
        healthy = reached is not None and not reached.unreachable and not session.failed and not session.connecting
        if healthy and applying and reached is not None:
            from paracrine.remote import lock

            held = {name: () for name in reached.hosts if name in session.contexts}  # not the rest of a superset
            try:
                session.call_all(lock.release, held)
            except Exception:  # a host lost at the very end: connect afresh next time
                log.debug("releasing the run locks failed", exc_info=True)
                healthy = False
        if not healthy:
            self.drop(kept.key)
            return
        kept.modules.update(_user_modules(self.roots))

    def drop(self, key: tuple[Any, ...]) -> None:
        kept = self.kept.pop(key)
        with contextlib.suppress(Exception):
            kept.session.close()

    def close(self) -> None:
        for key in list(self.kept):
            self.drop(key)

    def hosts(self) -> int:
        return sum(len(k.session.contexts) for k in self.kept.values())


_pool: Pool | None = None


def _reached(run: DeployRun | Reached) -> Reached:
    if isinstance(run, Reached):
        return run
    from paracrine.run import Stage

    return Reached(list(run.hosts), {name for name, hr in run.hosts.items() if hr.stage is Stage.UNREACHABLE})


def socket_dir(path: Path) -> Path:
    """The directory of the socket ``path``, created private to the user (0700), else checked."""
    from paracrine.sshmux import private_dir

    path.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return private_dir(path.parent, purpose="the agent's socket")


def pool() -> Pool | None:
    """The agent's pool while this process is an agent running a request, else None."""
    return _pool


@dataclass
class Reached:
    """How a command's run went, for its agent: its hosts, and those it could not reach (or lost)."""

    hosts: list[str]
    unreachable: set[str]


@contextlib.contextmanager
def session_for(
    hosts: Inventory,
    parallel: int,
    *,
    base: Path,
    applying: bool,
    close: bool = False,
    progress: ProgressFn | None = None,
) -> Iterator[tuple[Session, list[DeployRun | Reached]]]:
    """The session for a run: the agent's kept one in an agent, else a new one.

    Yields ``(session, runs)``: append the :class:`DeployRun` (or, for a command without one,
    a :class:`Reached`) to ``runs`` once made, so the agent can tell how it went. ``base``:
    where the user's modules are (the deploy file's directory). Outside an agent this is
    just a new session, already connecting, closed at the end with ``close`` (else a
    DeployRun closes it). In an agent, the session may hold more hosts than ``hosts``.
    """
    current = pool()
    if current is None:
        from paracrine.connect import Session

        session = Session(parallel=parallel, progress=progress)
        session.start_connecting(hosts.hosts, resolve=hosts.resolve)  # first: the rest of the start-up overlaps it
        try:
            yield session, []
        finally:
            if close:
                session.close()
        return
    from paracrine import searchpath

    current.roots = searchpath.search_dirs(base)
    kept = current.session(hosts, parallel)
    kept.session.progress = progress
    runs: list[DeployRun | Reached] = []
    completed = False
    try:
        yield kept.session, runs
        completed = True
    except ParacrineError:  # the run ended with a user error (a refusal to apply): its hosts are fine
        completed = True
        raise
    finally:
        current.done(kept, runs[-1] if runs and completed else None, applying=applying)


# ---------------------------------------------------------------- what the agent has loaded
_in_stdlib: dict[str, bool] = {}  # a module's file -> whether it is the standard library's (checked once)


@functools.cache
def _stdlib_dirs() -> tuple[str, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    return tuple(os.path.realpath(paths[k]) + os.sep for k in ("stdlib", "platstdlib") if k in paths)


def _module_files() -> dict[str, str]:
    """Module name -> file of every loaded module that is not in the standard library."""
    found = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        stdlib = _in_stdlib.get(path)
        if stdlib is None:
            stdlib = _in_stdlib[path] = os.path.realpath(path).startswith(_stdlib_dirs())
        if not stdlib:
            found[name] = path
    return found


def _user_module_test(roots: list[Path]) -> Callable[[str], bool]:
    """A test of whether a module's file is the user's own code: under ``roots``, not an installed package.

    A project's virtualenv is often under its root: what is under ``sys.prefix`` or in a
    ``site-packages``/``dist-packages`` directory is installed, not the user's.
    """
    prefixes = tuple(str(r.absolute()) + os.sep for r in roots)
    installed = tuple({os.path.abspath(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})

    def test(path: str) -> bool:
        path = os.path.abspath(path)
        parts = path.split(os.sep)
        return (
            path.startswith(prefixes)
            and not path.startswith(installed)
            and "site-packages" not in parts
            and "dist-packages" not in parts
        )

    return test


def _user_modules(roots: list[Path]) -> Stamps:
    """Stamps of the loaded modules under ``roots`` (the user's code: roles, facts, operations)."""
    is_user = _user_module_test(roots)
    stamps: Stamps = {}
    for path in _module_files().values():
        stamp = file_stamp(path) if is_user(path) else None
        if stamp is not None:
            stamps[path] = stamp
    return stamps


def _changed(stamps: Stamps) -> list[str]:
    return [path for path, stamp in stamps.items() if file_stamp(path) != stamp]


def forget_user_modules(roots: list[Path]) -> None:
    """Drop the user's modules under ``roots`` from ``sys.modules``, so the next run imports them afresh.

    Never Paracrine's own, nor installed packages (a virtualenv under the project root).
    """
    is_user = _user_module_test(roots)
    for name, path in _module_files().items():
        if is_user(path) and name.split(".")[0] != "paracrine":
            sys.modules.pop(name, None)


class Installed:
    """Stamps of the agent's own code and installed packages, to notice an upgrade under it."""

    def __init__(self) -> None:
        self.stamps: Stamps = {}

    def changed(self, user_roots: list[Path]) -> list[str]:
        """Loaded modules (not the user's) whose files changed since first seen; records new ones."""
        is_user = _user_module_test(user_roots)
        changed = []
        for path in _module_files().values():
            if is_user(path):
                continue
            seen = self.stamps.get(path)
            now = file_stamp(path)
            if seen is None:
                if now is not None:
                    self.stamps[path] = now
            elif now != seen:
                changed.append(path)
        return changed


# ---------------------------------------------------------------- the server
@dataclass
class Request:
    conn: socket.socket
    message: dict[str, Any]
    fds: list[int]


class Agent:
    """Listens on the socket; runs one request at a time in the main thread."""

    def __init__(self, path: Path, idle: float = IDLE_SECONDS) -> None:
        self.path = path
        self.idle = idle
        self.pool = Pool()
        self.installed = Installed()
        self.started = time.time()
        self.requests: queue.Queue[Request | None] = queue.Queue()
        self.busy = threading.Lock()
        self.running: Request | None = None
        self.stopping = False
        self.listener: socket.socket | None = None
        self.lock: int | None = None  # the descriptor of the lock file, held while this agent owns the path
        self.main_thread = threading.main_thread().ident

    # -------------------------------------------------------- lifecycle
    def bind(self) -> None:
        """Listen on :attr:`path` (its directory made private); refuse if another agent has it.

        Another agent has it while it holds the lock on ``<path>.lock`` (a ``flock``, gone
        with its process), so two agents started at once never both bind: the second one
        would otherwise take over the path of the first, left running unreachable.
        """
        from paracrine.errors import UserError

        socket_dir(self.path)
        busy = UserError(f"an agent is already running on {self.path}", hint="stop it: paracrine agent stop")
        lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            raise busy from None
        self.lock = lock
        try:
            self._listen(busy)
        except BaseException:
            self._unlock()
            raise

    def _listen(self, busy: Exception) -> None:
        from paracrine.agent_client import ask

        if ask({"ping": True}, self.path) is not None:  # an agent of an older Paracrine, without the lock
            raise busy
        try:
            left = os.lstat(self.path)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(left.st_mode):
                from paracrine.errors import UserError

                raise UserError(f"{self.path} exists and is not a socket", hint="remove it, or set another path")
            self.path.unlink()  # a socket left by an agent that died
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(os.fspath(self.path))
        finally:
            os.umask(old)
        sock.listen(16)
        self.listener = sock

    def serve(self) -> None:
        """Take requests until stopped or idle for :attr:`idle` seconds, then close every session."""
        assert self.listener is not None
        threading.Thread(target=self._accept, name="paracrine-agent-accept", daemon=True).start()
        try:
            while not self.stopping:
                try:
                    request = self.requests.get(timeout=self.idle)
                except queue.Empty:
                    log.info("idle for %.0f s: exiting", self.idle)
                    break
                except KeyboardInterrupt:  # a client's interrupt that came just after its run ended
                    continue
                if request is None:
                    break
                try:
                    self._serve_run(request)
                except KeyboardInterrupt:  # likewise
                    pass
                except Exception:  # one broken request never stops the agent
                    log.exception("a run failed in the agent")
                    _close_all(request.fds, request.conn)
                finally:
                    self.running = None
                    self.busy.release()
        finally:
            self.close()

    def close(self) -> None:
        """Stop listening, close every session, then remove the socket (``agent stop`` waits for that)."""
        self.stopping = True
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.close()
        try:
            self.pool.close()
        finally:
            if self.listener is not None:
                with contextlib.suppress(OSError):
                    self.path.unlink()
            self._unlock()  # last: the path is free for the next agent

    def _unlock(self) -> None:
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None

    # -------------------------------------------------------- requests
    def _accept(self) -> None:
        assert self.listener is not None
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            try:
                self._take(conn)
            except Exception:  # one broken client never stops the agent
                log.debug("a request failed", exc_info=True)
                conn.close()

    def _take(self, conn: socket.socket) -> None:
        if peer_uid(conn) != os.geteuid():
            conn.close()
            return
        conn.settimeout(10)
        data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
        while not data.endswith(b"\n") and len(data) < 16 << 20:
            more = conn.recv(1 << 20)
            if not more:
                break
            data += more
        import json

        message = json.loads(data)
        if "run" in message and len(fds) == 3:
            if self.stopping or not self.busy.acquire(blocking=False):
                send_line(conn, {"running": False})  # the client runs it itself
                _close_all(fds, conn)
                return
            self.requests.put(Request(conn, message, fds))
            return
        _close_all(fds)
        if message.get("stop"):
            send_line(conn, {"stopping": True, "pid": os.getpid()})
            self.stopping = True
            self.requests.put(None)
            self._interrupt_run()
        else:
            send_line(conn, self.status())
        conn.close()

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "socket": str(self.path),
            "since": self.started,
            "sessions": len(self.pool.kept),
            "hosts": self.pool.hosts(),
            "busy": self.running is not None,
            "idle": self.idle,
        }

    def _interrupt_run(self) -> None:
        if self.running is not None and self.main_thread is not None:
            signal.pthread_kill(self.main_thread, signal.SIGINT)

    def _watch_client(self, request: Request) -> None:
        """Ctrl-C from the client, or the client gone: interrupt the run."""
        reader = LineReader(request.conn)
        request.conn.settimeout(None)
        while self.running is request:
            try:
                line = reader.next()
            except (OSError, ValueError):
                line = None
            if self.running is not request:
                return
            self._interrupt_run()
            if line is None:
                return

    def _serve_run(self, request: Request) -> None:
        from paracrine import searchpath

        message = request.message
        cwd, env, args = str(message["cwd"]), dict(message["env"]), [str(a) for a in message["run"]]
        roots = searchpath.search_dirs(Path(cwd))
        if message.get("paracrine") != installed():  # another virtualenv's Paracrine: not this code
            _refuse(request, f"the agent runs another Paracrine ({installed()}); running without it")
            return
        changed = self.installed.changed(roots)
        if changed:
            _refuse(request, f"the agent stopped: {changed[0]} changed since it started; running without it")
            self.stopping = True
            return
        self.running = request
        send_line(request.conn, {"running": True})
        threading.Thread(target=self._watch_client, args=(request,), name="paracrine-agent-client", daemon=True).start()
        code = 1
        fds, request.fds = request.fds, []  # the streams own them from here on
        try:
            with _client_io(fds), _client_env(cwd, env):
                code = _run_cli(args, self.pool)
        finally:
            self.running = None
            if self.installed.changed(roots):  # what this run imported is stamped now; changed meanwhile: stop
                self.stopping = True
            with contextlib.suppress(OSError):
                send_line(request.conn, {"exit": code})
            request.conn.close()


def _run_cli(args: list[str], current: Pool) -> int:
    """Run the CLI in this process with ``current`` as the pool; afterwards forget the run's user code and secrets."""
    global _pool
    from paracrine import cli, gather, secret

    debug = "--debug" in args or bool(os.environ.get("PARACRINE_DEBUG"))
    current.roots = []
    _pool = current
    try:
        return cli.run(args, debug=debug)
    finally:
        _pool = None
        forget_user_modules(current.roots)  # the next run imports the user's modules afresh
        secret.forget()  # this run's secret values are not kept in the agent
        gather.forget_keys()  # nor the arguments its deploy files gave facts (a URL may hold a password)


@contextlib.contextmanager
def _client_io(fds: list[int]) -> Iterator[None]:
    """``sys.stdin``, ``sys.stdout`` and ``sys.stderr`` on the client's descriptors for the block.

    Only Python's streams: the agent's descriptors 0-2 stay its own, so a process it
    starts (an ssh master) never holds the client's terminal or pipe open.
    """
    saved = sys.stdin, sys.stdout, sys.stderr
    streams: list[TextIO] = [
        open(fds[0], encoding="utf-8", errors="replace", closefd=True),  # noqa: SIM115 - closed below
        open(fds[1], "w", encoding="utf-8", errors="backslashreplace", closefd=True, buffering=1),  # noqa: SIM115
        open(fds[2], "w", encoding="utf-8", errors="backslashreplace", closefd=True, buffering=1),  # noqa: SIM115
    ]
    sys.stdin, sys.stdout, sys.stderr = streams
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        for stream in streams:
            with contextlib.suppress(OSError, ValueError):
                stream.close()


@contextlib.contextmanager
def _client_env(cwd: str, env: dict[str, str]) -> Iterator[None]:
    """The client's working directory and environment for the block; the agent's own afterwards."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    try:
        os.chdir(cwd)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)


def _refuse(request: Request, note: str) -> None:
    """Tell the client to run on its own, and why."""
    send_line(request.conn, {"running": False, "note": note})
    _close_all(request.fds, request.conn)


def _close_all(fds: list[int], conn: socket.socket | None = None) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    if conn is not None:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m paracrine.agent [--idle SECONDS]``: run an agent in the foreground (``paracrine agent start``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="paracrine-agent")
    parser.add_argument("--idle", type=float, default=IDLE_SECONDS)
    options = parser.parse_args(argv)
    own = logging.StreamHandler(sys.__stderr__)  # the agent's log; a run's own warnings go to its client
    own.setFormatter(logging.Formatter("%(asctime)s paracrine agent: %(message)s"))
    log.addHandler(own)
    log.setLevel(logging.INFO)
    log.propagate = False
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored (`&`)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    agent = Agent(socket_path(), idle=options.idle)
    try:
        agent.bind()
    except Exception as exc:
        print(f"paracrine agent: {exc}", file=sys.stderr)
        return 4
    log.info("pid %d listening on %s (idle %.0f s)", os.getpid(), agent.path, agent.idle)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        agent.serve()
    log.info("stopped")
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":  # `python -m paracrine.agent`: run the imported module's, whose pool deploy runs see
    from paracrine.agent import main as agent_main

    sys.exit(agent_main())
