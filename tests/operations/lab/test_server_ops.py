"""The system operations of ``server.*`` on a real lab host: converge, then a second run changes nothing.

Lab hosts share the controller's kernel: only what is per host is changed here.
``kernel.domainname`` (the sysctl) and the host name are per UTS namespace, and
every lab host has its own; mounts are per mount namespace (a tmpfs); the
kernel here has no loadable modules (no /proc/modules), so modprobe is shown
persisting and refusing, never loading. The ``locales`` package is installed
by the deploy itself from the lab's offline repository: ``server.locale`` is
planned once it is there.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.testing import invoke

pytestmark = pytest.mark.lab

K1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIITi37B4vAj+OriQScslpeZ0Kzcv9XTdytPS3q0/mehZ k1@example"
K2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDNEZ2KPoS0GN0fKYbvpieXSeFgzDDca4p3Z610krAM1 k2@example"
RULE = "deploy ALL=(root) NOPASSWD: /usr/bin/true\n"

SITE = f"""\
from paracrine.operations import apt, server

server.user("deploy", home="/home/deploy", shell="/bin/bash")
server.user("mallory", home="/home/mallory", shell="/bin/bash")
server.authorized_keys("deploy", [{K1!r}, {K2!r}], exclusive=True)
server.crontab("/usr/local/bin/backup --all", name="backup", hour=2, minute=30, env={{"MAILTO": "ops@example.com"}})
server.crontab("/usr/bin/true", user="deploy", special="@daily")
server.sysctl("kernel.domainname", "paracrine.test")
server.hostname("web1.paracrine.test")
server.timezone("Europe/Berlin")
apt.packages(["locales"])
server.locale("de_DE.UTF-8", default=True)
server.mount("/mnt/cache", device="tmpfs", fstype="tmpfs", options="size=1m,mode=1777")
server.modprobe("paracrine_dummy", present=False)
server.sudoers("deploy", {RULE!r})
"""

FAILING = f"""\
from paracrine.operations import server

server.sudoers("deploy", "deploy ALL=(root) NOPASSWD /usr/bin/false\\n")
server.locale("en_UK.UTF-8")
server.modprobe("dummy")
server.authorized_keys("mallory", [{K1!r}])
"""

HAND_CRONTAB = "# written by hand\nMAILTO=root\n*/5 * * * * /usr/local/bin/poll\n"


def on(host: Any, path: str) -> Path:
    """A path inside the lab host's root filesystem, seen from the controller."""
    return Path(host.root) / path.lstrip("/")


def ssh(host: Any, *command: str, stdin: str = "") -> str:
    """Run a command as root on the lab host (inside its namespaces); returns its output."""
    import paracrine.lab as lab

    config = lab.lab_dir() / "state" / "ssh_config"
    argv = ["ssh", "-F", str(config), "-l", "root", host.name, *command]
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def deploy(tmp_path: Path, text: str, *args: str) -> Any:
    path = tmp_path / "site.py"
    path.write_text(text)
    return invoke([str(path), "-i", "@lab/1", "-y", "--state-dir", str(tmp_path / "state"), *args])


def uid_of(host: Any, user: str) -> int:
    for line in on(host, "/etc/passwd").read_text().splitlines():
        if line.split(":")[0] == user:
            return int(line.split(":")[2])
    raise AssertionError(f"no user {user}")


def test_server_operations_converge_then_change_nothing(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    (host,) = lab_hosts(1, packages=["locales"])
    ssh(host, "crontab", "-u", "root", "-", stdin=HAND_CRONTAB)
    on(host, "/etc/modules-load.d").mkdir(exist_ok=True)
    on(host, "/etc/modules-load.d/paracrine_dummy.conf").write_text("paracrine_dummy\n")
    controller = (Path("/proc/sys/kernel/domainname").read_text(), os.uname().nodename)

    applied = deploy(tmp_path, SITE)
    assert applied.exit_code == 0, applied.stdout + applied.stderr

    crontab = ssh(host, "crontab", "-l", "-u", "root")
    assert (
        crontab == HAND_CRONTAB + "#Paracrine: backup\nMAILTO=ops@example.com\n30 2 * * * /usr/local/bin/backup --all\n"
    )
    assert ssh(host, "crontab", "-l", "-u", "deploy") == "@daily /usr/bin/true\n"
    assert ssh(host, "cat", "/proc/sys/kernel/domainname") == "paracrine.test\n"
    assert on(host, "/etc/sysctl.d/99-paracrine.conf").read_text() == "kernel.domainname = paracrine.test\n"
    assert ssh(host, "hostname") == "web1.paracrine.test\n"
    assert on(host, "/etc/hostname").read_text() == "web1.paracrine.test\n"
    assert "127.0.1.1\tweb1.paracrine.test web1\n" in on(host, "/etc/hosts").read_text()
    assert os.readlink(on(host, "/etc/localtime")) == "/usr/share/zoneinfo/Europe/Berlin"
    assert on(host, "/etc/timezone").read_text() == "Europe/Berlin\n"
    assert ssh(host, "date", "+%Z").strip() in ("CET", "CEST")
    assert "\nde_DE.UTF-8 UTF-8\n" in on(host, "/etc/locale.gen").read_text()
    assert "de_DE.utf8" in ssh(host, "locale", "-a").split()
    settings = on(host, "/etc/default/locale").read_text().splitlines()  # the package wrote a comment first
    assert [line for line in settings if line.startswith("LANG")] == ["LANG=de_DE.UTF-8"]
    mounted = [line.split() for line in ssh(host, "cat", "/proc/self/mountinfo").splitlines()]
    assert any(f[4] == "/mnt/cache" and f[-3] == "tmpfs" and "size=1024k" in f[-1] for f in mounted)
    assert "tmpfs\t/mnt/cache\ttmpfs\tsize=1m,mode=1777\t0\t0\n" in on(host, "/etc/fstab").read_text()
    assert not on(host, "/etc/modules-load.d/paracrine_dummy.conf").exists()
    keys, ssh_dir = on(host, "/home/deploy/.ssh/authorized_keys"), on(host, "/home/deploy/.ssh")
    assert keys.read_text() == f"{K1}\n{K2}\n"
    assert (keys.stat().st_mode & 0o7777, ssh_dir.stat().st_mode & 0o7777) == (0o600, 0o700)
    assert keys.stat().st_uid == ssh_dir.stat().st_uid == uid_of(host, "deploy")
    sudoers = on(host, "/etc/sudoers.d/deploy")
    assert sudoers.read_text() == RULE and sudoers.stat().st_mode & 0o7777 == 0o440
    assert ssh(host, "sudo", "-l", "-U", "deploy").rstrip().endswith("(root) NOPASSWD: /usr/bin/true")
    # the controller's own kernel settings are untouched (the lab host has its own UTS namespace)
    assert (Path("/proc/sys/kernel/domainname").read_text(), os.uname().nodename) == controller

    again = deploy(tmp_path, SITE, "--json")
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    statuses = {op["title"]: op["status"] for op in report["hosts"]["h01"]["operations"]}
    assert set(statuses.values()) == {"ok"}, statuses
    assert report["round_trips"]["apply"] == 0
    # in sync, in one round trip
    checked = deploy(tmp_path, SITE, "--check", "--json")
    assert checked.exit_code == 0, checked.stderr
    assert json.loads(checked.stdout)["round_trips"] == {"apply": 0, "facts": 1, "per_host": {"h01": 1}}


def test_server_operations_refuse_what_they_cannot_do_safely(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    (host,) = lab_hosts(1, packages=["locales"])
    assert deploy(tmp_path, SITE).exit_code == 0
    root_keys = on(host, "/root/.ssh/authorized_keys").read_bytes()
    planted = on(host, "/home/mallory/.ssh")
    planted.symlink_to("/root/.ssh")  # what mallory could do in their own home
    os.lchown(planted, uid_of(host, "mallory"), uid_of(host, "mallory"))

    failed = deploy(tmp_path, FAILING)
    out = failed.stdout + failed.stderr
    assert failed.exit_code == 1, out
    assert "visudo -cf" in out and "syntax error" in out  # checked before it was moved in place
    assert on(host, "/etc/sudoers.d/deploy").read_text() == RULE
    assert not [p for p in on(host, "/etc/sudoers.d").iterdir() if p.name.startswith(".")]
    assert "'en_UK.UTF-8' is not a locale this host supports; did you mean 'en_US.UTF-8'" in out
    assert "cannot load dummy: the kernel has no loadable module support" in out
    assert "/home/mallory/.ssh exists and is a symbolic link to /root/.ssh" in out
    assert on(host, "/root/.ssh/authorized_keys").read_bytes() == root_keys
    assert os.readlink(planted) == "/root/.ssh"
