"""Small operations for the engine tests (deploy files import them as ``engine_ops``).

Each reads real ``files.*`` facts, so planning against a temporary directory gives real results.
"""

from __future__ import annotations

import hashlib

from engine_facts import conf_owner, conf_size

from paracrine.changes import CallFunction, MakeDirectory, RunCommand, WriteFile
from paracrine.errors import PlanError
from paracrine.facts import files as file_facts
from paracrine.operation import Changes, operation
from paracrine.plan import OpContext
from paracrine.predict import Effect, fact_named


@operation(provides=lambda args: [("dir", args["path"])])
def folder(ctx: OpContext, path: str) -> Changes:
    """Make directory ``path`` if nothing is there."""
    if ctx.fact(file_facts.path_info, path=path) is None:
        yield MakeDirectory(path)


@operation(claims=lambda args: [("path", args["path"], args["present"])])
def note(ctx: OpContext, path: str, *, text: str = "x\n", present: bool = True, owner: str | None = None) -> Changes:
    """Make ``path`` a file holding ``text`` (``present`` is only claimed, for conflict tests)."""
    data = text.encode()
    if ctx.fact(file_facts.sha256, path=path) != hashlib.sha256(data).hexdigest():
        yield WriteFile(path, data, owner=owner)


@operation
def command(ctx: OpContext, name: str, *, argv: list[str], creates: str | None = None) -> Changes:
    """Run ``argv``; with ``creates``, its effect is predicted (the path exists afterwards), else it is opaque."""
    if creates is None:
        yield RunCommand(tuple(argv))
        return
    if ctx.fact(file_facts.path_info, path=creates) is None:
        made = Effect.set(fact_named("files.path_info", path=creates), {"kind": "file"})
        yield RunCommand(tuple(argv), predicted=(made,))


@operation
def survey(ctx: OpContext, name: str, *, paths: list[str]) -> Changes:
    """Read the path_info of every path in one round; make the missing ones."""
    infos = ctx.facts(*[(file_facts.path_info, {"path": p}) for p in paths])
    for path, info in zip(paths, infos, strict=True):
        if info is None:
            yield MakeDirectory(path)


@operation
def sized(ctx: OpContext, path: str, *, want: int) -> Changes:
    """Fail unless the custom fact ``conf_size`` (paths= and derive=) says ``path`` holds ``want`` bytes."""
    found = ctx.fact(conf_size, path=path)
    if found is None or found["size"] != want:
        raise PlanError(f"{path} holds {found} bytes, not {want}")
    yield from ()


@operation
def owned(ctx: OpContext, path: str) -> Changes:
    """Read the custom fact ``conf_owner`` (paths= without derive=)."""
    ctx.fact(conf_owner, path=path)
    yield from ()


@operation
def broken(ctx: OpContext, name: str, *, how: str = "plan") -> Changes:
    """Fail while planning: ``plan`` raises a PlanError, ``bug`` a plain exception, ``yield`` yields a non-change."""
    if how == "plan":
        raise PlanError("the host is not right for this", hint="fix it by hand")
    if how == "yield":
        yield "not a change"  # type: ignore[misc]
        return
    raise ZeroDivisionError("division by zero")


@operation
def service(ctx: OpContext, name: str, *, log: str, plain: bool = False) -> Changes:
    """Start (always) and reload (when triggered) ``name``; ``plain``: both only when triggered."""
    start = RunCommand(("sh", "-c", f"echo start {name} >> {log}"))
    reload = RunCommand(("sh", "-c", f"echo reload {name} >> {log}"))
    yield start
    yield reload if plain else ctx.when_triggered(reload)


#: What ``counted`` computed, in order (a test empties it).
COMPUTED: list[str] = []


@operation
def counted(ctx: OpContext, name: str) -> Changes:
    """Compute a value with ``ctx.once`` (recorded in :data:`COMPUTED` each time it is computed)."""
    value = ctx.once("value", lambda: COMPUTED.append(name) or len(COMPUTED))
    ctx.fact(file_facts.path_info, path=f"/nonexistent/{name}")
    yield RunCommand(("echo", str(value)), predicted=())


@operation
def vanish(ctx: OpContext, name: str) -> Changes:
    """End the target's process while the batch runs."""
    import engine_calls

    yield CallFunction.of(engine_calls.exit_now)


_PLANS = [0]


@operation
def restless(ctx: OpContext, name: str) -> Changes:
    """Ask for a fact never asked before, every time it is planned (facts never settle)."""
    _PLANS[0] += 1
    ctx.fact(file_facts.path_info, path=f"/nonexistent/{_PLANS[0]}")
    yield from ()
