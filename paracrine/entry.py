"""The ``paracrine`` command's entry point: a deploy run goes to a running ``paracrine agent``, else the CLI.

Imports nothing heavy before it knows: with an agent running, the client process never
imports click or the rest of Paracrine (:mod:`paracrine.agent_client`).
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run ``paracrine ARGS``: in the agent when one runs and takes it, else here (:func:`paracrine.cli.main`)."""
    from paracrine import agent_client

    code = agent_client.try_run(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from paracrine.cli import main as cli_main

    cli_main()
