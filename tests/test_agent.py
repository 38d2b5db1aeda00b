"""``paracrine agent``: runs handed to it keep their hosts connected; everything else is as without it.

Real processes: an agent started with ``python -m paracrine.agent`` on a socket of the
test's own, clients run as ``python -m paracrine``, and hosts with the ``@local``
connector (a real Mitogen context, a child process of the agent). Which process
ran a deploy's command on the "host" tells whether the context was kept.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from paracrine.agent_client import ask

Client = Callable[..., subprocess.CompletedProcess[str]]

DEPLOY = """\
import os
from paracrine.operations import files, server
files.directory("{tmp}/made-" + os.environ.get("DEMO_NAME", "none"))
server.shell("echo $PPID >> {tmp}/pids", title="who runs commands")
"""

#: A fact whose value is the PID of the interpreter that gathers it (which context served a run).
PIDFACTS = "import os\nfrom paracrine.fact import fact\n\n@fact\ndef pid() -> int:\n    return os.getpid()\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    run_dir = tmp_path / "sock"
    run_dir.mkdir(mode=0o700)
    values = dict(os.environ)
    values.pop("PARACRINE_AGENT", None)  # the test suite turns agents off; these tests want theirs
    values.update(
        PARACRINE_AGENT_SOCKET=str(run_dir / "agent.sock"),
        PARACRINE_TARGET_STATE_DIR=str(tmp_path / "target-state"),
        NO_COLOR="1",
    )
    return values


@pytest.fixture
def agent(env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "agent.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "paracrine.agent", "--idle", "120"], env=env, stdout=log, stderr=log, cwd="/"
    )
    socket_path = Path(env["PARACRINE_AGENT_SOCKET"])
    deadline = time.monotonic() + 20
    while _ping(env) is None:
        assert proc.poll() is None, (tmp_path / "agent.log").read_text()
        assert time.monotonic() < deadline, "the agent did not answer"
        time.sleep(0.05)
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    log.close()


def _ping(env: dict[str, str]) -> dict[str, object] | None:
    return ask({"ping": True}, Path(env["PARACRINE_AGENT_SOCKET"]))


@pytest.fixture
def client(env: dict[str, str], tmp_path: Path) -> Client:
    def run(*args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "paracrine", *args]
        env_ = {**env, **(extra or {})}
        return subprocess.run(argv, env=env_, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)

    return run


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    path = tmp_path / "deploy.py"
    path.write_text(DEPLOY.format(tmp=tmp_path))
    return path


def pids(tmp_path: Path) -> list[str]:
    return (tmp_path / "pids").read_text().split()


def test_runs_in_the_agent_keep_the_host_connected(
    agent: subprocess.Popen[bytes], client: Client, deploy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    first = client(str(deploy), "-i", "@local", "-y", extra={"DEMO_NAME": "one"})
    assert first.returncode == 0, first.stderr
    assert "@local: done" in first.stderr + first.stdout
    second = client(str(deploy), "-i", "@local", "-y", extra={"DEMO_NAME": "two"})
    assert second.returncode == 0, second.stderr
    # the client's environment reached the deploy file, each run its own
    assert (tmp_path / "made-one").is_dir() and (tmp_path / "made-two").is_dir()
    one, two = pids(tmp_path)
    assert one == two, "the second run started a new interpreter on the host"
    status = _ping(env)
    assert status is not None and status["hosts"] == 1 and status["busy"] is False
    # --check's exit code comes back through the agent: the shell is a change every time
    check = client(str(deploy), "-i", "@local", "--check")
    assert check.returncode == 2, check.stdout + check.stderr
    assert "who runs commands" in check.stdout
    without = client(str(deploy), "-i", "@local", "-y", extra={"PARACRINE_AGENT": "off"})
    assert without.returncode == 0
    assert pids(tmp_path)[-1] != one  # without the agent: a fresh interpreter


def test_run_op_and_facts_use_the_kept_interpreter_too(
    agent: subprocess.Popen[bytes], client: Client, deploy: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    assert client(str(deploy), "-i", "@local", "-y").returncode == 0
    (interpreter,) = pids(tmp_path)
    ran = client("run", "@local", "--", "sh", "-c", "echo pid=$PPID")
    assert ran.returncode == 0, ran.stderr
    assert f"pid={interpreter}" in ran.stdout, ran.stdout
    failed = client("run", "@local", "--", "false")  # the command's exit code, through the agent
    assert failed.returncode == 1 and "1 failed" in failed.stderr
    op = client("op", "@local", "server.shell", f"command=echo $PPID >> {tmp_path}/pids", "-y")
    assert op.returncode == 0, op.stderr
    assert pids(tmp_path) == [interpreter, interpreter]
    (tmp_path / "pidfacts.py").write_text(PIDFACTS)
    facts = client("facts", "@local", "pidfacts.pid", "--json")
    assert facts.returncode == 0, facts.stderr
    assert interpreter in facts.stdout, facts.stdout  # a fact gathered by the kept interpreter
    status = _ping(env)
    assert status is not None and status["sessions"] == 1 and status["busy"] is False
    alone = client("run", "@local", "--", "sh", "-c", "echo pid=$PPID", extra={"PARACRINE_AGENT": "off"})
    assert alone.returncode == 0 and f"pid={interpreter}" not in alone.stdout


def test_a_run_on_some_of_the_hosts_uses_the_session_kept_for_all(
    agent: subprocess.Popen[bytes], client: Client, tmp_path: Path, env: dict[str, str]
) -> None:
    """``--limit`` runs go to the contexts a whole-inventory run left; a run on a new host set connects.

    Dry runs (two ``@local`` hosts share one run lock): each host's fact ``pid`` is its context's
    PID, which the deploy file, run by the agent, writes down per host.
    """
    (tmp_path / "pidfacts.py").write_text(PIDFACTS)
    deploy = tmp_path / "site.py"
    deploy.write_text(
        "import pidfacts\nfrom paracrine import host\n"
        f'with open("{tmp_path}/pids-" + host.name, "a") as out:\n    out.write(f"{{host.fact(pidfacts.pid)}}\\n")\n'
    )
    inventory = tmp_path / "inventory.py"
    inventory.write_text('lab = [("a", {"connector": "local"}), ("b", {"connector": "local"})]\n')

    def seen(name: str) -> set[str]:
        return set((tmp_path / f"pids-{name}").read_text().split())

    assert client(str(deploy), "-i", str(inventory), "--dry-run").returncode == 0
    (first,) = seen("a")
    limited = client(str(deploy), "-i", str(inventory), "--limit", "a", "--dry-run")
    assert limited.returncode == 0, limited.stderr
    assert seen("a") == {first}, "the limited run started a new interpreter on a"
    status = _ping(env)
    assert status is not None and status["sessions"] == 1 and status["hosts"] == 2
    other = tmp_path / "other.py"
    other.write_text('lab = [("a", {"connector": "local"}), ("c", {"connector": "local"})]\n')
    assert client(str(deploy), "-i", str(other), "--dry-run").returncode == 0
    assert len(seen("a")) == 2  # not a subset: a session of its own
    status = _ping(env)
    assert status is not None and status["sessions"] == 2


def test_a_changed_user_module_drops_the_kept_session(
    agent: subprocess.Popen[bytes], client: Client, tmp_path: Path
) -> None:
    (tmp_path / "helper.py").write_text('NAME = "first"\n')
    deploy = tmp_path / "site.py"
    deploy.write_text(
        "from helper import NAME\nfrom paracrine.operations import files, server\n"
        f'files.directory("{tmp_path}/dir-" + NAME)\nserver.shell("echo $PPID >> {tmp_path}/pids")\n'
    )
    assert client(str(deploy), "-i", "@local", "-y").returncode == 0
    (tmp_path / "helper.py").write_text('NAME = "second!"\n')  # another size: a changed stamp however fast
    result = client(str(deploy), "-i", "@local", "-y")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dir-second!").is_dir(), "the agent kept the old module"
    first, second = pids(tmp_path)
    assert first != second, "a target may hold the old module: the session must be new"


def test_ctrl_c_interrupts_the_run_and_the_agent_carries_on(
    agent: subprocess.Popen[bytes], client: Client, tmp_path: Path, env: dict[str, str]
) -> None:
    slow = tmp_path / "slow.py"
    slow.write_text(
        f'from paracrine.operations import server\nserver.shell("touch {tmp_path}/started; sleep 60", title="slow")\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "paracrine", str(slow), "-i", "@local", "-y"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    # meanwhile the agent is busy: another run happens in its own process, as without an agent
    # (a dry run: the host's run lock is held by the run in the agent, as it would be by any run)
    other = tmp_path / "other.py"
    other.write_text(f'from paracrine.operations import files\nfiles.directory("{tmp_path}/other")\n')
    dry = client(str(other), "-i", "@local", "--check")
    assert dry.returncode == 2 and "files.directory" in dry.stdout, dry.stdout + dry.stderr
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    assert agent.poll() is None
    again = client(str(other), "-i", "@local", "-y")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "other").is_dir()
    status = _ping(env)
    assert status is not None and status["busy"] is False


def test_stop_closes_everything(
    agent: subprocess.Popen[bytes], client: Client, deploy: Path, env: dict[str, str]
) -> None:
    assert client(str(deploy), "-i", "@local", "-y").returncode == 0
    stopped = client("agent", "stop")
    assert stopped.returncode == 0 and "agent stopped" in stopped.stdout
    assert agent.wait(timeout=30) == 0
    assert not Path(env["PARACRINE_AGENT_SOCKET"]).exists()
    status = client("agent", "status")
    assert status.returncode == 1 and "no agent is running" in status.stdout
    assert client(str(deploy), "-i", "@local", "-y").returncode == 0  # no agent: the run happens in the client


def test_start_refuses_a_socket_directory_others_can_write(client: Client, env: dict[str, str]) -> None:
    directory = Path(env["PARACRINE_AGENT_SOCKET"]).parent
    directory.chmod(0o777)
    result = client("agent", "start")
    assert result.returncode == 4
    assert "is writable by group" in result.stderr and "nothing" not in result.stderr


@pytest.mark.parametrize(
    ("args", "handed"),
    [
        (["deploy.py", "-y"], True),
        (["deploy", "site.py", "--check"], True),
        (["-i", "inv.py", "deploy.py"], True),  # the same rule as the CLI's: not a command, so a deploy
        (["facts", "h01"], True),
        (["run", "web", "--", "uptime"], True),
        (["op", "web", "files.directory", "path=/srv/x"], True),
        (["watch", "deploy.py", "-y"], False),
        (["agent", "status"], False),
        (["deploy.py", "--help"], False),
        (["--version"], False),
        ([], False),
    ],
)
def test_which_runs_go_to_an_agent(args: list[str], handed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from paracrine.agent_client import wants_agent

    monkeypatch.setenv("PARACRINE_AGENT", "on")
    assert wants_agent(args) is handed
    monkeypatch.setenv("PARACRINE_AGENT", "off")
    assert wants_agent(args) is False


def test_an_agent_takes_runs_only_from_its_own_paracrine(agent: subprocess.Popen[bytes], env: dict[str, str]) -> None:
    import json
    import socket

    from paracrine.agent_client import LineReader, connect

    sock = connect(Path(env["PARACRINE_AGENT_SOCKET"]))
    assert sock is not None
    with sock:
        request = {"run": ["deploy.py"], "cwd": "/", "env": {}, "paracrine": "/elsewhere/paracrine 0.0.1"}
        socket.send_fds(sock, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        answer = LineReader(sock).next()
    assert answer is not None and answer["running"] is False
    assert "another Paracrine" in answer["note"]
    assert agent.poll() is None  # it carries on for its own clients


def test_start_never_replaces_a_file_that_is_not_a_socket(client: Client, env: dict[str, str]) -> None:
    path = Path(env["PARACRINE_AGENT_SOCKET"])
    path.write_text("precious\n")
    result = client("agent", "start", "--foreground")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "is not a socket" in result.stderr
    assert path.read_text() == "precious\n"


def test_start_never_follows_a_link_at_its_lock_path(client: Client, env: dict[str, str], tmp_path: Path) -> None:
    lock = Path(env["PARACRINE_AGENT_SOCKET"] + ".lock")
    lock.symlink_to(tmp_path / "victim")
    result = client("agent", "start", "--foreground")
    assert result.returncode == 4, result.stdout + result.stderr
    assert not (tmp_path / "victim").exists()  # nothing created through the link
    assert not Path(env["PARACRINE_AGENT_SOCKET"]).exists()


def test_a_host_lost_between_runs_is_connected_afresh(
    agent: subprocess.Popen[bytes], client: Client, deploy: Path, tmp_path: Path
) -> None:
    assert client(str(deploy), "-i", "@local", "-y").returncode == 0
    target = int(pids(tmp_path)[-1])  # the host's interpreter, kept by the agent
    os.kill(target, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{target}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    result = client(str(deploy), "-i", "@local", "-y")
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(pids(tmp_path)[-1]) != target


def test_a_runs_secrets_are_forgotten_after_it() -> None:
    probe = """
from paracrine import agent, gather, secret
secret.Secret("hunter2-in-the-agent")
assert secret.redact("pw hunter2-in-the-agent") == "pw ***"
url = "https://me:hunter2-in-the-agent@git.example/app.git"
key = gather.make_key("files.path_info", {"path": "/" + url})
assert gather.make_key("files.path_info", {"path": "/" + url}) is key
assert agent._run_cli(["--version"], agent.Pool()) == 0
assert secret.redact("pw hunter2-in-the-agent") == "pw hunter2-in-the-agent"
assert gather.make_key("files.path_info", {"path": "/" + url}) is not key  # the run's fact arguments are gone too
assert agent.pool() is None
"""  # in a process of its own: forgetting is global
    subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True)


def test_an_agent_that_has_bound_but_not_yet_answered_keeps_its_socket(tmp_path: Path) -> None:
    """Two agents started at once: the second must not take the first one's path while it cannot answer yet.

    Before the lock, the second found no answer, took the socket for a dead agent's, replaced
    it, and left the first running where no client could reach it.
    """
    import socket

    from paracrine.agent import Agent
    from paracrine.errors import UserError

    directory = tmp_path / "sock"
    directory.mkdir(mode=0o700)
    path = directory / "agent.sock"
    first = Agent(path)
    first.bind()  # bound, not serving yet: pings get no answer
    try:
        second = Agent(path)
        with pytest.raises(UserError, match="an agent is already running"):
            second.bind()
        assert first.listener is not None and path.is_socket()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(str(path))  # the path still leads to the first agent
            first.listener.settimeout(5)
            first.listener.accept()[0].close()
    finally:
        first.close()
    assert not path.exists()
    third = Agent(path)  # the lock went with the first: the path is free
    third.bind()
    third.close()


def test_two_agents_started_at_once_leave_one_running(env: dict[str, str], tmp_path: Path) -> None:
    """The others say so and exit 4; the socket answers with the survivor's pid."""
    argv = [sys.executable, "-m", "paracrine.agent", "--idle", "60"]
    procs = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/", text=True)
        for _ in range(4)
    ]
    try:
        deadline = time.monotonic() + 30
        while sum(p.poll() is not None for p in procs) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        running = [p for p in procs if p.poll() is None]
        assert len(running) == 1, [p.poll() for p in procs]
        for loser in procs:
            if loser is not running[0]:
                assert loser.returncode == 4
                assert "an agent is already running" in loser.communicate()[1]
        status = _ping(env)
        assert status is not None and status["pid"] == running[0].pid
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    assert not Path(env["PARACRINE_AGENT_SOCKET"]).exists()
    again = subprocess.Popen([*argv[:-1], "5"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
    try:  # the lock went with its holder: the next agent starts
        deadline = time.monotonic() + 30
        while _ping(env) is None:
            assert again.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=30)
