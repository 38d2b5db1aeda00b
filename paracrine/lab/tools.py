"""Running the controller's tools, and checking that they are there."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from paracrine.errors import SetupError

#: Controller tools the lab runs, and the Debian package that provides each.
#: (The hosts' sshd comes from their own root filesystem, so the controller
#: needs only the ssh client tools.)
REQUIRED_TOOLS = {
    "debootstrap": "debootstrap",
    "unshare": "util-linux",
    "chroot": "coreutils",
    "apt-get": "apt",
    "dpkg-scanpackages": "dpkg-dev",
    "ssh-keygen": "openssh-client",
    "ssh": "openssh-client",
}


def check_requirements() -> None:
    """Check that this machine can run the lab: root, and the tools in REQUIRED_TOOLS.

    Raises:
        SetupError: one line saying what is missing and what to install or do.
    """
    require_root()
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        packages = sorted({REQUIRED_TOOLS[t] for t in missing})
        raise SetupError(
            f"the lab needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed",
            hint=f"apt-get install {' '.join(packages)}",
        )


def require_root() -> None:
    """Raise SetupError unless this process runs as root."""
    if os.geteuid() != 0:
        raise SetupError(
            "the lab needs root (it mounts overlayfs, makes namespaces and chroots)",
            hint=f"run it as root: {sudo_command()}",
        )


def sudo_command() -> str:
    """This ``paracrine`` command line prefixed with sudo and the program's full path.

    sudo searches its own ``secure_path``, not the user's ``PATH``, so a plain
    ``sudo paracrine`` does not find a virtualenv's ``paracrine``.
    """
    import shlex
    import sys

    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if program is None or program.name != "paracrine":
        return 'sudo "$(command -v paracrine)" lab ...'
    full = shutil.which(str(program)) or str(program)
    return "sudo " + shlex.join([str(Path(full).absolute()), *sys.argv[1:]])


def run(argv: Sequence[str | Path], *, what: str, cwd: Path | None = None, log: Path | None = None) -> str:
    """Run a command to completion and return its standard output.

    Args:
        argv: the command.
        what: a few words for the error message, e.g. ``"debootstrap"``.
        cwd: the working directory.
        log: if given, stdout and stderr go (appended) to this file instead of being captured.

    Raises:
        SetupError: the command is missing or exits non-zero.
    """
    args = [str(a) for a in argv]
    try:
        if log is not None:
            with open(log, "ab") as out:
                proc = subprocess.run(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            detail = _last_line(log.read_bytes()[-4096:])
            output = ""
        else:
            proc = subprocess.run(args, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
            detail = _last_line(proc.stderr) or _last_line(proc.stdout)
            output = proc.stdout.decode(errors="replace")
    except FileNotFoundError as e:
        raise SetupError(f"{what}: {args[0]} not found", hint="see `paracrine lab up` requirements") from e
    if proc.returncode != 0:
        raise SetupError(
            f"{what} failed (exit {proc.returncode}): {detail or 'no output'}",
            hint=f"see {log}" if log else None,
        )
    return output


def _last_line(data: bytes) -> str:
    lines = [ln.strip() for ln in data.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else ""
