"""Facts about kernel modules: the loaded ones (/proc/modules) and those built into the kernel.

Module names are compared as the kernel lists them: modprobe treats "-" and
"_" alike, and /proc/modules always says "_" (:func:`canonical`).
"""

from __future__ import annotations

import os
from typing import TypedDict

from paracrine.fact import fact

PROC_MODULES = "/proc/modules"
MODULES_DIR = "/lib/modules"


class LoadedModule(TypedDict):
    """One loaded module, as /proc/modules lists it."""

    size: int
    instances: int
    used_by: list[str]
    state: str


def canonical(name: str) -> str:
    """A module name as the kernel lists it: "-" becomes "_" (``snd-hda-intel`` is ``snd_hda_intel``)."""
    return name.replace("-", "_")


def parse_proc_modules(text: str) -> dict[str, LoadedModule]:
    """Parse /proc/modules: ``name size instances used_by state address`` lines.

    Args:
        text: the file's contents.

    Returns:
        Module name -> {"size", "instances", "used_by" (module names; "-" for
        none gives []), "state" ("Live", "Loading" or "Unloading")}.
    """
    found: dict[str, LoadedModule] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[1].isdigit():
            continue
        used_by = [m for m in fields[3].split(",") if m and m != "-"]
        instances = int(fields[2]) if fields[2].isdigit() else 0
        found[fields[0]] = {"size": int(fields[1]), "instances": instances, "used_by": used_by, "state": fields[4]}
    return found


def parse_modules_builtin(text: str) -> list[str]:
    """Module names from a ``modules.builtin`` file (``kernel/drivers/.../name.ko`` lines), canonical and sorted."""
    names = set()
    for line in text.splitlines():
        base = line.strip().rsplit("/", 1)[-1]
        if base.endswith(".ko"):
            names.add(canonical(base[: -len(".ko")]))
    return sorted(names)


@fact
def loaded() -> dict[str, LoadedModule] | None:
    """The kernel modules that are loaded (/proc/modules).

    Returns:
        Module name -> {"size", "instances", "used_by", "state"}; None if the
        kernel has no loadable module support (no /proc/modules).

    Example:
        paracrine facts web1 modules.loaded
    """
    try:
        with open(PROC_MODULES, encoding="utf-8", errors="replace") as f:
            return parse_proc_modules(f.read())
    except FileNotFoundError:
        return None


@fact
def builtin() -> list[str] | None:
    """The modules built into the running kernel (``/lib/modules/RELEASE/modules.builtin``).

    Returns:
        Sorted canonical names (e.g. ["ext4", "unix"]); None if the running
        kernel's module directory has no modules.builtin file.

    Example:
        paracrine facts web1 modules.builtin
    """
    path = os.path.join(MODULES_DIR, os.uname().release, "modules.builtin")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_modules_builtin(f.read())
    except FileNotFoundError:
        return None
