"""Test helper: a stand-in for ``paracrine.facts._command.run`` with canned outputs."""

from __future__ import annotations

from paracrine.facts import _command


class FakeRun:
    """Stands in for ``_command.run``: canned outputs by argv, and a record of the calls."""

    def __init__(self) -> None:
        self.outputs: dict[tuple[str, ...], _command.Output] = {}
        self.calls: list[list[str]] = []

    def add(self, argv: list[str], stdout: str = "", stderr: str = "", returncode: int = 0) -> None:
        """Make ``argv`` print ``stdout``/``stderr`` and exit with ``returncode``."""
        self.outputs[tuple(argv)] = _command.Output(returncode, stdout, stderr)

    def __call__(self, argv: list[str], *, ok: tuple[int, ...] | None = (0,)) -> _command.Output:
        self.calls.append(list(argv))
        try:
            out = self.outputs[tuple(argv)]
        except KeyError:
            raise AssertionError(f"unexpected command {argv}") from None
        if ok is not None and out.returncode not in ok:
            raise RuntimeError(f"`{' '.join(argv)}` failed with exit code {out.returncode}: {out.stderr}")
        return out
