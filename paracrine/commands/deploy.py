"""``paracrine DEPLOY.py``: plan, show, confirm, apply; and ``paracrine graph``."""

from __future__ import annotations

import click


@click.command()
def deploy() -> int:
    """Not written yet."""
    return 0


@click.command()
def graph() -> int:
    """Not written yet."""
    return 0
