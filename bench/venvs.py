"""Every tool's virtualenv (bench/.venvs/<tool>), created on demand, never mixed with another's.

Each venv is made with the Python running the bench and gets exactly the pinned requirements
(:data:`bench.config.PINS`). A stamp file records the pins; a venv whose stamp differs is rebuilt.
pip compiles the installed packages' bytecode, so no measured run pays for that; Paracrine's
editable checkout is compiled by :func:`compile_tree` before each invocation (with
``PYTHONDONTWRITEBYTECODE`` set, as on this machine, it would otherwise compile on every run).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from bench.config import PINS, VENVS_DIR, Tool

log = logging.getLogger("bench")
STAMP = ".bench-pins.json"


def venv_dir(tool: Tool) -> Path:
    """Where the venv of ``tool`` lives (``paracrine-agent`` is Paracrine's)."""
    return VENVS_DIR / ("paracrine" if tool == "paracrine-agent" else tool)


def bin_dir(tool: Tool) -> Path:
    """The directory of ``tool``'s executables."""
    return venv_dir(tool) / "bin"


def ensure_venv(tool: Tool) -> Path:
    """Create or update the venv of a tool; returns its bin directory.

    Paracrine's is an editable install of this checkout: it runs the working tree's code; the
    stamp holds a hash of setup.cfg, so a change of its dependencies rebuilds it.
    """
    pins = list(PINS[tool])
    root = venv_dir(tool)
    stamp = root / STAMP
    wanted: dict[str, object] = {"python": sys.version.split()[0], "pins": pins}
    if tool in ("paracrine", "paracrine-agent"):
        setup_cfg = Path(pins[-1]) / "setup.cfg"
        wanted["setup.cfg"] = hashlib.sha256(setup_cfg.read_bytes()).hexdigest()
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        if tool in ("paracrine", "paracrine-agent"):
            compile_tree(Path(pins[-1]), bin_dir(tool) / "python")
        return bin_dir(tool)
    if root.exists():
        shutil.rmtree(root)
    log.info("bench: creating %s with %s", root, " ".join(pins))
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    pip = [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *pins], check=True)
    stamp.write_text(json.dumps(wanted))
    if tool in ("paracrine", "paracrine-agent"):
        compile_tree(Path(pins[-1]), bin_dir(tool) / "python")
    return bin_dir(tool)


def compile_tree(checkout: Path, python: Path | str = sys.executable) -> None:
    """Write the bytecode of a Paracrine checkout's packages, as ``pip install`` does for a user."""
    dirs = [str(checkout / name) for name in ("paracrine", "operations", "facts")]  # the real dirs, not the links
    subprocess.run([str(python), "-m", "compileall", "-q", *dirs], check=True, stdout=subprocess.DEVNULL)


def package_versions(tool: Tool, names: list[str]) -> dict[str, str]:
    """Installed versions of ``names`` (and Python) in ``tool``'s environment."""
    python = bin_dir(tool) / "python"
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {'python': sys.version.split()[0]}\n"
        f"for n in {names!r}:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'not installed'\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True)
    versions: dict[str, str] = json.loads(result.stdout)
    return versions
