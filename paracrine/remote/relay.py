"""What a relay host runs for the controller: a private copy of the controller's host keys.

A relay runs ``ssh`` itself to reach the hosts behind it. So that it checks their
host keys against the controller's known_hosts (and nothing else), the controller
sends it the matching known_hosts lines once; they are written to a directory that
only the relay's login user can read (``mkdtemp``, mode 0700), one file per
controller-side set of files, and removed at the end of the run. They hold public
keys only.

Standard library only.
"""

from __future__ import annotations

import os
import shutil
import tempfile


def install_known_hosts(files: dict[str, str]) -> str:
    """Write each ``name -> text`` as a file in a new private directory; returns the directory."""
    directory = tempfile.mkdtemp(prefix="paracrine-relay-")
    for name, text in files.items():
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"bad file name {name!r}")
        fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
    return directory


def remove(directory: str) -> bool:
    """Remove a directory :func:`install_known_hosts` made (only such a directory)."""
    base = os.path.basename(directory.rstrip("/"))
    if not base.startswith("paracrine-relay-") or os.path.dirname(directory) != tempfile.gettempdir():
        return False
    shutil.rmtree(directory, ignore_errors=True)
    return True
