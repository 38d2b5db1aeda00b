"""apt and systemd beyond the JSON cases: merged apt-get runs and one daemon-reload per batch on the
target's executor (with stand-ins for apt-get and systemctl), handler planning, quoting, keys."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paracrine import dag, handlers
from paracrine.changes import AptGet, Change, DaemonReload, RunCommand, WriteFile
from paracrine.changes import apt as apt_changes
from paracrine.facts import apt as apt_facts
from paracrine.gather import HostFacts, make_key
from paracrine.hosts import Host, HostData
from paracrine.operation import OpCall, Options
from paracrine.operations import files, systemd
from paracrine.plan import Planner
from paracrine.remote.execute import run_batch

# ---------------------------------------------------------------- the executor, with stand-in tools

FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> {log}
case "$*" in
  *update*) touch {lists}/new-list ;;
  *" install "*|*" remove "*|*" purge "*) echo "$*" >> {status} ;;
esac
case "$*" in *fail-me*) echo "E: Unable to locate package fail-me" >&2; exit 100 ;; esac
"""


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``apt-get`` and ``systemctl`` that log their arguments; apt's state files in tmp_path. Returns the log."""
    bin_dir, lists, status, log = tmp_path / "bin", tmp_path / "lists", tmp_path / "status", tmp_path / "log"
    for directory in (bin_dir, lists):
        directory.mkdir()
    status.write_text("")
    for tool in ("apt-get", "systemctl"):
        script = bin_dir / tool
        script.write_text(FAKE_TOOL.format(log=log, lists=lists, status=status))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(apt_facts, "DPKG_STATUS", str(status))
    monkeypatch.setattr(apt_facts, "LISTS_DIR", str(lists))
    monkeypatch.setattr(apt_changes, "UPDATE_STAMP", str(tmp_path / "periodic/update-success-stamp"))
    return log


def _batch(*steps: list[Change]) -> dict[str, Any]:
    wire_steps = [
        {
            "id": i,
            "label": f"step {i}",
            "needs": [],
            "changes": [c.to_wire() for c in changes],
            "conditional": [False] * len(changes),
            "ignore_errors": False,
            "sensitive": False,
            "triggers": [],
            "handler": None,
        }
        for i, changes in enumerate(steps)
    ]
    return {"version": 1, "deploy": "t", "steps": wire_steps, "forget": []}


def _calls(log: Path) -> list[str]:
    return [
        " ".join(w for w in line.split() if not w.startswith(("-o", "DPkg::", "Dpkg::")))
        for line in log.read_text().splitlines()
    ]


def test_consecutive_package_steps_run_as_one_apt_get(tools: Path, tmp_path: Path) -> None:
    reply = run_batch(
        _batch(  # type: ignore[arg-type]
            [AptGet("update"), AptGet("install", ("nginx",))],
            [AptGet("install", ("curl", "nginx"))],
            [AptGet("install", ("git",))],
            [AptGet("remove", ("vim",))],
            [AptGet("upgrade")],
        )
    )
    assert _calls(tools) == [
        "apt-get -q update",
        "apt-get -y -q install nginx curl git",
        "apt-get -y -q remove vim",
        "apt-get -y -q upgrade",
    ]
    assert [s["status"] for s in reply["steps"]] == ["changed", "changed", "changed", "changed", "unchanged"]
    assert reply["steps"][1]["changes"][0]["stdout"] == reply["steps"][2]["changes"][0]["stdout"]
    assert (tmp_path / "periodic/update-success-stamp").exists()


def test_a_failed_apt_get_fails_every_step_it_ran_for_and_stops_the_rest(tools: Path) -> None:
    reply = run_batch(_batch([AptGet("install", ("fail-me",))], [AptGet("install", ("a",))], [AptGet("purge", ("b",))]))  # type: ignore[arg-type]
    assert _calls(tools) == ["apt-get -y -q install fail-me a"]
    assert [s["status"] for s in reply["steps"]] == ["failed", "failed", "failed"]
    assert "Unable to locate package fail-me" in str(reply["steps"][1]["error"])
    assert reply["steps"][2]["error"] == "not run: an earlier apt-get failed"


def test_daemon_reload_runs_once_before_the_first_start(tools: Path, tmp_path: Path) -> None:
    units = [WriteFile(str(tmp_path / f"{name}.service"), b"[Service]\n") for name in ("a", "b")]
    start = RunCommand(("systemctl", "start", "a.service"))
    batch = _batch([units[0], DaemonReload()], [units[1], DaemonReload()], [start], [DaemonReload()])
    reply = run_batch(batch)  # type: ignore[arg-type]
    assert _calls(tools) == ["systemctl daemon-reload", "systemctl start a.service", "systemctl daemon-reload"]
    assert [s["status"] for s in reply["steps"]] == ["changed"] * 4
    assert [len(s["changes"]) for s in reply["steps"]] == [2, 2, 1, 1]  # the one reload is reported by both


# ---------------------------------------------------------------- systemd.service as a handler

ACTIVE = {"load": "loaded", "active": "active", "sub": "running", "enabled": "enabled", "path": None,
          "description": None, "need_daemon_reload": False}  # fmt: skip


def _plan(unit: dict[str, Any], trigger_changes: bool, **service: Any) -> tuple[list[str], list[bool]]:
    """Plan a files.file trigger and ``systemd.service('nginx', reload_on=[it], **service)``."""
    host = Host("h", (), HostData("h", {}), "case")
    path = "/etc/nginx/site"
    facts = {
        make_key("files.path_info", {"path": path}): None if trigger_changes else _file_info(),
        make_key("files.sha256", {"path": path}): None if trigger_changes else hashlib.sha256(b"x").hexdigest(),
        make_key("systemd.unit", {"name": "nginx.service"}): unit,
        handlers.pending_fact_key(): {},
    }
    site = OpCall(files.file, files.file.bind([path], {"content": "x"}), Options(), "t", "h", 0)
    args = systemd.service.bind(["nginx"], service)
    handler = OpCall(systemd.service, args, Options(reload_on=(site,)), "t", "h", 1)
    handlers.assign_keys([site, handler], "t")
    plan = Planner(host, dag.build([site, handler]), HostFacts("h", facts)).plan([site, handler], set(), set())
    planned = plan.ops[1]
    return [" ".join(c.argv) for c in planned.changes if isinstance(c, RunCommand)], planned.conditional


def _file_info() -> dict[str, Any]:
    return {"kind": "file", "mode": 0o644, "owner": "root", "group": "root", "uid": 0, "gid": 0, "size": 1,
            "mtime": 1.0, "target": None}  # fmt: skip


def test_a_triggered_handler_reloads_a_running_service() -> None:
    assert _plan(ACTIVE, True, running=True, reloaded=True) == (["systemctl reload nginx.service"], [True])
    assert _plan(ACTIVE, False, running=True, reloaded=True) == ([], [])


def test_a_handler_starts_a_stopped_service_whether_triggered_or_not_and_never_also_restarts_it() -> None:
    stopped = {**ACTIVE, "active": "inactive", "sub": "dead", "enabled": "disabled"}
    changes = ["systemctl enable nginx.service", "systemctl start nginx.service"]
    # Triggered: the start is the handler's action (it clears the trigger's record).
    assert _plan(stopped, True, running=True, enabled=True, restarted=True) == (changes, [False, True])
    assert _plan(stopped, False, running=True, enabled=True, restarted=True) == (changes, [False, False])


def test_restarted_without_triggers_restarts_on_every_run() -> None:
    from paracrine.testing import plan_case

    facts = [["systemd.unit", {"name": "nginx.service"}, ACTIVE]]
    planned = plan_case(systemd.service, {"args": ["nginx"], "kwargs": {"restarted": True}, "facts": facts})
    assert [c.to_json()["argv"] for c in planned.changes] == [["systemctl", "restart", "nginx.service"]]


# ---------------------------------------------------------------- small parts


def test_exec_line_quotes_every_word_and_escapes_specifiers() -> None:
    line = systemd.exec_line(["/bin/sh", "-c", 'echo "$HOME" 100% \\ done'])
    assert line == '"/bin/sh" "-c" "echo \\"$$HOME\\" 100%% \\\\ done"'


def test_key_format() -> None:
    assert apt_changes.key_format(b"\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n...") == "asc"
    assert apt_changes.key_format(b"\x99\x01\x0d\x04") == "gpg"  # old-format public-key packet
    assert apt_changes.key_format(b"\xc6\x33\x04") == "gpg"  # new format
    assert apt_changes.key_format(b"\xb4\x00") is None  # a user id packet first
    assert apt_changes.key_format(b"PK\x03\x04") is None


def test_apt_get_changes_describe_themselves() -> None:
    change = AptGet("install", ("nginx=1.22.1-9",), ("--no-install-recommends",))
    assert change.describe() == (
        "run apt-get -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef "
        "-o Dpkg::Options::=--force-confold install --no-install-recommends nginx=1.22.1-9"
    )
    assert change.describe(masked=True) == "run apt-get install (hidden)"
    assert apt_changes.merge_key(change.to_wire()) == "apt-get"
    assert apt_changes.merge_key(AptGet("dist-upgrade").to_wire()) is None
    with pytest.raises(ValueError, match="is not one of"):
        AptGet("autoremove")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    www = tmp_path / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(os.geteuid() != 0, reason="keyrings are written owned by root")
def test_download_key_checks_format_and_hash(served: tuple[Path, str], tmp_path: Path) -> None:
    www, base = served
    key = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n"
    (www / "k.asc").write_bytes(key)
    (www / "page.html").write_bytes(b"<html>moved</html>")
    dest = str(tmp_path / "keyrings/k.asc")
    digest = hashlib.sha256(key).hexdigest()
    assert apt_changes.download_key(f"{base}/k.asc", dest, "asc", digest) == {"changed": True}
    assert Path(dest).read_bytes() == key and Path(dest).stat().st_mode & 0o777 == 0o644
    assert apt_changes.download_key(f"{base}/k.asc", dest, "asc") == {"changed": False}
    assert "not " + "1" * 64 in apt_changes.download_key(f"{base}/k.asc", dest, "asc", "1" * 64)["error"]
    wrong = apt_changes.download_key(f"{base}/page.html", dest, "asc")
    assert wrong["error"].endswith("is not an OpenPGP public key, but " + dest + " needs an armored key (.asc)")
    assert apt_changes.download_key(f"{base}/k.asc", dest, "gpg")["error"].endswith("needs a binary key (.gpg)")
