"""Connections to hosts through Mitogen: the only module that talks to Mitogen's router.

A :class:`Session` owns one Broker and one Router for a run. It connects hosts
in parallel with a bounded pool, keeps one context per host (plus, on demand,
a context per extra become-user), and runs one call per host at a time with
:meth:`Session.call_all`, gathering replies in arrival order. A host that fails
at any stage is recorded in :attr:`Session.failed` with a one-line reason and
later phases skip it; hosts share nothing else.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import mitogen.core
import mitogen.master
import mitogen.parent
import mitogen.ssh
import mitogen.utils

from paracrine import coresource, sshmux
from paracrine.errors import ConnectError
from paracrine.hosts import Connection, Host
from paracrine.limits import ensure_open_files
from paracrine.relays import RelayHub

log = logging.getLogger(__name__)

DEFAULT_PARALLEL = 32
CALL_TIMEOUT = 3600.0
REMOTE_NAME = "paracrine"


@dataclass(frozen=True)
class Outcome:
    """The reply of one host to one call: a value, or a one-line error (``lost``: the connection is gone)."""

    ok: bool
    value: Any = None
    error: str = ""
    seconds: float = 0.0  # from sending the call to its reply
    lost: bool = False

    def timed(self, sent: float) -> Outcome:
        return Outcome(self.ok, self.value, self.error, time.perf_counter() - sent, self.lost)


LOST = "the connection was lost during the call"


ProgressFn = Callable[[str, bool, int, int], None]


@dataclass(frozen=True)
class PendingCall:
    """A call sent with :meth:`Session.send`, whose reply :meth:`Session.receive` collects."""

    host: str
    receiver: Any
    sent: float
    failed: Outcome | None = None  # the call could not be sent


class Session:
    """One Mitogen Broker+Router for a run, with one context per reachable host.

    Use as a context manager; leaving the block always shuts everything down.
    """

    def __init__(self, *, parallel: int = DEFAULT_PARALLEL, progress: ProgressFn | None = None) -> None:
        self.parallel = max(1, parallel)
        self.progress = progress
        self.contexts: dict[str, Any] = {}
        self.failed: dict[str, ConnectError] = {}
        self.connect_seconds: dict[str, float] = {}
        self.hosts: dict[str, Host] = {}
        self.round_trips: Counter[str] = Counter()
        self.bytes_received: Counter[str] = Counter()
        self._user_contexts: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[Future[Any], Host] = {}
        self._on_connected: Callable[[str, Any], None] | None = None
        self._connected_early: list[tuple[str, Any]] = []
        self._file_service: Any = None
        self._service_pool: Any = None
        self.trace: Callable[[str, str], None] | None = None  # (host, text) for every call sent and answered
        mitogen.utils.setup_gil()
        coresource.install()
        logging.getLogger("mitogen").setLevel(
            logging.DEBUG if os.environ.get("PARACRINE_MITOGEN_DEBUG") else logging.CRITICAL
        )
        self.broker = mitogen.master.Broker()
        self.router = mitogen.master.Router(self.broker)
        self.relays = RelayHub(self)  # hosts reached through other hosts (``via``)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect every context and stop the broker thread."""
        try:
            self.relays.close()
            if self._service_pool is not None:
                self._service_pool.stop()
        finally:
            self.broker.shutdown()
            self.broker.join()

    def lost(self) -> list[str]:
        """Hosts whose context is gone since it connected (the host restarted, its ssh ended): no route to it."""
        return [name for name, ctx in self.contexts.items() if self.router.stream_by_id(ctx.context_id) is None]

    def channel(self, on_message: Callable[[Any], None]) -> tuple[Any, Callable[[], None]]:
        """A Mitogen Sender a target can send messages to during a call; ``on_message`` gets each one.

        Returns the sender (pass it in the call's arguments) and a function closing the channel.
        ``on_message`` runs on Mitogen's broker thread: it must be quick.
        """
        receiver = mitogen.core.Receiver(self.router)

        def deliver(recv: Any) -> None:
            while not recv.empty():
                msg = recv.get(block=False, throw_dead=False)
                if msg.is_dead:
                    return
                try:
                    on_message(msg.unpickle())
                except Exception:  # a broken message must not stop the broker thread
                    log.debug("dropped a progress message", exc_info=True)

        receiver.notify = deliver
        return receiver.to_sender(), receiver.close

    # ------------------------------------------------------------ streaming files
    def serve_files(self, paths: Iterable[str]) -> Any:
        """Let targets stream ``paths`` (Mitogen's FileService); returns the context to fetch them from."""
        import mitogen.service

        with self._lock:
            if self._file_service is None:
                self._file_service = mitogen.service.FileService(self.router)
                self._service_pool = mitogen.service.Pool(self.router, services=[self._file_service], size=2)
        for path in paths:
            self._file_service.register(path)
        return self.router.myself()

    # ------------------------------------------------------------ connecting
    def connect(self, hosts: Sequence[Host], resolve: Callable[[str], Host | None] | None = None) -> None:
        """Connect ``hosts`` in parallel and wait; failures go to :attr:`failed`.

        ``resolve`` maps a ``via`` host name to its :class:`Host` (relays, see :mod:`paracrine.relays`).
        """
        self.start_connecting(hosts, resolve)
        self.wait_connected()

    def start_connecting(self, hosts: Sequence[Host], resolve: Callable[[str], Host | None] | None = None) -> None:
        """Begin connecting ``hosts`` in background threads and return at once.

        The caller can do other work (load deploy files, plan) while SSH
        handshakes and interpreter start-ups happen; :meth:`wait_connected` collects them.
        """
        ensure_open_files(sum(1 for h in hosts if not h.data.get("via")))  # hosts behind a relay cost nothing here
        self.hosts.update((h.name, h) for h in hosts)
        self.relays.plan(hosts, resolve)
        if any(c.connector == "ssh" and c.reuse and c.via is None for c in (h.connection() for h in hosts)):
            sshmux.control_dir()  # sockets other users could reach: one line, before any connection
        self._pool = ThreadPoolExecutor(
            max_workers=min(self.parallel, max(1, len(hosts))), thread_name_prefix="connect"
        )
        self._pending = {self._pool.submit(self._connect_timed, h, resolve): h for h in hosts}

    @property
    def connecting(self) -> bool:
        """Whether connections begun by :meth:`start_connecting` are still to be collected."""
        return bool(self._pending)

    def wait_connected(self) -> None:
        """Wait for the connections begun by :meth:`start_connecting`."""
        pending, self._pending = self._pending, {}
        total, done = len(pending), 0
        try:
            for future in as_completed(pending):
                host = pending[future]
                done += 1
                try:
                    self.contexts[host.name] = future.result()
                except ConnectError as exc:
                    self.failed[host.name] = exc
                if self.progress is not None:
                    self.progress(host.name, host.name in self.contexts, done, total)
        finally:
            self.relays.done_connecting()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def _connect_timed(self, host: Host, resolve: Callable[[str], Host | None] | None) -> Any:
        start = time.perf_counter()
        try:
            context = self._connect_one(host, resolve)
        finally:
            self.connect_seconds[host.name] = time.perf_counter() - start
        with self._lock:
            hook = self._on_connected
            if hook is None:
                self._connected_early.append((host.name, context))
        if hook is not None:
            hook(host.name, context)
        return context

    def on_connected(self, hook: Callable[[str, Any], None]) -> None:
        """Call ``hook(host, context)`` in the connecting thread as soon as each host is up.

        Hosts that connected before the hook was set are handed to it now. A run uses
        this to send a host its first fact request while the deploy files still load.
        """
        with self._lock:
            self._on_connected = hook
            early, self._connected_early = self._connected_early, []
        for name, context in early:
            hook(name, context)

    def _connect_one(self, host: Host, resolve: Callable[[str], Host | None] | None) -> Any:
        conn = host.connection()
        _check_files(host, conn)
        with self.relays.route(host, conn) as (via, hop):
            for attempt in (1, 2):
                try:
                    return self._open(host.name, hop, via)
                except mitogen.core.Error as exc:
                    reason = describe_connect_error(exc, conn)
                    if attempt == 1 and _is_transient(str(exc)):
                        log.debug("%s: retrying after %s", host.name, exc)
                        continue
                    raise ConnectError(reason, host=host.name) from None
        raise AssertionError("unreachable")

    def _open(self, name: str, conn: Connection, via: Any, *, become: bool | None = None) -> Any:
        become = conn.become if become is None else become
        python: list[str] = [conn.python or (sys.executable if conn.connector == "local" else "/usr/bin/python3")]
        single_hop_sudo = become and conn.become_password is None
        if single_hop_sudo:
            python = sudo_argv(conn.become_user) + python
        common: dict[str, Any] = {
            "name": name,
            "remote_name": REMOTE_NAME,
            "python_path": python,
            "connect_timeout": conn.connect_timeout,
            "via": via,
        }
        if conn.connector == "local":
            ctx = self.router.local(**common)
        else:
            ctx = self.router.ssh(
                hostname=conn.hostname,
                port=conn.port,
                username=conn.user,
                identity_file=conn.key,
                check_host_keys=conn.host_keys,
                compression=conn.compression,
                keepalive_interval=conn.alive_interval,
                keepalive_count=conn.alive_count,
                ssh_args=ssh_args(conn),
                **common,
            )
        if become and not single_hop_sudo:
            ctx = self.router.sudo(
                via=ctx,
                name=f"{name}.sudo",
                username=conn.become_user,
                password=mitogen.core.Secret(conn.become_password or ""),
                python_path=conn.python or "/usr/bin/python3",
                connect_timeout=conn.connect_timeout,
            )
        return ctx

    def user_context(self, host: Host, user: str) -> Any:
        """A context on ``host`` running as ``user`` (sudo from the host's context), opened once."""
        key = (host.name, user)
        with self._lock:
            if key not in self._user_contexts:
                conn = host.connection()
                try:
                    self._user_contexts[key] = self.router.sudo(
                        via=self.contexts[host.name],
                        name=f"{host.name}.{user}",
                        username=user,
                        python_path=conn.python or "/usr/bin/python3",
                        connect_timeout=conn.connect_timeout,
                    )
                except mitogen.core.Error as exc:
                    raise ConnectError(f"cannot become {user!r}: {_first_line(str(exc))}", host=host.name) from None
            return self._user_contexts[key]

    # ------------------------------------------------------------ calling
    def call_all(
        self,
        fn: Callable[..., Any],
        args_by_host: dict[str, tuple[Any, ...]],
        *,
        timeout: float = CALL_TIMEOUT,
        contexts: dict[str, Any] | None = None,
    ) -> dict[str, Outcome]:
        """Call ``fn(*args)`` once on each named host, all in parallel; one round trip each.

        Replies are taken in arrival order. A host whose connection is lost (or that
        cannot be sent the call) gets an outcome with ``lost=True``; the others are not affected.
        """
        contexts = self.contexts if contexts is None else contexts
        arrived: queue.Queue[Any] = queue.Queue()
        receivers: dict[Any, str] = {}
        results: dict[str, Outcome] = {}
        sent = time.perf_counter()
        for name, args in args_by_host.items():
            if name not in contexts:
                continue
            with self._lock:
                self.round_trips[name] += 1
            self._trace(name, f"-> {fn.__module__}.{fn.__name__}")
            try:
                receiver = contexts[name].call_async(fn, *args)
            except mitogen.core.Error as exc:  # a dead context, a message over the size limit...
                results[name] = Outcome(False, error=_first_line(str(exc)), lost=_is_lost(exc))
                continue
            receivers[receiver] = name
            receiver.notify = arrived.put
            if not receiver.empty():  # a reply that came before notify was set
                arrived.put(receiver)
        deadline = time.monotonic() + timeout
        while len(results) < len(args_by_host) and any(n not in results for n in receivers.values()):
            try:
                receiver = arrived.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            name = receivers[receiver]
            if name in results or receiver.empty():
                continue  # told twice
            msg = receiver.get(block=False, throw_dead=False)
            with self._lock:
                self.bytes_received[name] += len(msg.data or b"")
            results[name] = _unpickle(msg).timed(sent)
            self._trace(name, _answer(fn, msg, results[name]))
        for receiver, name in receivers.items():
            receiver.notify = None
            results.setdefault(name, Outcome(False, error=f"no reply within {timeout:.0f} s"))
        return results

    def call_one(self, host: str, fn: Callable[..., Any], *args: Any, timeout: float = CALL_TIMEOUT) -> Outcome:
        """Call ``fn(*args)`` on one host and wait for its outcome (safe to use from several threads)."""
        if host not in self.contexts:
            return Outcome(False, error="not connected", lost=True)
        return self.call_all(fn, {host: args}, timeout=timeout)[host]

    def _trace(self, host: str, text: str) -> None:
        if self.trace is not None:
            self.trace(host, text)

    def send(self, host: str, context: Any, fn: Callable[..., Any], *args: Any) -> PendingCall:
        """Start ``fn(*args)`` on one host without waiting (one round trip); see :meth:`receive`."""
        with self._lock:
            self.round_trips[host] += 1
        self._trace(host, f"-> {fn.__module__}.{fn.__name__} (sent as soon as connected)")
        try:
            receiver = context.call_async(fn, *args)
        except mitogen.core.Error as exc:
            return PendingCall(host, None, time.perf_counter(), Outcome(False, error=str(exc), lost=_is_lost(exc)))
        return PendingCall(host, receiver, time.perf_counter())

    def receive(self, pending: PendingCall, timeout: float = CALL_TIMEOUT) -> Outcome:
        """Wait for the reply to :meth:`send`."""
        if pending.receiver is None:
            return pending.failed or Outcome(False, error="not sent", lost=True)
        try:
            msg = pending.receiver.get(timeout=timeout, throw_dead=False)
        except mitogen.core.TimeoutError:
            return Outcome(False, error=f"no reply within {timeout:.0f} s")
        with self._lock:
            self.bytes_received[pending.host] += len(msg.data or b"")
        outcome = _unpickle(msg).timed(pending.sent)
        self._trace(pending.host, f"<- {len(msg.data or b'')} bytes after {outcome.seconds * 1000:.0f} ms")
        return outcome

    def call(self, host: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn(*args)`` on one host and return its value (raises on failure)."""
        outcome = self.call_one(host, fn, *args)
        if not outcome.ok:
            raise ConnectError(outcome.error, host=host)
        return outcome.value


def _unpickle(msg: Any) -> Outcome:
    if msg.is_dead:
        return Outcome(False, error=LOST, lost=True)
    try:
        return Outcome(True, msg.unpickle())
    except mitogen.core.CallError as exc:
        return Outcome(False, error=_first_line(str(exc)))
    except mitogen.core.ChannelError:
        return Outcome(False, error=LOST, lost=True)
    except mitogen.core.Error as exc:
        return Outcome(False, error=_first_line(str(exc)))


def _answer(fn: Callable[..., Any], msg: Any, outcome: Outcome) -> str:
    what = "ok" if outcome.ok else f"failed: {outcome.error}"
    return f"<- {fn.__name__}: {len(msg.data or b'')} bytes after {outcome.seconds * 1000:.0f} ms, {what}"


def _is_lost(exc: BaseException) -> bool:
    """Whether a failure to send means the host's connection is gone (not just this call refused)."""
    return isinstance(exc, mitogen.core.ChannelError) and "too large" not in str(exc)


def _check_files(host: Host, conn: Connection) -> None:
    """The key and known_hosts files exist and are usable, before ssh says something vaguer."""
    if conn.connector != "ssh":
        return
    for setting, path in (("ssh_key", conn.key), ("ssh_known_hosts", conn.known_hosts)):
        if path and not os.access(path, os.R_OK):
            problem = "does not exist" if not os.path.exists(path) else "is not readable"
            raise ConnectError(f"{setting} {path} {problem}", host=host.name, hint=f"fix {setting} in the inventory")
    if conn.key:
        mode = os.stat(conn.key).st_mode & 0o777
        if mode & 0o077:
            raise ConnectError(
                f"ssh_key {conn.key} is readable by other users (mode {mode:04o}), so ssh refuses to use it",
                host=host.name,
                hint=f"chmod 600 {conn.key}",
            )


def _known_host_entry(conn: Connection) -> bool:
    """Whether a known_hosts file already has a key for the host (so a mismatch means the key changed)."""
    import subprocess

    name = conn.hostname if conn.port in (None, 22) else f"[{conn.hostname}]:{conn.port}"
    files = [conn.known_hosts] if conn.known_hosts else [os.path.expanduser("~/.ssh/known_hosts")]
    for path in files:
        if os.path.isfile(path):
            found = subprocess.run(["ssh-keygen", "-F", name, "-f", path], capture_output=True, check=False)
            if found.returncode == 0 and found.stdout.strip():
                return True
    return False


def _host_key_message(conn: Connection, where: str) -> str:
    known = conn.known_hosts or "~/.ssh/known_hosts"
    if _known_host_entry(conn):
        name = conn.hostname if conn.port in (None, 22) else f"[{conn.hostname}]:{conn.port}"
        return (
            f"host key of {where} does not match the one in {known}: the host was reinstalled, or someone is "
            f"in between (man in the middle); verify it, then remove the old key with "
            f"`ssh-keygen -R '{name}' -f {known}`"
        )
    return (
        f"host key of {where} is unknown (not in {known}); verify and add it (ssh-keyscan), "
        "or set ssh_host_keys: accept to trust a new host on first use"
    )


def sudo_argv(user: str) -> list[str]:
    """The single-hop passwordless sudo prefix for the remote interpreter."""
    argv = ["sudo", "-n", "-H"]
    return argv if user == "root" else [*argv, "-u", user]


def ssh_args(conn: Connection) -> list[str]:
    """Extra ssh arguments: known_hosts, reuse of master connections, the user's own.

    Raises:
        SetupError: ``ssh_reuse`` is on and the sockets' directory is not private (:mod:`paracrine.sshmux`).
    """
    args: list[str] = []
    if conn.kex_algorithms:
        args += ["-o", f"KexAlgorithms={conn.kex_algorithms}"]
    if conn.known_hosts:
        args += ["-o", f"UserKnownHostsFile={conn.known_hosts}"]
    if conn.reuse and conn.via is None:  # through a via host, ssh runs there: no socket directory of ours
        args += sshmux.control_args(conn)
    return args + list(conn.ssh_args)


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return text.strip() or "unknown error"


def _is_transient(text: str) -> bool:
    """sshd's MaxStartups drops look like this; one retry is worth it."""
    markers = ("kex_exchange_identification", "Connection reset by peer", "Connection closed by")
    return any(m in text for m in markers)


def describe_connect_error(exc: BaseException, conn: Connection) -> str:
    """One line saying why a connection failed and what to do about it."""
    text = str(exc)
    where = (
        (conn.hostname if conn.port is None else f"{conn.hostname}:{conn.port}") if conn.connector == "ssh" else "local"
    )
    rules: Iterable[tuple[Callable[[], bool], str | None]] = (
        (lambda: isinstance(exc, mitogen.ssh.HostKeyError) or "Host key verification failed" in text
         or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or mitogen.ssh.hostkey_failed_msg in text,
         None),
        (lambda: isinstance(exc, mitogen.ssh.PasswordError)
         or "Permission denied" in text or "authentication is incorrect" in text,
         f"authentication failed for user {conn.user or '(default)'} on {where}"
         + (f" with key {conn.key}" if conn.key else "")),
        (lambda: "Connection refused" in text, f"unreachable: connection refused by {where}"),
        (lambda: "timed out" in text.lower(),
         f"unreachable: {where} did not answer within {conn.connect_timeout:.0f} s"),
        (lambda: "Could not resolve hostname" in text, f"unreachable: cannot resolve {conn.hostname}"),
        (lambda: "No route to host" in text or "Network is unreachable" in text, f"unreachable: no route to {where}"),
        (lambda: "password is required" in text,
         f"sudo on {where} needs a password; set become_password or allow passwordless sudo"),
        (lambda: "command not found" in text or "No such file or directory" in text,
         f"no Python interpreter at {conn.python or '/usr/bin/python3'} on {where}; install python3 or set `python`"),
    )  # fmt: skip
    for matches, message in rules:
        if matches():
            return message if message is not None else _host_key_message(conn, where)
    return _first_line(text)
