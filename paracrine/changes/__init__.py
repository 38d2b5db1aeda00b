"""Typed changes: what an operation yields when a host is not yet right.

A change is a value, not a shell string. Each kind lives in one module of this
package, which holds everything about it: its fields, its wire form, its
description, its predicted effect on facts and the ``apply`` function the
target runs (see :mod:`paracrine.changes.base`). Adding a kind means adding
one module (here or in an operation package) plus its tests.

Standard library only: the target imports these modules to apply changes.
"""

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
