"""AptGet: one ``apt-get`` command on the target; consecutive package steps of a batch run as one.

``apt-get`` runs non-interactively (``DEBIAN_FRONTEND=noninteractive``), keeps
locally changed configuration files on upgrades (``--force-confdef
--force-confold``, as pyinfra and Ansible do) and waits up to
:data:`LOCK_TIMEOUT` seconds for another package manager to finish
(``DPkg::Lock::Timeout``, and a retry for the lists lock of ``update``).

A change reports "changed" only when it changed something: the dpkg database
for installs, removals and upgrades, the package lists for ``update``. A
successful ``update`` touches APT's ``update-success-stamp`` (what
``apt.update_age`` reads), as Ubuntu's hook and pyinfra do.

Merging (see :mod:`paracrine.remote.execute`): consecutive steps made only of
``update``/``install``/``remove``/``purge`` changes run together: one
``apt-get update`` first if any asked for it, then one ``apt-get`` per run of
changes with the same action and options, in order. So ``apt.packages`` calls
one after the other cost one ``apt-get install``.

Also here: :func:`download_key`, run on the target through ``CallFunction`` by
``apt.key(url=...)``.

Module layout of a change kind: see :mod:`paracrine.changes.base`. Standard library only.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import TYPE_CHECKING, Any, ClassVar

from paracrine.changes.base import Change, shown
from paracrine.remote import wire

if TYPE_CHECKING:
    from paracrine.predict import Effect

#: Seconds to wait for another apt/dpkg to release its lock.
LOCK_TIMEOUT = 300
ENV = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}
ACTIONS = ("update", "install", "remove", "purge", "upgrade", "dist-upgrade")
#: Actions whose consecutive steps merge into one run.
MERGING = ("update", "install", "remove", "purge")
UPDATE_STAMP = "/var/lib/apt/periodic/update-success-stamp"
_LOCK_MESSAGES = ("Could not get lock", "Unable to acquire the dpkg frontend lock", "Unable to lock directory")


def command_line(
    action: str, packages: tuple[str, ...] | list[str] = (), options: tuple[str, ...] | list[str] = ()
) -> list[str]:
    """The ``apt-get`` argument list of one change."""
    lock = ["-o", f"DPkg::Lock::Timeout={LOCK_TIMEOUT}"]
    if action == "update":
        return ["apt-get", "-q", *lock, "update"]
    dpkg = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]
    return ["apt-get", "-y", "-q", *lock, *dpkg, action, *options, *packages]


@dataclasses.dataclass(frozen=True)
class AptGet(Change):
    """``apt-get ACTION [OPTIONS] [PACKAGES]``: one of :data:`ACTIONS`.

    ``packages`` may hold ``name=version`` and paths of ``.deb`` files on the
    target. ``predicted`` are the effects on facts (the operation knows them);
    without them the change is opaque.
    """

    kind: ClassVar[str] = "apt"
    action: str
    packages: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    predicted: tuple[Effect, ...] | None = dataclasses.field(default=None, compare=False, metadata={"wire": False})

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"AptGet action {self.action!r} is not one of {', '.join(ACTIONS)}")

    def describe(self, masked: bool = False) -> str:
        import shlex

        if masked:
            return f"run apt-get {self.action} (hidden)"
        return "run " + shown(shlex.join(command_line(self.action, self.packages, self.options)))

    def effects(self) -> list[Effect]:
        if self.predicted is not None:
            return list(self.predicted)
        return super().effects()


# ---------------------------------------------------------------- target side


def merge_key(change: dict[str, Any]) -> str | None:
    """Package installs, removals and updates merge with their neighbours; upgrades run alone."""
    return "apt-get" if change["action"] in MERGING else None


def apply(change: dict[str, Any], outcome: wire.Outcome) -> None:
    """Run one apt-get command."""
    apply_merged([change], [outcome])


def apply_merged(changes: list[dict[str, Any]], outcomes: list[wire.Outcome]) -> None:
    """Run the changes of consecutive steps: one update (if any), then one apt-get per run of like changes."""
    updates = [i for i, c in enumerate(changes) if c["action"] == "update"]
    if updates:
        result = _run(command_line("update"), _lists_state)
        if result["error"] is None:
            _touch(UPDATE_STAMP)
        if not _record(result, [outcomes[i] for i in updates], outcomes, "apt-get update failed"):
            return
    others = [i for i in range(len(changes)) if i not in updates]
    start = 0
    while start < len(others):
        first = changes[others[start]]
        end = start + 1
        while end < len(others) and _like(changes[others[end]], first):
            end += 1
        run = others[start:end]
        packages = dict.fromkeys(p for i in run for p in changes[i].get("packages", ()))
        result = _run(command_line(first["action"], list(packages), first.get("options", ())), _dpkg_state)
        if not _record(
            result, [outcomes[i] for i in run], [outcomes[i] for i in others[end:]], "an earlier apt-get failed"
        ):
            return
        start = end


def _record(result: wire.Outcome, mine: list[wire.Outcome], rest: list[wire.Outcome], failure: str) -> bool:
    """Give ``result`` to the outcomes of the changes it ran; on failure mark the rest not run. True on success."""
    for outcome in mine:
        for field in ("changed", "error", "rc", "stdout", "stderr"):
            outcome[field] = result[field]
    if result["error"] is None:
        return True
    for outcome in rest:
        if all(outcome is not m for m in mine) and outcome["error"] is None:
            outcome["error"] = f"not run: {failure}"
    return False


def _like(change: dict[str, Any], other: dict[str, Any]) -> bool:
    return bool(
        change["action"] == other["action"] and list(change.get("options", ())) == list(other.get("options", ()))
    )


def _run(argv: list[str], state: Any) -> wire.Outcome:
    """Run ``argv`` with apt's environment, retrying while another package manager holds a lock."""
    from paracrine.changes import command

    before = state()
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        result = wire.new_outcome()
        command.apply({"argv": argv, "env": ENV}, result)
        locked = result["error"] is not None and any(m in result["stderr"] for m in _LOCK_MESSAGES)
        if not locked or time.monotonic() > deadline:
            break
        time.sleep(3)
    result["changed"] = state() != before
    return result


def _dpkg_state() -> Any:
    from paracrine.facts import apt as apt_facts

    return apt_facts.packages_fingerprint()


def _lists_state() -> Any:
    from paracrine.facts import apt as apt_facts

    return apt_facts.apt_state_fingerprint()[1]


def _touch(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a"):
        pass
    os.utime(path)


def key_format(data: bytes) -> str | None:
    """``"asc"`` for an ASCII-armored OpenPGP public key, ``"gpg"`` for a binary one, else None."""
    if data.lstrip().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----"):
        return "asc"
    if data and data[0] & 0x80:
        tag = (data[0] & 0x3F) if data[0] & 0x40 else (data[0] & 0x3C) >> 2
        if tag == 6:  # a public-key packet comes first
            return "gpg"
    return None


#: Most bytes a downloaded key may have.
MAX_KEY_SIZE = 1024 * 1024


def download_key(url: str, path: str, kind: str, sha256: str | None = None) -> dict[str, Any]:
    """Download an OpenPGP key from ``url`` into ``path`` (for ``apt.key(url=...)``); checks its format and hash."""
    import hashlib
    import urllib.request

    from paracrine.remote import fsops

    with urllib.request.urlopen(url, timeout=60) as response:  # http(s) only: apt.key checks
        data = response.read(MAX_KEY_SIZE + 1)
    if len(data) > MAX_KEY_SIZE:
        return {"changed": False, "error": f"{url} is larger than {MAX_KEY_SIZE} bytes: not a key"}
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256.lower():
        return {"changed": False, "error": f"{url} has sha256 {digest}, not {sha256}"}
    found = key_format(data)
    if found != kind:
        what = {"asc": "an armored key (.asc)", "gpg": "a binary key (.gpg)", None: "not an OpenPGP public key"}
        return {"changed": False, "error": f"{url} is {what[found]}, but {path} needs {what[kind]}"}
    return {"changed": fsops.write_file(path, data, sha256=digest, mode=0o644, uid=0, gid=0)}
