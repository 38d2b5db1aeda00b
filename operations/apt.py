"""Operations on Debian packages with APT (mirrors ``paracrine.facts.apt``).

Commands run with ``DEBIAN_FRONTEND=noninteractive``. Their effect on the
``apt.packages`` fact (which names are installed) is predicted; versions and
architectures of new packages are not (they are None until the next run).
"""

from __future__ import annotations

import copy
import re
from typing import Annotated, Any

from paracrine.changes import RunCommand
from paracrine.facts import apt as apt_facts
from paracrine.operation import Changes, operation
from paracrine.plan import OpContext
from paracrine.predict import Effect, fact_named
from paracrine.validate import Converter

APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}

# Debian policy 5.6.7: lowercase letters, digits, "+", "-" and "."; at least two
# characters, starting with a letter or digit. Optionally ":arch" (multi-arch).
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9][a-z0-9-]*)?")


def _package_name(value: Any) -> Any:
    if isinstance(value, str) and not _PACKAGE.fullmatch(value):
        raise ValueError(f"{value!r} is not a Debian package name (lowercase letters, digits, '+', '-', '.')")
    return value


#: A Debian package name, optionally with an architecture: ``nginx``, ``libc6:i386``.
PackageName = Annotated[str, Converter(_package_name, "a Debian package name")]


def _is_installed(installed: dict[str, Any], package: str) -> bool:
    """Whether ``package`` (``name`` or ``name:arch``) is in the apt.packages fact."""
    if package in installed:
        return True
    name, _, arch = package.partition(":")
    entry = installed.get(name)
    return bool(arch) and entry is not None and entry.get("arch") in (arch, "all")


def _predicted(packages: list[str], present: bool) -> Effect:
    """The apt.packages fact with ``packages`` added (version and arch unknown) or removed."""

    def update(old: Any) -> Any:
        new: dict[str, Any] = copy.deepcopy(old) if isinstance(old, dict) else {}
        for package in packages:
            name, _, arch = package.partition(":")
            if not present:
                new.pop(package, None)
                if not arch or (new.get(name) or {}).get("arch") == arch:
                    new.pop(name, None)
            elif not _is_installed(new, package):
                key = package if name in new else name
                new[key] = {"version": None, "arch": arch or None}
        return new

    return Effect.updating(fact_named("apt.packages"), update)


@operation
def packages(ctx: OpContext, packages: list[PackageName], *, present: bool = True, update: bool = False) -> Changes:
    """Ensure Debian packages are installed, or are not installed.

    Only the packages that are missing (or, with ``present=False``, installed)
    are passed to ``apt-get``, so an up-to-date host runs nothing.

    Args:
        packages: package names, e.g. ``["nginx", "curl"]``; ``name:arch`` for another architecture.
        present: False to remove the packages (``apt-get remove``; configuration files stay).
        update: run ``apt-get update`` first, when something is to be installed.

    Example:
        apt.packages(["nginx", "curl"], update=True)
    """
    (installed,) = ctx.facts((apt_facts.packages, {}))
    wanted = list(dict.fromkeys(packages))
    if present:
        todo = [p for p in wanted if not _is_installed(installed, p)]
        if not todo:
            return
        if update:
            yield RunCommand(("apt-get", "update"), env=APT_ENV)
        argv = ("apt-get", "install", "-y", *todo)
    else:
        todo = [p for p in wanted if _is_installed(installed, p)]
        if not todo:
            return
        argv = ("apt-get", "remove", "-y", *todo)
    yield RunCommand(argv, env=APT_ENV, predicted=(_predicted(todo, present),))
