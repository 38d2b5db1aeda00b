"""Connection settings the inventory does not set are ssh's own: a host alias from an ssh config file
with Port, User, IdentityFile, UserKnownHostsFile and ProxyJump works as plain ssh would (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paracrine.testing import invoke

pytestmark = pytest.mark.lab

CONFIG = """\
Host jump
  HostName 127.0.0.1
  Port {jump.port}
  User {jump.user}
  IdentityFile {jump.key}
  UserKnownHostsFile {jump.known_hosts}
Host app-server
  HostName 127.0.0.1
  Port {target.port}
  User {target.user}
  IdentityFile {target.key}
  UserKnownHostsFile {target.known_hosts}
  ProxyJump jump
"""


def test_a_host_alias_with_port_user_key_and_proxyjump_from_the_ssh_config(
    lab_hosts: Callable[[int], list[Any]], tmp_path: Path
) -> None:
    jump, target = lab_hosts(2)
    config = tmp_path / "ssh_config"
    config.write_text(CONFIG.format(jump=jump, target=target))
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(f'hosts:\n  app-server: {{ssh_args: ["-F", "{config}"], become: true}}\n')
    result = invoke(["facts", "-i", str(inventory), "app-server", "server.hostname", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"app-server": {"server.hostname": "h02"}}  # h02, reached through h01
    site = tmp_path / "site.py"
    site.write_text('from paracrine.operations import files\nfiles.file("/srv/alias", content="through the jump\\n")\n')
    applied = invoke([str(site), "-i", str(inventory), "-y", "--state-dir", str(tmp_path / "state")])
    assert applied.exit_code == 0, applied.stderr
    assert (Path(target.root) / "srv/alias").read_text() == "through the jump\n"
    assert not (Path(jump.root) / "srv/alias").exists()
