"""The stable authoring API for operation and fact packages: import everything from here.

Operation modules::

    from paracrine.api import AbsPath, Changes, MakeLink, OpContext, RemovePath, operation

Fact modules (they run on targets, so this module imports nothing until a name
is used, and a fact module that only takes ``fact`` from it stays standard-library only)::

    from paracrine.api import fact

What is here:

* decorators: :func:`operation`, :func:`fact`; the plan context :class:`OpContext`
  and the return type :data:`Changes`;
* change kinds: :class:`RunCommand`, :class:`WriteFile` (with :class:`LocalFile`),
  :class:`MakeDirectory`, :class:`MakeLink`, :class:`RemovePath`,
  :class:`SetAttributes`, :class:`CallFunction`, :class:`DownloadFile`, :class:`ExtractArchive`,
  :class:`GitCheckout`, :class:`AptGet` (merging ``apt-get`` runs), :class:`DaemonReload`
  (``systemctl daemon-reload``, once per batch), :class:`RunSQL` (SQL through ``psql``), and their
  base :class:`Change`;
* predicted effects of commands and calls: :class:`Effect`, :func:`fact_named`, ``path_effects``;
* argument types: :data:`Mode`, :data:`LocalPath`, :data:`AbsPath`, :data:`Regex`,
  :data:`OneLine`, :class:`Converter` (for your own);
* :class:`Secret`; errors an operation raises: :class:`PlanError`.

Test helpers for packages are in :mod:`paracrine.testing`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "operation": "paracrine.operation",
    "Changes": "paracrine.operation",
    "fact": "paracrine.fact",
    "OpContext": "paracrine.plan",
    "Change": "paracrine.changes",
    "RunCommand": "paracrine.changes",
    "RunSQL": "paracrine.changes",
    "WriteFile": "paracrine.changes",
    "LocalFile": "paracrine.changes",
    "MakeDirectory": "paracrine.changes",
    "MakeLink": "paracrine.changes",
    "RemovePath": "paracrine.changes",
    "SetAttributes": "paracrine.changes",
    "CallFunction": "paracrine.changes",
    "GitCheckout": "paracrine.changes",
    "DownloadFile": "paracrine.changes",
    "ExtractArchive": "paracrine.changes",
    "AptGet": "paracrine.changes",
    "DaemonReload": "paracrine.changes",
    "Effect": "paracrine.predict",
    "fact_named": "paracrine.predict",
    "path_effects": "paracrine.predict",
    "Mode": "paracrine.validate",
    "LocalPath": "paracrine.validate",
    "AbsPath": "paracrine.validate",
    "Regex": "paracrine.validate",
    "OneLine": "paracrine.validate",
    "Converter": "paracrine.validate",
    "Secret": "paracrine.secret",
    "PlanError": "paracrine.errors",
}

__all__ = [
    "AbsPath",
    "AptGet",
    "CallFunction",
    "Change",
    "Changes",
    "Converter",
    "DaemonReload",
    "DownloadFile",
    "Effect",
    "ExtractArchive",
    "GitCheckout",
    "LocalFile",
    "LocalPath",
    "MakeDirectory",
    "MakeLink",
    "Mode",
    "OneLine",
    "OpContext",
    "PlanError",
    "Regex",
    "RemovePath",
    "RunCommand",
    "RunSQL",
    "Secret",
    "SetAttributes",
    "WriteFile",
    "fact",
    "fact_named",
    "operation",
    "path_effects",
]

if TYPE_CHECKING:
    from paracrine.changes import (
        AptGet,
        CallFunction,
        Change,
        DaemonReload,
        DownloadFile,
        ExtractArchive,
        GitCheckout,
        LocalFile,
        MakeDirectory,
        MakeLink,
        RemovePath,
        RunCommand,
        RunSQL,
        SetAttributes,
        WriteFile,
    )
    from paracrine.errors import PlanError
    from paracrine.fact import fact
    from paracrine.operation import Changes, operation
    from paracrine.plan import OpContext
    from paracrine.predict import Effect, fact_named, path_effects
    from paracrine.secret import Secret
    from paracrine.validate import AbsPath, Converter, LocalPath, Mode, OneLine, Regex


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"paracrine.api has no {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
