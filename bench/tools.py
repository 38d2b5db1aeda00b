"""How each tool is run: its inventory (written from the lab hosts), its command line and environment.

Every tool reads a static inventory generated before the timed run, so no tool pays for (or gets
help from) inventory scripts. Connections, per workload:

* ``standard`` and ``demo``: log in as ``lab`` and become root with passwordless sudo (the shared
  workload spec; the demo's lab hosts);
* ``fourop``: log in as ``root`` directly, like the original pyinfra-performance tests.

The server workload's settings reach every tool through the environment too: ``SERVER_URL`` (the
bench's loopback HTTP server, :func:`bench.labenv.server_url`) and ``SERVER_PORT_BASE`` (PostgreSQL
on base+200+N, as in the demo).

The demo workload's settings reach every tool through the environment, as demo/inventory.py reads
them: ``DEMO_PORT_BASE`` (the bench's, see :func:`bench.labenv.demo_port_base`) and
``DEMO_GREETING`` (from the revision: the ``change`` scenario's one changed line). Paracrine's
inventory takes its group data from demo/inventory.py itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import labenv, verify
from bench.config import DEMO_DIR, PARACRINE_DIR, PEERS_DIR, REV_VAR, WORK_DIR, Tool, Workload
from bench.venvs import bin_dir, venv_dir
from paracrine.lab.state import LabHost as Host

ENTRY_POINTS: dict[str, dict[Workload, Path]] = {
    "paracrine": {
        "standard": PARACRINE_DIR / "deploy.py",
        "fourop": PARACRINE_DIR / "fourop.py",
        "demo": DEMO_DIR / "deploy.py",  # the demo itself
        "server": PARACRINE_DIR / "server.py",
    },
    "pyinfra": {
        "standard": PEERS_DIR / "pyinfra" / "deploy.py",
        "fourop": PEERS_DIR / "pyinfra" / "fourop.py",
        "demo": PEERS_DIR / "pyinfra" / "demo_deploy.py",
        "server": PEERS_DIR / "pyinfra" / "server_deploy.py",
    },
    "ansible": {
        "standard": PEERS_DIR / "ansible" / "site.yml",
        "fourop": PEERS_DIR / "ansible" / "fourop.yml",
        "server": PEERS_DIR / "ansible" / "server.yml",
    },
}
#: The demo's inventory (its group data is read from here by Paracrine's generated inventory).
DEMO_INVENTORY = DEMO_DIR / "inventory.py"
ANSIBLE_CFG = PEERS_DIR / "ansible" / "ansible.cfg"
#: Environment variables of the bench itself that no tool should see.
PRIVATE_ENV = ("PARACRINE_LAB_DIR", "PARACRINE_LAB_PORT_BASE", "PARACRINE_STATE_DIR", REV_VAR)


@dataclass(frozen=True)
class Command:
    """One run of a tool: argv, the complete environment, and the working directory."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    #: Directories to delete after the run (e.g. Ansible's per-run control_path_dir).
    cleanup: tuple[Path, ...] = ()


def login(host: Host, workload: Workload) -> tuple[str, bool]:
    """(login user, become root through sudo) for a workload."""
    return (host.root_user, False) if workload == "fourop" else (host.user, True)


def base_env(rev: str, workload: Workload = "standard") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}
    env[REV_VAR] = rev
    env["PARACRINE_AGENT"] = "off"  # a `paracrine agent` of the user's never takes the bench's runs
    if workload == "demo":
        env["DEMO_PORT_BASE"] = str(labenv.demo_port_base())
        env["DEMO_GREETING"] = verify.demo_greeting(rev)
    if workload == "server":
        env["SERVER_URL"] = labenv.server_url()
        env["SERVER_PORT_BASE"] = str(labenv.demo_port_base())
    return env


class Adapter:
    """The common part of the tools: where their files go."""

    name: Tool

    def __init__(self, name: Tool) -> None:
        self.name = name

    @property
    def work(self) -> Path:
        return WORK_DIR / "tools" / self.name

    def entry_point(self, workload: Workload) -> Path:
        return ENTRY_POINTS[self.key][workload]

    @property
    def key(self) -> str:
        return {"ansible-mitogen": "ansible", "paracrine-agent": "paracrine"}.get(self.name, self.name)

    def supports(self, workload: Workload) -> bool:
        """Whether this tool has a deploy of ``workload``."""
        return workload in ENTRY_POINTS[self.key]

    def write_inventory(self, workload: Workload, hosts: list[Host]) -> Path:
        raise NotImplementedError

    def command(self, workload: Workload, inventory: Path, run_dir: Path, rev: str) -> Command:
        raise NotImplementedError

    def reset(self, workload: Workload) -> None:
        """Forget controller-side state before a run on fresh hosts (default: there is none)."""


class Paracrine(Adapter):
    """``paracrine deploy FILE -i inventory.py -y --state-dir DIR`` with the bench's own Paracrine."""

    def state_dir(self, workload: Workload) -> Path:
        return self.work / f"state-{workload}"

    def write_inventory(self, workload: Workload, hosts: list[Host]) -> Path:
        entries = []
        for h in hosts:
            user, become = login(h, workload)
            data = {
                "ssh_hostname": h.address,
                "ssh_port": h.port,
                "ssh_user": user,
                "ssh_key": h.key,
                "ssh_known_hosts": h.known_hosts,
                "become": become,
            }
            entries.append((h.name, data))
        path = self.work / f"inventory-{workload}-{len(hosts)}.py"
        text = f"# generated by bench/tools.py\nlab = {entries!r}\n"
        if workload == "demo":  # demo/inventory.py's group data (it reads the environment), as the demo has it
            text += f"\nimport runpy\n\ngroup_data = runpy.run_path({str(DEMO_INVENTORY)!r})['group_data']\n"
        write_text(path, text)
        return path

    def command(self, workload: Workload, inventory: Path, run_dir: Path, rev: str) -> Command:
        argv = [str(bin_dir("paracrine") / "paracrine"), "deploy", str(self.entry_point(workload))]
        argv += ["-i", str(inventory), "-y", "--state-dir", str(self.state_dir(workload))]
        return Command(argv, base_env(rev, workload), run_dir)

    def reset(self, workload: Workload) -> None:
        """Fresh hosts get a fresh fact cache too (the cache would only say "changed")."""
        shutil.rmtree(self.state_dir(workload), ignore_errors=True)


class ParacrineAgent(Paracrine):
    """The same command, handed to a ``paracrine agent`` that keeps the hosts connected between runs.

    The agent is started before the first run (untimed) and is not a child of the measuring
    wrapper, so it outlives each run, as a user's agent does: the first run of a cell connects,
    later ones reuse its contexts. Its socket is the bench's own (:func:`agent_socket`). A run's
    ``cpu`` is then the client's only; the agent's controller CPU shows in ``other_cpu``. Fresh
    hosts (``reset``) and the end of the invocation stop it.
    """

    def command(self, workload: Workload, inventory: Path, run_dir: Path, rev: str) -> Command:
        plain = super().command(workload, inventory, run_dir, rev)
        env = {**plain.env, **agent_env()}
        start_agent(env)
        return Command(plain.argv, env, plain.cwd)

    def reset(self, workload: Workload) -> None:
        super().reset(workload)
        stop_agents()


def agent_socket() -> Path:
    """The bench's agent socket: per lab (two benches of two labs may run at once), short (107 bytes)."""
    from paracrine.lab.paths import lab_paths

    return Path(tempfile.gettempdir()) / f"pbench-agent-{os.geteuid()}-{lab_paths().root.name}" / "agent.sock"


def agent_env() -> dict[str, str]:
    return {"PARACRINE_AGENT": "on", "PARACRINE_AGENT_SOCKET": str(agent_socket())}


def start_agent(env: dict[str, str]) -> None:
    """Start the bench's agent unless it runs (``paracrine agent start`` returns once it answers)."""
    argv = [str(bin_dir("paracrine") / "paracrine"), "agent", "start", "--idle", "3600"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"paracrine agent start exited {done.returncode}: {done.stderr.strip()}")


def stop_agents() -> None:
    """Stop the bench's agent if it runs (its connections close with it)."""
    if not agent_socket().exists():
        return
    argv = [str(bin_dir("paracrine") / "paracrine"), "agent", "stop"]
    subprocess.run(argv, env={**os.environ, **agent_env()}, capture_output=True, check=False)


class Pyinfra(Adapter):
    """``pyinfra -y inventory.py deploy.py`` (pyinfra 3, paramiko, sudo through ``_sudo`` host data)."""

    def write_inventory(self, workload: Workload, hosts: list[Host]) -> Path:
        entries = []
        for h in hosts:
            user, become = login(h, workload)
            data: dict[str, Any] = {
                "ssh_hostname": h.address,
                "ssh_port": h.port,
                "ssh_user": user,
                "ssh_key": h.key,
                "ssh_known_hosts_file": h.known_hosts,
            }
            if become:
                data["_sudo"] = True
            entries.append((h.name, data))
        path = self.work / f"inventory-{workload}-{len(hosts)}.py"
        write_text(path, f"# generated by bench/tools.py\nlab = {entries!r}\n")
        return path

    def command(self, workload: Workload, inventory: Path, run_dir: Path, rev: str) -> Command:
        argv = [str(bin_dir("pyinfra") / "pyinfra"), "-y", str(inventory), str(self.entry_point(workload))]
        return Command(argv, base_env(rev, workload), run_dir)


class Ansible(Adapter):
    """``ansible-playbook -i inventory.yml site.yml`` with bench/peers/ansible/ansible.cfg.

    Each run gets its own ``control_path_dir`` (inside the run directory); the measuring wrapper
    ends the ``ControlPersist`` masters after the run, so no run reuses another's connections.
    ``ansible-mitogen`` is the same playbook with the ``mitogen_linear`` strategy.
    """

    @property
    def mitogen(self) -> bool:
        return self.name == "ansible-mitogen"

    def config(self) -> Path:
        """ansible.cfg with the bench lab's known_hosts filled in."""
        from paracrine.lab.paths import lab_paths

        paths = lab_paths()
        text = ANSIBLE_CFG.read_text().replace("@KNOWN_HOSTS@", str(paths.state / "known_hosts"))
        path = WORK_DIR / "tools" / f"ansible-{paths.root.name}.cfg"  # one per lab: benches of two labs may run at once
        write_text(path, text)
        return path

    def write_inventory(self, workload: Workload, hosts: list[Host]) -> Path:
        members = {}
        for h in hosts:
            user, _ = login(h, workload)  # become is the playbook's (standard: yes; fourop: no)
            members[h.name] = {
                "ansible_host": h.address,
                "ansible_port": h.port,
                "ansible_user": user,
                "ansible_ssh_private_key_file": h.key,
            }
        path = self.work / f"inventory-{workload}-{len(hosts)}.yml"
        write_text(path, "# generated by bench/tools.py (JSON is YAML)\n" + json.dumps({"lab": {"hosts": members}}))
        return path

    def command(self, workload: Workload, inventory: Path, run_dir: Path, rev: str) -> Command:
        env = base_env(rev, workload)
        # Per run, and short: a Unix socket path holds at most 107 bytes.
        control = Path(tempfile.mkdtemp(prefix="bench-cp-"))
        env["ANSIBLE_CONFIG"] = str(self.config())
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(control)
        if self.mitogen:
            env["ANSIBLE_STRATEGY"] = "mitogen_linear"
            env["ANSIBLE_STRATEGY_PLUGINS"] = str(mitogen_strategy_dir())
        argv = [str(bin_dir(self.name) / "ansible-playbook"), "-i", str(inventory), str(self.entry_point(workload))]
        return Command(argv, env, run_dir, cleanup=(control,))


def mitogen_strategy_dir() -> Path:
    """``ansible_mitogen/plugins/strategy`` inside the ansible-mitogen venv (as Mitogen's docs say)."""
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv_dir("ansible-mitogen"))})
    return Path(purelib) / "ansible_mitogen" / "plugins" / "strategy"


def adapter(tool: Tool) -> Adapter:
    """The adapter of ``tool``."""
    if tool == "paracrine":
        return Paracrine(tool)
    if tool == "paracrine-agent":
        return ParacrineAgent(tool)
    if tool == "pyinfra":
        return Pyinfra(tool)
    return Ansible(tool)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
