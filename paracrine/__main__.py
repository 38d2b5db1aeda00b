"""``python -m paracrine``: the same as the ``paracrine`` command."""

from paracrine.cli import main

main()
