"""The hosts' lower layer: a cached debootstrap, an offline apt repository, and the customised base.

Built once and cached below ``$PARACRINE_LAB_DIR/cache``; the customised base
(``$PARACRINE_LAB_DIR/base``) is rebuilt from the cache in a few seconds when it is
missing, older than the client key or the apt repository, or was built by an
older :data:`~paracrine.lab.paths.BASE_VERSION`.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from paracrine.errors import SetupError
from paracrine.lab.mounts import mounts_under, unmount_tree
from paracrine.lab.paths import (
    BASE_VERSION,
    INCLUDE_PACKAGES,
    LAB_USER,
    MARKER,
    OFFLINE_PACKAGES,
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
APT_REPO_IN_HOST = "/srv/lab-apt"
#: Files present in every fresh host. /etc/workload.conf: the benchmark workload
#: (shared bench/workload.md) appends lines to a config file that already exists.
SEED_FILES = {
    "etc/workload.conf": "# /etc/workload.conf — seeded by the lab base image\nexisting_option = 1\n",
}


def ensure_cache(paths: LabPaths) -> None:
    """Build what is built once: the raw root filesystem, the apt repository, the client key."""
    paths.cache.mkdir(parents=True, exist_ok=True)
    ensure_rootfs(paths)
    ensure_apt_repo(paths)
    ensure_client_key(paths)


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


def ensure_apt_repo(paths: LabPaths) -> None:
    """Build the offline apt repository (``apt-get download`` + ``dpkg-scanpackages``)."""
    repo = paths.apt_repo
    wanted = " ".join(OFFLINE_PACKAGES) + "\n"
    if (repo / MARKER).is_file() and (repo / MARKER).read_text() == wanted:
        return
    log.info("lab: building the offline apt repository (%s)", ", ".join(OFFLINE_PACKAGES))
    tmp = repo.with_name(repo.name + ".tmp")
    remove_tree(tmp)
    tmp.mkdir(parents=True)
    run(["apt-get", "download", *OFFLINE_PACKAGES], what="apt-get download", cwd=tmp)
    index = run(["dpkg-scanpackages", "--multiversion", ".", "/dev/null"], what="dpkg-scanpackages", cwd=tmp)
    (tmp / "Packages").write_text(index)
    (tmp / MARKER).write_text(wanted)
    replace_dir(tmp, repo)


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
    """Whether the base exists, has this BASE_VERSION and is newer than the key and the apt repository."""
    marker = paths.base / MARKER
    try:
        if marker.read_text() != f"version={BASE_VERSION}\n":
            return False
        built = marker.stat().st_mtime
        return built >= paths.key.stat().st_mtime and built >= (paths.apt_repo / MARKER).stat().st_mtime
    except OSError:
        return False


def build_base(paths: LabPaths) -> None:
    """(Re)build the customised base from the raw root filesystem; no host may be using it."""
    log.info("lab: customising the base from %s", paths.rootfs)
    started = time.monotonic()
    tmp = paths.base.with_name("base.tmp")
    remove_tree(tmp)
    run(["cp", "-a", "--reflink=auto", paths.rootfs, tmp], what="copying the root filesystem")
    (tmp / MARKER).unlink()
    pub = paths.key.with_name(paths.key.name + ".pub").read_text().strip() + "\n"
    _configure_sshd(tmp)
    _add_users(tmp, pub)
    _configure_apt(tmp, paths.apt_repo)
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
    """Make the offline repository the host's only apt source, with its index already fetched."""
    (base / "etc/apt/sources.list").unlink(missing_ok=True)
    for source in (base / "etc/apt/sources.list.d").iterdir():
        source.unlink()
    target = base / APT_REPO_IN_HOST.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    for item in repo.iterdir():
        if item.name != MARKER:
            shutil.copy2(item, target / item.name)
    line = f"deb [trusted=yes] file:{APT_REPO_IN_HOST} ./\n"
    write_file(base / "etc/apt/sources.list.d/paracrine-lab.list", line, 0o644)
    run(["chroot", base, "apt-get", "-qq", "update"], what="apt-get update in the base")
    run(["chroot", base, "apt-get", "-qq", "clean"], what="apt-get clean in the base")


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
