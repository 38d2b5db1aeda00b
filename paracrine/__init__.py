"""Paracrine: agentless configuration management in plain Python, over SSH through Mitogen.

This module is imported on every target host (Mitogen imports a package's
``__init__`` before any of its submodules), so it and everything it imports use
only the standard library. ``tests/test_remote_stdlib.py`` enforces that.
``host`` is imported on first use: targets never need it, and it costs them
``typing`` and ``contextlib``.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from paracrine.current import host

__version__ = "0.1.0"

__all__ = ["__version__", "host"]


def __getattr__(name: str) -> object:
    if name == "host":
        from paracrine.current import host

        return host
    raise AttributeError(f"module 'paracrine' has no attribute {name!r}")
