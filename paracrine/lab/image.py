"""The hosts' lower layer: a cached debootstrap, an offline apt repository, and the customised base.

Built once and cached below ``$PARACRINE_LAB_DIR/cache``; the customised base
(``$PARACRINE_LAB_DIR/base``) is rebuilt from the cache in a few seconds when it is
missing, older than the client key, or was built by an older
:data:`~paracrine.lab.paths.BASE_VERSION`. The offline apt repository is not part of
the base: hosts see it through a bind mount (see :mod:`paracrine.lab.aptrepo`), so
adding packages to it rebuilds nothing.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from paracrine.errors import SetupError
from paracrine.lab.aptrepo import ensure_apt_repo
from paracrine.lab.mounts import bind_readonly, mounts_under, unmount, unmount_tree
from paracrine.lab.paths import (
    APT_REPO_IN_HOST,
    BASE_VERSION,
    INCLUDE_PACKAGES,
    LAB_USER,
    MARKER,
    SUITE,
    LabPaths,
    debian_mirror,
)
from paracrine.lab.tools import run

log = logging.getLogger("paracrine.lab")

SSHD_CONFIG = """\
# Paracrine lab host: key-only logins on loopback. The port comes from the command line.
ListenAddress 127.0.0.1
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
# PAM in a chroot without systemd or loginuid only gets in the way.
UsePAM no
UseDNS no
# Benchmarks open many connections at once.
MaxStartups 200:30:400
MaxSessions 200
PidFile /run/sshd.pid
"""
#: Package installs never start or restart services (exit 101: "action forbidden"): hosts
#: share the machine's network namespace, where a service on its default port collides.
POLICY_RC_D = """\
#!/bin/sh
# Paracrine lab host: package installs and upgrades never start, restart or stop services.
# Hosts share the controller's network namespace, so a service starting on its default
# port (80, 5432, ...) would collide with other hosts. Start services explicitly.
exit 101
"""
#: Like systemd on Debian, a unit no preset names is enabled when its package is installed
#: (Debian's daemonless systemctl fails ``preset`` for such a unit and leaves it disabled).
SYSTEMD_PRESET = """\
# Paracrine lab host: as with systemd on Debian, package installs enable their units.
enable *
"""
#: Where the daemonless systemctl's script goes, to be imported (and so compiled once) by the launcher.
SYSTEMCTL_DIR = "usr/lib/paracrine-lab"
#: /usr/bin/systemctl in a lab host: runs Debian's daemonless systemctl from its compiled form.
SYSTEMCTL_LAUNCHER = """\
#!/usr/bin/python3
# Paracrine lab host: Debian's daemonless systemctl (package systemctl), a 4,600-line Python
# script, run as a module so that Python compiles it once and keeps the result in __pycache__:
# as a script it was compiled at every call, which took more CPU than the call itself
# (systemd's own systemctl is a C program). The script is unchanged, in /usr/lib/paracrine-lab.
import runpy
import sys

sys.path.insert(0, "/usr/lib/paracrine-lab")
runpy.run_module("systemctl_script", run_name="__main__")
"""
#: Files present in every fresh host. /etc/workload.conf: the benchmark workload
#: (shared bench/workload.md) appends lines to a config file that already exists.
SEED_FILES = {
    "etc/workload.conf": "# /etc/workload.conf — seeded by the lab base image\nexisting_option = 1\n",
}


def ensure_cache(paths: LabPaths, packages: Iterable[str] = ()) -> None:
    """Build what is built once: the raw root filesystem, the client key, the apt repository.

    Args:
        paths: the lab's layout.
        packages: packages the offline apt repository must hold besides the default ones.
    """
    paths.cache.mkdir(parents=True, exist_ok=True)
    ensure_rootfs(paths)
    ensure_client_key(paths)
    ensure_apt_repo(paths, packages)


def ensure_rootfs(paths: LabPaths) -> None:
    """Debootstrap the raw root filesystem into ``rootfs-SUITE.tmp`` and rename it when complete."""
    raw = paths.rootfs
    if (raw / MARKER).is_file():
        return
    tmp = raw.with_name(raw.name + ".tmp")
    if not (tmp / MARKER).is_file():
        mirror = debian_mirror()
        log.info("lab: debootstrap %s (once, ~1 min) from %s", SUITE, mirror)
        started = time.monotonic()
        unmount_tree(tmp)  # a failed debootstrap may leave its /proc mounted
        remove_tree(tmp)
        logfile = paths.cache / "debootstrap.log"
        logfile.write_bytes(b"")
        argv = ["debootstrap", "--variant=minbase", f"--include={','.join(INCLUDE_PACKAGES)}"]
        run([*argv, SUITE, tmp, mirror], what="debootstrap", log=logfile)
        (tmp / MARKER).touch()
        log.info("lab: debootstrap done in %.1f s", time.monotonic() - started)
    replace_dir(tmp, raw)


def ensure_client_key(paths: LabPaths) -> None:
    """Generate the lab client key (ed25519, no passphrase) unless it exists."""
    if not paths.key.is_file():
        log.info("lab: generating the client key %s", paths.key)
        paths.key.with_name(paths.key.name + ".pub").unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "paracrine-lab", "-f", paths.key], what="ssh-keygen")
    pub = paths.key.with_name(paths.key.name + ".pub")
    if not pub.is_file():
        pub.write_text(run(["ssh-keygen", "-y", "-f", paths.key], what="ssh-keygen -y"))


def base_is_current(paths: LabPaths) -> bool:
    """Whether the base exists, has this BASE_VERSION and is newer than the client key."""
    marker = paths.base / MARKER
    try:
        if marker.read_text() != f"version={BASE_VERSION}\n":
            return False
        return marker.stat().st_mtime >= paths.key.stat().st_mtime
    except OSError:
        return False


def build_base(paths: LabPaths) -> None:
    """(Re)build the customised base from the raw root filesystem; no host may be using it."""
    log.info("lab: customising the base from %s", paths.rootfs)
    started = time.monotonic()
    tmp = paths.base.with_name("base.tmp")
    unmount_tree(tmp)  # an interrupted build may leave the apt repository mounted
    remove_tree(tmp)
    run(["cp", "-a", "--reflink=auto", paths.rootfs, tmp], what="copying the root filesystem")
    (tmp / MARKER).unlink()
    pub = paths.key.with_name(paths.key.name + ".pub").read_text().strip() + "\n"
    _configure_sshd(tmp)
    _add_users(tmp, pub)
    _configure_apt(tmp, paths.apt_repo)
    _configure_services(tmp)
    _compile_systemctl(tmp)
    for rel, text in SEED_FILES.items():
        write_file(tmp / rel, text, 0o644)
    (tmp / MARKER).write_text(f"version={BASE_VERSION}\n")
    replace_dir(tmp, paths.base)
    log.info("lab: base ready in %.1f s", time.monotonic() - started)


def _configure_sshd(base: Path) -> None:
    for key in (base / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    write_file(base / "etc/ssh/sshd_config.d/paracrine-lab.conf", SSHD_CONFIG, 0o644)


def _add_users(base: Path, pubkey: str) -> None:
    """root and ``lab`` log in with the client key; lab gets passwordless sudo.

    The password '*' means "no password" without locking the account: sshd
    without PAM refuses locked ('!') accounts even for key logins.
    """
    run(["chroot", base, "useradd", "-m", "-u", "1000", "-s", "/bin/bash", "-p", "*", LAB_USER], what="useradd")
    _authorize(base / "root", pubkey, 0, 0)
    uid, gid = _ids(base, LAB_USER)
    _authorize(base / "home" / LAB_USER, pubkey, uid, gid)
    write_file(base / f"etc/sudoers.d/{LAB_USER}", f"{LAB_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n", 0o440)


def _authorize(home: Path, pubkey: str, uid: int, gid: int) -> None:
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    write_file(ssh_dir / "authorized_keys", pubkey, 0o600)
    for path in (ssh_dir, ssh_dir / "authorized_keys"):
        shutil.chown(path, uid, gid)


def _ids(base: Path, user: str) -> tuple[int, int]:
    for line in (base / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise SetupError(f"user {user} is missing from {base}/etc/passwd after useradd")


def _configure_apt(base: Path, repo: Path) -> None:
    """Make the offline repository the host's only apt source, with its index already fetched.

    The repository is mounted at APT_REPO_IN_HOST for the ``apt-get update``; apt's
    list entry for a ``file:`` source is a symlink to its ``Packages``, which keeps
    following the repository that each host has mounted there.
    """
    (base / "etc/apt/sources.list").unlink(missing_ok=True)
    for source in (base / "etc/apt/sources.list.d").iterdir():
        source.unlink()
    line = f"deb [trusted=yes] file:{APT_REPO_IN_HOST} ./\n"
    write_file(base / "etc/apt/sources.list.d/paracrine-lab.list", line, 0o644)
    target = base / APT_REPO_IN_HOST.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    bind_readonly(repo.resolve(), target)
    try:
        run(["chroot", base, "apt-get", "-qq", "update"], what="apt-get update in the base")
    finally:
        unmount(target)
    run(["chroot", base, "apt-get", "-qq", "clean"], what="apt-get clean in the base")


def _configure_services(base: Path) -> None:
    """Package installs never start services (policy-rc.d) but enable their units, as on Debian."""
    write_file(base / "usr/sbin/policy-rc.d", POLICY_RC_D, 0o755)
    write_file(base / "usr/lib/systemd/system-preset/99-paracrine-lab.preset", SYSTEMD_PRESET, 0o644)


def _compile_systemctl(base: Path) -> None:
    """Install :data:`SYSTEMCTL_LAUNCHER` as systemctl, its script beside it, compiled with the host's Python."""
    script = base / "usr/bin/systemctl"
    if not script.read_bytes().startswith((b"#! /usr/bin/python3", b"#!/usr/bin/python3")):
        return  # not the daemonless script (a real systemd): leave it
    module = base / SYSTEMCTL_DIR / "systemctl_script.py"
    module.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(script, module)
    write_file(script, SYSTEMCTL_LAUNCHER, 0o755)
    run(["chroot", base, "python3", "-m", "py_compile", f"/{SYSTEMCTL_DIR}/systemctl_script.py"], what="py_compile")


def write_file(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` (parents created) and set its mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def remove_tree(path: Path) -> None:
    """Delete a directory tree that the lab owns, refusing if anything is mounted below it.

    Raises:
        SetupError: something is still mounted at or below ``path``.
    """
    mounted = mounts_under(path)
    if mounted:
        raise SetupError(f"refusing to delete {path}: {mounted[0]} is mounted", hint="run `paracrine lab down`")
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def replace_dir(new: Path, dest: Path) -> None:
    """Move the finished directory ``new`` to ``dest``, replacing what was there."""
    old = dest.with_name(dest.name + ".old")
    remove_tree(old)
    if dest.exists():
        dest.rename(old)
    new.rename(dest)
    remove_tree(old)
