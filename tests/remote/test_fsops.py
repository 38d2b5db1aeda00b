"""paracrine.remote.fsops: path operations that never act through an untrusted symbolic link.

Offline, as root, in temporary directories. The attack tests run the attacker
as the unprivileged user ``nobody`` in a forked child (setuid), in a scratch
directory outside pytest's 0700 base temp (see ``world``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import pwd
import shutil
import socket
import stat
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from paracrine.remote import fsops
from paracrine.remote.fsops import UnsafePathError, ValidationError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, setuid to nobody)")

NOBODY = pwd.getpwnam("nobody").pw_uid if os.name == "posix" else 65534
SECRET = b"root only\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes, **kwargs: object) -> bool:
    return fsops.write_file(str(path), data, sha256=sha(data), **kwargs)  # type: ignore[arg-type]


def snap(path: Path) -> tuple[int, int, int, int, bytes]:
    st = path.lstat()
    return st.st_ino, st.st_mode, st.st_uid, st.st_gid, path.read_bytes()


def unchanged_stat(path: Path) -> tuple[int, int]:
    st = path.lstat()
    return st.st_ino, st.st_ctime_ns


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".paracrine-" in p.name)


def fork_as_nobody(func: Callable[[], None], pipe: int | None = None) -> int:
    """Run ``func`` as nobody in a forked child; returns its pid (exit 0 = func returned)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            func()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def wait_ok(pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def as_nobody(func: Callable[[], None]) -> None:
    wait_ok(fork_as_nobody(func))


@pytest.fixture
def world() -> Iterator[Path]:
    """A root-owned 0755 scratch directory that ``nobody`` can traverse.

    Not under ``tmp_path``: pytest keeps /tmp/pytest-of-root at 0700 and puts it
    back at the start of every session (other sessions run concurrently on this
    machine), so loosening it would be racy.
    """
    base = Path(tempfile.mkdtemp(prefix="paracrine-fsops-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base)


@pytest.fixture
def pub(world: Path) -> Path:
    """A world-writable sticky directory, like /tmp."""
    path = world / "pub"
    path.mkdir()
    path.chmod(0o1777)
    return path


@pytest.fixture
def home(world: Path) -> Path:
    """A directory owned by ``nobody`` (like a user's home managed by root)."""
    path = world / "home"
    path.mkdir()
    os.chown(path, NOBODY, NOBODY)
    return path


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A root-only 0600 file."""
    path = tmp_path / "victim"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


@pytest.fixture
def victim_dir(tmp_path: Path) -> Path:
    """A root-only 0700 directory holding a root-only file ``secret``."""
    path = tmp_path / "vdir"
    path.mkdir(mode=0o700)
    (path / "secret").write_bytes(SECRET)
    (path / "secret").chmod(0o600)
    return path


@pytest.fixture(autouse=True)
def no_fd_leaks() -> Iterator[None]:
    before = len(os.listdir("/proc/self/fd"))
    yield
    assert len(os.listdir("/proc/self/fd")) == before


# -- paths ---------------------------------------------------------------------------------------------------------


BAD_PATHS = ["", "relative/x", "x", "/a/../b", "/a/..", "/a/\0b"]
OPERATIONS: dict[str, Callable[[str], object]] = {
    "open_parent": fsops.open_parent,
    "write_file": lambda p: fsops.write_file(p, b"", sha256=sha(b"")),
    "make_directory": fsops.make_directory,
    "make_link": lambda p: fsops.make_link(p, "x"),
    "remove": fsops.remove,
    "set_attributes": lambda p: fsops.set_attributes(p, mode=0o644),
}


@pytest.mark.parametrize("path", BAD_PATHS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_bad_paths_are_refused(operation: str, path: str) -> None:
    with pytest.raises(ValueError):
        OPERATIONS[operation](path)


def test_slashes_are_normalised(tmp_path: Path) -> None:
    fd, name = fsops.open_parent("/" + str(tmp_path).replace("/", "//") + "/./x/")
    try:
        assert name == "x"
        assert os.path.samestat(os.fstat(fd), tmp_path.stat())
    finally:
        os.close(fd)


def test_root_itself(tmp_path: Path) -> None:
    fd, name = fsops.open_parent("/")
    os.close(fd)
    assert name == "."
    assert fsops.make_directory("/") is False
    with pytest.raises(IsADirectoryError):
        fsops.write_file("/", b"", sha256=sha(b""))
    for path in ("/", "//", "/."):
        with pytest.raises(ValueError, match="refusing to remove /"):
            fsops.remove(path, recursive=True)


def test_not_a_directory_on_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    for create in (False, True):
        with pytest.raises(NotADirectoryError) as info:
            fsops.open_parent(str(tmp_path / "file" / "x" / "y"), create=create)
        assert info.value.filename == str(tmp_path / "file")


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        fsops.open_parent(str(tmp_path / "missing" / "x" / "y"))
    assert info.value.filename == str(tmp_path / "missing")


def test_created_parents_are_0755_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        assert write(tmp_path / "a" / "b" / "f", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a" / "b" / "f").stat().st_mode) == 0o644


# -- trusted and untrusted links on the way ------------------------------------------------------------------------


def test_trusted_links_on_the_way_are_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "rel").symlink_to("real")
    (tmp_path / "abs").symlink_to(tmp_path / "real")
    (tmp_path / "sub" / "up").symlink_to("../rel/")  # "..", a link to a link, a trailing slash
    assert write(tmp_path / "rel" / "a", b"a")
    assert write(tmp_path / "abs" / "b", b"b")
    assert write(tmp_path / "sub" / "up" / "c", b"c")
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["a", "b", "c"]
    assert (tmp_path / "rel").is_symlink()


@pytest.mark.skipif(not os.path.islink("/bin"), reason="no merged /usr")
def test_merged_usr_links_are_trusted() -> None:
    fd, name = fsops.open_parent("/bin/sh")
    try:
        assert name == "sh"
        assert os.path.samestat(os.fstat(fd), os.stat("/usr/bin"))
    finally:
        os.close(fd)


def test_link_hops_are_limited(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    chain = [tmp_path / f"l{i}" for i in range(42)]
    for here, there in zip(chain, [*chain[1:], tmp_path / "real"], strict=True):
        here.symlink_to(there.name)
    fd, _ = fsops.open_parent(str(chain[2] / "x"))  # 40 links
    os.close(fd)
    with pytest.raises(OSError) as info:
        fsops.open_parent(str(chain[1] / "x"))  # 41 links
    assert info.value.errno == errno.ELOOP
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(OSError, match="symbolic links"):
        write(tmp_path / "a" / "x", b"")


def untrusted_cases(tmp_path: Path, pub: Path) -> list[Path]:
    """Links to a real directory that must not be followed; returns the links."""
    (tmp_path / "real").mkdir()
    links = []
    pub_link = pub / "root-link"  # root's own link, but in a world-writable directory
    pub_link.symlink_to(tmp_path / "real")
    links.append(pub_link)
    nobody_link = tmp_path / "nobody-link"  # a link owned by someone else
    nobody_link.symlink_to("real")
    os.lchown(nobody_link, NOBODY, NOBODY)
    links.append(nobody_link)
    for name, owner, mode in (("other-dir", NOBODY, 0o755), ("group-dir", 0, 0o775)):
        directory = tmp_path / name  # a directory owned by someone else, or group-writable
        directory.mkdir()
        directory.chmod(mode)
        os.chown(directory, owner, 0)
        (directory / "link").symlink_to(tmp_path / "real")
        links.append(directory / "link")
    return links


def test_untrusted_links_on_the_way_are_refused(tmp_path: Path, pub: Path) -> None:
    for link in untrusted_cases(tmp_path, pub):
        with pytest.raises(UnsafePathError) as info:
            write(link / "f", b"x")
        message = str(info.value)
        assert message.startswith(f"{link}/f: symbolic link {link} -> ")
        assert "is not followed" in message
        assert isinstance(info.value, OSError)
    assert list((tmp_path / "real").iterdir()) == []


def test_final_component_is_never_followed(tmp_path: Path, victim: Path, victim_dir: Path) -> None:
    link = tmp_path / "link"  # root's own link in a root-only directory: trusted, yet not followed
    link.symlink_to(victim)
    before = snap(victim)
    assert fsops.set_attributes(str(link), mode=0o644) is False
    with pytest.raises(FileExistsError, match="a symbolic link is in the way"):
        fsops.make_directory(str(link))
    assert write(link, b"new")
    assert not link.is_symlink() and link.read_bytes() == b"new"
    link.unlink()
    link.symlink_to(victim_dir)
    assert fsops.remove(str(link), recursive=True)
    assert not os.path.lexists(link)
    assert snap(victim) == before
    assert (victim_dir / "secret").read_bytes() == SECRET


# -- write_file ----------------------------------------------------------------------------------------------------


def test_write_file_creates_then_does_nothing(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert write(path, b"hello", mode=0o640, uid=1234, gid=2345)
    st = path.stat()
    assert (path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (b"hello", 0o640, 1234, 2345)
    before = unchanged_stat(path)
    assert write(path, b"hello", mode=0o640, uid=1234, gid=2345) is False
    assert write(path, b"hello") is False
    assert unchanged_stat(path) == before
    assert leftovers(tmp_path) == []


def test_write_file_rewrites_for_content_or_attributes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert write(path, b"one")
    assert write(path, b"two")
    assert path.read_bytes() == b"two"
    assert write(path, b"two", mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert write(path, b"two", uid=4321)
    assert path.stat().st_uid == 4321 and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_file_keeps_old_owner_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")
    os.chown(path, 1234, 2345)
    path.chmod(0o4750)
    assert write(path, b"new")
    st = path.stat()
    assert (path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (b"new", 0o4750, 1234, 2345)
    assert write(path, b"newer", gid=7)
    assert (path.stat().st_uid, path.stat().st_gid) == (1234, 7)


def test_write_file_streams_from_a_writer(tmp_path: Path) -> None:
    block = os.urandom(1 << 20)
    data = block * 3 + b"tail"

    def writer(stream: object) -> None:
        for _ in range(3):
            stream.write(block)  # type: ignore[attr-defined]
        stream.write(b"tail")  # type: ignore[attr-defined]

    path = tmp_path / "big"
    assert fsops.write_file(str(path), writer, sha256=sha(data))
    assert path.read_bytes() == data
    assert fsops.write_file(str(path), writer, sha256=sha(data).upper()) is False


def test_write_file_cleans_earlier_leftovers(tmp_path: Path, victim: Path) -> None:
    for name in (".f.paracrine-old1", ".f.paracrine-nobodys", ".g.paracrine-old", ".f.paracrine-dir"):
        (tmp_path / name).mkdir() if name.endswith("dir") else (tmp_path / name).write_bytes(b"x")
    os.chown(tmp_path / ".f.paracrine-nobodys", NOBODY, NOBODY)
    (tmp_path / ".f.paracrine-link").symlink_to(victim)
    before = snap(victim)
    assert write(tmp_path / "f", b"x")
    assert leftovers(tmp_path) == [".f.paracrine-dir", ".f.paracrine-nobodys", ".g.paracrine-old"]
    assert snap(victim) == before


def test_write_file_failures_leave_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"old")

    def broken(stream: object) -> None:
        stream.write(b"partial")  # type: ignore[attr-defined]
        raise RuntimeError("controller went away")

    with pytest.raises(RuntimeError, match="went away"):
        fsops.write_file(str(path), broken, sha256=sha(b"partial"))
    with pytest.raises(ValidationError, match="exit code 1"):
        write(path, b"new", validate=["false", "{}"])
    with pytest.raises(FileNotFoundError):
        write(path, b"new", validate=["/nonexistent/validator", "{}"])
    assert path.read_bytes() == b"old"
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError):
        write(tmp_path / "d", b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f"]


def test_write_file_validates_the_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "sudoers"
    script = (
        'case "$1" in */.sudoers.paracrine-*) ;; *) exit 9;; esac; grep -q good "$1" || { echo "bad: $1" >&2; exit 3; }'
    )
    with pytest.raises(ValidationError) as info:
        write(path, b"evil", validate=["sh", "-c", script, "sh", "{}"])
    assert "exit code 3" in str(info.value) and f"bad: {tmp_path}/.sudoers.paracrine-" in str(info.value)
    assert not path.exists() and leftovers(tmp_path) == []
    assert write(path, b"good", validate=["sh", "-c", script, "sh", "{}"])
    assert path.read_bytes() == b"good"
    with pytest.raises(ValueError, match="no '\\{\\}'"):
        write(path, b"other", validate=["true"])


# -- make_directory ------------------------------------------------------------------------------------------------


def test_make_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b"
    assert fsops.make_directory(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    before = unchanged_stat(path)
    assert fsops.make_directory(str(path)) is False
    assert fsops.make_directory(str(path), mode=0o755, uid=0, gid=0) is False
    assert unchanged_stat(path) == before
    assert fsops.make_directory(str(path), mode=0o2750)
    assert path.stat().st_ino == before[0] and stat.S_IMODE(path.stat().st_mode) == 0o2750
    assert fsops.make_directory(str(path), uid=1234)
    st = path.stat()
    assert (st.st_ino, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (before[0], 0o2750, 1234, 0)
    assert fsops.make_directory(str(tmp_path / "c"), mode=0o700, uid=1, gid=2)
    st = (tmp_path / "c").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o700, 1, 2)


def test_make_directory_refuses_what_is_in_the_way(tmp_path: Path, victim_dir: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    (tmp_path / "link").symlink_to(victim_dir)
    with pytest.raises(FileExistsError, match="a regular file is in the way"):
        fsops.make_directory(str(tmp_path / "file"))
    with pytest.raises(FileExistsError, match="a symbolic link is in the way") as info:
        fsops.make_directory(str(tmp_path / "link"), mode=0o777)
    assert info.value.filename == str(tmp_path / "link")
    assert stat.S_IMODE(victim_dir.stat().st_mode) == 0o700


# -- make_link -----------------------------------------------------------------------------------------------------


def test_make_link(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "l"
    assert fsops.make_link(str(path), "/etc/hostname")
    assert os.readlink(path) == "/etc/hostname"
    before = unchanged_stat(path)
    assert fsops.make_link(str(path), "/etc/hostname") is False
    assert unchanged_stat(path) == before
    assert fsops.make_link(str(path), "../x")
    assert os.readlink(path) == "../x"
    path.unlink()
    path.write_bytes(b"file")
    assert fsops.make_link(str(path), "target")
    assert os.readlink(path) == "target"
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError):
        fsops.make_link(str(tmp_path / "d"), "target")
    with pytest.raises(ValueError):
        fsops.make_link(str(tmp_path / "x"), "")
    assert leftovers(tmp_path / "sub") == []


# -- remove --------------------------------------------------------------------------------------------------------


def test_remove(tmp_path: Path, victim: Path, victim_dir: Path) -> None:
    assert fsops.remove(str(tmp_path / "absent")) is False
    assert fsops.remove(str(tmp_path / "absent" / "deeper")) is False
    (tmp_path / "file").write_bytes(b"")
    assert fsops.remove(str(tmp_path / "file" / "under-a-file")) is False
    assert fsops.remove(str(tmp_path / "file"))
    (tmp_path / "link").symlink_to(victim)
    assert fsops.remove(str(tmp_path / "link"))
    assert victim.read_bytes() == SECRET
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_bytes(b"")
    (tree / "sub" / "escape").symlink_to(victim_dir)
    os.mkfifo(tree / "sub" / "fifo")
    (tree / "sub" / "to-fifo").symlink_to("fifo")  # never opened (shutil.rmtree of 3.11 would block on a swap)
    (tree / "a" / "b" / "c").mkdir(parents=True)
    with pytest.raises(OSError) as info:
        fsops.remove(str(tree))
    assert info.value.errno == errno.ENOTEMPTY
    assert fsops.remove(str(tree), recursive=True)
    assert not tree.exists()
    assert (victim_dir / "secret").read_bytes() == SECRET
    (tmp_path / "empty").mkdir()
    assert fsops.remove(str(tmp_path / "empty"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vdir", "victim"]


# -- set_attributes ------------------------------------------------------------------------------------------------


def test_set_attributes_on_a_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    path.chmod(0o4755)
    before = unchanged_stat(path)
    assert fsops.set_attributes(str(path), mode=0o4755, uid=0, gid=0) is False
    assert unchanged_stat(path) == before
    assert fsops.set_attributes(str(path), uid=1234, mode=0o4755)  # chown first, then chmod: the bit stays
    st = path.stat()
    assert (st.st_ino, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (before[0], 0o4755, 1234, 0)
    assert fsops.set_attributes(str(path), gid=5)  # the kernel clears setuid on chown (root too)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755 and path.stat().st_gid == 5
    assert fsops.set_attributes(str(path), mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == 1234
    with pytest.raises(FileNotFoundError) as info:
        fsops.set_attributes(str(tmp_path / "absent"), mode=0o600)
    assert info.value.filename == str(tmp_path / "absent")


def test_set_attributes_on_a_directory(tmp_path: Path) -> None:
    path = tmp_path / "d"
    path.mkdir(mode=0o700)
    assert fsops.set_attributes(str(path), mode=0o750, gid=3)
    assert stat.S_IMODE(path.stat().st_mode) == 0o750 and path.stat().st_gid == 3
    assert fsops.set_attributes(str(path), mode=0o750, gid=3) is False


def test_set_attributes_on_a_link_changes_only_the_link(tmp_path: Path, victim: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(victim)
    before = snap(victim)
    assert fsops.set_attributes(str(link), mode=0o777) is False
    assert fsops.set_attributes(str(link), mode=0o777, uid=1234, gid=5)
    assert (link.lstat().st_uid, link.lstat().st_gid) == (1234, 5)
    assert fsops.set_attributes(str(link), uid=1234) is False
    assert snap(victim) == before


def test_set_attributes_on_fifo_and_socket(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    assert fsops.set_attributes(str(fifo), mode=0o620, uid=1234)  # must not block opening it
    assert stat.S_IMODE(fifo.lstat().st_mode) == 0o620 and fifo.lstat().st_uid == 1234
    assert fsops.set_attributes(str(fifo), mode=0o620) is False
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        assert fsops.set_attributes(str(tmp_path / "sock"), mode=0o600)
        assert stat.S_IMODE((tmp_path / "sock").lstat().st_mode) == 0o600


def test_ids() -> None:
    assert fsops.ids("root", "root") == (0, 0)
    assert fsops.ids("nobody", None) == (NOBODY, -1)
    assert fsops.ids("123", "456") == (123, 456)
    assert fsops.ids(None, "") == (-1, -1)
    assert fsops.ids(7, 8) == (7, 8)
    with pytest.raises(KeyError):
        fsops.ids("no-such-user-paracrine", None)


# -- attacks by an unprivileged user -------------------------------------------------------------------------------


def test_planted_final_link_is_replaced_or_refused(pub: Path, victim: Path) -> None:
    """nobody plants pub/f -> victim in a sticky world-writable directory; root acts on pub/f."""
    path = pub / "f"
    before = snap(victim)

    def planted() -> str:
        with suppress(FileNotFoundError):
            path.unlink()
        as_nobody(lambda: os.symlink(victim, path))
        return str(path)

    assert fsops.set_attributes(planted(), mode=0o644, uid=0, gid=0)  # chowns the link itself
    assert path.is_symlink() and path.lstat().st_uid == 0
    with pytest.raises(FileExistsError, match="a symbolic link is in the way"):
        fsops.make_directory(planted(), mode=0o777)
    assert fsops.make_link(planted(), "/elsewhere")
    assert os.readlink(path) == "/elsewhere"
    assert write(Path(planted()), b"root's data\n", mode=0o644)
    assert not path.is_symlink() and path.read_bytes() == b"root's data\n"
    assert fsops.remove(planted(), recursive=True)
    assert not os.path.lexists(path)
    assert snap(victim) == before


def test_planted_directory_link_is_refused(pub: Path, victim_dir: Path) -> None:
    """nobody plants pub/d -> victim_dir; nothing root does on pub/d/... reaches victim_dir."""
    as_nobody(lambda: os.symlink(victim_dir, pub / "d"))
    secret = pub / "d" / "secret"
    before = snap(victim_dir / "secret")
    attempts: list[Callable[[], object]] = [
        lambda: write(secret, b"pwned", mode=0o666),
        lambda: fsops.set_attributes(str(secret), mode=0o644, uid=NOBODY),
        lambda: fsops.make_directory(str(pub / "d" / "new"), mode=0o777),
        lambda: fsops.make_link(str(pub / "d" / "new"), "/"),
        lambda: fsops.remove(str(secret)),
        lambda: fsops.remove(str(pub / "d" / "secret" / "x"), recursive=True),
    ]
    for attempt in attempts:
        with pytest.raises(UnsafePathError, match=f"symbolic link {pub}/d -> {victim_dir} is not followed"):
            attempt()
    assert snap(victim_dir / "secret") == before
    assert [p.name for p in victim_dir.iterdir()] == ["secret"]
    assert stat.S_IMODE(victim_dir.stat().st_mode) == 0o700


def race(duration: float, flip: Callable[[int], None], act: list[Callable[[], object]]) -> Counter[str]:
    """Let nobody ``flip(i)`` in a loop for ``duration`` s while root runs ``act`` in a loop."""
    read, written = os.pipe()

    def attacker() -> None:
        end, flips = time.monotonic() + duration, 0
        while time.monotonic() < end:
            with suppress(OSError):
                flip(flips)
                flips += 1
        os.write(written, str(flips).encode())

    pid = fork_as_nobody(attacker)
    os.close(written)
    outcomes: Counter[str] = Counter()
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        for func in act:
            try:
                outcomes[f"returned {func()}"] += 1
            except OSError as exc:
                outcomes[type(exc).__name__] += 1
    outcomes["attacker flips"] = int(os.read(read, 100) or b"0")
    os.close(read)
    return outcomes


def test_race_flipping_the_final_component(home: Path, victim: Path) -> None:
    """The reviewer's attack: nobody flips ~/f between its own file and a link to a root-only file.

    The executor's current ``lstat`` + ``os.chmod(path)`` loses this race. Not a test (it takes
    seconds and is not deterministic); checked by hand as root in the repository with::

        d=$(mktemp -d); chmod 755 $d; mkdir $d/home; chown nobody: $d/home
        v=$(mktemp); echo secret >$v; chmod 600 $v
        setpriv --reuid=nobody --regid=nogroup --clear-groups timeout 20 python3 -c '
        import os, sys
        home, victim = sys.argv[1:]
        while True:
            try:
                os.close(os.open(home + "/.f", os.O_CREAT | os.O_WRONLY, 0o600))
                os.rename(home + "/.f", home + "/f")
                os.symlink(victim, home + "/.l"); os.rename(home + "/.l", home + "/f")
            except OSError: pass' $d/home $v &
        timeout 20 .venv/bin/python -c '
        import os, sys; from paracrine.remote.execute import _set_attrs
        while os.stat(sys.argv[2]).st_mode & 0o777 == 0o600:
            try: _set_attrs(sys.argv[1], 0o644, -1, -1, {})
            except OSError: pass' $d/home/f $v
        stat -c %a $v

    It printed 644 after 13,402, 85,338 and 371,050 calls in three tries. With
    ``fsops.set_attributes(sys.argv[1], mode=0o644)`` in the root loop: still 600 after 15 s.
    """
    path = home / "f"
    before = snap(victim)

    def flip(i: int) -> None:
        fd = os.open(home / ".file", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        os.rename(home / ".file", path)
        with suppress(FileNotFoundError):
            os.unlink(home / ".link")
        os.symlink(victim, home / ".link")
        os.rename(home / ".link", path)

    outcomes = race(
        1.0,
        flip,
        [lambda: fsops.set_attributes(str(path), mode=0o644), lambda: write(path, b"root\n", mode=0o600)],
    )
    print(dict(outcomes))
    assert outcomes["attacker flips"] >= 10  # the race did happen (low bounds: the machine may be busy)
    assert sum(n for key, n in outcomes.items() if key != "attacker flips") >= 20
    assert snap(victim) == before


def test_race_flipping_a_directory_on_the_way(home: Path, victim_dir: Path) -> None:
    """nobody flips ~/d between its own directory and a link to a root-only directory."""
    path = home / "d"
    before = snap(victim_dir / "secret")

    def flip(i: int) -> None:
        real = home / f".real{i}"
        real.mkdir()
        (real / "secret").write_bytes(b"nobody's\n")
        with suppress(FileNotFoundError):
            os.rename(path, home / f".old{i}a")
        os.rename(real, path)
        os.symlink(victim_dir, home / f".link{i}")
        os.rename(path, home / f".old{i}b")
        os.rename(home / f".link{i}", path)

    outcomes = race(
        1.0,
        flip,
        [
            lambda: fsops.set_attributes(str(path / "secret"), mode=0o644),
            lambda: write(path / "secret", b"root\n", mode=0o666),
            lambda: fsops.remove(str(path / "secret")),
            lambda: fsops.make_directory(str(path / "new"), mode=0o777),
        ],
    )
    print(dict(outcomes))
    assert outcomes["attacker flips"] >= 5
    assert snap(victim_dir / "secret") == before
    assert [p.name for p in victim_dir.iterdir()] == ["secret"]
