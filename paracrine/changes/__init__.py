"""Typed changes: what an operation yields when a host is not yet right.

A change is a value, not a shell string. Each kind lives in one module of this
package, which holds everything about it: its fields, its wire form, its
description, its predicted effect on facts and the ``apply`` function the
target runs (see :mod:`paracrine.changes.base`). Adding a kind means adding
one module (here or in an operation package) plus its tests.

Standard library only: the target imports these modules to apply changes.
"""

import importlib
from typing import TYPE_CHECKING, Any

#: Each kind's class, by the module that holds it: imported on first use, so a deploy (or a
#: target applying a batch) loads only the kinds it uses.
_KINDS = {
    "AptGet": "paracrine.changes.apt",
    "CallFunction": "paracrine.changes.call",
    "Change": "paracrine.changes.base",
    "DaemonReload": "paracrine.changes.daemon_reload",
    "DownloadFile": "paracrine.changes.download",
    "ExtractArchive": "paracrine.changes.extract",
    "GitCheckout": "paracrine.changes.git",
    "LocalFile": "paracrine.changes.write",
    "MakeDirectory": "paracrine.changes.directory",
    "MakeLink": "paracrine.changes.link",
    "RemovePath": "paracrine.changes.remove",
    "RunCommand": "paracrine.changes.command",
    "RunSQL": "paracrine.changes.sql",
    "SetAttributes": "paracrine.changes.attributes",
    "WriteFile": "paracrine.changes.write",
}

if TYPE_CHECKING:
    from paracrine.changes.apt import AptGet
    from paracrine.changes.attributes import SetAttributes
    from paracrine.changes.base import Change
    from paracrine.changes.call import CallFunction
    from paracrine.changes.command import RunCommand
    from paracrine.changes.daemon_reload import DaemonReload
    from paracrine.changes.directory import MakeDirectory
    from paracrine.changes.download import DownloadFile
    from paracrine.changes.extract import ExtractArchive
    from paracrine.changes.git import GitCheckout
    from paracrine.changes.link import MakeLink
    from paracrine.changes.remove import RemovePath
    from paracrine.changes.sql import RunSQL
    from paracrine.changes.write import LocalFile, WriteFile


def __getattr__(name: str) -> Any:
    module = _KINDS.get(name)
    if module is None:
        raise AttributeError(f"module 'paracrine.changes' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AptGet",
    "CallFunction",
    "Change",
    "DaemonReload",
    "DownloadFile",
    "ExtractArchive",
    "GitCheckout",
    "LocalFile",
    "MakeDirectory",
    "MakeLink",
    "RemovePath",
    "RunCommand",
    "RunSQL",
    "SetAttributes",
    "WriteFile",
]
