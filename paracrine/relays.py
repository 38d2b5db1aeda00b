"""Relays: hosts of the inventory that connect to other hosts for the controller (Mitogen ``via=``).

For fleets larger than one controller's CPU and sockets hold, a host's ``via``
setting (or ``--relays N``, see :func:`assign`) names another inventory host that
runs the ssh connection to it. The controller then holds one connection per relay,
and each relay holds the connections of the hosts behind it; Mitogen routes every
message through the relay.

* **Routes** are one level deep: a relay is reached directly, never through another
  relay (:func:`check_routes`, run when an inventory is built, with the file:line
  of the ``via`` setting).
* **Authentication** from a relay to the hosts behind it uses agent forwarding, never
  a copied key: the controller starts a private ``ssh-agent`` holding the ``ssh_key``
  files of those hosts, forwards it only on its connections to relays, and stops it
  as soon as every host is connected (see the README's Safety section). Hosts behind
  a relay without ``ssh_key`` use your own agent (``$SSH_AUTH_SOCK``), forwarded.
* **Host keys** are checked against the controller's known_hosts: the lines that can
  match the hosts behind a relay are copied to a private directory on it (public keys
  only, removed at the end of the run), and the relay's ssh reads those and nothing
  else (``GlobalKnownHostsFile=/dev/null``), so a wrong or unknown key fails exactly as
  it does directly.
* **Parallel connects**: Mitogen runs a relay's proxied connects one at a time on its
  main thread, so each relay gets a few *lanes* (interpreters it starts,
  ``router.local(via=relay)``), each connecting one host at a time.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from paracrine.errors import ConnectError, InventoryError, SetupError, did_you_mean
from paracrine.hosts import Connection, Host, HostData

if TYPE_CHECKING:
    from paracrine.connect import Session
    from paracrine.inventory import Inventory

#: Seconds a key stays in the forwarded agent at most (the agent is stopped once every host is connected).
KEY_LIFETIME = 3600
#: Files ssh reads host keys from when ``ssh_known_hosts`` is not set, and always (the global ones).
USER_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")


# ====================================================================== the inventory side
def check_routes(hosts: Mapping[str, Host], where: Callable[[str], str | None] = lambda _: None) -> None:
    """Refuse a ``via`` that names no host of the inventory, the host itself, or a relay that is not direct.

    Args:
        hosts: every host of the inventory, by name.
        where: the ``file:line`` that set a host's ``via`` (for the error).

    Raises:
        InventoryError: one line naming the host and where its ``via`` was set.
    """
    for host in hosts.values():
        via = host.data.get("via")
        if via is None:
            continue

        def fail(message: str, hint: str | None = None, name: str = host.name) -> InventoryError:
            return InventoryError(message, host=name, where=where(name), hint=hint)

        if via == host.name:
            raise fail(f"via {via!r} names the host itself", "a relay must be another host of the inventory")
        relay = hosts.get(via)
        if relay is None:
            raise fail(
                f"via {via!r} is not a host of this inventory",
                did_you_mean(via, hosts) or "add the relay host to the inventory",
            )
        onward = relay.data.get("via")
        if onward is not None:
            chain = [host.name, via]
            while chain[-1] in hosts and hosts[chain[-1]].data.get("via") is not None and chain.count(chain[-1]) < 2:
                chain.append(hosts[chain[-1]].data["via"])
            if chain.count(chain[-1]) > 1:
                raise fail(f"via {via!r} leads in a loop ({' -> '.join(chain)})", "a relay must be reached directly")
            raise fail(
                f"via {via!r}: {via} is itself reached via {onward!r}; relays are one level deep",
                f"a relay must be reached directly: remove via from {via}",
            )
        if host.connection().host_keys == "accept":
            raise fail(
                f"ssh_host_keys: accept does not work through relay {via!r} "
                "(the relay would learn the new key, not this machine)",
                "connect to the host directly once, or add its key with ssh-keyscan",
            )


def assign(inventory: Inventory, count: int) -> Inventory:
    """``--relays N``: pick ``count`` relay hosts and spread the other hosts evenly over them.

    Relays are picked evenly spaced among the hosts reached directly over ssh (in
    inventory order); every other such host goes through one of them, in turn. Hosts
    that already have ``via``, use ``connector: local`` or ``ssh_host_keys: accept``
    keep their settings. Relays are targets of the run like every other host.
    """
    from paracrine.inventory import Inventory

    if count <= 0:
        return inventory
    direct = [h for h in inventory.hosts if _may_relay(h)]
    if len(direct) <= count:
        raise InventoryError(
            f"--relays {count} needs more than {count} hosts reached directly over ssh; the run has {len(direct)}",
            where=inventory.source or None,
            hint="pass a smaller --relays, or none",
        )
    relays = [direct[(i * len(direct)) // count] for i in range(count)]
    chosen = {r.name for r in relays}
    movable = [h for h in direct if h.name not in chosen and h.connection().host_keys == "enforce"]
    via = {h.name: relays[i % count].name for i, h in enumerate(movable)}
    hosts = [_with_via(h, via[h.name]) if h.name in via else h for h in inventory.hosts]
    result = Inventory(hosts, inventory.groups, inventory.source, everyone=inventory.everyone)
    check_routes({h.name: h for h in hosts}, lambda _: inventory.source or None)
    return result


def _may_relay(host: Host) -> bool:
    conn = host.connection()
    return conn.connector == "ssh" and conn.via is None


def _with_via(host: Host, relay: str) -> Host:
    return Host(host.name, host.groups, HostData(host.name, {**host.data, "via": relay}), host.source)


# ====================================================================== known_hosts
def lookup_names(conn: Connection) -> set[str]:
    """The names ssh looks a host's key up by (``host`` on port 22, ``[host]:port`` otherwise; both kept)."""
    names = {conn.hostname}
    if conn.port not in (None, 22):
        names.add(f"[{conn.hostname}]:{conn.port}")
    return names


def controller_files(conn: Connection) -> tuple[str, ...]:
    """The known_hosts files ssh on this machine checks the host's key against."""
    user = (conn.known_hosts,) if conn.known_hosts else USER_KNOWN_HOSTS
    return tuple(os.path.expanduser(p) for p in (*user, *GLOBAL_KNOWN_HOSTS))


def matching_lines(text: str, names: set[str]) -> list[str]:
    """The known_hosts lines that may apply to ``names``: theirs, hashed, wildcard and ``@revoked`` lines.

    A superset of what ssh would match is harmless (other names are never looked up);
    hashed lines reveal no names.
    """
    kept = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker = fields[0] if fields[0].startswith("@") else ""
        if len(fields) < (3 if marker else 2):
            continue
        patterns = fields[1] if marker else fields[0]
        if (
            marker == "@revoked"
            or patterns.startswith("|")
            or any(c in patterns for c in "*?")
            or any(p.lstrip("!") in names for p in patterns.split(","))
        ):
            kept.append(line)
    return kept


# ====================================================================== the forwarded agent
class Agent:
    """A private ``ssh-agent`` holding the keys of hosts behind relays, for as long as connecting lasts."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.directory = tempfile.mkdtemp(prefix="paracrine-agent-")
        self.socket = os.path.join(self.directory, "agent.sock")
        # The agent must not outlive this process, even one killed with SIGKILL. ssh-agent runs as the
        # parent of a command (`cat`, reading a pipe only we hold) and exits within 10 s once that command
        # is gone; our death closes the pipe, so `cat` ends. (PR_SET_PDEATHSIG does not survive the exec of
        # Debian's setgid ssh-agent.) Keys also expire after KEY_LIFETIME.
        self.agent_pid: int | None = None
        try:
            self.process = subprocess.Popen(
                ["ssh-agent", "-a", self.socket, "cat"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        except OSError as exc:
            os.rmdir(self.directory)
            raise SetupError(
                f"cannot start ssh-agent for relays: {exc.strerror}", hint="install openssh-client"
            ) from None
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket) or self.agent_pid is None:
            self.agent_pid = _child_of(self.process.pid)
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SetupError("ssh-agent for relays did not start", hint="run `ssh-agent -D` to see why")
            time.sleep(0.01)
        try:
            for key in keys:
                self._add(key)
        except BaseException:
            self.stop()
            raise

    def _add(self, key: str) -> None:
        env = {**os.environ, "SSH_AUTH_SOCK": self.socket, "SSH_ASKPASS_REQUIRE": "never"}
        env.pop("DISPLAY", None)
        argv = ["ssh-add", "-q", "-t", str(KEY_LIFETIME), key]
        added = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        if added.returncode != 0:
            why = (added.stderr.strip().splitlines() or ["ssh-add failed"])[-1]
            raise ConnectError(
                f"cannot load ssh_key {key} into the agent forwarded to relays: {why}",
                hint="a key with a passphrase belongs in your own ssh-agent: leave ssh_key unset behind relays",
            )

    def stop(self) -> None:
        """End the agent: a relay can no longer use it, even while still connected."""
        if self.agent_pid is not None:
            with suppress(OSError):
                os.kill(self.agent_pid, signal.SIGTERM)  # it removes its socket
        if self.process.stdin is not None:
            with suppress(OSError):
                self.process.stdin.close()  # `cat` ends
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for path in (self.socket, self.directory):
            with suppress(OSError):
                os.unlink(path) if path == self.socket else os.rmdir(path)


# ====================================================================== the session side
@dataclass
class _Lane:
    context: Any
    busy: int = 0


@dataclass
class _Relay:
    host: Host
    width: int  # lanes at most
    targets: list[Connection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    context: Any = None
    error: ConnectError | None = None
    lanes: list[_Lane] = field(default_factory=list)
    directory: str | None = None  # the private known_hosts directory on the relay
    files: dict[tuple[str, ...], str] = field(default_factory=dict)  # controller files -> path on the relay


class RelayHub:
    """The relays of one :class:`~paracrine.connect.Session`: their connections, lanes, agent and host keys."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.relays: dict[str, _Relay] = {}
        self._agent: Agent | None = None
        self._agent_keys: list[str] = []
        self._lock = threading.Lock()

    def plan(self, hosts: Sequence[Host], resolve: Callable[[str], Host | None] | None) -> None:
        """Note which hosts go through which relay (before connecting them)."""
        behind: dict[str, list[Connection]] = {}
        for host in hosts:
            conn = host.connection()
            if conn.via is not None:
                behind.setdefault(conn.via, []).append(conn)
        if not behind:
            return
        width = max(1, math.ceil(self.session.parallel / len(behind)))
        for name, conns in behind.items():
            relay_host = resolve(name) if resolve else None
            if relay_host is not None and name not in self.relays:
                self.relays[name] = _Relay(relay_host, min(width, len(conns)), conns)
        keys = {c.key for conns in behind.values() for c in conns if c.connector == "ssh" and c.key}
        self._agent_keys = sorted(os.path.abspath(os.path.expanduser(k)) for k in keys)

    @contextmanager
    def route(self, host: Host, conn: Connection) -> Iterator[tuple[Any, Connection]]:
        """The context to connect ``host`` through (None: directly) and the settings its ssh uses there."""
        if conn.via is None:
            yield None, conn
            return
        relay = self.relays.get(conn.via)
        if relay is None:
            raise ConnectError(f"via host {conn.via!r} is not in the inventory", host=host.name)
        self._open_relay(relay, host.name)
        lane = self._take_lane(relay, host.name)
        try:
            yield lane.context, self._hop(relay, conn)
        finally:
            with relay.lock:
                lane.busy -= 1

    def done_connecting(self) -> None:
        """Every host is connected (or failed): stop the forwarded agent."""
        with self._lock:
            agent, self._agent = self._agent, None
        if agent is not None:
            agent.stop()

    def close(self) -> None:
        """Remove the known_hosts copies from the relays and stop the agent (before the broker stops)."""
        from paracrine.remote import relay as remote

        receivers = []
        for relay in self.relays.values():
            if relay.context is not None and relay.directory is not None:
                with suppress(Exception):  # a relay already gone: nothing to remove
                    receivers.append(relay.context.call_async(remote.remove, relay.directory))
        deadline = time.monotonic() + 5
        for receiver in receivers:
            with suppress(Exception):  # lost or slow: its files are public keys in a private directory
                receiver.get(timeout=max(0.0, deadline - time.monotonic()))
        self.done_connecting()

    # ------------------------------------------------------------ internals
    def _agent_args(self) -> list[str]:
        """ssh options forwarding the agent (ours if hosts behind relays have keys, else yours, else none)."""
        with self._lock:
            if self._agent is None and self._agent_keys:
                self._agent = Agent(self._agent_keys)
            agent = self._agent
        if agent is None:
            return ["-o", "ForwardAgent=yes"] if os.environ.get("SSH_AUTH_SOCK") else []
        # ssh forwards an agent only if it can reach one itself; yours (if any) still logs in to the relay.
        own = os.environ.get("SSH_AUTH_SOCK")
        identity = [] if own and os.path.exists(own) else ["-o", f"IdentityAgent={agent.socket}"]
        return [*identity, "-o", f"ForwardAgent={agent.socket}"]

    def _open_relay(self, relay: _Relay, host: str) -> None:
        from paracrine.connect import describe_connect_error

        with relay.lock:
            if relay.context is None and relay.error is None:
                conn = relay.host.connection()
                try:
                    if conn.connector == "ssh":
                        # No master connection: a shared one would forward its own agent, not this run's.
                        extra = ("-o", "ControlPath=none", *self._agent_args())
                        conn = replace(conn, reuse=False, ssh_args=(*extra, *conn.ssh_args))
                    relay.context = self._open(relay.host.name, conn)
                    self._install_known_hosts(relay)
                except (ConnectError, SetupError) as exc:  # e.g. a key the agent cannot load
                    relay.error = ConnectError(f"via {relay.host.name}: {exc.message}", hint=exc.hint)
                except Exception as exc:  # mitogen.core.Error from connecting or the call
                    reason = describe_connect_error(exc, relay.host.connection())
                    relay.error = ConnectError(f"via {relay.host.name}: {reason}")
            if relay.error is not None:
                raise ConnectError(relay.error.message, host=host, hint=relay.error.hint)

    def _open(self, name: str, conn: Connection) -> Any:
        from paracrine.connect import _is_transient

        for attempt in (1, 2):
            try:
                return self.session._open(name, conn, None, become=False)
            except Exception as exc:
                if attempt == 1 and _is_transient(str(exc)):
                    continue
                raise
        raise AssertionError("unreachable")

    def _install_known_hosts(self, relay: _Relay) -> None:
        from paracrine.remote import relay as remote

        names_by_files: dict[tuple[str, ...], set[str]] = {}
        for conn in relay.targets:
            if conn.connector == "ssh":
                names_by_files.setdefault(controller_files(conn), set()).update(lookup_names(conn))
        if not names_by_files:
            return
        contents: dict[str, str] = {}
        for index, (files, names) in enumerate(sorted(names_by_files.items())):
            lines = [line for path in files for line in matching_lines(_read(path), names)]
            contents[f"known_hosts-{index}"] = "".join(f"{line}\n" for line in lines)
            relay.files[files] = f"known_hosts-{index}"
        relay.directory = relay.context.call(remote.install_known_hosts, contents)
        relay.files = {files: f"{relay.directory}/{name}" for files, name in relay.files.items()}

    def _take_lane(self, relay: _Relay, host: str) -> _Lane:
        with relay.lock:
            idle = [lane for lane in relay.lanes if lane.busy == 0]
            if idle:
                lane = idle[0]
            elif len(relay.lanes) < relay.width:
                try:
                    # A fresh interpreter, not router.fork(): a fork of the busy relay process can inherit a
                    # lock another thread holds and hang (seen here with 3 hosts through one relay).
                    context = self.session.router.local(
                        via=relay.context,
                        name=f"{relay.host.name}.lane{len(relay.lanes)}",
                        python_path=_python(relay.host.connection()),
                    )
                except Exception as exc:  # the relay went away
                    raise ConnectError(f"via {relay.host.name}: {_first_line(str(exc))}", host=host) from None
                lane = _Lane(context)
                relay.lanes.append(lane)
            else:
                lane = min(relay.lanes, key=lambda item: item.busy)
            lane.busy += 1
            return lane

    @staticmethod
    def _hop(relay: _Relay, conn: Connection) -> Connection:
        """The host's settings as the relay's ssh uses them: the agent, and the controller's host keys only."""
        if conn.connector != "ssh":
            return conn
        known = relay.files.get(controller_files(conn), "/dev/null")
        return replace(
            conn,
            key=None,
            known_hosts=known,
            reuse=False,
            ssh_args=("-o", "GlobalKnownHostsFile=/dev/null", *conn.ssh_args),
        )


def _child_of(pid: int) -> int | None:
    """The (first) child process of ``pid``, from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as stream:
            children = stream.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def _python(conn: Connection) -> str:
    """The relay's interpreter, as :meth:`~paracrine.connect.Session._open` starts it."""
    import sys

    return conn.python or (sys.executable if conn.connector == "local" else "/usr/bin/python3")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return stream.read()
    except OSError:
        return ""


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text.strip() or "unknown error")
