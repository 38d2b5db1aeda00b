"""``@operation``: a generator of changes, called from deploy files.

A package author writes::

    @operation(provides=lambda a: [("dir", a["path"])])
    def directory(ctx: OpContext, path: str, *, present: bool = True, mode: Mode | None = None) -> Changes:
        '''Ensure ``path`` is a directory.'''
        info = ctx.fact(files.path_info, path=path)
        if info is None:
            yield MakeDirectory(path, mode=mode)

and a deploy file calls ``files.directory("/srv/app", mode=0o755, requires=[...])``.
The call validates its arguments at once (errors point at the deploy file line)
and registers an inert :class:`OpCall` for the current host. Engine options
(:data:`ENGINE_OPTIONS`: ``title=``, ``become=``, ``requires=``, ``notify=``,
``reload_on=``, ``ignore_errors=``, ``sensitive=``) are keyword-only and never
reach the operation's function; an operation may not name a parameter after
one, and none of them is a name an operation would naturally use (``name``,
``path``, ``user`` are free).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from paracrine.binding import Binder
from paracrine.changes import Change
from paracrine.errors import ArgumentError, user_location
from paracrine.fact import BUILTIN_PREFIX
from paracrine.secret import MASK, contains_secret
from paracrine.validate import as_is, check_value

OPERATIONS_PREFIX = "paracrine.operations."
ENGINE_OPTIONS = ("title", "become", "requires", "notify", "reload_on", "ignore_errors", "sensitive")
#: Key arguments shown even when a call is sensitive (a path is not a secret).
PATH_PARAMS = ("path", "dest", "src")
#: Longest argument value shown in a label.
LABEL_VALUE_MAX = 60

Changes = Iterator[Change]
Provides = Callable[[dict[str, Any]], list[tuple[str, str]]]
Claims = Callable[[dict[str, Any]], list[tuple[str, str, bool]]]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Options:
    """Engine options of one call."""

    title: str | None = None
    become: bool | str | None = None
    requires: tuple[OpCall, ...] = ()
    notify: tuple[OpCall, ...] = ()
    reload_on: tuple[OpCall, ...] = ()
    ignore_errors: bool = False
    sensitive: bool = False  # mask commands and contents in every output (also set by a Secret argument)


@dataclass(eq=False)
class OpCall:
    """One call of an operation in a deploy file, for one host (inert until planned)."""

    op: Operation
    args: dict[str, Any]
    options: Options
    where: str | None
    host: str = ""
    index: int = -1
    notified_by: list[OpCall] = field(default_factory=list)  # calls with notify=[this]
    handlers: list[OpCall] = field(default_factory=list)  # calls this one triggers
    once_values: dict[str, Any] = field(default_factory=dict)  # what OpContext.once computed for this call
    handler_key: str = ""  # a handler's stable key (paracrine.handlers.assign_keys)
    details: tuple[str, ...] = ()  # arguments telling it from calls with the same label (distinguish_labels)

    @property
    def sensitive(self) -> bool:
        return self.options.sensitive

    @property
    def label(self) -> str:
        """``files.directory('/srv/app')``: the operation with its key argument (masked when sensitive).

        Calls of one host that would read the same get the arguments that tell
        them apart: ``files.line('/etc/hosts', line='10.0.0.1 db')``.
        """
        key = self._shown(self.op.key_param, short=False) if self.op.key_param else None
        parts = [] if key is None else [key]
        parts += [f"{param}={self._shown(param, short=True) or 'None'}" for param in self.details]
        return f"{self.op.name}({', '.join(parts)})"

    def _shown(self, param: str, *, short: bool) -> str | None:
        """Argument ``param`` as a label shows it: its repr (``short``: shortened), masked when sensitive."""
        from paracrine.changes.base import shown

        value = self.args.get(param)
        if value is None:
            return None
        if self.sensitive and param not in PATH_PARAMS:
            return MASK
        text = shown(repr(value))
        return text if not short or len(text) <= LABEL_VALUE_MAX else text[: LABEL_VALUE_MAX - 1] + "…"

    @property
    def title(self) -> str:
        return self.options.title or self.label

    @property
    def triggers(self) -> list[OpCall]:
        """Calls whose change triggers this one (``reload_on=`` here, ``notify=`` there)."""
        return [*self.options.reload_on, *self.notified_by]

    @property
    def is_handler(self) -> bool:
        return bool(self.triggers)

    def __repr__(self) -> str:
        return f"<OpCall {self.host}:{self.index} {self.label} [{self.where}]>"


class Operation:
    """An operation: a named, documented, validated generator of changes."""

    def __init__(
        self,
        func: Callable[..., Changes],
        provides: Provides | None = None,
        claims: Claims | None = None,
        needs: Provides | None = None,
    ) -> None:
        self.func = func
        self.provides = provides
        self.claims = claims
        self.needs = needs
        module = str(func.__module__)
        short = module[len(OPERATIONS_PREFIX) :] if module.startswith(OPERATIONS_PREFIX) else module
        self.name = f"{short}.{func.__name__}"
        self.doc = inspect.getdoc(func) or ""
        signature = inspect.signature(func)
        params = list(signature.parameters.values())
        if not params or params[0].name != "ctx":
            raise TypeError(f"@operation {self.name}: the first parameter must be `ctx`")
        clash = [p.name for p in params[1:] if p.name in ENGINE_OPTIONS]
        if clash:
            raise TypeError(f"@operation {self.name}: parameter {clash[0]!r} is an engine option name")
        self.signature = signature.replace(parameters=params[1:])
        self._binder = Binder(self.signature)
        names = [p.name for p in params[1:]]
        self.key_param = next((n for n in ("dest", "path") if n in names), names[0] if names else None)
        self.varkw = next((p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD), None)
        self._hints: dict[str, Any] | None = None
        self._checks: dict[str, tuple[Any, frozenset[type]]] | None = None  # name -> (hint, types passed as is)
        self.__doc__ = self.doc
        self.__name__ = func.__name__
        self.__module__ = module

    @property
    def summary(self) -> str:
        return self.doc.splitlines()[0] if self.doc else ""

    @property
    def hints(self) -> dict[str, Any]:
        if self._hints is None:
            self._hints = typing.get_type_hints(self.func, include_extras=True)
        return self._hints

    def bind(self, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Check arguments against the signature and annotations; returns them normalised."""
        try:
            values = self._binder.bind(args, kwargs)
        except TypeError as exc:
            raise ArgumentError(f"{self.name}: {exc}") from None
        checks = self._checks
        if checks is None:
            checks = self._checks = {name: (hint, as_is(hint)) for name, hint in self.hints.items()}
        for pname, value in values.items():  # replaces values only: the dict keeps its size
            check = checks.get(pname)
            if check is None or pname == self.varkw or type(value) in check[1]:
                continue  # not annotated, or an exact instance of a plain class the hint names
            try:
                values[pname] = check_value(value, check[0])
            except (TypeError, ValueError) as exc:
                raise ArgumentError(f"{self.name}: argument {pname!r}: {exc}") from None
        return values

    def _spread(self, values: dict[str, Any]) -> dict[str, Any]:
        """Bound arguments as keywords, with a ``**extra`` parameter's dict spread out again."""
        if self.varkw is None or self.varkw not in values:
            return values
        spread = {k: v for k, v in values.items() if k != self.varkw}
        spread.update(values[self.varkw])
        return spread

    def __call__(
        self,
        *args: Any,
        title: str | None = None,
        become: bool | str | None = None,
        requires: Sequence[OpCall] = (),
        notify: Sequence[OpCall] = (),
        reload_on: Sequence[OpCall] = (),
        ignore_errors: bool = False,
        sensitive: bool = False,
        **kwargs: Any,
    ) -> OpCall:
        """Validate the arguments and register the call for the current host."""
        from paracrine.current import current

        where = user_location()
        deploy_host = current()
        try:
            if title is not None and not isinstance(title, str):
                raise ArgumentError(f"title= takes a string, got {type(title).__name__}")
            bound = self.bind(args, kwargs)
            options = Options(
                title=title,
                become=become,
                requires=_calls("requires", requires),
                notify=_calls("notify", notify),
                reload_on=_calls("reload_on", reload_on),
                ignore_errors=bool(ignore_errors),
                sensitive=bool(sensitive) or contains_secret(bound),
            )
            call = OpCall(self, bound, options, where)
        except ArgumentError as exc:
            raise exc.with_context(host=deploy_host.name, where=where) from None
        deploy_host.register(call)
        return call

    def changes(self, ctx: Any, *args: Any, **kwargs: Any) -> Changes:
        """The changes of this operation for ``ctx``'s host; for ``yield from`` in other operations."""
        yield from self.func(ctx, **self._spread(self.bind(args, kwargs)))

    def run(self, ctx: Any, call: OpCall) -> list[Change]:
        """Plan ``call``: run the generator to the end and collect its changes."""
        result: Any = self.func(ctx, **self._spread(call.args))
        changes = [] if result is None else list(result)
        for change in changes:
            if not isinstance(change, Change):
                raise TypeError(f"{self.name} yielded {change!r}, not a Change")
        return changes

    def __repr__(self) -> str:
        return f"<operation {self.name}>"


def distinguish_labels(calls: Sequence[OpCall]) -> None:
    """Give calls of one operation that share a label the arguments that tell them apart (:attr:`OpCall.details`).

    ``files.line("/etc/hosts", "a")`` and ``files.line("/etc/hosts", "b")`` are then
    ``files.line('/etc/hosts', line='a')`` and ``files.line('/etc/hosts', line='b')``:
    arguments that differ within the group are added in signature order until every
    label is unique. Calls with the same arguments keep one label (their file:line
    tells them apart).
    """
    groups: dict[str, list[OpCall]] = {}
    for call in calls:
        call.details = ()
        groups.setdefault(call.label, []).append(call)
    for group in groups.values():
        if len(group) < 2:
            continue
        op = group[0].op
        differing = [
            param
            for param in op.signature.parameters
            if param != op.key_param and len({repr(call.args.get(param)) for call in group}) > 1
        ]
        for count in range(1, len(differing) + 1):
            for call in group:
                call.details = tuple(differing[:count])
            if len({call.label for call in group}) == len({_arguments(call) for call in group}):
                break


def _arguments(call: OpCall) -> str:
    return repr(sorted(call.args.items(), key=lambda item: item[0]))


def _calls(option: str, values: Any) -> tuple[OpCall, ...]:
    if isinstance(values, OpCall):
        values = [values]
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ArgumentError(f"{option}= takes a list of operation calls, got {type(values).__name__}")
    for value in values:
        if not isinstance(value, OpCall):
            raise ArgumentError(f"{option}= takes operation calls (the value an operation returns), got {value!r}")
    return tuple(values)


@overload
def operation(func: F) -> Operation: ...
@overload
def operation(
    *, provides: Provides | None = None, claims: Claims | None = None, needs: Provides | None = None
) -> Callable[[F], Operation]: ...


def operation(
    func: F | None = None,
    *,
    provides: Provides | None = None,
    claims: Claims | None = None,
    needs: Provides | None = None,
) -> Operation | Callable[[F], Operation]:
    """Turn a generator function ``(ctx, ...) -> Iterator[Change]`` into an :class:`Operation`.

    Args:
        func: the generator function; its first parameter is the plan context.
        provides: optional function of the bound arguments returning what the
            operation makes exist, as ``("dir"|"user"|"group", name)`` pairs;
            other operations on those paths/users/groups run after it.
        claims: optional function of the bound arguments returning what the
            operation says must exist or not, as ``(kind, name, present)``
            triples (``("path", "/srv/app", True)``); two calls of one host that
            claim opposite states of the same thing are an error naming both lines.
        needs: optional function of the bound arguments returning what the
            operation needs to exist first, as ``(kind, name)`` pairs matching
            another operation's ``provides`` (``("pg-database", "app")``): it runs
            after that operation, and is skipped when that one fails. Paths,
            owners and groups are needed without saying so.
    """
    if func is not None:
        return Operation(func, provides, claims, needs)
    return lambda f: Operation(f, provides, claims, needs)


def builtin_operation_modules() -> list[str]:
    """Names of the built-in operation modules (``paracrine.operations.*``; private ``_x`` modules left out)."""
    import pkgutil

    import paracrine.operations

    names = (m.name for m in pkgutil.iter_modules(paracrine.operations.__path__))
    return [OPERATIONS_PREFIX + name for name in names if not name.startswith("_")]


def operations_in(module_names: Sequence[str]) -> dict[str, Operation]:
    """Every operation defined in these modules, by name, sorted."""
    import importlib

    found: dict[str, Operation] = {}
    for module_name in module_names:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, Operation) and value.__module__ == module_name:
                found[value.name] = value
    return dict(sorted(found.items()))


def builtin_operations() -> dict[str, Operation]:
    """Every operation of the built-in library, by name (``files.directory``)."""
    return operations_in(builtin_operation_modules())


__all__ = ["BUILTIN_PREFIX", "Changes", "OpCall", "Operation", "Options", "distinguish_labels", "operation"]
