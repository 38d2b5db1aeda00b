"""Paracrine: agentless configuration management in plain Python, over SSH through Mitogen.

This module is imported on every target host (Mitogen imports a package's
``__init__`` before any of its submodules), so it and everything it imports use
only the standard library. ``tests/test_remote_stdlib.py`` enforces that.
"""

from paracrine.current import host

__version__ = "0.1.0"

__all__ = ["__version__", "host"]
