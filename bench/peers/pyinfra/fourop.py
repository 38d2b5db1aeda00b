"""The four-operation workload of pyinfra-performance as a pyinfra 3 deploy.

Original: github.com/Fizzadar/pyinfra-performance, tests/pyinfra-deploy/deploy.py (commit a71ee69).
The operations and their arguments are the original's; only the source path of the copied file is
made absolute (the original is relative to the repository root it was run from).
"""

from pathlib import Path

from pyinfra.operations import files, server

TEST_FILE = Path(__file__).resolve().parents[2] / "fourop" / "files" / "test_file.txt"

server.user(
    name="Add pyinfra user",
    user="pyinfra",
    home="/home/pyinfra",
    shell="/bin/bash",
)

files.file(
    name="Add log file",
    path="/var/log/pyinfra.log",
    user="pyinfra",
    mode=777,
)

files.put(
    name="Copy a file",
    src=str(TEST_FILE),
    dest="/home/pyinfra/test_file.txt",
    user="pyinfra",
)

server.shell(
    name="Run some shell",
    commands=['echo "hi!"'],
)
