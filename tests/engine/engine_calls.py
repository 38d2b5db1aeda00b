"""Functions that CallFunction changes call in the engine tests (standard library only, like any target code)."""

from __future__ import annotations

from typing import Any


def append(path: str, text: str) -> dict[str, Any]:
    """Append ``text`` to ``path``; changed unless it is there already."""
    try:
        with open(path, encoding="utf-8") as stream:
            if text in stream.read():
                return {"changed": False, "stdout": "already there"}
    except FileNotFoundError:
        pass
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(text)
    return {"changed": True, "stdout": f"appended {len(text)} characters", "stderr": "a note"}


def nothing() -> None:
    """Return nothing at all (counts as a change)."""


def refuse(reason: str) -> dict[str, Any]:
    """Fail the step with ``reason``."""
    return {"changed": False, "error": reason}


def crash() -> dict[str, Any]:
    raise OSError("the function crashed")


def exit_now() -> dict[str, Any]:
    """End the process this runs in, at once (a target lost in the middle of a batch)."""
    import os

    os._exit(1)


def identity() -> list[Any]:
    """This process's pid and effective uid."""
    import os

    return [os.getpid(), os.geteuid()]


def pause(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return "rested"


def fail_loudly() -> None:
    raise ValueError("first line of the problem\nsecond line")
