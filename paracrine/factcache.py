"""The on-disk fact cache: ``<state dir>/facts/<host>.json``.

It holds, per host, the last value of every fact gathered with a time stamp
and, for facts that declare one, the fingerprint. It serves two purposes:

* ``paracrine facts --cached`` shows it without connecting;
* a fact with a fingerprint whose remote fingerprint still matches is not sent
  again (the target answers "same" and the cached value is used).

Values without a fingerprint are never trusted from disk during a live run.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from paracrine.atomic import write_atomic
from paracrine.filestamp import Stamp, file_stamp

if TYPE_CHECKING:
    from collections.abc import Iterable

    from paracrine.factkey import FactKey

#: 2: facts declared ``cache=False`` (file contents) are no longer stored.
FORMAT_VERSION = 2


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The state directory: ``--state-dir``, else $PARACRINE_STATE_DIR, else ``./.paracrine``."""
    return Path(explicit or os.environ.get("PARACRINE_STATE_DIR") or ".paracrine")


@dataclass(frozen=True)
class CachedFact:
    """One cached fact value."""

    fact: str
    args: dict[str, Any]
    user: str | None
    value: Any
    fingerprint: Any
    time: float


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


class _BadBytes(ValueError):
    """A ``{"__bytes__": ...}`` entry that is not base64: the file is damaged, not merely unreadable."""


def _decode(value: dict[str, Any]) -> Any:
    """``json.loads``' object hook: the bytes that :func:`_encode` wrote, back (in the C parser's pass)."""
    if len(value) == 1 and "__bytes__" in value:
        try:
            return base64.b64decode(value["__bytes__"], validate=True)
        except (TypeError, ValueError) as exc:
            raise _BadBytes(f"bytes that are not base64: {exc}") from None
    return value


def _write_json(path: Path, doc: Any) -> None:
    """Write ``doc`` to ``path`` atomically."""
    write_atomic(path, json.dumps(doc, separators=(",", ":"), default=repr).encode())  # dumps: the C encoder


#: Parsed cache files of this process, by path: ``(stamp, content)`` (:mod:`paracrine.filestamp`).
_PARSED: dict[str, tuple[Stamp, dict[str, CachedFact]]] = {}
_KEYS: dict[str, tuple[Stamp, dict[str, frozenset[FactKey]]]] = {}


_Parsed = TypeVar("_Parsed")


#: Files remembered at most (an agent serving many state directories: forget, then parse again).
_MEMO_MAX = 4096


def _remember(
    memo: dict[str, tuple[Stamp, _Parsed]], path: Path, stamp: Stamp, parsed: _Parsed
) -> tuple[Stamp, _Parsed]:
    if len(memo) >= _MEMO_MAX and str(path) not in memo:
        memo.clear()
    entry = memo[str(path)] = (stamp, parsed)
    return entry


def _carry(memo: dict[str, tuple[Stamp, Any]], path: Path, parsed: Any) -> None:
    """After this process touched ``path``, whose content it parsed as ``parsed``: remember that under the new stamp."""
    stamp = file_stamp(path)
    if stamp is not None:
        _remember(memo, path, stamp, dict(parsed))


def _same(old: CachedFact | None, new: CachedFact) -> bool:
    return old is not None and old.value == new.value and old.fingerprint == new.fingerprint


class FactCache:
    """Read and update the cache file of each host under ``<state dir>/facts``."""

    def __init__(self, root: Path) -> None:
        self.root = root / "facts"
        self._warned: set[str] = set()
        self._unwritable = False  # warned that the cache cannot be written

    def path(self, host: str) -> Path:
        safe = host.replace("/", "_").replace(os.sep, "_")
        return self.root / f"{safe}.json"

    def load(self, host: str) -> dict[str, CachedFact]:
        """Cached facts of ``host`` by key id; empty when there is no (readable) cache.

        The file is parsed once per version (:mod:`paracrine.filestamp`), for the whole process: a run
        reads it more than once, and an agent's or watcher's next run reads it again.
        """
        path = self.path(host)
        stamp = file_stamp(path)
        if stamp is None:
            return {}
        parsed = _PARSED.get(str(path))
        if parsed is not None and parsed[0] == stamp:
            return dict(parsed[1])
        entries = self._parse(host)
        _remember(_PARSED, path, stamp, entries)
        return dict(entries)

    def _parse(self, host: str) -> dict[str, CachedFact]:
        try:
            doc = json.loads(self.path(host).read_text(encoding="utf-8"), object_hook=_decode)
        except _BadBytes as exc:
            self._damaged(host, exc)
            return {}
        except (OSError, ValueError):
            return {}
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
            return {}
        try:
            return {
                key: CachedFact(e["fact"], dict(e["args"]), e["user"], e["value"], e.get("fp"), float(e["time"]))
                for key, e in doc["facts"].items()
                if isinstance(key, str)
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._damaged(host, exc)
            return {}

    def _damaged(self, host: str, exc: Exception) -> None:
        """Warn once per host that its cache is damaged; it is ignored and rewritten by this run."""
        if host in self._warned:
            return
        self._warned.add(host)
        from paracrine import report

        problem = f"{type(exc).__name__}: {exc}"
        report.warn(f"fact cache {self.path(host)} is damaged ({problem}); ignoring it, it is rebuilt by this run")

    def update(self, host: str, entries: dict[str, CachedFact]) -> None:
        """Merge ``entries`` into the host's cache file (written atomically)."""
        if not entries:
            return
        current = self.load(host)
        if all(_same(current.get(key), entry) for key, entry in entries.items()):
            self._touch(host, current)  # nothing new: only the age changes (``--cached`` shows it)
            return
        current.update(entries)
        doc = {
            "version": FORMAT_VERSION,
            "host": host,
            "facts": {
                key: {
                    "fact": c.fact,
                    "args": _encode(c.args),
                    "user": c.user,
                    "value": _encode(c.value),
                    "fp": c.fingerprint,
                    "time": c.time,
                }
                for key, c in sorted(current.items())
            },
        }
        self._write(self.path(host), doc)  # the next load parses it: values as the file gives them back

    def _write(self, path: Path, doc: Any) -> None:
        """Write a cache file; a cache that cannot be written is a warning (once), never a failed run."""
        try:
            _write_json(path, doc)
        except OSError as exc:
            if self._unwritable:
                return
            self._unwritable = True
            from paracrine import report

            report.warn(
                f"cannot write the fact cache {path} ({exc.strerror or exc}); going on without it "
                "(--state-dir DIR or $PARACRINE_STATE_DIR puts it elsewhere)"
            )

    def _touch(self, host: str, entries: dict[str, CachedFact]) -> None:
        """Only the file's age changes: ``entries``, as :meth:`load` gave them, stay its parsed content."""
        with contextlib.suppress(OSError):
            os.utime(self.path(host))
            _carry(_PARSED, self.path(host), entries)

    def keys_path(self, host: str) -> Path:
        return self.path(host).with_suffix(".keys.json")

    def load_keys(self, host: str, deploy_id: str) -> set[FactKey]:
        """The fact keys the last run of ``deploy_id`` read on ``host`` (prefetched in the first round)."""
        path = self.keys_path(host)
        stamp = file_stamp(path)
        parsed = _KEYS.get(str(path))
        if stamp is None:
            return set()
        if parsed is None or parsed[0] != stamp:
            parsed = _remember(_KEYS, path, stamp, self._parse_keys(path))
        return set(parsed[1].get(deploy_id, ()))

    @staticmethod
    def _parse_keys(path: Path) -> dict[str, frozenset[FactKey]]:
        from paracrine.factkey import FactKey

        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(doc, dict):
            return {}
        return {
            deploy_id: frozenset(
                FactKey.of(item[0], item[1], item[2])
                for item in items
                if isinstance(item, list)
                and len(item) == 3
                and isinstance(item[0], str)
                and isinstance(item[1], dict)
                and (item[2] is None or isinstance(item[2], str))
            )
            for deploy_id, items in doc.items()
            if isinstance(items, list)
        }

    def save_keys(self, host: str, deploy_id: str, keys: Iterable[FactKey]) -> None:
        path = self.keys_path(host)
        if self.load_keys(host, deploy_id) == set(keys):
            return  # what the file already says (parsed once per version)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        items = [[k.name, k.args, k.user] for k in sorted(keys, key=lambda k: k.sort_key())]
        if doc.get(deploy_id) != items:
            doc[deploy_id] = items
            self._write(path, doc)

    def age(self, host: str) -> float | None:
        """Seconds since the cache of ``host`` was last written, or None."""
        try:
            return time.time() - self.path(host).stat().st_mtime
        except OSError:
            return None
