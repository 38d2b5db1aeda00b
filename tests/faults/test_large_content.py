"""Large files stream to hosts in chunks (issue 9, item 4).

One host's change set of 150 MB (three 50 MB files: over Mitogen's 128 MiB
message limit) applies, the other host's small change applies too, and the
controller never holds the content: its peak RSS stays far below the data size.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faultlab import cli, on, write

pytestmark = pytest.mark.lab

SIZE = 50 * 1024 * 1024
RSS_LIMIT_KB = 200 * 1024

DEPLOY = """\
from paracrine import host
from paracrine.operations import files

files.directory("/srv/big")
if host.name == "h01":
    for name in ("a", "b", "c"):
        files.put(f"big-{name}.bin", f"/srv/big/{name}.bin", mode=0o600)
files.file("/srv/big/small.txt", content=host.name + "\\n")
"""

MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def test_a_150_mb_change_set_streams_with_bounded_memory(lab_hosts: Callable[[int], list[Any]], tmp_path: Path) -> None:
    hosts = lab_hosts(2)
    digests = {}
    for name in ("a", "b", "c"):
        path = tmp_path / f"big-{name}.bin"
        with open(path, "wb") as stream:
            for _ in range(SIZE // (1 << 20)):
                stream.write(os.urandom(1 << 20))  # random: no compression could hide the size
        digests[name] = sha256_of(path)
    site = write(tmp_path / "site.py", DEPLOY)
    argv = [*cli(), str(site), "-i", "@lab/2", "--state-dir", str(tmp_path / "state")]
    measured = subprocess.run([sys.executable, "-c", MEASURE, *argv, "-y"], capture_output=True, text=True, check=True)
    rss_kb, code = (int(v) for v in measured.stdout.split()[-2:])
    assert code == 0, measured.stderr
    for name, digest in digests.items():
        target = on(hosts[0], f"/srv/big/{name}.bin")
        assert target.stat().st_size == SIZE and sha256_of(target) == digest
        assert target.stat().st_mode & 0o777 == 0o600
    assert on(hosts[1], "/srv/big/small.txt").read_text() == "h02\n"
    print(f"controller peak RSS: {rss_kb // 1024} MiB for 150 MB of content")
    assert rss_kb < RSS_LIMIT_KB, f"controller peak RSS {rss_kb // 1024} MiB for 150 MB of content"
    assert not list(on(hosts[0], "/srv/big").glob(".*paracrine*"))  # no temporary file left behind
    again = subprocess.run([*argv, "--check"], capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
