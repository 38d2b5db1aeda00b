"""``python -m paracrine``: the same as the ``paracrine`` command."""

from paracrine.entry import main

main()
