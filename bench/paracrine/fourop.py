"""The four-operation workload of pyinfra-performance as a Paracrine deploy.

The same four operations as the original pyinfra deploy and Ansible playbook
(github.com/Fizzadar/pyinfra-performance, tests/, commit a71ee69): add a user,
a log file owned by it (mode 777), copy a file into its home, run `echo`.
"""

from pathlib import Path

from paracrine.operations import files, server

TEST_FILE = Path(__file__).resolve().parents[1] / "fourop" / "files" / "test_file.txt"

server.user("pyinfra", home="/home/pyinfra", shell="/bin/bash", title="Add pyinfra user")

files.file("/var/log/pyinfra.log", mode=0o777, owner="pyinfra", title="Add log file")

files.put(str(TEST_FILE), "/home/pyinfra/test_file.txt", owner="pyinfra", title="Copy a file")

server.shell('echo "hi!"', title="Run some shell")
